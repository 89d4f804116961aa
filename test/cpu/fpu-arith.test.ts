// x87 arithmetic: FADD/FSUB/FMUL/FDIV/FSQRT checked bit for bit (80-bit results) against an
// exact rational reference in every rounding mode and precision control over the whole
// extended exponent range, special operands and masked responses, the register/pop/
// reverse/integer forms, and the compare family.
import { describe, it, expect, beforeAll } from 'vitest';
import {
  X87, DATA, OUT, IE, DE, ZE, OE, UE, PE, SF, C0, C1, C2, C3, INDEFINITE, bitsOf, hex,
  ratOf, ratOfExt, ratAdd, ratSub, ratMul, ratDiv, ratSqrt, roundRat, extOfRounded, prng, randomDouble, RN, RD, RU, RZ, type Rat,
} from './fpu-harness';

let x: X87;
beforeAll(async () => { x = await X87.create(); });

const CWA = DATA - 16; // control word for a batch

/** Run `op` (a NASM instruction taking ST0 and qword [esi+8], or a bare one) over pairs. */
type Num = number | bigint; // a bigint is the raw bit pattern (NaN payloads do not survive JS numbers)
const toBits = (v: Num): bigint => (typeof v === 'bigint' ? v : bitsOf(v));
function batch(op: string, pairs: Array<[Num, Num]>, cw: number): Array<{ r: number; bits: bigint; sw: number }> {
  pairs.forEach(([a, b], i) => x.setBits64(DATA + i * 16, toBits(a), toBits(b)));
  x.setU16(CWA, cw);
  x.run32(`
    fninit
    fldcw [${CWA}]
    mov esi, ${DATA}
    mov edi, ${OUT}
    mov ecx, ${pairs.length}
  .l:
    fnclex
    fld qword [esi]
    ${op}
    fnstsw [edi+8]
    fstp qword [edi]
    add esi, 16
    add edi, 16
    dec ecx
    jnz .l
  `, { budget: 100 * pairs.length + 100 });
  expect(x.exceptionTaken()).toBe(-1);
  return pairs.map((_, i) => ({ r: x.f64(OUT + i * 16), bits: x.bits64(OUT + i * 16), sw: x.u16(OUT + i * 16 + 8) }));
}

/** An 80-bit operand: significand (explicit integer bit) and sign|exponent word. */
interface Ext { sig: bigint; se: number }
const extHex = (e: Ext) => `${e.se.toString(16)}:${e.sig.toString(16).padStart(16, '0')}`;

/**
 * Run `op` (taking ST0 and qword [esi+16], or a bare one) over pairs: ST0 is loaded from an
 * m80 operand, the result is stored with FSTP m80 (exact), with the status word after `op`.
 */
function batch80(op: string, pairs: Array<[Ext, number]>, cw: number): Array<{ r: Ext; sw: number }> {
  pairs.forEach(([a, b], i) => {
    x.setBits64(DATA + i * 32, a.sig);
    x.setU16(DATA + i * 32 + 8, a.se);
    x.setF64(DATA + i * 32 + 16, b);
  });
  x.setU16(CWA, cw);
  x.run32(`
    fninit
    fldcw [${CWA}]
    mov esi, ${DATA}
    mov edi, ${OUT}
    mov ecx, ${pairs.length}
  .l:
    fnclex
    fld tword [esi]
    ${op}
    fnstsw [edi+16]
    fstp tword [edi]
    add esi, 32
    add edi, 32
    dec ecx
    jnz .l
  `, { budget: 100 * pairs.length + 100 });
  expect(x.exceptionTaken()).toBe(-1);
  return pairs.map((_, i) => ({ r: { sig: x.bits64(OUT + i * 32), se: x.u16(OUT + i * 32 + 8) }, sw: x.u16(OUT + i * 32 + 16) }));
}

/** A random finite non-zero 80-bit value with an exponent in [emin, emax] (denormals below -16382). */
function randomExt(rnd: () => number, emin: number, emax: number): Ext {
  const e = emin + Math.floor(rnd() * (emax - emin + 1));
  let sig = (BigInt(Math.floor(rnd() * 2 ** 31)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
  const r = rnd();
  if (r < 0.2) sig &= ~((1n << 40n) - 1n); // short significands: exact results and ties occur too
  else if (r < 0.3) sig &= ~((1n << 11n) - 1n);
  sig |= 1n << 63n;
  const sign = rnd() < 0.5 ? 0x8000 : 0;
  if (e < -16382) return { sig: sig >> BigInt(Math.min(63, -16382 - e)), se: sign }; // a denormal
  return { sig, se: sign | (e + 16383) };
}

function randomPairs(seed: number, n: number): Array<[Ext, number]> {
  const rnd = prng(seed);
  const out: Array<[Ext, number]> = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 8;
    if (kind === 7) { // short significands and a power of two: exact products, quotients and sums
      const e = Math.floor(rnd() * 41) - 20;
      out.push([{ sig: (BigInt(4 + Math.floor(rnd() * 4)) << 61n), se: (rnd() < 0.5 ? 0x8000 : 0) | (16383 + e) }, (rnd() < 0.5 ? -1 : 1) * 2 ** (Math.floor(rnd() * 9) - 4)]);
      continue;
    }
    if (kind === 0) out.push([randomExt(rnd, -20, 20), randomDouble(rnd, -20, 20)]);
    else if (kind === 1) { // near cancellation: a double close to -a
      const a = randomExt(rnd, -5, 5);
      const v = Number(a.sig) * 2 ** ((a.se & 0x7fff) - 16383 - 63) * (a.se & 0x8000 ? -1 : 1);
      out.push([a, -v * (1 + (rnd() - 0.5) * 2 ** -40)]);
    } else if (kind === 2) { // huge ST0: overflows (× a big operand, ÷ a small one), or FDIVR underflows
      out.push([randomExt(rnd, 15800, 16383), rnd() < 0.5 ? randomDouble(rnd, 400, 1023) : randomDouble(rnd, -1074, -400)]);
    } else if (kind === 3) { // tiny ST0: underflows (× a small operand, ÷ a big one), or FDIVR overflows
      out.push([randomExt(rnd, -16440, -15800), rnd() < 0.5 ? randomDouble(rnd, -1074, 30) : randomDouble(rnd, 30, 1023)]);
    }
    else if (kind === 4) out.push([randomExt(rnd, -16445, -16383), randomDouble(rnd, -1074, -1000)]); // denormals
    else if (kind === 5) out.push([randomExt(rnd, -1100, 1100), randomDouble(rnd, -1022, 1023)]);
    else out.push([randomExt(rnd, -16382, 16383), randomDouble(rnd, -1022, 1023)]);
  }
  return out.filter(([, b]) => b !== 0 && Number.isFinite(b));
}

const MODES: Array<[string, number]> = [['nearest', RN], ['down', RD], ['up', RU], ['zero', RZ]];
const OPS: Array<[string, string, (a: Rat, b: Rat) => Rat]> = [
  ['FADD', 'fadd qword [esi+16]', ratAdd],
  ['FSUB', 'fsub qword [esi+16]', ratSub],
  ['FSUBR', 'fsubr qword [esi+16]', (a, b) => ratSub(b, a)],
  ['FMUL', 'fmul qword [esi+16]', ratMul],
  ['FDIV', 'fdiv qword [esi+16]', ratDiv],
  ['FDIVR', 'fdivr qword [esi+16]', (a, b) => ratDiv(b, a)],
];
const EMIN = -16382, EMAX = 16383;

/** √ of an 80-bit value as a rational that rounds like the true root (see ratSqrt). */
function ratSqrtExt(a: Ext): Rat {
  const r = ratOfExt(a.sig, a.se);
  let n = r.n, k = r.d.toString(2).length - 1;
  if (k % 2) { n <<= 1n; k++; }
  const t = 300n;
  const big = n << t;
  let s = 1n << BigInt(Math.ceil(big.toString(2).length / 2));
  for (;;) { const y = (s + big / s) >> 1n; if (y >= s) break; s = y; }
  const half = BigInt(k / 2) + t / 2n;
  if (s * s === big) return { n: s, d: 1n << half };
  return { n: 2n * s + 1n, d: 1n << (half + 1n) };
}

describe('x87 arithmetic is correctly rounded (exact reference, 80-bit registers)', () => {
  for (const [pcName, pc, prec] of [['PC=64', 3, 64], ['PC=53', 2, 53], ['PC=24', 0, 24]] as const) {
    for (const [name, op, ref] of OPS) {
      it(`${name} ${pcName} in all rounding modes: value, PE, UE, OE, C1, DE`, () => {
        const pairs = randomPairs(0x1234 + name.length * 77 + pc, 280);
        const seen = { exact: 0, inexact: 0, up: 0, overflow: 0, underflow: 0 };
        for (const [modeName, mode] of MODES) {
          const got = batch80(op, pairs, 0x3f | (pc << 8) | (mode << 10));
          pairs.forEach(([a, b], i) => {
            const q = ref(ratOfExt(a.sig, a.se), ratOf(b));
            const want = q.n === 0n
              ? { sig: 0n, se: mode === RD ? 0x8000 : 0, inexact: false, up: false, overflow: false, underflow: false }
              : (() => { const w = roundRat(q, prec, mode, EMIN, EMAX); return { ...extOfRounded(w, prec), ...w }; })();
            const g = got[i];
            const ctx = `${name} ${modeName} ${extHex(a)} ${hex(b)}: got ${extHex(g.r)} want ${extHex(want)}`;
            expect(extHex(g.r), ctx).toBe(extHex(want));
            expect(g.sw & (IE | ZE | SF), ctx).toBe(0);
            // A denormal operand (the m80 one in a register, or the m64 one) signals DE.
            const den = (a.se & 0x7fff) === 0 || (b !== 0 && Math.abs(b) < 2 ** -1022);
            expect(!!(g.sw & DE), ctx + ' DE').toBe(den);
            expect(!!(g.sw & PE), ctx + ' PE').toBe(want.inexact || want.overflow);
            expect(!!(g.sw & OE), ctx + ' OE').toBe(want.overflow);
            expect(!!(g.sw & UE), ctx + ' UE').toBe(want.underflow);
            expect(!!(g.sw & C1), ctx + ' C1').toBe(want.up);
            seen.exact += want.inexact ? 0 : 1;
            seen.inexact += want.inexact ? 1 : 0;
            seen.up += want.up ? 1 : 0;
            seen.overflow += want.overflow ? 1 : 0;
            seen.underflow += want.underflow ? 1 : 0;
          });
        }
        // The random set must exercise every outcome the assertions distinguish.
        expect(seen.exact && seen.inexact && seen.up, JSON.stringify(seen)).toBeTruthy();
        if (name === 'FMUL' || name === 'FDIV' || name === 'FDIVR') expect(seen.overflow && seen.underflow, JSON.stringify(seen)).toBeTruthy();
      });
    }
    it(`FSQRT ${pcName} in all rounding modes`, () => {
      const rnd = prng(99 + pc);
      const vals: Array<[Ext, number]> = [];
      for (let i = 0; i < 200; i++) {
        const v = randomExt(rnd, i % 4 === 0 ? -16445 : -60, i % 4 === 1 ? 16383 : 60);
        vals.push([{ sig: v.sig, se: v.se & 0x7fff }, 1]);
      }
      vals.push([{ sig: 1n << 63n, se: 16385 }, 1], [{ sig: 1n << 63n, se: 16384 }, 1], [{ sig: 1n, se: 0 }, 1], [{ sig: (1n << 64n) - 1n, se: 0x7ffe }, 1]);
      for (const [modeName, mode] of MODES) {
        const got = batch80('fsqrt', vals, 0x3f | (pc << 8) | (mode << 10));
        vals.forEach(([a], i) => {
          const w = roundRat(ratSqrtExt(a), prec, mode, EMIN, EMAX);
          const want = extOfRounded(w, prec);
          const ctx = `FSQRT ${modeName} ${extHex(a)}: got ${extHex(got[i].r)} want ${extHex(want)}`;
          expect(extHex(got[i].r), ctx).toBe(extHex(want));
          expect(!!(got[i].sw & PE), ctx).toBe(w.inexact);
          expect(!!(got[i].sw & C1), ctx).toBe(w.up);
        });
      }
    });
  }

  it('RN results equal the host double arithmetic', () => {
    const pairs: Array<[number, number]> = [[0.1, 0.2], [1e308, 10], [1 / 3, 3], [-7.5, 2.25], [2 ** -1070, 2 ** -3]];
    const cw = 0x27f; // PC=53, RN, all masked
    expect(batch('fadd qword [esi+8]', pairs, cw).map((g) => g.r)).toEqual(pairs.map(([a, b]) => a + b));
    expect(batch('fmul qword [esi+8]', pairs, cw).map((g) => g.r)).toEqual(pairs.map(([a, b]) => a * b));
    expect(batch('fdiv qword [esi+8]', pairs, cw).map((g) => g.r)).toEqual(pairs.map(([a, b]) => a / b));
    expect(batch('fsqrt', pairs, cw).map((g) => g.r)).toEqual(pairs.map(([a]) => Math.sqrt(a)));
  });
});

describe('x87 special operands and masked responses', () => {
  const QNAN_A = 0x7ff8000000001234n, QNAN_B = 0xfff8000000005678n;
  const SNAN = 0x7ff0000000000abcn;
  const cases: Array<[string, string, Num, Num, bigint, number]> = [
    // name, op, a, b, expected result bits, expected exception bits
    ['inf - inf', 'fadd qword [esi+8]', Infinity, -Infinity, INDEFINITE, IE],
    ['inf + inf', 'fadd qword [esi+8]', Infinity, Infinity, bitsOf(Infinity), 0],
    ['0 * inf', 'fmul qword [esi+8]', 0, -Infinity, INDEFINITE, IE],
    ['0 / 0', 'fdiv qword [esi+8]', 0, -0, INDEFINITE, IE],
    ['inf / inf', 'fdiv qword [esi+8]', -Infinity, Infinity, INDEFINITE, IE],
    ['1 / 0', 'fdiv qword [esi+8]', 1, 0, bitsOf(Infinity), ZE],
    ['1 / -0', 'fdiv qword [esi+8]', 1, -0, bitsOf(-Infinity), ZE],
    ['inf / 0 (no ZE)', 'fdiv qword [esi+8]', Infinity, 0, bitsOf(Infinity), 0],
    ['5 / inf', 'fdiv qword [esi+8]', -5, Infinity, bitsOf(-0), 0],
    ['sqrt(-1)', 'fsqrt', -1, 0, INDEFINITE, IE],
    ['sqrt(-0)', 'fsqrt', -0, 0, bitsOf(-0), 0],
    ['sqrt(-inf)', 'fsqrt', -Infinity, 0, INDEFINITE, IE],
    ['QNaN + 1 keeps the payload', 'fadd qword [esi+8]', QNAN_A, 1, 0x7ff8000000001234n, 0],
    ['1 + QNaN', 'fadd qword [esi+8]', 1, QNAN_B, 0xfff8000000005678n, 0],
    ['SNaN + 1 is quieted with IE', 'fadd qword [esi+8]', SNAN, 1, 0x7ff8000000000abcn, IE],
    ['two QNaNs: larger significand', 'fmul qword [esi+8]', QNAN_A, QNAN_B, 0xfff8000000005678n, 0],
    ['SNaN and QNaN: the QNaN', 'fsub qword [esi+8]', QNAN_A, SNAN, 0x7ff8000000001234n, IE],
    ['QNaN vs 0*inf: NaN wins, no IE', 'fmul qword [esi+8]', Infinity, QNAN_A, 0x7ff8000000001234n, 0],
  ];
  for (const [name, op, a, b, want, flags] of cases) {
    it(name, () => {
      const [g] = batch(op, [[a, b]], 0x27f);
      expect(g.bits.toString(16)).toBe(want.toString(16));
      expect(g.sw & (IE | ZE | DE | OE | UE | PE | SF)).toBe(flags);
    });
  }

  it('exact cancellation gives +0, or -0 when rounding down', () => {
    expect(batch('fsub qword [esi+8]', [[1.5, 1.5]], 0x27f)[0].bits).toBe(0n);
    expect(batch('fsub qword [esi+8]', [[1.5, 1.5]], 0x67f)[0].bits).toBe(bitsOf(-0));
    expect(batch('fadd qword [esi+8]', [[-0, -0]], 0x27f)[0].bits).toBe(bitsOf(-0));
    expect(batch('fadd qword [esi+8]', [[-0, 0]], 0x27f)[0].bits).toBe(0n);
  });

  it('masked overflow (at the 80-bit range): infinity or the largest finite number by rounding mode', () => {
    const big: Ext = { sig: (1n << 64n) - 1n, se: 0x7ffe }; // the largest finite 80-bit value
    const r = (rc: number) => batch80('fmul qword [esi+16]', [[big, -2]], 0x37f | (rc << 10))[0];
    expect(extHex(r(RN).r)).toBe('ffff:8000000000000000'); // -inf
    expect(extHex(r(RZ).r)).toBe('fffe:ffffffffffffffff');
    expect(extHex(r(RU).r)).toBe('fffe:ffffffffffffffff');
    expect(extHex(r(RD).r)).toBe('ffff:8000000000000000');
    expect(r(RN).sw & (OE | PE | C1)).toBe(OE | PE | C1);
    expect(r(RZ).sw & (OE | PE | C1)).toBe(OE | PE);
    // A double result that overflows only on the way to memory: FST m64 signals it.
    const [g] = batch('fmul qword [esi+8]', [[Number.MAX_VALUE, 2]], 0x37f);
    expect(g.sw & OE).toBe(0); // 2^1025 fits in a register
    expect(g.r).toBe(Infinity);
  });

  it('masked underflow (at the 80-bit range): denormal result with UE and PE only when inexact', () => {
    const a: Ext = { sig: 3n << 62n, se: 16383 - 16379 }; // 1.5 × 2^-16379 = 3 × 2^-16380
    const inexact = batch80('fmul qword [esi+16]', [[a, 2 ** -30 + 2 ** -80]], 0x37f)[0];
    expect(inexact.sw & (UE | PE)).toBe(UE | PE);
    const exact = batch80('fmul qword [esi+16]', [[a, 2 ** -30]], 0x37f)[0];
    expect(extHex(exact.r)).toBe(extHex({ sig: 3n << 35n, se: 0 })); // 3 × 2^-16410 = 3·2^35 × 2^-16445
    expect(exact.sw & (UE | PE)).toBe(0);
  });

  it('m32 denormal operand raises DE (masked: the operation proceeds)', () => {
    x.setF64(DATA, 1);
    x.setU32(DATA + 8, 1); // smallest f32 denormal
    x.run32(`fninit
      fld qword [${DATA}]
      fadd dword [${DATA + 8}]
      fnstsw [${OUT}]
      fstp qword [${OUT + 8}]`);
    expect(x.u16(OUT) & DE).toBe(DE);
    expect(x.f64(OUT + 8)).toBe(1 + 2 ** -149);
  });
});

describe('x87 operand forms', () => {
  it('register forms: D8 into ST(0), DC into ST(i) with the FSUB/FSUBR, FDIV/FDIVR encodings of the manual', () => {
    x.setF64(DATA, 3, 12);
    x.run32(`fninit
      fld qword [${DATA}]      ; ST1 = 3 after next load
      fld qword [${DATA + 8}]  ; ST0 = 12
      fld st1
      fld st1                  ; ST0=12 ST1=3 ST2=12 ST3=3
      fsub st0, st1            ; D8 E1: ST0 = 12-3 = 9
      fstp qword [${OUT}]      ; ST0=3 ST1=12 ST2=3
      fsub st2, st0            ; DC E8+2 (FSUB ST(i),ST0): ST2 = 3-3 = 0
      fsubr st1, st0           ; DC E0+1 (FSUBR ST(i),ST0): ST1 = 3-12 = -9
      fxch st1
      fstp qword [${OUT + 8}]
      fstp qword [${OUT + 16}]
      fstp qword [${OUT + 24}]
      fld qword [${DATA}]
      fld qword [${DATA + 8}]  ; ST0=12 ST1=3
      fdivr st1, st0           ; DC F0+1: ST1 = ST0/ST1 = 4
      fdiv st0, st1            ; D8 F0+1: ST0 = 12/4 = 3
      fstp qword [${OUT + 32}]
      fstp qword [${OUT + 40}]`);
    expect([0, 8, 16, 24, 32, 40].map((o) => x.f64(OUT + o))).toEqual([9, -9, 3, 0, 3, 4]);
  });

  it('pop forms: FADDP, FSUBP, FSUBRP, FMULP, FDIVP, FDIVRP and the TOP they leave', () => {
    x.setF64(DATA, 2, 8);
    const run = (op: string) => {
      x.run32(`fninit
        fld qword [${DATA}]     ; 2 -> becomes ST1
        fld qword [${DATA + 8}] ; 8
        ${op} st1, st0
        fnstsw [${OUT + 8}]
        fstp qword [${OUT}]`);
      return x.f64(OUT);
    };
    expect(run('faddp')).toBe(10);
    expect(run('fmulp')).toBe(16);
    expect(run('fsubp')).toBe(2 - 8); // DE E8+i: ST(i) = ST(i) - ST0
    expect(run('fsubrp')).toBe(8 - 2);
    expect(run('fdivp')).toBe(2 / 8);
    expect(run('fdivrp')).toBe(8 / 2);
    expect((x.u16(OUT + 8) >> 11) & 7).toBe(7); // one value left after the pop
  });

  it('integer operands: FIADD/FISUB/FISUBR/FIMUL/FIDIV/FIDIVR with m16 and m32', () => {
    x.setF64(DATA, 10);
    x.setU16(DATA + 8, 0xfffd); // -3 as m16
    x.setU32(DATA + 12, 4);
    x.run32(`fninit
      fld qword [${DATA}]
      fiadd word [${DATA + 8}]   ; 7
      fimul dword [${DATA + 12}] ; 28
      fisub word [${DATA + 8}]   ; 31
      fisubr dword [${DATA + 12}]; 4-31 = -27
      fidiv word [${DATA + 8}]   ; 9
      fidivr dword [${DATA + 12}]; 4/9
      fstp qword [${OUT}]`);
    expect(x.f64(OUT)).toBe(4 / 9);
  });
});

describe('x87 compares', () => {
  function cmp(op: string, a: number, b: number): number {
    x.setF64(DATA, a, b);
    x.run32(`fninit
      fld qword [${DATA + 8}]
      fld qword [${DATA}]
      ${op}
      fnstsw [${OUT}]`);
    return x.u16(OUT);
  }
  it('FCOM sets C3/C2/C0 for >, <, =, unordered', () => {
    expect(cmp('fcom st1', 2, 1) & (C3 | C2 | C0)).toBe(0);
    expect(cmp('fcom st1', 1, 2) & (C3 | C2 | C0)).toBe(C0);
    expect(cmp('fcom st1', -0, 0) & (C3 | C2 | C0)).toBe(C3);
    expect(cmp('fcom st1', NaN, 0) & (C3 | C2 | C0 | IE)).toBe(C3 | C2 | C0 | IE);
  });
  /** Compare an 80-bit value with significand `sig` and exponent 7FFF (loaded by FLD m80, which never signals) against 0. */
  function cmpBits(op: string, sig: bigint): number {
    x.setBits64(DATA + 16, sig);
    x.setU16(DATA + 24, 0x7fff);
    x.run32(`fninit
      fldz
      fld tword [${DATA + 16}]
      ${op}
      fnstsw [${OUT}]`);
    return x.u16(OUT);
  }
  it('FUCOM raises IE only for an SNaN', () => {
    expect(cmp('fucom st1', NaN, 0) & (C3 | C2 | C0 | IE)).toBe(C3 | C2 | C0);
    expect(cmpBits('fucom st1', 0x8000000000000001n) & IE).toBe(IE);
  });
  it('FCOMP/FCOMPP/FUCOMPP pop once/twice', () => {
    expect((cmp('fcomp st1', 1, 2) >> 11) & 7).toBe(7);
    expect((cmp('fcompp', 1, 2) >> 11) & 7).toBe(0);
    expect((cmp('fucompp', 1, 2) >> 11) & 7).toBe(0);
  });
  it('FCOM with memory operands and FICOM, FTST', () => {
    x.setF64(DATA, 5);
    x.setF32(DATA + 8, 5);
    x.setU32(DATA + 12, 6);
    x.run32(`fninit
      fld qword [${DATA}]
      fcom dword [${DATA + 8}]
      fnstsw [${OUT}]
      ficom dword [${DATA + 12}]
      fnstsw [${OUT + 2}]
      ftst
      fnstsw [${OUT + 4}]
      fchs
      ftst
      fnstsw [${OUT + 6}]`);
    expect(x.u16(OUT) & (C3 | C2 | C0)).toBe(C3);
    expect(x.u16(OUT + 2) & (C3 | C2 | C0)).toBe(C0);
    expect(x.u16(OUT + 4) & (C3 | C2 | C0)).toBe(0);
    expect(x.u16(OUT + 6) & (C3 | C2 | C0)).toBe(C0);
  });
  it('FCOMI/FUCOMIP set ZF/PF/CF and clear OF/SF/AF', () => {
    const flags = (op: string, a: number, b: number) => {
      x.setF64(DATA, a, b);
      x.run32(`fninit
        fld qword [${DATA + 8}]
        fld qword [${DATA}]
        mov eax, 0x8d5      ; OF SF AF PF CF set beforehand
        push eax
        popfd
        ${op}
        pushfd
        pop eax
        mov [${OUT}], eax
        fnstsw [${OUT + 4}]`);
      return x.u32(OUT) & 0x8d5;
    };
    expect(flags('fcomi st0, st1', 2, 1)).toBe(0);
    expect(flags('fcomi st0, st1', 1, 2)).toBe(0x01);
    expect(flags('fcomi st0, st1', 3, 3)).toBe(0x40);
    expect(flags('fucomi st0, st1', NaN, 3)).toBe(0x45);
    expect((x.u16(OUT + 4)) & IE).toBe(0);
    expect(flags('fcomip st0, st1', 3, 3)).toBe(0x40);
    expect((x.u16(OUT + 4) >> 11) & 7).toBe(7);
    expect(flags('fucomip st0, st1', 1, 2)).toBe(0x01);
  });
  it('FXAM classes with the sign in C1, empty registers included', () => {
    const fxam = (setup: string) => {
      x.run32(`fninit
        ${setup}
        fxam
        fnstsw [${OUT}]`);
      return x.u16(OUT) & (C3 | C2 | C1 | C0);
    };
    x.setF64(DATA, -2.5, Infinity, NaN, -0, 2 ** -1060);
    expect(fxam('')).toBe(C3 | C0); // empty
    expect(fxam(`fld qword [${DATA}]`)).toBe(C2 | C1); // normal, negative
    expect(fxam(`fld qword [${DATA + 8}]`)).toBe(C2 | C0); // infinity
    expect(fxam(`fld qword [${DATA + 16}]`)).toBe(C0); // NaN
    expect(fxam(`fld qword [${DATA + 24}]`)).toBe(C3 | C1); // -0
    expect(fxam(`fld qword [${DATA + 32}]`)).toBe(C2); // a double denormal is normal in 80 bits
  });
  it('FCMOVcc moves on the EFLAGS condition', () => {
    x.setF64(DATA, 1, 2);
    const mov = (flagsVal: number, op: string) => {
      x.run32(`fninit
        fld qword [${DATA}]
        fld qword [${DATA + 8}] ; ST0=2 ST1=1
        mov eax, ${flagsVal}
        push eax
        popfd
        ${op} st0, st1
        fstp qword [${OUT}]`);
      return x.f64(OUT);
    };
    expect(mov(0x01, 'fcmovb')).toBe(1);
    expect(mov(0x00, 'fcmovb')).toBe(2);
    expect(mov(0x40, 'fcmove')).toBe(1);
    expect(mov(0x40, 'fcmovne')).toBe(2);
    expect(mov(0x00, 'fcmovnbe')).toBe(1);
    expect(mov(0x01, 'fcmovbe')).toBe(1);
    expect(mov(0x04, 'fcmovu')).toBe(1);
    expect(mov(0x04, 'fcmovnu')).toBe(2);
    expect(mov(0x00, 'fcmovnb')).toBe(1);
  });
});

export { C2 };

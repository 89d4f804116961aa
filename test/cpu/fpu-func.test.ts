// x87 functions: FSCALE, FXTRACT, FPREM/FPREM1 (with partial remainders), FRNDINT, and the
// transcendentals F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS.
import { describe, it, expect, beforeAll } from 'vitest';
import {
  X87, DATA, OUT, IE, DE, ZE, OE, UE, PE, SF, C0, C1, C2, C3, INDEFINITE, hex, ratOf, ratSub, ratDiv, ratMul,
  prng, randomDouble, RN, RD, RU, RZ,
} from './fpu-harness';

let x: X87;
beforeAll(async () => { x = await X87.create(); });

const EXC = IE | DE | ZE | OE | UE | PE | SF;

/** Load b then a (ST0 = a, ST1 = b), run `op`, store the status word and up to `n` results. */
function run2(op: string, a: number, b: number, n = 1, cw = 0x37f): { r: number[]; bits: bigint[]; sw: number; top: number } {
  x.setF64(DATA, a, b);
  x.setU16(DATA + 16, cw);
  const stores = Array.from({ length: n }, (_, i) => `fstp qword [${OUT + 8 + i * 8}]`).join('\n');
  x.run32(`fninit
    fldcw [${DATA + 16}]
    fld qword [${DATA + 8}]
    fld qword [${DATA}]
    ${op}
    fnstsw [${OUT}]
    ${stores}`);
  const sw = x.u16(OUT);
  const at = (i: number) => OUT + 8 + i * 8;
  // NaN payloads do not survive a JS number: `bits` has the stored patterns.
  return { r: Array.from({ length: n }, (_, i) => x.f64(at(i))), bits: Array.from({ length: n }, (_, i) => x.bits64(at(i))), sw, top: (sw >> 11) & 7 };
}

const ulpClose = (got: number, want: number, ulps = 2) =>
  Math.abs(got - want) <= ulps * Math.abs(want) * 2 ** -52 || got === want;

describe('FSCALE', () => {
  it('scales by 2^trunc(ST1) exactly', () => {
    expect(run2('fscale', 1.5, 3.7).r[0]).toBe(12);
    expect(run2('fscale', -1.5, -2.9).r[0]).toBe(-0.375);
    expect(run2('fscale', 3, 0.5).r[0]).toBe(3);
  });
  it('overflow and underflow at the register range (80-bit exponents), rounded with RC', () => {
    /** ST0 × 2^n as the 80-bit result [significand, sign|exponent] and the flags. */
    const scale = (v: number, n: number, cw = 0x37f) => {
      x.setF64(DATA, v, n);
      x.setU16(DATA + 16, cw);
      x.run32(`fninit
        fldcw [${DATA + 16}]
        fld qword [${DATA + 8}]
        fld qword [${DATA}]
        fscale
        fnstsw [${OUT}]
        fstp tword [${OUT + 16}]`);
      return [x.bits64(OUT + 16), x.u16(OUT + 24), x.u16(OUT) & EXC];
    };
    expect(run2('fscale', 1, 2000).r[0]).toBe(Infinity); // 2^2000 is fine in a register; the m64 store overflows
    expect(scale(1, 2000)).toEqual([1n << 63n, 16383 + 2000, 0]);
    expect(scale(1, 20000)).toEqual([1n << 63n, 0x7fff, OE | PE]); // infinity
    expect(scale(1, 20000, 0x37f | (RZ << 10))).toEqual([(1n << 64n) - 1n, 0x7ffe, OE | PE]); // the largest finite
    // 3 × 2^-16446 = 1.5 × 2^-16445 (the denormal quantum): a tie → 2 × 2^-16445 (even)
    expect(scale(3, -16446)).toEqual([2n, 0, UE | PE]);
    expect(scale(3, -16446, 0x37f | (RZ << 10))).toEqual([1n, 0, UE | PE]);
    expect(scale(1, -16445)).toEqual([1n, 0, 0]); // an exact denormal
  });
  it('infinite scale factors', () => {
    expect(run2('fscale', 2, Infinity).r[0]).toBe(Infinity);
    expect(run2('fscale', -2, -Infinity).r[0]).toBe(-0);
    expect(run2('fscale', 0, Infinity).bits[0]).toBe(INDEFINITE);
    expect(run2('fscale', Infinity, -Infinity).bits[0]).toBe(INDEFINITE);
  });
});

describe('FXTRACT', () => {
  it('splits into exponent (ST1) and significand (ST0)', () => {
    const a = run2('fxtract', 12, 0, 2);
    expect(a.r).toEqual([1.5, 3]);
    const b = run2('fxtract', -0.75, 0, 2);
    expect(b.r).toEqual([-1.5, -1]);
    const c = run2('fxtract', 2 ** -1070 * 1.25, 0, 2); // a double denormal: exponent below -1022
    expect(c.r).toEqual([1.25, -1070]);
  });
  it('zero: ZE, ST1 = -inf, ST0 keeps the signed zero; infinity: +inf exponent', () => {
    const z = run2('fxtract', -0, 0, 2);
    expect([Object.is(z.r[0], -0), z.r[1], z.sw & EXC]).toEqual([true, -Infinity, ZE]);
    expect(run2('fxtract', -Infinity, 0, 2).r).toEqual([-Infinity, Infinity]);
  });
});

describe('FPREM / FPREM1', () => {
  it('remainder and the low quotient bits in C0 (Q2), C3 (Q1), C1 (Q0)', () => {
    const q = (sw: number) => ((sw & C0) ? 4 : 0) | ((sw & C3) ? 2 : 0) | ((sw & C1) ? 1 : 0);
    const a = run2('fprem', 10, 3);
    expect([a.r[0], q(a.sw), a.sw & C2]).toEqual([1, 3, 0]);
    const b = run2('fprem', 11, 3);
    expect([b.r[0], q(b.sw)]).toEqual([2, 3]);
    const c = run2('fprem1', 11, 3);
    expect([c.r[0], q(c.sw)]).toEqual([-1, 4]);
    const d = run2('fprem', -10, 3);
    expect([d.r[0], q(d.sw)]).toEqual([-1, 3]);
    const e = run2('fprem1', 7.5, 3); // 2.5 → ties to even 2: remainder 1.5
    expect([e.r[0], q(e.sw)]).toEqual([1.5, 2]);
    const f = run2('fprem1', 2, 3); // quotient 1 (0.67 rounds up)
    expect([f.r[0], q(f.sw)]).toEqual([-1, 1]);
  });

  it('huge exponent differences: C2=1 until done, and the loop ends at the exact remainder', () => {
    const rnd = prng(5);
    for (let i = 0; i < 40; i++) {
      const a = randomDouble(rnd, -100, 1023), b = randomDouble(rnd, -100, 100);
      for (const op of ['fprem', 'fprem1']) {
        x.setF64(DATA, a, b);
        x.run32(`fninit
          fld qword [${DATA + 8}]
          fld qword [${DATA}]
          xor ecx, ecx
        .l:
          inc ecx
          ${op}
          fnstsw ax
          sahf
          jp .l
          mov [${OUT + 16}], ecx
          fstp qword [${OUT}]`);
        // Exact reference: a - q·b with q = a/b truncated (FPREM) or rounded to even (FPREM1).
        const qa = ratOf(a), qb = ratOf(b), ratio = ratDiv(qa, qb);
        let qi = ratio.n / ratio.d; // truncates toward zero
        if (op === 'fprem1') {
          const r2 = ratSub(ratio, { n: qi, d: 1n });
          const twice = 2n * (r2.n < 0n ? -r2.n : r2.n);
          if (twice > r2.d || (twice === r2.d && qi % 2n !== 0n)) qi += ratio.n < 0n ? -1n : 1n;
        }
        const rem = ratSub(qa, ratMul(qb, { n: qi, d: 1n }));
        const want = Number(rem.n) / Number(rem.d);
        const ctx = `${op} ${hex(a)} ${hex(b)}`;
        expect(x.f64(OUT), ctx).toBe(rem.n === 0n ? (a < 0 ? -0 : 0) : want);
        if (Math.log2(Math.abs(a / b)) > 70) expect(x.u32(OUT + 16), ctx).toBeGreaterThan(1);
      }
    }
  });

  it('FPREM of infinity or by zero is invalid; a finite value by infinity is unchanged', () => {
    expect(run2('fprem', Infinity, 3).bits[0]).toBe(INDEFINITE);
    expect(run2('fprem', 3, 0).sw & EXC).toBe(IE);
    expect(run2('fprem', 5, Infinity).r[0]).toBe(5);
  });
});

describe('FRNDINT', () => {
  it('rounds to an integer with RC, PE when inexact, C1 when rounded away from zero', () => {
    const vals = [2.5, -2.5, 3.5, 0.5, -0.5, 1.7, -1.2, 2 ** 52 + 1, 5];
    const want: Record<number, number[]> = {
      [RN]: [2, -2, 4, 0, -0, 2, -1, 2 ** 52 + 1, 5],
      [RD]: [2, -3, 3, 0, -1, 1, -2, 2 ** 52 + 1, 5],
      [RU]: [3, -2, 4, 1, -0, 2, -1, 2 ** 52 + 1, 5],
      [RZ]: [2, -2, 3, 0, -0, 1, -1, 2 ** 52 + 1, 5],
    };
    for (const mode of [RN, RD, RU, RZ]) {
      vals.forEach((v, i) => {
        const g = run2('frndint', v, 0, 1, 0x37f | (mode << 10));
        expect(g.r[0], `${v} mode ${mode}`).toBe(want[mode][i]);
        const exact = want[mode][i] === v;
        expect(g.sw & EXC).toBe(exact ? 0 : PE);
        expect(!!(g.sw & C1)).toBe(!exact && Math.abs(want[mode][i]) > Math.abs(v));
      });
    }
  });
});

describe('transcendentals', () => {
  it('F2XM1', () => {
    for (const v of [0.5, -0.5, 0.001, -0.999, 0.75, 1e-9]) expect(ulpClose(run2('f2xm1', v, 0).r[0], Math.expm1(v * Math.LN2), 4), String(v)).toBe(true);
    for (const v of [0.5, -0.5, 0.75]) expect(ulpClose(run2('f2xm1', v, 0).r[0], 2 ** v - 1, 4), String(v)).toBe(true);
    expect(run2('f2xm1', 1, 0).r[0]).toBe(1);
    expect(run2('f2xm1', -1, 0).r[0]).toBe(-0.5);
    expect(Object.is(run2('f2xm1', -0, 0).r[0], -0)).toBe(true);
    expect(run2('f2xm1', 0.5, 0).sw & EXC).toBe(PE);
  });

  it('FYL2X: ST1 × log2(ST0), popping once; exact for powers of two', () => {
    const a = run2('fyl2x', 8, 3);
    expect([a.r[0], a.sw & EXC, a.top]).toEqual([9, 0, 7]);
    expect(ulpClose(run2('fyl2x', 10, 1).r[0], Math.log2(10))).toBe(true);
    expect(ulpClose(run2('fyl2x', 0.3, -2).r[0], -2 * Math.log2(0.3))).toBe(true);
    const z = run2('fyl2x', 0, 2);
    expect([z.r[0], z.sw & EXC]).toEqual([-Infinity, ZE]);
    expect(run2('fyl2x', -1, 2).sw & EXC).toBe(IE);
    expect(run2('fyl2x', 1, Infinity).bits[0]).toBe(INDEFINITE);
  });

  it('FYL2XP1: ST1 × log2(ST0 + 1) keeps precision near zero', () => {
    expect(ulpClose(run2('fyl2xp1', 1e-10, 1).r[0], Math.log1p(1e-10) / Math.LN2)).toBe(true);
    expect(ulpClose(run2('fyl2xp1', -0.25, 3).r[0], 3 * Math.log2(0.75))).toBe(true);
    expect(Object.is(run2('fyl2xp1', -0, 5).r[0], -0)).toBe(true);
  });

  it('FPTAN pushes 1.0 after tan(x); |x| >= 2^63 sets C2 and leaves the stack alone', () => {
    const t = run2('fptan', 0.5, 0, 2);
    expect(t.r[0]).toBe(1);
    expect(ulpClose(t.r[1], Math.tan(0.5))).toBe(true);
    expect(t.sw & C2).toBe(0);
    const big = run2('fptan', 2 ** 63, 0, 1);
    expect([big.r[0], big.sw & C2, big.top]).toEqual([2 ** 63, C2, 6]);
  });

  it('FPATAN: atan2(ST1, ST0), pop', () => {
    const a = run2('fpatan', -1, 1);
    expect(ulpClose(a.r[0], (3 * Math.PI) / 4)).toBe(true);
    expect(a.top).toBe(7);
    expect(run2('fpatan', Infinity, -0).r[0]).toBe(-0);
    expect(ulpClose(run2('fpatan', -Infinity, 1).r[0], Math.PI)).toBe(true); // atan2(1, -inf)
  });

  it('FSIN, FCOS, FSINCOS (sine in ST1, cosine in ST0)', () => {
    for (const v of [0.5, -2, 100, 1e10, 3.14159]) {
      expect(ulpClose(run2('fsin', v, 0).r[0], Math.sin(v)), `sin ${v}`).toBe(true);
      expect(ulpClose(run2('fcos', v, 0).r[0], Math.cos(v)), `cos ${v}`).toBe(true);
      const sc = run2('fsincos', v, 0, 2);
      expect(ulpClose(sc.r[0], Math.cos(v)) && ulpClose(sc.r[1], Math.sin(v)), `sincos ${v}`).toBe(true);
    }
    expect(run2('fcos', 0, 0).r[0]).toBe(1);
    expect(run2('fcos', 0, 0).sw & EXC).toBe(0);
  });

  it('out of range and invalid arguments', () => {
    const r = run2('fsin', -1e19, 0);
    expect([r.r[0], r.sw & C2]).toEqual([-1e19, C2]);
    const s = run2('fsincos', 1e19, 0, 1);
    expect([s.r[0], s.sw & C2, s.top]).toEqual([1e19, C2, 6]);
    const i = run2('fcos', Infinity, 0);
    expect([i.bits[0], i.sw & EXC]).toEqual([INDEFINITE, IE]);
  });
});

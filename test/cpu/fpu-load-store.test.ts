// x87 loads and stores: m32/m64/m80 conversions, integers with every rounding mode, packed
// BCD, constants, the register stack (overflow/underflow, tags, FXCH, FFREE...).
import { describe, it, expect, beforeAll } from 'vitest';
import {
  X87, DATA, OUT, IE, DE, ZE, OE, UE, PE, SF, C1, ES, B, INDEFINITE, bitsOf, hex, ratOf, roundRat,
  prng, randomDouble, RN, RD, RU, RZ,
} from './fpu-harness';

let x: X87;
beforeAll(async () => { x = await X87.create(); });

const MODES = [RN, RD, RU, RZ];
const EXC = IE | DE | ZE | OE | UE | PE | SF;

/** Reference rounding to an integer. */
function roundInt(v: number, mode: number): number {
  if (mode === RD) return Math.floor(v);
  if (mode === RU) return Math.ceil(v);
  if (mode === RZ) return Math.trunc(v);
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

describe('m32 and m64 operands', () => {
  it('FST m32 rounds with RC and signals PE/C1, OE and UE at the single-precision range', () => {
    const rnd = prng(7);
    const vals: number[] = [];
    for (let i = 0; i < 150; i++) vals.push(randomDouble(rnd, i % 5 === 0 ? -160 : i % 5 === 1 ? 100 : -30, i % 5 === 1 ? 140 : 30));
    vals.push(3.4028235677973366e38, 3.4028235677973362e38 * 1.0000001, 2 ** -149, 2 ** -150, 1.5 * 2 ** -150, 2 ** -126 * (1 - 2 ** -30));
    x.setF64(DATA, ...vals);
    let seen = 0;
    for (const mode of MODES) {
      x.setU16(DATA - 2, 0x37f | (mode << 10));
      x.run32(`fninit
        fldcw [${DATA - 2}]
        mov esi, ${DATA}
        mov edi, ${OUT}
        mov ecx, ${vals.length}
      .l:
        fnclex
        fld qword [esi]
        fstp dword [edi]
        fnstsw [edi+4]
        add esi, 8
        add edi, 8
        dec ecx
        jnz .l`);
      vals.forEach((v, i) => {
        const want = roundRat(ratOf(v), 24, mode, -126, 127);
        const sw = x.u16(OUT + i * 8 + 4);
        const ctx = `${hex(v)} mode ${mode}`;
        expect(x.f32(OUT + i * 8), ctx).toBe(want.value);
        expect(sw & EXC, ctx).toBe((want.inexact || want.overflow ? PE : 0) | (want.overflow ? OE : 0) | (want.underflow ? UE : 0));
        expect(!!(sw & C1), ctx).toBe(want.up);
        if (want.overflow || want.underflow) seen++;
      });
    }
    expect(seen).toBeGreaterThan(20);
  });

  it('FLD m32/m64 are exact, keep NaN payloads, quiet an SNaN with IE, and flag denormals with DE', () => {
    x.setU32(DATA, 0x7fa00001); // f32 SNaN
    x.setU32(DATA + 4, 0xffc01234); // f32 QNaN
    x.setU32(DATA + 8, 0x00000003); // f32 denormal
    x.setBits64(DATA + 16, 0x7ff4000000000001n); // f64 SNaN
    x.run32(`fninit
      fld dword [${DATA}]
      fnstsw [${OUT}]
      fstp qword [${OUT + 8}]
      fnclex
      fld dword [${DATA + 4}]
      fnstsw [${OUT + 2}]
      fstp qword [${OUT + 16}]
      fld dword [${DATA + 8}]
      fnstsw [${OUT + 4}]
      fstp qword [${OUT + 24}]
      fnclex
      fld qword [${DATA + 16}]
      fnstsw [${OUT + 6}]
      fstp qword [${OUT + 32}]`);
    expect(x.u16(OUT) & EXC).toBe(IE);
    expect(x.bits64(OUT + 8)).toBe(0x7ffc000020000000n); // quieted, payload shifted into place
    expect(x.u16(OUT + 2) & EXC).toBe(0);
    expect(x.bits64(OUT + 16)).toBe(0xfff8024680000000n);
    expect(x.u16(OUT + 4) & EXC).toBe(DE);
    expect(x.f64(OUT + 24)).toBe(3 * 2 ** -149);
    expect(x.u16(OUT + 6) & EXC).toBe(IE);
    expect(x.bits64(OUT + 32)).toBe(0x7ffc000000000001n);
  });

  it('FST m64 of an SNaN stores it quieted with IE; FST does not pop, FSTP does', () => {
    x.setU16(DATA, 0x0001); x.setU16(DATA + 2, 0, 0, 0x8000, 0x7fff); // 80-bit SNaN
    x.run32(`fninit
      fld tword [${DATA}]
      fst qword [${OUT}]
      fnstsw [${OUT + 8}]
      fstp qword [${OUT + 16}]
      fnstsw [${OUT + 10}]`);
    expect(x.u16(OUT + 8) & (EXC | 0x3800)).toBe(IE | (7 << 11));
    expect(x.bits64(OUT) >> 52n).toBe(0x7ffn);
    expect((x.bits64(OUT) >> 51n) & 1n).toBe(1n);
    expect((x.u16(OUT + 10) >> 11) & 7).toBe(0);
  });
});

describe('80-bit extended', () => {
  it('FSTP m80 writes any double exactly and FLD m80 reads it back bit for bit', () => {
    const vals = [1, -2.5, Math.PI, 2 ** -1074, -(2 ** -1030), Number.MAX_VALUE, -0, Infinity, -Infinity];
    x.setF64(DATA, ...vals);
    x.run32(`fninit
      mov esi, ${DATA}
      mov edi, ${OUT}
      mov ecx, ${vals.length}
    .l:
      fld qword [esi]
      fstp tword [edi]
      fld tword [edi]
      fstp qword [edi+16]
      add esi, 8
      add edi, 32
      dec ecx
      jnz .l`);
    vals.forEach((v, i) => expect(hex(x.f64(OUT + i * 32 + 16))).toBe(hex(v)));
    // Byte layout: 1.0 = 3FFF 8000000000000000; -2.5 = C000 A000000000000000; 2^-1074 = 3BCD 8000...
    expect(x.bytes(OUT, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    expect(x.bytes(OUT + 32, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0xa0, 0x00, 0xc0]);
    expect(x.u16(OUT + 3 * 32 + 8)).toBe(16383 - 1074);
    expect(x.bits64(OUT + 3 * 32)).toBe(0x8000000000000000n);
    expect(x.u16(OUT + 7 * 32 + 8)).toBe(0x7fff);
    expect(x.bits64(OUT + 7 * 32)).toBe(0x8000000000000000n);
  });

  it('FLD m80 loads every encoding exactly (FSTP m80 gives it back); FST m64 then rounds with RC and flags', () => {
    const cases: Array<[bigint, number]> = [
      [0x8000000000000400n, 0x3fff], // 1 + 2^-53: a tie for a double, rounds to even (1.0)
      [0x8000000000000c00n, 0x3fff], // 1 + 3×2^-53: tie, rounds up to 1 + 2^-51
      [0x8000000000000401n, 0x3fff], // just above the tie: up
      [0x8000000000000000n, 0x7000], // 2^12289: beyond the double range
      [0x8000000000000000n, 0x0001], // 2^-16382: below it
      [0x4000000000000000n, 0x3fff], // unnormal (integer bit clear)
      [0xc000000000000000n, 0xffff], // -QNaN indefinite
      [0x0000000000000000n, 0x8000], // -0
      [0x0000000000000001n, 0x0000], // the smallest denormal, 2^-16445
    ];
    cases.forEach(([sig, se], i) => { x.setBits64(DATA + i * 16, sig); x.setU16(DATA + i * 16 + 8, se); });
    const n = cases.length;
    x.run32(`fninit
      mov esi, ${DATA}
      mov edi, ${OUT}
      mov ecx, ${n}
    .l:
      fld tword [esi]
      fstp tword [edi]
      add esi, 16
      add edi, 16
      dec ecx
      jnz .l
      fnstsw [${OUT + 16 * n}]`);
    cases.forEach(([sig, se], i) => expect([x.bits64(OUT + i * 16), x.u16(OUT + i * 16 + 8)], `case ${i}`).toEqual([sig, se]));
    expect(x.u16(OUT + 16 * n) & EXC).toBe(0); // loads never signal
    // FST m64 of each (RN, all masked): value and the flags of that one store
    const want: Array<[bigint, number]> = [
      [bitsOf(1), PE], [bitsOf(1 + 2 ** -51), PE | C1], [bitsOf(1 + 2 ** -52), PE | C1], [bitsOf(Infinity), OE | PE | C1],
      [0n, UE | PE], [INDEFINITE, IE], [INDEFINITE, 0], [bitsOf(-0), 0], [0n, UE | PE], // (no DE for a store, as hardware)
    ];
    cases.forEach(([sig, se], i) => {
      x.setBits64(DATA, sig); x.setU16(DATA + 8, se);
      x.run32(`fninit
        fld tword [${DATA}]
        fstp qword [${OUT}]
        fnstsw [${OUT + 8}]`);
      expect([x.bits64(OUT), x.u16(OUT + 8) & (EXC | C1)], `FST m64 of case ${i}`).toEqual(want[i]);
    });
  });
});

describe('integers', () => {
  const vals = [2.5, -2.5, 3.5, -3.5, 1.25, -1.75, 0.5, -0.5, 7, -8, 32767.4, -32768.6, 1e9 + 0.5, 12345.75];
  for (const [name, size, lo, hi] of [['m16', 2, -32768, 32767], ['m32', 4, -(2 ** 31), 2 ** 31 - 1], ['m64', 8, -(2 ** 63), 2 ** 63]] as const) {
    it(`FISTP ${name} rounds with every RC mode (PE, C1) and stores the integer indefinite on overflow`, () => {
      const st = size === 2 ? 'word' : size === 4 ? 'dword' : 'qword';
      x.setF64(DATA, ...vals);
      for (const mode of MODES) {
        x.setU16(DATA - 2, 0x37f | (mode << 10));
        x.run32(`fninit
          fldcw [${DATA - 2}]
          mov esi, ${DATA}
          mov edi, ${OUT}
          mov ecx, ${vals.length}
        .l:
          fnclex
          fld qword [esi]
          fistp ${st} [edi]
          fnstsw [edi+8]
          add esi, 8
          add edi, 16
          dec ecx
          jnz .l`);
        vals.forEach((v, i) => {
          const r = roundInt(v, mode);
          const sw = x.u16(OUT + i * 16 + 8);
          const got = size === 2 ? x.i16(OUT + i * 16) : size === 4 ? x.i32(OUT + i * 16) : Number(x.i64(OUT + i * 16));
          const ctx = `${v} mode ${mode}`;
          if (r < lo || r > hi) {
            expect(sw & EXC, ctx).toBe(IE);
            expect(got, ctx).toBe(size === 8 ? -(2 ** 63) : lo);
          } else {
            expect(got, ctx).toBe(r + 0); // an integer has no -0
            expect(sw & EXC, ctx).toBe(r === v ? 0 : PE);
            expect(!!(sw & C1), ctx).toBe(Math.abs(r) > Math.abs(v));
          }
        });
      }
    });
  }

  it('FIST keeps the value, FISTP pops; NaN and ±2^63 are invalid for m64; -2^63 is not', () => {
    x.setF64(DATA, NaN, 2 ** 63, -(2 ** 63));
    x.run32(`fninit
      fld qword [${DATA}]
      fist dword [${OUT}]
      fnstsw [${OUT + 4}]
      fld qword [${DATA + 8}]
      fistp qword [${OUT + 8}]
      fld qword [${DATA + 16}]
      fistp qword [${OUT + 16}]
      fnstsw [${OUT + 6}]`);
    expect(x.u32(OUT)).toBe(0x80000000);
    expect(x.u16(OUT + 4) & (IE | 0x3800)).toBe(IE | (7 << 11));
    expect(x.bits64(OUT + 8)).toBe(0x8000000000000000n);
    expect(x.i64(OUT + 16)).toBe(-(2n ** 63n));
    expect((x.u16(OUT + 6) >> 11) & 7).toBe(7);
  });

  it('FILD m16/m32/m64 load exactly (m64 rounds to nearest beyond 2^53)', () => {
    x.setU16(DATA, 0x8000);
    x.setU32(DATA + 4, 0x80000001);
    x.setBits64(DATA + 8, 0x7fffffffffffffffn, 0xfff0000000000001n);
    x.run32(`fninit
      fild word [${DATA}]
      fstp qword [${OUT}]
      fild dword [${DATA + 4}]
      fstp qword [${OUT + 8}]
      fild qword [${DATA + 8}]
      fstp qword [${OUT + 16}]
      fild qword [${DATA + 16}]
      fstp qword [${OUT + 24}]`);
    expect(x.f64(OUT)).toBe(-32768);
    expect(x.f64(OUT + 8)).toBe(-2147483647);
    expect(x.f64(OUT + 16)).toBe(2 ** 63);
    expect(x.f64(OUT + 24)).toBe(Number(BigInt.asIntN(64, 0xfff0000000000001n)));
  });

  it('FBLD and FBSTP convert packed BCD (sign byte, 18 digits), rounding with RC', () => {
    // -123456789012345678: digits low first
    x.setBytes(DATA, [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]);
    x.setF64(DATA + 16, 2.5, -99.5, 1e18, 987654321.25);
    x.run32(`fninit
      fbld [${DATA}]
      fst qword [${OUT + 64}]
      fbstp [${OUT}]
      fld qword [${DATA + 16}]
      fbstp [${OUT + 16}]
      fld qword [${DATA + 24}]
      fbstp [${OUT + 32}]
      fnclex
      fld qword [${DATA + 32}]
      fbstp [${OUT + 48}]
      fnstsw [${OUT + 72}]
      fld qword [${DATA + 40}]
      fbstp [${OUT + 80}]`);
    expect(x.f64(OUT + 64)).toBe(-123456789012345678);
    expect(x.bytes(OUT, 10)).toEqual([0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]); // all 18 digits survive (64-bit significand)
    expect(x.bytes(OUT + 16, 10)).toEqual([0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 2.5 → 2 (nearest even)
    expect(x.bytes(OUT + 32, 10)).toEqual([0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x80]); // -99.5 → -100
    expect(x.bytes(OUT + 48, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]); // indefinite
    expect(x.u16(OUT + 72) & EXC).toBe(IE);
    expect(x.bytes(OUT + 80, 10)).toEqual([0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0]);
  });
});

describe('constants', () => {
  it('FLD1, FLDZ, FLDPI, FLDL2T, FLDL2E, FLDLG2, FLDLN2 as 80-bit values, rounded with RC', () => {
    const load = (mode: number) => {
      x.setU16(DATA, 0x37f | (mode << 10));
      x.run32(`fninit
        fldcw [${DATA}]
        fld1
        fldz
        fldpi
        fldl2t
        fldl2e
        fldlg2
        fldln2
        mov edi, ${OUT}
        mov ecx, 7
      .l:
        fstp tword [edi]
        add edi, 16
        dec ecx
        jnz .l
        fnstsw [${OUT + 112}]`);
      expect(x.u16(OUT + 112) & EXC).toBe(0);
      return Array.from({ length: 7 }, (_, i) => `${x.u16(OUT + i * 16 + 8).toString(16)}:${x.bits64(OUT + i * 16).toString(16)}`);
    };
    // ln 2, log10 2, log2 e, log2 10, pi, 0, 1 (the order FSTP pops them)
    const nearest = ['3ffe:b17217f7d1cf79ac', '3ffd:9a209a84fbcff799', '3fff:b8aa3b295c17f0bc', '4000:d49a784bcd1b8afe', '4000:c90fdaa22168c235', '0:0', '3fff:8000000000000000'];
    expect(load(RN)).toEqual(nearest);
    const down = ['3ffe:b17217f7d1cf79ab', '3ffd:9a209a84fbcff798', '3fff:b8aa3b295c17f0bb', '4000:d49a784bcd1b8afe', '4000:c90fdaa22168c234', '0:0', '3fff:8000000000000000'];
    expect(load(RD)).toEqual(down);
    expect(load(RZ)).toEqual(down);
    expect(load(RU)).toEqual([...nearest.slice(0, 3), '4000:d49a784bcd1b8aff', ...nearest.slice(4)]);
  });
  it('constants are rounded with RC: up gives the next double above, down/zero the one below', () => {
    const load = (mode: number) => {
      x.setU16(DATA, 0x37f | (mode << 10));
      x.run32(`fninit
        fldcw [${DATA}]
        fldpi
        fstp qword [${OUT}]
        fldlg2
        fstp qword [${OUT + 8}]`);
      return [x.bits64(OUT), x.bits64(OUT + 8)];
    };
    const pi = bitsOf(Math.PI), lg2 = bitsOf(Math.log10(2));
    expect(load(RU)).toEqual([pi + 1n, lg2]); // π's nearest double is below π; log10(2)'s is above
    expect(load(RD)).toEqual([pi, lg2 - 1n]);
    expect(load(RZ)).toEqual([pi, lg2 - 1n]);
  });
});

describe('register stack, tags and stack faults', () => {
  it('tags: valid 00, zero 01, special 10, empty 11, and TOP in the status word', () => {
    x.setF64(DATA, 1, 0, Infinity, NaN);
    x.run32(`fninit
      fld qword [${DATA}]
      fld qword [${DATA + 8}]
      fld qword [${DATA + 16}]
      fld qword [${DATA + 24}]
      fnstenv [${OUT}]`);
    // Physical registers 7..4 hold 1, 0, inf, NaN; TOP = 4.
    expect(x.u16(OUT + 8)).toBe(0b00_01_10_10_11_11_11_11);
    expect((x.u16(OUT + 4) >> 11) & 7).toBe(4);
  });

  it('stack overflow: IE+SF, C1=1; masked response pushes the indefinite', () => {
    x.run32(`fninit
      fld1
      fld1
      fld1
      fld1
      fld1
      fld1
      fld1
      fld1
      fnstsw [${OUT}]
      fldz
      fnstsw [${OUT + 2}]
      fstp qword [${OUT + 8}]`);
    expect(x.u16(OUT) & (EXC | C1)).toBe(0);
    expect(x.u16(OUT + 2) & (EXC | C1 | ES)).toBe(IE | SF | C1);
    expect(x.bits64(OUT + 8)).toBe(INDEFINITE);
  });

  it('stack underflow: IE+SF, C1=0; masked response writes the indefinite; FCOM gives unordered', () => {
    x.run32(`fninit
      fld1
      fadd st0, st3
      fnstsw [${OUT}]
      fst qword [${OUT + 8}]
      fnclex
      fcom st5
      fnstsw [${OUT + 2}]`);
    expect(x.u16(OUT) & (EXC | C1)).toBe(IE | SF);
    expect(x.bits64(OUT + 8)).toBe(INDEFINITE);
    expect(x.u16(OUT + 2) & (EXC | 0x4500)).toBe(IE | SF | 0x4500);
  });

  it('FXCH, FLD ST(i), FST/FSTP ST(i), FCHS, FABS', () => {
    x.setF64(DATA, 1, 2, 3);
    x.run32(`fninit
      fld qword [${DATA}]
      fld qword [${DATA + 8}]
      fld qword [${DATA + 16}]  ; 3 2 1
      fxch st2                  ; 1 2 3
      fld st1                   ; 2 1 2 3
      fchs                      ; -2 1 2 3
      fst st3                   ; -2 1 2 -2
      fabs                      ; 2 1 2 -2
      fstp st1                  ; 2 2 -2
      fstp qword [${OUT}]
      fstp qword [${OUT + 8}]
      fstp qword [${OUT + 16}]
      fnstsw [${OUT + 24}]`);
    expect([x.f64(OUT), x.f64(OUT + 8), x.f64(OUT + 16)]).toEqual([2, 2, -2]);
    expect(x.u16(OUT + 24) & (EXC | 0x3800)).toBe(0);
  });

  it('FXCH with an empty register: masked response swaps in the indefinite', () => {
    x.run32(`fninit
      fld1
      fxch st3
      fnstsw [${OUT}]
      fstp qword [${OUT + 8}]   ; the 1.0 is now ST(2)
      fincstp
      fincstp
      fstp qword [${OUT + 16}]`);
    expect(x.u16(OUT) & EXC).toBe(IE | SF);
    expect(x.bits64(OUT + 8)).toBe(INDEFINITE);
    expect(x.f64(OUT + 16)).toBe(1);
  });

  it('FINCSTP/FDECSTP rotate TOP without touching tags; FFREE/FFREEP empty a register', () => {
    x.run32(`fninit
      fld1
      fldz
      fdecstp
      fnstsw [${OUT}]
      fnstenv [${OUT + 16}]
      fincstp
      fincstp
      fnstsw [${OUT + 2}]
      ffree st7
      ffreep st0
      fnstenv [${OUT + 48}]`);
    expect((x.u16(OUT) >> 11) & 7).toBe(5);
    expect(x.u16(OUT + 16 + 8)).toBe(0b00_01_11_11_11_11_11_11); // R7 = 1.0 (valid), R6 = 0 (zero)
    expect((x.u16(OUT + 2) >> 11) & 7).toBe(7);
    // ffree st7 emptied R6; ffreep st0 emptied R7 and popped.
    expect(x.u16(OUT + 48 + 8)).toBe(0xffff);
    expect((x.u16(OUT + 48 + 4) >> 11) & 7).toBe(0);
  });

  it('unmasked stack fault leaves the destination alone and sets ES and B', () => {
    x.setU16(DATA, 0x37e); // IE unmasked
    x.run32(`fninit
      fldcw [${DATA}]
      fld1
      fadd st0, st2
      fnstsw [${OUT}]
      fnclex
      fstp qword [${OUT + 8}]`);
    expect(x.u16(OUT) & (EXC | ES | B)).toBe(IE | SF | ES | B);
    expect(x.f64(OUT + 8)).toBe(1);
  });
});

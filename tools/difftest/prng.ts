// Deterministic PRNGs shared by the generator, the emulator side and (re-implemented in
// runner.c) the native side. Nothing here may depend on time or Math.random.

/** sfc32-style generator: good enough statistics, 32-bit integer arithmetic only. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = Math.imul(seed >>> 0, 0x85ebca6b) ^ 0xc2b2ae35;
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n) for n ≤ 2^32. */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`bad bound ${n}`);
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number { return lo + this.below(hi - lo + 1); }

  chance(p: number): boolean { return this.u32() / 0x100000000 < p; }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.below(xs.length)];
  }

  /** An "interesting" operand of `bits` bits: edge values are over-represented. */
  operand(bits: 8 | 16 | 32): number {
    const m = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    const top = bits === 32 ? 0x80000000 : 1 << (bits - 1);
    switch (this.below(10)) {
      case 0: return this.pick([0, 1, m, top, top - 1, (top + 1) >>> 0, 2, m - 1]) >>> 0;
      case 1: return this.below(16);
      case 2: return (m - this.below(16)) >>> 0;
      case 3: return (1 << this.below(bits)) >>> 0;
      default: return (this.u32() & m) >>> 0;
    }
  }

  /** A full 32-bit register value whose low `bits` bits are an interesting operand. */
  regValue(bits: 8 | 16 | 32): number {
    if (bits === 32) return this.operand(32);
    const m = (1 << bits) - 1;
    return ((this.u32() & ~m) | this.operand(bits)) >>> 0;
  }
}

/**
 * Fill `words` from a seed with xorshift32 (runner.c has the same function, fill_data), so
 * both sides start every case with the same data-area contents without shipping them.
 */
export function fillData(words: Uint32Array, seed: number): void {
  let s = (seed ^ 0x9e3779b9) >>> 0;
  if (s === 0) s = 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    words[i] = s;
  }
}

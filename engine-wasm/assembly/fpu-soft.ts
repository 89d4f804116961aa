// x87 arithmetic on the 80-bit double-extended format (SDM Vol. 1 §4.2.2, §8.1): a value is
// a 64-bit significand with an explicit integer bit and a 16-bit sign|exponent word (bias
// 16383). It travels as a v128 (lane 0 the significand, lane 1 the sign|exponent word), so
// functions take and return values without allocating. Every result is computed exactly
// (a 128-bit significand with a sticky bit) and rounded once to the precision control's
// 24, 53 or 64 bits in the extended exponent range, or to a memory format; rounding control,
// PE/UE/OE, the C1 "rounded up" bit and tininess after rounding follow the x87.
//
// No allocation: extra results go through module globals (one instance = one vCPU).

// Exception bits, in status-word positions.
export const FE_IE: u32 = 0x01;
export const FE_DE: u32 = 0x02;
export const FE_ZE: u32 = 0x04;
export const FE_OE: u32 = 0x08;
export const FE_UE: u32 = 0x10;
export const FE_PE: u32 = 0x20;
export const FE_SF: u32 = 0x40;

// Rounding control values (CW bits 10-11).
export const RC_NEAREST: u32 = 0;
export const RC_DOWN: u32 = 1;
export const RC_UP: u32 = 2;
export const RC_ZERO: u32 = 3;

// Double fields (memory operands).
export const MANT_MASK: u64 = 0x000fffffffffffff;
export const EXP_MASK: u64 = 0x7ff0000000000000;
export const SIGN_BIT: u64 = 0x8000000000000000;

// Extended fields.
export const INT_BIT: u64 = 0x8000000000000000;
export const QUIET_BIT: u64 = 0x4000000000000000;
export const BIAS: i32 = 16383;
export const EMIN: i32 = -16382;
export const EMAX: i32 = 16383;

// ---- the value type --------------------------------------------------------------------------
@inline export function mk(sig: u64, se: u32): v128 { return i64x2.replace_lane(i64x2.splat(<i64>sig), 1, <i64>(se & 0xffff)); }
@inline export function sigOf(x: v128): u64 { return <u64>i64x2.extract_lane(x, 0); }
@inline export function seOf(x: v128): u32 { return <u32>i64x2.extract_lane(x, 1); }
@inline export function expOf(x: v128): u32 { return seOf(x) & 0x7fff; }
@inline export function signOf(x: v128): bool { return (seOf(x) & 0x8000) != 0; }
@inline export function neg(x: v128): v128 { return mk(sigOf(x), seOf(x) ^ 0x8000); }
@inline export function absx(x: v128): v128 { return mk(sigOf(x), seOf(x) & 0x7fff); }
@inline export function zero(sign: bool): v128 { return mk(0, sign ? 0x8000 : 0); }
@inline export function inf(sign: bool): v128 { return mk(INT_BIT, (sign ? 0x8000 : 0) | 0x7fff); }
@inline export function one(sign: bool): v128 { return mk(INT_BIT, (sign ? 0x8000 : 0) | 0x3fff); }
/** The QNaN "real indefinite": FFFF C000000000000000. */
@inline export function indefinite(): v128 { return mk(0xc000000000000000, 0xffff); }

// ---- classification --------------------------------------------------------------------------
/** A NaN (integer bit set: a pseudo-NaN is an unsupported operand, not a NaN). */
@inline export function isNaN(x: v128): bool { return expOf(x) == 0x7fff && (sigOf(x) & INT_BIT) != 0 && (sigOf(x) & ~INT_BIT) != 0; }
@inline export function isInf(x: v128): bool { return expOf(x) == 0x7fff && sigOf(x) == INT_BIT; }
@inline export function isZero(x: v128): bool { return expOf(x) == 0 && sigOf(x) == 0; }
/** A denormal (exponent 0, non-zero significand, including pseudo-denormals). */
@inline export function isDenormal(x: v128): bool { return expOf(x) == 0 && sigOf(x) != 0; }
/** Unnormals, pseudo-infinities and pseudo-NaNs: invalid operands since the 387. */
@inline export function isUnsupported(x: v128): bool { return expOf(x) != 0 && (sigOf(x) & INT_BIT) == 0; }
@inline export function isSNaN(x: v128): bool { return isNaN(x) && (sigOf(x) & QUIET_BIT) == 0; }
@inline export function isFinite(x: v128): bool { return expOf(x) != 0x7fff; }
@inline export function quiet(x: v128): v128 { return mk(sigOf(x) | QUIET_BIT, seOf(x)); }

// ---- per-instruction flag accumulator -----------------------------------------------------------
/** Exception bits raised by the current instruction. */
export let exc: u32 = 0;
/** C1 for the current instruction: rounded up (or stack overflow). */
export let c1: u32 = 0;
/** Rounding mode of the current instruction. */
export let rc: u32 = RC_NEAREST;
/** Set when UE is unmasked: then an exact tiny result still signals underflow. */
let ueUnmasked: bool = false;

export function beginOp(cw: u32): void {
  exc = 0;
  c1 = 0;
  rc = (cw >> 10) & 3;
  ueUnmasked = (cw & FE_UE) == 0;
}
export function raiseExc(bits: u32): void { exc |= bits; }
export function setC1(v: u32): void { c1 = v; }
export function setExc(v: u32): void { exc = v; }
export function setRc(v: u32): void { rc = v; }

/**
 * NaN operand rule of the x87 for two sources (SDM Vol. 1 table 4-7): an SNaN signals IE;
 * a QNaN beats an SNaN; of two NaNs of the same kind the larger significand wins. The
 * result is always quiet. At least one of a, b must be a NaN.
 */
export function pickNaN(a: v128, b: v128): v128 {
  const an = isNaN(a), bn = isNaN(b);
  if (isSNaN(a) || isSNaN(b)) exc |= FE_IE;
  if (an && bn) {
    const aq = (sigOf(a) & QUIET_BIT) != 0, bq = (sigOf(b) & QUIET_BIT) != 0;
    if (aq != bq) return aq ? a : quiet(b);
    const am = sigOf(a) & ~(INT_BIT | QUIET_BIT), bm = sigOf(b) & ~(INT_BIT | QUIET_BIT);
    if (am != bm) return quiet(am > bm ? a : b);
    return quiet(signOf(a) ? b : a);
  }
  return quiet(an ? a : b);
}

/** One NaN source: SNaN signals IE; the result is quiet. */
export function oneNaN(a: v128): v128 {
  if (isSNaN(a)) exc |= FE_IE;
  return quiet(a);
}

/** Masked invalid-operation response: signal IE and return the real indefinite. */
export function invalid(): v128 {
  exc |= FE_IE;
  return indefinite();
}

// ---- unpacking: value = (-1)^uSign × uSig × 2^(uExp-63), bit 63 of uSig set ---------------
export let uSign: bool = false;
export let uExp: i32 = 0;
export let uSig: u64 = 0;

/** Split a finite non-zero x (denormals are normalised). */
export function unpack(x: v128): void {
  const se = seOf(x), sig = sigOf(x);
  uSign = (se & 0x8000) != 0;
  const e = <i32>(se & 0x7fff);
  const lz = <i32>clz<u64>(sig);
  uSig = sig << <u64>lz;
  uExp = (e == 0 ? 1 : e) - BIAS - lz;
}

// ---- rounding ---------------------------------------------------------------------------------------
// Result of roundCore: significand `rKeep` (prec bits; its top bit set unless denormal or
// zero) whose top bit is worth 2^rExp; or, with rInf, an infinity.
export let rKeep: u64 = 0;
export let rExp: i32 = 0;
export let rInf: bool = false;

/** (hi:lo) >> n with every bit shifted out OR-ed into bit 0 of lo. */
let shHi: u64 = 0, shLo: u64 = 0;
function shiftRight128Jam(hi: u64, lo: u64, n: i32): void {
  if (n <= 0) { shHi = hi; shLo = lo; return; }
  if (n >= 128) { shHi = 0; shLo = (hi | lo) != 0 ? 1 : 0; return; }
  if (n >= 64) {
    const lost = lo != 0 || (n > 64 && (hi << <u64>(128 - n)) != 0);
    shLo = (n == 64 ? hi : hi >> <u64>(n - 64)) | (lost ? 1 : 0);
    shHi = 0;
    return;
  }
  const lost = (lo << <u64>(64 - n)) != 0;
  shLo = (lo >> <u64>n) | (hi << <u64>(64 - n)) | (lost ? 1 : 0);
  shHi = hi >> <u64>n;
}

/** Would rounding keep (with round bit r and sticky s) add one? */
function roundUp(sign: bool, keep: u64, r: bool, s: bool, mode: u32): bool {
  if (!r && !s) return false;
  switch (mode) {
    case RC_NEAREST: return r && (s || (keep & 1) != 0);
    case RC_DOWN: return sign;
    case RC_UP: return !sign;
    default: return false;
  }
}

/**
 * Round (-1)^sign × (hi + lo/2^64) × 2^(exp-63) (hi has bit 63 set) to `prec` significant
 * bits (24, 53 or 64) in a format whose normal exponents are emin..emax, with rounding
 * mode `mode`. Tininess is detected after rounding, as the x87 does. Adds PE/UE/OE to
 * `exc`, sets `c1` and the rKeep/rExp/rInf result.
 */
export function roundCore(sign: bool, exp: i32, hi: u64, lo: u64, prec: i32, emin: i32, emax: i32, mode: u32): void {
  const sh = 64 - prec;
  rInf = false;
  let tiny = false;
  if (exp < emin) {
    tiny = true;
    if (exp == emin - 1) {
      // Not tiny if rounding with an unbounded exponent carries the value up to 2^emin.
      const k = sh == 0 ? hi : hi >> <u64>sh;
      const r = sh == 0 ? (lo >> 63) != 0 : ((hi >> <u64>(sh - 1)) & 1) != 0;
      const s = sh == 0 ? (lo << 1) != 0 : ((hi & ((<u64>1 << <u64>(sh - 1)) - 1)) != 0 || lo != 0);
      const allOnes = sh == 0 ? k == 0xffffffffffffffff : k == (<u64>1 << <u64>prec) - 1;
      if (allOnes && roundUp(sign, k, r, s, mode)) tiny = false;
    }
    shiftRight128Jam(hi, lo, emin - exp);
    hi = shHi; lo = shLo;
    exp = emin;
  }
  let keep: u64, r: bool, s: bool;
  if (sh == 0) { keep = hi; r = (lo >> 63) != 0; s = (lo << 1) != 0; }
  else {
    keep = hi >> <u64>sh;
    r = ((hi >> <u64>(sh - 1)) & 1) != 0;
    s = (hi & ((<u64>1 << <u64>(sh - 1)) - 1)) != 0 || lo != 0;
  }
  const inc = roundUp(sign, keep, r, s, mode);
  if (r || s) exc |= FE_PE;
  if (tiny && (r || s || ueUnmasked)) exc |= FE_UE;
  c1 = inc ? 1 : 0;
  const top: u64 = <u64>1 << <u64>(prec - 1);
  if (inc) {
    keep++;
    if (sh == 0 ? keep == 0 : keep == top << 1) { keep = top; exp++; } // carried out of the significand
  }
  if ((keep & top) != 0 && exp > emax) {
    exc |= FE_OE | FE_PE;
    const toInf = mode == RC_NEAREST || (mode == RC_UP && !sign) || (mode == RC_DOWN && sign);
    c1 = toInf ? 1 : 0;
    rInf = toInf;
    keep = sh == 0 ? 0xffffffffffffffff : (top << 1) - 1; // the largest finite number
    exp = emax;
  }
  rKeep = keep;
  rExp = exp;
}

/** The extended value of the last roundCore (in the register format). */
function packExt(sign: bool, prec: i32): v128 {
  if (rInf) return inf(sign);
  const s: u32 = sign ? 0x8000 : 0;
  if (rKeep == 0) return mk(0, s);
  const field = rKeep << <u64>(64 - prec);
  if ((field & INT_BIT) == 0) return mk(field, s); // denormal: exponent field 0
  return mk(field, s | <u32>(rExp + BIAS));
}

/** Round to the register format: `prec` significant bits, extended exponent range. */
export function roundExt(sign: bool, exp: i32, hi: u64, lo: u64, prec: i32): v128 {
  roundCore(sign, exp, hi, lo, prec, EMIN, EMAX, rc);
  return packExt(sign, prec);
}

/** An exact value (-1)^sign × m × 2^e (m < 2^64, the caller guarantees it fits) as extended. */
export function exactExt(sign: bool, m: u64, e: i32): v128 {
  if (m == 0) return zero(sign);
  const lz = <i32>clz<u64>(m);
  return roundExt(sign, e + 63 - lz, m << <u64>lz, 0, 64);
}

/** Signed zero of an exact cancellation: +0, except -0 when rounding down. */
@inline function cancelZero(): v128 { return zero(rc == RC_DOWN); }

// ---- 128-bit helpers ---------------------------------------------------------------------------------
export let hi128: u64 = 0;
export let lo128: u64 = 0;

/** hi128:lo128 = a × b. */
export function mul128(a: u64, b: u64): void {
  const a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff);
  hi128 = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  lo128 = (mid << 32) | (p00 & 0xffffffff);
}

// ---- the four operations and the square root (finite operands; specials in callers) --------

/** a + b, both finite (zeros allowed). */
export function addFinite(a: v128, b: v128, prec: i32): v128 {
  const az = isZero(a), bz = isZero(b);
  if (az && bz) return signOf(a) == signOf(b) ? a : cancelZero();
  if (bz) { unpack(a); return roundExt(uSign, uExp, uSig, 0, prec); }
  if (az) { unpack(b); return roundExt(uSign, uExp, uSig, 0, prec); }
  unpack(a);
  let sa = uSign, ea = uExp, ma = uSig;
  unpack(b);
  let sb = uSign, eb = uExp, mb = uSig;
  if (eb > ea || (eb == ea && mb > ma)) {
    const ts = sa; sa = sb; sb = ts;
    const te = ea; ea = eb; eb = te;
    const tm = ma; ma = mb; mb = tm;
  }
  // 128-bit fixed point with the leading bit of a at bit 126 (room for a carry).
  const aHi = ma >> 1, aLo = ma << 63;
  shiftRight128Jam(mb >> 1, mb << 63, ea - eb);
  let hi: u64, lo: u64;
  if (sa == sb) {
    lo = aLo + shLo;
    hi = aHi + shHi + (lo < aLo ? 1 : 0);
  } else {
    lo = aLo - shLo;
    hi = aHi - shHi - (aLo < shLo ? 1 : 0);
  }
  if (hi == 0 && lo == 0) return cancelZero();
  let e = ea + 1;
  if (hi == 0) { hi = lo; lo = 0; e -= 64; }
  const lz = <i32>clz<u64>(hi);
  if (lz > 0) { hi = (hi << <u64>lz) | (lo >> <u64>(64 - lz)); lo <<= <u64>lz; e -= lz; }
  return roundExt(sa, e, hi, lo, prec);
}

/** a × b, both finite. */
export function mulFinite(a: v128, b: v128, prec: i32): v128 {
  const s = signOf(a) != signOf(b);
  if (isZero(a) || isZero(b)) return zero(s);
  unpack(a);
  const ea = uExp, ma = uSig;
  unpack(b);
  mul128(ma, uSig);
  let hi = hi128, lo = lo128, e = ea + uExp;
  if ((hi >> 63) != 0) e++;
  else { hi = (hi << 1) | (lo >> 63); lo <<= 1; }
  return roundExt(s, e, hi, lo, prec);
}

/** a / b, both finite, b non-zero. */
export function divFinite(a: v128, b: v128, prec: i32): v128 {
  const s = signOf(a) != signOf(b);
  if (isZero(a)) return zero(s);
  unpack(a);
  const ea = uExp, ma = uSig;
  unpack(b);
  const mb = uSig;
  // Restoring division, one quotient bit per step: 128 bits, the first worth 2^0, with a
  // 65-bit partial remainder (carry:rem) and the final remainder as the sticky bit.
  let rem = ma, carry: u64 = 0, qHi: u64 = 0, qLo: u64 = 0;
  for (let i = 0; i < 128; i++) {
    let bit: u64 = 0;
    if (carry != 0 || rem >= mb) { rem -= mb; bit = 1; } // (carry:rem) - mb < mb < 2^64
    qHi = (qHi << 1) | (qLo >> 63);
    qLo = (qLo << 1) | bit;
    carry = rem >> 63;
    rem <<= 1;
  }
  if (rem != 0 || carry != 0) qLo |= 1;
  let e = ea - uExp;
  if ((qHi >> 63) == 0) { qHi = (qHi << 1) | (qLo >> 63); qLo <<= 1; e--; } // ma < mb
  return roundExt(s, e, qHi, qLo, prec);
}

/** √x for finite x > 0. */
export function sqrtFinite(x: v128, prec: i32): v128 {
  unpack(x);
  // R = the significand as a 128-bit integer, scaled so that the exponent left is even:
  // x = R × 2^(ex - 127) with ex odd, or R/2 ... (ex even: one bit less of shift).
  let rHi: u64, rLo: u64, e: i32;
  const ex = uExp;
  if ((ex & 1) != 0) { rHi = uSig; rLo = 0; e = (ex - 1) >> 1; }
  else { rHi = uSig >> 1; rLo = uSig << 63; e = ex >> 1; }
  // Bit-by-bit integer square root of R (< 2^128): root < 2^64 with bit 63 set.
  let root: u64 = 0;
  let remHi: u64 = 0, remLo: u64 = 0; // remainder, up to 65 bits used
  for (let i = 0; i < 64; i++) {
    // bring down two bits of R
    remHi = (remHi << 2) | (remLo >> 62);
    remLo = (remLo << 2) | (rHi >> 62);
    rHi = (rHi << 2) | (rLo >> 62);
    rLo <<= 2;
    // trial = 4·root + 1 (as a 66-bit value in tHi:tLo)
    const tLo = (root << 2) | 1, tHi = root >> 62;
    root <<= 1;
    if (remHi > tHi || (remHi == tHi && remLo >= tLo)) {
      const b = remLo < tLo ? 1 : 0;
      remLo -= tLo;
      remHi = remHi - tHi - <u64>b;
      root |= 1;
    }
  }
  // Round bit: √R >= root + 1/2 ⇔ rem > root (rem ≥ root + 1); the sticky bit is rem != 0.
  const above = remHi != 0 || remLo > root;
  const lo: u64 = (above ? INT_BIT : 0) | ((remHi | remLo) != 0 ? 1 : 0);
  return roundExt(false, e, root, lo, prec);
}

// ---- integers ------------------------------------------------------------------------------------
// Result of toInt: the magnitude of the rounded integer; tooBig when it is 2^64 or more.
export let iMag: u64 = 0;
export let iTooBig: bool = false;

/**
 * Round finite x to an integer with rounding mode `mode`: iMag (and iTooBig), PE and C1
 * (rounded away from zero) in `exc`/`c1`.
 */
export function toInt(x: v128, mode: u32): void {
  iTooBig = false;
  iMag = 0;
  if (isZero(x)) return;
  unpack(x);
  const e = uExp;
  if (e >= 64) { iTooBig = true; return; }
  let keep: u64, r: bool, s: bool;
  if (e >= 63) { keep = uSig; r = false; s = false; }
  else if (e >= 0) {
    keep = uSig >> <u64>(63 - e);
    const frac = uSig << <u64>(e + 1);
    r = (frac >> 63) != 0; s = (frac << 1) != 0;
  } else { keep = 0; r = e == -1; s = e < -1 || (uSig << 1) != 0; }
  const inc = roundUp(uSign, keep, r, s, mode);
  if (r || s) { exc |= FE_PE; c1 = inc ? 1 : 0; }
  if (inc) { keep++; if (keep == 0) iTooBig = true; }
  iMag = keep;
}

/** Round finite x to an integral extended value with the current RC (FRNDINT). */
export function roundToIntExt(x: v128): v128 {
  if (isZero(x)) return x;
  unpack(x);
  if (uExp >= 63) return x; // already an integer
  const sign = uSign;
  toInt(x, rc);
  const up = c1;
  const r = exactExt(sign, iMag, 0); // |x| < 2^63: the integer fits and converts exactly
  c1 = up;
  return r;
}

/** A signed 64-bit integer as extended (exact). */
export function fromI64(v: i64): v128 {
  if (v == 0) return zero(false);
  const sign = v < 0;
  const m: u64 = sign ? <u64>(0 - v) : <u64>v;
  return exactExt(sign, m, 0);
}

// ---- format conversions --------------------------------------------------------------------------

/** Double bits → extended, exactly (NaN payloads kept; an SNaN stays signalling). */
export function fromF64(b: u64): v128 {
  const s: u32 = <u32>(b >> 63) << 15;
  const be = <i32>((b >> 52) & 0x7ff);
  const m = b & MANT_MASK;
  if (be == 0x7ff) return mk(INT_BIT | (m << 11), s | 0x7fff);
  if (be == 0) {
    if (m == 0) return mk(0, s);
    const lz = <i32>clz<u64>(m);
    return mk(m << <u64>lz, s | <u32>(-1022 - (lz - 11) + BIAS)); // m × 2^-1074, bit (63-lz) leading
  }
  return mk(INT_BIT | (m << 11), s | <u32>(be - 1023 + BIAS));
}

/** f32 bits → extended, exactly. */
export function fromF32(v: u32): v128 {
  const s: u32 = (v >> 31) << 15;
  const e = <i32>((v >> 23) & 0xff), m = <u64>(v & 0x7fffff);
  if (e == 0xff) return mk(INT_BIT | (m << 40), s | 0x7fff);
  if (e == 0) {
    if (m == 0) return mk(0, s);
    const lz = <i32>clz<u64>(m);
    return mk(m << <u64>lz, s | <u32>(-126 - (lz - 40) + BIAS));
  }
  return mk(INT_BIT | (m << 40), s | <u32>(e - 127 + BIAS));
}

/** Extended → double bits with the current RC (OE/UE/PE); NaN: quieted, IE for an SNaN. */
export function toF64(x: v128): u64 {
  const s: u64 = signOf(x) ? SIGN_BIT : 0;
  if (isNaN(x)) return s | EXP_MASK | ((sigOf(oneNaN(x)) & ~INT_BIT) >> 11);
  if (isInf(x)) return s | EXP_MASK;
  if (isZero(x)) return s;
  unpack(x);
  roundCore(uSign, uExp, uSig, 0, 53, -1022, 1023, rc);
  if (rInf) return s | EXP_MASK;
  if ((rKeep >> 52) == 0) return s | rKeep; // subnormal (or zero)
  return s | (<u64>(rExp + 1023) << 52) | (rKeep & MANT_MASK);
}

/** Extended → f32 bits with the current RC (OE/UE/PE); NaN: quieted, IE for an SNaN. */
export function toF32(x: v128): u32 {
  const s: u32 = signOf(x) ? 0x80000000 : 0;
  if (isNaN(x)) return s | 0x7f800000 | <u32>((sigOf(oneNaN(x)) & ~INT_BIT) >> 40);
  if (isInf(x)) return s | 0x7f800000;
  if (isZero(x)) return s;
  unpack(x);
  roundCore(uSign, uExp, uSig, 0, 24, -126, 127, rc);
  if (rInf) return s | 0x7f800000;
  if ((rKeep >> 23) == 0) return s | <u32>rKeep;
  return s | (<u32>(rExp + 127) << 23) | (<u32>rKeep & 0x7fffff);
}

/** Extended → the nearest double as an f64, without flags (for the libm-based functions). */
export function toNum(x: v128): f64 {
  const saved = exc, savedC1 = c1, savedRc = rc;
  rc = RC_NEAREST;
  const b = toF64(isSNaN(x) ? quiet(x) : x);
  exc = saved; c1 = savedC1; rc = savedRc;
  return reinterpret<f64>(b);
}
/** An f64 (a libm result) as extended, exactly. */
@inline export function fromNum(v: f64): v128 { return fromF64(reinterpret<u64>(v)); }

// ---- comparison ---------------------------------------------------------------------------------------
export const CMP_GT: u32 = 0;
export const CMP_LT: u32 = 1;
export const CMP_EQ: u32 = 2;
export const CMP_UN: u32 = 3;

/** Compare a with b. NaNs are unordered; IE for any NaN unless `unordered` (then only SNaN). */
export function compare(a: v128, b: v128, unordered: bool): u32 {
  if (isNaN(a) || isNaN(b) || isUnsupported(a) || isUnsupported(b)) {
    if (!unordered || isSNaN(a) || isSNaN(b) || isUnsupported(a) || isUnsupported(b)) exc |= FE_IE;
    return CMP_UN;
  }
  const az = isZero(a), bz = isZero(b);
  if (az && bz) return CMP_EQ;
  const sa = signOf(a), sb = signOf(b);
  if (az) return sb ? CMP_GT : CMP_LT;
  if (bz) return sa ? CMP_LT : CMP_GT;
  if (sa != sb) return sa ? CMP_LT : CMP_GT;
  // Same sign: compare magnitudes (infinities have the largest exponent).
  let c: i32 = 0;
  if (isInf(a) || isInf(b)) c = isInf(a) ? (isInf(b) ? 0 : 1) : -1;
  else {
    unpack(a);
    const ea = uExp, ma = uSig;
    unpack(b);
    c = ea != uExp ? (ea > uExp ? 1 : -1) : (ma != uSig ? (ma > uSig ? 1 : -1) : 0);
  }
  if (c == 0) return CMP_EQ;
  return (c > 0) != sa ? CMP_GT : CMP_LT;
}

// Exact arithmetic for the x87 on IEEE doubles: every result is computed exactly (as an
// integer significand with a sticky bit) and then rounded once, so rounding control (RC),
// precision control (PC) and the PE/UE/OE flags and the C1 "rounded up" bit come out as the
// hardware would produce them for a register format of 53 significand bits and the double
// exponent range. See the precision notes at the top of fpu.ts.
//
// No allocation: multi-value results go through module globals (one instance = one vCPU).

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

export const MANT_MASK: u64 = 0x000fffffffffffff;
export const EXP_MASK: u64 = 0x7ff0000000000000;
export const SIGN_BIT: u64 = 0x8000000000000000;
export const QUIET_BIT: u64 = 0x0008000000000000;
/** The QNaN "real indefinite" (80-bit FFFF C000000000000000) as a double. */
export const INDEFINITE_BITS: u64 = 0xfff8000000000000;

// ---- per-instruction flag accumulator ---------------------------------------------------------
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

// ---- classification ------------------------------------------------------------------------------
@inline export function bitsOf(x: f64): u64 { return reinterpret<u64>(x); }
@inline export function isNaN64(x: f64): bool { return (bitsOf(x) & ~SIGN_BIT) > EXP_MASK; }
@inline export function isInf64(x: f64): bool { return (bitsOf(x) & ~SIGN_BIT) == EXP_MASK; }
@inline export function isSNaN64(x: f64): bool { return isNaN64(x) && (bitsOf(x) & QUIET_BIT) == 0; }
@inline export function signOf(x: f64): bool { return (bitsOf(x) >> 63) != 0; }
@inline export function quiet(x: f64): f64 { return reinterpret<f64>(bitsOf(x) | QUIET_BIT); }
@inline export function indefinite(): f64 { return reinterpret<f64>(INDEFINITE_BITS); }

/**
 * NaN operand rule of the x87 for two sources (SDM Vol. 1 table 4-7): an SNaN signals IE;
 * a QNaN beats an SNaN; of two NaNs of the same kind the larger significand wins. The
 * result is always quiet. At least one of a, b must be a NaN.
 */
export function pickNaN(a: f64, b: f64): f64 {
  const an = isNaN64(a), bn = isNaN64(b);
  if (isSNaN64(a) || isSNaN64(b)) exc |= FE_IE;
  if (an && bn) {
    const aq = (bitsOf(a) & QUIET_BIT) != 0, bq = (bitsOf(b) & QUIET_BIT) != 0;
    if (aq != bq) return aq ? a : quiet(b);
    const am = bitsOf(a) & MANT_MASK, bm = bitsOf(b) & MANT_MASK;
    if (am != bm) return quiet(am > bm ? a : b);
    return quiet(signOf(a) ? b : a);
  }
  return quiet(an ? a : b);
}

/** One NaN source: SNaN signals IE; the result is quiet. */
export function oneNaN(a: f64): f64 {
  if (isSNaN64(a)) exc |= FE_IE;
  return quiet(a);
}

/** Masked invalid-operation response: signal IE and return the real indefinite. */
export function invalid(): f64 {
  exc |= FE_IE;
  return indefinite();
}

// ---- unpacking: value = (-1)^uSign × uSig × 2^(uExp-63), bit 63 of uSig set ---------------
export let uSign: bool = false;
export let uExp: i32 = 0;
export let uSig: u64 = 0;

/** Split finite non-zero x. */
export function unpack(x: f64): void {
  const b = bitsOf(x);
  uSign = (b >> 63) != 0;
  const be = <i32>((b >> 52) & 0x7ff);
  const m = b & MANT_MASK;
  if (be == 0) {
    const lz = <i32>clz<u64>(m);
    uSig = m << <u64>lz;
    uExp = -1011 - lz;
  } else {
    uSig = (m | 0x0010000000000000) << 11;
    uExp = be - 1023;
  }
}

/** Shift right, OR-ing every bit shifted out into bit 0 ("jamming"). */
export function shiftRightJam(v: u64, n: i32): u64 {
  if (n <= 0) return v;
  if (n >= 64) return v != 0 ? 1 : 0;
  const lost = v & ((<u64>1 << <u64>n) - 1);
  return (v >> <u64>n) | (lost != 0 ? 1 : 0);
}

/** The double keep × 2^e, which the caller guarantees is exactly representable. */
export function packExact(sign: bool, keep: u64, e: i32): f64 {
  const s: u64 = sign ? SIGN_BIT : 0;
  if (keep == 0) return reinterpret<f64>(s);
  const n = 63 - <i32>clz<u64>(keep); // index of the leading bit
  const ve = e + n; // exponent of the value
  if (ve >= -1022) {
    const m = n <= 52 ? keep << <u64>(52 - n) : keep >> <u64>(n - 52);
    return reinterpret<f64>(s | (<u64>(ve + 1023) << 52) | (m & MANT_MASK));
  }
  const sh = e + 1074; // subnormal: units of 2^-1074
  const m = sh >= 0 ? keep << <u64>sh : keep >> <u64>(-sh);
  return reinterpret<f64>(s | m);
}

/** Largest finite number of a format: (2^prec - 1) × 2^(emax - prec + 1). */
function maxFinite(sign: bool, prec: i32, emax: i32): f64 {
  return packExact(sign, (<u64>1 << <u64>prec) - 1, emax - prec + 1);
}

function roundIncrement(sign: bool, keep: u64, rem: u64, half: u64, mode: u32): bool {
  if (rem == 0) return false;
  switch (mode) {
    case RC_NEAREST: return rem > half || (rem == half && (keep & 1) != 0);
    case RC_DOWN: return sign;
    case RC_UP: return !sign;
    default: return false;
  }
}

/**
 * Round (-1)^sign × sig × 2^(exp-63) (sig has bit 63 set; a 1 in the low bits stands for any
 * non-zero remainder below them) to `prec` significant bits in a binary format whose
 * normal exponents are emin..emax, with rounding mode `mode`. Underflow tininess is
 * detected after rounding, as the x87 does. Adds PE/UE/OE to `exc` and sets `c1`.
 */
export function roundPack(sign: bool, exp: i32, sig: u64, prec: i32, emin: i32, emax: i32, mode: u32): f64 {
  const shift = 64 - prec; // 11..40
  const mask: u64 = (<u64>1 << <u64>shift) - 1;
  const half: u64 = <u64>1 << <u64>(shift - 1);
  let tiny = false;
  if (exp < emin) {
    // Tiny unless rounding with an unbounded exponent carries it up to 2^emin.
    tiny = true;
    if (exp == emin - 1) {
      const k = sig >> <u64>shift;
      if (k == (<u64>1 << <u64>prec) - 1 && roundIncrement(sign, k, sig & mask, half, mode)) tiny = false;
    }
    sig = shiftRightJam(sig, emin - exp);
    exp = emin;
  }
  let keep = sig >> <u64>shift;
  const rem = sig & mask;
  const inc = roundIncrement(sign, keep, rem, half, mode);
  if (rem != 0) exc |= FE_PE;
  if (tiny && (rem != 0 || ueUnmasked)) exc |= FE_UE;
  c1 = inc ? 1 : 0;
  if (inc) keep++;
  const e = exp - 63 + shift; // exponent of keep's unit
  if (keep != 0 && e + (63 - <i32>clz<u64>(keep)) > emax) {
    exc |= FE_OE | FE_PE;
    const toInf = mode == RC_NEAREST || (mode == RC_UP && !sign) || (mode == RC_DOWN && sign);
    c1 = toInf ? 1 : 0;
    return toInf ? reinterpret<f64>((sign ? SIGN_BIT : 0) | EXP_MASK) : maxFinite(sign, prec, emax);
  }
  return packExact(sign, keep, e);
}

/** Round to the register format: `prec` significant bits, double exponent range. */
@inline export function roundReg(sign: bool, exp: i32, sig: u64, prec: i32): f64 {
  return roundPack(sign, exp, sig, prec, -1022, 1023, rc);
}

/** Signed zero of an exact cancellation: +0, except -0 when rounding down. */
@inline function cancelZero(): f64 { return rc == RC_DOWN ? -0.0 : 0.0; }

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

/** a + b, both finite. */
export function addFinite(a: f64, b: f64, prec: i32): f64 {
  const az = a == 0, bz = b == 0;
  if (az && bz) {
    const sa = signOf(a), sb = signOf(b);
    return sa == sb ? a : cancelZero();
  }
  if (bz) { unpack(a); return roundReg(uSign, uExp, uSig, prec); }
  if (az) { unpack(b); return roundReg(uSign, uExp, uSig, prec); }
  unpack(a);
  let sa = uSign, ea = uExp, ma = uSig >> 1; // leading bit at 62: room for a carry
  unpack(b);
  let sb = uSign, eb = uExp, mb = uSig >> 1;
  if (eb > ea) {
    const ts = sa; sa = sb; sb = ts;
    const te = ea; ea = eb; eb = te;
    const tm = ma; ma = mb; mb = tm;
  }
  mb = shiftRightJam(mb, ea - eb);
  let m: u64, s: bool;
  if (sa == sb) { m = ma + mb; s = sa; }
  else if (ma >= mb) { m = ma - mb; s = sa; }
  else { m = mb - ma; s = sb; }
  if (m == 0) return cancelZero();
  const lz = <i32>clz<u64>(m);
  return roundReg(s, ea + 1 - lz, m << <u64>lz, prec);
}

/** a × b, both finite. */
export function mulFinite(a: f64, b: f64, prec: i32): f64 {
  const s = signOf(a) != signOf(b);
  if (a == 0 || b == 0) return s ? -0.0 : 0.0;
  unpack(a);
  const ea = uExp, ma = uSig;
  unpack(b);
  mul128(ma, uSig);
  let sig = hi128, lo = lo128, e = ea + uExp;
  if ((sig >> 63) != 0) e++;
  else { sig = (sig << 1) | (lo >> 63); lo <<= 1; }
  if (lo != 0) sig |= 1;
  return roundReg(s, e, sig, prec);
}

/** a / b, both finite, b non-zero. */
export function divFinite(a: f64, b: f64, prec: i32): f64 {
  const s = signOf(a) != signOf(b);
  if (a == 0) return s ? -0.0 : 0.0;
  unpack(a);
  const ea = uExp, ma = uSig >> 11; // 53-bit integers
  unpack(b);
  const eb = uExp, mb = uSig >> 11;
  // Long division in base 2^11: 1 integer bit + 55 fraction bits, remainder kept for the sticky bit.
  let q = ma / mb;
  let r = ma - q * mb;
  for (let i = 0; i < 5; i++) {
    r <<= 11;
    const d = r / mb;
    r -= d * mb;
    q = (q << 11) | d;
  }
  const lz = <i32>clz<u64>(q);
  let sig = q << <u64>lz;
  if (r != 0) sig |= 1;
  return roundReg(s, ea - eb + 8 - lz, sig, prec);
}

/** √x for finite x > 0. */
export function sqrtFinite(x: f64, prec: i32): f64 {
  const s = sqrt<f64>(x); // correctly rounded to nearest (wasm f64.sqrt)
  unpack(x);
  const mx = uSig >> 11, ex = uExp - 52; // x = mx × 2^ex
  unpack(s);
  const ms = uSig >> 11, es = uExp - 52; // s = ms × 2^es
  let sig = uSig, e = uExp;
  // Compare s² = ms² × 2^(2es) with x = mx × 2^ex exactly, at the scale 2^(2es).
  mul128(ms, ms);
  const k = ex - 2 * es; // 51..106 for every double x
  let xh: u64, xl: u64;
  if (k >= 64) { xh = mx << <u64>(k - 64); xl = 0; }
  else { xh = k == 0 ? 0 : mx >> <u64>(64 - k); xl = mx << <u64>k; }
  const cmp = hi128 != xh ? (hi128 < xh ? -1 : 1) : (lo128 != xl ? (lo128 < xl ? -1 : 1) : 0);
  if (cmp < 0) sig |= 1; // √x is above s
  else if (cmp > 0) { // √x is below s
    sig -= 1;
    if ((sig >> 63) == 0) { sig = (sig << 1) | 1; e--; }
  }
  return roundReg(false, e, sig, prec);
}

// ---- integers ------------------------------------------------------------------------------------

/** Round finite x to an integer with the current rounding mode (PE and C1 as FRNDINT). */
export function roundToInt(x: f64): f64 {
  let r: f64;
  switch (rc) {
    case RC_NEAREST: r = nearest<f64>(x); break;
    case RC_DOWN: r = floor<f64>(x); break;
    case RC_UP: r = ceil<f64>(x); break;
    default: r = trunc<f64>(x); break;
  }
  if (r != x) {
    exc |= FE_PE;
    c1 = abs<f64>(r) > abs<f64>(x) ? 1 : 0;
  }
  return r;
}

// ---- format conversions --------------------------------------------------------------------------

/** f32 bits → double, exactly (NaN payloads kept; an SNaN stays signalling). */
export function f32ToF64(v: u32): f64 {
  const sign: u64 = <u64>(v >> 31) << 63;
  const e = (v >> 23) & 0xff, m = <u64>(v & 0x7fffff);
  if (e == 0xff) return reinterpret<f64>(sign | EXP_MASK | (m << 29));
  return <f64>reinterpret<f32>(v);
}

/** double → f32 bits with the current rounding mode (OE/UE/PE); NaN: quieted, IE for SNaN. */
export function f64ToF32(x: f64): u32 {
  const b = bitsOf(x);
  const sign = <u32>(b >> 63) << 31;
  if (isNaN64(x)) {
    const q = bitsOf(oneNaN(x));
    return sign | 0x7f800000 | <u32>((q & MANT_MASK) >> 29);
  }
  if (isInf64(x)) return sign | 0x7f800000;
  if (x == 0) return sign;
  unpack(x);
  const r = roundPack(uSign, uExp, uSig, 24, -126, 127, rc);
  return reinterpret<u32>(<f32>r);
}

// 80-bit extended: significand (with the explicit integer bit) and sign|exponent.
export let extSig: u64 = 0;
export let extSe: u32 = 0;

/** double → 80-bit extended, exactly (every double is representable). */
export function f64ToExt(x: f64): void {
  const b = bitsOf(x);
  const s = <u32>(b >> 63) << 15;
  const be = <i32>((b >> 52) & 0x7ff);
  const m = b & MANT_MASK;
  if (be == 0x7ff) { extSe = s | 0x7fff; extSig = SIGN_BIT | (m << 11); return; }
  if (be == 0) {
    if (m == 0) { extSe = s; extSig = 0; return; }
    unpack(x);
    extSe = s | <u32>(uExp + 16383);
    extSig = uSig;
    return;
  }
  extSe = s | <u32>(be - 1023 + 16383);
  extSig = (m | 0x0010000000000000) << 11;
}

/**
 * 80-bit extended → double, rounded to nearest without signalling (a load is exact on the
 * x87; here the low 11 significand bits and the exponent range beyond double are lost).
 * Unsupported encodings (unnormals, pseudo-NaN/-infinity) load as the real indefinite.
 */
export function extToF64(sig: u64, se: u32): f64 {
  const sign = (se & 0x8000) != 0;
  const e = <i32>(se & 0x7fff);
  const s: u64 = sign ? SIGN_BIT : 0;
  if (e == 0x7fff) {
    if ((sig >> 63) == 0) return indefinite();
    const frac = sig & 0x7fffffffffffffff;
    if (frac == 0) return reinterpret<f64>(s | EXP_MASK);
    let m = frac >> 11;
    if (m == 0) m = 1; // payload only in bits the double cannot hold: keep it a (signalling) NaN
    return reinterpret<f64>(s | EXP_MASK | m);
  }
  if (sig == 0) return reinterpret<f64>(s);
  if (e != 0 && (sig >> 63) == 0) return indefinite(); // unnormal
  // Denormals and pseudo-denormals use exponent 1 - bias.
  const lz = <i32>clz<u64>(sig);
  const saved = exc, savedC1 = c1;
  const r = roundPack(sign, (e == 0 ? 1 : e) - 16383 - lz, sig << <u64>lz, 53, -1022, 1023, RC_NEAREST);
  exc = saved; c1 = savedC1;
  return r;
}

// ---- comparison ---------------------------------------------------------------------------------------
export const CMP_GT: u32 = 0;
export const CMP_LT: u32 = 1;
export const CMP_EQ: u32 = 2;
export const CMP_UN: u32 = 3;

/** Compare a with b. NaNs are unordered; IE for any NaN unless `unordered` (then only SNaN). */
export function compare(a: f64, b: f64, unordered: bool): u32 {
  if (isNaN64(a) || isNaN64(b)) {
    if (!unordered || isSNaN64(a) || isSNaN64(b)) exc |= FE_IE;
    return CMP_UN;
  }
  if (a > b) return CMP_GT;
  if (a < b) return CMP_LT;
  return CMP_EQ;
}

// x87 FPU of the P6 family: escape opcodes D8-DF, FXSAVE/FXRSTOR, and the WAIT check.
//
// ---- Precision ------------------------------------------------------------------------------------------
// The eight data registers hold 80-bit double-extended values (64-bit significand, 15-bit
// exponent; fpu-soft.ts). FADD/FSUB/FMUL/FDIV/FSQRT (and their P/I/R forms) compute the
// exact result and round it once to the precision control's 24, 53 or 64 bits in the
// extended exponent range, honouring RC; PE, C1 (rounded up), UE (tininess after rounding),
// OE and DE (denormal operands, from memory or registers) are as an x87 produces them.
// Loads of every memory format are exact; FST/FIST/FBSTP round with RC. FRNDINT, FSCALE,
// FXTRACT, FPREM and FPREM1 are exact. Unnormals, pseudo-NaNs and pseudo-infinities are
// invalid operands (IE). Unmasked OE/UE with a register destination store the
// masked-response value (the hardware would store the result with a biased exponent).
//  * F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS and FSINCOS go through doubles and the
//    wasm libm of AssemblyScript (musl algorithms, within about 1 ulp of the true result in
//    double precision, round to nearest whatever RC says); PE is set for every
//    inexact-looking result, C1 is 0. The argument reduction of FSIN/FCOS/FPTAN is exact,
//    unlike the 66-bit pi of real hardware. |x| >= 2^63 gives C2=1.
// Exceptions: unmasked ones set ES and B; the next waiting x87 instruction or WAIT raises
// #MF when CR0.NE=1. With CR0.NE=0 a PC routes FERR# to IRQ13; that is not modelled, so the
// exception just stays pending (see checkPending in fpu-stack.ts).

import { R_FPU_CW } from '../memory-map';
import {
  cpu, modrm, fault, opsize32, protMode, v86Mode, raiseUD, setReg16, EAX, cond, setFlagBits,
  FLAG_ZF, FLAG_PF, FLAG_CF, FLAG_OF, FLAG_SF, FLAG_AF,
} from './state';
import { readLin16, readLin32, writeLin16, writeLin32 } from './mmu';
import {
  exc, c1, rc, beginOp, raiseExc, setC1, setExc, FE_IE, FE_DE, FE_ZE, FE_OE, FE_UE, FE_PE, FE_SF,
  RC_NEAREST, RC_UP, RC_ZERO, isNaN, isInf, isZero, isDenormal, isUnsupported, isSNaN, isFinite, signOf,
  indefinite, pickNaN, oneNaN, invalid, addFinite, mulFinite, divFinite, sqrtFinite, roundToIntExt, toInt, iMag, iTooBig,
  fromF32, fromF64, toF32, toF64, fromI64, toNum, fromNum, compare, CMP_GT, CMP_LT, CMP_EQ,
  unpack, uSign, uExp, uSig, roundExt, exactExt, mk, sigOf, expOf, neg, absx, zero, inf, one,
  MANT_MASK, EXP_MASK, INT_BIT, BIAS,
} from './fpu-soft';
import {
  getCW, setCW, getSW, getSWRaw, setSWRaw, getTop, setTop, st, setST, isEmpty, push, pop, physOf, physGet, physTag,
  setPhysTag, setCC, syncES, checkPending, commit, recordPointers, ABORT_REG, SW_C0, SW_C1, SW_C2, SW_C3, SW_ES, SW_B,
  TAG_EMPTY, TAG_ZERO, TAG_SPECIAL,
} from './fpu-stack';
import {
  operandReadLin, operandWriteLin, writeExt, readExt, fninit, fnstenv, fldenv, fnsave, frstor, fxsaveImage,
  fxrstorImage, fpuPowerOn,
} from './fpu-env';

/** Abort mask for memory destinations: unmasked OE/UE also leave memory and the stack alone. */
const ABORT_MEM: u32 = FE_IE | FE_DE | FE_ZE | FE_OE | FE_UE;

// Arithmetic kinds, by the ModRM reg field of D8/DC/DA/DE.
const OP_ADD: u32 = 0, OP_MUL: u32 = 1, OP_SUB: u32 = 4, OP_SUBR: u32 = 5, OP_DIV: u32 = 6, OP_DIVR: u32 = 7;

/** Significand precision for FADD..FSQRT from CW.PC (00: 24, 10: 53, 11: 64; 01 is reserved: 64). */
let prec: i32 = 64;
/** The memory operand just loaded was an m32fp/m64fp denormal. */
let memDenormal: bool = false;

function begin(): void {
  const cw = getCW();
  beginOp(cw);
  const pc = (cw >> 8) & 3;
  prec = pc == 0 ? 24 : pc == 2 ? 53 : 64;
}

// ---- entry points -----------------------------------------------------------------------------------------
/** Execute x87 escape `op` (0xD8-0xDF) with the ModRM already decoded. */
export function fpuEsc(op: u32): void {
  const m = modrm;
  if (m < 0xc0) escMem(op, (m >> 3) & 7);
  else escReg(op, (m >> 3) & 7, m & 7);
}

/** FXSAVE (0F AE /0). */
export function fxsave(): void { fxsaveImage(); }
/** FXRSTOR (0F AE /1). */
export function fxrstor(): void { fxrstorImage(); }

/** Power-on state of the FPU (called by reset()). */
export function fpuReset(): void { fpuPowerOn(); }

/** WAIT/FWAIT: raise #MF for a pending unmasked exception (CR0.NE=1). */
export function fpuWaitCheck(): void { checkPending(); }

// ---- memory forms -------------------------------------------------------------------------------------------
const M_F32: u32 = 0, M_I32: u32 = 1, M_F64: u32 = 2, M_I16: u32 = 3;

function escMem(op: u32, r: u32): void {
  switch (op & 7) {
    case 0: arithMem(op, r, M_F32); break;
    case 2: arithMem(op, r, M_I32); break;
    case 4: arithMem(op, r, M_F64); break;
    case 6: arithMem(op, r, M_I16); break;
    case 1: // D9
      switch (r) {
        case 0: fldMem(op, M_F32); break;
        case 2: fstMem(op, M_F32, false); break;
        case 3: fstMem(op, M_F32, true); break;
        case 4: if (!checkPending()) fldenv(opsize32, realFormat()); break;
        case 5: FLDCW(); break;
        case 6: fnstenv(opsize32, realFormat()); break;
        case 7: FNSTCW(); break;
        default: raiseUD(); break; // /1 is not an x87 instruction
      }
      break;
    case 3: // DB
      switch (r) {
        case 0: fldMem(op, M_I32); break;
        case 2: fistMem(op, 4, false); break;
        case 3: fistMem(op, 4, true); break;
        case 5: fldExt(op); break;
        case 7: fstpExt(op); break;
        default: raiseUD(); break; // /1 FISTTP is SSE3; /4 /6 undefined
      }
      break;
    case 5: // DD
      switch (r) {
        case 0: fldMem(op, M_F64); break;
        case 2: fstMem(op, M_F64, false); break;
        case 3: fstMem(op, M_F64, true); break;
        case 4: if (!checkPending()) frstor(opsize32, realFormat()); break;
        case 6: fnsave(opsize32, realFormat()); break;
        case 7: FNSTSW_m(); break;
        default: raiseUD(); break;
      }
      break;
    default: // DF
      switch (r) {
        case 0: fldMem(op, M_I16); break;
        case 2: fistMem(op, 2, false); break;
        case 3: fistMem(op, 2, true); break;
        case 4: FBLD(op); break;
        case 5: fildM64(op); break;
        case 6: FBSTP(op); break;
        case 7: fistMem(op, 8, true); break;
        default: raiseUD(); break;
      }
      break;
  }
}

@inline function realFormat(): bool { return !protMode || v86Mode; }

/** Read the arithmetic/load memory operand as an extended value (every format converts exactly). */
function loadOperand(fmt: u32): v128 {
  memDenormal = false;
  if (fmt == M_F64) {
    const lin = operandReadLin(8);
    if (fault) return zero(false);
    const lo = <u64>readLin32(lin), hi = <u64>readLin32(lin + 4);
    if (fault) return zero(false);
    const b = lo | (hi << 32);
    if ((b & EXP_MASK) == 0 && (b & MANT_MASK) != 0) memDenormal = true;
    return fromF64(b);
  }
  if (fmt == M_I16) {
    const lin = operandReadLin(2);
    if (fault) return zero(false);
    return fromI64(<i64><i16>readLin16(lin));
  }
  const lin = operandReadLin(4);
  if (fault) return zero(false);
  const v = readLin32(lin);
  if (fmt == M_I32) return fromI64(<i64><i32>v);
  if ((v & 0x7f800000) == 0 && (v & 0x7fffff) != 0) memDenormal = true;
  return fromF32(v);
}

// ---- arithmetic core ---------------------------------------------------------------------------------------
/** Signal DE for a denormal operand; true when it is unmasked (the operation is then abandoned). */
function denormalAborts(): bool {
  raiseExc(FE_DE);
  return (getCW() & FE_DE) == 0;
}

/** x + y, x × y or x / y (kind OP_ADD/OP_MUL/OP_DIV) with the x87 special cases. */
function arith(kind: u32, x: v128, y: v128, de: bool): v128 {
  if (isUnsupported(x) || isUnsupported(y)) return invalid();
  if (isNaN(x) || isNaN(y)) return pickNaN(x, y);
  de = de || isDenormal(x) || isDenormal(y);
  const xi = isInf(x), yi = isInf(y);
  const ng = signOf(x) != signOf(y);
  if (kind == OP_ADD) {
    if (xi || yi) {
      if (xi && yi && ng) return invalid();
      if (de) raiseExc(FE_DE);
      return xi ? x : y;
    }
    if (de && denormalAborts()) return x;
    return addFinite(x, y, prec);
  }
  if (kind == OP_MUL) {
    if (xi || yi) {
      if (isZero(x) || isZero(y)) return invalid();
      if (de) raiseExc(FE_DE);
      return inf(ng);
    }
    if (de && denormalAborts()) return x;
    return mulFinite(x, y, prec);
  }
  // division
  if (xi) {
    if (yi) return invalid();
    if (de) raiseExc(FE_DE);
    return inf(ng);
  }
  if (yi) { if (de) raiseExc(FE_DE); return zero(ng); }
  if (isZero(y)) {
    if (isZero(x)) return invalid();
    if (de) raiseExc(FE_DE);
    raiseExc(FE_ZE);
    return inf(ng);
  }
  if (de && denormalAborts()) return x;
  return divFinite(x, y, prec);
}

/** The result of arithmetic kind r (ModRM reg) in terms of ST(0) and the other operand. */
function calc(r: u32, s0: v128, other: v128, de: bool): v128 {
  if (isUnsupported(s0) || isUnsupported(other)) return invalid(); // before any NaN propagation
  const nan = isNaN(s0) || isNaN(other);
  switch (r) {
    case OP_ADD: return arith(OP_ADD, s0, other, de);
    case OP_MUL: return arith(OP_MUL, s0, other, de);
    case OP_SUB: return nan ? pickNaN(s0, other) : arith(OP_ADD, s0, neg(other), de);
    case OP_SUBR: return nan ? pickNaN(other, s0) : arith(OP_ADD, other, neg(s0), de);
    case OP_DIV: return arith(OP_DIV, s0, other, de);
    default: return arith(OP_DIV, other, s0, de);
  }
}

/** Stack underflow: IE+SF, C1=0; masked response writes the indefinite to ST(dest) (dest -1: none). */
function underflow(dest: i32, pops: u32): void {
  raiseExc(FE_IE | FE_SF);
  setC1(0);
  if (commit(ABORT_REG)) return;
  if (dest >= 0) setST(<u32>dest, indefinite());
  for (let i: u32 = 0; i < pops; i++) pop();
}

/** Stack overflow on a push: IE+SF, C1=1; masked response pushes the indefinite. */
function overflowPush(): void {
  raiseExc(FE_IE | FE_SF);
  setC1(1);
  if (commit(ABORT_REG)) return;
  push(indefinite());
}

function arithMem(op: u32, r: u32, fmt: u32): void {
  if (checkPending()) return;
  const v = loadOperand(fmt);
  if (fault) return;
  recordPointers(op, true);
  begin();
  if (r == 2 || r == 3) { fcom(v, false, r == 3 ? 1 : 0, false); return; }
  if (isEmpty(0)) { underflow(0, 0); return; }
  const res = calc(r, st(0), v, memDenormal);
  if (commit(ABORT_REG)) return;
  setST(0, res);
}

/** Register arithmetic: result to ST(0) (D8) or ST(i) (DC, DE with pop). */
function arithReg(op: u32, r: u32, i: u32, toI: bool, pops: bool): void {
  if (checkPending()) return;
  recordPointers(op, false);
  begin();
  const dest = toI ? i : 0;
  if (isEmpty(0) || isEmpty(i)) { underflow(<i32>dest, pops ? 1 : 0); return; }
  const res = calc(r, st(0), st(i), false);
  if (commit(ABORT_REG)) return;
  setST(dest, res);
  if (pops) pop();
}

// ---- compares ---------------------------------------------------------------------------------------------------
function ccOf(c: u32): u32 {
  if (c == CMP_GT) return 0;
  if (c == CMP_LT) return SW_C0;
  if (c == CMP_EQ) return SW_C3;
  return SW_C3 | SW_C2 | SW_C0;
}
const CC_MASK: u32 = SW_C3 | SW_C2 | SW_C0;

/** Compare ST(0) with `b` (already fetched; ST(0) emptiness checked here), set C3/C2/C0, pop `pops` times. */
function fcom(b: v128, unordered: bool, pops: u32, bEmpty: bool): void {
  if (isEmpty(0) || bEmpty) {
    raiseExc(FE_IE | FE_SF);
    setC1(0);
    if (commit(ABORT_REG)) return;
    setCC(CC_MASK, CC_MASK);
    for (let k: u32 = 0; k < pops; k++) pop();
    return;
  }
  const a = st(0);
  const c = compare(a, b, unordered);
  if (c != 3 && (memDenormal || isDenormal(a) || isDenormal(b))) raiseExc(FE_DE);
  if (commit(ABORT_REG)) return;
  setCC(CC_MASK, ccOf(c));
  for (let k: u32 = 0; k < pops; k++) pop();
}

/** FCOMI/FUCOMI(P): compare ST(0) with ST(i) into ZF/PF/CF (OF, SF, AF cleared). */
function fcomi(op: u32, i: u32, unordered: bool, pops: bool): void {
  if (checkPending()) return;
  recordPointers(op, false);
  begin();
  let flags: u32;
  if (isEmpty(0) || isEmpty(i)) {
    raiseExc(FE_IE | FE_SF);
    if (commit(ABORT_REG)) return;
    flags = FLAG_ZF | FLAG_PF | FLAG_CF;
  } else {
    const a = st(0), b = st(i);
    const c = compare(a, b, unordered);
    if (c != 3 && (isDenormal(a) || isDenormal(b))) raiseExc(FE_DE);
    if (commit(ABORT_REG)) return;
    flags = c == CMP_GT ? 0 : c == CMP_LT ? FLAG_CF : c == CMP_EQ ? FLAG_ZF : (FLAG_ZF | FLAG_PF | FLAG_CF);
  }
  setFlagBits(FLAG_ZF | FLAG_PF | FLAG_CF | FLAG_OF | FLAG_SF | FLAG_AF, false);
  if (flags) setFlagBits(flags, true);
  if (pops) pop();
}

// ---- loads and stores ----------------------------------------------------------------------------------------
/** Push `v` (after begin): stack overflow check, then commit (an unmasked IE/DE aborts). */
function pushValue(v: v128): void {
  if (!isEmpty(7)) { overflowPush(); return; }
  if (commit(ABORT_REG)) return;
  push(v);
}

function fldMem(op: u32, fmt: u32): void {
  if (checkPending()) return;
  let v = loadOperand(fmt);
  if (fault) return;
  recordPointers(op, true);
  begin();
  if (fmt == M_F32 || fmt == M_F64) {
    if (isSNaN(v)) v = oneNaN(v);
    else if (memDenormal) raiseExc(FE_DE);
  }
  pushValue(v);
}

function fildM64(op: u32): void {
  if (checkPending()) return;
  const lin = operandReadLin(8);
  if (fault) return;
  const lo = <u64>readLin32(lin), hi = <u64>readLin32(lin + 4);
  if (fault) return;
  recordPointers(op, true);
  begin();
  pushValue(fromI64(<i64>(lo | (hi << 32))));
}

function fldExt(op: u32): void {
  if (checkPending()) return;
  const lin = operandReadLin(10);
  if (fault) return;
  const v = readExt(lin);
  if (fault) return;
  recordPointers(op, true);
  begin();
  pushValue(v);
}

function fstMem(op: u32, fmt: u32, pops: bool): void {
  if (checkPending()) return;
  const size: u32 = fmt == M_F64 ? 8 : 4;
  const lin = operandWriteLin(size);
  if (fault) return;
  recordPointers(op, true);
  begin();
  let b: u64;
  if (isEmpty(0)) {
    raiseExc(FE_IE | FE_SF);
    b = size == 8 ? 0xfff8000000000000 : 0xffc00000;
  } else {
    const x = st(0);
    // A denormal register value gives UE (tiny in the smaller format), not DE, as the host CPU.
    if (isUnsupported(x)) { raiseExc(FE_IE); b = size == 8 ? 0xfff8000000000000 : 0xffc00000; }
    else b = size == 8 ? toF64(x) : <u64>toF32(x);
  }
  if (commit(ABORT_MEM)) return;
  writeLin32(lin, <u32>b);
  if (size == 8) writeLin32(lin + 4, <u32>(b >> 32));
  if (pops) pop();
}

function fstpExt(op: u32): void {
  if (checkPending()) return;
  const lin = operandWriteLin(10);
  if (fault) return;
  recordPointers(op, true);
  begin();
  let v = st(0);
  if (isEmpty(0)) { raiseExc(FE_IE | FE_SF); v = indefinite(); }
  if (commit(ABORT_MEM)) return;
  writeExt(lin, v);
  pop();
}

/** FIST/FISTP m16/m32/m64 (size in bytes): round with RC; out of range or NaN → IE, integer indefinite. */
function fistMem(op: u32, size: u32, pops: bool): void {
  if (checkPending()) return;
  const lin = operandWriteLin(size);
  if (fault) return;
  recordPointers(op, true);
  begin();
  let bad = true;
  let v: i64 = 0;
  if (isEmpty(0)) raiseExc(FE_IE | FE_SF);
  else {
    const x = st(0);
    if (isFinite(x) && !isUnsupported(x)) { // (no DE for a denormal: FIST signals only IE and PE)
      toInt(x, rc);
      const neg = signOf(x);
      const limit: u64 = size == 2 ? 0x8000 : size == 4 ? 0x80000000 : 0x8000000000000000;
      bad = iTooBig || iMag > limit || (iMag == limit && !neg);
      v = neg ? <i64>(0 - iMag) : <i64>iMag;
    }
    if (bad) { setExc(FE_IE); setC1(0); }
  }
  if (commit(ABORT_MEM)) return;
  if (size == 2) writeLin16(lin, bad ? 0x8000 : <u32>v);
  else if (size == 4) writeLin32(lin, bad ? 0x80000000 : <u32>v);
  else {
    if (bad) v = <i64>0x8000000000000000;
    writeLin32(lin, <u32>v); writeLin32(lin + 4, <u32>(v >> 32));
  }
  if (pops) pop();
}

/** FBLD m80bcd: 18 packed BCD digits (low digit first) and a sign byte. */
function FBLD(op: u32): void {
  if (checkPending()) return;
  const lin = operandReadLin(10);
  if (fault) return;
  const lo = readLin32(lin), mid = readLin32(lin + 4), hi = readLin16(lin + 8);
  if (fault) return;
  recordPointers(op, true);
  begin();
  let n: u64 = 0;
  // Most significant byte first: byte 8, then 7..0.
  n = bcdByte(n, hi & 0xff);
  for (let k: i32 = 3; k >= 0; k--) n = bcdByte(n, (mid >> (<u32>k << 3)) & 0xff);
  for (let k: i32 = 3; k >= 0; k--) n = bcdByte(n, (lo >> (<u32>k << 3)) & 0xff);
  const v = fromI64(<i64>n); // n < 10^18 < 2^63: exact
  pushValue((hi & 0x8000) != 0 ? neg(v) : v);
}
@inline function bcdByte(n: u64, b: u32): u64 { return n * 100 + <u64>((b >> 4) * 10 + (b & 15)); }

function FBSTP(op: u32): void {
  if (checkPending()) return;
  const lin = operandWriteLin(10);
  if (fault) return;
  recordPointers(op, true);
  begin();
  let bad = true;
  let sign = false;
  if (isEmpty(0)) raiseExc(FE_IE | FE_SF);
  else {
    const x = st(0);
    if (isFinite(x) && !isUnsupported(x)) { // (no DE, as FIST)
      toInt(x, rc);
      sign = signOf(x);
      bad = iTooBig || iMag >= 1000000000000000000;
    }
    if (bad) { setExc(FE_IE); setC1(0); }
  }
  if (commit(ABORT_MEM)) return;
  if (bad) { // packed BCD indefinite: FFFF C000 0000 0000 0000
    writeLin32(lin, 0);
    writeLin32(lin + 4, 0xc0000000);
    writeLin16(lin + 8, 0xffff);
  } else {
    let n = iMag;
    let digits: u64 = 0; // bytes 0-7
    for (let k: u64 = 0; k < 8; k++) {
      const d = n % 100; n /= 100;
      digits |= (((d / 10) << 4) | (d % 10)) << (k << 3);
    }
    const top = <u32>(((n / 10) << 4) | (n % 10)); // byte 8
    writeLin32(lin, <u32>digits);
    writeLin32(lin + 4, <u32>(digits >> 32));
    writeLin16(lin + 8, top | (sign ? 0x8000 : 0));
  }
  pop();
}

// ---- control instructions ---------------------------------------------------------------------------------
function FLDCW(): void {
  if (checkPending()) return;
  const lin = operandReadLin(2);
  if (fault) return;
  const v = readLin16(lin);
  if (fault) return;
  setCW((v & 0x1f3f) | 0x40);
  syncES(); // unmasking a flagged exception makes it pending
}
function FNSTCW(): void {
  const lin = operandWriteLin(2);
  if (fault) return;
  writeLin16(lin, getCW());
}
function FNSTSW_m(): void {
  const lin = operandWriteLin(2);
  if (fault) return;
  writeLin16(lin, getSW());
}

// ---- register forms -------------------------------------------------------------------------------------------
function escReg(op: u32, r: u32, i: u32): void {
  switch (op & 7) {
    case 0: // D8: ST(0) = ST(0) op ST(i); FCOM/FCOMP ST(i)
      if (r == 2 || r == 3) regCompare(op, i, false, r == 3 ? 1 : 0);
      else arithReg(op, r, i, false, false);
      break;
    case 1: escD9(op, r, i); break;
    case 2: // DA: FCMOVB/E/BE/U, FUCOMPP
      if (r < 4) FCMOV(op, i, r == 0 ? 0x2 : r == 1 ? 0x4 : r == 2 ? 0x6 : 0xa);
      else if (r == 5 && i == 1) regCompare(op, 1, true, 2);
      else raiseUD();
      break;
    case 3: // DB: FCMOVNB/NE/NBE/NU, FNCLEX/FNINIT, FUCOMI, FCOMI
      if (r < 4) FCMOV(op, i, r == 0 ? 0x3 : r == 1 ? 0x5 : r == 2 ? 0x7 : 0xb);
      else if (r == 4) {
        if (i == 2) FNCLEX();
        else if (i == 3) fninit();
        else if (i == 0 || i == 1 || i == 4) {} // FNENI, FNDISI, FNSETPM: no-ops since the 387
        else raiseUD();
      } else if (r == 5) fcomi(op, i, true, false);
      else if (r == 6) fcomi(op, i, false, false);
      else raiseUD();
      break;
    case 4: // DC: ST(i) = ST(i) op ST(0); D0/D8 are aliases of FCOM/FCOMP
      if (r == 2 || r == 3) regCompare(op, i, false, r == 3 ? 1 : 0);
      else arithReg(op, r, i, true, false);
      break;
    case 5: // DD: FFREE, FXCH alias, FST, FSTP, FUCOM, FUCOMP
      switch (r) {
        case 0: FFREE(op, i, false); break;
        case 1: FXCH(op, i); break;
        case 2: fstReg(op, i, false); break;
        case 3: fstReg(op, i, true); break;
        case 4: regCompare(op, i, true, 0); break;
        case 5: regCompare(op, i, true, 1); break;
        default: raiseUD(); break;
      }
      break;
    case 6: // DE: arithmetic with pop; D0 alias of FCOMP; D9 FCOMPP
      if (r == 2) regCompare(op, i, false, 1);
      else if (r == 3) { if (i == 1) regCompare(op, 1, false, 2); else raiseUD(); }
      else arithReg(op, r, i, true, true);
      break;
    default: // DF: FFREEP, aliases, FNSTSW AX, FUCOMIP, FCOMIP
      switch (r) {
        case 0: FFREE(op, i, true); break;
        case 1: FXCH(op, i); break;
        case 2: case 3: fstReg(op, i, true); break;
        case 4: if (i == 0) setReg16(EAX, getSW()); else raiseUD(); break;
        case 5: fcomi(op, i, true, true); break;
        case 6: fcomi(op, i, false, true); break;
        default: raiseUD(); break;
      }
      break;
  }
}

function regCompare(op: u32, i: u32, unordered: bool, pops: u32): void {
  if (checkPending()) return;
  recordPointers(op, false);
  begin();
  memDenormal = false;
  fcom(st(i), unordered, pops, isEmpty(i));
}

function escD9(op: u32, r: u32, i: u32): void {
  switch (r) {
    case 0: fldReg(op, i); return;
    case 1: FXCH(op, i); return;
    case 2: if (i == 0) { simple(op); return; } break; // FNOP
    case 3: fstReg(op, i, true); return; // FSTP1 alias
    case 4:
      if (i == 0) { unaryST0(op, 0); return; } // FCHS
      if (i == 1) { unaryST0(op, 1); return; } // FABS
      if (i == 4) { FTST(op); return; }
      if (i == 5) { FXAM(op); return; }
      break;
    case 5:
      if (i < 7) { fldConst(op, i); return; }
      break;
    case 6:
      switch (i) {
        case 0: F2XM1(op); return;
        case 1: fyl2x(op, false); return;
        case 2: FPTAN(op); return;
        case 3: FPATAN(op); return;
        case 4: FXTRACT(op); return;
        case 5: fprem(op, true); return;
        case 6: stepTop(op, 7); return; // FDECSTP
        default: stepTop(op, 1); return; // FINCSTP
      }
    default:
      switch (i) {
        case 0: fprem(op, false); return;
        case 1: fyl2x(op, true); return;
        case 2: FSQRT(op); return;
        case 3: trig(op, 2); return; // FSINCOS
        case 4: FRNDINT(op); return;
        case 5: FSCALE(op); return;
        case 6: trig(op, 0); return; // FSIN
        default: trig(op, 1); return; // FCOS
      }
  }
  raiseUD();
}

/** Start of a register-form non-control instruction. Returns false if #MF was raised. */
function start(op: u32): bool {
  if (checkPending()) return false;
  recordPointers(op, false);
  begin();
  return true;
}

function simple(op: u32): void { if (start(op)) commit(ABORT_REG); }

function fldReg(op: u32, i: u32): void {
  if (!start(op)) return;
  if (!isEmpty(7)) { overflowPush(); return; }
  if (isEmpty(i)) { raiseExc(FE_IE | FE_SF); setC1(0); if (commit(ABORT_REG)) return; push(indefinite()); return; }
  const v = st(i);
  commit(ABORT_REG);
  push(v);
}

function fstReg(op: u32, i: u32, pops: bool): void {
  if (!start(op)) return;
  if (isEmpty(0)) { underflow(<i32>i, pops ? 1 : 0); return; }
  const v = st(0);
  commit(ABORT_REG);
  setST(i, v);
  if (pops) pop();
}

function FXCH(op: u32, i: u32): void {
  if (!start(op)) return;
  const e0 = isEmpty(0), ei = isEmpty(i);
  if (e0 || ei) {
    raiseExc(FE_IE | FE_SF);
    if (commit(ABORT_REG)) return;
  } else commit(ABORT_REG);
  const a = e0 ? indefinite() : st(0), b = ei ? indefinite() : st(i);
  setST(0, b);
  setST(i, a);
}

function FCMOV(op: u32, i: u32, cc: u32): void {
  if (!start(op)) return;
  if (isEmpty(0) || isEmpty(i)) { underflow(0, 0); return; }
  commit(ABORT_REG);
  if (cond(cc)) setST(0, st(i));
}

function FFREE(op: u32, i: u32, pops: bool): void {
  if (!start(op)) return;
  setPhysTag(physOf(i), TAG_EMPTY);
  if (pops) pop();
}

function stepTop(op: u32, d: u32): void {
  if (!start(op)) return;
  commit(ABORT_REG); // C1 = 0
  setTop(getTop() + d);
}

function FNCLEX(): void {
  setSWRaw(getSWRaw() & ~(0xff | SW_B));
}

/** FCHS (kind 0) / FABS (kind 1): sign-bit operations, no IE even for an SNaN. */
function unaryST0(op: u32, kind: u32): void {
  if (!start(op)) return;
  if (isEmpty(0)) { underflow(0, 0); return; }
  const x = st(0);
  commit(ABORT_REG);
  setST(0, kind == 0 ? neg(x) : absx(x));
}

function FTST(op: u32): void {
  if (!start(op)) return;
  memDenormal = false;
  fcom(zero(false), false, 0, false);
}

/**
 * FXAM: C1 = sign; C3 C2 C0 = class (unsupported 000, NaN 001, normal 010, infinity 011,
 * zero 100, empty 101, denormal 110).
 */
function FXAM(op: u32): void {
  if (!start(op)) return;
  commit(ABORT_REG);
  const p = physOf(0);
  const v = physGet(p);
  let cc: u32;
  if (physTag(p) == TAG_EMPTY) cc = SW_C3 | SW_C0;
  else if (isUnsupported(v)) cc = 0;
  else if (isNaN(v)) cc = SW_C0;
  else if (isInf(v)) cc = SW_C2 | SW_C0;
  else if (isZero(v)) cc = SW_C3;
  else if (isDenormal(v)) cc = SW_C3 | SW_C2;
  else cc = SW_C2;
  setCC(SW_C3 | SW_C2 | SW_C1 | SW_C0, cc | (signOf(v) ? SW_C1 : 0));
}

/**
 * FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ. The x87 keeps the irrational constants
 * with more bits than the register format and rounds them with RC (PC does not apply):
 * each constant below is listed truncated to 64 bits, with the next bits deciding where
 * round-to-nearest goes.
 */
function fldConst(op: u32, k: u32): void {
  if (!start(op)) return;
  // Every constant is positive: RD and RZ give the lower neighbour, RU the upper one.
  const up = rc == RC_UP, near = rc == RC_NEAREST;
  let sig: u64 = INT_BIT, se: u32 = 0x3fff;
  switch (k) {
    case 0: break; // FLD1
    case 1: sig = up ? 0xd49a784bcd1b8aff : 0xd49a784bcd1b8afe; se = 0x4000; break; // log2(10): next bits 0x49.. round down
    case 2: sig = up || near ? 0xb8aa3b295c17f0bc : 0xb8aa3b295c17f0bb; break; // log2(e): next bits 0xbe.. round up
    case 3: sig = up || near ? 0xc90fdaa22168c235 : 0xc90fdaa22168c234; se = 0x4000; break; // pi: next bits 0xc4..
    case 4: sig = up || near ? 0x9a209a84fbcff799 : 0x9a209a84fbcff798; se = 0x3ffd; break; // log10(2): next bits 0x8f..
    case 5: sig = up || near ? 0xb17217f7d1cf79ac : 0xb17217f7d1cf79ab; se = 0x3ffe; break; // ln(2): next bits 0xc9..
    default: sig = 0; se = 0; break; // FLDZ
  }
  pushValue(mk(sig, se));
}

// ---- one- and two-operand functions --------------------------------------------------------------------
function FSQRT(op: u32): void {
  if (!start(op)) return;
  if (isEmpty(0)) { underflow(0, 0); return; }
  const x = st(0);
  let r: v128;
  if (isUnsupported(x)) r = invalid();
  else if (isNaN(x)) r = oneNaN(x);
  else if (isZero(x) || (isInf(x) && !signOf(x))) r = x;
  else if (signOf(x)) r = invalid();
  else if (isDenormal(x) && denormalAborts()) r = x;
  else r = sqrtFinite(x, prec);
  if (commit(ABORT_REG)) return;
  setST(0, r);
}

function FRNDINT(op: u32): void {
  if (!start(op)) return;
  if (isEmpty(0)) { underflow(0, 0); return; }
  const x = st(0);
  let r: v128;
  if (isUnsupported(x)) r = invalid();
  else if (isNaN(x)) r = oneNaN(x);
  else if (isInf(x) || isZero(x)) r = x;
  else {
    if (isDenormal(x)) raiseExc(FE_DE);
    r = roundToIntExt(x);
  }
  if (commit(ABORT_REG)) return;
  setST(0, r);
}

/** FSCALE: ST(0) × 2^trunc(ST(1)), exact apart from overflow/underflow. */
function FSCALE(op: u32): void {
  if (!start(op)) return;
  if (isEmpty(0) || isEmpty(1)) { underflow(0, 0); return; }
  const x = st(0), y = st(1);
  let r: v128;
  if (isUnsupported(x) || isUnsupported(y)) r = invalid();
  else if (isNaN(x) || isNaN(y)) r = pickNaN(x, y);
  else if (isInf(y)) {
    if (!signOf(y)) r = isZero(x) ? invalid() : isInf(x) ? x : inf(signOf(x));
    else r = isInf(x) ? invalid() : zero(signOf(x));
  } else if (isZero(x) || isInf(x)) r = x;
  else {
    if (isDenormal(x) || isDenormal(y)) raiseExc(FE_DE);
    // trunc(ST(1)), clamped far beyond any exponent that can still give a finite non-zero result
    const savedExc = exc, savedC1 = c1;
    toInt(y, RC_ZERO);
    setExc(savedExc); setC1(savedC1);
    const mag: i32 = iTooBig || iMag > 100000 ? 100000 : <i32>iMag;
    const n: i32 = signOf(y) ? -mag : mag;
    unpack(x);
    r = roundExt(uSign, uExp + n, uSig, 0, 64);
  }
  if (commit(ABORT_REG)) return;
  setST(0, r);
}

/** Two results (FXTRACT, FPTAN, FSINCOS): stack fault response pushes two indefinites. */
function twoResultFault(): bool {
  const under = isEmpty(0);
  if (!under && isEmpty(7)) return false;
  raiseExc(FE_IE | FE_SF);
  setC1(under ? 0 : 1);
  if (commit(ABORT_REG)) return true;
  setST(0, indefinite());
  push(indefinite());
  return true;
}

/** Write two results: ST(0) ← a, then push b. */
function twoResults(a: v128, b: v128): void {
  if (commit(ABORT_REG)) return;
  setST(0, a);
  push(b);
}

/** FXTRACT: ST(0) = exponent, then push the significand (sign kept, exponent 0). */
function FXTRACT(op: u32): void {
  if (!start(op)) return;
  if (twoResultFault()) return;
  const x = st(0);
  if (isUnsupported(x)) { const q = invalid(); twoResults(q, q); return; }
  if (isNaN(x)) { const q = oneNaN(x); twoResults(q, q); return; }
  if (isInf(x)) { twoResults(inf(false), x); return; }
  if (isZero(x)) { raiseExc(FE_ZE); twoResults(inf(true), x); return; }
  if (isDenormal(x) && denormalAborts()) { commit(ABORT_REG); return; }
  unpack(x);
  twoResults(fromI64(<i64>uExp), mk(uSig, (uSign ? 0x8000 : 0) | <u32>BIAS));
}

/** FPREM (IEEE=false: quotient truncated) / FPREM1 (quotient rounded to nearest even). */
function fprem(op: u32, ieee: bool): void {
  if (!start(op)) return;
  if (isEmpty(0) || isEmpty(1)) { underflow(0, 0); return; }
  const x = st(0), y = st(1);
  let r: v128;
  let q: u64 = 0;
  let partial = false;
  let noQuotient = true; // NaN and invalid operands: C0 and C3 stay as they were (as the host CPU)
  if (isUnsupported(x) || isUnsupported(y)) r = invalid();
  else if (isNaN(x) || isNaN(y)) r = pickNaN(x, y);
  else if (isInf(x) || isZero(y)) r = invalid();
  else if (isZero(x) || isInf(y)) { r = x; noQuotient = false; }
  else {
    noQuotient = false;
    if (isDenormal(x) || isDenormal(y)) raiseExc(FE_DE);
    unpack(x);
    const sx = uSign, ex = uExp, mx = uSig;
    unpack(y);
    const ey = uExp, my = uSig;
    const d = ex - ey;
    if (d < 0) {
      r = x;
      // FPREM1 with |x| in (|y|/2, |y|): the nearest quotient is 1, the remainder |y| - |x|.
      if (ieee && d == -1 && mx > my) { q = 1; r = exactExt(!sx, (my << 1) - mx, ey - 64); }
    } else {
      // Long division of the significands, one quotient bit per step (a 65-bit partial
      // remainder). A difference D of 64 or more is reduced by N = 32 + (D mod 32) per
      // instruction (C2 = 1: incomplete; the SDM leaves N in 32..63 to the implementation,
      // this is what the host CPU does, see tools/difftest/x87.ts).
      partial = d >= 64;
      const steps = partial ? 32 + (d & 31) : d;
      let rem = mx;
      if (rem >= my) { rem -= my; q = 1; }
      for (let k = 0; k < steps; k++) {
        const carry = rem >> 63;
        rem <<= 1;
        q <<= 1;
        if (carry != 0 || rem >= my) { rem -= my; q |= 1; }
      }
      let sign = sx;
      // FPREM1: round the quotient to nearest: take y - rem when rem > y/2 (or = y/2 and q odd).
      if (ieee && !partial && (rem > my - rem || (rem == my - rem && (q & 1) != 0))) {
        rem = my - rem;
        q++;
        sign = !sx;
      }
      r = exactExt(rem == 0 ? sx : sign, rem, ex - steps - 63);
    }
  }
  if (commit(ABORT_REG)) return;
  setST(0, r);
  const qq = partial ? 0 : <u32>q; // an incomplete reduction reports no quotient bits (as the host CPU)
  setCC(noQuotient ? SW_C1 | SW_C2 : SW_C0 | SW_C1 | SW_C2 | SW_C3,
    (qq & 4 ? SW_C0 : 0) | (qq & 2 ? SW_C3 : 0) | (qq & 1 ? SW_C1 : 0) | (partial ? SW_C2 : 0));
}

// ---- transcendental functions (doubles and libm, round to nearest) ------------------------------------------
const LN2: f64 = 0.6931471805599453;
const LOG2E: f64 = 1.4426950408889634;
const MIN_NORMAL: f64 = 2.2250738585072014e-308;

/** A libm result as a register value: PE unless exact, UE for a tiny one; a NaN is invalid. */
function inexact(r: f64): v128 {
  if (r != r) return invalid();
  if (r != 0 && abs<f64>(r) != Infinity) {
    raiseExc(FE_PE);
    if (abs<f64>(r) < MIN_NORMAL) raiseExc(FE_UE);
  }
  return fromNum(r);
}
/** Operand checks shared by the one-operand functions: the result for a special x, or null-like (false). */
let special: v128 = i64x2.splat(0);
function specialOperand(x: v128): bool {
  if (isUnsupported(x)) { special = invalid(); return true; }
  if (isNaN(x)) { special = oneNaN(x); return true; }
  if (isDenormal(x)) raiseExc(FE_DE);
  return false;
}

function F2XM1(op: u32): void {
  if (!start(op)) return;
  if (isEmpty(0)) { underflow(0, 0); return; }
  const x = st(0);
  let r: v128;
  if (specialOperand(x)) r = special;
  else if (isZero(x)) r = x;
  else if (isInf(x)) r = signOf(x) ? one(true) : x;
  else {
    const v = toNum(x);
    if (v == 1.0) r = one(false);
    else if (v == -1.0) r = mk(INT_BIT, 0xbffe); // -0.5
    else r = inexact(Math.expm1(v * LN2));
  }
  if (commit(ABORT_REG)) return;
  setST(0, r);
}

/** FYL2X: ST(1) × log2(ST(0)); FYL2XP1: ST(1) × log2(ST(0) + 1). Pops once. */
function fyl2x(op: u32, plus1: bool): void {
  if (!start(op)) return;
  if (isEmpty(0) || isEmpty(1)) { underflow(1, 1); return; }
  const xe = st(0), ye = st(1);
  let r: v128;
  if (isUnsupported(xe) || isUnsupported(ye)) r = invalid();
  else if (isNaN(xe) || isNaN(ye)) r = pickNaN(xe, ye);
  else {
    if (isDenormal(xe) || isDenormal(ye)) raiseExc(FE_DE);
    const x = toNum(xe), y = toNum(ye);
    if (!plus1) {
      if (signOf(xe) && !isZero(xe)) r = invalid();
      else if (isZero(xe)) {
        if (isZero(ye)) r = invalid();
        else { if (!isInf(ye)) raiseExc(FE_ZE); r = inf(!signOf(ye)); }
      } else if (isInf(xe)) {
        r = isZero(ye) ? invalid() : inf(signOf(ye));
      } else if (sigOf(xe) == INT_BIT) {
        // A power of two: log2 is the exponent, exactly; the product is rounded once.
        unpack(xe);
        const l = fromI64(<i64>uExp);
        if (isInf(ye)) r = uExp == 0 ? invalid() : inf(signOf(ye) != (uExp < 0));
        else r = isZero(l) ? zero(signOf(ye)) : mulFinite(ye, l, prec);
      } else {
        const l = Math.log2(x);
        if (isInf(ye)) r = inf(signOf(ye) != (l < 0));
        else r = inexact(y * l);
      }
    } else {
      if (x < -1.0 || (isInf(xe) && signOf(xe))) r = invalid();
      else {
        const l = Math.log1p(x) * LOG2E;
        if ((abs<f64>(l) == Infinity && isZero(ye)) || (l == 0 && isInf(ye))) r = invalid();
        else if (isZero(xe)) r = zero(signOf(xe) != signOf(ye));
        else r = inexact(y * l);
      }
    }
  }
  if (commit(ABORT_REG)) return;
  setST(1, r);
  pop();
}

/** FPATAN: ST(1) = atan2(ST(1), ST(0)), pop. */
function FPATAN(op: u32): void {
  if (!start(op)) return;
  if (isEmpty(0) || isEmpty(1)) { underflow(1, 1); return; }
  const x = st(0), y = st(1);
  let r: v128;
  if (isUnsupported(x) || isUnsupported(y)) r = invalid();
  else if (isNaN(x) || isNaN(y)) r = pickNaN(x, y);
  else {
    if (isDenormal(x) || isDenormal(y)) raiseExc(FE_DE);
    r = inexact(Math.atan2(toNum(y), toNum(x)));
  }
  if (commit(ABORT_REG)) return;
  setST(1, r);
  pop();
}

/** |x| >= 2^63 (out of the FSIN/FCOS/FPTAN range)? */
function tooLarge(x: v128): bool { return expOf(x) >= <u32>(BIAS + 63); }

function FPTAN(op: u32): void {
  if (!start(op)) return;
  if (twoResultFault()) return;
  const x = st(0);
  if (specialOperand(x)) { twoResults(special, special); return; }
  if (isInf(x)) { const q = invalid(); twoResults(q, q); return; }
  if (tooLarge(x)) { outOfRange(); return; }
  const t = isZero(x) ? x : inexact(Math.tan(toNum(x)));
  setCC(SW_C2, 0);
  twoResults(t, one(false));
}

/** |x| >= 2^63: C2 = 1 and the stack is unchanged. */
function outOfRange(): void {
  commit(ABORT_REG);
  setCC(SW_C2, SW_C2);
}

/** FSIN (0), FCOS (1), FSINCOS (2). */
function trig(op: u32, kind: u32): void {
  if (!start(op)) return;
  if (kind == 2) { if (twoResultFault()) return; }
  else if (isEmpty(0)) { underflow(0, 0); return; }
  const x = st(0);
  let s: v128, c: v128;
  if (specialOperand(x)) { s = special; c = special; }
  else if (isInf(x)) { s = invalid(); c = s; }
  else if (tooLarge(x)) { outOfRange(); return; }
  else if (isZero(x)) { s = x; c = one(false); }
  else {
    const v = toNum(x);
    s = kind != 1 ? inexact(Math.sin(v)) : x;
    c = kind != 0 ? inexact(Math.cos(v)) : x;
  }
  setCC(SW_C2, 0);
  if (kind == 2) { twoResults(s, c); return; }
  if (commit(ABORT_REG)) return;
  setST(0, kind == 0 ? s : c);
}

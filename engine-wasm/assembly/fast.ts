// Fast forms of the common instructions of unprefixed 32-bit code (the `fast` entries of
// ../x86-table.ts). execute() (core.ts) sends an instruction here only when all of its bytes
// lie in the fetch window: a fast form reads them at host address `p` (its opcode byte; the
// instruction starts at EIP `ip`), does the common case and returns the EIP after it, with
// no fetch checks and no trip through the `eip`, `modrm` and `ea*` globals.
//
// Anything out of the ordinary (a memory operand the TLB fast path cannot reach, a stack
// that is not 32-bit, a jump beyond the CS limit, a rare group member) is handed to
// slowStep(ip), which executes the instruction from scratch with the full decoder and
// raises whatever fault applies. So a fast form commits nothing before it has decided
// not to take that exit.

import {
  cpu, reg32, setReg32, stack32, csLimit, cond, incDecFlags, setLazy,
  LF_LOGIC, LF_SUB, FLAGS_ARITH, SS, DS, EAX, EDX, ESP, EBP,
} from './state';
import { hostRead, hostWrite } from './decode';
import { alu, ALU_CMP, shift, mulFlags } from './ops-alu';
import { slowStep } from './core';

// ---- operands ----------------------------------------------------------------------------
@inline function r32p(r: u32): usize { return cpu + (r << 2); }
/** Host address of 8-bit register r (AL CL DL BL AH CH DH BH). */
@inline function r8p(r: u32): usize { return cpu + ((r & 3) << 2) + (r >> 2); }
@inline function s8(q: usize): u32 { return <u32>(<i32>load<i8>(q)); }
// Width-generic operand access: T is u8 (byte forms) or u32 (32-bit forms); all of it folds
// at compile time.
@inline function rp<T>(r: u32): usize { return sizeof<T>() == 1 ? r8p(r) : r32p(r); }
@inline function ld<T>(q: usize): u32 { return <u32>load<T>(q); }
@inline function st<T>(q: usize, v: u32): void { store<T>(q, <T>v); }
/** Sign bit of the operand (the `msb` of the lazy flags): 7 or 31. */
@inline function msb<T>(): u32 { return <u32>sizeof<T>() * 8 - 1; }
/** Group-1 immediate at q: imm8 for byte forms; imm8 sign-extended or imm32 for 32-bit ones. */
@inline function imm<T>(imm8: bool, q: usize): u32 { return sizeof<T>() == 1 ? <u32>load<u8>(q) : imm8 ? s8(q) : load<u32>(q); }

/**
 * The memory operand of ModRM byte m (mod != 3) at host address q, 32-bit addressing, no
 * segment override: its offset (bits 0-31), the number of SIB and displacement bytes after
 * the ModRM byte (bits 32-35) and whether its default segment is SS (bit 36).
 */
@inline function ea(m: u32, q: usize): u64 {
  const mod = m >> 6, rm = m & 7;
  let off: u32;
  let extra: u32 = 0;
  let ss: u64 = 0;
  if (rm == 4) {
    const sib = <u32>load<u8>(q + 1);
    const base = sib & 7, index = (sib >> 3) & 7;
    if (base == 5 && mod == 0) { off = load<u32>(q + 2); extra = 5; }
    else { off = reg32(base); extra = 1; if (base == 4 || base == 5) ss = 1; }
    if (index != 4) off += reg32(index) << (sib >> 6);
    if (mod == 1) { off += s8(q + 2); extra = 2; }
    else if (mod == 2) { off += load<u32>(q + 2); extra = 5; }
  } else if (mod == 0 && rm == 5) {
    off = load<u32>(q + 1); extra = 4;
  } else {
    off = reg32(rm);
    if (rm == 5) ss = 1;
    if (mod == 1) { off += s8(q + 1); extra = 1; }
    else if (mod == 2) { off += load<u32>(q + 1); extra = 4; }
  }
  return <u64>off | (<u64>extra << 32) | (ss << 36);
}
@inline function eaOff(e: u64): u32 { return <u32>e; }
/** Bytes of ModRM, SIB and displacement. */
@inline function eaLen(e: u64): u32 { return 1 + (<u32>(e >>> 32) & 15); }
@inline function eaSeg(e: u64): u32 { return DS - (<u32>(e >>> 36) & 1); } // SS = 2, DS = 3

/** Push v on a 32-bit stack, or false (nothing done) when the fast path cannot. */
@inline function push32(v: u32): bool {
  if (!stack32) return false;
  const sp = reg32(ESP) - 4;
  const h = hostWrite(SS, sp, 4);
  if (!h) return false;
  store<u32>(h, v);
  setReg32(ESP, sp);
  return true;
}

// ---- ALU -----------------------------------------------------------------------------------
/** op Ev,Gv / op Eb,Gb (toE) or op Gv,Ev / op Gb,Eb; T is u32 or u8. */
@inline export function fAluEG<T>(op: u32, toE: bool, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const pg = rp<T>((m >> 3) & 7);
  if (m >= 0xc0) {
    const pe = rp<T>(m & 7);
    const pd = toE ? pe : pg, ps = toE ? pg : pe;
    const r = alu(op, ld<T>(pd), ld<T>(ps), msb<T>());
    if (op != ALU_CMP) st<T>(pd, r);
    return ip + 2;
  }
  const e = ea(m, p + 1);
  if (toE && op != ALU_CMP) {
    const h = hostWrite(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    st<T>(h, alu(op, ld<T>(h), ld<T>(pg), msb<T>()));
  } else {
    const h = hostRead(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    if (toE) alu(op, ld<T>(h), ld<T>(pg), msb<T>());
    else {
      const r = alu(op, ld<T>(pg), ld<T>(h), msb<T>());
      if (op != ALU_CMP) st<T>(pg, r);
    }
  }
  return ip + 1 + eaLen(e);
}
/** op EAX,Id (T = u32) or op AL,Ib (T = u8). */
@inline export function fAluAcc<T>(op: u32, ip: u32, p: usize): u32 {
  const pa = rp<T>(EAX);
  const r = alu(op, ld<T>(pa), imm<T>(false, p + 1), msb<T>());
  if (op != ALU_CMP) st<T>(pa, r);
  return ip + 1 + sizeof<T>();
}
/** Group 1: 81 (imm32) or 83 (imm8 sign-extended) with T = u32, 80/82 (imm8) with T = u8. */
@inline export function fGrp1<T>(imm8: bool, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const op = (m >> 3) & 7;
  const ilen: u32 = sizeof<T>() == 1 || imm8 ? 1 : 4;
  if (m >= 0xc0) {
    const pe = rp<T>(m & 7);
    const r = alu(op, ld<T>(pe), imm<T>(imm8, p + 2), msb<T>());
    if (op != ALU_CMP) st<T>(pe, r);
    return ip + 2 + ilen;
  }
  const e = ea(m, p + 1);
  const len = 1 + eaLen(e);
  const i = imm<T>(imm8, p + len);
  if (op == ALU_CMP) {
    const h = hostRead(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    alu(op, ld<T>(h), i, msb<T>());
  } else {
    const h = hostWrite(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    st<T>(h, alu(op, ld<T>(h), i, msb<T>()));
  }
  return ip + len + ilen;
}

// ---- TEST ----------------------------------------------------------------------------------
@inline export function fTestEG<T>(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const g = ld<T>(rp<T>((m >> 3) & 7));
  if (m >= 0xc0) { setLazy(LF_LOGIC, ld<T>(rp<T>(m & 7)) & g, 0, 0, msb<T>(), FLAGS_ARITH); return ip + 2; }
  const e = ea(m, p + 1);
  const h = hostRead(eaSeg(e), eaOff(e), sizeof<T>());
  if (!h) return slowStep(ip);
  setLazy(LF_LOGIC, ld<T>(h) & g, 0, 0, msb<T>(), FLAGS_ARITH);
  return ip + 1 + eaLen(e);
}
/** TEST EAX,Id (T = u32) or TEST AL,Ib (T = u8). */
@inline export function fTestAcc<T>(ip: u32, p: usize): u32 {
  setLazy(LF_LOGIC, ld<T>(rp<T>(EAX)) & imm<T>(false, p + 1), 0, 0, msb<T>(), FLAGS_ARITH);
  return ip + 1 + sizeof<T>();
}

// ---- INC / DEC -----------------------------------------------------------------------------
@inline export function fIncDec32(r: u32, dec: bool, ip: u32): u32 {
  setReg32(r, incDecFlags(reg32(r), 31, dec));
  return ip + 1;
}

// ---- group 3 (F6/F7): TEST, NOT, NEG here; MUL/IMUL/DIV/IDIV through slowStep ------------
@inline export function fGrp3<T>(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const op = (m >> 3) & 7;
  const w = <u32>sizeof<T>();
  if (m >= 0xc0) {
    const pe = rp<T>(m & 7);
    if (op <= 1) { setLazy(LF_LOGIC, ld<T>(pe) & ld<T>(p + 2), 0, 0, msb<T>(), FLAGS_ARITH); return ip + 2 + w; }
    if (op == 2) { st<T>(pe, ~ld<T>(pe)); return ip + 2; }
    if (op == 3) { const d = ld<T>(pe); const r = 0 - d; setLazy(LF_SUB, r, 0, d, msb<T>(), FLAGS_ARITH); st<T>(pe, r); return ip + 2; }
    return slowStep(ip);
  }
  if (op > 1) return slowStep(ip);
  const e = ea(m, p + 1);
  const len = 1 + eaLen(e);
  const h = hostRead(eaSeg(e), eaOff(e), w);
  if (!h) return slowStep(ip);
  setLazy(LF_LOGIC, ld<T>(h) & ld<T>(p + len), 0, 0, msb<T>(), FLAGS_ARITH);
  return ip + len + w;
}

// ---- shifts and rotates (group 2, 32-bit) ---------------------------------------------------
/** C1/C0 (count: imm8, kind 0), D1/D0 (count 1, kind 1), D3/D2 (count CL, kind 2); T = u32 or u8. */
@inline export function fGrp2<T>(kind: u32, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const op = (m >> 3) & 7;
  const ilen: u32 = kind == 0 ? 1 : 0;
  if (m >= 0xc0) {
    const c: u32 = kind == 0 ? <u32>load<u8>(p + 2) : kind == 1 ? 1 : <u32>load<u8>(cpu + 4);
    const pe = rp<T>(m & 7);
    st<T>(pe, shift(op, ld<T>(pe), c, msb<T>()));
    return ip + 2 + ilen;
  }
  const e = ea(m, p + 1);
  const len = 1 + eaLen(e);
  const c: u32 = kind == 0 ? <u32>load<u8>(p + len) : kind == 1 ? 1 : <u32>load<u8>(cpu + 4);
  const h = hostWrite(eaSeg(e), eaOff(e), sizeof<T>());
  if (!h) return slowStep(ip);
  st<T>(h, shift(op, ld<T>(h), c, msb<T>()));
  return ip + len + ilen;
}

// ---- MOV, LEA, XCHG, CDQ, CWDE -----------------------------------------------------------------
/** MOV Ev,Gv / MOV Eb,Gb (toE) or MOV Gv,Ev / MOV Gb,Eb; T = u32 or u8. */
@inline export function fMovEG<T>(toE: bool, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const pg = rp<T>((m >> 3) & 7);
  if (m >= 0xc0) {
    const pe = rp<T>(m & 7);
    if (toE) store<T>(pe, load<T>(pg)); else store<T>(pg, load<T>(pe));
    return ip + 2;
  }
  const e = ea(m, p + 1);
  if (toE) {
    const h = hostWrite(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    store<T>(h, load<T>(pg));
  } else {
    const h = hostRead(eaSeg(e), eaOff(e), sizeof<T>());
    if (!h) return slowStep(ip);
    store<T>(pg, load<T>(h));
  }
  return ip + 1 + eaLen(e);
}
/** MOV Ev,Iv (C7) with T = u32, MOV Eb,Ib (C6) with T = u8; a reg field other than 0 (#UD) goes to slowStep. */
@inline export function fMovEI<T>(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  if (m & 0x38) return slowStep(ip);
  if (m >= 0xc0) { st<T>(rp<T>(m & 7), imm<T>(false, p + 2)); return ip + 2 + sizeof<T>(); }
  const e = ea(m, p + 1);
  const len = 1 + eaLen(e);
  const h = hostWrite(eaSeg(e), eaOff(e), sizeof<T>());
  if (!h) return slowStep(ip);
  st<T>(h, imm<T>(false, p + len));
  return ip + len + sizeof<T>();
}
/** MOV r32,Id (B8+r) with T = u32, MOV r8,Ib (B0+r) with T = u8. */
@inline export function fMovRI<T>(r: u32, ip: u32, p: usize): u32 { st<T>(rp<T>(r), imm<T>(false, p + 1)); return ip + 1 + sizeof<T>(); }
/** MOV EAX,[moffs32] (A1) with T = u32, MOV AL,[moffs32] (A0) with T = u8. */
@inline export function fMovAccMem<T>(ip: u32, p: usize): u32 {
  const h = hostRead(DS, load<u32>(p + 1), sizeof<T>());
  if (!h) return slowStep(ip);
  st<T>(rp<T>(EAX), ld<T>(h));
  return ip + 5;
}
/** MOV [moffs32],EAX (A3) with T = u32, MOV [moffs32],AL (A2) with T = u8. */
@inline export function fMovMemAcc<T>(ip: u32, p: usize): u32 {
  const h = hostWrite(DS, load<u32>(p + 1), sizeof<T>());
  if (!h) return slowStep(ip);
  st<T>(h, ld<T>(rp<T>(EAX)));
  return ip + 5;
}
@inline export function fLea32(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  if (m >= 0xc0) return slowStep(ip); // #UD
  const e = ea(m, p + 1);
  setReg32((m >> 3) & 7, eaOff(e));
  return ip + 1 + eaLen(e);
}
/** MOVZX/MOVSX Gv,Eb/Ew (0F B6/B7/BE/BF): p is the 0F byte. */
@inline export function fMovx32(word: bool, signed: bool, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 2);
  const pg = r32p((m >> 3) & 7);
  let v: u32;
  let next: u32;
  if (m >= 0xc0) {
    v = word ? <u32>load<u16>(r32p(m & 7)) : <u32>load<u8>(r8p(m & 7));
    next = ip + 3;
  } else {
    const e = ea(m, p + 2);
    const h = hostRead(eaSeg(e), eaOff(e), word ? 2 : 1);
    if (!h) return slowStep(ip);
    v = word ? <u32>load<u16>(h) : <u32>load<u8>(h);
    next = ip + 2 + eaLen(e);
  }
  if (signed) v = word ? <u32>(<i32>(<i16>v)) : <u32>(<i32>(<i8>v));
  store<u32>(pg, v);
  return next;
}
@inline export function fXchgAcc32(r: u32, ip: u32): u32 {
  const t = reg32(r); setReg32(r, reg32(EAX)); setReg32(EAX, t);
  return ip + 1;
}
/** XCHG Ev,Gv with two registers (with memory it is locked: slowStep). */
@inline export function fXchg32(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  if (m < 0xc0) return slowStep(ip);
  const pe = r32p(m & 7), pg = r32p((m >> 3) & 7);
  const t = load<u32>(pe); store<u32>(pe, load<u32>(pg)); store<u32>(pg, t);
  return ip + 2;
}
@inline export function fCdq(ip: u32): u32 { setReg32(EDX, <u32>(<i32>reg32(EAX) >> 31)); return ip + 1; }
@inline export function fCwde(ip: u32): u32 { setReg32(EAX, <u32>(<i32>(<i16>reg32(EAX)))); return ip + 1; }

// ---- IMUL, CMOVcc, SETcc, BSWAP ----------------------------------------------------------------
@inline function imulTo(pg: usize, a: u32, b: u32): void {
  const r = <i64>(<i32>a) * <i64>(<i32>b);
  store<u32>(pg, <u32>r);
  mulFlags(r != <i64>(<i32>r), <u32>r, 31);
}
/** IMUL Gv,Ev,Iv (69) or IMUL Gv,Ev,Ib (6B). */
@inline export function fImul3(imm8: bool, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const pg = r32p((m >> 3) & 7);
  const ilen: u32 = imm8 ? 1 : 4;
  if (m >= 0xc0) {
    imulTo(pg, load<u32>(r32p(m & 7)), imm8 ? s8(p + 2) : load<u32>(p + 2));
    return ip + 2 + ilen;
  }
  const e = ea(m, p + 1);
  const len = 1 + eaLen(e);
  const h = hostRead(eaSeg(e), eaOff(e), 4);
  if (!h) return slowStep(ip);
  imulTo(pg, load<u32>(h), imm8 ? s8(p + len) : load<u32>(p + len));
  return ip + len + ilen;
}
/** IMUL Gv,Ev (0F AF). */
@inline export function fImul2(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 2);
  const pg = r32p((m >> 3) & 7);
  if (m >= 0xc0) { imulTo(pg, load<u32>(r32p(m & 7)), load<u32>(pg)); return ip + 3; }
  const e = ea(m, p + 2);
  const h = hostRead(eaSeg(e), eaOff(e), 4);
  if (!h) return slowStep(ip);
  imulTo(pg, load<u32>(h), load<u32>(pg));
  return ip + 2 + eaLen(e);
}
/** CMOVcc Gv,Ev (0F 4x): the memory operand is read whatever the condition. */
@inline export function fCmov32(cc: u32, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 2);
  const pg = r32p((m >> 3) & 7);
  if (m >= 0xc0) { if (cond(cc)) store<u32>(pg, load<u32>(r32p(m & 7))); return ip + 3; }
  const e = ea(m, p + 2);
  const h = hostRead(eaSeg(e), eaOff(e), 4);
  if (!h) return slowStep(ip);
  const v = load<u32>(h);
  if (cond(cc)) store<u32>(pg, v);
  return ip + 2 + eaLen(e);
}
/** SETcc Eb (0F 9x). */
@inline export function fSetcc(cc: u32, ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 2);
  if (m >= 0xc0) { store<u8>(r8p(m & 7), cond(cc) ? 1 : 0); return ip + 3; }
  const e = ea(m, p + 2);
  const h = hostWrite(eaSeg(e), eaOff(e), 1);
  if (!h) return slowStep(ip);
  store<u8>(h, cond(cc) ? 1 : 0);
  return ip + 2 + eaLen(e);
}
@inline export function fBswap(r: u32, ip: u32): u32 { setReg32(r, bswap<u32>(reg32(r))); return ip + 2; }

// ---- stack -------------------------------------------------------------------------------------
@inline export function fPushR32(r: u32, ip: u32): u32 {
  if (!push32(reg32(r))) return slowStep(ip); // PUSH ESP pushes the value before the push
  return ip + 1;
}
@inline export function fPopR32(r: u32, ip: u32): u32 {
  if (!stack32) return slowStep(ip);
  const sp = reg32(ESP);
  const h = hostRead(SS, sp, 4);
  if (!h) return slowStep(ip);
  const v = load<u32>(h);
  setReg32(ESP, sp + 4);
  setReg32(r, v); // POP ESP: the popped value wins
  return ip + 1;
}
/** PUSH Iv (68) or PUSH Ib (6A, sign-extended). */
@inline export function fPushI32(imm8: bool, ip: u32, p: usize): u32 {
  if (!push32(imm8 ? s8(p + 1) : load<u32>(p + 1))) return slowStep(ip);
  return ip + (imm8 ? 2 : 5);
}
@inline export function fLeave32(ip: u32): u32 {
  if (!stack32) return slowStep(ip);
  const bp = reg32(EBP);
  const h = hostRead(SS, bp, 4);
  if (!h) return slowStep(ip);
  const v = load<u32>(h);
  setReg32(ESP, bp + 4);
  setReg32(EBP, v);
  return ip + 1;
}

// ---- control flow ------------------------------------------------------------------------------
/** A near jump to t, or slowStep (#GP) beyond the CS limit. */
@inline function jump(t: u32, ip: u32): u32 { return t > csLimit ? slowStep(ip) : t; }
@inline export function fJcc8(cc: u32, ip: u32, p: usize): u32 {
  const next = ip + 2;
  if (!cond(cc)) return next;
  return jump(next + s8(p + 1), ip);
}
/** Jcc Jv (0F 8x). */
@inline export function fJcc32(cc: u32, ip: u32, p: usize): u32 {
  const next = ip + 6;
  if (!cond(cc)) return next;
  return jump(next + load<u32>(p + 2), ip);
}
@inline export function fJmp8(ip: u32, p: usize): u32 { return jump(ip + 2 + s8(p + 1), ip); }
@inline export function fJmp32(ip: u32, p: usize): u32 { return jump(ip + 5 + load<u32>(p + 1), ip); }
@inline export function fCall32(ip: u32, p: usize): u32 {
  const next = ip + 5;
  const t = next + load<u32>(p + 1);
  if (t > csLimit || !push32(next)) return slowStep(ip);
  return t;
}
@inline export function fRet32(ip: u32): u32 {
  if (!stack32) return slowStep(ip);
  const sp = reg32(ESP);
  const h = hostRead(SS, sp, 4);
  if (!h) return slowStep(ip);
  const t = load<u32>(h);
  if (t > csLimit) return slowStep(ip);
  setReg32(ESP, sp + 4);
  return t;
}
/** RET Iw (C2). */
@inline export function fRetI32(ip: u32, p: usize): u32 {
  if (!stack32) return slowStep(ip);
  const sp = reg32(ESP);
  const h = hostRead(SS, sp, 4);
  if (!h) return slowStep(ip);
  const t = load<u32>(h);
  if (t > csLimit) return slowStep(ip);
  setReg32(ESP, sp + 4 + <u32>load<u16>(p + 1));
  return t;
}

// ---- groups 4 and 5 (FE/FF) ----------------------------------------------------------------
/** FE: INC/DEC Eb. */
@inline export function fGrp4(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const op = (m >> 3) & 7;
  if (op > 1) return slowStep(ip);
  if (m >= 0xc0) {
    const pe = r8p(m & 7);
    store<u8>(pe, <u8>incDecFlags(<u32>load<u8>(pe), 7, op == 1));
    return ip + 2;
  }
  const e = ea(m, p + 1);
  const h = hostWrite(eaSeg(e), eaOff(e), 1);
  if (!h) return slowStep(ip);
  store<u8>(h, <u8>incDecFlags(<u32>load<u8>(h), 7, op == 1));
  return ip + 1 + eaLen(e);
}
/** FF: INC/DEC Ev, CALL Ev, JMP Ev, PUSH Ev (the far forms through slowStep). */
@inline export function fGrp5_32(ip: u32, p: usize): u32 {
  const m = <u32>load<u8>(p + 1);
  const op = (m >> 3) & 7;
  if (op == 3 || op == 5 || op == 7) return slowStep(ip);
  let v: u32;
  let next: u32;
  if (m >= 0xc0) {
    const pe = r32p(m & 7);
    if (op <= 1) { store<u32>(pe, incDecFlags(load<u32>(pe), 31, op == 1)); return ip + 2; }
    v = load<u32>(pe);
    next = ip + 2;
  } else {
    const e = ea(m, p + 1);
    next = ip + 1 + eaLen(e);
    if (op <= 1) {
      const h = hostWrite(eaSeg(e), eaOff(e), 4);
      if (!h) return slowStep(ip);
      store<u32>(h, incDecFlags(load<u32>(h), 31, op == 1));
      return next;
    }
    const h = hostRead(eaSeg(e), eaOff(e), 4);
    if (!h) return slowStep(ip);
    v = load<u32>(h);
  }
  if (op == 6) { // PUSH
    if (!push32(v)) return slowStep(ip);
    return next;
  }
  if (v > csLimit) return slowStep(ip); // CALL/JMP beyond the limit: #GP
  if (op == 2 && !push32(next)) return slowStep(ip);
  return v;
}

export { EAX };

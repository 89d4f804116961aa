// vCPU state: registers live in the shared memory block of this vCPU (see ../memory-map.ts);
// this module holds the accessors, the lazy arithmetic flags, and the per-instance mirrors
// (globals) of derived state that the hot loop reads on every instruction.
//
// One WebAssembly instance runs exactly one vCPU, so module globals are per-vCPU.
// The core never allocates: no `new`, no strings, no arrays.

import {
  R_GPR, R_EFLAGS, R_LF_OP, R_LF_RES, R_LF_A, R_LF_B, R_LF_SIZE, R_LF_MASK,
  R_SEG_SEL, R_SEG_BASE, R_SEG_LIMIT, R_SEG_ACC, R_SEG_LO, R_SEG_HI, R_SEG_PERM,
  R_CR0, R_CR4, R_CPL, R_MODE, R_EIP, R_EFER, R_PENDING, PEND_TF,
  MODE_PROT, MODE_V86, MODE_CODE32, MODE_STACK32, MODE_PAGING,
  SEGP_READ, SEGP_WRITE, SEGP_EXEC, SEGP_BIG_READ, SEGP_BIG_WRITE, VCPU_TLB,
} from '../memory-map';
import { fetchSlow } from './decode';
import { endChunk } from './steps';

// ---- per-instance globals ---------------------------------------------------
/** Base address of this vCPU's state block. */
export let cpu: usize = 0;
export let tlb: usize = 0;

export function setCpuBase(base: usize): void {
  cpu = base;
  tlb = base + VCPU_TLB;
}

// Decode state of the current instruction.
export let eip: u32 = 0; // offset (in CS) of the next byte to fetch; R_EIP is synced from it
export let instrEip: u32 = 0; // offset of the current instruction's first byte
export let instrEsp: u32 = 0; // ESP at the start of the instruction (restored on a fault)
export let opsize32: bool = false;
export let adsize32: bool = false;
export let prefixes: u32 = 0; // PFX_*
export let segOvr: i32 = -1; // segment override prefix, -1 for none
export let modrm: u32 = 0;
export let eaOff: u32 = 0; // effective address offset of a memory operand
export let eaSeg: u32 = 0; // its segment
export let instrLen: u32 = 0;

export function setEip(v: u32): void { eip = v; }
export function setInstrEip(v: u32): void { instrEip = v; }
export function setInstrEsp(v: u32): void { instrEsp = v; }
export function setOpsize32(v: bool): void { opsize32 = v; }
export function setAdsize32(v: bool): void { adsize32 = v; }
export function setPrefixes(v: u32): void { prefixes = v; keyBase |= KEY_RESET; }
export function setSegOvr(v: i32): void { segOvr = v; }
export function setModrm(v: u32): void { modrm = v; }
export function setEa(seg: u32, off: u32): void { eaSeg = seg; eaOff = off; }
/** The memory operand's address used ESP as its base (POP Ev adjusts it after popping). */
export let eaEspBase: bool = false;
export function setEaEspBase(v: bool): void { eaEspBase = v; }
export function setInstrLen(v: u32): void { instrLen = v; }

export const PFX_LOCK: u32 = 1;
export const PFX_REP: u32 = 2; // F3
export const PFX_REPNE: u32 = 4; // F2
export const PFX_OPSIZE: u32 = 8;
export const PFX_ADSIZE: u32 = 16;
export const PFX_SEG: u32 = 32; // a segment override is present (the segment is in segOvr)
/**
 * Bits or-ed into the first opcode byte to make the dispatch key: 0x200 in 32-bit code, plus
 * KEY_RESET after an instruction with prefixes (or a mode change), which sends the next
 * instruction through a path that first resets the decode state (prefixes, segOvr,
 * opsize32/adsize32); so the common path checks nothing per instruction.
 */
export let keyBase: u32 = 0;
export const KEY_RESET: u32 = 0x400;
@inline export function setKeyBase(v: u32): void { keyBase = v; }

// Mirrors of derived state (refreshed by refreshMode()).
export let cpl: u32 = 0;
export let protMode: bool = false;
export let v86Mode: bool = false;
export let code32: bool = false;
export let stack32: bool = false;
export let pagingOn: bool = false;

// Pending exception raised by the current instruction.
export let fault: bool = false;
export let excVector: u32 = 0;
export let excCode: u32 = 0;
export let excHasCode: bool = false;

export function raise(vector: u32, code: u32, hasCode: bool): void {
  if (fault) return; // the first fault of an instruction wins
  fault = true;
  excVector = vector;
  excCode = code;
  excHasCode = hasCode;
}
export function clearFault(): void { fault = false; }
/** Set whenever an interrupt or exception is delivered (single-step traps are then skipped). */
export let delivered: bool = false;
export function setDelivered(v: bool): void { delivered = v; }

export const EXC_DE: u32 = 0;
export const EXC_DB: u32 = 1;
export const EXC_NMI: u32 = 2;
export const EXC_BP: u32 = 3;
export const EXC_OF: u32 = 4;
export const EXC_BR: u32 = 5;
export const EXC_UD: u32 = 6;
export const EXC_NM: u32 = 7;
export const EXC_DF: u32 = 8;
export const EXC_TS: u32 = 10;
export const EXC_NP: u32 = 11;
export const EXC_SS: u32 = 12;
export const EXC_GP: u32 = 13;
export const EXC_PF: u32 = 14;
export const EXC_MF: u32 = 16;
export const EXC_AC: u32 = 17;
export const EXC_MC: u32 = 18;

@inline export function raiseGP(code: u32): void { raise(EXC_GP, code, true); }
@inline export function raiseSS(code: u32): void { raise(EXC_SS, code, true); }
@inline export function raiseNP(code: u32): void { raise(EXC_NP, code, true); }
@inline export function raiseTS(code: u32): void { raise(EXC_TS, code, true); }
@inline export function raiseUD(): void { raise(EXC_UD, 0, false); }

// ---- general registers --------------------------------------------------------
export const EAX: u32 = 0, ECX: u32 = 1, EDX: u32 = 2, EBX: u32 = 3, ESP: u32 = 4, EBP: u32 = 5, ESI: u32 = 6, EDI: u32 = 7;

@inline export function reg32(r: u32): u32 { return load<u32>(cpu + (r << 2)); }
@inline export function setReg32(r: u32, v: u32): void { store<u32>(cpu + (r << 2), v); }
@inline export function reg16(r: u32): u32 { return <u32>load<u16>(cpu + (r << 2)); }
@inline export function setReg16(r: u32, v: u32): void { store<u16>(cpu + (r << 2), <u16>v); }
// 8-bit registers: AL CL DL BL AH CH DH BH
@inline export function reg8(r: u32): u32 { return <u32>load<u8>(cpu + ((r & 3) << 2) + (r >> 2)); }
@inline export function setReg8(r: u32, v: u32): void { store<u8>(cpu + ((r & 3) << 2) + (r >> 2), <u8>v); }

/** Stack pointer as the current stack size sees it. */
@inline export function getSP(): u32 { return stack32 ? reg32(ESP) : reg16(ESP); }
@inline export function setSP(v: u32): void { if (stack32) setReg32(ESP, v); else setReg16(ESP, v); }

// ---- segments -----------------------------------------------------------------
export const ES: u32 = 0, CS: u32 = 1, SS: u32 = 2, DS: u32 = 3, FS: u32 = 4, GS: u32 = 5, LDTR: u32 = 6, TR: u32 = 7;

@inline export function segSel(s: u32): u32 { return load<u32>(cpu + R_SEG_SEL + (s << 2)); }
@inline export function segBase(s: u32): u32 { return load<u32>(cpu + R_SEG_BASE + (s << 2)); }
@inline export function segLimit(s: u32): u32 { return load<u32>(cpu + R_SEG_LIMIT + (s << 2)); }
@inline export function segAcc(s: u32): u32 { return load<u32>(cpu + R_SEG_ACC + (s << 2)); }

// Access-rights bits (descriptor byte 5 in bits 0-7, flags nibble in bits 8-11).
export const ACC_A: u32 = 0x01; // accessed
export const ACC_RW: u32 = 0x02; // readable code / writable data
export const ACC_DC: u32 = 0x04; // conforming code / expand-down data
export const ACC_CODE: u32 = 0x08;
export const ACC_S: u32 = 0x10; // code/data (not system)
export const ACC_P: u32 = 0x80;
export const ACC_AVL: u32 = 0x100;
export const ACC_DB: u32 = 0x400;
export const ACC_G: u32 = 0x800;

// Mirrors of CS, and the fetch window: EIP values in [fetchLo, fetchLo + fetchLen) are in
// one RAM page, inside the CS limit and executable; byte `eip` lives at host fetchBase + eip
// (modular arithmetic). fetchLen = 0 means no window (the next fetch translates).
export let csBase: u32 = 0;
export let csLimit: u32 = 0xffff;
export let fetchLo: u32 = 0;
export let fetchLen: u32 = 0;
export let fetchBase: usize = 0;
/**
 * fetchLen - 15 (0 when shorter): an instruction starting at an EIP with eip - fetchLo <
 * fetchFast lies wholly in the window, so execute() may read its bytes without checks.
 */
export let fetchFast: u32 = 0;
export function setFetchWindow(lo: u32, len: u32, base: usize): void {
  fetchLo = lo; fetchLen = len; fetchBase = base;
  fetchFast = len > 15 ? len - 15 : 0;
}
@inline export function invalidateFetch(): void { fetchLen = 0; fetchFast = 0; }
/**
 * While an instruction with prefixes decodes, no byte past instrEip + 15 may come from the
 * window: clip it so such a byte takes the slow path (which raises #GP). Returns whether the
 * window was clipped (the caller drops it afterwards).
 */
export function clipFetchToInstruction(): bool {
  const limit = instrEip + 15;
  const d = limit - fetchLo;
  if (d < fetchLen) { fetchLen = d; fetchFast = 0; return true; }
  return false;
}

@inline export function fetch8(): u32 {
  const off = eip;
  if (off - fetchLo < fetchLen) { eip = off + 1; return <u32>load<u8>(fetchBase + <usize>off); }
  return fetchSlow(1);
}
@inline export function fetch16(): u32 {
  const off = eip, d = off - fetchLo;
  if (d < fetchLen && d + 2 <= fetchLen) { eip = off + 2; return <u32>load<u16>(fetchBase + <usize>off); }
  return fetchSlow(2);
}
@inline export function fetch32(): u32 {
  const off = eip, d = off - fetchLo;
  if (d < fetchLen && d + 4 <= fetchLen) { eip = off + 4; return load<u32>(fetchBase + <usize>off); }
  return fetchSlow(4);
}

/** Store a segment's hidden cache and recompute its derived checks. */
export function setSegCache(s: u32, sel: u32, base: u32, limit: u32, acc: u32): void {
  store<u32>(cpu + R_SEG_SEL + (s << 2), sel & 0xffff);
  store<u32>(cpu + R_SEG_BASE + (s << 2), base);
  store<u32>(cpu + R_SEG_LIMIT + (s << 2), limit);
  store<u32>(cpu + R_SEG_ACC + (s << 2), acc);
  deriveSeg(s);
  if (s == CS) { csBase = base; csLimit = limit; invalidateFetch(); }
}

/** Recompute the valid offset range and permissions of segment s from its cache. */
export function deriveSeg(s: u32): void {
  const limit = segLimit(s), acc = segAcc(s);
  let lo: u32 = 0, hi: u32 = limit, perm: u32 = 0;
  if (!protMode || v86Mode) {
    // Real and V86 mode: every segment is readable and writable; limits still apply.
    perm = SEGP_READ | SEGP_WRITE | SEGP_EXEC;
    if ((acc & (ACC_S | ACC_CODE | ACC_DC)) == (ACC_S | ACC_DC)) { lo = limit + 1; hi = (acc & ACC_DB) ? 0xffffffff : 0xffff; }
  } else if ((acc & ACC_P) && (acc & ACC_S)) {
    if (acc & ACC_CODE) {
      perm = SEGP_EXEC | ((acc & ACC_RW) ? SEGP_READ : 0);
    } else {
      perm = SEGP_READ | ((acc & ACC_RW) ? SEGP_WRITE : 0);
      if (acc & ACC_DC) { lo = limit + 1; hi = (acc & ACC_DB) ? 0xffffffff : 0xffff; }
    }
    if (lo > hi) { lo = 1; hi = 0; }
  } else if (s >= LDTR) {
    perm = SEGP_READ; // system segments: only the core reads them, through supervisor accesses
  }
  if (lo == 0 && hi == 0xffffffff) {
    if (perm & SEGP_READ) perm |= SEGP_BIG_READ;
    if (perm & SEGP_WRITE) perm |= SEGP_BIG_WRITE;
  }
  store<u32>(cpu + R_SEG_LO + (s << 2), lo);
  store<u32>(cpu + R_SEG_HI + (s << 2), hi);
  store<u32>(cpu + R_SEG_PERM + (s << 2), perm);
}

// ---- control state / mode mirrors -------------------------------------------------
export const CR0_PE: u32 = 1, CR0_MP: u32 = 2, CR0_EM: u32 = 4, CR0_TS: u32 = 8, CR0_ET: u32 = 0x10, CR0_NE: u32 = 0x20;
export const CR0_WP: u32 = 0x10000, CR0_AM: u32 = 0x40000, CR0_NW: u32 = 0x20000000, CR0_CD: u32 = 0x40000000, CR0_PG: u32 = 0x80000000;
export const CR4_VME: u32 = 1, CR4_PVI: u32 = 2, CR4_TSD: u32 = 4, CR4_DE: u32 = 8, CR4_PSE: u32 = 0x10, CR4_PAE: u32 = 0x20;
export const CR4_MCE: u32 = 0x40, CR4_PGE: u32 = 0x80, CR4_PCE: u32 = 0x100, CR4_OSFXSR: u32 = 0x200, CR4_OSXMMEXCPT: u32 = 0x400;
export const EFER_SCE: u32 = 1, EFER_NXE: u32 = 0x800;

@inline export function cr0(): u32 { return load<u32>(cpu + R_CR0); }
@inline export function cr4(): u32 { return load<u32>(cpu + R_CR4); }
@inline export function efer(): u32 { return load<u32>(cpu + R_EFER); }

/** Recompute the mode mirrors from CR0, EFLAGS, CS and SS. Call after any of them changes. */
export function refreshMode(): void {
  csBase = segBase(CS); csLimit = segLimit(CS); invalidateFetch();
  const c0 = cr0();
  const fl = load<u32>(cpu + R_EFLAGS);
  protMode = (c0 & CR0_PE) != 0;
  v86Mode = protMode && (fl & FLAG_VM) != 0;
  pagingOn = protMode && (c0 & CR0_PG) != 0;
  if (!protMode) {
    code32 = (segAcc(CS) & ACC_DB) != 0; // "big real" code is possible after a mode switch
    stack32 = (segAcc(SS) & ACC_DB) != 0;
    cpl = 0;
  } else if (v86Mode) {
    code32 = false; stack32 = false; cpl = 3;
  } else {
    code32 = (segAcc(CS) & ACC_DB) != 0;
    stack32 = (segAcc(SS) & ACC_DB) != 0;
    cpl = load<u32>(cpu + R_CPL) & 3;
  }
  keyBase = (code32 ? 0x200 : 0) | KEY_RESET; // opsize32/adsize32 follow code32 from the next instruction on
  store<u32>(cpu + R_CPL, cpl);
  store<u32>(cpu + R_MODE,
    (protMode ? MODE_PROT : 0) | (v86Mode ? MODE_V86 : 0) | (code32 ? MODE_CODE32 : 0) |
    (stack32 ? MODE_STACK32 : 0) | (pagingOn ? MODE_PAGING : 0));
}

export function setCpl(v: u32): void {
  store<u32>(cpu + R_CPL, v & 3);
}

@inline export function syncEipToMemory(): void { store<u32>(cpu + R_EIP, eip); }
@inline export function loadEipFromMemory(): void { eip = load<u32>(cpu + R_EIP); }

// ---- EFLAGS and lazy arithmetic flags ---------------------------------------------
export const FLAG_CF: u32 = 0x1, FLAG_PF: u32 = 0x4, FLAG_AF: u32 = 0x10, FLAG_ZF: u32 = 0x40, FLAG_SF: u32 = 0x80;
export const FLAG_TF: u32 = 0x100, FLAG_IF: u32 = 0x200, FLAG_DF: u32 = 0x400, FLAG_OF: u32 = 0x800;
export const FLAG_IOPL: u32 = 0x3000, FLAG_NT: u32 = 0x4000, FLAG_RF: u32 = 0x10000, FLAG_VM: u32 = 0x20000;
export const FLAG_AC: u32 = 0x40000, FLAG_VIF: u32 = 0x80000, FLAG_VIP: u32 = 0x100000, FLAG_ID: u32 = 0x200000;
export const FLAGS_ARITH: u32 = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;

// Lazy flag operation kinds (R_LF_OP).
export const LF_ADD: u32 = 0; // res = a + b (+ carry): ADD, ADC, INC
export const LF_SUB: u32 = 1; // res = a - b (- borrow): SUB, SBB, CMP, DEC, NEG
export const LF_LOGIC: u32 = 2; // only res is meaningful: CF=OF=AF=0

// The lazy-flag record lives in globals (per instance = per vCPU) while run() executes; the
// R_LF_* words of the shared memory mirror it whenever the host can look: flushLazy() copies
// it out (run() exit, syncNow() before every host call) and loadLazy() copies it in (run()
// entry and the exported functions, which the host may call after editing memory).
// lfKind packs what one flag-setting instruction fixes: bits 0-11 the EFLAGS arithmetic bits
// that are lazy (R_LF_MASK), bits 12-13 the operation (LF_*, R_LF_OP), bits 16-20 the
// operand's top bit index (7, 15, 31; R_LF_SIZE). One store records all three, and a flag
// read needs one load for them.
let lfKind: u32 = 0;
let lfRes: u32 = 0;
let lfA: u32 = 0;
let lfB: u32 = 0;
const LFK_MASK: u32 = 0xfff;

@inline function lfMask(): u32 { return lfKind & LFK_MASK; }
@inline function lfOp(): u32 { return (lfKind >> 12) & 3; }
@inline function lfMsb(): u32 { return lfKind >>> 16; }
@inline function kind(op: u32, msb: u32, mask: u32): u32 { return mask | (op << 12) | (msb << 16); }

export function flushLazy(): void {
  const c = cpu;
  store<u32>(c + R_LF_OP, lfOp());
  store<u32>(c + R_LF_RES, lfRes);
  store<u32>(c + R_LF_A, lfA);
  store<u32>(c + R_LF_B, lfB);
  store<u32>(c + R_LF_SIZE, lfMsb());
  store<u32>(c + R_LF_MASK, lfMask());
}
export function loadLazy(): void {
  const c = cpu;
  lfKind = kind(load<u32>(c + R_LF_OP) & 3, load<u32>(c + R_LF_SIZE) & 31, load<u32>(c + R_LF_MASK) & FLAGS_ARITH);
  lfRes = load<u32>(c + R_LF_RES);
  lfA = load<u32>(c + R_LF_A);
  lfB = load<u32>(c + R_LF_B);
}

/** Record a flag-setting operation. `msb` is the operand's top bit index (7, 15, 31). */
@inline export function setLazy(op: u32, res: u32, a: u32, b: u32, msb: u32, mask: u32): void {
  lfKind = kind(op, msb, mask);
  lfRes = res;
  if (op != LF_LOGIC) { lfA = a; lfB = b; } // a logic result needs no operands
}

/** Which EFLAGS arithmetic bits are lazy now. */
@inline export function lazyMask(): u32 { return lfMask(); }
@inline function flagsRaw(): u32 { return load<u32>(cpu + R_EFLAGS); }

@inline export function getCF(): u32 {
  if (!(lfKind & FLAG_CF)) return flagsRaw() & 1;
  return lazyCF();
}
@inline function lazyCF(): u32 {
  const k = lfKind, a = lfA, b = lfB, r = lfRes;
  const op = (k >> 12) & 3, msb = k >>> 16;
  if (op == LF_ADD) return (((a & b) | ((a | b) & ~r)) >>> msb) & 1;
  if (op == LF_SUB) return (((~a & b) | ((~a | b) & r)) >>> msb) & 1;
  return 0;
}

@inline export function getOF(): u32 {
  const k = lfKind;
  if (!(k & FLAG_OF)) return (flagsRaw() >>> 11) & 1;
  const a = lfA, b = lfB, r = lfRes;
  const op = (k >> 12) & 3, msb = k >>> 16;
  if (op == LF_ADD) return (((a ^ r) & (b ^ r)) >>> msb) & 1;
  if (op == LF_SUB) return (((a ^ b) & (a ^ r)) >>> msb) & 1;
  return 0;
}

export function getAF(): u32 {
  if (!(lfKind & FLAG_AF)) return (flagsRaw() >>> 4) & 1;
  if (lfOp() == LF_LOGIC) return 0;
  return ((lfA ^ lfB ^ lfRes) >>> 4) & 1;
}

@inline export function getZF(): u32 {
  const k = lfKind;
  if (!(k & FLAG_ZF)) return (flagsRaw() >>> 6) & 1;
  return (lfRes << (31 - (k >>> 16))) == 0 ? 1 : 0;
}

@inline export function getSF(): u32 {
  const k = lfKind;
  if (!(k & FLAG_SF)) return (flagsRaw() >>> 7) & 1;
  return (lfRes >>> (k >>> 16)) & 1;
}

export function getPF(): u32 {
  if (!(lfKind & FLAG_PF)) return (flagsRaw() >>> 2) & 1;
  return parity8(lfRes);
}

@inline export function parity8(v: u32): u32 {
  // 1 when the low byte has an even number of set bits.
  return (0x9669 >>> ((v ^ (v >>> 4)) & 0xf)) & 1;
}

/** Full EFLAGS with the lazy flags resolved. */
export function getEflags(): u32 {
  let f = flagsRaw();
  const m = lfMask();
  if (m) {
    f &= ~m;
    if (m & FLAG_CF) f |= getCF();
    if (m & FLAG_PF) f |= getPF() << 2;
    if (m & FLAG_AF) f |= getAF() << 4;
    if (m & FLAG_ZF) f |= getZF() << 6;
    if (m & FLAG_SF) f |= getSF() << 7;
    if (m & FLAG_OF) f |= getOF() << 11;
  }
  return f | 2;
}

/** Replace EFLAGS wholesale (no lazy flags left). Callers apply the privilege rules. */
export function setEflagsRaw(v: u32): void {
  const old = flagsRaw();
  store<u32>(cpu + R_EFLAGS, (v & 0x3f7fd5) | 2);
  lfKind &= ~LFK_MASK;
  if ((old ^ v) & FLAG_VM) refreshMode();
  if ((old ^ v) & FLAG_TF) syncTF();
  // IF 0 -> 1 without a shadow (IRET, POPF, a task switch): an interrupt pending now is taken
  // at the next boundary, so run() must look at R_PENDING after this instruction (issue 18).
  // (One raised later by this vCPU comes from a host call, which ends the chunk itself.)
  if ((v & ~old & FLAG_IF) && load<u32>(cpu + R_PENDING)) endChunk();
}

/** Keep PEND_TF in R_PENDING equal to EFLAGS.TF (so the loop checks single-step only then). */
export function syncTF(): void {
  if (flagsRaw() & FLAG_TF) { atomic.or<u32>(cpu + R_PENDING, PEND_TF); endChunk(); }
  else atomic.and<u32>(cpu + R_PENDING, ~PEND_TF);
}

/** Materialise the lazy flags into R_EFLAGS (so single bits can be changed). */
export function flushFlags(): void {
  if (lfMask()) {
    store<u32>(cpu + R_EFLAGS, getEflags());
    lfKind &= ~LFK_MASK;
  }
}

/** Set or clear individual (non-lazy or lazy) flags. */
export function setFlagBits(bits: u32, on: bool): void {
  flushFlags();
  const f = flagsRaw();
  store<u32>(cpu + R_EFLAGS, on ? (f | bits) : (f & ~bits));
  if (bits & FLAG_TF) syncTF();
}

@inline export function flagSet(bit: u32): bool { return (flagsRaw() & bit) != 0; } // only for non-arithmetic flags

/** Set CF eagerly while keeping the other lazy flags lazy. */
export function setCFOnly(v: u32): void {
  lfKind &= ~FLAG_CF;
  const f = flagsRaw();
  store<u32>(cpu + R_EFLAGS, (f & ~FLAG_CF) | (v & 1));
}

/** Set CF and OF eagerly (rotates) while the other flags keep their (lazy) values. */
@inline export function setCFOF(cf: u32, ovf: u32): void {
  lfKind &= ~(FLAG_CF | FLAG_OF);
  const f = flagsRaw() & ~(FLAG_CF | FLAG_OF);
  store<u32>(cpu + R_EFLAGS, f | cf | (ovf << 11));
}

/**
 * INC/DEC: CF keeps its value (made eager), the other five flags come from `a` ± 1.
 * Returns the result.
 */
@inline export function incDecFlags(a: u32, msb: u32, dec: bool): u32 {
  if (lfKind & FLAG_CF) {
    const cf = lazyCF();
    store<u32>(cpu + R_EFLAGS, (flagsRaw() & ~FLAG_CF) | cf);
  }
  const r = dec ? a - 1 : a + 1;
  lfKind = kind(dec ? LF_SUB : LF_ADD, msb, FLAGS_ARITH & ~FLAG_CF);
  lfRes = r; lfA = a; lfB = 1;
  return r;
}

/** Evaluate condition code cc (0-15) as Jcc/SETcc/CMOVcc do (inlined: cc is usually a constant). */
@inline export function cond(cc: u32): bool {
  let r: u32;
  switch (cc >> 1) {
    case 0: r = getOF(); break;
    case 1: r = getCF(); break;
    case 2: r = getZF(); break;
    case 3: r = getCF() | getZF(); break;
    case 4: r = getSF(); break;
    case 5: r = getPF(); break;
    case 6: r = getSF() ^ getOF(); break;
    default: r = getZF() | (getSF() ^ getOF()); break;
  }
  return (r ^ (cc & 1)) != 0;
}

/**
 * Virtual-8086 mode extensions (SDM Vol. 3B §20.3): in V86 mode with CR4.VME and IOPL < 3,
 * CLI/STI/PUSHF/POPF/IRET use VIF instead of IF and INT n may be redirected to the V86
 * program's own vector table.
 */
export function vmeActive(): bool {
  return v86Mode && (cr4() & CR4_VME) != 0 && (load<u32>(cpu + R_EFLAGS) & FLAG_IOPL) != FLAG_IOPL;
}
/** Protected-mode virtual interrupts (CR4.PVI): CLI/STI at CPL 3 with IOPL < 3 use VIF. */
export function pviActive(): bool {
  return protMode && !v86Mode && cpl == 3 && (cr4() & CR4_PVI) != 0 && (load<u32>(cpu + R_EFLAGS) & FLAG_IOPL) != FLAG_IOPL;
}

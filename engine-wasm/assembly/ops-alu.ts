// Arithmetic, logic, shifts/rotates, multiply/divide, BCD and bit instructions.
// Handler names follow the Intel operand notation (E = ModRM r/m, G = ModRM reg,
// I = immediate, b/w/d/v = byte/word/dword/operand-size).

import { R_EFLAGS } from '../memory-map';
import {
  cpu, modrm, fault, opsize32, raise, EXC_DE, EXC_BR,
  reg8, setReg8, reg16, setReg16, reg32, setReg32, EAX, ECX, EDX,
  setLazy, LF_ADD, LF_SUB, LF_LOGIC, FLAGS_ARITH, FLAG_CF, FLAG_OF, FLAG_AF, FLAG_ZF, FLAG_SF, FLAG_PF,
  getCF, getAF, getZF, getSF, getOF, flushFlags, setCFOnly, setCFOF, incDecFlags, cond, eaSeg, eaOff, adsize32,
  prefixes, PFX_LOCK,
} from './state';
import {
  fetch8, fetch16, fetch32, fetchS8, readE8, readE16, readE32, writeE8, writeE16, writeE32,
  rmwRead8, rmwRead16, rmwRead32, rmwWrite8, rmwWrite16, rmwWrite32, regField, isReg,
  readEA16, readEA32, readV8, readV16, readV32, segWrite, lockedBitByte,
} from './decode';
import { readLin8, writeLin8 } from './mmu';

export const ALU_ADD: u32 = 0, ALU_OR: u32 = 1, ALU_ADC: u32 = 2, ALU_SBB: u32 = 3;
export const ALU_AND: u32 = 4, ALU_SUB: u32 = 5, ALU_XOR: u32 = 6, ALU_CMP: u32 = 7;

/** One ovf the eight classic ALU operations on operands ovf top bit `msb`; sets the lazy flags. */
@inline export function alu(op: u32, a: u32, b: u32, msb: u32): u32 {
  let r: u32;
  switch (op) {
    case 0: r = a + b; setLazy(LF_ADD, r, a, b, msb, FLAGS_ARITH); break;
    case 1: r = a | b; setLazy(LF_LOGIC, r, 0, 0, msb, FLAGS_ARITH); break;
    case 2: r = a + b + getCF(); setLazy(LF_ADD, r, a, b, msb, FLAGS_ARITH); break;
    case 3: r = a - b - getCF(); setLazy(LF_SUB, r, a, b, msb, FLAGS_ARITH); break;
    case 4: r = a & b; setLazy(LF_LOGIC, r, 0, 0, msb, FLAGS_ARITH); break;
    case 6: r = a ^ b; setLazy(LF_LOGIC, r, 0, 0, msb, FLAGS_ARITH); break;
    default: r = a - b; setLazy(LF_SUB, r, a, b, msb, FLAGS_ARITH); break; // SUB, CMP
  }
  return r;
}

// op E, G
@inline export function aluEbGb(op: u32): void {
  const src = reg8(regField());
  if (op == ALU_CMP) { const d = readE8(); if (!fault) alu(op, d, src, 7); return; }
  const d = rmwRead8(); if (fault) return;
  rmwWrite8(alu(op, d, src, 7));
}
@inline export function aluEvGv16(op: u32): void {
  const src = reg16(regField());
  if (op == ALU_CMP) { const d = readE16(); if (!fault) alu(op, d, src, 15); return; }
  const d = rmwRead16(); if (fault) return;
  rmwWrite16(alu(op, d, src, 15));
}
@inline export function aluEvGv32(op: u32): void {
  const src = reg32(regField());
  if (op == ALU_CMP) { const d = readE32(); if (!fault) alu(op, d, src, 31); return; }
  const d = rmwRead32(); if (fault) return;
  rmwWrite32(alu(op, d, src, 31));
}
// op G, E
@inline export function aluGbEb(op: u32): void {
  const s = readE8(); if (fault) return;
  const r = regField();
  const v = alu(op, reg8(r), s, 7);
  if (op != ALU_CMP) setReg8(r, v);
}
@inline export function aluGvEv16(op: u32): void {
  const s = readE16(); if (fault) return;
  const r = regField();
  const v = alu(op, reg16(r), s, 15);
  if (op != ALU_CMP) setReg16(r, v);
}
@inline export function aluGvEv32(op: u32): void {
  const s = readE32(); if (fault) return;
  const r = regField();
  const v = alu(op, reg32(r), s, 31);
  if (op != ALU_CMP) setReg32(r, v);
}
// op AL/eAX, imm
@inline export function aluALIb(op: u32): void {
  const i = fetch8(); if (fault) return;
  const v = alu(op, reg8(0), i, 7);
  if (op != ALU_CMP) setReg8(0, v);
}
@inline export function aluAXIw(op: u32): void {
  const i = fetch16(); if (fault) return;
  const v = alu(op, reg16(EAX), i, 15);
  if (op != ALU_CMP) setReg16(EAX, v);
}
@inline export function aluEAXId(op: u32): void {
  const i = fetch32(); if (fault) return;
  const v = alu(op, reg32(EAX), i, 31);
  if (op != ALU_CMP) setReg32(EAX, v);
}
// Group 1: op E, imm (the operation is the ModRM reg field)
@inline export function grp1EbIb(): void {
  const op = regField();
  if (op == ALU_CMP) { const d = readE8(); if (fault) return; const i = fetch8(); if (!fault) alu(op, d, i, 7); return; }
  const d = rmwRead8(); if (fault) return;
  const i = fetch8(); if (fault) return;
  rmwWrite8(alu(op, d, i, 7));
}
@inline export function grp1EvIv16(): void {
  const op = regField();
  if (op == ALU_CMP) { const d = readE16(); if (fault) return; const i = fetch16(); if (!fault) alu(op, d, i, 15); return; }
  const d = rmwRead16(); if (fault) return;
  const i = fetch16(); if (fault) return;
  rmwWrite16(alu(op, d, i, 15));
}
@inline export function grp1EvIv32(): void {
  const op = regField();
  if (op == ALU_CMP) { const d = readE32(); if (fault) return; const i = fetch32(); if (!fault) alu(op, d, i, 31); return; }
  const d = rmwRead32(); if (fault) return;
  const i = fetch32(); if (fault) return;
  rmwWrite32(alu(op, d, i, 31));
}
@inline export function grp1EvIb16(): void {
  const op = regField();
  if (op == ALU_CMP) { const d = readE16(); if (fault) return; const i = fetchS8(); if (!fault) alu(op, d, i & 0xffff, 15); return; }
  const d = rmwRead16(); if (fault) return;
  const i = fetchS8(); if (fault) return;
  rmwWrite16(alu(op, d, i & 0xffff, 15));
}
@inline export function grp1EvIb32(): void {
  const op = regField();
  if (op == ALU_CMP) { const d = readE32(); if (fault) return; const i = fetchS8(); if (!fault) alu(op, d, i, 31); return; }
  const d = rmwRead32(); if (fault) return;
  const i = fetchS8(); if (fault) return;
  rmwWrite32(alu(op, d, i, 31));
}

// TEST
@inline export function TEST_EbGb(): void { const d = readE8(); if (!fault) setLazy(LF_LOGIC, d & reg8(regField()), 0, 0, 7, FLAGS_ARITH); }
@inline export function TEST_EvGv16(): void { const d = readE16(); if (!fault) setLazy(LF_LOGIC, d & reg16(regField()), 0, 0, 15, FLAGS_ARITH); }
@inline export function TEST_EvGv32(): void { const d = readE32(); if (!fault) setLazy(LF_LOGIC, d & reg32(regField()), 0, 0, 31, FLAGS_ARITH); }
@inline export function TEST_ALIb(): void { const i = fetch8(); if (!fault) setLazy(LF_LOGIC, reg8(0) & i, 0, 0, 7, FLAGS_ARITH); }
export function TEST_eAXIv16(): void { const i = fetch16(); if (!fault) setLazy(LF_LOGIC, reg16(EAX) & i, 0, 0, 15, FLAGS_ARITH); }
@inline export function TEST_eAXIv32(): void { const i = fetch32(); if (!fault) setLazy(LF_LOGIC, reg32(EAX) & i, 0, 0, 31, FLAGS_ARITH); }

// INC / DEC keep CF.
@inline function incdec(a: u32, msb: u32, dec: bool): u32 { return incDecFlags(a, msb, dec); }
@inline export function INC_Zv16(r: u32): void { setReg16(r, incdec(reg16(r), 15, false)); }
@inline export function INC_Zv32(r: u32): void { setReg32(r, incdec(reg32(r), 31, false)); }
@inline export function DEC_Zv16(r: u32): void { setReg16(r, incdec(reg16(r), 15, true)); }
@inline export function DEC_Zv32(r: u32): void { setReg32(r, incdec(reg32(r), 31, true)); }

// Group 3: TEST/NOT/NEG/MUL/IMUL/DIV/IDIV E
export function grp3Eb(): void {
  switch (regField()) {
    case 0: case 1: { const d = readE8(); if (fault) return; const i = fetch8(); if (!fault) setLazy(LF_LOGIC, d & i, 0, 0, 7, FLAGS_ARITH); return; }
    case 2: { const d = rmwRead8(); if (!fault) rmwWrite8(~d); return; }
    case 3: { const d = rmwRead8(); if (fault) return; const r = 0 - d; setLazy(LF_SUB, r, 0, d, 7, FLAGS_ARITH); rmwWrite8(r); return; }
    case 4: { const d = readE8(); if (fault) return; const r = reg8(0) * d; setReg16(EAX, r); mulFlags(r >>> 8 != 0, r, 7); return; }
    case 5: {
      const d = readE8(); if (fault) return;
      const r = <i32>(<i8>reg8(0)) * <i32>(<i8>d);
      setReg16(EAX, <u32>r);
      mulFlags(r != <i32>(<i8>r), <u32>r, 7); return;
    }
    case 6: {
      const d = readE8(); if (fault) return;
      if (d == 0) { raise(EXC_DE, 0, false); return; }
      const n = reg16(EAX);
      const q = n / d;
      if (q > 0xff) { raise(EXC_DE, 0, false); return; }
      setReg8(0, q); setReg8(4, n % d); return;
    }
    default: {
      const d = readE8(); if (fault) return;
      const dv = <i32>(<i8>d);
      if (dv == 0) { raise(EXC_DE, 0, false); return; }
      const n = <i32>(<i16>reg16(EAX));
      const q = n / dv;
      if (q > 127 || q < -128) { raise(EXC_DE, 0, false); return; }
      setReg8(0, <u32>q); setReg8(4, <u32>(n % dv)); return;
    }
  }
}

export function grp3Ev16(): void {
  switch (regField()) {
    case 0: case 1: { const d = readE16(); if (fault) return; const i = fetch16(); if (!fault) setLazy(LF_LOGIC, d & i, 0, 0, 15, FLAGS_ARITH); return; }
    case 2: { const d = rmwRead16(); if (!fault) rmwWrite16(~d); return; }
    case 3: { const d = rmwRead16(); if (fault) return; const r = 0 - d; setLazy(LF_SUB, r, 0, d, 15, FLAGS_ARITH); rmwWrite16(r); return; }
    case 4: {
      const d = readE16(); if (fault) return;
      const r = reg16(EAX) * d;
      setReg16(EAX, r); setReg16(EDX, r >>> 16);
      mulFlags((r >>> 16) != 0, r, 15); return;
    }
    case 5: {
      const d = readE16(); if (fault) return;
      const r = <i32>(<i16>reg16(EAX)) * <i32>(<i16>d);
      setReg16(EAX, <u32>r); setReg16(EDX, <u32>r >>> 16);
      mulFlags(r != <i32>(<i16>r), <u32>r, 15); return;
    }
    case 6: {
      const d = readE16(); if (fault) return;
      if (d == 0) { raise(EXC_DE, 0, false); return; }
      const n = (reg16(EDX) << 16) | reg16(EAX);
      const q = n / d;
      if (q > 0xffff) { raise(EXC_DE, 0, false); return; }
      setReg16(EAX, q); setReg16(EDX, n % d); return;
    }
    default: {
      const d = readE16(); if (fault) return;
      const dv = <i32>(<i16>d);
      if (dv == 0) { raise(EXC_DE, 0, false); return; }
      const n = <i32>((reg16(EDX) << 16) | reg16(EAX));
      if (n == <i32>0x80000000 && dv == -1) { raise(EXC_DE, 0, false); return; }
      const q = n / dv;
      if (q > 32767 || q < -32768) { raise(EXC_DE, 0, false); return; }
      setReg16(EAX, <u32>q); setReg16(EDX, <u32>(n % dv)); return;
    }
  }
}

export function grp3Ev32(): void {
  switch (regField()) {
    case 0: case 1: { const d = readE32(); if (fault) return; const i = fetch32(); if (!fault) setLazy(LF_LOGIC, d & i, 0, 0, 31, FLAGS_ARITH); return; }
    case 2: { const d = rmwRead32(); if (!fault) rmwWrite32(~d); return; }
    case 3: { const d = rmwRead32(); if (fault) return; const r = 0 - d; setLazy(LF_SUB, r, 0, d, 31, FLAGS_ARITH); rmwWrite32(r); return; }
    case 4: {
      const d = readE32(); if (fault) return;
      const r = <u64>reg32(EAX) * <u64>d;
      setReg32(EAX, <u32>r); setReg32(EDX, <u32>(r >>> 32));
      mulFlags((r >>> 32) != 0, <u32>r, 31); return;
    }
    case 5: {
      const d = readE32(); if (fault) return;
      const r = <i64>(<i32>reg32(EAX)) * <i64>(<i32>d);
      setReg32(EAX, <u32>r); setReg32(EDX, <u32>(r >>> 32));
      mulFlags(r != <i64>(<i32>r), <u32>r, 31); return;
    }
    case 6: {
      const d = readE32(); if (fault) return;
      if (d == 0) { raise(EXC_DE, 0, false); return; }
      const n = (<u64>reg32(EDX) << 32) | <u64>reg32(EAX);
      const q = n / <u64>d;
      if (q > 0xffffffff) { raise(EXC_DE, 0, false); return; }
      setReg32(EAX, <u32>q); setReg32(EDX, <u32>(n % <u64>d)); return;
    }
    default: {
      const d = readE32(); if (fault) return;
      const dv = <i64>(<i32>d);
      if (dv == 0) { raise(EXC_DE, 0, false); return; }
      const n = <i64>((<u64>reg32(EDX) << 32) | <u64>reg32(EAX));
      if (n == i64.MIN_VALUE && dv == -1) { raise(EXC_DE, 0, false); return; }
      const q = n / dv;
      if (q > 2147483647 || q < -2147483648) { raise(EXC_DE, 0, false); return; }
      setReg32(EAX, <u32>q); setReg32(EDX, <u32>(n % dv)); return;
    }
  }
}

/** MUL/IMUL: CF = OF = overflow; SF/ZF/PF from the low result (undefined by Intel), AF 0. */
@inline export function mulFlags(overflow: bool, low: u32, msb: u32): void {
  setLazy(LF_LOGIC, low, 0, 0, msb, FLAGS_ARITH & ~(FLAG_CF | FLAG_OF));
  const f = load<u32>(cpu + R_EFLAGS) & ~(FLAG_CF | FLAG_OF | FLAG_AF);
  store<u32>(cpu + R_EFLAGS, f | (overflow ? (FLAG_CF | FLAG_OF) : 0));
}

// IMUL G, E (, imm)
export function IMUL_GvEv16(): void {
  const d = readE16(); if (fault) return;
  imul16(d, reg16(regField()));
}
@inline export function IMUL_GvEv32(): void {
  const d = readE32(); if (fault) return;
  imul32(d, reg32(regField()));
}
export function IMUL_GvEvIv16(): void { const d = readE16(); if (fault) return; const i = fetch16(); if (!fault) imul16(d, i); }
@inline export function IMUL_GvEvIv32(): void { const d = readE32(); if (fault) return; const i = fetch32(); if (!fault) imul32(d, i); }
export function IMUL_GvEvIb16(): void { const d = readE16(); if (fault) return; const i = fetchS8(); if (!fault) imul16(d, i & 0xffff); }
@inline export function IMUL_GvEvIb32(): void { const d = readE32(); if (fault) return; const i = fetchS8(); if (!fault) imul32(d, i); }
function imul16(a: u32, b: u32): void {
  const r = <i32>(<i16>a) * <i32>(<i16>b);
  setReg16(regField(), <u32>r);
  mulFlags(r != <i32>(<i16>r), <u32>r, 15);
}
@inline function imul32(a: u32, b: u32): void {
  const r = <i64>(<i32>a) * <i64>(<i32>b);
  setReg32(regField(), <u32>r);
  mulFlags(r != <i64>(<i32>r), <u32>r, 31);
}

// ---- shifts and rotates ----------------------------------------------------------------
/** Shift/rotate `v` (operand top bit `msb`) by `count` per group-2 operation `op`. */
@inline export function shift(op: u32, v: u32, count: u32, msb: u32): u32 {
  count &= 31;
  if (count == 0) return v;
  const bits = msb + 1;
  const mask: u32 = msb == 31 ? 0xffffffff : ((<u32>1 << bits) - 1);
  v &= mask;
  let r: u32 = 0, cf: u32 = 0, ovf: u32 = 0;
  switch (op) {
    case 0: { // ROL
      const c = count & msb; // count mod size (size is a power ovf two)
      r = c == 0 ? v : ((v << c) | (v >>> (bits - c))) & mask;
      cf = r & 1; ovf = ((r >>> msb) ^ cf) & 1;
      setCFOF(cf, ovf); return r;
    }
    case 1: { // ROR
      const c = count & msb;
      r = c == 0 ? v : ((v >>> c) | (v << (bits - c))) & mask;
      cf = (r >>> msb) & 1; ovf = ((r >>> msb) ^ (r >>> (msb - 1))) & 1;
      setCFOF(cf, ovf); return r;
    }
    case 2: { // RCL: rotate through CF, a (size+1)-bit rotation
      const c = count % (bits + 1);
      let x = <u64>v | (<u64>getCF() << bits);
      if (c != 0) x = ((x << c) | (x >>> (bits + 1 - c))) & ((<u64>1 << (bits + 1)) - 1);
      r = <u32>x & mask; cf = <u32>(x >>> bits) & 1;
      ovf = ((r >>> msb) ^ cf) & 1;
      setCFOF(cf, ovf); return r;
    }
    case 3: { // RCR
      const c = count % (bits + 1);
      const cin = getCF();
      ovf = ((v >>> msb) ^ cin) & 1; // OF from the value before rotating (count 1 definition)
      let x = <u64>v | (<u64>cin << bits);
      if (c != 0) x = ((x >>> c) | (x << (bits + 1 - c))) & ((<u64>1 << (bits + 1)) - 1);
      r = <u32>x & mask; cf = <u32>(x >>> bits) & 1;
      if (c != 1 && c != 0) ovf = ((r >>> msb) ^ (r >>> (msb - 1))) & 1;
      setCFOF(cf, ovf); return r;
    }
    case 4: case 6: { // SHL/SAL
      if (count <= bits) { r = count == 32 ? 0 : (v << count) & mask; cf = (v >>> (bits - count)) & 1; }
      else { r = 0; cf = 0; }
      ovf = ((r >>> msb) ^ cf) & 1;
      break;
    }
    case 5: { // SHR
      r = count >= 32 ? 0 : v >>> count;
      cf = count > bits ? 0 : (v >>> (count - 1)) & 1;
      ovf = (count == 1) ? (v >>> msb) & 1 : (v >>> msb) & 1 & (count == 1 ? 1 : 0);
      break;
    }
    default: { // SAR
      const sv = <i32>(v << (31 - msb)) >> (31 - msb); // sign-extend
      const c = count > msb ? msb + 1 : count;
      r = <u32>(c >= 32 ? (sv >> 31) : (sv >> c)) & mask;
      cf = <u32>(sv >> (c - 1)) & 1;
      ovf = 0;
      break;
    }
  }
  // Shifts: CF and OF eager, SF ZF PF lazy from the result, AF cleared.
  setLazy(LF_LOGIC, r, 0, 0, msb, FLAG_SF | FLAG_ZF | FLAG_PF);
  const f = load<u32>(cpu + R_EFLAGS) & ~(FLAG_CF | FLAG_OF | FLAG_AF);
  store<u32>(cpu + R_EFLAGS, f | cf | (ovf << 11));
  return r;
}

// Group 2 with count from imm8 / 1 / CL.
export function grp2Eb(count: u32): void { const d = rmwRead8(); if (fault) return; rmwWrite8(shift(regField(), d, count, 7)); }
export function grp2Ev16(count: u32): void { const d = rmwRead16(); if (fault) return; rmwWrite16(shift(regField(), d, count, 15)); }
export function grp2Ev32(count: u32): void { const d = rmwRead32(); if (fault) return; rmwWrite32(shift(regField(), d, count, 31)); }
export function grp2EbIb(): void {
  const d = rmwRead8(); if (fault) return; const c = fetch8(); if (fault) return;
  rmwWrite8(shift(regField(), d, c, 7));
}
export function grp2EvIb16(): void {
  const d = rmwRead16(); if (fault) return; const c = fetch8(); if (fault) return;
  rmwWrite16(shift(regField(), d, c, 15));
}
export function grp2EvIb32(): void {
  const d = rmwRead32(); if (fault) return; const c = fetch8(); if (fault) return;
  rmwWrite32(shift(regField(), d, c, 31));
}

// SHLD / SHRD
export function SHLD16(count: u32): void {
  const d = rmwRead16(); if (fault) return;
  count &= 31;
  if (count == 0) return;
  const s = reg16(regField());
  // 16-bit with count > 16: the (undefined) result uses the 32-bit concatenation d:s:d.
  // d:s sits in bits 16-47 of x; the result is its top half after shifting left by count.
  const x = (<u64>d << 32) | (<u64>s << 16) | <u64>d;
  const r = <u32>(x >> (32 - count)) & 0xffff;
  const cf = <u32>(x >> (48 - count)) & 1;
  shiftFlagsD(r, cf, ((r ^ d) >>> 15) & 1, 15);
  rmwWrite16(r);
}
export function SHLD32(count: u32): void {
  const d = rmwRead32(); if (fault) return;
  count &= 31;
  if (count == 0) return;
  const s = reg32(regField());
  const r = (d << count) | (s >>> (32 - count));
  const cf = (d >>> (32 - count)) & 1;
  shiftFlagsD(r, cf, ((r ^ d) >>> 31) & 1, 31);
  rmwWrite32(r);
}
export function SHRD16(count: u32): void {
  const d = rmwRead16(); if (fault) return;
  count &= 31;
  if (count == 0) return;
  const s = reg16(regField());
  const x = (<u64>d << 32) | (<u64>s << 16) | <u64>d; // read as s:d repeated
  const y = (<u64>d) | (<u64>s << 16) | (<u64>d << 32);
  const r = <u32>(y >> count) & 0xffff;
  const cf = <u32>(y >> (count - 1)) & 1;
  shiftFlagsD(r, cf, ((r ^ d) >>> 15) & 1, 15);
  rmwWrite16(r);
  if (x == 0) return;
}
export function SHRD32(count: u32): void {
  const d = rmwRead32(); if (fault) return;
  count &= 31;
  if (count == 0) return;
  const s = reg32(regField());
  const r = (d >>> count) | (s << (32 - count));
  const cf = (d >>> (count - 1)) & 1;
  shiftFlagsD(r, cf, ((r ^ d) >>> 31) & 1, 31);
  rmwWrite32(r);
}
function shiftFlagsD(r: u32, cf: u32, ovf: u32, msb: u32): void {
  setLazy(LF_LOGIC, r, 0, 0, msb, FLAG_SF | FLAG_ZF | FLAG_PF);
  const f = load<u32>(cpu + R_EFLAGS) & ~(FLAG_CF | FLAG_OF | FLAG_AF);
  store<u32>(cpu + R_EFLAGS, f | cf | (ovf << 11));
}
export function SHLD_EvGvIb16(): void { const c = peekImmAfter(); SHLD16(c); }
export function SHLD_EvGvIb32(): void { const c = peekImmAfter(); SHLD32(c); }
export function SHRD_EvGvIb16(): void { const c = peekImmAfter(); SHRD16(c); }
export function SHRD_EvGvIb32(): void { const c = peekImmAfter(); SHRD32(c); }
function peekImmAfter(): u32 { return fetch8(); }
export function SHLD_EvGvCL16(): void { SHLD16(reg8(1)); }
export function SHLD_EvGvCL32(): void { SHLD32(reg8(1)); }
export function SHRD_EvGvCL16(): void { SHRD16(reg8(1)); }
export function SHRD_EvGvCL32(): void { SHRD32(reg8(1)); }

// ---- BCD ----------------------------------------------------------------------------------
export function DAA(): void {
  // SDM DAA: CF also collects the carry out of the low-nibble adjustment.
  const al = reg8(0), cf = getCF(), af = getAF();
  let r = al, ncf: u32 = 0, naf: u32 = 0;
  if ((al & 0xf) > 9 || af) { ncf = cf | (al + 6 > 0xff ? 1 : 0); r = (r + 6) & 0xff; naf = 1; }
  if (al > 0x99 || cf) { r = (r + 0x60) & 0xff; ncf = 1; }
  setReg8(0, r);
  bcdFlags(r, ncf, naf, ((al ^ r) & r & 0x80) >>> 7);
}
export function DAS(): void {
  const al = reg8(0), cf = getCF(), af = getAF();
  let r = al, ncf: u32 = 0, naf: u32 = 0;
  if ((al & 0xf) > 9 || af) { ncf = cf | (al < 6 ? 1 : 0); r = (r - 6) & 0xff; naf = 1; }
  if (al > 0x99 || cf) { r = (r - 0x60) & 0xff; ncf = 1; }
  setReg8(0, r);
  bcdFlags(r, ncf, naf, ((al ^ r) & al & 0x80) >>> 7);
}
export function AAA(): void {
  const ax = reg16(EAX);
  const al = ax & 0xff;
  if ((al & 0xf) > 9 || getAF()) {
    const nal = (al + 6) & 0xff;
    const nax = ((ax + 0x106) & 0xff00) | (nal & 0x0f);
    setReg16(EAX, nax);
    bcdFlags(nal & 0x0f, 1, 1, 0);
    adjustSZPFrom(nal);
  } else {
    setReg16(EAX, ax & 0xff0f);
    bcdFlags(al & 0x0f, 0, 0, 0);
    adjustSZPFrom(al);
  }
}
export function AAS(): void {
  const ax = reg16(EAX);
  const al = ax & 0xff;
  if ((al & 0xf) > 9 || getAF()) {
    const nal = (al - 6) & 0xff;
    const nax = ((ax - 0x106) & 0xff00) | (nal & 0x0f);
    setReg16(EAX, nax);
    bcdFlags(nal & 0x0f, 1, 1, 0);
    adjustSZPFrom(nal);
  } else {
    setReg16(EAX, ax & 0xff0f);
    bcdFlags(al & 0x0f, 0, 0, 0);
    adjustSZPFrom(al);
  }
}
/** AAA/AAS leave SF/ZF/PF undefined; reflect the adjusted AL before masking, as the 286 does. */
function adjustSZPFrom(v: u32): void { setLazy(LF_LOGIC, v, 0, 0, 7, FLAG_SF | FLAG_ZF | FLAG_PF); }
export function AAM(): void {
  const base = fetch8(); if (fault) return;
  if (base == 0) { raise(EXC_DE, 0, false); return; }
  const al = reg8(0);
  const r = al % base;
  setReg8(4, al / base); setReg8(0, r);
  bcdFlags(r, 0, 0, 0);
}
export function AAD(): void {
  const base = fetch8(); if (fault) return;
  const al = reg8(0), ah = reg8(4);
  const t = ah * base;
  const r = (al + t) & 0xff;
  setReg16(EAX, r);
  // Flags as an 8-bit ADD ovf AL and AH*base.
  setLazy(LF_ADD, r, al, t & 0xff, 7, FLAGS_ARITH);
}
function bcdFlags(r: u32, cf: u32, af: u32, ovf: u32): void {
  setLazy(LF_LOGIC, r, 0, 0, 7, FLAG_SF | FLAG_ZF | FLAG_PF);
  const f = load<u32>(cpu + R_EFLAGS) & ~(FLAG_CF | FLAG_AF | FLAG_OF);
  store<u32>(cpu + R_EFLAGS, f | cf | (af << 4) | (ovf << 11));
}
export function SALC(): void { setReg8(0, getCF() ? 0xff : 0); }

// ---- bit instructions ------------------------------------------------------------------------
// BT/BTS/BTR/BTC with a register bit offset address memory beyond the operand (signed offset).
function btMemOff(bit: u32, size: u32): u32 {
  // Byte displacement ovf the operand that holds `bit` (signed), aligned to the operand size.
  const sbit = <i32>bit;
  const shiftAmt: i32 = size == 2 ? 4 : 5;
  return <u32>((sbit >> shiftAmt) * <i32>size);
}

export function BT_EvGv16(): void { btOp(0, reg16(regField()), false, 2); }
export function BT_EvGv32(): void { btOp(0, reg32(regField()), false, 4); }
export function BTS_EvGv16(): void { btOp(1, reg16(regField()), false, 2); }
export function BTS_EvGv32(): void { btOp(1, reg32(regField()), false, 4); }
export function BTR_EvGv16(): void { btOp(2, reg16(regField()), false, 2); }
export function BTR_EvGv32(): void { btOp(2, reg32(regField()), false, 4); }
export function BTC_EvGv16(): void { btOp(3, reg16(regField()), false, 2); }
export function BTC_EvGv32(): void { btOp(3, reg32(regField()), false, 4); }
export function grp8EvIb16(): void { const r = regField(); if (r < 4) { raise(6, 0, false); return; } const i = fetch8(); if (!fault) btOp(r - 4, i, true, 2); }
export function grp8EvIb32(): void { const r = regField(); if (r < 4) { raise(6, 0, false); return; } const i = fetch8(); if (!fault) btOp(r - 4, i, true, 4); }

/** op: 0 BT, 1 BTS, 2 BTR, 3 BTC. Immediate offsets are taken modulo the operand size. */
function btOp(op: u32, bitIn: u32, imm: bool, size: u32): void {
  const bits: u32 = size * 8;
  let bit = bitIn;
  if (size == 2 && !imm) bit = <u32>(<i32>(<i16>bitIn)); // sign-extend a 16-bit register offset
  if (isReg() || imm) {
    const b = bit & (bits - 1);
    if (isReg()) {
      const v = size == 2 ? reg16(modrm & 7) : reg32(modrm & 7);
      setCFOnly((v >>> b) & 1);
      if (op == 0) return;
      const n = op == 1 ? v | (1 << b) : op == 2 ? v & ~(1 << b) : v ^ (1 << b);
      if (size == 2) setReg16(modrm & 7, n); else setReg32(modrm & 7, n);
      return;
    }
    if (op == 0) { const v = size == 2 ? readE16() : readE32(); if (!fault) setCFOnly((v >>> b) & 1); return; }
    const v = size == 2 ? rmwRead16() : rmwRead32(); if (fault) return;
    const n = op == 1 ? v | (1 << b) : op == 2 ? v & ~(1 << b) : v ^ (1 << b);
    if (size == 2) rmwWrite16(n); else rmwWrite32(n);
    if (!fault) setCFOnly((v >>> b) & 1);
    return;
  }
  // Register offset into memory: the bit string extends beyond the addressed operand.
  const disp = btMemOff(bit, size);
  const b = bit & (bits - 1);
  let off = eaOff + disp;
  if (!adsize32) off &= 0xffff;
  if (op == 0) {
    const v = size == 2 ? readV16(eaSeg, off) : readV32(eaSeg, off);
    if (!fault) setCFOnly((v >>> b) & 1);
    return;
  }
  // Byte-granular RMW keeps this simple and correct for any alignment.
  const boff = adsize32 ? eaOff + <u32>(<i32>bit >> 3) : (eaOff + <u32>(<i32>bit >> 3)) & 0xffff;
  const lin = segWrite(eaSeg, boff, 1); if (fault) return;
  const bb = bit & 7;
  if (prefixes & PFX_LOCK) { // set_bit() and friends with a variable bit number: atomic across vCPUs
    const old = lockedBitByte(lin, op, 1 << bb);
    if (!fault) setCFOnly((old >>> bb) & 1);
    return;
  }
  const byte = readLin8(lin); if (fault) return;
  const nb = op == 1 ? byte | (1 << bb) : op == 2 ? byte & ~(1 << bb) : byte ^ (1 << bb);
  writeLin8(lin, nb); if (fault) return;
  setCFOnly((byte >>> bb) & 1);
}

export function BSF16(): void { const v = readE16(); if (!fault) bsfr(v, false, 15); }
export function BSF32(): void { const v = readE32(); if (!fault) bsfr(v, false, 31); }
export function BSR16(): void { const v = readE16(); if (!fault) bsfr(v, true, 15); }
export function BSR32(): void { const v = readE32(); if (!fault) bsfr(v, true, 31); }
function bsfr(v: u32, rev: bool, msb: u32): void {
  flushFlags();
  const f = load<u32>(cpu + R_EFLAGS);
  if (v == 0) { store<u32>(cpu + R_EFLAGS, f | FLAG_ZF); return; } // destination unchanged
  store<u32>(cpu + R_EFLAGS, f & ~FLAG_ZF);
  const r: u32 = rev ? 31 - <u32>clz(v) : <u32>ctz(v);
  if (msb == 15) setReg16(regField(), r); else setReg32(regField(), r);
}

// SETcc / CMOVcc
@inline export function SETcc(cc: u32): void { writeE8(cond(cc) ? 1 : 0); }
export function CMOVcc16(cc: u32): void { const v = readE16(); if (!fault && cond(cc)) setReg16(regField(), v); }
@inline export function CMOVcc32(cc: u32): void { const v = readE32(); if (!fault && cond(cc)) setReg32(regField(), v); }

// XADD, CMPXCHG, BSWAP
// XADD writes the source register before the destination: with r,r on the same register the sum wins.
export function XADD_EbGb(): void {
  const d = rmwRead8(); if (fault) return;
  const r = regField(); const s = reg8(r);
  const sum = alu(ALU_ADD, d, s, 7);
  if (isReg()) { setReg8(r, d); rmwWrite8(sum); return; }
  rmwWrite8(sum); if (fault) return;
  setReg8(r, d);
}
export function XADD_EvGv16(): void {
  const d = rmwRead16(); if (fault) return;
  const r = regField(); const s = reg16(r);
  const sum = alu(ALU_ADD, d, s, 15);
  if (isReg()) { setReg16(r, d); rmwWrite16(sum); return; }
  rmwWrite16(sum); if (fault) return;
  setReg16(r, d);
}
export function XADD_EvGv32(): void {
  const d = rmwRead32(); if (fault) return;
  const r = regField(); const s = reg32(r);
  const sum = alu(ALU_ADD, d, s, 31);
  if (isReg()) { setReg32(r, d); rmwWrite32(sum); return; }
  rmwWrite32(sum); if (fault) return;
  setReg32(r, d);
}
// CMPXCHG always writes the destination (the old value back when unequal), as the CPU does.
export function CMPXCHG_EbGb(): void {
  const d = rmwRead8(); if (fault) return;
  const a = reg8(0);
  alu(ALU_CMP, a, d, 7);
  if (a == d) rmwWrite8(reg8(regField()));
  else { rmwWrite8(d); if (!fault) setReg8(0, d); }
}
export function CMPXCHG_EvGv16(): void {
  const d = rmwRead16(); if (fault) return;
  const a = reg16(EAX);
  alu(ALU_CMP, a, d, 15);
  if (a == d) rmwWrite16(reg16(regField()));
  else { rmwWrite16(d); if (!fault) setReg16(EAX, d); }
}
export function CMPXCHG_EvGv32(): void {
  const d = rmwRead32(); if (fault) return;
  const a = reg32(EAX);
  alu(ALU_CMP, a, d, 31);
  if (a == d) rmwWrite32(reg32(regField()));
  else { rmwWrite32(d); if (!fault) setReg32(EAX, d); }
}
export function BSWAP(r: u32): void {
  if (!opsize32) { setReg16(r, 0); return; } // 16-bit BSWAP is undefined; real CPUs zero the register
  setReg32(r, bswap<u32>(reg32(r)));
}

export { ECX, EDX, FLAG_ZF, getZF, getSF, getOF, readV8, readV16, readV32, readEA16, readEA32, EXC_BR, writeE16, writeE32, readE16, readE32 };

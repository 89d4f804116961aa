// Data movement, stack, control flow, string instructions, port I/O and flag instructions.

import { RAM_BASE, R_INT_SHADOW, R_EFLAGS, MEMT_RAM, REP_CHUNK } from '../memory-map';
import {
  vmeActive, pviActive, cr4, CR4_VME,
  cpu, tlb, modrm, fault, eip, setEip, instrEip, opsize32, adsize32, prefixes, PFX_REP, PFX_REPNE,
  cpl, protMode, v86Mode, stack32, raise, raiseGP, raiseUD, EXC_BR, EXC_UD, EXC_NM, EXC_OF, EXC_BP, EXC_DB,
  reg8, setReg8, reg16, setReg16, reg32, setReg32, EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI,
  segSel, segBase, ES, CS, SS, DS, FS, GS, csLimit, eaOff, eaSeg, eaEspBase, setEa,
  setLazy, LF_SUB, FLAGS_ARITH, getEflags, setEflagsRaw, flushFlags, setFlagBits, cond,
  FLAG_CF, FLAG_DF, FLAG_IF, FLAG_TF, FLAG_IOPL, FLAG_VM, FLAG_RF, FLAG_NT, FLAG_AC, FLAG_ID, FLAG_VIF, FLAG_VIP,
  getCF, cr0, CR0_TS, CR0_MP, incDecFlags,
} from './state';
import {
  fetch8, fetch16, fetch32, fetchS8, fetchImm, readE8, readE16, readE32, writeE8, writeE16, writeE32,
  rmwRead8, rmwRead16, rmwRead32, rmwWrite8, rmwWrite16, rmwWrite32, regField, isReg, dsSeg,
  readV8, readV16, readV32, writeV8, writeV16, writeV32, segRead, segWrite, readM8, readM32, writeM8, writeM32,
  push16, push32, pushV, pop16, pop32, popV, pushFast32, popFast32, hostRead, peek16, peek32, adjustSP, readEA16, readEA32,
} from './decode';
import { readLin8, readLin16, readLin32, writeLin8, writeLin16, writeLin32, TLB_VALID, TLB_RAM, TLB_SUP_W, TLB_USER_W, TLB_USER_R } from './mmu';
import { loadSeg, farTransfer, farReturn, iret, deliverInterrupt, INT_SOFT, INT_SOFT_EXC, INT_ICEBP, ioAllowed, intRedirected, v86Redirect, vmeFlags16, vmeLoadFlags } from './system';
import { alu, ALU_CMP } from './ops-alu';
import { syncNow, endChunk } from './steps';
import { fpuWaitCheck } from './fpu';
import { dbgHit } from './debug';

@external("env", "ioRead") declare function hostIoRead(port: u32, size: u32): u32;
@external("env", "ioWrite") declare function hostIoWrite(port: u32, size: u32, value: u32): void;

// ---- MOV ----------------------------------------------------------------------------------
@inline export function MOV_EbGb(): void { writeE8(reg8(regField())); }
@inline export function MOV_EvGv16(): void { writeE16(reg16(regField())); }
@inline export function MOV_EvGv32(): void { writeE32(reg32(regField())); }
@inline export function MOV_GbEb(): void { const v = readE8(); if (!fault) setReg8(regField(), v); }
@inline export function MOV_GvEv16(): void { const v = readE16(); if (!fault) setReg16(regField(), v); }
@inline export function MOV_GvEv32(): void { const v = readE32(); if (!fault) setReg32(regField(), v); }
// C6/C7 (group 11): only /0 is MOV; the other reg values are reserved and raise #UD on a
// P6-class CPU (SDM Vol. 2, opcode map table A-6; /7 is XABORT/XBEGIN only with RTM).
@inline export function MOV_EbIb(): void { if (modrm & 0x38) { raiseUD(); return; } const i = fetch8(); if (!fault) writeE8(i); }
@inline export function MOV_EvIv16(): void { if (modrm & 0x38) { raiseUD(); return; } const i = fetch16(); if (!fault) writeE16(i); }
@inline export function MOV_EvIv32(): void { if (modrm & 0x38) { raiseUD(); return; } const i = fetch32(); if (!fault) writeE32(i); }
@inline export function MOV_ZbIb(r: u32): void { const i = fetch8(); if (!fault) setReg8(r, i); }
@inline export function MOV_ZvIv16(r: u32): void { const i = fetch16(); if (!fault) setReg16(r, i); }
@inline export function MOV_ZvIv32(r: u32): void { const i = fetch32(); if (!fault) setReg32(r, i); }
function moffs(): u32 { return adsize32 ? fetch32() : fetch16(); }
export function MOV_ALOb(): void { const o = moffs(); if (fault) return; const v = readM8(dsSeg(), o); if (!fault) setReg8(0, v); }
export function MOV_eAXOv16(): void { const o = moffs(); if (fault) return; const v = readV16(dsSeg(), o); if (!fault) setReg16(EAX, v); }
@inline export function MOV_eAXOv32(): void { const o = moffs(); if (fault) return; const v = readM32(dsSeg(), o); if (!fault) setReg32(EAX, v); }
export function MOV_ObAL(): void { const o = moffs(); if (!fault) writeM8(dsSeg(), o, reg8(0)); }
export function MOV_OveAX16(): void { const o = moffs(); if (!fault) writeV16(dsSeg(), o, reg16(EAX)); }
@inline export function MOV_OveAX32(): void { const o = moffs(); if (!fault) writeM32(dsSeg(), o, reg32(EAX)); }

// MOV Ew, Sreg: to a register, the 32-bit form zero-extends the selector.
@inline export function MOV_EwSw(): void {
  const s = regField();
  if (s > 5) { raiseUD(); return; }
  if (isReg()) { if (opsize32) setReg32(modrm & 7, segSel(s)); else setReg16(modrm & 7, segSel(s)); }
  else writeE16(segSel(s));
}
/**
 * Hold off interrupts (kind 1: STI) or interrupts and debug traps (kind 2: MOV/POP SS) for
 * the next instruction. run() runs that one instruction by itself, so the shadow covers
 * exactly it (the execute loop ends here).
 */
function setShadow(kind: u32): void {
  store<u32>(cpu + R_INT_SHADOW, kind);
  endChunk();
}
export function MOV_SwEw(): void {
  const s = regField();
  if (s == CS || s > 5) { raiseUD(); return; }
  const v = readE16(); if (fault) return;
  if (loadSeg(s, v) && s == SS) setShadow(2); // also holds off debug traps
}
@inline export function LEA16(): void { if (isReg()) { raiseUD(); return; } setReg16(regField(), eaOff); }
@inline export function LEA32(): void { if (isReg()) { raiseUD(); return; } setReg32(regField(), eaOff); }

@inline export function MOVZX_GvEb16(): void { const v = readE8(); if (!fault) setReg16(regField(), v); }
@inline export function MOVZX_GvEb32(): void { const v = readE8(); if (!fault) setReg32(regField(), v); }
@inline export function MOVZX_GvEw16(): void { const v = readE16(); if (!fault) setReg16(regField(), v); }
@inline export function MOVZX_GvEw32(): void { const v = readE16(); if (!fault) setReg32(regField(), v); }
export function MOVSX_GvEb16(): void { const v = readE8(); if (!fault) setReg16(regField(), <u32>(<i32>(<i8>v))); }
@inline export function MOVSX_GvEb32(): void { const v = readE8(); if (!fault) setReg32(regField(), <u32>(<i32>(<i8>v))); }
export function MOVSX_GvEw16(): void { const v = readE16(); if (!fault) setReg16(regField(), v); }
@inline export function MOVSX_GvEw32(): void { const v = readE16(); if (!fault) setReg32(regField(), <u32>(<i32>(<i16>v))); }

// XCHG (with memory it is implicitly locked: rmwWrite* uses compare-and-swap when LOCK is set,
// and the dispatcher marks XCHG with memory as locked).
export function XCHG_EbGb(): void {
  const d = rmwRead8(); if (fault) return;
  const r = regField(); const s = reg8(r);
  rmwWrite8(s); if (fault) return;
  setReg8(r, d);
}
export function XCHG_EvGv16(): void {
  const d = rmwRead16(); if (fault) return;
  const r = regField(); const s = reg16(r);
  rmwWrite16(s); if (fault) return;
  setReg16(r, d);
}
export function XCHG_EvGv32(): void {
  const d = rmwRead32(); if (fault) return;
  const r = regField(); const s = reg32(r);
  rmwWrite32(s); if (fault) return;
  setReg32(r, d);
}
export function XCHG_ZvAX16(r: u32): void { const t = reg16(r); setReg16(r, reg16(EAX)); setReg16(EAX, t); }
@inline export function XCHG_ZvAX32(r: u32): void { const t = reg32(r); setReg32(r, reg32(EAX)); setReg32(EAX, t); }

export function CBW(): void { setReg16(EAX, <u32>(<i32>(<i8>reg8(0)))); }
@inline export function CWDE(): void { setReg32(EAX, <u32>(<i32>(<i16>reg16(EAX)))); }
export function CWD(): void { setReg16(EDX, (reg16(EAX) & 0x8000) ? 0xffff : 0); }
@inline export function CDQ(): void { setReg32(EDX, (reg32(EAX) & 0x80000000) ? 0xffffffff : 0); }
export function XLAT(): void {
  const off = adsize32 ? reg32(EBX) + reg8(0) : (reg16(EBX) + reg8(0)) & 0xffff;
  const v = readV8(dsSeg(), off); if (!fault) setReg8(0, v);
}

// ---- stack ----------------------------------------------------------------------------------
export function PUSH_Zv16(r: u32): void { push16(reg16(r)); }
@inline export function PUSH_Zv32(r: u32): void { pushFast32(reg32(r)); } // PUSH ESP pushes the value before the push
export function POP_Zv16(r: u32): void { const v = pop16(); if (!fault) setReg16(r, v); }
@inline export function POP_Zv32(r: u32): void { const v = popFast32(); if (!fault) setReg32(r, v); }
export function PUSH_Iv16(): void { const i = fetch16(); if (!fault) push16(i); }
@inline export function PUSH_Iv32(): void { const i = fetch32(); if (!fault) pushFast32(i); }
export function PUSH_Ib16(): void { const i = fetchS8(); if (!fault) push16(i & 0xffff); }
@inline export function PUSH_Ib32(): void { const i = fetchS8(); if (!fault) pushFast32(i); }
export function PUSH_Sw16(s: u32): void { push16(segSel(s)); }
// A 32-bit push of a segment register writes only the low 16 bits on P6-class CPUs.
export function PUSH_Sw32(s: u32): void {
  const sp = stack32 ? reg32(ESP) - 4 : (reg16(ESP) - 4) & 0xffff;
  segWrite(SS, sp, 4); // the whole slot must be within the limit before anything is written
  if (fault) return;
  writeV16(SS, sp, segSel(s));
  if (fault) return;
  if (stack32) setReg32(ESP, sp); else setReg16(ESP, sp);
}
export function POP_Sw16(s: u32): void { popSeg(s, 2); }
export function POP_Sw32(s: u32): void { popSeg(s, 4); }
/**
 * POP ES/SS/DS/FS/GS: the stack pointer is incremented in the stack size of the SS the
 * value was popped from, even when the popped selector is a new SS of the other size
 * (SDM Vol. 2B POP: the operation reads and updates SP/ESP per the old SS.B).
 */
function popSeg(s: u32, size: u32): void {
  const v = size == 4 ? peek32(0) : peek16(0); if (fault) return;
  const big = stack32, esp = reg32(ESP);
  if (!loadSeg(s, v & 0xffff)) return;
  if (big) setReg32(ESP, esp + size); else setReg16(ESP, (esp + size) & 0xffff);
  if (s == SS) setShadow(2);
}
export function PUSH_Ev16(): void { const v = readE16(); if (!fault) push16(v); }
export function PUSH_Ev32(): void { const v = readE32(); if (!fault) push32(v); }
// POP Ev: the address is computed after ESP is incremented (SDM: POP).
// 8F (group 1A): only /0 is POP; the other reg values raise #UD (SDM Vol. 2, table A-6).
export function POP_Ev16(): void {
  if (modrm & 0x38) { raiseUD(); return; }
  const v = peek16(0); if (fault) return;
  const old = reg32(ESP);
  adjustSP(2);
  if (modrm < 0xc0 && eaEspBase) setEa(eaSeg, eaOff + 2); // SDM POP: ESP-based address uses the new ESP
  writeE16(v);
  if (fault) setReg32(ESP, old);
}
export function POP_Ev32(): void {
  if (modrm & 0x38) { raiseUD(); return; }
  const v = peek32(0); if (fault) return;
  const old = reg32(ESP);
  adjustSP(4);
  if (modrm < 0xc0 && eaEspBase) setEa(eaSeg, eaOff + 4); // SDM POP: ESP-based address uses the new ESP
  writeE32(v);
  if (fault) setReg32(ESP, old);
}
export function PUSHA16(): void {
  const sp0 = reg16(ESP);
  if (!stack32) {
    // Check the whole range first so a fault leaves SP unchanged.
    for (let r: u32 = 0; r < 8; r++) {
      const v = r == ESP ? sp0 : reg16(r);
      writeV16(SS, (sp0 - 2 * (r + 1)) & 0xffff, v);
      if (fault) return;
    }
    setReg16(ESP, (sp0 - 16) & 0xffff);
    return;
  }
  const esp0 = reg32(ESP);
  for (let r: u32 = 0; r < 8; r++) {
    writeV16(SS, esp0 - 2 * (r + 1), r == ESP ? esp0 & 0xffff : reg16(r));
    if (fault) return;
  }
  setReg32(ESP, esp0 - 16);
}
export function PUSHA32(): void {
  const esp0 = reg32(ESP);
  for (let r: u32 = 0; r < 8; r++) {
    const v = r == ESP ? esp0 : reg32(r);
    const sp = stack32 ? esp0 - 4 * (r + 1) : (esp0 - 4 * (r + 1)) & 0xffff;
    writeV32(SS, sp, v);
    if (fault) return;
  }
  if (stack32) setReg32(ESP, esp0 - 32); else setReg16(ESP, (esp0 - 32) & 0xffff);
}
export function POPA16(): void {
  let vals0: u32 = 0, vals1: u32 = 0, vals2: u32 = 0, vals3: u32 = 0, vals5: u32 = 0, vals6: u32 = 0, vals7: u32 = 0;
  vals7 = peek16(0); vals6 = peek16(2); vals5 = peek16(4);
  vals3 = peek16(8); vals2 = peek16(10); vals1 = peek16(12); vals0 = peek16(14);
  if (fault) return;
  setReg16(EDI, vals7); setReg16(ESI, vals6); setReg16(EBP, vals5);
  setReg16(EBX, vals3); setReg16(EDX, vals2); setReg16(ECX, vals1); setReg16(EAX, vals0);
  adjustSP(16);
}
export function POPA32(): void {
  const di = peek32(0), si = peek32(4), bp = peek32(8);
  const bx = peek32(16), dx = peek32(20), cx = peek32(24), ax = peek32(28);
  if (fault) return;
  setReg32(EDI, di); setReg32(ESI, si); setReg32(EBP, bp);
  setReg32(EBX, bx); setReg32(EDX, dx); setReg32(ECX, cx); setReg32(EAX, ax);
  adjustSP(32);
}

export function ENTER16(): void { enter(false); }
export function ENTER32(): void { enter(true); }
function enter(op32: bool): void {
  const size = fetch16(); if (fault) return;
  const level = fetch8() & 31; if (fault) return;
  const sz: u32 = op32 ? 4 : 2;
  const bp = reg32(EBP);
  let sp = stack32 ? reg32(ESP) : reg16(ESP);
  // Probe the full frame first so nothing commits on a fault.
  const need = sz * (level + 1) + size;
  const low = stack32 ? sp - need : (sp - need) & 0xffff;
  segWrite(SS, low, 1); if (fault) return;
  sp = stack32 ? sp - sz : (sp - sz) & 0xffff;
  if (op32) writeV32(SS, sp, bp); else writeV16(SS, sp, bp & 0xffff);
  if (fault) return;
  // With a 32-bit operand on a 16-bit stack the frame pointer is the whole ESP after the push
  // (its upper half kept), as the host CPU does (tools/difftest/stack16.ts), not zero-extended SP.
  const frame = op32 && !stack32 ? (reg32(ESP) & 0xffff0000) | sp : sp;
  if (level > 0) {
    let tbp = stack32 ? bp : bp & 0xffff;
    for (let i: u32 = 1; i < level; i++) {
      tbp = stack32 ? tbp - sz : (tbp - sz) & 0xffff;
      const v = op32 ? readV32(SS, tbp) : readV16(SS, tbp);
      if (fault) return;
      sp = stack32 ? sp - sz : (sp - sz) & 0xffff;
      if (op32) writeV32(SS, sp, v); else writeV16(SS, sp, v);
      if (fault) return;
    }
    sp = stack32 ? sp - sz : (sp - sz) & 0xffff;
    if (op32) writeV32(SS, sp, frame); else writeV16(SS, sp, frame);
    if (fault) return;
  }
  sp = stack32 ? sp - size : (sp - size) & 0xffff;
  if (op32) setReg32(EBP, frame); else setReg16(EBP, frame);
  if (stack32) setReg32(ESP, sp); else setReg16(ESP, sp);
}
export function LEAVE16(): void {
  const bp = stack32 ? reg32(EBP) : reg16(EBP);
  const v = readV16(SS, bp); if (fault) return;
  if (stack32) setReg32(ESP, bp + 2); else setReg16(ESP, (bp + 2) & 0xffff);
  setReg16(EBP, v);
}
export function LEAVE32(): void {
  const bp = stack32 ? reg32(EBP) : reg16(EBP);
  const v = readV32(SS, bp); if (fault) return;
  if (stack32) setReg32(ESP, bp + 4); else setReg16(ESP, (bp + 4) & 0xffff);
  setReg32(EBP, v);
}

// ---- control flow -------------------------------------------------------------------------------
/** Near jump to `target` (already truncated to the operand size) with the CS limit check. */
@inline export function jumpNear(target: u32): void {
  if (target > csLimit) { raiseGP(0); return; }
  setEip(target);
}
@inline export function JMP_Jb(): void { const d = fetchS8(); if (fault) return; jumpNear(opsize32 ? eip + d : (eip + d) & 0xffff); }
export function JMP_Jv16(): void { const d = fetch16(); if (fault) return; jumpNear((eip + d) & 0xffff); }
@inline export function JMP_Jv32(): void { const d = fetch32(); if (fault) return; jumpNear(eip + d); }
@inline export function Jcc_Jb(cc: u32): void {
  const d = fetchS8(); if (fault) return;
  if (cond(cc)) jumpNear(opsize32 ? eip + d : (eip + d) & 0xffff);
}
export function Jcc_Jv16(cc: u32): void { const d = fetch16(); if (fault) return; if (cond(cc)) jumpNear((eip + d) & 0xffff); }
@inline export function Jcc_Jv32(cc: u32): void { const d = fetch32(); if (fault) return; if (cond(cc)) jumpNear(eip + d); }
export function CALL_Jv16(): void {
  const d = fetch16(); if (fault) return;
  const t = (eip + d) & 0xffff;
  if (t > csLimit) { raiseGP(0); return; }
  push16(eip); if (!fault) setEip(t);
}
@inline export function CALL_Jv32(): void {
  const d = fetch32(); if (fault) return;
  const t = eip + d;
  if (t > csLimit) { raiseGP(0); return; }
  pushFast32(eip); if (!fault) setEip(t);
}
export function RET16(): void { const t = peek16(0); if (fault) return; if (t > csLimit) { raiseGP(0); return; } adjustSP(2); setEip(t); }
@inline export function RET32(): void {
  if (stack32) { // flat-stack fast path
    const sp = reg32(ESP);
    const h = hostRead(SS, sp, 4);
    if (h) { const t = load<u32>(h); if (t > csLimit) { raiseGP(0); return; } setReg32(ESP, sp + 4); setEip(t); return; }
  }
  const t = peek32(0); if (fault) return; if (t > csLimit) { raiseGP(0); return; } adjustSP(4); setEip(t);
}
export function RET_Iw16(): void { const n = fetch16(); if (fault) return; const t = peek16(0); if (fault) return; if (t > csLimit) { raiseGP(0); return; } adjustSP(2 + n); setEip(t); }
export function RET_Iw32(): void { const n = fetch16(); if (fault) return; const t = peek32(0); if (fault) return; if (t > csLimit) { raiseGP(0); return; } adjustSP(4 + n); setEip(t); }
export function RETF16(): void { farReturn(false, 0); }
export function RETF32(): void { farReturn(true, 0); }
export function RETF_Iw16(): void { const n = fetch16(); if (!fault) farReturn(false, n); }
export function RETF_Iw32(): void { const n = fetch16(); if (!fault) farReturn(true, n); }
export function JMPF_Ap16(): void { const o = fetch16(); if (fault) return; const s = fetch16(); if (!fault) farTransfer(s, o, false, false); }
export function JMPF_Ap32(): void { const o = fetch32(); if (fault) return; const s = fetch16(); if (!fault) farTransfer(s, o, false, true); }
export function CALLF_Ap16(): void { const o = fetch16(); if (fault) return; const s = fetch16(); if (!fault) farTransfer(s, o, true, false); }
export function CALLF_Ap32(): void { const o = fetch32(); if (fault) return; const s = fetch16(); if (!fault) farTransfer(s, o, true, true); }

function loopCount(): u32 { return adsize32 ? reg32(ECX) : reg16(ECX); }
function setLoopCount(v: u32): void { if (adsize32) setReg32(ECX, v); else setReg16(ECX, v); }
export function LOOPNE(): void { loopOp(1); }
export function LOOPE(): void { loopOp(2); }
export function LOOP(): void { loopOp(0); }
function loopOp(kind: u32): void {
  const d = fetchS8(); if (fault) return;
  const c = (loopCount() - 1) & (adsize32 ? 0xffffffff : 0xffff);
  let take = c != 0;
  if (kind == 1) take = take && !cond(4); // LOOPNE: ZF=0
  else if (kind == 2) take = take && cond(4); // LOOPE: ZF=1
  if (take) {
    const t = opsize32 ? eip + d : (eip + d) & 0xffff;
    if (t > csLimit) { raiseGP(0); return; }
    setLoopCount(c);
    setEip(t);
  } else setLoopCount(c);
}
export function JCXZ(): void {
  const d = fetchS8(); if (fault) return;
  if (loopCount() == 0) jumpNear(opsize32 ? eip + d : (eip + d) & 0xffff);
}

// Group 5 (FF): INC DEC CALL CALLF JMP JMPF PUSH
export function grp5Ev16(): void {
  switch (regField()) {
    case 0: case 1: { const d = rmwRead16(); if (fault) return; rmwWrite16(incDec(d, 15, regField() == 1)); return; }
    case 2: { const t = readE16(); if (fault) return; if (t > csLimit) { raiseGP(0); return; } push16(eip); if (!fault) setEip(t); return; }
    case 3: { if (isReg()) { raiseUD(); return; } const o = readEA16(0); const s = readEA16(2); if (!fault) farTransfer(s, o, true, false); return; }
    case 4: { const t = readE16(); if (!fault) jumpNear(t); return; }
    case 5: { if (isReg()) { raiseUD(); return; } const o = readEA16(0); const s = readEA16(2); if (!fault) farTransfer(s, o, false, false); return; }
    case 6: { const v = readE16(); if (!fault) push16(v); return; }
    default: raiseUD();
  }
}
@inline export function grp5Ev32(): void {
  switch (regField()) {
    case 0: case 1: { const d = rmwRead32(); if (fault) return; rmwWrite32(incDec(d, 31, regField() == 1)); return; }
    case 2: { const t = readE32(); if (fault) return; if (t > csLimit) { raiseGP(0); return; } push32(eip); if (!fault) setEip(t); return; }
    case 3: { if (isReg()) { raiseUD(); return; } const o = readEA32(0); const s = readEA16(4); if (!fault) farTransfer(s, o, true, true); return; }
    case 4: { const t = readE32(); if (!fault) jumpNear(t); return; }
    case 5: { if (isReg()) { raiseUD(); return; } const o = readEA32(0); const s = readEA16(4); if (!fault) farTransfer(s, o, false, true); return; }
    case 6: { const v = readE32(); if (!fault) push32(v); return; }
    default: raiseUD();
  }
}
export function grp4Eb(): void {
  const r = regField();
  if (r > 1) { raiseUD(); return; }
  const d = rmwRead8(); if (fault) return;
  rmwWrite8(incDec(d, 7, r == 1));
}
function incDec(a: u32, msb: u32, dec: bool): u32 { return incDecFlags(a, msb, dec); }

// INT n / INT3 / INTO / INT1 / BOUND
export function INT_Ib(): void {
  const v = fetch8(); if (fault) return;
  if (v86Mode && (cr4() & CR4_VME)) {
    // VME: the TSS's interrupt redirection bitmap decides (SDM Vol. 3B §20.3.3, table 20-2).
    const r = intRedirected(v); if (fault) return;
    if (r) { v86Redirect(v); return; }
  }
  if (v86Mode && ((getEflags() & FLAG_IOPL) >> 12) != 3) { raiseGP(0); return; }
  deliverInterrupt(v, INT_SOFT, false, 0, eip);
}
export function INT3(): void { deliverInterrupt(EXC_BP, INT_SOFT_EXC, false, 0, eip); }
export function INTO(): void { if (cond(0)) deliverInterrupt(EXC_OF, INT_SOFT_EXC, false, 0, eip); }
export function INT1(): void { deliverInterrupt(EXC_DB, INT_ICEBP, false, 0, eip); }
export function BOUND16(): void {
  if (isReg()) { raiseUD(); return; }
  const lo = readEA16(0), hi = readEA16(2); if (fault) return;
  const v = <i32>(<i16>reg16(regField()));
  if (v < <i32>(<i16>lo) || v > <i32>(<i16>hi)) raise(EXC_BR, 0, false);
}
export function BOUND32(): void {
  if (isReg()) { raiseUD(); return; }
  const lo = readEA32(0), hi = readEA32(4); if (fault) return;
  const v = <i32>reg32(regField());
  if (v < <i32>lo || v > <i32>hi) raise(EXC_BR, 0, false);
}
export function IRET16(): void { iret(false); }
export function IRET32(): void { iret(true); }

// LES LDS LSS LFS LGS
export function loadFar16(seg: u32): void {
  if (isReg()) { raiseUD(); return; }
  const o = readEA16(0), s = readEA16(2); if (fault) return;
  if (!loadSeg(seg, s)) return;
  setReg16(regField(), o);
  if (seg == SS) store<u32>(cpu + R_INT_SHADOW, 0);
}
export function loadFar32(seg: u32): void {
  if (isReg()) { raiseUD(); return; }
  const o = readEA32(0), s = readEA16(4); if (fault) return;
  if (!loadSeg(seg, s)) return;
  setReg32(regField(), o);
}

// ---- flags ---------------------------------------------------------------------------------------
export function CLC(): void { setFlagBits(FLAG_CF, false); }
export function STC(): void { setFlagBits(FLAG_CF, true); }
export function CMC(): void { const c = getCF(); setFlagBits(FLAG_CF, c == 0); }
export function CLD(): void { setFlagBits(FLAG_DF, false); }
export function STD(): void { setFlagBits(FLAG_DF, true); }
function iopl(): u32 { return (load<u32>(cpu + R_EFLAGS) & FLAG_IOPL) >> 12; }
export function CLI(): void {
  if (protMode && (v86Mode ? iopl() != 3 : cpl > iopl())) {
    if (vmeActive() || pviActive()) { setFlagBits(FLAG_VIF, false); return; }
    raiseGP(0); return;
  }
  setFlagBits(FLAG_IF, false);
}
export function STI(): void {
  if (protMode && (v86Mode ? iopl() != 3 : cpl > iopl())) {
    // VME/PVI: set VIF, unless an interrupt is pending for the monitor (VIP): then #GP(0).
    if ((vmeActive() || pviActive()) && !(load<u32>(cpu + R_EFLAGS) & FLAG_VIP)) { setFlagBits(FLAG_VIF, true); return; }
    raiseGP(0); return;
  }
  if (!(load<u32>(cpu + R_EFLAGS) & FLAG_IF)) setShadow(1);
  setFlagBits(FLAG_IF, true);
}
export function SAHF(): void {
  flushFlags();
  const f = load<u32>(cpu + R_EFLAGS);
  store<u32>(cpu + R_EFLAGS, (f & ~0xd5) | (reg8(4) & 0xd5) | 2);
}
export function LAHF(): void { setReg8(4, getEflags() & 0xff); }
export function PUSHF16(): void {
  if (v86Mode && iopl() != 3) {
    if (!vmeActive()) { raiseGP(0); return; }
    push16(vmeFlags16()); // VME: IF shows VIF, IOPL shows 3
    return;
  }
  push16(getEflags() & 0xffff);
}
export function PUSHF32(): void {
  if (v86Mode && iopl() != 3) { raiseGP(0); return; }
  push32(getEflags() & 0x00fcffff); // VM and RF read as 0
}
export function POPF16(): void {
  if (v86Mode && iopl() != 3) {
    if (!vmeActive()) { raiseGP(0); return; }
    const v = peek16(0); if (fault) return;
    if (!vmeLoadFlags(v)) return;
    adjustSP(2);
    return;
  }
  const v = peek16(0); if (fault) return;
  adjustSP(2);
  writeFlags(v, 0xffff);
}
export function POPF32(): void {
  if (v86Mode && iopl() != 3) { raiseGP(0); return; }
  const v = peek32(0); if (fault) return;
  adjustSP(4);
  writeFlags(v, 0xffffffff);
}
/** POPF rules: IOPL only at CPL 0, IF only when CPL <= IOPL, VM/RF/VIF/VIP never change. */
function writeFlags(v: u32, width: u32): void {
  const old = getEflags();
  let mask: u32 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | FLAG_TF | FLAG_DF | 0x800 | FLAG_NT | FLAG_AC | FLAG_ID;
  if (!protMode || cpl == 0) mask |= FLAG_IOPL;
  if (!protMode || v86Mode || cpl <= iopl()) mask |= FLAG_IF;
  if (v86Mode) mask &= ~FLAG_IOPL;
  mask &= width;
  const nf = (old & ~mask) | (v & mask);
  if (!(old & FLAG_IF) && (nf & FLAG_IF)) store<u32>(cpu + R_INT_SHADOW, 0);
  setEflagsRaw(nf);
}

// ---- string instructions ------------------------------------------------------------------------
// A REP loop also stops after an iteration that hit a data or I/O breakpoint: the #DB trap
// then comes between iterations, with EIP still at the instruction (SDM Vol. 3B §18.3.1.2).

@inline function siOff(): u32 { return adsize32 ? reg32(ESI) : reg16(ESI); }
@inline function diOff(): u32 { return adsize32 ? reg32(EDI) : reg16(EDI); }
function advSI(d: u32): void { if (adsize32) setReg32(ESI, reg32(ESI) + d); else setReg16(ESI, reg16(ESI) + d); }
function advDI(d: u32): void { if (adsize32) setReg32(EDI, reg32(EDI) + d); else setReg16(EDI, reg16(EDI) + d); }
function counter(): u32 { return adsize32 ? reg32(ECX) : reg16(ECX); }
function setCounter(v: u32): void { if (adsize32) setReg32(ECX, v); else setReg16(ECX, v); }
@inline function delta(size: u32): u32 { return (load<u32>(cpu + R_EFLAGS) & FLAG_DF) ? 0 - size : size; }
@inline function isRep(): bool { return (prefixes & (PFX_REP | PFX_REPNE)) != 0; }

/** Host address if [lin, lin+len) is writable RAM within one page at the current CPL, else 0. */
function fastW(lin: u32, len: u32): usize {
  if ((lin & 0xfff) + len > 0x1000) return 0;
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  const need: u32 = TLB_VALID | TLB_RAM | (cpl == 3 ? TLB_USER_W : TLB_SUP_W);
  return (e & need) == need ? <usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff) : 0;
}
function fastR(lin: u32, len: u32): usize {
  if ((lin & 0xfff) + len > 0x1000) return 0;
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  const need: u32 = TLB_VALID | TLB_RAM | (cpl == 3 ? TLB_USER_R : 0);
  return (e & need) == need ? <usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff) : 0;
}

function readSz(seg: u32, off: u32, size: u32): u32 {
  return size == 1 ? readV8(seg, off) : size == 2 ? readV16(seg, off) : readV32(seg, off);
}
function writeSz(seg: u32, off: u32, size: u32, v: u32): void {
  if (size == 1) writeV8(seg, off, v); else if (size == 2) writeV16(seg, off, v); else writeV32(seg, off, v);
}

export function MOVS(size: u32): void {
  const src = dsSeg();
  if (!isRep()) {
    const v = readSz(src, siOff(), size); if (fault) return;
    writeSz(ES, diOff(), size, v); if (fault) return;
    const d = delta(size); advSI(d); advDI(d);
    return;
  }
  let n = counter();
  if (n == 0) return;
  const d = delta(size);
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    // Bulk path: forward, both sides in RAM, no overlap hazard within the block.
    if (d == size && size <= 4) {
      const so = siOff(), dof = diOff();
      let cnt = n < budget ? n : budget;
      const sRoom: u32 = (0x1000 - ((segBase(src) + so) & 0xfff)) / size;
      const dRoom: u32 = (0x1000 - ((segBase(ES) + dof) & 0xfff)) / size;
      if (cnt > sRoom) cnt = sRoom;
      if (cnt > dRoom) cnt = dRoom;
      if (!adsize32) { const lim: u32 = (0x10000 - (so > dof ? so : dof)) / size; if (cnt > lim) cnt = lim; }
      if (cnt > 1) {
        const bytes = cnt * size;
        const sl = segRead(src, so, bytes); if (fault) return;
        const dl = segWrite(ES, dof, bytes); if (fault) return;
        const sh = fastR(sl, bytes), dh = fastW(dl, bytes);
        if (sh != 0 && dh != 0 && (dh <= sh || dh >= sh + bytes)) {
          memory.copy(dh, sh, bytes);
          advSI(bytes); advDI(bytes); n -= cnt; setCounter(n); budget -= cnt;
          continue;
        }
      }
    }
    const v = readSz(src, siOff(), size); if (fault) return;
    writeSz(ES, diOff(), size, v); if (fault) return;
    advSI(d); advDI(d); n--; setCounter(n); budget--;
  }
  if (n != 0) setEip(instrEip); // continue after an interrupt window
}

export function STOS(size: u32): void {
  const v = size == 1 ? reg8(0) : size == 2 ? reg16(EAX) : reg32(EAX);
  if (!isRep()) {
    writeSz(ES, diOff(), size, v); if (fault) return;
    advDI(delta(size));
    return;
  }
  let n = counter();
  if (n == 0) return;
  const d = delta(size);
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    if (d == size) {
      const dof = diOff();
      let cnt = n < budget ? n : budget;
      const dRoom: u32 = (0x1000 - ((segBase(ES) + dof) & 0xfff)) / size;
      if (cnt > dRoom) cnt = dRoom;
      if (!adsize32) { const lim: u32 = (0x10000 - dof) / size; if (cnt > lim) cnt = lim; }
      if (cnt > 1) {
        const bytes = cnt * size;
        const dl = segWrite(ES, dof, bytes); if (fault) return;
        const dh = fastW(dl, bytes);
        if (dh != 0) {
          if (size == 1) memory.fill(dh, <u8>v, bytes);
          else if (size == 2) { for (let i: u32 = 0; i < cnt; i++) store<u16>(dh + (i << 1), <u16>v); }
          else { for (let i: u32 = 0; i < cnt; i++) store<u32>(dh + (i << 2), v); }
          advDI(bytes); n -= cnt; setCounter(n); budget -= cnt;
          continue;
        }
      }
    }
    writeSz(ES, diOff(), size, v); if (fault) return;
    advDI(d); n--; setCounter(n); budget--;
  }
  if (n != 0) setEip(instrEip);
}

export function LODS(size: u32): void {
  const src = dsSeg();
  let n: u32 = 1;
  if (isRep()) { n = counter(); if (n == 0) return; }
  const d = delta(size);
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    const v = readSz(src, siOff(), size); if (fault) return;
    if (size == 1) setReg8(0, v); else if (size == 2) setReg16(EAX, v); else setReg32(EAX, v);
    advSI(d); n--; budget--;
    if (isRep()) setCounter(n);
  }
  if (n != 0) setEip(instrEip);
}

export function CMPS(size: u32): void {
  const src = dsSeg();
  const msb: u32 = size * 8 - 1;
  const d = delta(size);
  if (!isRep()) {
    const a = readSz(src, siOff(), size); if (fault) return;
    const b = readSz(ES, diOff(), size); if (fault) return;
    alu(ALU_CMP, a, b, msb);
    advSI(d); advDI(d);
    return;
  }
  let n = counter();
  if (n == 0) return;
  const repz = (prefixes & PFX_REP) != 0;
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    const a = readSz(src, siOff(), size); if (fault) return;
    const b = readSz(ES, diOff(), size); if (fault) return;
    alu(ALU_CMP, a, b, msb);
    advSI(d); advDI(d); n--; setCounter(n); budget--;
    if ((a == b) != repz) return;
  }
  if (n != 0) setEip(instrEip);
}

export function SCAS(size: u32): void {
  const msb: u32 = size * 8 - 1;
  const a = size == 1 ? reg8(0) : size == 2 ? reg16(EAX) : reg32(EAX);
  const d = delta(size);
  if (!isRep()) {
    const b = readSz(ES, diOff(), size); if (fault) return;
    alu(ALU_CMP, a, b, msb);
    advDI(d);
    return;
  }
  let n = counter();
  if (n == 0) return;
  const repz = (prefixes & PFX_REP) != 0;
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    const b = readSz(ES, diOff(), size); if (fault) return;
    alu(ALU_CMP, a, b, msb);
    advDI(d); n--; setCounter(n); budget--;
    if ((a == b) != repz) return;
  }
  if (n != 0) setEip(instrEip);
}

// ---- port I/O -----------------------------------------------------------------------------------------
export function ioIn(port: u32, size: u32): u32 {
  if (!ioAllowed(port, size)) return 0;
  syncNow();
  return hostIoRead(port & 0xffff, size);
}
export function ioOut(port: u32, size: u32, v: u32): void {
  if (!ioAllowed(port, size)) return;
  syncNow();
  hostIoWrite(port & 0xffff, size, v);
}
export function IN_ALIb(): void { const p = fetch8(); if (fault) return; const v = ioIn(p, 1); if (!fault) setReg8(0, v); }
export function IN_eAXIb16(): void { const p = fetch8(); if (fault) return; const v = ioIn(p, 2); if (!fault) setReg16(EAX, v); }
export function IN_eAXIb32(): void { const p = fetch8(); if (fault) return; const v = ioIn(p, 4); if (!fault) setReg32(EAX, v); }
export function OUT_IbAL(): void { const p = fetch8(); if (!fault) ioOut(p, 1, reg8(0)); }
export function OUT_IbeAX16(): void { const p = fetch8(); if (!fault) ioOut(p, 2, reg16(EAX)); }
export function OUT_IbeAX32(): void { const p = fetch8(); if (!fault) ioOut(p, 4, reg32(EAX)); }
export function IN_ALDX(): void { const v = ioIn(reg16(EDX), 1); if (!fault) setReg8(0, v); }
export function IN_eAXDX16(): void { const v = ioIn(reg16(EDX), 2); if (!fault) setReg16(EAX, v); }
export function IN_eAXDX32(): void { const v = ioIn(reg16(EDX), 4); if (!fault) setReg32(EAX, v); }
export function OUT_DXAL(): void { ioOut(reg16(EDX), 1, reg8(0)); }
export function OUT_DXeAX16(): void { ioOut(reg16(EDX), 2, reg16(EAX)); }
export function OUT_DXeAX32(): void { ioOut(reg16(EDX), 4, reg32(EAX)); }

export function INS(size: u32): void {
  const port = reg16(EDX);
  if (!ioAllowed(port, size)) return;
  let n: u32 = 1;
  if (isRep()) { n = counter(); if (n == 0) return; }
  const d = delta(size);
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    // Check the destination before reading the port (a port read can have side effects).
    segWrite(ES, diOff(), size); if (fault) return;
    syncNow();
    const v = hostIoRead(port, size);
    writeSz(ES, diOff(), size, v); if (fault) return;
    advDI(d); n--; budget--;
    if (isRep()) setCounter(n);
  }
  if (n != 0) setEip(instrEip);
}
export function OUTS(size: u32): void {
  const port = reg16(EDX);
  if (!ioAllowed(port, size)) return;
  const src = dsSeg();
  let n: u32 = 1;
  if (isRep()) { n = counter(); if (n == 0) return; }
  const d = delta(size);
  let budget = REP_CHUNK;
  while (n != 0 && budget != 0 && dbgHit == 0) {
    const v = readSz(src, siOff(), size); if (fault) return;
    syncNow();
    hostIoWrite(port, size, v);
    advSI(d); n--; budget--;
    if (isRep()) setCounter(n);
  }
  if (n != 0) setEip(instrEip);
}

// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set; then #MF for a pending unmasked x87 exception.
export function WAIT(): void {
  if ((cr0() & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) { raise(EXC_NM, 0, false); return; }
  fpuWaitCheck();
}

export { ECX, fetchImm, isReg, EXC_UD, FLAG_VM, FLAG_RF, FLAG_VIF, FLAG_VIP, FLAG_TF, FS, GS, DS, CS, pop16, pop32, popV, pushV, rmwRead8, rmwRead16, rmwRead32, rmwWrite8, rmwWrite16, rmwWrite32, readLin8, readLin16, readLin32, writeLin8, writeLin16, writeLin32, MEMT_RAM, readE8, readE32 };

// Protected-mode machinery: descriptors, segment register loads with every protection
// check, far JMP/CALL/RET through call gates, interrupt/exception delivery through the
// IVT or IDT (interrupt, trap and task gates, privilege changes, V86), IRET, hardware task
// switches (16- and 32-bit TSS), and the I/O permission check.
// Reference: Intel SDM Vol. 2 (JMP, CALL, RET, INT n, IRET pseudo-code) and Vol. 3A ch. 5-7.

import { dbgIo, dbgCheckIo } from './debug';
import { endChunk } from './steps';
import {
  R_GDTR_BASE, R_GDTR_LIMIT, R_IDTR_BASE, R_IDTR_LIMIT, R_CR3, R_EFLAGS, R_LAST_EXC, R_LAST_EXC_CODE,
  R_LAST_EXC_EIP, R_EXC_COUNT, R_CR0, R_INT_SHADOW, R_NMI_BLOCKED,
} from '../memory-map';
import {
  cpu, cpl, protMode, v86Mode, stack32, fault, raise, clearFault, excVector, excCode, excHasCode, setDelivered,
  eip, setEip, instrEip,
  reg32, setReg32, reg16, setReg16, getEflags, setEflagsRaw, refreshMode, setCpl,
  segSel, segBase, segLimit, segAcc, setSegCache,
  ES, CS, SS, DS, FS, GS, LDTR, TR, ESP, EAX, ECX, EDX, EBX, EBP, ESI, EDI,
  ACC_A, ACC_RW, ACC_DC, ACC_CODE, ACC_S, ACC_P, ACC_DB, ACC_G,
  FLAG_TF, FLAG_IF, FLAG_DF, FLAG_NT, FLAG_RF, FLAG_VM, FLAG_IOPL, FLAG_AC, FLAG_VIF, FLAG_VIP,
  EXC_GP, EXC_NP, EXC_SS, EXC_TS, EXC_DF, EXC_PF, EXC_DE, EXC_UD,
  raiseGP, raiseNP, raiseSS, raiseTS, CR0_TS, CR0_PG, CR0_PE, cr4, CR4_VME,
} from './state';
import { sysRead8, sysRead16, sysRead32, sysWrite8, sysWrite16, sysWrite32, tlbFlushAll, setTlbMasks, writeLinAs, readLinAs, probeWrite, probeRead } from './mmu';

// ---- descriptors ------------------------------------------------------------------------
export let dLo: u32 = 0;
export let dHi: u32 = 0;

@inline export function descBase(lo: u32, hi: u32): u32 { return (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000); }
@inline export function descLimit(lo: u32, hi: u32): u32 {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return (hi & 0x800000) ? ((l << 12) | 0xfff) : l;
}
/** Access rights in our R_SEG_ACC layout: access byte in bits 0-7, flags nibble in 8-11. */
@inline export function descAcc(hi: u32): u32 { return ((hi >>> 8) & 0xff) | ((hi >>> 12) & 0xf00); }
@inline function accDpl(acc: u32): u32 { return (acc >> 5) & 3; }

/** Read the descriptor for `sel` into dLo/dHi. False if it lies outside its table (caller raises). */
export function readDesc(sel: u32): bool {
  let base: u32, limit: u32;
  if (sel & 4) {
    if ((segSel(LDTR) & 0xfffc) == 0 || !(segAcc(LDTR) & ACC_P)) return false;
    base = segBase(LDTR); limit = segLimit(LDTR);
  } else {
    base = load<u32>(cpu + R_GDTR_BASE); limit = load<u32>(cpu + R_GDTR_LIMIT);
  }
  const idx = sel & 0xfff8;
  if (idx + 7 > limit) return false;
  dLo = sysRead32(base + idx);
  dHi = sysRead32(base + idx + 4);
  return !fault;
}

function descAddr(sel: u32): u32 {
  return ((sel & 4) ? segBase(LDTR) : load<u32>(cpu + R_GDTR_BASE)) + (sel & 0xfff8);
}

/** Set the accessed bit of a code/data descriptor in memory (as the CPU does on load). */
function setAccessed(sel: u32): void {
  if (!(dHi & 0x100)) {
    dHi |= 0x100;
    sysWrite8(descAddr(sel) + 5, (dHi >>> 8) & 0xff);
  }
}

function loadFromDesc(seg: u32, sel: u32): void {
  setSegCache(seg, sel, descBase(dLo, dHi), descLimit(dLo, dHi), descAcc(dHi));
}

// ---- segment register loads (MOV, POP, LDS...) --------------------------------------------
/** Load a data/stack segment register with all protected-mode checks. False on a fault. */
export function loadSeg(seg: u32, sel: u32): bool {
  sel &= 0xffff;
  if (!protMode || v86Mode) {
    if (v86Mode) setSegCache(seg, sel, sel << 4, 0xffff, 0xf3);
    else setSegCache(seg, sel, sel << 4, segLimit(seg), realAcc(seg));
    if (seg == SS) refreshMode();
    return true;
  }
  if ((sel & 0xfffc) == 0) {
    if (seg == SS) { raiseGP(0); return false; }
    setSegCache(seg, sel, 0, 0, 0); // null: any later access faults
    return true;
  }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return false; }
  const acc = descAcc(dHi);
  const rpl = sel & 3, dpl = accDpl(acc);
  if (seg == SS) {
    if (rpl != cpl || (acc & (ACC_S | ACC_CODE | ACC_RW)) != (ACC_S | ACC_RW) || dpl != cpl) { raiseGP(sel & 0xfffc); return false; }
    if (!(acc & ACC_P)) { raiseSS(sel & 0xfffc); return false; }
  } else {
    if (!(acc & ACC_S) || (acc & (ACC_CODE | ACC_RW)) == ACC_CODE) { raiseGP(sel & 0xfffc); return false; }
    if (!(acc & ACC_CODE) || !(acc & ACC_DC)) {
      if (rpl > dpl || cpl > dpl) { raiseGP(sel & 0xfffc); return false; }
    }
    if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return false; }
  }
  setAccessed(sel);
  if (fault) return false;
  loadFromDesc(seg, sel);
  if (seg == SS) refreshMode();
  return true;
}

/** Attributes a real-mode load leaves: the old ones, but made present, readable/writable data. */
function realAcc(seg: u32): u32 {
  const a = segAcc(seg);
  if (seg == CS) return a | ACC_P | ACC_S;
  return (a & (ACC_DB | ACC_G | 0x100)) | ACC_P | ACC_S | ACC_RW | ACC_A | (a & ACC_DC & ((a & ACC_CODE) ? 0 : ACC_DC));
}

/** Load CS in real or V86 mode (far jumps, calls, returns, interrupts). */
export function loadCSReal(sel: u32, off: u32): void {
  sel &= 0xffff;
  if (v86Mode) setSegCache(CS, sel, sel << 4, 0xffff, 0xfb);
  else setSegCache(CS, sel, sel << 4, segLimit(CS), segAcc(CS) | ACC_P | ACC_S | ACC_CODE);
  setEip(off);
  refreshMode();
}

/** Commit a protected-mode CS load from the descriptor in dLo/dHi, at privilege `newCpl`. */
function commitCS(sel: u32, off: u32, newCpl: u32): void {
  setSegCache(CS, (sel & 0xfffc) | newCpl, descBase(dLo, dHi), descLimit(dLo, dHi), descAcc(dHi));
  setCpl(newCpl);
  setEip(off);
  refreshMode();
  setTlbMasks(newCpl == 3);
}

// ---- far JMP / CALL --------------------------------------------------------------------------
/** Far JMP (isCall=false) or CALL to sel:off. `op32` is the operand size. */
export function farTransfer(sel: u32, off: u32, isCall: bool, op32: bool): void {
  sel &= 0xffff;
  const retOff = eip;
  if (!protMode || v86Mode) {
    if (isCall) {
      const oldCs = segSel(CS);
      if (!pushPair(oldCs, retOff, op32)) return;
    }
    loadCSReal(sel, op32 ? off : off & 0xffff);
    return;
  }
  if ((sel & 0xfffc) == 0) { raiseGP(0); return; }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return; }
  const acc = descAcc(dHi);
  const rpl = sel & 3, dpl = accDpl(acc);
  if (acc & ACC_S) {
    if (!(acc & ACC_CODE)) { raiseGP(sel & 0xfffc); return; }
    if (acc & ACC_DC) { if (dpl > cpl) { raiseGP(sel & 0xfffc); return; } }
    else if (rpl > cpl || dpl != cpl) { raiseGP(sel & 0xfffc); return; }
    if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return; }
    const target = op32 ? off : off & 0xffff;
    if (target > descLimit(dLo, dHi)) { raiseGP(0); return; }
    const lo = dLo, hi = dHi;
    if (isCall && !pushPair(segSel(CS), retOff, op32)) return;
    dLo = lo; dHi = hi;
    setAccessed(sel);
    commitCS(sel, target, cpl);
    return;
  }
  const type = acc & 0x1f;
  switch (type) {
    case 0x04: case 0x0c: callGate(sel, acc, isCall, retOff); return; // 286 / 386 call gate
    case 0x05: { // task gate
      if (dpl < cpl || dpl < rpl) { raiseGP(sel & 0xfffc); return; }
      if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return; }
      const tss = dLo >>> 16;
      taskSwitch(tss, isCall ? TS_CALL : TS_JMP, false, 0, retOff);
      return;
    }
    case 0x01: case 0x09: { // available 286 / 386 TSS
      if (dpl < cpl || dpl < rpl) { raiseGP(sel & 0xfffc); return; }
      if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return; }
      taskSwitch(sel, isCall ? TS_CALL : TS_JMP, false, 0, retOff);
      return;
    }
    default: raiseGP(sel & 0xfffc); return;
  }
}

/** Push CS and the return offset on the current stack (both or neither). */
function pushPair(cs: u32, off: u32, op32: bool): bool {
  const size: u32 = op32 ? 4 : 2;
  const sp = stack32 ? reg32(ESP) : reg16(ESP);
  const a1 = stackAddr(sp - size), a2 = stackAddr(sp - 2 * size);
  if (!checkStackWrite(sp - 2 * size, 2 * size)) return false;
  writeStack(a1, cs, size);
  writeStack(a2, off, size);
  if (fault) return false;
  if (stack32) setReg32(ESP, sp - 2 * size); else setReg16(ESP, (sp - 2 * size) & 0xffff);
  return true;
}

@inline function stackAddr(sp: u32): u32 { return stack32 ? sp : (sp & 0xffff); }

/** Check that [sp, sp+len) is inside SS's limits and writable; raises #SS(0). */
function checkStackWrite(sp: u32, len: u32): bool {
  const a = stackAddr(sp);
  const lim = segLimit(SS), acc = segAcc(SS);
  if (!stackRangeOk(a, len, lim, acc)) { raiseSS(0); return false; }
  return probeWrite(segBase(SS) + a, len, cpl == 3);
}

function stackRangeOk(off: u32, len: u32, lim: u32, acc: u32): bool {
  const last = off + len - 1;
  const big = (acc & ACC_DB) != 0;
  if (!(acc & ACC_CODE) && (acc & ACC_DC)) { // expand-down
    const hi: u32 = big ? 0xffffffff : 0xffff;
    return off > lim && last <= hi && last >= off;
  }
  return last <= lim && last >= off;
}

function writeStack(off: u32, v: u32, size: u32): void {
  writeLinAs(segBase(SS) + off, size, v, cpl == 3);
}

function callGate(gsel: u32, gacc: u32, isCall: bool, retOff: u32): void {
  const gdpl = accDpl(gacc), rpl = gsel & 3;
  if (gdpl < cpl || gdpl < rpl) { raiseGP(gsel & 0xfffc); return; }
  if (!(gacc & ACC_P)) { raiseNP(gsel & 0xfffc); return; }
  const gate32 = (gacc & 0x08) != 0;
  const sel = dLo >>> 16;
  const off = gate32 ? ((dLo & 0xffff) | (dHi & 0xffff0000)) : (dLo & 0xffff);
  const paramCount = dHi & 0x1f;
  if ((sel & 0xfffc) == 0) { raiseGP(0); return; }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return; }
  const acc = descAcc(dHi);
  const dpl = accDpl(acc);
  if ((acc & (ACC_S | ACC_CODE)) != (ACC_S | ACC_CODE) || dpl > cpl) { raiseGP(sel & 0xfffc); return; }
  if (!isCall && !(acc & ACC_DC) && dpl != cpl) { raiseGP(sel & 0xfffc); return; }
  if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return; }
  if (off > descLimit(dLo, dHi)) { raiseGP(0); return; }
  const cLo = dLo, cHi = dHi;
  if (!isCall) { setAccessed(sel); commitCS(sel, off, cpl); return; }
  if (!(acc & ACC_DC) && dpl < cpl) {
    // Inner privilege: switch to the stack for `dpl` from the TSS, copy parameters.
    const oldSS = segSel(SS), oldESP = reg32(ESP), oldCpl = cpl;
    const oldSSBase = segBase(SS), oldStack32 = stack32;
    if (!tssStack(dpl)) return;
    const nSS = tssSS, nESP = tssESP;
    if (!checkNewSS(nSS, dpl, EXC_TS)) return;
    const ssLo = dLo, ssHi = dHi;
    const ssAcc = descAcc(ssHi);
    const nStack32 = (ssAcc & ACC_DB) != 0;
    const size: u32 = gate32 ? 4 : 2;
    const total = (4 + paramCount) * size;
    let sp = nESP;
    if (!nStack32) sp &= 0xffff;
    // Validate the new stack range.
    const newBase = descBase(ssLo, ssHi), newLim = descLimit(ssLo, ssHi);
    const start = nStack32 ? sp - total : (sp - total) & 0xffff;
    if (!stackRangeOk(start, total, newLim, ssAcc)) { raiseSS(nSS & 0xfffc); return; }
    // Read parameters from the old stack first.
    const oldSp = oldStack32 ? oldESP : oldESP & 0xffff;
    // Writes happen at privilege `dpl` (supervisor unless dpl==3, which can't be inner).
    let p = start;
    // Layout (high to low): SS, ESP, params..., CS, EIP
    const params = paramCount;
    let wr = nStack32 ? sp : sp;
    wr -= size; writeLinAs(newBase + (nStack32 ? wr : wr & 0xffff), size, oldSS, false);
    wr -= size; writeLinAs(newBase + (nStack32 ? wr : wr & 0xffff), size, gate32 ? oldESP : oldESP & 0xffff, false);
    for (let i: i32 = <i32>params - 1; i >= 0; i--) {
      const srcOff = oldStack32 ? oldSp + <u32>i * size : (oldSp + <u32>i * size) & 0xffff;
      const v = readLinAs(oldSSBase + srcOff, size, oldCpl == 3);
      if (fault) return;
      wr -= size; writeLinAs(newBase + (nStack32 ? wr : wr & 0xffff), size, v, false);
    }
    wr -= size; writeLinAs(newBase + (nStack32 ? wr : wr & 0xffff), size, segSel(CS), false);
    wr -= size; writeLinAs(newBase + (nStack32 ? wr : wr & 0xffff), size, retOff, false);
    if (fault) return;
    p = wr;
    // Commit: SS, ESP, CS, EIP, CPL.
    dLo = ssLo; dHi = ssHi;
    setAccessed(nSS);
    setSegCache(SS, (nSS & 0xfffc) | dpl, newBase, newLim, ssAcc);
    if (nStack32) setReg32(ESP, p); else setReg16(ESP, p & 0xffff);
    dLo = cLo; dHi = cHi;
    setAccessed(sel);
    commitCS(sel, off, dpl);
    return;
  }
  // Same privilege.
  if (!pushPair(segSel(CS), retOff, gate32)) return;
  dLo = cLo; dHi = cHi;
  setAccessed(sel);
  commitCS(sel, off, cpl);
}

// The TSS stack pointer for a privilege level.
let tssSS: u32 = 0;
let tssESP: u32 = 0;
function tssStack(level: u32): bool {
  const acc = segAcc(TR);
  const base = segBase(TR), lim = segLimit(TR);
  if ((acc & 0x08) != 0) { // 32-bit TSS
    const off: u32 = 4 + level * 8;
    if (off + 7 > lim) { raiseTS(segSel(TR) & 0xfffc); return false; }
    tssESP = sysRead32(base + off);
    tssSS = sysRead16(base + off + 4);
  } else {
    const off: u32 = 2 + level * 4;
    if (off + 3 > lim) { raiseTS(segSel(TR) & 0xfffc); return false; }
    tssESP = sysRead16(base + off);
    tssSS = sysRead16(base + off + 2);
  }
  return !fault;
}

/** Validate a new stack segment for privilege `dpl`; leaves its descriptor in dLo/dHi. */
function checkNewSS(sel: u32, dpl: u32, exc: u32): bool {
  if ((sel & 0xfffc) == 0) { raise(exc, sel & 0xfffc, true); return false; }
  if (!readDesc(sel)) { if (!fault) raise(exc, sel & 0xfffc, true); return false; }
  const acc = descAcc(dHi);
  if ((sel & 3) != dpl || accDpl(acc) != dpl || (acc & (ACC_S | ACC_CODE | ACC_RW)) != (ACC_S | ACC_RW)) {
    raise(exc, sel & 0xfffc, true); return false;
  }
  if (!(acc & ACC_P)) { raise(exc == EXC_TS ? EXC_SS : EXC_SS, sel & 0xfffc, true); return false; }
  return true;
}

// ---- far RET ---------------------------------------------------------------------------------
export function farReturn(op32: bool, imm: u32): void {
  const size: u32 = op32 ? 4 : 2;
  if (!protMode || v86Mode) {
    const sp = stack32 ? reg32(ESP) : reg16(ESP);
    const off = readStackVal(sp, size);
    const sel = readStackVal(sp + size, size) & 0xffff;
    if (fault) return;
    loadCSReal(sel, off);
    addSP(2 * size + imm);
    return;
  }
  const sp = stack32 ? reg32(ESP) : reg16(ESP);
  const off = readStackVal(sp, size);
  const sel = readStackVal(sp + size, size) & 0xffff;
  if (fault) return;
  const rpl = sel & 3;
  if ((sel & 0xfffc) == 0) { raiseGP(0); return; }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return; }
  const acc = descAcc(dHi);
  const dpl = accDpl(acc);
  if (rpl < cpl || (acc & (ACC_S | ACC_CODE)) != (ACC_S | ACC_CODE)) { raiseGP(sel & 0xfffc); return; }
  if ((acc & ACC_DC) ? dpl > rpl : dpl != rpl) { raiseGP(sel & 0xfffc); return; }
  if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return; }
  if (off > descLimit(dLo, dHi)) { raiseGP(0); return; }
  const cLo = dLo, cHi = dHi;
  if (rpl == cpl) {
    setAccessed(sel);
    commitCS(sel, off, cpl);
    addSP(2 * size + imm);
    return;
  }
  // Return to an outer privilege level: pop SS:ESP too.
  const base2 = sp + 2 * size + imm;
  const nESP = readStackVal(base2, size);
  const nSS = readStackVal(base2 + size, size) & 0xffff;
  if (fault) return;
  if (!checkNewSS(nSS, rpl, EXC_GP)) return;
  const ssLo = dLo, ssHi = dHi;
  dLo = cLo; dHi = cHi;
  setAccessed(sel);
  commitCS(sel, off, rpl);
  dLo = ssLo; dHi = ssHi;
  setAccessed(nSS);
  loadFromDesc(SS, nSS);
  refreshMode();
  if (stack32) setReg32(ESP, nESP + imm); else setReg16(ESP, (nESP + imm) & 0xffff);
  nullInvalidSegs();
}

function readStackVal(sp: u32, size: u32): u32 {
  const off = stackAddr(sp);
  const lim = segLimit(SS), acc = segAcc(SS);
  if (!stackRangeOk(off, size, lim, acc)) { raiseSS(0); return 0; }
  return readLinAs(segBase(SS) + off, size, cpl == 3);
}

function addSP(n: u32): void {
  if (stack32) setReg32(ESP, reg32(ESP) + n); else setReg16(ESP, (reg16(ESP) + n) & 0xffff);
}

/** After a return to an outer level: data segments the new CPL may not use become null. */
function nullInvalidSegs(): void {
  for (let s: u32 = 0; s < 6; s++) {
    if (s == CS || s == SS) continue;
    const acc = segAcc(s);
    if ((segSel(s) & 0xfffc) == 0) continue;
    const conformingCode = (acc & (ACC_CODE | ACC_DC)) == (ACC_CODE | ACC_DC);
    if (!conformingCode && accDpl(acc) < cpl) setSegCache(s, 0, 0, 0, 0);
  }
}

// ---- interrupts and exceptions -------------------------------------------------------------------
export const INT_EXT: u32 = 0; // exception or external interrupt (EXT bit set in error codes)
export const INT_SOFT: u32 = 1; // INT n: gate DPL checked
export const INT_SOFT_EXC: u32 = 2; // INT3 / INTO: gate DPL checked, not EXT
export const INT_ICEBP: u32 = 3; // INT1 (F1): like a hardware #DB, no DPL check

/**
 * Deliver interrupt `vec`. `retEip` is the EIP to push (the faulting instruction for
 * faults, the next one for traps and INT n). False if delivery itself faulted (the
 * fault is pending in `excVector`).
 */
export function deliverInterrupt(vec: u32, kind: u32, hasErr: bool, err: u32, retEip: u32): bool {
  setDelivered(true);
  const ext: u32 = (kind == INT_EXT || kind == INT_ICEBP) ? 1 : 0;
  const fl = getEflags();
  if (!protMode) {
    // Real mode: IVT entry vec*4 (IDTR still applies to its base and limit).
    const ivt = load<u32>(cpu + R_IDTR_BASE);
    if (vec * 4 + 3 > load<u32>(cpu + R_IDTR_LIMIT)) { raiseGP(vec * 8 + 2 + ext); return false; }
    const off = sysRead16(ivt + vec * 4), sel = sysRead16(ivt + vec * 4 + 2);
    if (fault) return false;
    const sp = reg16(ESP);
    // Push FLAGS, CS, IP (the 16-bit stack wraps at 64 KiB).
    const base = segBase(SS);
    if (!stackRangeOk((sp - 6) & 0xffff, 6, segLimit(SS), segAcc(SS)) && !wrapOk(sp)) { raiseSS(0); return false; }
    writeLinAs(base + ((sp - 2) & 0xffff), 2, fl, false);
    writeLinAs(base + ((sp - 4) & 0xffff), 2, segSel(CS), false);
    writeLinAs(base + ((sp - 6) & 0xffff), 2, retEip, false);
    if (fault) return false;
    setReg16(ESP, (sp - 6) & 0xffff);
    setEflagsRaw(fl & ~(FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF));
    loadCSReal(sel, off);
    return true;
  }
  // Protected mode: IDT gate.
  if (vec * 8 + 7 > load<u32>(cpu + R_IDTR_LIMIT)) { raiseGP(vec * 8 + 2 + ext); return false; }
  const gaddr = load<u32>(cpu + R_IDTR_BASE) + vec * 8;
  const gLo = sysRead32(gaddr), gHi = sysRead32(gaddr + 4);
  if (fault) return false;
  const gacc = descAcc(gHi);
  const gtype = gacc & 0x1f;
  if (gtype != 0x05 && gtype != 0x06 && gtype != 0x07 && gtype != 0x0e && gtype != 0x0f) { raiseGP(vec * 8 + 2 + ext); return false; }
  if ((kind == INT_SOFT || kind == INT_SOFT_EXC) && accDpl(gacc) < cpl) { raiseGP(vec * 8 + 2); return false; }
  if (!(gacc & ACC_P)) { raiseNP(vec * 8 + 2 + ext); return false; }
  if (gtype == 0x05) {
    return taskSwitch(gLo >>> 16, TS_INT, hasErr, err, retEip);
  }
  const gate32 = (gtype & 0x08) != 0;
  const trapGate = (gtype & 1) != 0;
  const sel = gLo >>> 16;
  const off = gate32 ? ((gLo & 0xffff) | (gHi & 0xffff0000)) : (gLo & 0xffff);
  if ((sel & 0xfffc) == 0) { raiseGP(ext); return false; }
  if (!readDesc(sel)) { if (!fault) raiseGP((sel & 0xfffc) + ext); return false; }
  const acc = descAcc(dHi);
  const dpl = accDpl(acc);
  if ((acc & (ACC_S | ACC_CODE)) != (ACC_S | ACC_CODE) || dpl > cpl) { raiseGP((sel & 0xfffc) + ext); return false; }
  if (!(acc & ACC_P)) { raiseNP((sel & 0xfffc) + ext); return false; }
  if (off > descLimit(dLo, dHi)) { raiseGP(ext); return false; }
  const cLo = dLo, cHi = dHi;
  const size: u32 = gate32 ? 4 : 2;
  const oldCs = segSel(CS);
  if (!(acc & ACC_DC) && dpl < cpl) {
    // Inter-privilege: new stack from the TSS.
    if (v86Mode && dpl != 0) { raiseGP((sel & 0xfffc) + ext); return false; }
    if (!tssStack(dpl)) return false;
    const nSS = tssSS, nESP = tssESP;
    if (!checkNewSS(nSS, dpl, EXC_TS)) { fixTSExt(ext); return false; }
    const ssLo = dLo, ssHi = dHi;
    const ssAcc = descAcc(ssHi), nBase = descBase(ssLo, ssHi), nLim = descLimit(ssLo, ssHi);
    const n32 = (ssAcc & ACC_DB) != 0;
    const count: u32 = (v86Mode ? 9 : 5) + (hasErr ? 1 : 0);
    let sp = n32 ? nESP : nESP & 0xffff;
    const start = n32 ? sp - count * size : (sp - count * size) & 0xffff;
    if (!stackRangeOk(start, count * size, nLim, ssAcc)) { raiseSS((nSS & 0xfffc) + ext); return false; }
    if (!probeWrite(nBase + start, count * size, false)) return false;
    const oldSS = segSel(SS), oldESP = reg32(ESP);
    if (v86Mode) {
      sp = pushAt(nBase, sp, n32, size, segSel(GS));
      sp = pushAt(nBase, sp, n32, size, segSel(FS));
      sp = pushAt(nBase, sp, n32, size, segSel(DS));
      sp = pushAt(nBase, sp, n32, size, segSel(ES));
    }
    sp = pushAt(nBase, sp, n32, size, oldSS);
    sp = pushAt(nBase, sp, n32, size, oldESP);
    sp = pushAt(nBase, sp, n32, size, fl);
    sp = pushAt(nBase, sp, n32, size, oldCs);
    sp = pushAt(nBase, sp, n32, size, retEip);
    if (hasErr) sp = pushAt(nBase, sp, n32, size, err);
    if (fault) return false;
    dLo = ssLo; dHi = ssHi;
    setAccessed(nSS);
    const wasV86 = v86Mode;
    setEflagsRaw(fl & ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM | (trapGate ? 0 : FLAG_IF)));
    setSegCache(SS, (nSS & 0xfffc) | dpl, nBase, nLim, ssAcc);
    if (n32) setReg32(ESP, sp); else setReg16(ESP, sp & 0xffff);
    if (wasV86) {
      setSegCache(GS, 0, 0, 0, 0); setSegCache(FS, 0, 0, 0, 0);
      setSegCache(DS, 0, 0, 0, 0); setSegCache(ES, 0, 0, 0, 0);
    }
    dLo = cLo; dHi = cHi;
    setAccessed(sel);
    commitCS(sel, off, dpl);
    return true;
  }
  if (v86Mode) { raiseGP((sel & 0xfffc) + ext); return false; }
  // Same privilege (conforming target or DPL == CPL).
  const count: u32 = 3 + (hasErr ? 1 : 0);
  let sp = stack32 ? reg32(ESP) : reg16(ESP);
  const start = stack32 ? sp - count * size : (sp - count * size) & 0xffff;
  if (!stackRangeOk(start, count * size, segLimit(SS), segAcc(SS))) { raiseSS(ext); return false; }
  if (!probeWrite(segBase(SS) + start, count * size, cpl == 3)) return false;
  const b = segBase(SS);
  sp = pushAtAs(b, sp, stack32, size, fl, cpl == 3);
  sp = pushAtAs(b, sp, stack32, size, oldCs, cpl == 3);
  sp = pushAtAs(b, sp, stack32, size, retEip, cpl == 3);
  if (hasErr) sp = pushAtAs(b, sp, stack32, size, err, cpl == 3);
  if (fault) return false;
  if (stack32) setReg32(ESP, sp); else setReg16(ESP, sp & 0xffff);
  setEflagsRaw(fl & ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM | (trapGate ? 0 : FLAG_IF)));
  dLo = cLo; dHi = cHi;
  setAccessed(sel);
  commitCS(sel, off, cpl);
  return true;
}

function fixTSExt(ext: u32): void {
  // #TS raised while validating the new stack carries the EXT bit.
  if (fault && excHasCode && ext) { const v = excVector, c = excCode; clearFault(); raise(v, c | ext, true); }
}

function wrapOk(sp: u32): bool {
  // Real mode 16-bit stack that wraps around 64 KiB is fine as long as the limit is 0xFFFF.
  return segLimit(SS) >= 0xffff && sp < 6;
}

function pushAt(base: u32, sp: u32, big: bool, size: u32, v: u32): u32 {
  const n = big ? sp - size : (sp - size) & 0xffff;
  writeLinAs(base + n, size, v, false);
  return n;
}
function pushAtAs(base: u32, sp: u32, big: bool, size: u32, v: u32, user: bool): u32 {
  const n = big ? sp - size : (sp - size) & 0xffff;
  writeLinAs(base + n, size, v, user);
  return n;
}

// ---- IRET ----------------------------------------------------------------------------------------
export function iret(op32: bool): void {
  // IRET ends NMI blocking, even when it faults (SDM Vol. 3A §6.7.1): a pending NMI is taken
  // at the next boundary (the IRET's target, or the fault handler's first instruction).
  if (load<u32>(cpu + R_NMI_BLOCKED)) { store<u32>(cpu + R_NMI_BLOCKED, 0); endChunk(); }
  const size: u32 = op32 ? 4 : 2;
  const fl = getEflags();
  if (!protMode) {
    const sp = reg16(ESP) | (stack32 ? reg32(ESP) & 0xffff0000 : 0);
    const nip = readStackVal(sp, size);
    const ncs = readStackVal(sp + size, size) & 0xffff;
    const nfl = readStackVal(sp + 2 * size, size);
    if (fault) return;
    if (op32 && nip > 0xffff && segLimit(CS) <= 0xffff) { raiseGP(0); return; }
    loadCSReal(ncs, nip);
    addSP(3 * size);
    const keep: u32 = op32 ? (FLAG_VM | FLAG_VIF | FLAG_VIP) : 0xffff0000;
    setEflagsRaw((nfl & ~keep) | (fl & keep));
    return;
  }
  if (v86Mode) {
    if (((fl & FLAG_IOPL) >> 12) != 3) {
      // VME: a 16-bit IRET works on VIF (as POPF does); a 32-bit one still raises #GP(0).
      if (op32 || !(cr4() & CR4_VME)) { raiseGP(0); return; }
      const sp = reg16(ESP);
      const nip = readStackVal(sp, 2), ncs = readStackVal(sp + 2, 2), nfl = readStackVal(sp + 4, 2);
      if (fault) return;
      if ((nfl & FLAG_TF) || ((nfl & FLAG_IF) && (fl & FLAG_VIP))) { raiseGP(0); return; }
      loadCSReal(ncs, nip);
      addSP(6);
      vmeLoadFlags(nfl);
      return;
    }
    const sp = stack32 ? reg32(ESP) : reg16(ESP);
    const nip = readStackVal(sp, size);
    const ncs = readStackVal(sp + size, size) & 0xffff;
    const nfl = readStackVal(sp + 2 * size, size);
    if (fault) return;
    if (nip > 0xffff) { raiseGP(0); return; }
    loadCSReal(ncs, nip);
    addSP(3 * size);
    // IOPL (and VM, VIP, VIF) are not changed from V86 mode.
    const keep: u32 = FLAG_IOPL | FLAG_VM | FLAG_VIF | FLAG_VIP | (op32 ? 0 : 0xffff0000);
    setEflagsRaw((nfl & ~keep) | (fl & keep));
    return;
  }
  if (fl & FLAG_NT) {
    // Task return through the back link.
    const link = sysRead16(segBase(TR));
    if (fault) return;
    taskSwitch(link, TS_IRET, false, 0, eip);
    return;
  }
  const sp = stack32 ? reg32(ESP) : reg16(ESP);
  const nip = readStackVal(sp, size);
  const ncs = readStackVal(sp + size, size) & 0xffff;
  const nfl = readStackVal(sp + 2 * size, size);
  if (fault) return;
  if (op32 && (nfl & FLAG_VM) && cpl == 0) { iretToV86(sp, nip, ncs, nfl); return; }
  const rpl = ncs & 3;
  if ((ncs & 0xfffc) == 0) { raiseGP(0); return; }
  if (!readDesc(ncs)) { if (!fault) raiseGP(ncs & 0xfffc); return; }
  const acc = descAcc(dHi);
  const dpl = accDpl(acc);
  if (rpl < cpl || (acc & (ACC_S | ACC_CODE)) != (ACC_S | ACC_CODE)) { raiseGP(ncs & 0xfffc); return; }
  if ((acc & ACC_DC) ? dpl > rpl : dpl != rpl) { raiseGP(ncs & 0xfffc); return; }
  if (!(acc & ACC_P)) { raiseNP(ncs & 0xfffc); return; }
  const target = op32 ? nip : nip & 0xffff;
  if (target > descLimit(dLo, dHi)) { raiseGP(0); return; }
  const cLo = dLo, cHi = dHi;
  const oldCpl = cpl;
  // Which flags may change: IOPL only at CPL 0, IF only when CPL <= IOPL; VM/VIF/VIP never here.
  let mask: u32 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | FLAG_TF | FLAG_DF | 0x800 | FLAG_NT;
  if (op32) mask |= FLAG_RF | FLAG_AC | 0x200000; // RF, AC, ID
  if (oldCpl == 0) mask |= FLAG_IOPL;
  if (oldCpl <= ((fl & FLAG_IOPL) >> 12)) mask |= FLAG_IF;
  if (op32 && oldCpl == 0) mask |= FLAG_VIF | FLAG_VIP;
  if (rpl == cpl) {
    setAccessed(ncs);
    commitCS(ncs, target, cpl);
    addSP(3 * size);
    setEflagsRaw((fl & ~mask) | (nfl & mask));
    return;
  }
  // Return to an outer level.
  const nESP = readStackVal(sp + 3 * size, size);
  const nSS = readStackVal(sp + 4 * size, size) & 0xffff;
  if (fault) return;
  if (!checkNewSS(nSS, rpl, EXC_GP)) return;
  const ssLo = dLo, ssHi = dHi;
  dLo = cLo; dHi = cHi;
  setAccessed(ncs);
  commitCS(ncs, target, rpl);
  setEflagsRaw((fl & ~mask) | (nfl & mask));
  dLo = ssLo; dHi = ssHi;
  setAccessed(nSS);
  loadFromDesc(SS, nSS);
  refreshMode();
  if (stack32) setReg32(ESP, nESP); else setReg16(ESP, nESP & 0xffff);
  nullInvalidSegs();
}

function iretToV86(sp: u32, nip: u32, ncs: u32, nfl: u32): void {
  const vals0 = readStackVal(sp + 12, 4); // ESP
  const vSS = readStackVal(sp + 16, 4);
  const vES = readStackVal(sp + 20, 4);
  const vDS = readStackVal(sp + 24, 4);
  const vFS = readStackVal(sp + 28, 4);
  const vGS = readStackVal(sp + 32, 4);
  if (fault) return;
  setEflagsRaw(nfl | FLAG_VM);
  setSegCache(CS, ncs & 0xffff, (ncs & 0xffff) << 4, 0xffff, 0xfb);
  setSegCache(SS, vSS & 0xffff, (vSS & 0xffff) << 4, 0xffff, 0xf3);
  setSegCache(ES, vES & 0xffff, (vES & 0xffff) << 4, 0xffff, 0xf3);
  setSegCache(DS, vDS & 0xffff, (vDS & 0xffff) << 4, 0xffff, 0xf3);
  setSegCache(FS, vFS & 0xffff, (vFS & 0xffff) << 4, 0xffff, 0xf3);
  setSegCache(GS, vGS & 0xffff, (vGS & 0xffff) << 4, 0xffff, 0xf3);
  setCpl(3);
  refreshMode();
  setTlbMasks(true);
  setReg32(ESP, vals0);
  setEip(nip & 0xffff);
}

// ---- task switch -----------------------------------------------------------------------------------
export const TS_JMP: u32 = 0;
export const TS_CALL: u32 = 1;
export const TS_IRET: u32 = 2;
export const TS_INT: u32 = 3;

/** Switch to the task whose TSS selector is `sel` (SDM Vol. 3A 7.3). */
export function taskSwitch(sel: u32, source: u32, hasErr: bool, err: u32, retEip: u32): bool {
  sel &= 0xffff;
  if (sel & 4) { raiseGP(sel & 0xfffc); return false; } // TSS must be in the GDT
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return false; }
  const nLo = dLo, nHi = dHi;
  const acc = descAcc(nHi);
  const type = acc & 0x1f;
  if (source == TS_IRET) {
    if (type != 0x03 && type != 0x0b) { raiseTS(sel & 0xfffc); return false; } // must be busy
  } else if (type != 0x01 && type != 0x09) { raiseGP(sel & 0xfffc); return false; } // must be available
  if (!(acc & ACC_P)) { raiseNP(sel & 0xfffc); return false; }
  const new32 = (type & 0x08) != 0;
  const nBase = descBase(nLo, nHi), nLim = descLimit(nLo, nHi);
  const minLim: u32 = new32 ? 0x67 : 0x2b;
  if (nLim < minLim) { raiseTS(sel & 0xfffc); return false; }
  const oldSel = segSel(TR), oBase = segBase(TR), oAcc = segAcc(TR);
  const old32 = (oAcc & 0x08) != 0;
  // Make sure both TSSes are accessible before changing anything.
  if (!probeWrite(oBase, old32 ? 0x68 : 0x2c, false)) return false;
  if (!probeRead(nBase, new32 ? 0x68 : 0x2c, false)) return false;
  let fl = getEflags();
  if (source == TS_IRET) fl &= ~FLAG_NT;
  // Save the current state into the old TSS.
  if (old32) {
    sysWrite32(oBase + 0x20, retEip);
    sysWrite32(oBase + 0x24, fl);
    for (let r: u32 = 0; r < 8; r++) sysWrite32(oBase + 0x28 + r * 4, reg32(r));
    for (let s: u32 = 0; s < 6; s++) sysWrite16(oBase + 0x48 + s * 4, segSel(s));
  } else {
    sysWrite16(oBase + 0x0e, retEip);
    sysWrite16(oBase + 0x10, fl);
    for (let r: u32 = 0; r < 8; r++) sysWrite16(oBase + 0x12 + r * 2, reg16(r));
    sysWrite16(oBase + 0x22, segSel(ES)); sysWrite16(oBase + 0x24, segSel(CS));
    sysWrite16(oBase + 0x26, segSel(SS)); sysWrite16(oBase + 0x28, segSel(DS));
  }
  if (fault) return false;
  // Old task's busy bit: cleared for JMP and IRET.
  if (source == TS_JMP || source == TS_IRET) {
    if (readDesc(oldSel)) { sysWrite8(descAddr(oldSel) + 5, ((dHi >>> 8) & 0xff) & ~0x02); }
    if (fault) return false;
  }
  // Read the new task's state.
  let nEip: u32, nFl: u32, nCr3: u32 = 0, nLdt: u32;
  const nRegs0 = nBase; // registers read below
  if (new32) {
    nCr3 = sysRead32(nBase + 0x1c);
    nEip = sysRead32(nBase + 0x20);
    nFl = sysRead32(nBase + 0x24);
    nLdt = sysRead16(nBase + 0x60);
  } else {
    nEip = sysRead16(nBase + 0x0e);
    nFl = sysRead16(nBase + 0x10);
    nLdt = sysRead16(nBase + 0x2a);
  }
  const nSegs0 = new32 ? nBase + 0x48 : nBase + 0x22;
  if (fault) return false;
  if (source == TS_CALL || source == TS_INT) {
    sysWrite16(nBase, oldSel); // back link
    nFl |= FLAG_NT;
  }
  // New task's busy bit: set unless returning (already busy).
  if (source != TS_IRET) {
    sysWrite8(descAddr(sel) + 5, ((nHi >>> 8) & 0xff) | 0x02);
  }
  if (fault) return false;
  // Commit: TR, CR3, registers, flags, then segment selectors.
  const busyHi = nHi | 0x200;
  setSegCache(TR, sel, nBase, nLim, descAcc(busyHi));
  store<u32>(cpu + R_CR0, load<u32>(cpu + R_CR0) | CR0_TS);
  if (new32 && (load<u32>(cpu + R_CR0) & CR0_PG)) {
    store<u32>(cpu + R_CR3, nCr3);
    tlbFlushAll(true);
  }
  if (new32) {
    for (let r: u32 = 0; r < 8; r++) setReg32(r, sysRead32(nRegs0 + 0x28 + r * 4));
  } else {
    for (let r: u32 = 0; r < 8; r++) setReg16(r, sysRead16(nRegs0 + 0x12 + r * 2));
    nFl = (nFl & 0xffff) | (fl & 0xffff0000 & ~(FLAG_VM | FLAG_RF));
  }
  const stride: u32 = new32 ? 4 : 2; // selector slots: 32-bit TSS dwords, 16-bit TSS words
  const selES = sysRead16(nSegs0), selCS = sysRead16(nSegs0 + stride);
  const selSS = sysRead16(nSegs0 + 2 * stride), selDS = sysRead16(nSegs0 + 3 * stride);
  const selFS = new32 ? sysRead16(nSegs0 + 16) : 0;
  const selGS = new32 ? sysRead16(nSegs0 + 20) : 0;
  if (fault) return false;
  setEflagsRaw(nFl | 2);
  // Selectors are loaded first without checks (so a later fault is reported in the new task).
  const vm = (nFl & FLAG_VM) != 0 && new32;
  setSegCache(ES, selES, vm ? selES << 4 : 0, vm ? 0xffff : 0, vm ? 0xf3 : 0);
  setSegCache(CS, selCS, vm ? selCS << 4 : 0, vm ? 0xffff : 0, vm ? 0xfb : 0);
  setSegCache(SS, selSS, vm ? selSS << 4 : 0, vm ? 0xffff : 0, vm ? 0xf3 : 0);
  setSegCache(DS, selDS, vm ? selDS << 4 : 0, vm ? 0xffff : 0, vm ? 0xf3 : 0);
  setSegCache(FS, selFS, vm ? selFS << 4 : 0, vm ? 0xffff : 0, vm ? 0xf3 : 0);
  setSegCache(GS, selGS, vm ? selGS << 4 : 0, vm ? 0xffff : 0, vm ? 0xf3 : 0);
  setEip(nEip);
  setCpl(vm ? 3 : selCS & 3);
  refreshMode();
  setTlbMasks(cpl == 3);
  // LDT
  if ((nLdt & 0xfffc) != 0) {
    if ((nLdt & 4) || !readDesc(nLdt) || (descAcc(dHi) & 0x1f) != 0x02) { if (!fault) raiseTS(nLdt & 0xfffc); return false; }
    if (!(descAcc(dHi) & ACC_P)) { raiseTS(nLdt & 0xfffc); return false; }
    setSegCache(LDTR, nLdt, descBase(dLo, dHi), descLimit(dLo, dHi), descAcc(dHi));
  } else setSegCache(LDTR, 0, 0, 0, 0);
  if (vm) { setTlbMasks(true); return pushTaskErr(hasErr, err); }
  // CS
  const ncpl = selCS & 3;
  if ((selCS & 0xfffc) == 0 || !readDesc(selCS)) { if (!fault) raiseTS(selCS & 0xfffc); return false; }
  let a = descAcc(dHi);
  if ((a & (ACC_S | ACC_CODE)) != (ACC_S | ACC_CODE)) { raiseTS(selCS & 0xfffc); return false; }
  if ((a & ACC_DC) ? accDpl(a) > ncpl : accDpl(a) != ncpl) { raiseTS(selCS & 0xfffc); return false; }
  if (!(a & ACC_P)) { raiseNP(selCS & 0xfffc); return false; }
  setAccessed(selCS);
  commitCS(selCS, nEip, ncpl);
  // SS
  if (!checkNewSS(selSS, ncpl, EXC_TS)) return false;
  setAccessed(selSS);
  loadFromDesc(SS, selSS);
  refreshMode();
  // Data segments
  if (!taskLoadData(ES, selES) || !taskLoadData(DS, selDS) || !taskLoadData(FS, selFS) || !taskLoadData(GS, selGS)) return false;
  return pushTaskErr(hasErr, err);
}

function pushTaskErr(hasErr: bool, err: u32): bool {
  if (!hasErr) return true;
  const size: u32 = (segAcc(CS) & ACC_DB) ? 4 : 2;
  const sp = stack32 ? reg32(ESP) : reg16(ESP);
  const n = stack32 ? sp - size : (sp - size) & 0xffff;
  if (!stackRangeOk(n, size, segLimit(SS), segAcc(SS))) { raiseSS(0); return false; }
  writeLinAs(segBase(SS) + n, size, err, cpl == 3);
  if (fault) return false;
  if (stack32) setReg32(ESP, n); else setReg16(ESP, n);
  return true;
}

function taskLoadData(seg: u32, sel: u32): bool {
  if ((sel & 0xfffc) == 0) { setSegCache(seg, sel, 0, 0, 0); return true; }
  if (!readDesc(sel)) { if (!fault) raiseTS(sel & 0xfffc); return false; }
  const a = descAcc(dHi);
  if (!(a & ACC_S) || (a & (ACC_CODE | ACC_RW)) == ACC_CODE) { raiseTS(sel & 0xfffc); return false; }
  if (!(a & ACC_CODE) || !(a & ACC_DC)) {
    if ((sel & 3) > accDpl(a) || cpl > accDpl(a)) { raiseTS(sel & 0xfffc); return false; }
  }
  if (!(a & ACC_P)) { raiseNP(sel & 0xfffc); return false; }
  setAccessed(sel);
  loadFromDesc(seg, sel);
  return true;
}

// ---- virtual-8086 mode extensions (CR4.VME) ---------------------------------------------------
/** The FLAGS image a V86 program sees under VME: IF ← VIF, IOPL = 3. */
export function vmeFlags16(): u32 {
  const f = getEflags();
  return (f & 0xffff & ~FLAG_IF) | FLAG_IOPL | ((f & FLAG_VIF) ? FLAG_IF : 0);
}
/**
 * A 16-bit POPF/IRET image under VME: #GP(0) if it sets TF, or sets IF while VIP is set;
 * else IF goes to VIF and every other FLAGS bit but IOPL and IF is loaded. False on #GP.
 */
export function vmeLoadFlags(v: u32): bool {
  const old = getEflags();
  if ((v & FLAG_TF) || ((v & FLAG_IF) && (old & FLAG_VIP))) { raiseGP(0); return false; }
  const mask: u32 = 0xffff & ~(FLAG_IF | FLAG_IOPL);
  setEflagsRaw(((old & ~mask & ~FLAG_VIF) | (v & mask) | ((v & FLAG_IF) ? FLAG_VIF : 0)) | 2);
  return true;
}
/** INT n in V86 mode with CR4.VME: is vector `v` redirected (its bit in the TSS's bitmap clear)? */
export function intRedirected(v: u32): bool {
  // The 32-byte redirection bitmap lies just below the I/O permission bitmap of a 32-bit TSS.
  const type = segAcc(TR) & 0x0f;
  if (type != 0x09 && type != 0x0b) { raiseGP(0); return false; }
  const base = segBase(TR);
  const at = sysRead16(base + 0x66) - 32 + (v >> 3);
  if (fault) return false;
  if (at > segLimit(TR) || at < 0x68 - 32) { raiseGP(0); return false; }
  const bits = sysRead8(base + at);
  if (fault) return false;
  if ((bits >> (v & 7)) & 1) return false;
  return true;
}
/**
 * A redirected INT n: like real mode, through the V86 program's vector table at linear 0,
 * pushing FLAGS (under IOPL < 3 with IF ← VIF and IOPL = 3), CS and IP on its stack; then
 * VIF (IOPL < 3) or IF (IOPL = 3) and TF are cleared (SDM Vol. 3B §20.3.3.4-5).
 */
export function v86Redirect(v: u32): void {
  const fl = getEflags();
  const iopl3 = (fl & FLAG_IOPL) == FLAG_IOPL;
  const ip = readLinAs(v * 4, 2, true), cs = readLinAs(v * 4 + 2, 2, true);
  if (fault) return;
  const sp = reg16(ESP);
  const image = iopl3 ? fl & 0xffff : vmeFlags16();
  const base = segBase(SS);
  writeLinAs(base + ((sp - 2) & 0xffff), 2, image, true);
  writeLinAs(base + ((sp - 4) & 0xffff), 2, segSel(CS), true);
  writeLinAs(base + ((sp - 6) & 0xffff), 2, eip, true);
  if (fault) return;
  setReg16(ESP, (sp - 6) & 0xffff);
  setEflagsRaw(fl & ~(FLAG_TF | (iopl3 ? FLAG_IF : FLAG_VIF)));
  loadCSReal(cs, ip);
}

// ---- I/O permission ---------------------------------------------------------------------------
/** May the current code access ports [port, port+size)? Raises #GP(0) if not. */
export function ioAllowed(port: u32, size: u32): bool {
  if (!ioPermitted(port, size)) return false;
  if (dbgIo) dbgCheckIo(port, size); // an I/O breakpoint (CR4.DE) traps after the instruction
  return true;
}
function ioPermitted(port: u32, size: u32): bool {
  if (!protMode) return true;
  const iopl = (getEflags() & FLAG_IOPL) >> 12;
  if (!v86Mode && cpl <= iopl) return true;
  // Consult the I/O permission bitmap of a 32-bit TSS.
  const acc = segAcc(TR);
  const type = acc & 0x0f;
  if ((type != 0x09 && type != 0x0b) || segLimit(TR) < 0x67) { raiseGP(0); return false; }
  const base = segBase(TR);
  const mapOff = sysRead16(base + 0x66);
  if (fault) return false;
  const byteOff = mapOff + (port >> 3);
  if (byteOff + 1 > segLimit(TR)) { raiseGP(0); return false; }
  const bits = sysRead16(base + byteOff);
  if (fault) return false;
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) { raiseGP(0); return false; }
  return true;
}

// ---- LLDT / LTR / descriptor table loads ------------------------------------------------------
export function lldt(sel: u32): void {
  sel &= 0xffff;
  if ((sel & 0xfffc) == 0) { setSegCache(LDTR, sel, 0, 0, 0); return; }
  if (sel & 4) { raiseGP(sel & 0xfffc); return; }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return; }
  const a = descAcc(dHi);
  if ((a & 0x1f) != 0x02) { raiseGP(sel & 0xfffc); return; }
  if (!(a & ACC_P)) { raiseNP(sel & 0xfffc); return; }
  setSegCache(LDTR, sel, descBase(dLo, dHi), descLimit(dLo, dHi), a);
}

export function ltr(sel: u32): void {
  sel &= 0xffff;
  if ((sel & 0xfffc) == 0 || (sel & 4)) { raiseGP(sel & 0xfffc); return; }
  if (!readDesc(sel)) { if (!fault) raiseGP(sel & 0xfffc); return; }
  const a = descAcc(dHi);
  const t = a & 0x1f;
  if (t != 0x01 && t != 0x09) { raiseGP(sel & 0xfffc); return; }
  if (!(a & ACC_P)) { raiseNP(sel & 0xfffc); return; }
  sysWrite8(descAddr(sel) + 5, ((dHi >>> 8) & 0xff) | 0x02); // mark busy
  if (fault) return;
  setSegCache(TR, sel, descBase(dLo, dHi), descLimit(dLo, dHi), a | 0x02);
}

// ---- exception bookkeeping ------------------------------------------------------------------------
export function recordException(vec: u32, code: u32, at: u32): void {
  store<u32>(cpu + R_LAST_EXC, vec);
  store<u32>(cpu + R_LAST_EXC_CODE, code);
  store<u32>(cpu + R_LAST_EXC_EIP, at);
  store<u32>(cpu + R_EXC_COUNT, load<u32>(cpu + R_EXC_COUNT) + 1);
}

export { EXC_DF, EXC_PF, EXC_DE, EXC_UD, EXC_GP, EXC_NP, EXC_SS, EXC_TS, R_INT_SHADOW, R_EFLAGS, CR0_PE, EAX, ECX, EDX, EBX, EBP, ESI, EDI, instrEip };

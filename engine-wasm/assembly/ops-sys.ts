// System instructions: descriptor tables, control/debug registers, MSRs, CPUID, TSC,
// SYSENTER/SYSEXIT, LAR/LSL/VERR/VERW/ARPL, HLT, CMPXCHG8B.

import { dbgRefresh, dbgReport, DR7_GD, DR6_BD, DR6_FIXED } from './debug';
import {
  R_GDTR_BASE, R_GDTR_LIMIT, R_IDTR_BASE, R_IDTR_LIMIT, R_CR0, R_CR2, R_CR3, R_CR4, R_DR, R_EFER,
  R_SYSENTER_CS, R_SYSENTER_ESP, R_SYSENTER_EIP, R_TSC_OFFSET, R_APIC_BASE, R_PAT, R_MISC_ENABLE,
  R_MTRR, R_ICOUNT, R_HALTED, R_CPUID_FLAGS, CPUIDF_APIC, CPUIDF_HYPERVISOR, R_XEN_MSR, R_EXIT_VALUE, R_VCPU_ID,
  R_EFLAGS, CTRL_BASE, CTRL_NR_VCPUS, CTRL_TSC_MAX,
} from '../memory-map';
import {
  cpu, modrm, fault, opsize32, adsize32, cpl, protMode, v86Mode, eip, setEip, raise, raiseGP, raiseUD, EXC_DB,
  reg32, setReg32, reg16, setReg16, EAX, ECX, EDX, EBX, ESP,
  segSel, segBase, segLimit, segAcc, setSegCache, LDTR, TR, CS, SS, eaSeg, eaOff,
  refreshMode, setCpl, getEflags, setEflagsRaw, setCFOnly, flushFlags, FLAG_ZF, FLAG_IF, FLAG_VM, FLAG_RF,
  CR0_PE, CR0_PG, CR0_TS, CR0_WP, CR0_NW, CR0_CD, CR0_ET, CR4_PAE, CR4_PSE, CR4_PGE, CR4_TSD, CR4_DE, CR4_OSFXSR,
  CR4_OSXMMEXCPT, CR4_PCE, CR4_VME, CR4_PVI, CR4_MCE, EFER_NXE, cr0, cr4, ACC_S, ACC_CODE, ACC_DC, ACC_P, ACC_RW, ACC_DB,
  EXC_UD, syncEipToMemory,
} from './state';
import {
  regField, isReg, readE16, readE32, writeE16, writeE32, readEA16, readEA32, writeEA16, writeEA32,
  readV32, writeV32, segWrite, fetch8,
} from './decode';
import { tlbFlushAll, tlbFlushPage, setTlbMasks, ACC_WRITE, probeWrite, ramHostAddr } from './mmu';
import { readDesc, dLo, dHi, descBase, descLimit, descAcc, lldt, ltr, loadSeg } from './system';
import { getSteps, syncNow, stopRun } from './steps';

@external("env", "msrHost") declare function hostMsr(write: u32, index: u32, lo: u32, hi: u32): i32;
@external("env", "cpuidHost") declare function hostCpuid(leaf: u32, sub: u32): i32;
@external("env", "crWrite") declare function hostCrWrite(reg: u32, value: u32): void;
@external("env", "hypercall") declare function hostHypercall(): i32;

function needCpl0(): bool {
  if (protMode && (cpl != 0 || v86Mode)) { raiseGP(0); return false; }
  return true;
}
function needProt(): bool {
  if (!protMode || v86Mode) { raiseUD(); return false; }
  return true;
}

// ---- group 6: SLDT STR LLDT LTR VERR VERW --------------------------------------------------
export function grp6(): void {
  const r = regField();
  if (!needProt()) return;
  switch (r) {
    case 0: storeSel(segSel(LDTR)); return;
    case 1: storeSel(segSel(TR)); return;
    case 2: { if (cpl != 0) { raiseGP(0); return; } const s = readE16(); if (!fault) lldt(s); return; }
    case 3: { if (cpl != 0) { raiseGP(0); return; } const s = readE16(); if (!fault) ltr(s); return; }
    case 4: case 5: { const s = readE16(); if (!fault) verrw(s, r == 5); return; }
    default: raiseUD();
  }
}
function storeSel(v: u32): void {
  if (isReg()) { if (opsize32) setReg32(modrm & 7, v); else setReg16(modrm & 7, v); }
  else writeE16(v);
}

function setZF(on: bool): void {
  flushFlags();
  const f = load<u32>(cpu + R_EFLAGS);
  store<u32>(cpu + R_EFLAGS, on ? f | FLAG_ZF : f & ~FLAG_ZF);
}

function verrw(sel: u32, write: bool): void {
  let ok = false;
  if ((sel & 0xfffc) != 0 && readDesc(sel)) {
    const a = descAcc(dHi);
    const dpl = (a >> 5) & 3, rpl = sel & 3;
    if ((a & ACC_S) && (a & ACC_P || true)) {
      const conforming = (a & (ACC_CODE | ACC_DC)) == (ACC_CODE | ACC_DC);
      if (conforming || (dpl >= cpl && dpl >= rpl)) {
        if (write) ok = !(a & ACC_CODE) && (a & ACC_RW) != 0;
        else ok = !(a & ACC_CODE) || (a & ACC_RW) != 0;
      }
    }
  }
  if (fault) return;
  setZF(ok);
}

// LAR / LSL
export function LAR16(): void { larLsl(false, false); }
export function LAR32(): void { larLsl(false, true); }
export function LSL16(): void { larLsl(true, false); }
export function LSL32(): void { larLsl(true, true); }
function larLsl(lsl: bool, op32: bool): void {
  if (!needProt()) return;
  const sel = readE16(); if (fault) return;
  let ok = false;
  if ((sel & 0xfffc) != 0 && readDesc(sel)) {
    const a = descAcc(dHi);
    const dpl = (a >> 5) & 3, rpl = sel & 3;
    const conforming = (a & (ACC_S | ACC_CODE | ACC_DC)) == (ACC_S | ACC_CODE | ACC_DC);
    let typeOk = true;
    if (!(a & ACC_S)) {
      const t = a & 0x0f;
      // Valid system types: LAR accepts gates too; LSL only segments with limits.
      typeOk = lsl ? (t == 1 || t == 2 || t == 3 || t == 9 || t == 11)
                   : (t == 1 || t == 2 || t == 3 || t == 4 || t == 5 || t == 9 || t == 11 || t == 12);
    }
    if (typeOk && (conforming || (dpl >= cpl && dpl >= rpl))) ok = true;
  }
  if (fault) return;
  setZF(ok);
  if (!ok) return;
  const r = regField();
  if (lsl) {
    const lim = descLimit(dLo, dHi);
    if (op32) setReg32(r, lim); else setReg16(r, lim);
  } else {
    const v = dHi & 0x00f0ff00;
    if (op32) setReg32(r, v); else setReg16(r, v);
  }
}

export function ARPL(): void {
  if (!protMode || v86Mode) { raiseUD(); return; }
  const d = isReg() ? reg16(modrm & 7) : readE16(); if (fault) return;
  const s = reg16(regField());
  if ((d & 3) < (s & 3)) {
    const nv = (d & ~3) | (s & 3);
    if (isReg()) setReg16(modrm & 7, nv); else writeE16(nv);
    if (fault) return;
    setZF(true);
  } else setZF(false);
}

// ---- group 7: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG ----------------------------------------------
export function grp7(): void {
  const r = regField();
  // VMCALL (0F 01 C1) and VMMCALL (0F 01 D9): hypercalls when the board provides a hypervisor.
  if (modrm == 0xc1 || modrm == 0xd9) { hypercall(); return; }
  switch (r) {
    case 0: case 1: {
      if (isReg()) { raiseUD(); return; }
      const base = load<u32>(cpu + (r == 0 ? R_GDTR_BASE : R_IDTR_BASE));
      const lim = load<u32>(cpu + (r == 0 ? R_GDTR_LIMIT : R_IDTR_LIMIT));
      // Probe both parts before writing either.
      writeEA16(0, lim); if (fault) return;
      writeEA32(2, opsize32 ? base : base & 0x00ffffff);
      return;
    }
    case 2: case 3: {
      if (isReg()) { raiseUD(); return; }
      if (!needCpl0()) return;
      const lim = readEA16(0); const base = readEA32(2); if (fault) return;
      store<u32>(cpu + (r == 2 ? R_GDTR_LIMIT : R_IDTR_LIMIT), lim);
      store<u32>(cpu + (r == 2 ? R_GDTR_BASE : R_IDTR_BASE), opsize32 ? base : base & 0x00ffffff);
      return;
    }
    case 4: { // SMSW
      const v = cr0();
      if (isReg()) { if (opsize32) setReg32(modrm & 7, v); else setReg16(modrm & 7, v); }
      else writeE16(v & 0xffff);
      return;
    }
    case 6: { // LMSW: PE can be set but not cleared; only MP EM TS change
      if (!needCpl0()) return;
      const v = readE16(); if (fault) return;
      const old = cr0();
      const n = (old & ~0xe) | (v & 0xe) | ((old | v) & 1);
      writeCR0(n);
      return;
    }
    case 7: { // INVLPG
      if (isReg()) { raiseUD(); return; }
      if (!needCpl0()) return;
      tlbFlushPage(segBase(eaSeg) + eaOff);
      return;
    }
    default: raiseUD();
  }
}

/**
 * A hypercall traps to the host, which reads and writes the registers in shared memory
 * (EAX = op, EBX..EDI = arguments, result in EAX). Host answer: 0 done, 1 done and the vCPU
 * blocks (like HLT with interrupts enabled), -1 no hypervisor here (#UD).
 */
function hypercall(): void {
  if (!(load<u32>(cpu + R_CPUID_FLAGS) & CPUIDF_HYPERVISOR)) { raiseUD(); return; }
  syncEipToMemory();
  syncNow();
  const r = hostHypercall();
  if (r < 0) { raiseUD(); return; }
  if (r == 1) { store<u32>(cpu + R_HALTED, 1); stopRun(); } // blocked: like HLT, until an event arrives
}

// ---- control and debug registers -----------------------------------------------------------------
export function writeCR0(v: u32): bool {
  v |= CR0_ET; // hard-wired on P6
  v &= ~(0x1ffaffc0 | CR0_NW) | CR0_NW; // reserved bits read as written except truly reserved (ignored)
  if ((v & CR0_PG) && !(v & CR0_PE)) { raiseGP(0); return false; }
  if ((v & CR0_NW) && !(v & CR0_CD)) { raiseGP(0); return false; }
  const old = cr0();
  store<u32>(cpu + R_CR0, v);
  if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) { tlbFlushAll(false); }
  refreshMode();
  setTlbMasks(cpl == 3);
  if ((old ^ v) & (CR0_PG | CR0_PE)) { syncNow(); hostCrWrite(0, v); }
  return true;
}

const CR4_VALID: u32 = 0x7ff; // VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT

export function MOV_RdCd(): void {
  if (!needCpl0()) return;
  const cr = regField();
  let v: u32 = 0;
  switch (cr) {
    case 0: v = cr0(); break;
    case 2: v = load<u32>(cpu + R_CR2); break;
    case 3: v = load<u32>(cpu + R_CR3); break;
    case 4: v = cr4(); break;
    default: raiseUD(); return;
  }
  setReg32(modrm & 7, v);
}
export function MOV_CdRd(): void {
  if (!needCpl0()) return;
  const cr = regField();
  const v = reg32(modrm & 7);
  switch (cr) {
    case 0: writeCR0(v); return;
    case 2: store<u32>(cpu + R_CR2, v); return;
    case 3: store<u32>(cpu + R_CR3, v); tlbFlushAll(true); return;
    case 4: {
      if (v & ~CR4_VALID) { raiseGP(0); return; }
      const old = cr4();
      store<u32>(cpu + R_CR4, v);
      if ((old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE)) tlbFlushAll(false);
      if ((old ^ v) & CR4_DE) dbgRefresh(); // I/O breakpoints exist only with DE
      return;
    }
    default: raiseUD(); return;
  }
}
/** DR7.GD: any MOV to or from a debug register is a #DB fault with DR6.BD (SDM Vol. 3B §18.2.4). */
function debugRegsGuarded(): bool {
  if (!(load<u32>(cpu + R_DR + 7 * 4) & DR7_GD)) return false;
  dbgReport(DR6_BD);
  raise(EXC_DB, 0, false);
  return true;
}
export function MOV_RdDd(): void {
  if (!needCpl0() || debugRegsGuarded()) return;
  let d = regField();
  if ((d == 4 || d == 5) && (cr4() & CR4_DE)) { raiseUD(); return; }
  if (d == 4) d = 6; else if (d == 5) d = 7;
  let v = load<u32>(cpu + R_DR + (d << 2));
  if (d == 6) v |= 0xffff0ff0; else if (d == 7) v |= 0x400;
  setReg32(modrm & 7, v);
}
export function MOV_DdRd(): void {
  if (!needCpl0() || debugRegsGuarded()) return;
  let d = regField();
  if ((d == 4 || d == 5) && (cr4() & CR4_DE)) { raiseUD(); return; }
  if (d == 4) d = 6; else if (d == 5) d = 7;
  let v = reg32(modrm & 7);
  if (d == 6) v = (v | DR6_FIXED) & ~0x1000;
  else if (d == 7) v = (v & 0xffff2bff) | 0x400; // bits 10 (1), 12, 14, 15 (0) are fixed
  store<u32>(cpu + R_DR + (d << 2), v);
  if (d != 6 && dbgRefresh()) tlbFlushAll(false); // (dis)arm breakpoints; watched pages leave the fast paths
}
export function CLTS(): void {
  if (!needCpl0()) return;
  store<u32>(cpu + R_CR0, cr0() & ~CR0_TS);
}
export function INVD(): void { needCpl0(); }
export function WBINVD(): void { needCpl0(); }

export function HLT(): bool {
  if (!needCpl0()) return false;
  store<u32>(cpu + R_HALTED, 1);
  return true;
}

// ---- TSC, MSRs ------------------------------------------------------------------------------------------
/** Current TSC: virtual cycles (R_ICOUNT plus this run's steps) plus the guest's offset. */
export function readTsc(): u64 {
  const t = load<u64>(cpu + R_ICOUNT) + <u64>getSteps() + load<u64>(cpu + R_TSC_OFFSET);
  return load<u32>(CTRL_BASE + CTRL_NR_VCPUS) > 1 ? sharedTsc(t) : t;
}
/**
 * With several vCPUs each counts its own cycles, and their clocks differ by a bounded skew.
 * A TSC read returns at least the largest value any vCPU has read, so the TSC never goes back
 * from one vCPU to the next (Linux's TSC warp check, and any read ordered after another).
 */
function sharedTsc(t: u64): u64 {
  const p = <usize>(CTRL_BASE + CTRL_TSC_MAX);
  let seen = atomic.load<u64>(p);
  while (seen < t) {
    const was = atomic.cmpxchg<u64>(p, seen, t);
    if (was == seen) return t;
    seen = was;
  }
  return seen;
}
export function RDTSC(): void {
  if ((cr4() & CR4_TSD) && protMode && cpl != 0) { raiseGP(0); return; }
  const t = readTsc();
  setReg32(EAX, <u32>t); setReg32(EDX, <u32>(t >>> 32));
}
export function RDPMC(): void {
  if (!(cr4() & CR4_PCE) && protMode && cpl != 0) { raiseGP(0); return; }
  if (reg32(ECX) > 1) { raiseGP(0); return; }
  setReg32(EAX, 0); setReg32(EDX, 0); // counters exist but do not count
}

// Index map of R_MTRR (i64 slots).
function mtrrSlot(idx: u32): i32 {
  if (idx == 0xfe) return 0; // MTRRcap
  if (idx == 0x2ff) return 1; // MTRRdefType
  if (idx >= 0x200 && idx <= 0x20f) return 2 + <i32>(idx - 0x200); // 8 variable pairs
  if (idx == 0x250) return 18;
  if (idx == 0x258) return 19;
  if (idx == 0x259) return 20;
  if (idx >= 0x268 && idx <= 0x26f) return 21 + <i32>(idx - 0x268);
  return -1;
}

export function RDMSR(): void {
  if (!needCpl0()) return;
  const idx = reg32(ECX);
  let v: u64 = 0;
  switch (idx) {
    case 0x10: v = readTsc(); break;
    case 0x17: v = 0; break; // IA32_PLATFORM_ID
    case 0x1b: v = <u64>load<u32>(cpu + R_APIC_BASE); break;
    case 0x8b: v = 0; break; // IA32_BIOS_SIGN_ID: no microcode
    case 0x10a: v = ARCH_CAPABILITIES; break; // read-only: a write is #GP (the host knows no MSR 0x10A)
    case 0x174: v = <u64>load<u32>(cpu + R_SYSENTER_CS); break;
    case 0x175: v = <u64>load<u32>(cpu + R_SYSENTER_ESP); break;
    case 0x176: v = <u64>load<u32>(cpu + R_SYSENTER_EIP); break;
    case 0x1a0: v = <u64>load<u32>(cpu + R_MISC_ENABLE); break;
    case 0x277: v = load<u64>(cpu + R_PAT); break;
    case 0xc0000080: v = <u64>load<u32>(cpu + R_EFER); break;
    default: {
      const slot = mtrrSlot(idx);
      if (slot >= 0) { v = load<u64>(cpu + R_MTRR + <u32>slot * 8); break; }
      syncNow();
      if (hostMsr(0, idx, 0, 0) != 0) { raiseGP(0); return; }
      v = load<u64>(cpu + R_EXIT_VALUE);
    }
  }
  setReg32(EAX, <u32>v); setReg32(EDX, <u32>(v >>> 32));
}

export function WRMSR(): void {
  if (!needCpl0()) return;
  const idx = reg32(ECX), lo = reg32(EAX), hi = reg32(EDX);
  const v = (<u64>hi << 32) | <u64>lo;
  switch (idx) {
    case 0x10: store<u64>(cpu + R_TSC_OFFSET, v - (load<u64>(cpu + R_ICOUNT) + <u64>getSteps())); return;
    case 0x8b: return;
    case 0x1b: {
      store<u32>(cpu + R_APIC_BASE, lo);
      syncNow();
      hostMsr(1, idx, lo, hi); // the board moves the local APIC window
      return;
    }
    case 0x174: store<u32>(cpu + R_SYSENTER_CS, lo & 0xffff); return;
    case 0x175: store<u32>(cpu + R_SYSENTER_ESP, lo); return;
    case 0x176: store<u32>(cpu + R_SYSENTER_EIP, lo); return;
    case 0x1a0: store<u32>(cpu + R_MISC_ENABLE, lo); return;
    case 0x277: store<u64>(cpu + R_PAT, v); return;
    case 0xc0000080: {
      if (lo & ~(0x801 as u32) || hi != 0) { raiseGP(0); return; } // SCE, NXE only
      store<u32>(cpu + R_EFER, lo);
      tlbFlushAll(false);
      return;
    }
    default: {
      const slot = mtrrSlot(idx);
      if (slot == 0) { raiseGP(0); return; } // MTRRcap is read-only
      if (slot > 0) { store<u64>(cpu + R_MTRR + <u32>slot * 8, v); return; }
      syncNow();
      if (hostMsr(1, idx, lo, hi) != 0) { raiseGP(0); return; }
      store<u32>(cpu + R_XEN_MSR, lo);
    }
  }
}

// ---- CPUID ----------------------------------------------------------------------------------------------------
// An i686-class (family 6) processor that reports exactly what this core implements.
const FEAT_EDX: u32 =
  (1 << 0) | // FPU
  (1 << 1) | // VME (CR4.VME and CR4.PVI: virtual interrupt flags, INT n redirection)
  (1 << 2) | // DE (CR4.DE and DR4/DR5 aliasing)
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 6) | // PAE
  (1 << 8) | // CX8
  (1 << 11) | // SEP
  (1 << 12) | // MTRR
  (1 << 13) | // PGE
  (1 << 15) | // CMOV
  (1 << 16) | // PAT
  (1 << 24); // FXSR

/**
 * IA32_ARCH_CAPABILITIES (MSR 0x10A, announced by CPUID.(EAX=7,ECX=0):EDX[29]): this CPU does
 * not speculate, so none of the transient-execution attacks whose "not affected" bit exists
 * applies to it: RDCL_NO (Meltdown, L1TF), SSB_NO, MDS_NO, PSCHANGE_MC_NO (iTLB multihit),
 * TAA_NO, SBDR_SSDP_NO + FBSDP_NO + PSDP_NO (MMIO stale data), BHI_NO, PBRSB_NO, GDS_NO and
 * RFDS_NO. A guest kernel then leaves out the mitigations for them: Linux's page table
 * isolation (two CR3 loads, each a TLB flush, per system call and interrupt) and its CPU
 * buffer clearing (VERW) on every return to user mode (neither cost measurable time here:
 * BENCHMARKS.md). Spectre v1 and v2 have no such bit; their mitigations (retpolines,
 * barriers) stay.
 */
export const ARCH_CAPABILITIES: u64 =
  (1 << 0) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) |
  (1 << 20) | (1 << 24) | (1 << 26) | (1 << 27);
/** The highest basic CPUID leaf (leaf 7: the ARCH_CAPABILITIES bit). */
const CPUID_MAX_BASIC: u32 = 7;

export function CPUID(): void {
  let leaf = reg32(EAX);
  const sub = reg32(ECX);
  const flags = load<u32>(cpu + R_CPUID_FLAGS);
  if (leaf >= 0x40000000 && leaf < 0x50000000) {
    syncNow();
    if ((flags & CPUIDF_HYPERVISOR) && hostCpuid(leaf, sub) != 0) return; // the host filled the registers
    setCpuid(0, 0, 0, 0);
    return;
  }
  let a: u32 = 0, b: u32 = 0, c: u32 = 0, d: u32 = 0;
  // Above the maximum basic leaf, Intel CPUs return the highest basic leaf's data.
  if (leaf > CPUID_MAX_BASIC && leaf < 0x80000000) leaf = CPUID_MAX_BASIC;
  switch (leaf) {
    case 0: a = CPUID_MAX_BASIC; b = 0x756e6547; d = 0x49656e69; c = 0x6c65746e; break; // "GenuineIntel"
    case 1: {
      // Family 6, model 3, stepping 3: the first P6 signature Linux trusts SEP on (earlier
      // Pentium Pros report SEP without a working SYSENTER, so Linux clears it below 0x633).
      a = 0x0633;
      b = (load<u32>(cpu + R_VCPU_ID) << 24) | (1 << 16); // initial APIC id, 1 logical processor
      c = (flags & CPUIDF_HYPERVISOR) ? (1 << 31) : 0;
      d = FEAT_EDX | ((flags & CPUIDF_APIC) ? (1 << 9) : 0);
      break;
    }
    case 2: a = 0x00000001; b = 0; c = 0; d = 0; break; // no cache descriptors
    // Leaves 3-6 all zero: no processor serial number, no deterministic cache parameters (leaf
    // 4's first subleaf is the null type), no MONITOR/MWAIT, no thermal and power features.
    case 3: case 4: case 5: case 6: break;
    case 7: if (sub == 0) d = 1 << 29; break; // structured features: none but IA32_ARCH_CAPABILITIES
    case 0x80000000: a = 0x80000004; break;
    case 0x80000001: d = 1 << 20; break; // NX
    case 0x80000002: a = 0x616c7670; b = 0x69762062; c = 0x61757472; d = 0x3669206c; break; // "pvlab virtual i6"
    case 0x80000003: a = 0x43203638; b = 0x00005550; c = 0; d = 0; break; // "86 CPU"
    case 0x80000004: break;
    default: break; // an extended leaf above 0x80000004: zeros
  }
  setCpuid(a, b, c, d);
}
function setCpuid(a: u32, b: u32, c: u32, d: u32): void {
  setReg32(EAX, a); setReg32(EBX, b); setReg32(ECX, c); setReg32(EDX, d);
}

// ---- SYSENTER / SYSEXIT -------------------------------------------------------------------------------------
export function SYSENTER(): void {
  if (!protMode) { raiseGP(0); return; }
  const cs = load<u32>(cpu + R_SYSENTER_CS);
  if ((cs & 0xfffc) == 0) { raiseGP(0); return; }
  flushFlags();
  const f = load<u32>(cpu + R_EFLAGS);
  setEflagsRaw(f & ~(FLAG_VM | FLAG_IF | FLAG_RF));
  setSegCache(CS, cs & 0xfffc, 0, 0xffffffff, 0x9b | ACC_DB | 0x800);
  setSegCache(SS, (cs + 8) & 0xfffc, 0, 0xffffffff, 0x93 | ACC_DB | 0x800);
  setCpl(0);
  refreshMode();
  setTlbMasks(false);
  setReg32(ESP, load<u32>(cpu + R_SYSENTER_ESP));
  setEip(load<u32>(cpu + R_SYSENTER_EIP));
}
export function SYSEXIT(): void {
  const cs = load<u32>(cpu + R_SYSENTER_CS);
  if (!protMode || v86Mode || cpl != 0 || (cs & 0xfffc) == 0) { raiseGP(0); return; }
  setSegCache(CS, ((cs + 16) & 0xfffc) | 3, 0, 0xffffffff, 0xfb | ACC_DB | 0x800);
  setSegCache(SS, ((cs + 24) & 0xfffc) | 3, 0, 0xffffffff, 0xf3 | ACC_DB | 0x800);
  setCpl(3);
  refreshMode();
  setTlbMasks(true);
  setReg32(ESP, reg32(ECX));
  setEip(reg32(EDX));
}

// ---- CMPXCHG8B ---------------------------------------------------------------------------------------------
/**
 * CMPXCHG8B Mq. An 8-byte aligned operand in RAM is compared and exchanged with one 64-bit
 * wasm atomic, so it is atomic across vCPUs (with or without LOCK; Linux uses it for
 * atomic64_t and PAE page-table entries): on a mismatch the value the atomic saw goes to
 * EDX:EAX and nothing is written (the page was checked writable and marked dirty first, as
 * the write-back of a failed CMPXCHG8B would). Other operands (unaligned, MMIO, ROM) take the
 * plain read-compare-write path, which always writes the destination.
 */
export function grp9(): void {
  if (regField() != 1 || isReg()) { raiseUD(); return; }
  const lin = segWrite(eaSeg, eaOff, 8); if (fault) return;
  if (!probeWrite(lin, 8, cpl == 3)) return;
  const ea = reg32(EAX), ed = reg32(EDX);
  if ((lin & 7) == 0) {
    const h = ramHostAddr(lin, ACC_WRITE); if (fault) return;
    if (h != 0 && (h & 7) == 0) {
      const expected = (<u64>ed << 32) | <u64>ea;
      const old = atomic.cmpxchg<u64>(h, expected, (<u64>reg32(ECX) << 32) | <u64>reg32(EBX));
      flushFlags();
      const f = load<u32>(cpu + R_EFLAGS);
      if (old == expected) {
        store<u32>(cpu + R_EFLAGS, f | FLAG_ZF);
      } else {
        setReg32(EAX, <u32>old); setReg32(EDX, <u32>(old >>> 32));
        store<u32>(cpu + R_EFLAGS, f & ~FLAG_ZF);
      }
      return;
    }
  }
  const lo = readEA32(0), hi = readEA32(4); if (fault) return;
  flushFlags();
  const f = load<u32>(cpu + R_EFLAGS);
  if (lo == ea && hi == ed) {
    writeEA32(0, reg32(EBX)); writeEA32(4, reg32(ECX));
    if (fault) return;
    store<u32>(cpu + R_EFLAGS, f | FLAG_ZF);
  } else {
    writeEA32(0, lo); writeEA32(4, hi); // the destination is always written
    if (fault) return;
    setReg32(EAX, lo); setReg32(EDX, hi);
    store<u32>(cpu + R_EFLAGS, f & ~FLAG_ZF);
  }
}

export { ECX, EXC_UD, fetch8 };

// Entry points of the x86 core (one instance per vCPU; see ../CONTEXT.md).

import { dbgRefresh } from './debug';
import {
  MAP_VERSION, CTRL_BASE, CTRL_MAP_VERSION, VCPU_BASE, VCPU_STRIDE, MAX_VCPUS,
  R_EIP, R_CR0, R_CR2, R_CR3, R_CR4, R_DR, R_EFER, R_GDTR_BASE, R_GDTR_LIMIT, R_IDTR_BASE, R_IDTR_LIMIT,
  R_A20_MASK, R_HALTED, R_INT_SHADOW, R_NMI_BLOCKED, R_APIC_BASE, R_PAT, R_MTRR, R_VCPU_ID, R_CPL, R_PENDING,
  R_EXC_COUNT, R_GPR, R_EFLAGS, R_LF_MASK, R_MISC_ENABLE, R_CPUID_FLAGS, R_SIPI_VECTOR, PEND_INIT, PEND_SIPI,
} from '../memory-map';
import {
  cpu, setCpuBase, setSegCache, refreshMode, getEflags as coreGetEflags, setEflagsRaw, cpl, setEip, syncTF,
  ES, CS, SS, DS, FS, GS, LDTR, TR, deriveSeg, loadLazy, flushLazy,
} from './state';
import { tlbReset, tlbFlushAll, setTlbMasks } from './mmu';
import { fpuReset } from './fpu';
import { setJit, setJitHot, jitClear } from './jit';
export { run } from './core';
export { jitCond } from './jit';

/** Turn translation to WebAssembly on (1) or off (0). */
export function jitEnable(on: i32): void { setJit(on != 0); }
/** Translate a block once it has started this many times (tests use 1). */
export function jitThreshold(n: i32): void { setJitHot(<u32>n); }

/** Bind this instance to vCPU `id`. Returns 0, or -1 if the host's memory map differs. */
export function init(id: i32): i32 {
  if (id < 0 || <u32>id >= MAX_VCPUS) return -1;
  if (load<u32>(CTRL_BASE + CTRL_MAP_VERSION) != MAP_VERSION) return -1;
  setCpuBase(<usize>VCPU_BASE + <usize>id * <usize>VCPU_STRIDE);
  tlbReset();
  refresh();
  return 0;
}

/** Power-on / RESET state (SDM Vol. 3A 9.1.1): real mode at F000:FFF0 with CS base FFFF0000. */
export function reset(): void {
  // The vCPU's identity and the board's CPUID feature switches survive a reset.
  const id = load<u32>(cpu + R_VCPU_ID);
  const features = load<u32>(cpu + R_CPUID_FLAGS);
  // R_PENDING and R_SIPI_VECTOR are a mailbox other threads write at any time (the board
  // latches INIT and start-up IPIs there): a plain fill over them could wipe a start-up IPI
  // that arrives while this vCPU resets for the INIT before it, or its vector. Every other
  // pending bit is cleared atomically; a latched INIT or start-up IPI stays for the caller.
  memory.fill(cpu, 0, R_PENDING);
  memory.fill(cpu + R_SIPI_VECTOR + 4, 0, 0x1000 - (R_SIPI_VECTOR + 4));
  atomic.and<u32>(cpu + R_PENDING, PEND_INIT | PEND_SIPI);
  store<u32>(cpu + R_VCPU_ID, id);
  store<u32>(cpu + R_CPUID_FLAGS, features);
  for (let r: u32 = 0; r < 8; r++) store<u32>(cpu + R_GPR + r * 4, 0);
  store<u32>(cpu + 2 * 4, 0x0633); // EDX = family/model/stepping (as CPUID.1)
  store<u32>(cpu + R_EFLAGS, 2);
  store<u32>(cpu + R_LF_MASK, 0);
  store<u32>(cpu + R_CR0, 0x60000010);
  store<u32>(cpu + R_A20_MASK, 0xffffffff);
  store<u32>(cpu + R_DR + 6 * 4, 0xffff0ff0);
  store<u32>(cpu + R_DR + 7 * 4, 0x400);
  store<u32>(cpu + R_GDTR_LIMIT, 0xffff);
  store<u32>(cpu + R_IDTR_LIMIT, 0xffff);
  store<u32>(cpu + R_APIC_BASE, 0xfee00000 | 0x800 | (id == 0 ? 0x100 : 0));
  store<u64>(cpu + R_PAT, 0x0007040600070406);
  store<u64>(cpu + R_MTRR, 0x508); // MTRRcap: 8 variable ranges, fixed ranges supported, WC
  store<u32>(cpu + R_MISC_ENABLE, 1); // fast strings
  setCpl(0);
  refreshMode();
  for (let s: u32 = 0; s < 6; s++) setSegCache(s, 0, 0, 0xffff, 0x93);
  setSegCache(CS, 0xf000, 0xffff0000, 0xffff, 0x9b);
  setSegCache(LDTR, 0, 0, 0xffff, 0x82);
  setSegCache(TR, 0, 0, 0xffff, 0x8b);
  store<u32>(cpu + R_EIP, 0xfff0);
  fpuReset();
  refresh();
}

function setCpl(v: u32): void { store<u32>(cpu + R_CPL, v); }

/**
 * The host changed state behind the core's back (register edits, snapshot restore):
 * recompute derived state and drop the TLB.
 */
export function refresh(): void {
  loadLazy();
  refreshMode();
  for (let s: u32 = 0; s < 8; s++) deriveSeg(s);
  refreshMode();
  setTlbMasks(cpl == 3);
  tlbReset();
  syncTF();
  dbgRefresh();
  jitClear(); // translations are a cache: they refer to this instance's table
}

/** EFLAGS with lazy flags resolved (for the host). */
// The host may have edited the state block since the last run(): the lazy flags are taken
// from memory (loadLazy) and written back (flushLazy) around every exported access.
export function getEflags(): u32 { loadLazy(); return coreGetEflags(); }
export function setEflags(v: u32): void { loadLazy(); setEflagsRaw(v); flushLazy(); }
export function flushTlb(): void { tlbFlushAll(false); }

// The core's side of the translator (engine-ts/worker/jit/): finding translated blocks,
// counting how often untranslated ones start, asking the host to translate hot ones, calling
// them through the imported function table, and keeping translations fresh when the guest
// (or a device) writes their code page. The cache lives in this vCPU's block
// (VCPU_JIT_CACHE) and the page generations in JIT_PAGE_GEN; see ../memory-map.ts.
//
// A translated block is a function (limit: i32) → i64: it runs whole instructions, at most
// `limit` of them, and returns (retired << 32) | next EIP. It never raises a fault: before
// an instruction whose access the TLB fast path cannot do (a miss, MMIO, a code page, a
// page-crossing access) it returns, and the interpreter runs that instruction from scratch.

import {
  VCPU_JIT_CACHE, JIT_BUCKETS, JIT_ENTRY, JIT_E_PHYS, JIT_E_EIP, JIT_E_MODE, JIT_E_FN, JIT_E_HITS, JIT_E_GEN,
  JIT_FN_NEVER, JITM_USER, JIT_PAGE_GEN, R_JIT_RETIRED, R_DR,
} from '../memory-map';
import { cpu, tlb, cpl, code32, stack32, v86Mode, protMode, csBase, csLimit, flushLazy, loadLazy, cond, getCF } from './state';
import { TLB_VALID, TLB_RAM, TLB_USER_R, TLB_USER_X, TLB_NX, tlbStripWrites } from './mmu';

@external("env", "jitCompile") declare function hostJitCompile(bucket: u32, phys: u32, eip: u32, mode: u32): u32;

/** Block starts seen before a block is translated (the host sets it; tests set 1: translate everything at once). */
let jitHot: u32 = 1000;
export function setJitHot(n: u32): void { jitHot = n < 1 ? 1 : n; }

export let jitOn: bool = false;
export function setJit(on: bool): void { jitOn = on; }

/** Forget every translation of this vCPU (a new instance, a snapshot restore, host edits). */
export function jitClear(): void { memory.fill(cpu + VCPU_JIT_CACHE, 0, JIT_BUCKETS * JIT_ENTRY); }

@inline function pageGenAddr(phys: u32): usize { return <usize>JIT_PAGE_GEN + <usize>((phys >>> 12) << 2); }

/** Whether translated code exists for the physical page at `frame` (its TLB entries then get no write bits). */
@inline export function isCodePage(frame: u32): bool { return (load<u32>(pageGenAddr(frame)) & 1) != 0; }

/** A write to physical address p: make the page's translations stale (the physical write path calls this). */
@inline export function noteCodeWrite(p: u32): void {
  const a = pageGenAddr(p);
  const g = load<u32>(a);
  if (g & 1) store<u32>(a, g + 1);
}

/**
 * Run translated code for the block at `ip` if there is any (translating it when it has
 * become hot). Returns (retired << 32) | next EIP; 0 retired means nothing ran and the
 * interpreter must execute the instruction at `ip`.
 */
export function jitEnter(ip: u32, limit: u32): u64 {
  // Translated code assumes flat 32-bit protected mode code, no armed breakpoints.
  if (!jitOn || !code32 || !stack32 || !protMode || v86Mode || csBase != 0 || csLimit != 0xffffffff) return 0;
  if (load<u32>(cpu + R_DR + 7 * 4) & 0xff) return 0;
  const e = load<u32>(tlb + ((ip >>> 12) << 2));
  const user = cpl == 3;
  const need: u32 = user ? (TLB_VALID | TLB_RAM | TLB_USER_R | TLB_USER_X) : (TLB_VALID | TLB_RAM);
  if ((e & need) != need || (e & TLB_NX)) return 0;
  const phys = (e & 0xfffff000) | (ip & 0xfff);
  const mode: u32 = user ? JITM_USER : 0;
  const bucket = (phys * 0x9e3779b1) >>> 19; // JIT_BUCKETS = 8192
  const en = cpu + VCPU_JIT_CACHE + <usize>(bucket * JIT_ENTRY);
  if (load<u32>(en + JIT_E_PHYS) != phys || load<u32>(en + JIT_E_EIP) != ip || load<u32>(en + JIT_E_MODE) != mode) {
    // Another block has the bucket. A translation keeps it until others have asked for it
    // as often as a block must start to be translated (two hot blocks do not evict each other at every turn).
    const held = load<u32>(en + JIT_E_FN);
    if (held != 0 && held != JIT_FN_NEVER) {
      const asked = load<u32>(en + JIT_E_HITS) + 1;
      store<u32>(en + JIT_E_HITS, asked);
      if (asked < jitHot) return 0;
    }
    store<u32>(en + JIT_E_PHYS, phys);
    store<u32>(en + JIT_E_EIP, ip);
    store<u32>(en + JIT_E_MODE, mode);
    store<u32>(en + JIT_E_FN, 0);
    store<u32>(en + JIT_E_HITS, 0);
  }
  let fn = load<u32>(en + JIT_E_FN);
  if (fn != 0 && load<u32>(pageGenAddr(phys)) != load<u32>(en + JIT_E_GEN)) {
    // The code page was written since: count the block again before translating it anew.
    store<u32>(en + JIT_E_FN, 0);
    store<u32>(en + JIT_E_HITS, 1);
    return 0;
  }
  if (fn == JIT_FN_NEVER) return 0;
  if (fn != 0 && load<u32>(en + JIT_E_HITS) != 0) store<u32>(en + JIT_E_HITS, 0);
  if (fn == 0) {
    const hits = load<u32>(en + JIT_E_HITS) + 1;
    store<u32>(en + JIT_E_HITS, hits);
    if (hits < jitHot) return 0;
    // Mark the page before reading its code: a write from now on makes the translation stale.
    const gen = markCodePage(phys);
    fn = hostJitCompile(bucket, phys, ip, mode);
    store<u32>(en + JIT_E_FN, fn == 0 ? JIT_FN_NEVER : fn);
    store<u32>(en + JIT_E_GEN, gen);
    store<u32>(en + JIT_E_HITS, 0);
    if (fn == 0) return 0;
  }
  flushLazy();
  const r = call_indirect<u64>(fn, limit);
  loadLazy();
  const retired = r >>> 32;
  if (retired) store<u64>(cpu + R_JIT_RETIRED, load<u64>(cpu + R_JIT_RETIRED) + retired);
  return r;
}

/** Set the page's "has code" bit (stripping write access from its TLB entries). Returns the page's word. */
function markCodePage(phys: u32): u32 {
  const a = pageGenAddr(phys);
  const g = load<u32>(a);
  if (g & 1) return g;
  store<u32>(a, g | 1);
  tlbStripWrites(phys & 0xfffff000);
  return g | 1;
}

// For translated code: conditions and CF from the lazy flags in memory (flags set before the block).
export function jitCond(cc: u32): u32 { loadLazy(); return cond(cc) ? 1 : 0; }
export function jitCF(): u32 { loadLazy(); return getCF(); }

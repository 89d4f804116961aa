// The core's side of the translator (engine-ts/worker/jit/): finding translated blocks,
// counting how often untranslated ones start, asking the host to translate hot ones, calling
// them through the imported function table, and keeping translations fresh when the guest
// (or a device) writes their code page. The cache lives in this vCPU's block
// (VCPU_JIT_CACHE) and the page generations in JIT_PAGE_GEN; see ../memory-map.ts.
//
// Translated code is one function per page of code, (limit: i32, start: i32, base: i32) →
// i64: it starts at its block number `start` (the cache entry of the block's EIP holds it),
// runs whole instructions until `limit` have retired (counting the `base` retired before the
// call), and returns (retired << 32) | next EIP (JIT_NOT_A_JUMP set in the count if it
// stopped inside the code). At a jump to a block this cache holds a translation of, it goes
// on to that function itself (a tail call with base = its count so far), so one call from
// here may run the code of many pages. It never raises a fault:
// before an instruction whose access the TLB fast path cannot do (a miss, MMIO, a code page,
// a page-crossing access) it returns, and the interpreter runs that instruction from scratch.
// The lazy-flag record goes in and out through the vCPU block: the run loop (core.ts) loads
// it into its globals only before it interprets an instruction, not between two calls.

import {
  VCPU_JIT_CACHE, JIT_SETS, JIT_WAYS, JIT_ENTRY, JIT_E_PHYS, JIT_E_EIP, JIT_E_MODE, JIT_E_FN, JIT_E_LRU, JIT_E_GEN, JIT_E_START,
  VCPU_JIT_HOT, JIT_HOT_COUNTERS, JIT_FN_NEVER, JIT_FN_PENDING, JITM_USER, JIT_PAGE_GEN, R_JIT_RETIRED, R_DR, JIT_NOT_A_JUMP,
  JIT_LOOK_AFTER, JIT_RESUME, JIT_RESULT_FLAGS, VCPU_JIT_RESUME, JIT_HASH, R_SEG_PERM, R_SEG_BASE, SEGP_BIG_READ, SEGP_BIG_WRITE,
} from '../memory-map';
import { cpu, tlb, cpl, code32, stack32, v86Mode, protMode, csBase, csLimit, flushLazy, loadLazy, cond, SS, DS } from './state';
import { TLB_VALID, TLB_RAM, TLB_USER_R, TLB_USER_X, TLB_NX, tlbStripWrites } from './mmu';

/**
 * The block at `eip` (physical `phys`) is hot: returns its page function's table slot | its
 * index there << 16, 0 (not translated), or JIT_FN_PENDING (being compiled: the host fills
 * the entry in later).
 */
@external("env", "jitCompile") declare function hostJitCompile(phys: u32, eip: u32, mode: u32): u32;
/**
 * The block at `eip` (physical `phys`) if its page's installed function holds it, as
 * jitCompile returns it; else 0. Translates nothing.
 */
@external("env", "jitFind") declare function hostJitFind(phys: u32, eip: u32, mode: u32): u32;
/** The cache was cleared: the host drops its functions too. */
@external("env", "jitReset") declare function hostJitReset(): void;

/** Block starts seen before a block is translated (the host sets it; tests set 1: translate everything at once). */
let jitHot: u32 = 1000;
export function setJitHot(n: u32): void { jitHot = n < 1 ? 1 : n > 0xffff ? 0xffff : n; }

export let jitOn: bool = false;
export function setJit(on: bool): void { jitOn = on; }

/** Whether the cache or the counters may hold anything (a new instance does not know: true). */
let jitUsed: bool = true;

/** Forget every translation of this vCPU (a new instance, a snapshot restore, host edits), and how hot blocks were. */
export function jitClear(): void {
  resumeEip = RESUME_NONE;
  if (!jitUsed) return; // the host refreshes the core often (every CPU test vector): nothing to clear
  memory.fill(cpu + VCPU_JIT_CACHE, 0, JIT_SETS * JIT_WAYS * JIT_ENTRY);
  memory.fill(cpu + VCPU_JIT_HOT, 0, JIT_HOT_COUNTERS * 8);
  hostJitReset();
  jitUsed = false;
}

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
 * A block to call the function `resumeFn` at when the code reaches `resumeEip` (see
 * VCPU_JIT_RESUME): at index `resumeStart`, valid while the code page is the same physical
 * page (and mode) and unwritten since. RESUME_NONE: none.
 */
const RESUME_NONE: u32 = 0xffffffff;
export let resumeEip: u32 = RESUME_NONE;
let resumeFn: u32 = 0, resumeStart: u32 = 0, resumePage: u32 = 0, resumeMode: u32 = 0, resumeGen: u32 = 0;

/** Whether cache entry `en` holds the block (phys, ip, mode). A free entry (no function) holds none. */
@inline function holds(en: usize, phys: u32, ip: u32, mode: u32): bool {
  return load<u32>(en + JIT_E_PHYS) == phys && load<u32>(en + JIT_E_EIP) == ip && load<u32>(en + JIT_E_MODE) == mode && load<u32>(en + JIT_E_FN) != 0;
}

/**
 * Run translated code for the block at `ip` if there is any (translating it when it has
 * become hot, if `count`: `ip` was reached by a jump). Returns (retired << 32) | next EIP,
 * with JIT_NOT_A_JUMP in the retired count as the function set it; 0 retired means nothing
 * ran and the interpreter must execute the instruction at `ip` (and, with JIT_LOOK_AFTER,
 * look again right after it).
 */
export function jitEnter(ip: u32, limit: u32, flagsInMem: bool, count: bool): u64 {
  // Translated code assumes flat 32-bit protected mode code, no armed breakpoints, and flat
  // DS and SS (the segments its addresses default to; nothing it runs loads a segment, so
  // the code it goes on to itself needs no look).
  if (!jitOn || !code32 || !stack32 || !protMode || v86Mode || csBase != 0 || csLimit != 0xffffffff || !flatData()) return 0;
  if (load<u32>(cpu + R_DR + 7 * 4) & 0xff) return 0;
  const e = load<u32>(tlb + ((ip >>> 12) << 2));
  const user = cpl == 3;
  const need: u32 = user ? (TLB_VALID | TLB_RAM | TLB_USER_R | TLB_USER_X) : (TLB_VALID | TLB_RAM);
  if ((e & need) != need || (e & TLB_NX)) return 0;
  const phys = (e & 0xfffff000) | (ip & 0xfff);
  const mode: u32 = user ? JITM_USER : 0;
  if (ip == resumeEip) {
    resumeEip = RESUME_NONE;
    if ((phys & 0xfffff000) == resumePage && mode == resumeMode && load<u32>(pageGenAddr(phys)) == resumeGen) {
      return runTranslated(resumeFn, limit, resumeStart, flagsInMem, resumePage, mode, resumeGen);
    }
  }
  const h = phys * JIT_HASH;
  const set = h >>> 20; // JIT_SETS = 4096
  const en0 = cpu + VCPU_JIT_CACHE + <usize>(set * (JIT_WAYS * JIT_ENTRY));
  // A page never marked as code (its word is still 0) has no translation: count the start
  // without reading the set (a random 128 bytes of 512 KiB; most interpreted starts are on
  // such pages). A page written since it was marked does not take this way: its stale
  // entries are freed when looked up.
  if (load<u32>(pageGenAddr(phys)) == 0) return count ? countStart(h >>> 18, en0, phys, ip, mode, limit, flagsInMem) : 0;
  let en = en0;
  let way: u32 = 0;
  while (!holds(en, phys, ip, mode)) {
    en += JIT_ENTRY;
    way++;
    if (way == JIT_WAYS) return count ? countStart(h >>> 18, en0, phys, ip, mode, limit, flagsInMem) : 0;
  }
  const fn = load<u32>(en + JIT_E_FN);
  if (fn == JIT_FN_NEVER) return <u64>JIT_LOOK_AFTER << 32;
  if (fn == JIT_FN_PENDING) return 0;
  if (load<u32>(pageGenAddr(phys)) != load<u32>(en + JIT_E_GEN)) {
    // The code page was written since: free the entry; the block is counted again before it is translated anew.
    store<u32>(en + JIT_E_FN, 0);
    return 0;
  }
  if (load<u32>(en0 + JIT_E_LRU) != way) store<u32>(en0 + JIT_E_LRU, way);
  // (A block whose calls retire few instructions is run translated all the same: until
  // 2026-12-08 such a block was dropped after a trial of its first 64 calls from here, but
  // translated code goes on to it without the core, and a block dropped sent every such jump
  // back here, through the interpreter and in again: in the shell loop 1.3-1.9 million times.)
  return runTranslated(fn, limit, load<u32>(en + JIT_E_START), flagsInMem, phys, mode, load<u32>(en + JIT_E_GEN));
}

/** Whether DS and SS are based at 0 with 4 GiB limits (SEGP_BIG_*: no limit check needed). */
@inline function flatData(): bool {
  const big = SEGP_BIG_READ | SEGP_BIG_WRITE;
  return (load<u32>(cpu + R_SEG_PERM + (DS << 2)) & load<u32>(cpu + R_SEG_PERM + (SS << 2)) & big) == big &&
    (load<u32>(cpu + R_SEG_BASE + (DS << 2)) | load<u32>(cpu + R_SEG_BASE + (SS << 2))) == 0;
}

/**
 * Call translated function `fn` (made for the code at physical `phys` in `mode`, page word
 * `gen`). It leaves the lazy-flag record in memory (the caller loads it before it interprets).
 */
@inline function runTranslated(fn: u32, limit: u32, start: u32, flagsInMem: bool, phys: u32, mode: u32, gen: u32): u64 {
  if (!flagsInMem) flushLazy();
  // The function running now, for a JIT_RESUME: translated code that goes on to another
  // page's function (a chain, see translate.ts) writes these for it.
  const rb = cpu + VCPU_JIT_RESUME;
  store<u32>(rb + 8, fn); store<u32>(rb + 12, phys); store<u32>(rb + 16, gen);
  const r = call_indirect<u64>(fn, limit, start, 0);
  if (<u32>(r >>> 32) & JIT_RESUME) {
    resumeEip = load<u32>(rb);
    resumeStart = load<u32>(rb + 4);
    resumeFn = load<u32>(rb + 8); resumePage = load<u32>(rb + 12) & 0xfffff000; resumeMode = mode; resumeGen = load<u32>(rb + 16);
  }
  const retired = <u32>(r >>> 32) & ~JIT_RESULT_FLAGS;
  if (retired) store<u64>(cpu + R_JIT_RETIRED, load<u64>(cpu + R_JIT_RETIRED) + <u64>retired);
  return r;
}

/**
 * A start of a block the cache does not hold: count it (`counter`: its hotness counter's
 * index), and once it is hot translate it into the set's free way, or else the way not used
 * last. Runs the translation at once; returns 0 when nothing ran.
 */
function countStart(counter: u32, en0: usize, phys: u32, ip: u32, mode: u32, limit: u32, flagsInMem: bool): u64 {
  // The counter's pair (JIT_HOT_COUNTERS = 16384): two blocks whose hash is the same both get counted.
  const pair = cpu + VCPU_JIT_HOT + (<usize>(counter & ~1) << 3);
  jitUsed = true;
  let ca = pair;
  if (load<u32>(ca) != phys) ca = pair + 8;
  let count = load<u32>(ca + 4);
  if (load<u32>(ca) != phys) {
    // Other blocks hold both: the one with fewer starts loses one, and gives its counter up at none.
    const other = load<u32>(pair + 4);
    if (other < count) { ca = pair; count = other; }
    if (count > 1) { store<u32>(ca + 4, count - 1); return 0; }
    store<u32>(ca, phys);
    count = 0;
  }
  const next = count + 1;
  if (next < jitHot) {
    store<u32>(ca + 4, next);
    // A block that an installed page function holds but the cache does not (its set had no
    // free way when the function was installed, or its entry was replaced since) is found
    // every JIT_FIND_EVERY starts, not translated anew when it is hot.
    if (!(next & (JIT_FIND_EVERY - 1)) && isCodePage(phys)) {
      const got = hostJitFind(phys, ip, mode);
      if (got) {
        const gen = load<u32>(pageGenAddr(phys)), fn = got & 0xffff, start = got >>> 16;
        enter(en0, phys, ip, mode, fn, gen, start);
        return runTranslated(fn, limit, start, flagsInMem, phys, mode, gen);
      }
    }
    return 0;
  }
  store<u32>(ca + 4, 0);
  // Mark the page before reading its code: a write from now on makes the translation stale.
  const gen = markCodePage(phys);
  const got = hostJitCompile(phys, ip, mode);
  resumeEip = RESUME_NONE; // the host may have dropped every function
  const pending = got == JIT_FN_PENDING;
  const fn = pending ? got : got & 0xffff, start = pending ? 0 : got >>> 16;
  enter(en0, phys, ip, mode, fn == 0 ? JIT_FN_NEVER : fn, gen, start);
  if (fn == 0) return <u64>JIT_LOOK_AFTER << 32;
  if (pending) return 0;
  return runTranslated(fn, limit, start, flagsInMem, phys, mode, gen);
}

/** Block starts between two asks whether an installed function holds a block the cache does not (a power of 2). */
const JIT_FIND_EVERY: u32 = 256;

/** Give the block (phys, ip, mode) an entry in the set at `en0`: its free way, or else the way not used last. */
function enter(en0: usize, phys: u32, ip: u32, mode: u32, fn: u32, gen: u32, start: u32): void {
  let way: u32 = 0;
  while (way < JIT_WAYS && load<u32>(en0 + <usize>(way * JIT_ENTRY) + JIT_E_FN) != 0) way++;
  if (way == JIT_WAYS) way = (load<u32>(en0 + JIT_E_LRU) + 1) & (JIT_WAYS - 1);
  const en = en0 + <usize>(way * JIT_ENTRY);
  store<u32>(en + JIT_E_PHYS, phys);
  store<u32>(en + JIT_E_EIP, ip);
  store<u32>(en + JIT_E_MODE, mode);
  store<u32>(en + JIT_E_FN, fn);
  store<u32>(en + JIT_E_GEN, gen);
  store<u32>(en + JIT_E_START, start);
  store<u32>(en0 + JIT_E_LRU, way);
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

// For translated code: a condition from the lazy flags in memory (flags set before the block).
// (CF alone it derives itself: cfHelper in engine-ts/worker/jit/translate.ts.)
export function jitCond(cc: u32): u32 { loadLazy(); return cond(cc) ? 1 : 0; }

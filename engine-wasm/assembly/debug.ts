// Debug registers (SDM Vol. 3B ch. 18 "Debug, branch profile, TSC and intel resource
// director technology features", §18.2-18.3): DR0-DR3 breakpoint addresses, DR6 status,
// DR7 control. Breakpoints cost nothing until DR7 enables one; then
// - PEND_DBG in R_PENDING sends every instruction through the run loop's traced path
//   (core.ts stepTraced), which checks instruction breakpoints before it and delivers
//   data/I-O breakpoint traps after it;
// - the TLB entries of the pages that hold a data breakpoint lose TLB_RAM, so every access
//   to such a page leaves the fast paths and reaches the linear-address functions of
//   mmu.ts, which report it here (dbgCheckMem). Other pages stay fast.

import { R_DR, R_PENDING, PEND_DBG } from '../memory-map';
import { cpu, cr4, CR4_DE } from './state';
import { endChunk } from './steps';

export const DR7_GD: u32 = 1 << 13;
export const DR6_BD: u32 = 1 << 13; // the next instruction accesses a debug register (GD)
export const DR6_BS: u32 = 1 << 14; // single step
/** DR6 bits that are reserved and read as 1 (SDM Vol. 3B §18.2.3). */
export const DR6_FIXED: u32 = 0xffff0ff0;

// R/W field values of DR7 (per breakpoint, bits 16+4n and 17+4n).
const RW_EXEC: u32 = 0;
const RW_WRITE: u32 = 1;
const RW_IO: u32 = 2;
const RW_ACCESS: u32 = 3;

/** A data breakpoint (write or read/write) is enabled: watched pages are slow in the TLB. */
export let dbgData: bool = false;
/** An I/O breakpoint is enabled (R/W = 10 with CR4.DE). */
export let dbgIo: bool = false;
/** B0-B3 of the data and I/O breakpoints the current instruction hit (reported after it). */
export let dbgHit: u32 = 0;
export function clearDbgHit(): void { dbgHit = 0; }

@inline function dr(n: u32): u32 { return load<u32>(cpu + R_DR + (n << 2)); }
@inline function dr7(): u32 { return dr(7); }
@inline function enabled(d7: u32, n: u32): bool { return ((d7 >> (n << 1)) & 3) != 0; }
@inline function rwOf(d7: u32, n: u32): u32 { return (d7 >> (16 + (n << 2))) & 3; }
/** Breakpoint length in bytes from the LEN field (00 = 1, 01 = 2, 11 = 4, 10 = 8). */
@inline function lenOf(d7: u32, n: u32): u32 {
  const l = (d7 >> (18 + (n << 2))) & 3;
  return l == 0 ? 1 : l == 1 ? 2 : l == 3 ? 4 : 8;
}

/**
 * Recompute what is armed after DR0-DR3, DR7 or CR4 changed (or the state was loaded).
 * Returns true when the set of watched pages may have changed (the caller flushes the TLB).
 */
export function dbgRefresh(): bool {
  const d7 = dr7();
  let any = false, data = false, io = false;
  for (let n: u32 = 0; n < 4; n++) {
    if (!enabled(d7, n)) continue;
    const rw = rwOf(d7, n);
    if (rw == RW_WRITE || rw == RW_ACCESS) data = true;
    else if (rw == RW_IO) { if (cr4() & CR4_DE) io = true; else continue; } // undefined without DE: ignored
    any = true;
  }
  const changed = data || dbgData;
  dbgData = data;
  dbgIo = io;
  if (any) { atomic.or<u32>(cpu + R_PENDING, PEND_DBG); endChunk(); }
  else atomic.and<u32>(cpu + R_PENDING, ~PEND_DBG);
  return changed;
}

/** Does the linear page hold an enabled data breakpoint? (Its TLB entry then omits TLB_RAM.) */
export function dbgPageWatched(page: u32): bool {
  const d7 = dr7();
  for (let n: u32 = 0; n < 4; n++) {
    if (!enabled(d7, n)) continue;
    const rw = rwOf(d7, n);
    if (rw != RW_WRITE && rw != RW_ACCESS) continue;
    const len = lenOf(d7, n);
    const a = dr(n) & ~(len - 1);
    if ((a >>> 12) == page || ((a + len - 1) >>> 12) == page) return true;
  }
  return false;
}

/** A data access of `size` bytes at linear `lin` (after its translation succeeded). */
export function dbgCheckMem(lin: u32, size: u32, write: bool): void {
  const d7 = dr7();
  for (let n: u32 = 0; n < 4; n++) {
    if (!enabled(d7, n)) continue;
    const rw = rwOf(d7, n);
    if (rw == RW_WRITE ? !write : rw != RW_ACCESS) continue;
    const len = lenOf(d7, n);
    const a = dr(n) & ~(len - 1);
    if (lin - a < len || a - lin < size) dbgHit |= 1 << n; // the ranges overlap (mod 2^32)
  }
}

/** An I/O access of `size` bytes at `port` that the permission checks allowed. */
export function dbgCheckIo(port: u32, size: u32): void {
  const d7 = dr7();
  for (let n: u32 = 0; n < 4; n++) {
    if (!enabled(d7, n) || rwOf(d7, n) != RW_IO) continue;
    const len = lenOf(d7, n);
    const a = dr(n) & 0xffff & ~(len - 1);
    if (port - a < len || a - port < size) dbgHit |= 1 << n;
  }
}

/** B0-B3 of the enabled instruction breakpoints at linear address `lin`. */
export function dbgExecHits(lin: u32): u32 {
  const d7 = dr7();
  let hits: u32 = 0;
  for (let n: u32 = 0; n < 4; n++) {
    // An instruction breakpoint has R/W = 00 and LEN = 00 (other lengths are undefined).
    if (enabled(d7, n) && rwOf(d7, n) == RW_EXEC && dr(n) == lin) hits |= 1 << n;
  }
  return hits;
}

/** Record a #DB condition in DR6 and clear DR7.GD, as the processor does on entering the handler. */
export function dbgReport(bits: u32): void {
  store<u32>(cpu + R_DR + 6 * 4, dr(6) | bits);
  store<u32>(cpu + R_DR + 7 * 4, dr7() & ~DR7_GD);
}

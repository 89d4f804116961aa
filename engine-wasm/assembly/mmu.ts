// Memory: guest-physical access (RAM, ROM, MMIO), the software TLB, page walks
// (2-level with PSE, PAE with NX), and linear-address reads/writes with U/S and R/W
// checks. Intel SDM Vol. 3A ch. 4 (paging) is the reference for every rule here.

import {
  RAM_BASE, CTRL_BASE, CTRL_RAM_SIZE, CTRL_LOWMEM_TYPE, MEMT_RAM, MEMT_ROM,
  R_CR2, R_CR3, R_A20_MASK, VCPU_TLB_LIST, VCPU_TLB_LIST_MAX, VCPU_TLB_SIZE,
} from '../memory-map';
import {
  cpu, tlb, cpl, pagingOn, fault, raise, EXC_PF, cr0, cr4, efer, invalidateFetch,
  CR0_WP, CR4_PSE, CR4_PAE, CR4_PGE, EFER_NXE,
} from './state';
import { syncNow } from './steps';
import { isCodePage, noteCodeWrite } from './jit';
import { dbgData, dbgPageWatched, dbgCheckMem } from './debug';

@external("env", "mmioRead") declare function hostMmioRead(addr: u32, size: u32): u32;
@external("env", "mmioWrite") declare function hostMmioWrite(addr: u32, size: u32, value: u32): void;

// ---- TLB entry format (one u32 per linear page): declared in memory-map ----------------
export { TLB_VALID, TLB_USER_R, TLB_SUP_W, TLB_USER_W, TLB_RAM, TLB_GLOBAL, TLB_NX, TLB_USER_X, TLB_LARGE } from '../memory-map';
import { TLB_VALID, TLB_USER_R, TLB_SUP_W, TLB_USER_W, TLB_RAM, TLB_GLOBAL, TLB_NX, TLB_USER_X, TLB_LARGE } from '../memory-map';

// Masks that a fast-path access needs, by privilege (updated when CPL changes).
export let rmask: u32 = TLB_VALID | TLB_RAM;
export let wmask: u32 = TLB_VALID | TLB_RAM | TLB_SUP_W;
export function setTlbMasks(user: bool): void {
  rmask = user ? (TLB_VALID | TLB_RAM | TLB_USER_R) : (TLB_VALID | TLB_RAM);
  wmask = user ? (TLB_VALID | TLB_RAM | TLB_USER_W) : (TLB_VALID | TLB_RAM | TLB_SUP_W);
}

let tlbCount: u32 = 0;
let tlbOverflow: bool = false;
/** Some entry may be TLB_LARGE (cleared when a flush drops them all). */
let tlbLarge: bool = false;

export function tlbFlushAll(keepGlobal: bool): void {
  invalidateFetch();
  const list = cpu + VCPU_TLB_LIST;
  if (tlbOverflow) {
    memory.fill(tlb, 0, VCPU_TLB_SIZE);
    tlbOverflow = false;
    tlbCount = 0;
    tlbLarge = false;
    return;
  }
  let kept: u32 = 0;
  let large = false;
  for (let i: u32 = 0; i < tlbCount; i++) {
    const page = load<u32>(list + (i << 2));
    const e = load<u32>(tlb + (page << 2));
    if (keepGlobal && (e & TLB_GLOBAL)) {
      store<u32>(list + (kept << 2), page);
      kept++;
      if (e & TLB_LARGE) large = true;
    } else {
      store<u32>(tlb + (page << 2), 0);
    }
  }
  tlbCount = kept;
  tlbLarge = large;
}

/**
 * INVLPG: drop the translation of the page holding `lin`. The TLB keeps a 2 MiB or 4 MiB
 * page as 4 KiB entries (one per piece used), and INVLPG of any address in a large page
 * invalidates all of them (SDM Vol. 3A §4.10.4.1), so every large-page entry in the
 * aligned 2 MiB (PAE) or 4 MiB region goes too.
 */
export function tlbFlushPage(lin: u32): void {
  invalidateFetch();
  const page = lin >>> 12;
  store<u32>(tlb + (page << 2), 0);
  if (!tlbLarge) return;
  const n: u32 = (cr4() & CR4_PAE) ? 512 : 1024;
  const first = tlb + ((page & ~(n - 1)) << 2);
  for (let i: u32 = 0; i < n; i++) {
    const p = first + (i << 2);
    if (load<u32>(p) & TLB_LARGE) store<u32>(p, 0);
  }
}

/** Called when the per-instance TLB bookkeeping may not match memory (new instance, snapshot). */
export function tlbReset(): void {
  invalidateFetch();
  memory.fill(tlb, 0, VCPU_TLB_SIZE);
  tlbCount = 0;
  tlbOverflow = false;
  tlbLarge = false;
}

/** Take write access from every TLB entry that maps the physical page `frame` (translated code is on it). */
export function tlbStripWrites(frame: u32): void {
  if (tlbOverflow) { tlbFlushAll(false); return; }
  const list = cpu + VCPU_TLB_LIST;
  for (let i: u32 = 0; i < tlbCount; i++) {
    const q = tlb + (load<u32>(list + (i << 2)) << 2);
    const e = load<u32>(q);
    if ((e & 0xfffff000) == frame) store<u32>(q, e & ~(TLB_SUP_W | TLB_USER_W));
  }
}

function tlbInsert(page: u32, entry: u32): void {
  const p = tlb + (page << 2);
  if (load<u32>(p) == 0) {
    if (tlbCount < VCPU_TLB_LIST_MAX) {
      store<u32>(cpu + VCPU_TLB_LIST + (tlbCount << 2), page);
      tlbCount++;
    } else {
      tlbOverflow = true;
    }
  }
  store<u32>(p, entry);
}

// ---- physical memory --------------------------------------------------------------
@inline export function ramSize(): u32 { return load<u32>(CTRL_BASE + CTRL_RAM_SIZE); }
@inline export function a20(phys: u32): u32 { return phys & load<u32>(cpu + R_A20_MASK); }

/** Memory type of a physical page: MEMT_RAM, MEMT_ROM or MEMT_MMIO. */
export function physType(phys: u32): u32 {
  if (phys < 0x100000) return <u32>load<u8>(CTRL_BASE + CTRL_LOWMEM_TYPE + (phys >>> 12));
  if (phys < ramSize()) return MEMT_RAM;
  return 2; // MEMT_MMIO
}

export function physRead8(p: u32): u32 {
  const t = physType(p);
  if (t <= MEMT_ROM) return <u32>load<u8>(<usize>RAM_BASE + <usize>p);
  syncNow(); return hostMmioRead(p, 1) & 0xff;
}
export function physRead16(p: u32): u32 {
  if ((p & 0xfff) > 0xffe) return physRead8(p) | (physRead8(p + 1) << 8);
  const t = physType(p);
  if (t <= MEMT_ROM) return <u32>load<u16>(<usize>RAM_BASE + <usize>p);
  syncNow(); return hostMmioRead(p, 2) & 0xffff;
}
export function physRead32(p: u32): u32 {
  if ((p & 0xfff) > 0xffc) return physRead16(p) | (physRead16(p + 2) << 16);
  const t = physType(p);
  if (t <= MEMT_ROM) return load<u32>(<usize>RAM_BASE + <usize>p);
  syncNow(); return hostMmioRead(p, 4);
}
export function physWrite8(p: u32, v: u32): void {
  const t = physType(p);
  if (t == MEMT_RAM) { noteCodeWrite(p); store<u8>(<usize>RAM_BASE + <usize>p, <u8>v); }
  else if (t != MEMT_ROM) { syncNow(); hostMmioWrite(p, 1, v & 0xff); }
}
export function physWrite16(p: u32, v: u32): void {
  if ((p & 0xfff) > 0xffe) { physWrite8(p, v); physWrite8(p + 1, v >>> 8); return; }
  const t = physType(p);
  if (t == MEMT_RAM) { noteCodeWrite(p); store<u16>(<usize>RAM_BASE + <usize>p, <u16>v); }
  else if (t != MEMT_ROM) { syncNow(); hostMmioWrite(p, 2, v & 0xffff); }
}
export function physWrite32(p: u32, v: u32): void {
  if ((p & 0xfff) > 0xffc) { physWrite16(p, v); physWrite16(p + 2, v >>> 16); return; }
  const t = physType(p);
  if (t == MEMT_RAM) { noteCodeWrite(p); store<u32>(<usize>RAM_BASE + <usize>p, v); }
  else if (t != MEMT_ROM) { syncNow(); hostMmioWrite(p, 4, v); }
}
// 64-bit page-table entries are read as two halves (RAM only in practice).
function physRead64Lo(p: u32): u32 { return physRead32(p); }
function physRead64Hi(p: u32): u32 { return physRead32(p + 4); }

// ---- page walk ------------------------------------------------------------------------
// Access kinds for translate().
export const ACC_READ: u32 = 0;
export const ACC_WRITE: u32 = 1;
export const ACC_EXEC: u32 = 2;

const PTE_P: u32 = 1, PTE_RW: u32 = 2, PTE_US: u32 = 4, PTE_A: u32 = 0x20, PTE_D: u32 = 0x40, PTE_PS: u32 = 0x80, PTE_G: u32 = 0x100;

/** Physical frame of the last translation (valid when translate() returned true). */
export let walkEntry: u32 = 0;

function pageFault(lin: u32, present: bool, kind: u32, user: bool, rsvd: bool): void {
  let code: u32 = present ? 1 : 0;
  if (kind == ACC_WRITE) code |= 2;
  if (user) code |= 4;
  if (rsvd) code |= 8;
  if (kind == ACC_EXEC && (efer() & EFER_NXE) && (cr4() & CR4_PAE)) code |= 16;
  store<u32>(cpu + R_CR2, lin);
  raise(EXC_PF, code, true);
}

/**
 * Translate a linear address, checking permissions for `kind` at privilege `user`,
 * setting accessed/dirty bits as the hardware does, and filling the TLB.
 * Returns false (with #PF raised) on a fault. On success the TLB entry is in walkEntry.
 */
export function translate(lin: u32, kind: u32, user: bool): bool {
  const page = lin >>> 12;
  if (!pagingOn) {
    const phys = a20(lin) & 0xfffff000;
    const t = physType(phys);
    let e = phys | TLB_VALID | TLB_USER_R | TLB_USER_X | TLB_SUP_W | TLB_USER_W;
    if (t == MEMT_RAM) e |= TLB_RAM;
    else if (t == MEMT_ROM) e = (e | TLB_RAM) & ~(TLB_SUP_W | TLB_USER_W);
    if (dbgData && dbgPageWatched(page)) e &= ~TLB_RAM; // every access to it is checked (debug.ts)
    if (t == MEMT_RAM && isCodePage(phys)) e &= ~(TLB_SUP_W | TLB_USER_W);
    tlbInsert(page, e);
    walkEntry = e;
    return true;
  }
  const c4 = cr4();
  const wp = (cr0() & CR0_WP) != 0;
  let frame: u32 = 0; // physical address of the page
  let rw: bool = true, us: bool = true, nx: bool = false, dirty: bool = false, global: bool = false, large: bool = false;
  if (c4 & CR4_PAE) {
    const nxe = (efer() & EFER_NXE) != 0;
    const cr3 = load<u32>(cpu + R_CR3) & 0xffffffe0;
    const pdpteAddr = cr3 + ((lin >>> 30) << 3);
    const pdpte = physRead64Lo(pdpteAddr), pdpteHi = physRead64Hi(pdpteAddr);
    if (!(pdpte & PTE_P)) { pageFault(lin, false, kind, user, false); return false; }
    // PDPTE reserved bits: 1-2, 5-8, and above the physical address width (36 bits here).
    if ((pdpte & 0x1e6) || (pdpteHi & 0xfffffff0)) { pageFault(lin, true, kind, user, true); return false; }
    const pdeAddr = (pdpte & 0xfffff000) + (((lin >>> 21) & 0x1ff) << 3);
    let pde = physRead64Lo(pdeAddr);
    const pdeHi = physRead64Hi(pdeAddr);
    if (!(pde & PTE_P)) { pageFault(lin, false, kind, user, false); return false; }
    if ((pdeHi & 0x7ffffff0) || (!nxe && (pdeHi & 0x80000000))) { pageFault(lin, true, kind, user, true); return false; }
    rw = (pde & PTE_RW) != 0; us = (pde & PTE_US) != 0; nx = nxe && (pdeHi & 0x80000000) != 0;
    if (pde & PTE_PS) {
      if (pde & 0x1fe000) { pageFault(lin, true, kind, user, true); return false; }
      if (!checkAccess(lin, kind, user, rw, us, nx, wp)) return false;
      if (!(pde & PTE_A) || (kind == ACC_WRITE && !(pde & PTE_D))) {
        pde |= PTE_A | (kind == ACC_WRITE ? PTE_D : 0);
        physWrite32(pdeAddr, pde);
      }
      dirty = (pde & PTE_D) != 0;
      global = (pde & PTE_G) != 0 && (c4 & CR4_PGE) != 0;
      frame = (pde & 0xffe00000) + (lin & 0x1ff000);
      if (pdeHi & 0xf) frame = 0xfffff000; // above 4 GiB: unbacked
      large = true;
    } else {
      const pteAddr = (pde & 0xfffff000) + (((lin >>> 12) & 0x1ff) << 3);
      let pte = physRead64Lo(pteAddr);
      const pteHi = physRead64Hi(pteAddr);
      if (!(pte & PTE_P)) { pageFault(lin, false, kind, user, false); return false; }
      if ((pteHi & 0x7ffffff0) || (!nxe && (pteHi & 0x80000000))) { pageFault(lin, true, kind, user, true); return false; }
      rw = rw && (pte & PTE_RW) != 0; us = us && (pte & PTE_US) != 0; nx = nx || (nxe && (pteHi & 0x80000000) != 0);
      if (!checkAccess(lin, kind, user, rw, us, nx, wp)) return false;
      if (!(pde & PTE_A)) physWrite32(pdeAddr, pde | PTE_A);
      if (!(pte & PTE_A) || (kind == ACC_WRITE && !(pte & PTE_D))) {
        pte |= PTE_A | (kind == ACC_WRITE ? PTE_D : 0);
        physWrite32(pteAddr, pte);
      }
      dirty = (pte & PTE_D) != 0;
      global = (pte & PTE_G) != 0 && (c4 & CR4_PGE) != 0;
      frame = pte & 0xfffff000;
      if (pteHi & 0xf) frame = 0xfffff000;
    }
  } else {
    const cr3 = load<u32>(cpu + R_CR3) & 0xfffff000;
    const pdeAddr = cr3 + ((lin >>> 22) << 2);
    let pde = physRead32(pdeAddr);
    if (!(pde & PTE_P)) { pageFault(lin, false, kind, user, false); return false; }
    rw = (pde & PTE_RW) != 0; us = (pde & PTE_US) != 0;
    if ((pde & PTE_PS) && (c4 & CR4_PSE)) {
      // 4 MiB page; bits 13-20 are PSE-36 address bits (we have < 4 GiB: treat nonzero as unbacked)
      if (pde & 0x200000) { pageFault(lin, true, kind, user, true); return false; }
      if (!checkAccess(lin, kind, user, rw, us, false, wp)) return false;
      if (!(pde & PTE_A) || (kind == ACC_WRITE && !(pde & PTE_D))) {
        pde |= PTE_A | (kind == ACC_WRITE ? PTE_D : 0);
        physWrite32(pdeAddr, pde);
      }
      dirty = (pde & PTE_D) != 0;
      global = (pde & PTE_G) != 0 && (c4 & CR4_PGE) != 0;
      frame = (pde & 0xffc00000) + (lin & 0x3ff000);
      if (pde & 0x1fe000) frame = 0xfffff000;
      large = true;
    } else {
      const pteAddr = (pde & 0xfffff000) + (((lin >>> 12) & 0x3ff) << 2);
      let pte = physRead32(pteAddr);
      if (!(pte & PTE_P)) { pageFault(lin, false, kind, user, false); return false; }
      rw = rw && (pte & PTE_RW) != 0; us = us && (pte & PTE_US) != 0;
      if (!checkAccess(lin, kind, user, rw, us, false, wp)) return false;
      if (!(pde & PTE_A)) physWrite32(pdeAddr, pde | PTE_A);
      if (!(pte & PTE_A) || (kind == ACC_WRITE && !(pte & PTE_D))) {
        pte |= PTE_A | (kind == ACC_WRITE ? PTE_D : 0);
        physWrite32(pteAddr, pte);
      }
      dirty = (pte & PTE_D) != 0;
      global = (pte & PTE_G) != 0 && (c4 & CR4_PGE) != 0;
      frame = pte & 0xfffff000;
    }
  }
  // Build the TLB entry: permissions that need no further walk.
  let e: u32 = frame | TLB_VALID;
  if (us) e |= TLB_USER_R | (nx ? 0 : TLB_USER_X);
  if (dirty) {
    if (rw || !wp) e |= TLB_SUP_W;
    if (rw && us) e |= TLB_USER_W;
  }
  if (global) e |= TLB_GLOBAL;
  if (nx) e |= TLB_NX;
  if (large) { e |= TLB_LARGE; tlbLarge = true; }
  const t = physType(frame);
  if (t == MEMT_RAM) e |= TLB_RAM;
  else if (t == MEMT_ROM) e = (e | TLB_RAM) & ~(TLB_SUP_W | TLB_USER_W);
  // Writes to a page with translated code take the slow path, which makes them stale.
  if (t == MEMT_RAM && isCodePage(frame)) e &= ~(TLB_SUP_W | TLB_USER_W);
  if (dbgData && dbgPageWatched(page)) e &= ~TLB_RAM; // every access to it is checked (debug.ts)
  tlbInsert(page, e);
  walkEntry = e;
  return true;
}

function checkAccess(lin: u32, kind: u32, user: bool, rw: bool, us: bool, nx: bool, wp: bool): bool {
  if (user && !us) { pageFault(lin, true, kind, user, false); return false; }
  if (kind == ACC_WRITE && !rw && (user || wp)) { pageFault(lin, true, kind, user, false); return false; }
  if (kind == ACC_EXEC && nx) { pageFault(lin, true, kind, user, false); return false; }
  return true;
}

/**
 * Physical address for an access to `lin`, or 0xFFFFFFFF with a fault raised.
 * `user` selects the CPL-3 permission checks. Uses and fills the TLB.
 */
/**
 * The TLB entry of `lin` if it allows this access (`kind` ACC_*, at user or supervisor
 * privilege), else 0: a lookup only, no page walk and no fault.
 */
@inline export function tlbEntryFor(lin: u32, kind: u32, user: bool): u32 {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  let need: u32 = TLB_VALID;
  if (kind == ACC_WRITE) need = user ? TLB_USER_W : TLB_SUP_W;
  else if (user) need = kind == ACC_EXEC ? (TLB_USER_R | TLB_USER_X) : TLB_USER_R;
  return (e & (need | TLB_VALID)) == (need | TLB_VALID) && !(kind == ACC_EXEC && (e & TLB_NX)) ? e : 0;
}

export function linToPhys(lin: u32, kind: u32, user: bool): u32 {
  const e = tlbEntryFor(lin, kind, user);
  if (e) return (e & 0xfffff000) | (lin & 0xfff);
  if (!translate(lin, kind, user)) return 0xffffffff;
  // A ROM page has no write bits in its entry but writes to it are silently dropped, not faults.
  return (walkEntry & 0xfffff000) | (lin & 0xfff);
}

// ---- linear-address access at the current privilege ----------------------------------
@inline function isUser(): bool { return cpl == 3; }

export function readLin8(lin: u32): u32 {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & rmask) == rmask) return <u32>load<u8>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff));
  const p = linToPhys(lin, ACC_READ, isUser());
  if (fault) return 0;
  if (dbgData) dbgCheckMem(lin, 1, false);
  return physRead8(p);
}
export function readLin16(lin: u32): u32 {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & rmask) == rmask && (lin & 0xfff) <= 0xffe) return <u32>load<u16>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff));
  return readLinSlow(lin, 2, isUser());
}
export function readLin32(lin: u32): u32 {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & rmask) == rmask && (lin & 0xfff) <= 0xffc) return load<u32>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff));
  return readLinSlow(lin, 4, isUser());
}

function readLinSlow(lin: u32, size: u32, user: bool): u32 {
  if (((lin & 0xfff) + size) > 0x1000) {
    // Crosses a page: translate both pages before reading either.
    const p1 = linToPhys(lin, ACC_READ, user);
    if (fault) return 0;
    const p2 = linToPhys((lin | 0xfff) + 1, ACC_READ, user);
    if (fault) return 0;
    if (dbgData) dbgCheckMem(lin, size, false);
    const first: u32 = 0x1000 - (lin & 0xfff);
    let v: u32 = 0;
    for (let i: u32 = 0; i < size; i++) {
      v |= physRead8(i < first ? p1 + i : p2 + (i - first)) << (i << 3);
    }
    return v;
  }
  const p = linToPhys(lin, ACC_READ, user);
  if (fault) return 0;
  if (dbgData) dbgCheckMem(lin, size, false);
  return size == 2 ? physRead16(p) : physRead32(p);
}

export function writeLin8(lin: u32, v: u32): void {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & wmask) == wmask) { store<u8>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff), <u8>v); return; }
  const p = linToPhys(lin, ACC_WRITE, isUser());
  if (fault) return;
  if (dbgData) dbgCheckMem(lin, 1, true);
  physWrite8(p, v);
}
export function writeLin16(lin: u32, v: u32): void {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & wmask) == wmask && (lin & 0xfff) <= 0xffe) { store<u16>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff), <u16>v); return; }
  writeLinSlow(lin, 2, v, isUser());
}
export function writeLin32(lin: u32, v: u32): void {
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & wmask) == wmask && (lin & 0xfff) <= 0xffc) { store<u32>(<usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff), v); return; }
  writeLinSlow(lin, 4, v, isUser());
}

function writeLinSlow(lin: u32, size: u32, v: u32, user: bool): void {
  if (((lin & 0xfff) + size) > 0x1000) {
    const p1 = linToPhys(lin, ACC_WRITE, user);
    if (fault) return;
    const p2 = linToPhys((lin | 0xfff) + 1, ACC_WRITE, user);
    if (fault) return;
    if (dbgData) dbgCheckMem(lin, size, true);
    const first: u32 = 0x1000 - (lin & 0xfff);
    for (let i: u32 = 0; i < size; i++) {
      physWrite8(i < first ? p1 + i : p2 + (i - first), (v >>> (i << 3)) & 0xff);
    }
    return;
  }
  const p = linToPhys(lin, ACC_WRITE, user);
  if (fault) return;
  if (dbgData) dbgCheckMem(lin, size, true);
  if (size == 2) physWrite16(p, v); else physWrite32(p, v);
}

/** Check that [lin, lin+size) is writable now (for instructions that must not half-commit). */
export function probeWrite(lin: u32, size: u32, user: bool): bool {
  linToPhys(lin, ACC_WRITE, user);
  if (fault) return false;
  if (((lin & 0xfff) + size) > 0x1000) {
    linToPhys((lin | 0xfff) + 1, ACC_WRITE, user);
    if (fault) return false;
  }
  return true;
}
export function probeRead(lin: u32, size: u32, user: bool): bool {
  linToPhys(lin, ACC_READ, user);
  if (fault) return false;
  if (((lin & 0xfff) + size) > 0x1000) {
    linToPhys((lin | 0xfff) + 1, ACC_READ, user);
    if (fault) return false;
  }
  return true;
}

// Supervisor ("system") accesses: descriptor tables, TSS, IDT — always CPL-0 permissions.
export function sysRead8(lin: u32): u32 { return readLinAs(lin, 1, false); }
export function sysRead16(lin: u32): u32 { return readLinSlowSys(lin, 2); }
export function sysRead32(lin: u32): u32 { return readLinSlowSys(lin, 4); }
function readLinSlowSys(lin: u32, size: u32): u32 { return readLinSlow(lin, size, false); }
export function sysWrite8(lin: u32, v: u32): void { writeLinAs(lin, 1, v, false); }
export function sysWrite16(lin: u32, v: u32): void { writeLinSlow(lin, 2, v, false); }
export function sysWrite32(lin: u32, v: u32): void { writeLinSlow(lin, 4, v, false); }

// Explicit-privilege variants (task switches and gates access memory with a given privilege).
export function readLinAs(lin: u32, size: u32, user: bool): u32 {
  if (size == 1) {
    const p = linToPhys(lin, ACC_READ, user);
    if (fault) return 0;
    if (dbgData) dbgCheckMem(lin, 1, false);
    return physRead8(p);
  }
  return readLinSlow(lin, size, user);
}
export function writeLinAs(lin: u32, size: u32, v: u32, user: bool): void {
  if (size == 1) {
    const p = linToPhys(lin, ACC_WRITE, user);
    if (fault) return;
    if (dbgData) dbgCheckMem(lin, 1, true);
    physWrite8(p, v);
    return;
  }
  writeLinSlow(lin, size, v, user);
}

/** Host address of RAM backing `lin` for a bulk access of `len` bytes within one page, or 0. */
export function ramHostAddr(lin: u32, kind: u32): usize {
  const p = linToPhys(lin, kind, isUser());
  if (fault) return 0;
  if (physType(p) != MEMT_RAM || (dbgData && dbgPageWatched(lin >>> 12))) return 0;
  if (kind == ACC_WRITE) noteCodeWrite(p);
  return <usize>RAM_BASE + <usize>p;
}

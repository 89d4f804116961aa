// Instruction fetch, ModRM/SIB effective addresses, segment-checked operand access,
// read-modify-write (with LOCK through wasm atomics), and the stack.

import { RAM_BASE, R_SEG_LO, R_SEG_HI, R_SEG_PERM, R_SEG_BASE, SEGP_READ, SEGP_WRITE, SEGP_BIG_READ, SEGP_BIG_WRITE, MEMT_RAM } from '../memory-map';
import {
  cpu, tlb, eip, setEip, instrEip, csBase, csLimit, setFetchWindow, fetchLo, fetchFast, cpl, fetch8, fetch16, fetch32, clipFetchToInstruction,
  adsize32, opsize32, segOvr, modrm, setModrm, eaSeg, eaOff, setEa, setEaEspBase, fault, prefixes, PFX_LOCK,
  raiseGP, raiseSS, stack32, raise, EXC_GP,
  reg32, reg16, reg8, setReg32, setReg16, setReg8,
  segBase, ES, CS, SS, DS, ESP, EBP, ESI, EDI, EBX,
} from './state';
import {
  linToPhys, ACC_EXEC, ACC_READ, ACC_WRITE, physRead8, physType,
  readLin8, readLin16, readLin32, writeLin8, writeLin16, writeLin32, probeWrite,
  TLB_VALID, TLB_RAM, TLB_SUP_W, TLB_USER_W, tlbEntryFor, rmask, wmask,
} from './mmu';

export { fetch8, fetch16, fetch32 };

// ---- fetch (fast paths: fetch8/16/32 in state.ts) -------------------------------------
/** Fetch `size` bytes the slow way: translate, check, refill the fetch window. */
export function fetchSlow(size: u32): u32 {
  let v: u32 = 0;
  for (let i: u32 = 0; i < size; i++) {
    const off = eip;
    if (fault) return 0;
    if (off > csLimit) { raiseGP(0); return 0; }
    if (off - instrEip >= 15) { raiseGP(0); return 0; } // instruction longer than 15 bytes
    const lin = csBase + off;
    const p = linToPhys(lin, ACC_EXEC, cpl == 3);
    if (fault) return 0;
    if (physType(p) == MEMT_RAM) {
      openWindow(off, lin, p);
      if (prefixes != 0) clipFetchToInstruction(); // the 15-byte limit (see core.ts next())
    }
    setEip(off + 1);
    v |= physRead8(p) << (i << 3);
  }
  return v;
}

/**
 * The run loop's instruction at EIP `ip` lies outside the fetch window (the code went on to
 * another page): open the window on its page from the TLB alone, as the slow fetch would,
 * and say whether the instruction now lies wholly inside it. No page walk, no fault: a page
 * the TLB does not hold with execute permission for this CPL, or that is not plain RAM, is
 * left to the slow fetch. Not between a prefix and its opcode (the slow fetch clips the
 * window to the 15-byte instruction limit then).
 */
export function refillFetch(ip: u32): bool {
  if (prefixes != 0 || ip > csLimit) return false;
  const lin = csBase + ip;
  const e = tlbEntryFor(lin, ACC_EXEC, cpl == 3);
  if (!(e & TLB_RAM)) return false;
  openWindow(ip, lin, (e & 0xfffff000) | (lin & 0xfff));
  return ip - fetchLo < fetchFast;
}

/** Make the RAM page holding `lin` (at EIP `off`) the fetch window, clipped to the CS limit. */
function openWindow(off: u32, lin: u32, phys: u32): void {
  const pageOff = lin & 0xfff;
  let lo = off - pageOff;
  let len: u32 = 0x1000;
  if (lo > csLimit || lo > off) { lo = off; len = 0x1000 - pageOff; } // page starts below EIP 0 or above the limit
  if (csLimit - lo < len - 1) len = csLimit - lo + 1;
  // host(eip) = RAM + (phys & ~0xfff) + (eip - lo) + (lo == off ? pageOff : 0)
  const hostLo = <usize>RAM_BASE + <usize>(phys & 0xfffff000) + <usize>(lo == off ? pageOff : <u32>0);
  setFetchWindow(lo, len, hostLo - <usize>lo);
}

@inline export function fetchImm(): u32 { return opsize32 ? fetch32() : fetch16(); }
@inline export function fetchS8(): u32 { return <u32>(<i32>(<i8>fetch8())); }

// ---- ModRM -----------------------------------------------------------------------------
/** Fetch the ModRM byte and, for a memory operand, compute its segment and offset. */
@inline export function decodeModrm(): void {
  const m = fetch8();
  setModrm(m);
  if (m < 0xc0) decodeEA(m);
}

@inline export function isReg(): bool { return modrm >= 0xc0; }
@inline export function rmReg(): u32 { return modrm & 7; }
@inline export function regField(): u32 { return (modrm >> 3) & 7; }

function decodeEA(m: u32): void {
  if (adsize32) { ea32(m); return; }
  const mod = m >> 6, rm = m & 7;
  let seg: u32 = DS;
  let off: u32 = 0;
  switch (rm) {
    case 0: off = reg16(EBX) + reg16(ESI); break;
    case 1: off = reg16(EBX) + reg16(EDI); break;
    case 2: off = reg16(EBP) + reg16(ESI); seg = SS; break;
    case 3: off = reg16(EBP) + reg16(EDI); seg = SS; break;
    case 4: off = reg16(ESI); break;
    case 5: off = reg16(EDI); break;
    case 6: if (mod == 0) { off = fetch16(); } else { off = reg16(EBP); seg = SS; } break;
    default: off = reg16(EBX); break;
  }
  if (mod == 1) off += fetchS8();
  else if (mod == 2) off += fetch16();
  setEa(segOvr >= 0 ? <u32>segOvr : seg, off & 0xffff);
  setEaEspBase(false);
}

/** 32-bit addressing: ModRM (and SIB) memory operand of ModRM byte m. */
@inline function ea32(m: u32): void {
  const mod = m >> 6, rm = m & 7;
  let seg: u32 = DS;
  let off: u32 = 0;
  let espBase = false;
  if (rm == 4) {
    const sib = fetch8();
    const base = sib & 7, index = (sib >> 3) & 7;
    if (base == 5 && mod == 0) off = fetch32();
    else { off = reg32(base); if (base == 4 || base == 5) seg = SS; }
    espBase = base == 4;
    if (index != 4) off += reg32(index) << (sib >> 6);
  } else if (rm == 5 && mod == 0) {
    off = fetch32();
  } else {
    off = reg32(rm);
    if (rm == 5) seg = SS;
  }
  if (mod == 1) off += fetchS8();
  else if (mod == 2) off += fetch32();
  setEa(segOvr >= 0 ? <u32>segOvr : seg, off);
  setEaEspBase(espBase);
}
/** Segment to use for a default-DS access, honouring an override prefix. */
@inline export function dsSeg(): u32 { return segOvr >= 0 ? <u32>segOvr : DS; }

// ---- segment checks --------------------------------------------------------------------
function segFault(seg: u32): void {
  if (seg == SS) raiseSS(0); else raiseGP(0);
}

/** Linear address for reading `size` bytes at seg:off, or a #GP/#SS raised. */
@inline export function segRead(seg: u32, off: u32, size: u32): u32 {
  if (load<u32>(cpu + R_SEG_PERM + (seg << 2)) & SEGP_BIG_READ) return segBase(seg) + off;
  return segReadChecked(seg, off, size);
}
function segReadChecked(seg: u32, off: u32, size: u32): u32 {
  const lo = load<u32>(cpu + R_SEG_LO + (seg << 2)), hi = load<u32>(cpu + R_SEG_HI + (seg << 2));
  const last = off + size - 1;
  if (off < lo || last > hi || last < off || !(load<u32>(cpu + R_SEG_PERM + (seg << 2)) & SEGP_READ)) { segFault(seg); return 0; }
  return segBase(seg) + off;
}

@inline export function segWrite(seg: u32, off: u32, size: u32): u32 {
  if (load<u32>(cpu + R_SEG_PERM + (seg << 2)) & SEGP_BIG_WRITE) return segBase(seg) + off;
  return segWriteChecked(seg, off, size);
}
function segWriteChecked(seg: u32, off: u32, size: u32): u32 {
  const lo = load<u32>(cpu + R_SEG_LO + (seg << 2)), hi = load<u32>(cpu + R_SEG_HI + (seg << 2));
  const last = off + size - 1;
  if (off < lo || last > hi || last < off || !(load<u32>(cpu + R_SEG_PERM + (seg << 2)) & SEGP_WRITE)) { segFault(seg); return 0; }
  return segBase(seg) + off;
}

// Fast paths: the host address of `size` bytes at seg:off when the segment needs no limit
// check and the TLB maps the page to RAM with the permission needed at this CPL (and the
// access stays within the page), else 0 (RAM_BASE > 0, so 0 is never a RAM address).
@inline export function hostRead(seg: u32, off: u32, size: u32): usize {
  const c = cpu;
  if (!(load<u32>(c + R_SEG_PERM + (seg << 2)) & SEGP_BIG_READ)) return 0;
  const lin = load<u32>(c + R_SEG_BASE + (seg << 2)) + off;
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & rmask) != rmask || (lin & 0xfff) > 0x1000 - size) return 0;
  return <usize>RAM_BASE + <usize>(e & 0xfffff000) + <usize>(lin & 0xfff);
}
@inline export function hostWrite(seg: u32, off: u32, size: u32): usize {
  const c = cpu;
  if (!(load<u32>(c + R_SEG_PERM + (seg << 2)) & SEGP_BIG_WRITE)) return 0;
  const lin = load<u32>(c + R_SEG_BASE + (seg << 2)) + off;
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & wmask) != wmask || (lin & 0xfff) > 0x1000 - size) return 0;
  return <usize>RAM_BASE + <usize>(e & 0xfffff000) + <usize>(lin & 0xfff);
}
// Inlined seg:off accesses: the fast path, else the full one (which checks and may fault).
@inline export function readM8(seg: u32, off: u32): u32 { const h = hostRead(seg, off, 1); return h ? <u32>load<u8>(h) : readV8(seg, off); }
@inline export function readM16(seg: u32, off: u32): u32 { const h = hostRead(seg, off, 2); return h ? <u32>load<u16>(h) : readV16(seg, off); }
@inline export function readM32(seg: u32, off: u32): u32 { const h = hostRead(seg, off, 4); return h ? load<u32>(h) : readV32(seg, off); }
@inline export function writeM8(seg: u32, off: u32, v: u32): void { const h = hostWrite(seg, off, 1); if (h) store<u8>(h, <u8>v); else writeV8(seg, off, v); }
@inline export function writeM16(seg: u32, off: u32, v: u32): void { const h = hostWrite(seg, off, 2); if (h) store<u16>(h, <u16>v); else writeV16(seg, off, v); }
@inline export function writeM32(seg: u32, off: u32, v: u32): void { const h = hostWrite(seg, off, 4); if (h) store<u32>(h, v); else writeV32(seg, off, v); }

// seg:off reads and writes.
export function readV8(seg: u32, off: u32): u32 { const l = segRead(seg, off, 1); return fault ? 0 : readLin8(l); }
export function readV16(seg: u32, off: u32): u32 { const l = segRead(seg, off, 2); return fault ? 0 : readLin16(l); }
export function readV32(seg: u32, off: u32): u32 { const l = segRead(seg, off, 4); return fault ? 0 : readLin32(l); }
export function writeV8(seg: u32, off: u32, v: u32): void { const l = segWrite(seg, off, 1); if (!fault) writeLin8(l, v); }
export function writeV16(seg: u32, off: u32, v: u32): void { const l = segWrite(seg, off, 2); if (!fault) writeLin16(l, v); }
export function writeV32(seg: u32, off: u32, v: u32): void { const l = segWrite(seg, off, 4); if (!fault) writeLin32(l, v); }

// ---- E operands (register or memory per ModRM) -------------------------------------------
@inline export function readE8(): u32 { return modrm >= 0xc0 ? reg8(modrm & 7) : readM8(eaSeg, eaOff); }
@inline export function readE16(): u32 { return modrm >= 0xc0 ? reg16(modrm & 7) : readM16(eaSeg, eaOff); }
@inline export function readE32(): u32 { return modrm >= 0xc0 ? reg32(modrm & 7) : readM32(eaSeg, eaOff); }
@inline export function writeE8(v: u32): void { if (modrm >= 0xc0) setReg8(modrm & 7, v); else writeM8(eaSeg, eaOff, v); }
@inline export function writeE16(v: u32): void { if (modrm >= 0xc0) setReg16(modrm & 7, v); else writeM16(eaSeg, eaOff, v); }
@inline export function writeE32(v: u32): void { if (modrm >= 0xc0) setReg32(modrm & 7, v); else writeM32(eaSeg, eaOff, v); }

// Read-modify-write of the E operand: rmwRead* checks write access up front (so nothing
// commits if the write would fault) and remembers where the operand lives.
let rmwHost: usize = 0; // host address of a RAM operand within one page, else 0
let rmwLin: u32 = 0;
let rmwOld: u32 = 0;
/**
 * A LOCKed compare-and-swap lost a race with another vCPU: the instruction is re-executed
 * (the loop sees the pseudo-vector VEC_RETRY and rewinds EIP without delivering anything).
 * Handlers commit registers only after their rmwWrite, so nothing else needs undoing.
 */
function lostRace(): void { raise(0xffffffff, 0, false); }

function rmwPrepare(size: u32): u32 {
  const lin = segWrite(eaSeg, eaOff, size);
  if (fault) return 0;
  rmwLin = lin;
  const e = load<u32>(tlb + ((lin >>> 12) << 2));
  const need: u32 = TLB_VALID | TLB_RAM | (cpl == 3 ? TLB_USER_W : TLB_SUP_W);
  if ((e & need) == need && (lin & 0xfff) <= 0x1000 - size) {
    rmwHost = <usize>RAM_BASE + <usize>(e & 0xfffff000) + (lin & 0xfff);
    return 1;
  }
  rmwHost = 0;
  if (!probeWrite(lin, size, cpl == 3)) return 0;
  // probeWrite filled the TLB; take the fast path if it is RAM now.
  const e2 = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e2 & need) == need && (lin & 0xfff) <= 0x1000 - size) rmwHost = <usize>RAM_BASE + <usize>(e2 & 0xfffff000) + (lin & 0xfff);
  return 1;
}

@inline export function rmwRead8(): u32 {
  if (modrm >= 0xc0) return reg8(modrm & 7);
  const h = hostWrite(eaSeg, eaOff, 1); // write permission implies read permission
  if (h) { rmwHost = h; rmwOld = <u32>load<u8>(h); return rmwOld; }
  return rmwRead8Mem();
}
function rmwRead8Mem(): u32 {
  if (!rmwPrepare(1)) return 0;
  rmwOld = rmwHost ? <u32>load<u8>(rmwHost) : readLin8(rmwLin);
  return rmwOld;
}
@inline export function rmwRead16(): u32 {
  if (modrm >= 0xc0) return reg16(modrm & 7);
  const h = hostWrite(eaSeg, eaOff, 2);
  if (h) { rmwHost = h; rmwOld = <u32>load<u16>(h); return rmwOld; }
  return rmwRead16Mem();
}
function rmwRead16Mem(): u32 {
  if (!rmwPrepare(2)) return 0;
  rmwOld = rmwHost ? <u32>load<u16>(rmwHost) : readLin16(rmwLin);
  return rmwOld;
}
@inline export function rmwRead32(): u32 {
  if (modrm >= 0xc0) return reg32(modrm & 7);
  const h = hostWrite(eaSeg, eaOff, 4);
  if (h) { rmwHost = h; rmwOld = load<u32>(h); return rmwOld; }
  return rmwRead32Mem();
}
function rmwRead32Mem(): u32 {
  if (!rmwPrepare(4)) return 0;
  rmwOld = rmwHost ? load<u32>(rmwHost) : readLin32(rmwLin);
  return rmwOld;
}

// With LOCK (or an implicitly locked XCHG) on RAM, the write is a compare-and-swap against
// the value read, so another vCPU's update in between is never lost: the loser re-executes
// the instruction. Wasm atomics need natural alignment, so an unaligned operand swaps the
// aligned 4- or 8-byte word around it (a change to a neighbouring byte also counts as a lost
// race). Only an operand that straddles an 8-byte boundary (a split lock, which hardware
// also punishes) is written plainly.
@inline export function rmwWrite8(v: u32): void {
  if (modrm >= 0xc0) setReg8(modrm & 7, v);
  else if (rmwHost != 0 && !(prefixes & PFX_LOCK)) store<u8>(rmwHost, <u8>v);
  else rmwWrite8Mem(v);
}
function rmwWrite8Mem(v: u32): void {
  if (rmwHost) {
    if (prefixes & PFX_LOCK) {
      if (<u32>atomic.cmpxchg<u8>(rmwHost, <u8>rmwOld, <u8>v) != (rmwOld & 0xff)) lostRace();
    } else store<u8>(rmwHost, <u8>v);
  } else writeLin8(rmwLin, v);
}
@inline export function rmwWrite16(v: u32): void {
  if (modrm >= 0xc0) setReg16(modrm & 7, v);
  else if (rmwHost != 0 && !(prefixes & PFX_LOCK)) store<u16>(rmwHost, <u16>v);
  else rmwWrite16Mem(v);
}
function rmwWrite16Mem(v: u32): void {
  if (rmwHost) {
    if (prefixes & PFX_LOCK) {
      if (!(rmwHost & 1)) {
        if (<u32>atomic.cmpxchg<u16>(rmwHost, <u16>rmwOld, <u16>v) != (rmwOld & 0xffff)) lostRace();
      } else if (!casUnaligned(rmwHost, 2, rmwOld & 0xffff, v & 0xffff)) lostRace();
    } else store<u16>(rmwHost, <u16>v);
  } else writeLin16(rmwLin, v);
}
@inline export function rmwWrite32(v: u32): void {
  if (modrm >= 0xc0) setReg32(modrm & 7, v);
  else if (rmwHost != 0 && !(prefixes & PFX_LOCK)) store<u32>(rmwHost, v);
  else rmwWrite32Mem(v);
}
function rmwWrite32Mem(v: u32): void {
  if (rmwHost) {
    if (prefixes & PFX_LOCK) {
      if (!(rmwHost & 3)) {
        if (atomic.cmpxchg<u32>(rmwHost, rmwOld, v) != rmwOld) lostRace();
      } else if (!casUnaligned(rmwHost, 4, rmwOld, v)) lostRace();
    } else store<u32>(rmwHost, v);
  } else writeLin32(rmwLin, v);
}

/**
 * Compare-and-swap of a `size`-byte operand at unaligned host address `h` through the aligned
 * word that holds it (4 bytes if it fits, else 8). False when memory no longer held `old`.
 * An operand across an 8-byte boundary is stored plainly (not atomic: a split lock).
 */
function casUnaligned(h: usize, size: u32, old: u32, v: u32): bool {
  const mask: u64 = size == 2 ? 0xffff : 0xffffffff;
  if ((h & 3) + size <= 4) {
    const w = h & ~(<usize>3);
    const sh = <u32>(h & 3) << 3;
    const cur = atomic.load<u32>(w);
    if (((cur >>> sh) & <u32>mask) != old) return false;
    return atomic.cmpxchg<u32>(w, cur, (cur & ~(<u32>mask << sh)) | (v << sh)) == cur;
  }
  if ((h & 7) + size <= 8) {
    const w = h & ~(<usize>7);
    const sh = <u64>(h & 7) << 3;
    const cur = atomic.load<u64>(w);
    if (((cur >>> sh) & mask) != <u64>old) return false;
    return atomic.cmpxchg<u64>(w, cur, (cur & ~(mask << sh)) | (<u64>v << sh)) == cur;
  }
  if (size == 2) store<u16>(h, <u16>v); else store<u32>(h, v);
  return true;
}

/**
 * LOCK BTS/BTR/BTC (op 1, 2, 3) on the byte at linear `lin` holding bit mask `mask`: one wasm
 * atomic on RAM, so concurrent bit operations of other vCPUs on the same byte are never lost.
 * Returns the byte before the operation (check `fault`).
 */
export function lockedBitByte(lin: u32, op: u32, mask: u32): u32 {
  const need: u32 = TLB_VALID | TLB_RAM | (cpl == 3 ? TLB_USER_W : TLB_SUP_W);
  let e = load<u32>(tlb + ((lin >>> 12) << 2));
  if ((e & need) != need) {
    if (!probeWrite(lin, 1, cpl == 3)) return 0;
    e = load<u32>(tlb + ((lin >>> 12) << 2));
    if ((e & need) != need) { // not RAM (MMIO): no other vCPU can race on it here
      const b = readLin8(lin); if (fault) return 0;
      writeLin8(lin, op == 1 ? b | mask : op == 2 ? b & ~mask : b ^ mask);
      return b;
    }
  }
  const h = <usize>RAM_BASE + <usize>(e & 0xfffff000) + <usize>(lin & 0xfff);
  if (op == 1) return <u32>atomic.or<u8>(h, <u8>mask);
  if (op == 2) return <u32>atomic.and<u8>(h, <u8>~mask);
  return <u32>atomic.xor<u8>(h, <u8>mask);
}

// ---- stack ---------------------------------------------------------------------------------
// Pushes compute the new stack pointer, write, and only then commit it, so a faulting push
// leaves ESP unchanged.

export function push16(v: u32): void {
  if (stack32) {
    const sp = reg32(ESP) - 2;
    writeV16(SS, sp, v);
    if (!fault) setReg32(ESP, sp);
  } else {
    const sp = (reg16(ESP) - 2) & 0xffff;
    writeV16(SS, sp, v);
    if (!fault) setReg16(ESP, sp);
  }
}
export function push32(v: u32): void {
  if (stack32) {
    const sp = reg32(ESP) - 4;
    writeM32(SS, sp, v);
    if (!fault) setReg32(ESP, sp);
  } else {
    const sp = (reg16(ESP) - 4) & 0xffff;
    writeV32(SS, sp, v);
    if (!fault) setReg16(ESP, sp);
  }
}
/** push32 with the flat-stack fast path inlined. */
@inline export function pushFast32(v: u32): void {
  if (stack32) {
    const sp = reg32(ESP) - 4;
    const h = hostWrite(SS, sp, 4);
    if (h) { store<u32>(h, v); setReg32(ESP, sp); return; }
  }
  push32(v);
}
/** pop32 with the flat-stack fast path inlined. */
@inline export function popFast32(): u32 {
  if (stack32) {
    const sp = reg32(ESP);
    const h = hostRead(SS, sp, 4);
    if (h) { setReg32(ESP, sp + 4); return load<u32>(h); }
  }
  return pop32();
}
@inline export function pushV(v: u32): void { if (opsize32) push32(v); else push16(v); }

/** Read the value on top of the stack without popping (at `extra` bytes above SP). */
export function peek16(extra: u32): u32 {
  const sp = stack32 ? reg32(ESP) + extra : (reg16(ESP) + extra) & 0xffff;
  return readV16(SS, sp);
}
export function peek32(extra: u32): u32 {
  const sp = stack32 ? reg32(ESP) + extra : (reg16(ESP) + extra) & 0xffff;
  return readV32(SS, sp);
}
/** Add to the stack pointer in the current stack size. */
export function adjustSP(n: u32): void {
  if (stack32) setReg32(ESP, reg32(ESP) + n); else setReg16(ESP, (reg16(ESP) + n) & 0xffff);
}
export function pop16(): u32 { const v = peek16(0); if (!fault) adjustSP(2); return v; }
export function pop32(): u32 {
  if (stack32) {
    const sp = reg32(ESP);
    const v = readM32(SS, sp);
    if (!fault) setReg32(ESP, sp + 4);
    return v;
  }
  const v = peek32(0); if (!fault) adjustSP(4); return v;
}
@inline export function popV(): u32 { return opsize32 ? pop32() : pop16(); }

// Memory-operand helpers for instructions that read two consecutive values (far pointers,
// BOUND, LGDT) from the E operand.
export function readEA16(delta: u32): u32 {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  return readV16(eaSeg, off);
}
export function readEA32(delta: u32): u32 {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  return readV32(eaSeg, off);
}
export function writeEA16(delta: u32, v: u32): void {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  writeV16(eaSeg, off, v);
}
export function writeEA32(delta: u32, v: u32): void {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  writeV32(eaSeg, off, v);
}
export function writeEA8(delta: u32, v: u32): void {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  writeV8(eaSeg, off, v);
}
export function readEA8(delta: u32): u32 {
  const off = adsize32 ? eaOff + delta : (eaOff + delta) & 0xffff;
  return readV8(eaSeg, off);
}

export { ES, CS, SS, DS, EXC_GP, raise, ACC_READ, ACC_WRITE };

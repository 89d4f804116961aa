// x87 state images: FNSTENV/FLDENV (14/28 bytes), FNSAVE/FRSTOR (94/108 bytes) in the
// protected-mode and real/V86-mode layouts (SDM Vol. 1 figures 8-9 to 8-12), and
// FXSAVE/FXRSTOR (512 bytes, SDM Vol. 2 FXSAVE table). Every image is checked in full
// (segment limits and all pages) before the first byte moves, so a fault commits nothing.

import { R_FPU_IP, R_FPU_CS, R_FPU_DP, R_FPU_DS, R_FPU_OPCODE, R_MXCSR } from '../memory-map';
import { cpu, cpl, fault, eaSeg, eaOff, raiseGP, cr4, CR4_OSFXSR } from './state';
import { segRead, segWrite } from './decode';
import { readLin16, readLin32, writeLin16, writeLin32, probeRead, probeWrite } from './mmu';
import {
  getCW, setCW, getSW, setSW, getTagWord, setTagWord, retag, syncES, physOf, physGet, physTag, setPhysTag,
  classify, TAG_EMPTY, CW_INIT,
} from './fpu-stack';
import { mk, sigOf, seOf } from './fpu-soft';
import { R_FPU_ST, R_FPU_TOP } from '../memory-map';

/** MXCSR bits a P6-class FXRSTOR accepts (bit 6, DAZ, and bits 16-31 are reserved). */
export const MXCSR_MASK: u32 = 0xffbf;
export const MXCSR_RESET: u32 = 0x1f80;

// ---- memory operand access with up-front checks ---------------------------------------------------
/** Linear address of the memory operand for reading `size` bytes; every page checked. */
export function operandReadLin(size: u32): u32 {
  const lin = segRead(eaSeg, eaOff, size);
  if (fault) return 0;
  probeRead(lin, size, cpl == 3);
  return lin;
}
/** Linear address of the memory operand for writing `size` bytes; every page checked. */
export function operandWriteLin(size: u32): u32 {
  const lin = segWrite(eaSeg, eaOff, size);
  if (fault) return 0;
  probeWrite(lin, size, cpl == 3);
  return lin;
}

/** Write an 80-bit register value at lin (10 bytes: significand, then sign|exponent). */
export function writeExt(lin: u32, v: v128): void {
  const sig = sigOf(v);
  writeLin32(lin, <u32>sig);
  writeLin32(lin + 4, <u32>(sig >> 32));
  writeLin16(lin + 8, seOf(v));
}
/** Read an 80-bit value at lin, exactly (any encoding, as FLD m80 and FRSTOR load it). */
export function readExt(lin: u32): v128 {
  const lo = <u64>readLin32(lin), hi = <u64>readLin32(lin + 4), se = readLin16(lin + 8);
  return mk(lo | (hi << 32), se);
}

// ---- FNINIT ----------------------------------------------------------------------------------------
export function fninit(): void {
  setCW(CW_INIT);
  setSW(0);
  setTagWord(0xffff);
  store<u32>(cpu + R_FPU_IP, 0);
  store<u32>(cpu + R_FPU_CS, 0);
  store<u32>(cpu + R_FPU_DP, 0);
  store<u32>(cpu + R_FPU_DS, 0);
  store<u32>(cpu + R_FPU_OPCODE, 0);
}

// ---- environment -------------------------------------------------------------------------------------
// Reserved halves of the 32-bit image are written as ones, as Intel processors do.
function storeEnv(lin: u32, op32: bool, real: bool): void {
  const cw = getCW(), sw = getSW(), tw = getTagWord();
  const fip = load<u32>(cpu + R_FPU_IP), fcs = load<u32>(cpu + R_FPU_CS) & 0xffff;
  const fdp = load<u32>(cpu + R_FPU_DP), fds = load<u32>(cpu + R_FPU_DS) & 0xffff;
  const fop = load<u32>(cpu + R_FPU_OPCODE) & 0x7ff;
  // Real/V86 images hold 20/32-bit linear pointers instead of selector:offset.
  const ipLin = (fcs << 4) + fip, dpLin = (fds << 4) + fdp;
  if (op32) {
    writeLin32(lin, 0xffff0000 | cw);
    writeLin32(lin + 4, 0xffff0000 | sw);
    writeLin32(lin + 8, 0xffff0000 | tw);
    if (!real) {
      writeLin32(lin + 12, fip);
      writeLin32(lin + 16, (fop << 16) | fcs);
      writeLin32(lin + 20, fdp);
      writeLin32(lin + 24, 0xffff0000 | fds);
    } else {
      writeLin32(lin + 12, 0xffff0000 | (ipLin & 0xffff));
      writeLin32(lin + 16, ((ipLin >> 4) & 0x0ffff000) | fop);
      writeLin32(lin + 20, 0xffff0000 | (dpLin & 0xffff));
      writeLin32(lin + 24, (dpLin >> 4) & 0x0ffff000);
    }
  } else {
    writeLin16(lin, cw);
    writeLin16(lin + 2, sw);
    writeLin16(lin + 4, tw);
    if (!real) {
      writeLin16(lin + 6, fip);
      writeLin16(lin + 8, fcs);
      writeLin16(lin + 10, fdp);
      writeLin16(lin + 12, fds);
    } else {
      writeLin16(lin + 6, ipLin);
      writeLin16(lin + 8, ((ipLin >> 4) & 0xf000) | fop);
      writeLin16(lin + 10, dpLin);
      writeLin16(lin + 12, (dpLin >> 4) & 0xf000);
    }
  }
}

/** Load an environment image (the caller checked the whole range). Tags of non-empty registers are recomputed. */
function loadEnv(lin: u32, op32: bool, real: bool): void {
  let cw: u32, sw: u32, tw: u32, fip: u32, fcs: u32 = 0, fdp: u32, fds: u32 = 0;
  let fop = load<u32>(cpu + R_FPU_OPCODE);
  if (op32) {
    cw = readLin16(lin); sw = readLin16(lin + 4); tw = readLin16(lin + 8);
    if (!real) {
      fip = readLin32(lin + 12);
      const w = readLin32(lin + 16);
      fcs = w & 0xffff; fop = (w >> 16) & 0x7ff;
      fdp = readLin32(lin + 20);
      fds = readLin16(lin + 24);
    } else {
      const w = readLin32(lin + 16);
      fip = readLin16(lin + 12) | ((w << 4) & 0xffff0000);
      fop = w & 0x7ff;
      fdp = readLin16(lin + 20) | ((readLin32(lin + 24) << 4) & 0xffff0000);
    }
  } else {
    cw = readLin16(lin); sw = readLin16(lin + 2); tw = readLin16(lin + 4);
    if (!real) {
      fip = readLin16(lin + 6); fcs = readLin16(lin + 8);
      fdp = readLin16(lin + 10); fds = readLin16(lin + 12);
    } else {
      const w = readLin16(lin + 8);
      fip = readLin16(lin + 6) | ((w & 0xf000) << 4);
      fop = w & 0x7ff;
      fdp = readLin16(lin + 10) | ((readLin16(lin + 12) & 0xf000) << 4);
    }
  }
  if (fault) return;
  setCW((cw & 0x1f3f) | 0x40);
  setSW(sw);
  setTagWord(tw);
  retag();
  syncES();
  store<u32>(cpu + R_FPU_IP, fip);
  store<u32>(cpu + R_FPU_CS, fcs);
  store<u32>(cpu + R_FPU_DP, fdp);
  store<u32>(cpu + R_FPU_DS, fds);
  store<u32>(cpu + R_FPU_OPCODE, fop & 0x7ff);
}

/** FNSTENV: store the environment, then mask all exceptions. */
export function fnstenv(op32: bool, real: bool): void {
  const lin = operandWriteLin(op32 ? 28 : 14);
  if (fault) return;
  storeEnv(lin, op32, real);
  setCW(getCW() | 0x3f);
}

export function fldenv(op32: bool, real: bool): void {
  const lin = operandReadLin(op32 ? 28 : 14);
  if (fault) return;
  loadEnv(lin, op32, real);
}

/** FNSAVE: environment + ST(0)..ST(7) as 80-bit values, then FNINIT. */
export function fnsave(op32: bool, real: bool): void {
  const env: u32 = op32 ? 28 : 14;
  const lin = operandWriteLin(env + 80);
  if (fault) return;
  storeEnv(lin, op32, real);
  for (let i: u32 = 0; i < 8; i++) writeExt(lin + env + i * 10, physGet(physOf(i)));
  fninit();
}

export function frstor(op32: bool, real: bool): void {
  const env: u32 = op32 ? 28 : 14;
  const lin = operandReadLin(env + 80);
  if (fault) return;
  loadEnv(lin, op32, real);
  if (fault) return;
  for (let i: u32 = 0; i < 8; i++) {
    v128.store(cpu + R_FPU_ST + (physOf(i) << 4), readExt(lin + env + i * 10));
  }
  retag();
}

// ---- FXSAVE / FXRSTOR --------------------------------------------------------------------------------
function fxLin(write: bool): u32 {
  const lin = write ? segWrite(eaSeg, eaOff, 512) : segRead(eaSeg, eaOff, 512);
  if (fault) return 0;
  if (lin & 15) { raiseGP(0); return 0; }
  if (write) probeWrite(lin, 512, cpl == 3); else probeRead(lin, 512, cpl == 3);
  return lin;
}

/**
 * FXSAVE: the legacy 512-byte image. Bytes 160-287 (XMM0-7) are written as zeros — this
 * CPU has no XMM registers; bytes 288-511 are left untouched, as on hardware.
 */
export function fxsaveImage(): void {
  const lin = fxLin(true);
  if (fault) return;
  let ftw: u32 = 0; // abridged: one bit per physical register, 1 = not empty
  for (let p: u32 = 0; p < 8; p++) if (physTag(p) != TAG_EMPTY) ftw |= <u32>1 << p;
  writeLin32(lin, getCW() | (getSW() << 16));
  writeLin32(lin + 4, ftw | ((load<u32>(cpu + R_FPU_OPCODE) & 0x7ff) << 16));
  writeLin32(lin + 8, load<u32>(cpu + R_FPU_IP));
  writeLin32(lin + 12, load<u32>(cpu + R_FPU_CS) & 0xffff);
  writeLin32(lin + 16, load<u32>(cpu + R_FPU_DP));
  writeLin32(lin + 20, load<u32>(cpu + R_FPU_DS) & 0xffff);
  writeLin32(lin + 24, load<u32>(cpu + R_MXCSR));
  writeLin32(lin + 28, MXCSR_MASK);
  for (let i: u32 = 0; i < 8; i++) {
    const a = lin + 32 + i * 16;
    writeExt(a, physGet(physOf(i)));
    writeLin16(a + 10, 0);
    writeLin32(a + 12, 0);
  }
  for (let a: u32 = 160; a < 288; a += 4) writeLin32(lin + a, 0);
}

/** FXRSTOR: #GP(0) for reserved MXCSR bits (checked only with CR4.OSFXSR, which enables that field). */
export function fxrstorImage(): void {
  const lin = fxLin(false);
  if (fault) return;
  const osfxsr = (cr4() & CR4_OSFXSR) != 0;
  const mxcsr = readLin32(lin + 24);
  if (osfxsr && (mxcsr & ~MXCSR_MASK) != 0) { raiseGP(0); return; }
  const w0 = readLin32(lin), w1 = readLin32(lin + 4);
  const fip = readLin32(lin + 8), fcs = readLin16(lin + 12);
  const fdp = readLin32(lin + 16), fds = readLin16(lin + 20);
  if (fault) return;
  setCW(((w0 & 0xffff) & 0x1f3f) | 0x40);
  setSW(w0 >> 16);
  store<u32>(cpu + R_FPU_OPCODE, (w1 >> 16) & 0x7ff);
  store<u32>(cpu + R_FPU_IP, fip);
  store<u32>(cpu + R_FPU_CS, fcs);
  store<u32>(cpu + R_FPU_DP, fdp);
  store<u32>(cpu + R_FPU_DS, fds);
  if (osfxsr) store<u32>(cpu + R_MXCSR, mxcsr);
  for (let i: u32 = 0; i < 8; i++) {
    v128.store(cpu + R_FPU_ST + (physOf(i) << 4), readExt(lin + 32 + i * 16));
  }
  for (let p: u32 = 0; p < 8; p++) {
    setPhysTag(p, (w1 >> p) & 1 ? classify(physGet(p)) : TAG_EMPTY);
  }
  syncES();
}

/** Power-on state (SDM Vol. 3A table 9-1): CW 0040H, tags 5555H, registers +0.0, MXCSR 1F80H. */
export function fpuPowerOn(): void {
  for (let p: u32 = 0; p < 8; p++) v128.store(cpu + R_FPU_ST + (p << 4), mk(0, 0));
  setCW(0x0040);
  setSW(0);
  store<u32>(cpu + R_FPU_TOP, 0);
  setTagWord(0x5555);
  store<u32>(cpu + R_FPU_IP, 0);
  store<u32>(cpu + R_FPU_CS, 0);
  store<u32>(cpu + R_FPU_DP, 0);
  store<u32>(cpu + R_FPU_DS, 0);
  store<u32>(cpu + R_FPU_OPCODE, 0);
  store<u32>(cpu + R_MXCSR, MXCSR_RESET);
}

// x87 register stack, tag word, status/control words and the exception commit, all kept in
// this vCPU's state block (memory-map.ts R_FPU_*). Registers (80-bit values, see fpu-soft.ts)
// are stored in physical order;
// ST(i) is physical register (TOP + i) & 7.

import {
  R_FPU_ST, R_FPU_CW, R_FPU_SW, R_FPU_TOP, R_FPU_TAG, R_FPU_IP, R_FPU_CS, R_FPU_DP, R_FPU_DS, R_FPU_OPCODE,
} from '../memory-map';
import { cpu, cr0, CR0_NE, raise, EXC_MF, instrEip, segSel, CS, eaSeg, eaOff, modrm } from './state';
import { exc, c1, FE_IE, FE_DE, FE_ZE, FE_SF, indefinite, expOf, sigOf, INT_BIT } from './fpu-soft';

// Status word bits (R_FPU_SW keeps everything but TOP, bits 11-13).
export const SW_ES: u32 = 0x80;
export const SW_C0: u32 = 0x100;
export const SW_C1: u32 = 0x200;
export const SW_C2: u32 = 0x400;
export const SW_C3: u32 = 0x4000;
export const SW_B: u32 = 0x8000;
export const SW_CC: u32 = SW_C0 | SW_C1 | SW_C2 | SW_C3;

export const TAG_VALID: u32 = 0;
export const TAG_ZERO: u32 = 1;
export const TAG_SPECIAL: u32 = 2;
export const TAG_EMPTY: u32 = 3;

export const CW_INIT: u32 = 0x037f; // FNINIT
export const CW_RESET: u32 = 0x0040; // power-on (SDM Vol. 3A table 9-1)

@inline export function getCW(): u32 { return load<u32>(cpu + R_FPU_CW); }
@inline export function setCW(v: u32): void { store<u32>(cpu + R_FPU_CW, v); }
@inline export function getSWRaw(): u32 { return load<u32>(cpu + R_FPU_SW); }
@inline export function setSWRaw(v: u32): void { store<u32>(cpu + R_FPU_SW, v & ~0x3800); }
@inline export function getTop(): u32 { return load<u32>(cpu + R_FPU_TOP) & 7; }
@inline export function setTop(v: u32): void { store<u32>(cpu + R_FPU_TOP, v & 7); }
@inline export function getTagWord(): u32 { return load<u32>(cpu + R_FPU_TAG) & 0xffff; }
@inline export function setTagWord(v: u32): void { store<u32>(cpu + R_FPU_TAG, v & 0xffff); }

/** The status word as software sees it: with TOP, and B mirroring ES. */
export function getSW(): u32 {
  let sw = getSWRaw() & ~SW_B;
  if (sw & SW_ES) sw |= SW_B;
  return sw | (getTop() << 11);
}
/** Load a full status word (TOP included). */
export function setSW(v: u32): void {
  setTop((v >> 11) & 7);
  setSWRaw(v);
}
/** ES and B follow the unmasked exception flags (after loading CW or SW). */
export function syncES(): void {
  let sw = getSWRaw();
  if (sw & ~getCW() & 0x3f) sw |= SW_ES | SW_B;
  else sw &= ~(SW_ES | SW_B);
  setSWRaw(sw);
}

/** Replace the condition-code bits selected by `mask`. */
export function setCC(mask: u32, bits: u32): void {
  setSWRaw((getSWRaw() & ~mask) | (bits & mask));
}

// ---- registers and tags ------------------------------------------------------------------------------
@inline export function physOf(i: u32): u32 { return (getTop() + i) & 7; }
@inline export function physGet(p: u32): v128 { return v128.load(cpu + R_FPU_ST + ((p & 7) << 4)); }
@inline export function physTag(p: u32): u32 { return (getTagWord() >> ((p & 7) << 1)) & 3; }

export function setPhysTag(p: u32, t: u32): void {
  const sh = (p & 7) << 1;
  setTagWord((getTagWord() & ~(<u32>3 << sh)) | (t << sh));
}

/** Tag of a value held in a register: denormals, unnormals, NaNs and infinities are special. */
export function classify(v: v128): u32 {
  const e = expOf(v), sig = sigOf(v);
  if (e == 0) return sig == 0 ? TAG_ZERO : TAG_SPECIAL;
  if (e == 0x7fff || (sig & INT_BIT) == 0) return TAG_SPECIAL;
  return TAG_VALID;
}

export function physSet(p: u32, v: v128): void {
  v128.store(cpu + R_FPU_ST + ((p & 7) << 4), v);
  setPhysTag(p, classify(v));
}

@inline export function st(i: u32): v128 { return physGet(physOf(i)); }
@inline export function setST(i: u32, v: v128): void { physSet(physOf(i), v); }
@inline export function isEmpty(i: u32): bool { return physTag(physOf(i)) == TAG_EMPTY; }

export function push(v: v128): void {
  const t = (getTop() - 1) & 7;
  setTop(t);
  physSet(t, v);
}
export function pop(): void {
  const t = getTop();
  setPhysTag(t, TAG_EMPTY);
  setTop(t + 1);
}
/** Recompute the tags of non-empty registers from their contents (after loading a tag word). */
export function retag(): void {
  for (let p: u32 = 0; p < 8; p++) if (physTag(p) != TAG_EMPTY) setPhysTag(p, classify(physGet(p)));
}

// ---- exceptions ----------------------------------------------------------------------------------------
/**
 * #MF for a waiting instruction when an unmasked exception is pending (SW.ES). With CR0.NE=0
 * a PC would signal FERR# to the interrupt controller (IRQ13); that wire is not modelled, so
 * the exception just stays pending and the instruction runs. Returns true if #MF was raised.
 */
export function checkPending(): bool {
  if ((getSWRaw() & SW_ES) != 0 && (cr0() & CR0_NE) != 0) {
    raise(EXC_MF, 0, false);
    return true;
  }
  return false;
}

/**
 * Fold the current instruction's exceptions into the status word and set C1. Unmasked
 * exceptions set ES and B (the next waiting instruction raises #MF). Returns true when an
 * unmasked exception in `abortMask` means the result must not be written.
 */
export function commit(abortMask: u32): bool {
  const unmasked = exc & ~getCW() & 0x3f;
  let sw = getSWRaw() | exc;
  if (unmasked) sw |= SW_ES | SW_B;
  sw = (sw & ~SW_C1) | (c1 ? SW_C1 : 0);
  setSWRaw(sw);
  return (unmasked & abortMask) != 0;
}
/** Abort mask for register destinations: IE, DE, ZE. */
export const ABORT_REG: u32 = FE_IE | FE_DE | FE_ZE;

/** Masked response to a stack fault is possible (IE masked). */
@inline export function ieMasked(): bool { return (getCW() & FE_IE) != 0; }

export { FE_SF, indefinite };

// ---- instruction and operand pointers ---------------------------------------------------------------
/** Record FIP/FCS/FOP (and FDP/FDS for a memory operand) for a non-control instruction. */
export function recordPointers(op: u32, hasMem: bool): void {
  store<u32>(cpu + R_FPU_IP, instrEip);
  store<u32>(cpu + R_FPU_CS, segSel(CS));
  store<u32>(cpu + R_FPU_OPCODE, ((op & 7) << 8) | (modrm & 0xff));
  if (hasMem) {
    store<u32>(cpu + R_FPU_DP, eaOff);
    store<u32>(cpu + R_FPU_DS, segSel(eaSeg));
  }
}

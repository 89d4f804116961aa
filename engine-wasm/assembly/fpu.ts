// x87 FPU: escape opcodes D8-DF. The full instruction set is being written in this file;
// until it lands every x87 instruction raises #UD, and CPUID does not yet claim FPU
// support in the guest-visible sense that matters (see CONTEXT.md).
import { raiseUD } from './state';

/** Execute x87 escape `op` (0xD8-0xDF) with the ModRM already decoded. */
export function fpuEsc(op: u32): void {
  raiseUD();
}

/** FXSAVE / FXRSTOR (0F AE /0 /1). */
export function fxsave(): void { raiseUD(); }
export function fxrstor(): void { raiseUD(); }

/** FNINIT-equivalent state for reset. */
export function fpuReset(): void {}

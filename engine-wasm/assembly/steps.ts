// Instruction counter of the current run() call (per instance = per vCPU).
import { R_ICOUNT, R_NOW } from '../memory-map';
import { cpu, flushLazy } from './state';

export let steps: u32 = 0;
export let stepsEnd: u32 = 0;
@inline export function getSteps(): u32 { return steps; }
@inline export function setSteps(v: u32): void { steps = v; }
@inline export function setStepsEnd(v: u32): void { stepsEnd = v; }
/** Set to make the execute() loop return after the current instruction. */
export let leaveLoop: bool = false;
@inline export function setLeaveLoop(v: bool): void { leaveLoop = v; }
/** End the current run() after this instruction. */
@inline export function stopRun(): void { stepsEnd = steps; leaveLoop = true; }
/** Leave the execute() loop after this instruction (R_PENDING changed: the run loop looks at it). */
export function endChunk(): void { leaveLoop = true; }
/**
 * Publish the current guest cycle count and the lazy flags for the host (call before every
 * host import). A host call may raise an interrupt line or ask for an exit (R_PENDING), so
 * the execute() loop ends after this instruction and run() looks at R_PENDING at once.
 */
export function syncNow(): void {
  store<f64>(cpu + R_NOW, <f64>(load<u64>(cpu + R_ICOUNT) + <u64>steps));
  flushLazy();
  leaveLoop = true;
}

// Instruction counter of the current run() call (per instance = per vCPU).
import { R_ICOUNT, R_NOW } from '../memory-map';
import { cpu, flushLazy } from './state';

export let steps: u32 = 0;
export let stepsEnd: u32 = 0;
@inline export function getSteps(): u32 { return steps; }
@inline export function setSteps(v: u32): void { steps = v; }
@inline export function setStepsEnd(v: u32): void { stepsEnd = v; }
/**
 * The execute() loop runs while `steps` < loopEnd: it sets this to its limit, and anything
 * that must end the loop after the current instruction sets it to 0 (one compare per
 * instruction covers both).
 */
export let loopEnd: u32 = 0;
@inline export function setLoopEnd(v: u32): void { loopEnd = v; }
/** End the current run() after this instruction. */
@inline export function stopRun(): void { stepsEnd = steps; loopEnd = 0; }
/** Leave the execute() loop after this instruction (R_PENDING changed: the run loop looks at it). */
export function endChunk(): void { loopEnd = 0; }
/**
 * Publish the current guest cycle count and the lazy flags for the host (call before every
 * host import). A host call may raise an interrupt line or ask for an exit (R_PENDING), so
 * the execute() loop ends after this instruction and run() looks at R_PENDING at once.
 */
export function syncNow(): void {
  store<f64>(cpu + R_NOW, <f64>(load<u64>(cpu + R_ICOUNT) + <u64>steps));
  flushLazy();
  loopEnd = 0;
}

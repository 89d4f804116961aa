// Instruction counter of the current run() call (per instance = per vCPU).
import { R_ICOUNT, R_NOW, R_PAUSE_CYCLES } from '../memory-map';
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

/**
 * PAUSE (F3 90) takes this many guest cycles (ns) rather than one: about its latency on
 * current Intel cores (SDM optimization manual: up to 140 cycles since Skylake). Spin-wait
 * loops (udelay, the APIC timer calibration) pause in every round, so they retire far
 * fewer instructions for the same guest time, much as a hypervisor's PAUSE-loop exiting
 * ends such spins on hardware.
 */
const PAUSE_CYCLES: u32 = 128;
/** Cycles PAUSE added in the current execute() call, folded into `steps` by run(). */
export let pauseExtra: u32 = 0;
export function pauseHint(): void { pauseExtra += PAUSE_CYCLES - 1; endChunk(); }
/** Count the extra PAUSE cycles as guest time (and apart, so the host can tell instructions from cycles). */
export function foldPause(): void {
  steps += pauseExtra;
  store<u64>(cpu + R_PAUSE_CYCLES, load<u64>(cpu + R_PAUSE_CYCLES) + <u64>pauseExtra);
  pauseExtra = 0;
}

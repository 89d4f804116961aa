// Instruction counter of the current run() call (per instance = per vCPU).
export let steps: u32 = 0;
export let stepsEnd: u32 = 0;
@inline export function getSteps(): u32 { return steps; }
@inline export function setSteps(v: u32): void { steps = v; }
@inline export function setStepsEnd(v: u32): void { stepsEnd = v; }
/** End the current run() after this instruction. */
@inline export function stopRun(): void { stepsEnd = steps; }

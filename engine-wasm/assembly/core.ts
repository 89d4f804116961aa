// The fetch-decode-execute loop, prefixes, exception and interrupt delivery.

import {
  R_EIP, R_PENDING, R_INT_SHADOW, R_DEFERRED_DB, R_HALTED, R_ICOUNT, R_EXIT_REASON, R_NMI_BLOCKED, R_EFLAGS,
  PEND_INTR, PEND_NMI, PEND_EXIT, PEND_TF, PEND_DBG, JIT_NOT_A_JUMP, JIT_LOOK_AFTER, JIT_RESULT_FLAGS,
  EXIT_BUDGET, EXIT_HALT, EXIT_STOPPED, EXIT_REQUEST, EXIT_TRIPLE_FAULT, CTRL_BASE, CTRL_NR_VCPUS,
} from '../memory-map';
import {
  cpu, eip, setEip, instrEip, setInstrEip, code32, setOpsize32, setAdsize32, opsize32, adsize32,
  prefixes, setPrefixes, setSegOvr, fault, clearFault, excVector, excCode, excHasCode, raise, raiseGP, raiseUD,
  loadLazy, PFX_LOCK, KEY_RESET, setKeyBase, keyBase, fetchLo, fetchFast, fetchBase, PFX_OPSIZE, PFX_ADSIZE, PFX_REP, PFX_REPNE, PFX_SEG, EXC_DF, EXC_PF, EXC_NM, EXC_DB, EXC_NMI, EXC_UD,
  FLAG_IF, FLAG_TF, FLAG_RF, csBase, getEflags, delivered, setDelivered, clipFetchToInstruction, invalidateFetch, cr0, CR0_EM, CR0_TS, syncEipToMemory, loadEipFromMemory, modrm,
} from './state';
import { fetch8 } from './state';
import { refillFetch } from './decode';
import { dispatch, dispatchLocked, dispatchFull } from './dispatch.gen';
import { jitOn, jitEnter, resumeEip } from './jit';
import { deliverInterrupt, recordException, INT_EXT } from './system';
import { HLT } from './ops-sys';
import { fpuEsc, fxsave, fxrstor } from './fpu';
import { steps, stepsEnd, setSteps, setStepsEnd, stopRun, syncNow, loopEnd, setLoopEnd, pauseExtra, pauseHint, foldPause } from './steps';
import { dbgHit, clearDbgHit, dbgExecHits, dbgReport, DR6_BS } from './debug';

@external("env", "intAck") declare function hostIntAck(): i32;

let exitReason: i32 = EXIT_BUDGET;

// ---- prefixes ------------------------------------------------------------------------------------
// The full decoder (dispatchFull() in dispatch.gen.ts) handles a prefix by updating the
// decode state (prefixState*) and continuing with the next byte (nextKey). After LOCK,
// decoding goes on through dispatchLocked and the prefix*/escape0F functions below.

/** Set when a prefix clipped the fetch window to the 15-byte limit (dropped after the instruction). */
let clippedFetch: bool = false;

/** Fetch the opcode byte after a prefix (an instruction may not exceed 15 bytes). */
@inline export function nextKey(): u32 {
  if (clipFetchToInstruction()) clippedFetch = true;
  const op = fetch8();
  return op | (opsize32 ? 0x200 : 0);
}
/** Fetch the second byte of a 0F-map opcode in the full decoder (dispatchFull keys). */
@inline export function escapeKeyPrefixed(): u32 {
  const op = fetch8();
  return 0x100 | op | (opsize32 ? 0x200 : 0);
}
/** Decode state for an instruction without prefixes (after one with prefixes or a mode change). */
@inline function resetDecode(): void {
  setPrefixes(0);
  setSegOvr(-1);
  setOpsize32(code32);
  setAdsize32(code32);
  setKeyBase(keyBase & ~KEY_RESET);
}
@inline export function prefixStateSeg(s: u32): void { setSegOvr(<i32>s); setPrefixes(prefixes | PFX_SEG); }
@inline export function prefixStateOpsize(): void { setPrefixes(prefixes | PFX_OPSIZE); setOpsize32(!code32); }
@inline export function prefixStateAdsize(): void { setPrefixes(prefixes | PFX_ADSIZE); setAdsize32(!code32); }
@inline export function prefixStateRep(p: u32): void { setPrefixes((prefixes & ~(PFX_REP | PFX_REPNE)) | p); }

// After LOCK (the only way these are reached): continue in dispatchLocked.
function next(): void {
  const clipped = clipFetchToInstruction();
  const op = fetch8();
  if (!fault) dispatchLocked(op | (opsize32 ? 0x200 : 0));
  if (clipped) invalidateFetch();
}
export function prefixSeg(s: u32): void { prefixStateSeg(s); next(); }
export function prefixOpsize(): void { prefixStateOpsize(); next(); }
export function prefixAdsize(): void { prefixStateAdsize(); next(); }
export function prefixRep(p: u32): void { prefixStateRep(p); next(); }
export function prefixLock(): void { setPrefixes(prefixes | PFX_LOCK); next(); }
/** XCHG with a memory operand is locked without a prefix. */
export function lockImplicit(): void { if (modrm < 0xc0) setPrefixes(prefixes | PFX_LOCK); }

export function escape0F(): void {
  const op = fetch8();
  if (fault) return;
  dispatchLocked(0x100 | op | (opsize32 ? 0x200 : 0));
}

export function doHLT(): void {
  if (HLT()) {
    exitReason = (getEflags() & FLAG_IF) ? EXIT_HALT : EXIT_STOPPED;
    stopRun();
  }
}

/** NOP; with F3 it is PAUSE, a spin-wait hint that takes more guest time (steps.ts pauseHint). */
export function NOP(): void { if (prefixes & PFX_REP) pauseHint(); }

/** Pseudo-vector for "re-execute this instruction" (a LOCKed compare-and-swap lost a race). */
export const VEC_RETRY: u32 = 0xffffffff;

/** x87 escape: #NM when the FPU is emulated (CR0.EM) or its state belongs to another task (CR0.TS). */
export function x87(op: u32): void {
  const c0 = cr0();
  if (c0 & (CR0_EM | CR0_TS)) { raise(EXC_NM, 0, false); return; }
  fpuEsc(op);
}
export function grp15(): void {
  const r = (modrm >> 3) & 7;
  if (modrm >= 0xc0 || r > 1) { raiseUD(); return; }
  const c0 = cr0();
  if (c0 & (CR0_EM | CR0_TS)) { raise(c0 & CR0_EM ? EXC_UD : EXC_NM, 0, false); return; }
  if (r == 0) fxsave(); else fxrstor();
}

// ---- exceptions ----------------------------------------------------------------------------------
// Double-fault classes (SDM Vol. 3A table 6-5).
function contributory(v: u32): bool { return v == 0 || (v >= 10 && v <= 13); }

/** Deliver the pending fault of the instruction at instrEip. False on a triple fault. */
function deliverFault(): bool {
  let vec = excVector, code = excCode, hasCode = excHasCode;
  clearFault();
  setEip(instrEip);
  recordException(vec, code, instrEip);
  if (deliverInterrupt(vec, INT_EXT, hasCode, code, instrEip)) return true;
  // A second exception while delivering the first.
  const v2 = excVector, c2 = excCode, h2 = excHasCode;
  clearFault();
  if (vec == EXC_DF) return false; // triple fault
  const df = (contributory(vec) && contributory(v2)) || (vec == EXC_PF && (v2 == EXC_PF || contributory(v2)));
  if (df) {
    recordException(EXC_DF, 0, instrEip);
    if (deliverInterrupt(EXC_DF, INT_EXT, true, 0, instrEip)) return true;
    clearFault();
    return false;
  }
  // Benign combinations are handled serially: deliver the second one.
  recordException(v2, c2, instrEip);
  if (deliverInterrupt(v2, INT_EXT, h2, c2, instrEip)) return true;
  clearFault();
  if (v2 == EXC_DF) return false;
  if (deliverInterrupt(EXC_DF, INT_EXT, true, 0, instrEip)) return true;
  clearFault();
  return false;
}

/** Deliver an external interrupt or NMI at the current instruction boundary. */
function deliverExternal(vec: u32): bool {
  setInstrEip(eip);
  if (deliverInterrupt(vec, INT_EXT, false, 0, eip)) return true;
  return deliverFault();
}

// ---- the loop ----------------------------------------------------------------------------------------
// What servicePending() did: run() must return / nothing was delivered / an event was delivered.
const PENDING_EXIT: u32 = 0;
const PENDING_NONE: u32 = 1;
const PENDING_TAKEN: u32 = 2;

/**
 * Handle R_PENDING at an instruction boundary: at most one event, NMI before a maskable
 * interrupt (SDM Vol. 3A §6.9). A fault or software interrupt of the instruction before
 * (one in an STI/MOV SS shadow included) was delivered already, inside execute().
 */
function servicePending(pend: u32): u32 {
  if (pend & PEND_EXIT) {
    atomic.and<u32>(cpu + R_PENDING, ~PEND_EXIT);
    exitReason = EXIT_REQUEST;
    return PENDING_EXIT;
  }
  if ((pend & PEND_NMI) && !load<u32>(cpu + R_NMI_BLOCKED)) {
    atomic.and<u32>(cpu + R_PENDING, ~PEND_NMI);
    store<u32>(cpu + R_HALTED, 0);
    store<u32>(cpu + R_NMI_BLOCKED, 1);
    if (!deliverExternal(EXC_NMI)) { exitReason = EXIT_TRIPLE_FAULT; return PENDING_EXIT; }
    return PENDING_TAKEN;
  }
  if ((pend & PEND_INTR) && (load<u32>(cpu + R_EFLAGS) & FLAG_IF)) {
    syncNow();
    const v = hostIntAck();
    if (v >= 0) {
      store<u32>(cpu + R_HALTED, 0);
      if (!deliverExternal(<u32>v)) { exitReason = EXIT_TRIPLE_FAULT; return PENDING_EXIT; }
      return PENDING_TAKEN;
    }
  }
  return PENDING_NONE;
}

/**
 * Run up to `budget` instructions. Returns an EXIT_* reason; R_ICOUNT advances by the
 * number of instructions retired. Per instruction the loop checks one word (R_PENDING):
 * interrupts, host requests and single-stepping all go through it.
 */
export function run(budget: i32): i32 {
  loadEipFromMemory();
  loadLazy();
  setKeyBase(keyBase | KEY_RESET); // the first instruction recomputes its decode state
  exitReason = EXIT_BUDGET;
  setSteps(0);
  setStepsEnd(budget > 0 ? <u32>budget : 0);
  syncNow();
  // A halted vCPU leaves HLT only through an event (R_PENDING); HLT itself ends the run.
  if (load<u32>(cpu + R_HALTED) && load<u32>(cpu + R_PENDING) == 0) setStepsEnd(0);
  const chunk = load<u32>(CTRL_BASE + CTRL_NR_VCPUS) > 1 ? CHUNK : CHUNK_ALONE;
  while (steps < stepsEnd) {
    if (pauseExtra) { foldPause(); continue; }
    if (load<u32>(cpu + R_INT_SHADOW)) { runShadowed(); continue; }
    const pend = load<u32>(cpu + R_PENDING);
    if (pend != 0) {
      const did = servicePending(pend);
      if (did == PENDING_EXIT) break;
      // The handler's first instruction is an instruction boundary too: another event
      // deliverable there (INTR after an NMI through a trap gate) is taken before it runs.
      if (did == PENDING_TAKEN) continue;
      if (load<u32>(cpu + R_HALTED)) break;
      if (pend & (PEND_TF | PEND_DBG)) { stepTraced(); continue; }
    }
    // R_PENDING is looked at between chunks of instructions. Whatever can make an event
    // deliverable ends the chunk after its instruction (endChunk()): a host call (a device
    // may have raised PEND_INTR/PEND_NMI: syncNow()), STI and MOV/POP SS (the shadow runs
    // alone: runShadowed()), IF set by IRET/POPF/a task switch (setEflagsRaw()), NMI
    // blocking ended by IRET (iret()). Only another vCPU's IPI waits, up to CHUNK instructions
    // (and a host's request to stop, PEND_EXIT); a vCPU alone has longer chunks (CHUNK_ALONE).
    execute(stepsEnd - steps > chunk ? steps + chunk : stepsEnd);
  }
  if (pauseExtra) foldPause();
  if (load<u32>(cpu + R_HALTED) && exitReason == EXIT_BUDGET) haltExit();
  syncEipToMemory();
  store<u64>(cpu + R_ICOUNT, load<u64>(cpu + R_ICOUNT) + <u64>steps);
  setSteps(0);
  syncNow();
  store<i32>(cpu + R_EXIT_REASON, exitReason);
  return exitReason;
}

/**
 * The instruction after STI or MOV/POP SS runs with interrupts (and, after MOV SS, debug
 * traps) held off: it runs alone, and run() looks at R_PENDING right after it.
 */
function runShadowed(): void {
  store<u32>(cpu + R_INT_SHADOW, 0);
  const deferred = load<u32>(cpu + R_DEFERRED_DB);
  if (deferred) {
    // The deferred trap belongs after the instruction following MOV SS: run it now.
    const bits = deferred;
    store<u32>(cpu + R_DEFERRED_DB, 0);
    setDelivered(false);
    execute(steps + 1);
    if (!delivered && exitReason != EXIT_TRIPLE_FAULT) debugTrap(bits);
    return;
  }
  if (load<u32>(cpu + R_PENDING) & (PEND_TF | PEND_DBG)) { stepTraced(); return; }
  execute(steps + 1);
}

function haltExit(): void {
  exitReason = (load<u32>(cpu + R_EFLAGS) & FLAG_IF) ? EXIT_HALT : EXIT_STOPPED;
}

/**
 * One instruction with EFLAGS.TF set or a debug register armed (PEND_DBG): an instruction
 * breakpoint at it is a #DB fault before it (unless EFLAGS.RF), and single-step, data and
 * I/O breakpoints are one #DB trap after it (SDM Vol. 3B §18.3).
 */
function stepTraced(): void {
  if (load<u32>(cpu + R_HALTED)) { haltExit(); stopRun(); return; }
  const fl = load<u32>(cpu + R_EFLAGS);
  if (load<u32>(cpu + R_PENDING) & PEND_DBG) {
    if (!(fl & FLAG_RF)) {
      const hits = dbgExecHits(csBase + eip);
      if (hits) { debugFault(hits); return; }
    }
    clearDbgHit();
  }
  const tf = (fl & FLAG_TF) != 0;
  setDelivered(false);
  execute(steps + 1);
  // RF suppresses instruction breakpoints for one instruction only.
  if ((fl & FLAG_RF) && !delivered) store<u32>(cpu + R_EFLAGS, load<u32>(cpu + R_EFLAGS) & ~FLAG_RF);
  const bits = (tf ? DR6_BS : 0) | dbgHit;
  clearDbgHit();
  // No trap when the instruction faulted or was INT n (the handler runs with TF clear), or
  // after MOV SS / POP SS, which hold off debug traps for one instruction (shadow kind 2).
  if (!bits || delivered || exitReason == EXIT_TRIPLE_FAULT || load<u32>(cpu + R_HALTED)) return;
  // Held in the vCPU block (not a wasm global): a snapshot between these two instructions keeps it.
  if (load<u32>(cpu + R_INT_SHADOW) == 2) { store<u32>(cpu + R_DEFERRED_DB, bits); return; }
  debugTrap(bits);
}

/**
 * The hot loop: execute instructions (at least one) while fewer than `limit` have retired in
 * this run, the run was not stopped (stopRun) and nothing is pending (R_PENDING == 0).
 * `steps` is kept current after every instruction (syncNow and RDTSC read it).
 *
 * EIP lives in the local `ip` here: an instruction wholly inside the fetch window goes to
 * dispatch() (dispatch.gen.ts), whose fast forms (fast.ts) read its bytes directly and
 * return the next EIP without touching the `eip` global; everything else runs through
 * slowStep() on the global. So the common path has no store-to-load round trip through
 * memory for EIP (nor for the instruction count: `steps` is only written, for syncNow() and
 * RDTSC).
 */
function execute(limit: u32): void {
  let n = steps;
  let ip = eip;
  // Translated code leaves the lazy-flag record in the vCPU block, not in the interpreter's
  // globals: loaded only when an instruction is interpreted (or the chunk ends), so from one
  // translation to the next the record stays in memory.
  let flagsInMem = false;
  // Whether the look for translated code at ip may count ip as a block start: not at the
  // chunk's first instruction, nor where translated code stopped short of a jump.
  let jumped = false;
  // The instruction about to be interpreted is one translated code does not do: look for
  // translated code again right after it (JIT_LOOK_AFTER).
  let lookAfter = false;
  setLoopEnd(limit);
  if (jitOn) setInstrEip(ip + 16); // a chunk starts with a look for translated code too
  do {
    // Right after a jump (or translated code), look for a translation of the code at ip. It
    // runs at most to the end of this chunk, so interrupts come in where the interpreter takes them.
    if (jitOn && ip - instrEip > 15) {
      const r = jitEnter(ip, loopEnd > n ? loopEnd - n : 1, flagsInMem, jumped);
      const f = <u32>(r >>> 32);
      const k = f & ~JIT_RESULT_FLAGS;
      lookAfter = (f & JIT_LOOK_AFTER) != 0;
      if (k) {
        flagsInMem = true;
        jumped = (f & JIT_NOT_A_JUMP) == 0;
        n += k; setSteps(n); ip = <u32>r;
        // Stopped before an instruction translated code does not do: interpret it, then look again.
        setInstrEip(lookAfter ? ip : ip + 16);
        continue;
      }
    }
    jumped = true; // from here on, a look for translated code is after a jump
    if (flagsInMem) { loadLazy(); flagsInMem = false; }
    setInstrEip(ip);
    if (ip - fetchLo < fetchFast || refillFetch(ip)) {
      const p = fetchBase + <usize>ip;
      ip = dispatch(<u32>load<u8>(p) | keyBase, ip, p);
    } else {
      ip = slowStep(ip);
    }
    if (fault) { afterFault(); ip = eip; }
    n++;
    setSteps(n);
    // Look again right after an instruction left to the interpreter, or where translated code
    // that stopped for want of budget goes on (resumeEip, see jit.ts).
    if (lookAfter || ip == resumeEip) { lookAfter = false; setInstrEip(ip + 16); }
  } while (n < loopEnd);
  if (flagsInMem) loadLazy();
  setEip(ip);
}
/** Instructions between two looks at R_PENDING (translated code runs at most to the end of one). */
const CHUNK: u32 = 256;
/**
 * The same on a machine with one vCPU (the only kind that translates code): no IPIs, so
 * R_PENDING changes during a run only in host calls, which end the chunk, or when the host
 * asks for the run to end. Translated code stops at a chunk's end and the interpreter runs
 * the rest of the block it was in, so a longer chunk leaves more to translated code. (4096
 * until 2026-12-08: the shell loop's translated code then stopped 640,000 times at a chunk's
 * end, 40,000 times at 65536; a host's request to stop waits up to this many instructions,
 * about 0.2 ms here.)
 */
const CHUNK_ALONE: u32 = 65536;

/**
 * Execute the instruction at `ip` with the full decoder, fetching through the checked paths
 * (the fallback of dispatch() and of every fast form). Returns the EIP after it.
 */
export function slowStep(ip: u32): u32 {
  setEip(ip);
  const op = fetch8();
  if (fault) return eip;
  // KEY_RESET: the first instruction after prefixes or a mode change resets the decode state.
  if (keyBase & KEY_RESET) resetDecode();
  dispatchFull(op | keyBase);
  if (clippedFetch) { clippedFetch = false; invalidateFetch(); }
  return eip;
}

/** The instruction faulted, lost a LOCK race, blocked in a hypercall, or halted. */
function afterFault(): void {
  if (excVector == VEC_RETRY) {
    clearFault();
    setEip(instrEip);
    return;
  }
  if (!deliverFault()) { exitReason = EXIT_TRIPLE_FAULT; stopRun(); }
}

/** #DB trap after the instruction, with these DR6 bits (BS, B0-B3) set. */
function debugTrap(bits: u32): void {
  dbgReport(bits);
  setInstrEip(eip);
  if (!deliverInterrupt(EXC_DB, INT_EXT, false, 0, eip)) {
    if (!deliverFault()) { exitReason = EXIT_TRIPLE_FAULT; stopRun(); }
  }
}
/** #DB fault for instruction breakpoints at EIP: the instruction has not run. */
function debugFault(bits: u32): void {
  dbgReport(bits);
  raise(EXC_DB, 0, false);
  setInstrEip(eip);
  afterFault();
}

export { EXIT_BUDGET };

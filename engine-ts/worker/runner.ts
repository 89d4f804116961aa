// The run loop that drives a board: run slices, jump idle time, pace against the host
// clock when asked, and stop on request. The same loop runs in a browser Web Worker and
// in-process under Node; only the `RunnerHost` (how to wait and yield) differs.
//
// Guest time and wall time: guest time advances 1 ns per retired instruction (a 1 GHz
// virtual CPU) and jumps to the next timer deadline when the vCPU halts. With pacing
// 'realtime' the loop never lets guest time run ahead of wall-clock time since start, so
// an idle guest's `sleep 1` takes one second; under load guest time runs slower than wall
// time (the emulated CPU is slower than 1 GHz). With pacing 'fast' idle time is skipped at
// once (benchmarks, scripted runs), which keeps runs deterministic.

import * as MM from '../../engine-wasm/memory-map';
import type { Board } from '../board/board';
import type { RunnerJitStats, RunnerSplit, StopReason } from '../config/machine';
import type { SmpHub } from './smp-hub';
import type { CoreTimes } from './wasm-core';
import type { JitHost } from './jit/jit-host';

export interface RunnerHost {
  /** Wait up to `ms` for news (input, a control request); may return early. */
  idleWait(ms: number): Promise<void>;
  /** Let the host's event loop run (RPC, I/O completions). */
  yieldToHost(): Promise<void>;
  /** Monotonic host time in ms (the worker layer may read the host clock; the engine may not). */
  wallNow(): number;
  /** Called before every slice: deliver pending console input, check control requests. */
  poll?(): void;
  /** End an idleWait early (an I/O completion or event needs the vCPU). */
  wake?(): void;
}

export type Pacing = 'realtime' | 'fast';

/** Why the run loop returned: the public StopReason, or a guest reset the owner turns into a reboot. */
export type RunnerStop = StopReason | { kind: 'reset' };

export interface RunnerStats {
  instructions: number;
  guestNs: number;
  wallMs: number;
  /** Emulated speed over the last measurement window (million instructions per second). */
  mips: number;
  halted: boolean;
  /** Where the wall time went since the run loop started (see RunnerSplit). */
  split: RunnerSplit;
  jit: RunnerJitStats;
}

/** A slice's instructions while a translation is being compiled (under 2 ms interpreted). */
const COMPILING_SLICE = 100_000;

export class Runner {
  private stopRequested = false;
  private running = false;
  private instructions = 0;
  private windowStart = 0;
  private windowInstr = 0;
  private lastMips = 0;
  private halted = false;
  private wallStart = 0;
  private guestStart = 0;
  private sliceMs = 0;
  private idleWaitMs = 0;
  /**
   * Host wall time of the last yield to the host (from the first run's start). Kept across
   * run() calls: a script that drives the machine in steps shorter than the yield interval must
   * not starve the host's own work (file I/O, timers) either.
   */
  private lastYield: number | null = null;
  private idleSkippedNs = 0;
  /** Filled by the core's instance (instantiateCore with times): wall time in run() and in host calls. */
  coreTimes: CoreTimes = { runMs: 0, hostMs: 0 };
  /** The core instance's translator (null: stats only say it is off). */
  jit: JitHost | null = null;
  private jitRetired = 0;
  private windowJit = 0;
  private lastJitShare = 0;
  /** Called when the guest triple-faults; return true if the machine was reset and should go on. */
  onTripleFault: (() => boolean) | null = null;
  /** Work to do between two slices (a snapshot), with the vCPU stopped at an instruction boundary. */
  private tasks: Array<() => Promise<void>> = [];
  /** Stop once this many instructions have retired in all (exact; for lockstep tests and deterministic saves). */
  stopAtInstruction: bigint | null = null;
  /** vCPU 0 was halted, following the other vCPUs' time (multi-vCPU machines). */
  private followed = false;
  /** Set when a vCPU thread failed: the run ends with this error. */
  private failure: string | null = null;

  /**
   * `smp`: the other vCPUs' threads of a multi-vCPU machine (this loop runs vCPU 0 and serves
   * them, see smp-hub.ts); null for one vCPU, whose runs stay deterministic.
   */
  constructor(
    readonly board: Board,
    private readonly host: RunnerHost,
    readonly pacing: Pacing,
    private readonly smp: SmpHub | null = null,
    private readonly sliceInstructions = smp ? 200_000 : 2_000_000,
  ) {
    board.onWake = () => host.wake?.();
    smp?.attach(board);
  }

  /** A vCPU thread failed: end the run with this message. */
  fail(message: string): void {
    this.failure ??= message;
    this.requestStop();
    this.host.wake?.();
  }

  /**
   * Run `fn` with the vCPU stopped between two instructions: at once if the machine is not
   * running, else at the end of the current slice, after which the run goes on.
   */
  betweenSlices<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.running) return fn();
    return new Promise<T>((resolve, reject) => {
      this.tasks.push(() => fn().then(resolve, reject));
      this.board.vcpu.raisePending(MM.PEND_EXIT);
      this.host.wake?.();
    });
  }

  /** Ask the loop to stop soon (safe to call at any time). */
  requestStop(): void {
    this.stopRequested = true;
    this.board.vcpu.raisePending(MM.PEND_EXIT);
  }

  stats(): RunnerStats {
    const now = this.host.wallNow();
    return {
      instructions: this.instructions,
      guestNs: this.board.now(),
      wallMs: now - this.wallStart,
      mips: this.lastMips,
      halted: this.halted,
      split: {
        coreMs: this.coreTimes.runMs,
        hostCallMs: this.coreTimes.hostMs,
        timersMs: Math.max(0, this.sliceMs - this.coreTimes.runMs),
        idleWaitMs: this.idleWaitMs,
        idleSkippedNs: this.idleSkippedNs,
      },
      jit: {
        enabled: this.jit?.enabled ?? false,
        share: this.instructions > 0 ? this.jitRetired / this.instructions : 0,
        recentShare: this.lastJitShare,
        translations: this.jit?.stats.translations ?? 0,
        live: this.jit?.stats.live ?? 0,
        liveBytes: this.jit?.stats.liveBytes ?? 0,
        compileMs: this.jit?.stats.compileMs ?? 0,
      },
    };
  }

  private account(executed: number, translated: number): void {
    this.instructions += executed;
    this.windowInstr += executed;
    this.jitRetired += translated;
    this.windowJit += translated;
    const now = this.host.wallNow();
    const dt = now - this.windowStart;
    if (dt >= 500) {
      this.lastMips = this.windowInstr / dt / 1000;
      this.lastJitShare = this.windowInstr > 0 ? this.windowJit / this.windowInstr : 0;
      this.windowStart = now;
      this.windowInstr = 0;
      this.windowJit = 0;
    }
  }

  async run(): Promise<RunnerStop> {
    if (this.running) throw new Error('runner is already running');
    this.running = true;
    this.stopRequested = false;
    this.wallStart = this.windowStart = this.host.wallNow();
    this.lastYield ??= this.wallStart;
    this.guestStart = this.board.now();
    const smp = this.smp;
    smp?.start(this.pacing, this.guestStart, epochMs());
    try {
      for (;;) {
        const wall = this.host.wallNow();
        // A translation compiled on another thread is installed at a turn of the event loop:
        // while one is on its way the loop turns it after short slices (the vCPU interprets
        // the code meanwhile, up to 20 times slower than translated).
        const compiling = (this.jit?.inFlight ?? 0) > 0;
        if (wall - this.lastYield! >= (compiling ? 0 : 8)) {
          await this.host.yieldToHost();
          this.lastYield = this.host.wallNow();
        }
        this.host.poll?.();
        smp?.service();
        if (this.tasks.length) {
          // Work on the whole machine (a snapshot): every vCPU stands still meanwhile.
          if (smp) await this.parkOthers(smp);
          while (this.tasks.length) await this.tasks.shift()!();
          smp?.start(this.pacing, this.board.now(), epochMs());
        }
        if (this.failure) return { kind: 'error', message: this.failure };
        if (this.stopRequested) return { kind: 'stopped' };
        if (this.stopAtInstruction !== null && this.board.vcpu.icount >= this.stopAtInstruction) return { kind: 'stopped' };
        if (this.board.exitCode !== null) return { kind: 'exit', code: this.board.exitCode };
        if (this.board.poweredOff) return { kind: 'poweroff' };
        if (this.board.resetRequested) return { kind: 'reset' };
        // Guest time may not pass a disk completion's deadline before the host's I/O has
        // finished: hold the vCPU (keeps runs deterministic for any disk speed).
        if (this.board.waitingForHost) {
          // The other vCPUs' requests are served meanwhile (they may be what the host waits for).
          if (smp) await Promise.race([this.board.hostReady(), this.host.idleWait(1)]);
          else await this.board.hostReady();
          continue;
        }
        const before = this.board.vcpu.icount;
        let budget = this.stopAtInstruction === null ? this.sliceInstructions : Math.min(this.sliceInstructions, Number(this.stopAtInstruction - before));
        if (compiling) budget = Math.min(budget, COMPILING_SLICE);
        if (smp) {
          if (this.waitsForInterrupt()) {
            // Halted: not running (the others are not held back by its time), it follows them.
            smp.setRunstate(0, MM.RS_HALTED);
            this.followed = true;
            await this.idleSmp(smp);
            continue;
          }
          if (this.followed) {
            // Woken: catch up with the time of the running vCPUs it was following (with none
            // running, it runs on from its own time: an all-idle jump past the interrupt that
            // woke it would skip guest time the guest then never had).
            this.followed = false;
            const now = this.board.now();
            const t = smp.slowestOther();
            if (t > now && t !== Infinity) this.board.skipToNextEvent(t - now);
          }
          // Never more than the skew bound ahead of the slowest other running vCPU.
          const room = smp.room(this.board.now());
          if (room < 1) { await this.host.idleWait(1); continue; } // the slowest one wakes us when it moves on
          budget = Math.min(budget, room);
          smp.setRunstate(0, MM.RS_RUNNING);
        }
        const retiredBefore = this.board.vcpu.retired;
        const jitBefore = this.board.vcpu.jitRetired;
        const t = this.host.wallNow();
        const exit = this.board.runSlice(budget);
        this.sliceMs += this.host.wallNow() - t;
        this.account(Number(this.board.vcpu.retired - retiredBefore), Number(this.board.vcpu.jitRetired - jitBefore));
        this.halted = exit === MM.EXIT_HALT;
        if (smp) {
          smp.service();
          smp.publishDeadlines();
          smp.kickOthers();
          if (exit === MM.EXIT_HALT || exit === MM.EXIT_STOPPED) smp.setRunstate(0, MM.RS_HALTED);
        }
        switch (exit) {
          case MM.EXIT_TRIPLE_FAULT:
            if (this.onTripleFault?.()) break;
            return { kind: 'triple-fault' };
          case MM.EXIT_STOPPED:
            if (this.board.exitCode !== null) return { kind: 'exit', code: this.board.exitCode };
            // With other vCPUs, something can still wake this one (an NMI, INIT, the end of a
            // Xen SCHEDOP_poll made with interrupts disabled): it waits like HLT.
            if (smp) { await this.idleSmp(smp); break; }
            return { kind: 'halted' };
          case MM.EXIT_HALT:
            if (smp) await this.idleSmp(smp);
            else await this.idle();
            break;
          default:
            break;
        }
      }
    } finally {
      if (smp) await this.parkOthers(smp);
      this.running = false;
    }
  }

  /** vCPU 0 is in HLT with nothing it would take (an NMI, or INTR with interrupts enabled). */
  private waitsForInterrupt(): boolean {
    const v = this.board.vcpu;
    if (!v.halted) return false;
    const p = v.pending;
    return !(p & MM.PEND_NMI) && !((p & MM.PEND_INTR) && (v.eflagsRaw & 0x200));
  }

  /** Park the other vCPUs' threads (serving their requests until each has finished its slice). */
  private async parkOthers(smp: SmpHub): Promise<void> {
    smp.requestPark();
    while (!smp.parked()) {
      smp.service();
      await this.host.idleWait(1);
    }
  }

  /**
   * vCPU 0 waits for an interrupt on a multi-vCPU machine: its guest time follows the running
   * vCPUs, or, when all wait, jumps to the earliest timer deadline of any of them.
   */
  private async idleSmp(smp: SmpHub): Promise<void> {
    const now = this.board.now();
    const next = this.board.nextEventTime();
    const cap = this.stopAtInstruction === null ? Infinity : Number(this.stopAtInstruction - this.board.vcpu.icount);
    const to = Math.min(smp.followTarget(epochMs()), next, now + cap);
    if (to > now && to !== Infinity) {
      this.idleSkippedNs += Math.max(0, this.board.skipToNextEvent(to - now));
      smp.publishDeadlines();
      smp.kickOthers();
      return;
    }
    await this.timedWait(1);
  }

  /** The vCPU waits for an interrupt: move guest time to the next event (pacing permitting). */
  private async idle(): Promise<void> {
    const next = this.board.nextEventTime();
    // Never skip past an exact stop point (guest time and instructions are one count).
    const cap = this.stopAtInstruction === null ? Infinity : Number(this.stopAtInstruction - this.board.vcpu.icount);
    if (next === Infinity) {
      // Nothing scheduled: only outside input (or a stop) can wake the guest.
      await this.timedWait(50);
      return;
    }
    if (this.pacing === 'realtime') {
      const wallNs = (this.host.wallNow() - this.wallStart) * 1e6;
      const ahead = next - this.guestStart - wallNs; // ns the guest would be ahead of the wall clock
      if (ahead > 1e6) {
        await this.timedWait(Math.min(ahead / 1e6, 50));
        // Input may have arrived; jump only as far as wall time allows.
        const allowed = this.guestStart + (this.host.wallNow() - this.wallStart) * 1e6 - this.board.now();
        if (allowed > 0) this.idleSkippedNs += Math.max(0, this.board.skipToNextEvent(Math.min(allowed, cap)));
        return;
      }
    }
    this.idleSkippedNs += Math.max(0, this.board.skipToNextEvent(cap));
  }

  private async timedWait(ms: number): Promise<void> {
    const t = this.host.wallNow();
    await this.host.idleWait(ms);
    this.idleWaitMs += this.host.wallNow() - t;
  }
}

/** Host time as ms since the epoch: comparable between threads (each has its own performance.now() origin). */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

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
import type { Board } from '../machine/board';
import type { StopReason } from '../api/types';
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

/** The translator's share of the work and what it holds. */
export interface RunnerJitStats {
  enabled: boolean;
  /** Of the instructions retired since the run loop started, the share run from translated code (0-1). */
  share: number;
  /** The same over the last measurement window (as `mips`). */
  recentShare: number;
  translations: number;
  /** Translations alive now, and the bytes of their WebAssembly modules (the cache is bounded). */
  live: number;
  liveBytes: number;
  /** Host wall time spent translating, ms. */
  compileMs: number;
}

/** The run loop's wall time by where it went, and the guest time it skipped. */
export interface RunnerSplit {
  /** In the core's run(): executing guest code, with the host calls below. */
  coreMs: number;
  /** Of coreMs, inside calls from the core into the device models (port I/O, MMIO, interrupt acknowledge, hypercalls...). */
  hostCallMs: number;
  /** Between core runs: timers firing and console output (device models too). */
  timersMs: number;
  /** Waiting while the guest was idle (pacing 'realtime', or nothing scheduled). */
  idleWaitMs: number;
  /** Guest time jumped over while the vCPU was halted, ns. */
  idleSkippedNs: number;
}

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

  constructor(
    readonly board: Board,
    private readonly host: RunnerHost,
    readonly pacing: Pacing,
    private readonly sliceInstructions = 2_000_000,
  ) {
    board.onWake = () => host.wake?.();
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
    this.guestStart = this.board.now();
    let lastYield = this.wallStart;
    try {
      for (;;) {
        this.host.poll?.();
        if (this.stopRequested) return { kind: 'stopped' };
        if (this.board.exitCode !== null) return { kind: 'exit', code: this.board.exitCode };
        if (this.board.poweredOff) return { kind: 'poweroff' };
        if (this.board.resetRequested) return { kind: 'reset' };
        // Guest time may not pass a disk completion's deadline before the host's I/O has
        // finished: hold the vCPU (keeps runs deterministic for any disk speed).
        if (this.board.waitingForHost) {
          await this.board.hostReady();
          continue;
        }
        const before = this.board.vcpu.retired;
        const jitBefore = this.board.vcpu.jitRetired;
        const t = this.host.wallNow();
        const exit = this.board.runSlice(this.sliceInstructions);
        this.sliceMs += this.host.wallNow() - t;
        this.account(Number(this.board.vcpu.retired - before), Number(this.board.vcpu.jitRetired - jitBefore));
        this.halted = exit === MM.EXIT_HALT;
        switch (exit) {
          case MM.EXIT_TRIPLE_FAULT:
            if (this.onTripleFault?.()) break;
            return { kind: 'triple-fault' };
          case MM.EXIT_STOPPED:
            if (this.board.exitCode !== null) return { kind: 'exit', code: this.board.exitCode };
            return { kind: 'halted' };
          case MM.EXIT_HALT:
            await this.idle();
            break;
          default:
            break;
        }
        const now = this.host.wallNow();
        if (now - lastYield >= 8) {
          await this.host.yieldToHost();
          lastYield = this.host.wallNow();
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The vCPU waits for an interrupt: move guest time to the next event (pacing permitting). */
  private async idle(): Promise<void> {
    const next = this.board.nextEventTime();
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
        if (allowed > 0) this.idleSkippedNs += Math.max(0, this.board.skipToNextEvent(allowed));
        return;
      }
    }
    this.idleSkippedNs += Math.max(0, this.board.skipToNextEvent());
  }

  private async timedWait(ms: number): Promise<void> {
    const t = this.host.wallNow();
    await this.host.idleWait(ms);
    this.idleWaitMs += this.host.wallNow() - t;
  }
}

// Disk I/O completions, ordered and placed in guest time.
//
// The BlockDevice answers with promises that settle in host time (IndexedDB, a file), which
// the guest must not be able to observe. Every operation gets a guest-time deadline when it
// is submitted (a simple latency model), and its effects are applied in submission order
// once both hold: the host finished it, and guest time reached the deadline. If guest time
// reaches the deadline first, the queue is "waiting for host": the runner should stop
// advancing guest time until `hostReady()` resolves; then the effects land at the same
// guest time whatever the host's speed, so a run is reproducible given the same inputs.

import type { Timer, VirtualClock } from './clock';

/** Guest-time cost of a disk operation: a fixed part plus a per-sector part (ns). */
export interface HostIoTiming {
  commandNs: number;
  nsPerSector: number;
}

/** 10 µs per command and 2 µs per sector (about 250 MB/s): a fast disk, as seen by the guest. */
export const DEFAULT_HOST_IO_TIMING: HostIoTiming = { commandNs: 10_000, nsPerSector: 2_000 };

/** Guest-time cost of one operation moving `sectors` sectors under `t`. */
export function ioCostNs(t: HostIoTiming, sectors: number): number {
  return t.commandNs + sectors * t.nsPerSector;
}

/** Called in order, at a guest time at or after the deadline; `error` is null on success. */
export type ApplyFn = (error: string | null) => void;

interface Op {
  deadline: number;
  /** 'host' until the host's promise settles. */
  state: 'host' | 'ok' | 'failed';
  error: string;
  apply: ApplyFn;
  /** Settles with the host I/O (never rejects). */
  settled: Promise<void>;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class HostIoQueue {
  private readonly ops: Op[] = [];
  private readonly timer: Timer;
  private pumping = false;
  private waiters: (() => void)[] = [];
  /** Operations whose host promise has not settled yet. */
  hostInFlight = 0;

  /**
   * `serial`: the operations share one disk that serves them one after another, so an
   * operation's time starts when the one before it is due (a queue of requests submitted
   * together finishes at the sum of their costs, not at the longest). Without it each
   * operation's delay counts from its submission (the IDE controller has one at a time).
   */
  constructor(
    private readonly clock: VirtualClock,
    name: string,
    private readonly onHostDone?: () => void,
    private readonly serial = false,
  ) {
    this.timer = clock.createTimer(name, () => this.pump());
  }

  /** No operation is queued (the device may be saved). */
  get idle(): boolean {
    return this.ops.length === 0;
  }

  /** Guest time reached the oldest operation's deadline but the host has not finished it. */
  get waitingForHost(): boolean {
    const head = this.ops[0];
    return head !== undefined && head.state === 'host' && this.clock.now() >= head.deadline;
  }

  /** Resolves once the queue no longer waits for the host (at once if it doesn't). */
  hostReady(): Promise<void> {
    if (!this.waitingForHost) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Queue an operation due `delayNs` from now. `start` begins the host I/O (null: nothing to
   * wait for); `apply` makes its effects visible to the guest.
   */
  submit(delayNs: number, start: (() => Promise<void>) | null, apply: ApplyFn): void {
    const now = this.clock.now();
    const from = this.serial && this.ops.length ? Math.max(now, this.ops[this.ops.length - 1].deadline) : now;
    const op: Op = { deadline: from + Math.max(0, delayNs), state: start ? 'host' : 'ok', error: '', apply, settled: Promise.resolve() };
    this.ops.push(op);
    if (start) {
      this.hostInFlight++;
      let promise: Promise<void>;
      try {
        promise = start();
      } catch (e) {
        promise = Promise.reject(e);
      }
      op.settled = promise.then(
        () => this.settle(op, null),
        (e: unknown) => this.settle(op, errorText(e) || 'I/O error'),
      );
    }
    this.pump();
  }

  private settle(op: Op, error: string | null): void {
    op.state = error === null ? 'ok' : 'failed';
    op.error = error ?? '';
    this.hostInFlight--;
    this.pump();
    if (!this.waitingForHost && this.waiters.length) {
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
    this.onHostDone?.();
  }

  /**
   * Quiesce (before a snapshot): let the host finish every queued operation and apply them
   * all now, in order, without waiting for their guest time. Operations an apply() submits
   * are finished too. The guest sees its answers a little early, at a point a snapshot then
   * records, so a restored machine and the one that kept running go on identically.
   */
  async drainNow(): Promise<void> {
    for (let n = 0; this.ops.length > 0; n++) {
      if (n > 1_000_000) throw new Error('disk queue keeps growing while it drains');
      const head = this.ops[0];
      if (head.state === 'host') {
        await head.settled;
        continue;
      }
      this.ops.shift();
      head.apply(head.state === 'failed' ? head.error : null);
    }
    this.timer.cancel();
  }

  /** Apply every operation that is settled and due, in order; arm the timer for the next one. */
  private pump(): void {
    if (this.pumping) return; // an apply() that submits more work: the outer loop picks it up
    this.pumping = true;
    try {
      while (this.ops.length) {
        const head = this.ops[0];
        const now = this.clock.now();
        if (now < head.deadline) {
          // Armed even while the host is busy, so a halted guest cannot skip past the deadline.
          if (!this.timer.armed || this.timer.deadline !== head.deadline) this.timer.setDeadline(head.deadline);
          return;
        }
        if (head.state === 'host') return; // waiting for host
        this.ops.shift();
        head.apply(head.state === 'failed' ? head.error : null);
      }
      this.timer.cancel();
    } finally {
      this.pumping = false;
    }
  }
}

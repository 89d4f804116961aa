// The virtual clock and its event queue.
//
// Guest time is derived from retired instructions: every instruction is worth
// `nsPerInstruction` nanoseconds of guest time, and when every vCPU is halted the
// board jumps time forward to the next scheduled event instead of idling. Engine code
// never reads the host's clock; the host only decides *when* to run (see worker/).

export type TimerCallback = (now: number) => void;

export interface Timer {
  /** Arm (or re-arm) the timer to fire at absolute guest time `when` (ns). */
  setDeadline(when: number): void;
  cancel(): void;
  readonly armed: boolean;
  readonly deadline: number;
}

interface Entry {
  deadline: number;
  seq: number;
  callback: TimerCallback;
  armed: boolean;
  name: string;
}

export class VirtualClock {
  /** Guest time in nanoseconds at the last sync point. */
  private base = 0;
  private timers: Entry[] = [];
  private seq = 0;
  private source: (() => number) | null = null;
  /** Guest time at which the running slice will stop; a deadline before it preempts the slice. */
  sliceEnd = Infinity;
  /** Called when a timer is armed for a time before `sliceEnd` (the board ends the slice early). */
  onPreempt: (() => void) | null = null;

  constructor(readonly nsPerInstruction = 1) {}

  /**
   * Read live guest time from `source` (the vCPU's published cycle count) instead of the
   * last synced value, so devices see time advance inside a run slice.
   */
  setSource(source: (() => number) | null): void {
    this.source = source;
  }

  /** Current guest time in ns. */
  now(): number {
    return this.source ? this.source() : this.base;
  }

  /** Advance guest time by `ns` (retired instructions or an idle jump). Does not fire timers. */
  advance(ns: number): void {
    if (ns > 0) this.base += ns;
  }

  /** Set absolute time (snapshot restore, or a sync point when there is no live source). */
  setNow(ns: number): void {
    this.base = ns;
  }

  createTimer(name: string, callback: TimerCallback): Timer {
    const e: Entry = { deadline: Infinity, seq: 0, callback, armed: false, name };
    this.timers.push(e);
    return {
      setDeadline: (when: number) => {
        e.deadline = when;
        e.seq = this.seq++;
        e.armed = true;
        if (when < this.sliceEnd) this.onPreempt?.();
      },
      cancel: () => {
        e.armed = false;
        e.deadline = Infinity;
      },
      get armed() {
        return e.armed;
      },
      get deadline() {
        return e.deadline;
      },
    };
  }

  /** Earliest armed deadline, or Infinity. */
  nextDeadline(): number {
    let d = Infinity;
    for (const t of this.timers) if (t.armed && t.deadline < d) d = t.deadline;
    return d;
  }

  /** Fire every timer whose deadline is <= now, in deadline order. Returns how many fired. */
  runDue(): number {
    let fired = 0;
    const now = this.now();
    if (now > this.base) this.base = now;
    for (;;) {
      let best: Entry | null = null;
      for (const t of this.timers) {
        if (t.armed && t.deadline <= this.now() && (!best || t.deadline < best.deadline || (t.deadline === best.deadline && t.seq < best.seq)))
          best = t;
      }
      if (!best) return fired;
      best.armed = false;
      best.callback(this.now());
      if (++fired > 100000) throw new Error(`virtual clock: timer storm (${best.name})`);
    }
  }
}

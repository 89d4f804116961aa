// The virtual clock and its event queue.
//
// Guest time is derived from retired instructions: every instruction is worth
// `nsPerInstruction` nanoseconds of guest time, and when every vCPU is halted the
// board jumps time forward to the next scheduled event instead of idling. Engine code
// never reads the host's clock; the host only decides *when* to run (see worker/).

import type { StateRecord, Stateful } from './bus';
import { StateError, bool, count, declareState, fields, list, str, time, type Codec } from './state';

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

export class VirtualClock implements Stateful {
  readonly stateVersion = CLOCK_STATE.version;
  /** Guest time in nanoseconds at the last sync point. */
  private base = 0;
  private timers: Entry[] = [];
  private seq = 0;
  private source: (() => number) | null = null;
  /** Guest time at which the running slice will stop; a deadline before it preempts the slice. */
  sliceEnd = Infinity;
  /** Called when a timer is armed for a time before `sliceEnd` (the board ends the slice early). */
  onPreempt: (() => void) | null = null;

  /** `stateName`: 'clock' for the board's clock; each further vCPU's clock has its own name. */
  constructor(readonly nsPerInstruction = 1, readonly stateName = 'clock') {}

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

  // ---- state ------------------------------------------------------------------------------
  // Timers are data: {name, deadline, seq, armed}. A restored machine creates the same timers
  // (same names) as it is built; loading sets each one's deadline and tie-break sequence, so
  // two timers due at the same time still fire in the saved order. Loaded last, after the
  // devices (which may re-arm their timers while they load).

  saveState(): StateRecord {
    const names = new Set<string>();
    for (const t of this.timers) {
      if (names.has(t.name)) throw new Error(`virtual clock: two timers are named "${t.name}"; a snapshot cannot tell them apart`);
      names.add(t.name);
    }
    return CLOCK_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    CLOCK_STATE.load(this, rec, version);
  }
}

const TIMER = fields({ name: str(128), deadline: time, seq: count, armed: bool }, 'timer');

/** The live timers, matched by name: every saved one must exist here and every one here must be saved. */
const TIMER_TABLE: Codec<Entry[]> = {
  describe: 'timers',
  save: (ts) => ts.map((t) => TIMER.save(t as unknown as Record<string, unknown>)) as StateRecord[],
  load: () => { throw new Error('timers load into the live clock'); },
  loadInto: (timers, v, path) => {
    const saved = list(TIMER, 4096).load(v, path) as unknown as Entry[];
    const byName = new Map(timers.map((t) => [t.name, t]));
    const seen = new Set<string>();
    for (const t of saved) {
      if (!byName.has(t.name)) throw new StateError(path, `names a timer this machine does not have (${JSON.stringify(t.name.slice(0, 40))})`);
      if (seen.has(t.name)) throw new StateError(path, `lists timer ${JSON.stringify(t.name.slice(0, 40))} twice`);
      seen.add(t.name);
    }
    if (saved.length !== timers.length) throw new StateError(path, `lists ${saved.length} timers, this machine has ${timers.length}`);
    return () => {
      for (const t of saved) Object.assign(byName.get(t.name)!, { deadline: t.armed ? t.deadline : Infinity, seq: t.seq, armed: t.armed });
    };
  },
};

const CLOCK_STATE = declareState('clock', {
  /** The tie-break sequence: the next armed timer gets this number. */
  seq: count,
  timers: TIMER_TABLE,
});

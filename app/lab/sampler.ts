// One sampler per running machine, shared by everything on the page that looks at it (the
// inspector, the plots, a lesson's checks): it asks the worker for an inspector sample at
// most ten times a second while someone wants one, for the machine's counters twice a
// second, keeps the latest of each, a history for the plots and the recent timeline events,
// and tells its listeners. Nothing is asked of a machine nobody looks at.
import { timelineEvents, type InspectorSample, type MachineHandle, type MachineStats, type TimelineEvent } from '../../engine-ts/api';

export const INSPECT_EVERY_MS = 100;
export const STATS_EVERY_MS = 500;
/** Timeline events kept for the page (the newest). */
export const KEPT_EVENTS = 4000;
/** Seconds of history the plots keep. */
export const HISTORY_SECONDS = 300;

export interface StatsPoint {
  /** Wall seconds since the sampler started. */
  t: number;
  stats: MachineStats;
}

export interface SamplerListener {
  /** True: this listener needs inspector samples (and the timeline). */
  inspect: boolean;
  onChange(s: MachineSampler, newEvents: TimelineEvent[]): void;
}

export class MachineSampler {
  sample: InspectorSample | null = null;
  /** The previous inspector sample and when each was taken (wall ms), for rates. */
  previous: InspectorSample | null = null;
  sampleAt = 0;
  previousAt = 0;
  readonly history: StatsPoint[] = [];
  events: TimelineEvent[] = [];
  /** Timeline events the ring dropped before the page read them. */
  lostEvents = 0;
  paused = false;
  private readonly listeners = new Set<SamplerListener>();
  private nextEvent: number | undefined;
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;
  private recording = false;
  private lastStats = 0;
  private readonly start = performance.now();

  constructor(readonly machine: MachineHandle) {}

  subscribe(l: SamplerListener): () => void {
    this.listeners.add(l);
    this.timer ??= setInterval(() => void this.tick(), INSPECT_EVERY_MS);
    void this.tick();
    return () => {
      this.listeners.delete(l);
      if (this.listeners.size === 0) this.close();
    };
  }

  private get wantsInspect(): boolean {
    for (const l of this.listeners) if (l.inspect) return true;
    return false;
  }

  /** Stop sampling (the machine is gone or nobody looks). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.recording) {
      this.recording = false;
      this.machine.inspect({ timeline: false }).catch(() => {});
    }
  }

  private async tick(): Promise<void> {
    if (this.busy || this.listeners.size === 0) return;
    this.busy = true;
    let fresh: TimelineEvent[] = [];
    try {
      const now = performance.now();
      if (now - this.lastStats >= STATS_EVERY_MS) {
        this.lastStats = now;
        const stats = await this.machine.stats();
        this.history.push({ t: (now - this.start) / 1000, stats });
        while (this.history.length > 2 && this.history[0].t < this.history[this.history.length - 1].t - HISTORY_SECONDS) this.history.shift();
      }
      if (this.wantsInspect) {
        const s = await this.machine.inspect({ eventsFrom: this.nextEvent });
        this.recording = s.recording;
        const t = s.timeline;
        // A reboot starts the timeline again at 0.
        if (this.nextEvent !== undefined && t.first < this.nextEvent && t.first === 0) this.events = [];
        this.nextEvent = t.first + t.time.length;
        this.lostEvents += t.lost;
        fresh = timelineEvents(t);
        if (!this.paused) {
          this.events = this.events.concat(fresh);
          if (this.events.length > KEPT_EVENTS) this.events = this.events.slice(-KEPT_EVENTS);
        }
        this.previous = this.sample;
        this.previousAt = this.sampleAt;
        this.sample = s;
        this.sampleAt = now;
      } else if (this.recording) {
        this.recording = false;
        await this.machine.inspect({ timeline: false });
      }
    } catch {
      // The worker is gone (machine disposed) or busy: try again at the next tick.
    } finally {
      this.busy = false;
    }
    for (const l of this.listeners) l.onChange(this, fresh);
  }
}

const samplers = new WeakMap<MachineHandle, MachineSampler>();

/** The page's one sampler for `machine`. */
export function samplerFor(machine: MachineHandle): MachineSampler {
  let s = samplers.get(machine);
  if (!s) samplers.set(machine, (s = new MachineSampler(machine)));
  return s;
}

/** Per-second rate of a counter between two points (0 if time did not move). */
export function perSecond(now: number, before: number, seconds: number): number {
  return seconds > 0 ? Math.max(0, now - before) / seconds : 0;
}

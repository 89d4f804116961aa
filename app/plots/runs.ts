// The arithmetic behind the plots: counters sampled over time turned into intervals, and
// each disk's busy stretch summed (what the same work cost on each disk).
import type { MachineStats } from '../../engine-ts/api';
import type { StatsPoint } from '../lab/sampler';

export const MiB = 1024 * 1024;

export interface Interval {
  t: number;
  dt: number;
  io: number;
  mmio: number;
  hypercall: number;
  interrupts: number;
  /** Bytes per disk name. */
  bytes: Map<string, number>;
}

export function intervals(h: StatsPoint[]): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < h.length; i++) {
    const a = h[i - 1].stats, b = h[i].stats, dt = h[i].t - h[i - 1].t;
    if (dt <= 0 || b.instructions < a.instructions) continue; // a reboot resets the counters
    const before = new Map(a.disks.map((d) => [d.name, d.readBytes + d.writtenBytes]));
    const bytes = new Map(b.disks.map((d) => [d.name, Math.max(0, d.readBytes + d.writtenBytes - (before.get(d.name) ?? 0))]));
    out.push({
      t: h[i].t, dt, io: b.exits.io - a.exits.io, mmio: b.exits.mmio - a.exits.mmio, hypercall: b.exits.hypercall - a.exits.hypercall,
      interrupts: b.interrupts - a.interrupts, bytes,
    });
  }
  return out;
}

export interface DiskRun {
  disk: string;
  seconds: number;
  mib: number;
  exits: MachineStats['exits'];
  /** Intervals in which this disk and another both moved data: left out (their exits cannot be told apart). */
  shared: number;
  /** Per-interval points of the busy stretch: [seconds into it, MB/s, exits/s]. */
  points: number[][];
}

/**
 * Each disk's busy intervals (it alone moved data), summed: what the same workload cost on
 * each disk. An interval in which two disks moved data (one command ending as the next
 * begins) counts for neither: its exits belong to both.
 */
export function diskRuns(h: StatsPoint[]): DiskRun[] {
  const runs = new Map<string, DiskRun>();
  const run = (disk: string) => {
    let r = runs.get(disk);
    if (!r) runs.set(disk, r = { disk, seconds: 0, mib: 0, exits: { io: 0, mmio: 0, hypercall: 0, halt: 0 }, shared: 0, points: [[], [], []] });
    return r;
  };
  for (const iv of intervals(h)) {
    const busy = [...iv.bytes].filter(([, b]) => b > 0);
    if (busy.length > 1) {
      for (const [disk] of busy) run(disk).shared++;
      continue;
    }
    if (busy.length === 0) continue;
    const [disk, b] = busy[0];
    const r = run(disk);
    r.seconds += iv.dt;
    r.mib += b / MiB;
    r.exits.io += iv.io;
    r.exits.mmio += iv.mmio;
    r.exits.hypercall += iv.hypercall;
    r.points[0].push(r.seconds);
    r.points[1].push(b / MiB / iv.dt);
    r.points[2].push((iv.io + iv.mmio + iv.hypercall) / iv.dt);
  }
  return [...runs.values()].filter((r) => r.mib > 0);
}

// The plots' comparison of disks: each disk's busy intervals summed, and an interval in which
// two disks moved data (`dd` on one ending as `dd` on the other begins) counted for neither.
import { describe, expect, it } from 'vitest';
import { diskRuns } from '../../app/plots/runs';
import type { StatsPoint } from '../../app/lab/sampler';
import type { MachineStats } from '../../engine-ts/api';

const MiB = 1024 * 1024;
let t = 0;
const totals = { io: 0, hypercall: 0, sda: 0, xvda: 0, instructions: 0 };
const history: StatsPoint[] = [];

/** Half a second in which the guest made these exits and moved these bytes. */
function step(io: number, hypercall: number, sda: number, xvda: number): void {
  totals.io += io; totals.hypercall += hypercall; totals.sda += sda; totals.xvda += xvda; totals.instructions += 1e6;
  const stats = {
    instructions: totals.instructions, interrupts: 0, cycles: 0, guestNs: 0, wallMs: 0, mips: 0, halted: false,
    exits: { io: totals.io, mmio: 0, hypercall: totals.hypercall, halt: 0 },
    disks: [
      { name: 'sda', bus: 'ide', unit: 0, readBytes: 0, writtenBytes: totals.sda },
      { name: 'xvda', bus: 'xen', unit: 0, readBytes: 0, writtenBytes: totals.xvda },
    ],
  } as unknown as MachineStats;
  history.push({ t: t, stats });
  t += 0.5;
}

describe('disks compared in the plots', () => {
  it('sums each disk\'s busy intervals; one shared by two disks counts for neither', () => {
    step(0, 0, 0, 0);
    step(500, 0, 16 * MiB, 0); // dd on sda
    step(480, 0, 16 * MiB, 0);
    step(300, 10, 4 * MiB, 8 * MiB); // sda's dd ends, xvda's begins
    step(0, 20, 0, 16 * MiB);
    step(0, 5, 0, 8 * MiB);
    step(3, 1, 0, 0); // idle: typing at the console
    const runs = diskRuns(history);
    const sda = runs.find((r) => r.disk === 'sda')!;
    const xvda = runs.find((r) => r.disk === 'xvda')!;
    expect(sda).toMatchObject({ mib: 32, shared: 1, seconds: 1, exits: { io: 980, hypercall: 0 } });
    expect(xvda).toMatchObject({ mib: 24, shared: 1, seconds: 1, exits: { io: 0, hypercall: 25 } });
    expect(xvda.points[1]).toEqual([32, 16]); // MiB/s in each of its intervals
  });
});

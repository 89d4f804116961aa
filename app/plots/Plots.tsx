// Plots of one machine over time (VM exits per second by kind, disk MB/s, interrupts per
// second) and the comparison the emulated-vs-PV lesson needs: each disk's busy stretch side
// by side — how fast, and how many exits per MiB of each kind it cost.
import { useMemo } from 'react';
import type { MachineSampler } from '../lab/sampler';
import { Chart } from './Chart';
import { diskRuns, intervals, MiB } from './runs';
import { rate } from '../inspector/format';

export function Plots({ index, sampler }: { index: number; sampler: MachineSampler }) {
  const h = sampler.history;
  const last = h[h.length - 1];
  const { exits, disks, irqs, diskNames } = useMemo(() => {
    const ivs = intervals(h);
    const names = [...new Set(h.flatMap((p) => p.stats.disks.map((d) => d.name)))];
    const t = ivs.map((i) => i.t);
    return {
      exits: [t, ivs.map((i) => i.io / i.dt), ivs.map((i) => i.mmio / i.dt), ivs.map((i) => i.hypercall / i.dt)],
      disks: [t, ...names.map((n) => ivs.map((i) => (i.bytes.get(n) ?? 0) / MiB / i.dt))],
      irqs: [t, ivs.map((i) => i.interrupts / i.dt)],
      diskNames: names,
    };
    // history is appended in place: its length and last point say when it changed.
  }, [h.length, last]);
  const runs = useMemo(() => diskRuns(h), [h.length, last]);
  return (
    <div className="plots" data-testid={`plots-${index}`}>
      <div className="chart-row">
        <Chart title="VM exits per second" unit="exits/s" series={['port I/O', 'MMIO', 'hypercalls']} data={exits} testId={`chart-exits-${index}`} />
        <Chart title="Interrupts per second" unit="irq/s" series={['interrupts']} data={irqs} testId={`chart-irqs-${index}`} />
      </div>
      {diskNames.length > 0 && <Chart title="Disk throughput" unit="MB/s" series={diskNames} data={disks} testId={`chart-disks-${index}`} />}
      {runs.length > 0 && (
        <section className="compare" aria-label="Disks compared">
          <h4>The same work on each disk</h4>
          <div className="compare-row">
            {runs.map((r) => (
              <div
                key={r.disk} className="compare-card" data-disk={r.disk} data-mib={r.mib.toFixed(1)}
                data-io-per-mib={(r.exits.io / r.mib).toFixed(1)} data-mmio-per-mib={(r.exits.mmio / r.mib).toFixed(1)}
                data-hypercall-per-mib={(r.exits.hypercall / r.mib).toFixed(1)}
              >
                <strong>/dev/{r.disk}</strong>
                <div>{r.mib.toFixed(1)} MiB in {r.seconds.toFixed(1)} s · {(r.mib / Math.max(r.seconds, 1e-9)).toFixed(1)} MiB/s</div>
                <div>exits per MiB: port I/O {rate(r.exits.io / r.mib)} · MMIO {rate(r.exits.mmio / r.mib)} · hypercalls {rate(r.exits.hypercall / r.mib)}</div>
                {r.shared > 0 && <div className="muted">{r.shared} interval{r.shared > 1 ? 's' : ''} shared with another disk left out</div>}
                <Chart title={`/dev/${r.disk} while busy`} unit="MiB/s" series={['MiB/s', 'exits/s']} right={{ series: ['exits/s'], unit: 'exits/s' }} data={r.points} height={130} />
              </div>
            ))}
          </div>
          <p className="muted">Each card sums the half-second intervals in which that disk alone moved data (an interval shared with another disk counts for neither). Both disks are the same model in guest time; what differs is how often the guest had to leave the CPU to drive them: port I/O for the emulated controller, hypercalls for the PV ring. MMIO exits are mostly the local APIC (timer and end-of-interrupt), there for either disk.</p>
        </section>
      )}
    </div>
  );
}

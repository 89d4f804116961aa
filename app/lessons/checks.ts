// Evaluating a lesson step's checks against what the lab sees of its machines: the console
// text, the latest inspector sample (xenstore), the counters, and the timeline events since
// the step began. Pure functions of that state, so they are easy to test.
import type { InspectorSample, MachineStats, TimelineEvent } from '../../engine-ts/api';
import { describeEvent } from '../inspector/format';
import type { Check } from './parse';

export interface MachineView {
  console: string;
  sample: InspectorSample | null;
  stats: MachineStats | null;
  /** Counters when the step began (a counter check counts what the step added). */
  statsAtStart: MachineStats | null;
  sampleAtStart: InspectorSample | null;
  /** Timeline events since the step began. */
  events: TimelineEvent[];
}

/** A counter's value in a stats/sample pair (undefined if this machine has no such counter yet). */
export function counterValue(name: string, stats: MachineStats | null, sample: InspectorSample | null): number | undefined {
  if (!stats) return undefined;
  const [a, b, c] = name.split('.');
  switch (a) {
    case 'exits': return stats.exits[b as keyof MachineStats['exits']];
    case 'interrupts': return stats.interrupts;
    case 'instructions': return stats.instructions;
    case 'grants': return sample?.xen?.grants.maps;
    case 'hypercalls': return sample?.xen ? (sample.xen.hypercalls.find((h) => h.name === b)?.count ?? 0) : undefined;
    case 'disk': {
      const d = stats.disks.find((x) => x.name === b);
      if (!d) return undefined;
      return c === 'read' ? d.readBytes : c === 'written' ? d.writtenBytes : d.readBytes + d.writtenBytes;
    }
  }
  return undefined;
}

export function checkPasses(c: Check, m: MachineView | undefined): boolean {
  if (!m) return false;
  switch (c.kind) {
    case 'console':
      return c.pattern.test(m.console);
    case 'xenstore': {
      const node = m.sample?.xen?.xenstore.nodes.find((n) => n.path === c.path);
      if (!node) return false;
      if (c.op === 'exists') return true;
      if (c.op === 'equals') return node.value === c.value;
      return c.pattern!.test(node.value);
    }
    case 'counter': {
      const now = counterValue(c.counter, m.stats, m.sample);
      if (now === undefined) return false;
      const before = counterValue(c.counter, m.statsAtStart, m.sampleAtStart) ?? 0;
      return now - before >= c.atLeast;
    }
    case 'event':
      return m.events.some((e) => e.kind === c.event && (!c.pattern || c.pattern.test(describeEvent(e))));
  }
}

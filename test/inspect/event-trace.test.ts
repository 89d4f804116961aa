// The inspector's timeline ring and the units resolveConfig gives disks and NICs.
import { describe, expect, it } from 'vitest';
import { EventTrace } from '../../engine-ts/platform/event-trace';
import { TRACE, timelineEvents } from '../../engine-ts/config/inspect';
import { ConfigError, resolveConfig } from '../../engine-ts/config/machine';

describe('EventTrace', () => {
  it('records nothing while nobody looks', () => {
    const t = new EventTrace(() => 5, 8);
    t.record(TRACE.hypercall, 1, 32, 4, 0);
    expect(t.sequence).toBe(0);
    expect(t.since(0).time.length).toBe(0);
  });

  it('keeps the newest events, in order, with guest time, and says how many it lost', () => {
    let now = 0;
    const t = new EventTrace(() => now, 4);
    t.on = true;
    for (let i = 0; i < 6; i++) { now = 100 * i; t.record(TRACE['xs-write'], 1, i, 0, 0, `/p${i}`, String(i)); }
    const all = t.since(0);
    expect(all.lost).toBe(2);
    expect(timelineEvents(all).map((e) => [e.seq, e.time, e.kind, e.a, e.text, e.text2])).toEqual([
      [2, 200, 'xs-write', 2, '/p2', '2'], [3, 300, 'xs-write', 3, '/p3', '3'], [4, 400, 'xs-write', 4, '/p4', '4'], [5, 500, 'xs-write', 5, '/p5', '5'],
    ]);
    const later = t.since(5);
    expect(later.lost).toBe(0);
    expect(timelineEvents(later).map((e) => e.seq)).toEqual([5]);
    expect(t.since(6).time.length).toBe(0);
    expect(timelineEvents(t.since(0, 2)).map((e) => e.seq)).toEqual([4, 5]);
  });
});

describe('device units', () => {
  const guest = { kind: 'flat' as const, image: new Uint8Array(1) };
  it('fills in the lowest free unit per bus, keeping the ones given', () => {
    const c = resolveConfig({ guest, xen: true, memoryMiB: 16, disks: [{ bus: 'xen', file: 'a', unit: 0 }, { bus: 'ide', file: 'b' }, { bus: 'xen', file: 'c' }, { bus: 'ide', file: 'd', unit: 0 }], nics: [{ mac: 'x', devid: 1 }, { mac: 'y' }] });
    expect(c.disks!.map((d) => `${d.bus}${d.unit}:${d.file}`)).toEqual(['xen0:a', 'ide1:b', 'xen1:c', 'ide0:d']);
    expect(c.nics!.map((n) => n.devid)).toEqual([1, 0]);
  });
  it('refuses clashes and units off the bus', () => {
    expect(() => resolveConfig({ guest, xen: true, memoryMiB: 16, disks: [{ bus: 'xen', file: 'a', unit: 2 }, { bus: 'xen', file: 'b', unit: 2 }] })).toThrow(ConfigError);
    expect(() => resolveConfig({ guest, disks: [{ bus: 'ide', file: 'a', unit: 4 }] })).toThrow(/IDE disk unit must be 0 to 3/);
    expect(() => resolveConfig({ guest, disks: [1, 2, 3, 4, 5].map((i) => ({ bus: 'ide' as const, file: String(i) })) })).toThrow(/at most 4 IDE disks/);
  });
});

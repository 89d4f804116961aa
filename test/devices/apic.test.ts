import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { IoApic } from '../../engine-ts/devices/ioapic/ioapic';
import { LAPIC_EXTINT, Lapic } from '../../engine-ts/devices/lapic/lapic';
import type { ApicMessage } from '../../engine-ts/devices/common/apic-message';
import { TestMmio, runFor } from './helpers';

const LAPIC = 0xfee00000;
const IOAPIC = 0xfec00000;

function setupLapic(bsp = true) {
  const clock = new VirtualClock();
  const log: string[] = [];
  const ipis: { m: ApicMessage; shorthand: number }[] = [];
  const eois: number[] = [];
  let intr = false;
  const mmio = new TestMmio();
  const lapic = new Lapic(clock, {
    id: 0,
    bsp,
    cpu: {
      setIntr: (l) => (intr = l),
      nmi: () => log.push('nmi'),
      init: () => log.push('init'),
      startup: (v) => log.push(`sipi ${v.toString(16)}`),
    },
    sendIpi: (m, shorthand) => ipis.push({ m, shorthand }),
    eoiBroadcast: (v) => eois.push(v),
    onBaseChange: (b) => log.push(`base ${b.toString(16)}`),
  });
  lapic.register(mmio);
  const rd = (reg: number) => mmio.read32(LAPIC + reg);
  const wr = (reg: number, v: number) => mmio.write32(LAPIC + reg, v);
  const fixed = (vector: number, levelTriggered = false): ApicMessage => ({ destination: 0, logical: false, deliveryMode: 0, vector, levelTriggered });
  return { clock, lapic, rd, wr, log, ipis, eois, fixed, intr: () => intr, mmio };
}

describe('local APIC', () => {
  it('comes out of reset as an xAPIC version 0x14 with six masked LVTs (LINT0 ExtINT on the BSP)', () => {
    const t = setupLapic();
    expect(t.rd(0x030)).toBe(0x00050014);
    expect(t.rd(0x020)).toBe(0);
    expect(t.rd(0x0f0)).toBe(0xff);
    expect(t.rd(0x0e0)).toBe(0xffffffff);
    for (const r of [0x320, 0x330, 0x340, 0x360, 0x370]) expect(t.rd(r)).toBe(0x10000);
    expect(t.rd(0x350)).toBe(0x700);
    expect(setupLapic(false).rd(0x350)).toBe(0x10000);
    expect(t.lapic.readApicBaseMsr()).toBe(0xfee00900);
  });

  it('delivers by priority class against TPR and ISR, and EOIs the highest in-service vector', () => {
    const t = setupLapic();
    t.wr(0x0f0, 0x1ff); // software enable, spurious 0xff
    t.lapic.receive(t.fixed(0x31));
    t.lapic.receive(t.fixed(0x51));
    expect(t.intr()).toBe(true);
    expect(t.lapic.acknowledge()).toBe(0x51);
    expect(t.rd(0x0a0)).toBe(0x50); // PPR follows ISR
    expect(t.lapic.hasInterrupt()).toBe(false); // 0x31 is a lower class
    t.lapic.receive(t.fixed(0x52)); // same class as the one in service
    expect(t.lapic.hasInterrupt()).toBe(false);
    t.lapic.receive(t.fixed(0x61));
    expect(t.lapic.acknowledge()).toBe(0x61); // nests above 0x51
    expect(t.rd(0x100 + (0x61 >> 5) * 0x10)).toBe(1 << (0x61 & 31));
    t.wr(0x0b0, 0);
    t.wr(0x0b0, 0); // EOI 0x61, then 0x51
    expect(t.lapic.acknowledge()).toBe(0x52);
    t.wr(0x0b0, 0);
    t.wr(0x080, 0x40); // TPR class 4 masks 0x31
    expect(t.lapic.hasInterrupt()).toBe(false);
    expect(t.lapic.acknowledge()).toBe(0xff); // spurious when nothing qualifies
    t.wr(0x080, 0x20);
    expect(t.intr()).toBe(true);
    expect(t.lapic.acknowledge()).toBe(0x31);
    expect(t.eois).toEqual([]); // all edge-triggered
  });

  it('broadcasts EOI only for level-triggered vectors and rejects vectors below 16', () => {
    const t = setupLapic();
    t.wr(0x0f0, 0x1ff);
    t.lapic.receive(t.fixed(0x41, true));
    expect(t.rd(0x180 + 2 * 0x10) & (1 << 1)).toBe(2); // TMR bit for 0x41
    expect(t.lapic.acknowledge()).toBe(0x41);
    t.wr(0x0b0, 0);
    expect(t.eois).toEqual([0x41]);
    t.lapic.receive(t.fixed(0x05));
    expect(t.lapic.hasInterrupt()).toBe(false);
    t.wr(0x280, 0); // latch errors
    expect(t.rd(0x280)).toBe(0x40); // receive illegal vector
    t.wr(0x280, 0);
    expect(t.rd(0x280)).toBe(0);
  });

  it('runs the timer one-shot and periodic from guest time (1 GHz bus clock, divide by 16)', () => {
    const t = setupLapic();
    t.wr(0x0f0, 0x1ff);
    t.wr(0x3e0, 0x3); // divide by 16
    t.wr(0x320, 0xec); // one-shot, vector 0xec
    t.wr(0x380, 1000);
    t.clock.advance(8000);
    expect(t.rd(0x390)).toBe(500);
    runFor(t.clock, 7999);
    expect(t.lapic.hasInterrupt()).toBe(false);
    runFor(t.clock, 1);
    expect(t.lapic.acknowledge()).toBe(0xec);
    t.wr(0x0b0, 0);
    expect(t.rd(0x390)).toBe(0);
    runFor(t.clock, 1_000_000);
    expect(t.lapic.hasInterrupt()).toBe(false); // one-shot fired once
    // Periodic: count deliveries as the interrupt handler would.
    t.wr(0x320, 0x200ec);
    t.wr(0x380, 1000);
    let fired = 0;
    const end = t.clock.now() + 1_000_000;
    while (t.clock.now() < end) {
      runFor(t.clock, Math.min(t.clock.nextDeadline(), end) - t.clock.now());
      while (t.lapic.hasInterrupt()) {
        expect(t.lapic.acknowledge()).toBe(0xec);
        t.wr(0x0b0, 0);
        fired++;
      }
    }
    expect(fired).toBe(Math.floor(1_000_000 / 16_000));
    expect(t.rd(0x390)).toBeGreaterThan(0);
    // Masked: keeps counting, no interrupts.
    t.wr(0x320, 0x300ec);
    runFor(t.clock, 100_000);
    expect(t.lapic.hasInterrupt()).toBe(false);
    // Writing 0 to the initial count stops it.
    t.wr(0x320, 0x200ec);
    t.wr(0x380, 0);
    expect(t.clock.nextDeadline()).toBe(Infinity);
  });

  it('arms a TSC-deadline timer when the CPU forwards the MSR', () => {
    const t = setupLapic();
    t.wr(0x0f0, 0x1ff);
    t.wr(0x320, 0x400ef);
    t.lapic.writeTscDeadline(5000);
    runFor(t.clock, 4999);
    expect(t.lapic.hasInterrupt()).toBe(false);
    runFor(t.clock, 1);
    expect(t.lapic.acknowledge()).toBe(0xef);
  });

  it('sends IPIs through the ICR: fixed, self, INIT/SIPI, illegal vector, INIT de-assert', () => {
    const t = setupLapic();
    t.wr(0x0f0, 0x1ff);
    t.wr(0x310, 0x01000000);
    t.wr(0x300, 0x00040); // fixed vector 0x40 to APIC 1
    expect(t.ipis).toEqual([{ m: { destination: 1, logical: false, deliveryMode: 0, vector: 0x40, levelTriggered: false }, shorthand: 0 }]);
    expect(t.rd(0x300) & 0x1000).toBe(0); // delivery status idle
    t.wr(0x300, 0x40045); // self, vector 0x45
    expect(t.lapic.acknowledge()).toBe(0x45);
    t.wr(0x300, 0x0c4500); // INIT to all-but-self
    expect(t.ipis.at(-1)!.shorthand).toBe(3);
    expect(t.ipis.at(-1)!.m.deliveryMode).toBe(5);
    const n = t.ipis.length;
    t.wr(0x300, 0x08500); // INIT level de-assert
    expect(t.ipis.length).toBe(n);
    t.wr(0x300, 0x00008); // fixed vector 8: illegal
    expect(t.ipis.length).toBe(n);
    t.wr(0x280, 0);
    expect(t.rd(0x280) & 0x20).toBe(0x20);
  });

  it('takes INIT and SIPI from the bus', () => {
    const t = setupLapic(false);
    t.wr(0x0f0, 0x1ff);
    t.wr(0x080, 0x30);
    t.lapic.receive({ destination: 0, logical: false, deliveryMode: 5, vector: 0, levelTriggered: false });
    expect(t.log).toEqual(['init']);
    expect(t.rd(0x0f0)).toBe(0xff);
    expect(t.rd(0x080)).toBe(0);
    t.lapic.receive({ destination: 0, logical: false, deliveryMode: 6, vector: 0x9a, levelTriggered: false });
    expect(t.log).toEqual(['init', 'sipi 9a']);
  });

  it('passes 8259 interrupts through LINT0 ExtINT and NMIs through LINT1', () => {
    const t = setupLapic();
    t.lapic.setLint(0, true);
    expect(t.intr()).toBe(true); // works before the OS enables the APIC
    expect(t.lapic.acknowledge()).toBe(LAPIC_EXTINT);
    t.lapic.setLint(0, false);
    expect(t.intr()).toBe(false);
    t.wr(0x0f0, 0x1ff);
    t.wr(0x360, 0x400); // LINT1 NMI
    t.lapic.setLint(1, true);
    t.lapic.setLint(1, true);
    expect(t.log).toEqual(['nmi']);
    t.wr(0x350, 0x10700); // mask LINT0
    t.lapic.setLint(0, true);
    expect(t.intr()).toBe(false);
    // APIC globally disabled: the 8259 goes straight to the CPU.
    t.lapic.writeApicBaseMsr(0xfee00000);
    expect(t.intr()).toBe(true);
    t.lapic.writeApicBaseMsr(0xfed00800);
    expect(t.log).toContain('base fed00000');
  });

  it('matches physical, flat and cluster logical destinations', () => {
    const t = setupLapic();
    t.wr(0x020, 0x03000000);
    expect(t.lapic.matchesDestination(3, false)).toBe(true);
    expect(t.lapic.matchesDestination(2, false)).toBe(false);
    expect(t.lapic.matchesDestination(0xff, false)).toBe(true);
    t.wr(0x0d0, 0x04000000);
    expect(t.lapic.matchesDestination(0x06, true)).toBe(true);
    expect(t.lapic.matchesDestination(0x01, true)).toBe(false);
    t.wr(0x0e0, 0x0fffffff); // cluster model
    t.wr(0x0d0, 0x21000000); // cluster 2, member bit 0
    expect(t.lapic.matchesDestination(0x21, true)).toBe(true);
    expect(t.lapic.matchesDestination(0x11, true)).toBe(false);
  });

  it('saves and restores registers and a running periodic timer', () => {
    const a = setupLapic();
    a.wr(0x0f0, 0x1ff);
    a.wr(0x3e0, 0xb); // divide by 1
    a.wr(0x320, 0x200e0);
    a.wr(0x380, 12345);
    a.lapic.receive(a.fixed(0x70, true));
    a.lapic.acknowledge();
    runFor(a.clock, 50_000);
    const saved = structuredClone(a.lapic.saveState());
    const b = setupLapic();
    b.clock.setNow(a.clock.now());
    b.lapic.loadState(saved, 1);
    expect(b.rd(0x390)).toBe(a.rd(0x390));
    expect(b.clock.nextDeadline()).toBe(a.clock.nextDeadline());
    expect(b.intr()).toBe(a.intr());
    b.wr(0x0b0, 0);
    expect(b.eois).toEqual([0x70]);
    const bad = structuredClone(saved);
    bad.irr = [1, 2, 3];
    expect(() => b.lapic.loadState(bad, 1)).toThrow(/irr/);
  });
});

function setupIoapic() {
  const sent: ApicMessage[] = [];
  const ioapic = new IoApic({ deliver: (m) => sent.push(m) });
  const mmio = new TestMmio();
  ioapic.register(mmio);
  const rd = (reg: number) => {
    mmio.write32(IOAPIC, reg);
    return mmio.read32(IOAPIC + 0x10);
  };
  const wr = (reg: number, v: number) => {
    mmio.write32(IOAPIC, reg);
    mmio.write32(IOAPIC + 0x10, v);
  };
  return { ioapic, sent, rd, wr, mmio };
}

describe('I/O APIC', () => {
  it('identifies itself and starts with every entry masked', () => {
    const t = setupIoapic();
    expect(t.rd(0x01)).toBe(0x00170011);
    t.wr(0x00, 0x02000000);
    expect(t.rd(0x00)).toBe(0x02000000);
    expect(t.rd(0x02)).toBe(0x02000000);
    for (let pin = 0; pin < 24; pin++) expect(t.rd(0x10 + 2 * pin)).toBe(0x10000);
    t.ioapic.setIrq(4, true);
    expect(t.sent).toEqual([]);
  });

  it('delivers an edge once per rising edge', () => {
    const t = setupIoapic();
    t.wr(0x11 + 4, 0x01000000);
    t.wr(0x10 + 4, 0x30); // pin 2, vector 0x30, fixed, physical, edge
    t.ioapic.line(2).set(true);
    t.ioapic.line(2).set(true);
    expect(t.sent).toEqual([{ destination: 1, logical: false, deliveryMode: 0, vector: 0x30, levelTriggered: false }]);
    t.ioapic.line(2).set(false);
    t.ioapic.line(2).set(true);
    expect(t.sent.length).toBe(2);
    expect(() => t.ioapic.setIrq(24, true)).toThrow(/pin 24/);
  });

  it('handles level-triggered inputs with remote IRR and the EOI broadcast', () => {
    const t = setupIoapic();
    t.wr(0x10 + 20, 0xa000 | 0x41); // pin 10, level, active low (polarity stored only), vector 0x41
    t.ioapic.setIrq(10, true);
    expect(t.sent.length).toBe(1);
    expect(t.sent[0].levelTriggered).toBe(true);
    expect(t.rd(0x10 + 20) & 0x4000).toBe(0x4000); // remote IRR
    t.ioapic.setIrq(10, true);
    expect(t.sent.length).toBe(1); // no storm while the CPU services it
    t.ioapic.eoi(0x42); // someone else's vector
    expect(t.sent.length).toBe(1);
    t.ioapic.eoi(0x41); // still asserted: delivered again
    expect(t.sent.length).toBe(2);
    t.ioapic.setIrq(10, false);
    t.ioapic.eoi(0x41);
    expect(t.sent.length).toBe(2);
    expect(t.rd(0x10 + 20) & 0x4000).toBe(0);
    t.wr(0x10 + 20, 0x4000 | 0xa041); // guests cannot set remote IRR
    expect(t.rd(0x10 + 20) & 0x4000).toBe(0);
  });

  it('delivers a level asserted while masked as soon as it is unmasked', () => {
    const t = setupIoapic();
    t.wr(0x10 + 2 * 11, 0x18051);
    t.ioapic.setIrq(11, true);
    expect(t.sent).toEqual([]);
    t.wr(0x10 + 2 * 11, 0x08051);
    expect(t.sent.map((m) => m.vector)).toEqual([0x51]);
  });

  it('drives a local APIC end to end: level interrupt, CPU EOI through MMIO, re-delivery', () => {
    const clock = new VirtualClock();
    const mmio = new TestMmio();
    let lapic!: Lapic;
    const ioapic = new IoApic({ deliver: (m) => lapic.matchesDestination(m.destination, m.logical) && lapic.receive(m) });
    lapic = new Lapic(clock, {
      id: 0,
      bsp: true,
      cpu: { setIntr: () => {}, nmi: () => {}, init: () => {}, startup: () => {} },
      sendIpi: () => {},
      eoiBroadcast: (v) => ioapic.eoi(v),
    });
    lapic.register(mmio);
    ioapic.register(mmio);
    mmio.write32(LAPIC + 0xf0, 0x1ff);
    mmio.write32(IOAPIC, 0x10 + 2 * 9);
    mmio.write32(IOAPIC + 0x10, 0x8000 | 0x39); // SCI-style: level, vector 0x39
    ioapic.setIrq(9, true);
    expect(lapic.acknowledge()).toBe(0x39);
    expect(lapic.hasInterrupt()).toBe(false);
    mmio.write32(LAPIC + 0xb0, 0); // handler did not clear the source: it comes back
    expect(lapic.acknowledge()).toBe(0x39);
    ioapic.setIrq(9, false);
    mmio.write32(LAPIC + 0xb0, 0);
    expect(lapic.hasInterrupt()).toBe(false);
  });

  it('saves and restores entries, levels and remote IRR', () => {
    const a = setupIoapic();
    a.wr(0x10 + 2 * 5, 0x8061);
    a.wr(0x11 + 2 * 5, 0x03000000);
    a.ioapic.setIrq(5, true);
    const saved = structuredClone(a.ioapic.saveState());
    const b = setupIoapic();
    b.ioapic.loadState(saved, 1);
    expect(b.rd(0x10 + 2 * 5)).toBe(a.rd(0x10 + 2 * 5));
    expect(b.rd(0x11 + 2 * 5)).toBe(0x03000000);
    b.ioapic.eoi(0x61);
    expect(b.sent.map((m) => [m.vector, m.destination])).toEqual([[0x61, 3]]);
    const bad = structuredClone(saved);
    (bad.low as number[]).pop();
    expect(() => b.ioapic.loadState(bad, 1)).toThrow(/ioapic\.low has 23 entries, expected 24/);
    expect(b.rd(0x10 + 2 * 5)).toBe(a.rd(0x10 + 2 * 5)); // untouched
  });
});

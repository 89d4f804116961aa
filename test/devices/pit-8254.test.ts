import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { PIT_HZ, Pit8254 } from '../../engine-ts/devices/pit-8254/pit-8254';
import { RecordingIrq, TestPorts, runFor } from './helpers';

const MS = 1_000_000;
const US = 1_000;

function setup() {
  const clock = new VirtualClock();
  const irq = new RecordingIrq(clock);
  const pit = new Pit8254(clock, { irq0: irq });
  const io = new TestPorts();
  pit.register(io);
  return { clock, irq, pit, io };
}

/** Time in ns for n PIT ticks, computed the slow exact way for the assertions. */
const ticksToNs = (n: number) => (n * 1e9) / PIT_HZ;

function readCounter16(io: TestPorts, port: number): number {
  const lo = io.inb(port);
  const hi = io.inb(port);
  return lo | (hi << 8);
}

describe('PIT 8254', () => {
  it('runs Linux pit_calibrate_tsc: counter 2 mode 0 drives port 0x61 bit 5 high after the latch', () => {
    const { clock, io } = setup();
    const latch = Math.floor(PIT_HZ / (1000 / 10)); // CAL_LATCH for a 10 ms window
    // Gate high, speaker off; counter 2, LSB then MSB, mode 0, binary.
    io.outb(0x61, (io.inb(0x61) & ~0x02) | 0x01);
    io.outb(0x43, 0xb0);
    io.outb(0x42, latch & 0xff);
    io.outb(0x42, latch >> 8);
    expect(io.inb(0x61) & 0x20).toBe(0);
    // Poll as the kernel does, in small instruction-sized steps, until OUT2 goes high.
    let polls = 0;
    while ((io.inb(0x61) & 0x20) === 0) {
      clock.advance(500);
      polls++;
      if (polls > 100_000) throw new Error('OUT2 never rose');
    }
    const elapsed = clock.now();
    expect(elapsed).toBeGreaterThanOrEqual(ticksToNs(latch));
    expect(elapsed).toBeLessThan(ticksToNs(latch) + 500);
    expect(Math.abs(elapsed - 10 * MS)).toBeLessThan(10 * US);
  });

  it('lets quick_pit_calibrate read a free-running counter 2 byte by byte (MSB falls every 256 ticks)', () => {
    const { clock, io } = setup();
    io.outb(0x61, (io.inb(0x61) & ~0x02) | 0x01);
    io.outb(0x43, 0xb0);
    io.outb(0x42, 0xff);
    io.outb(0x42, 0xff);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(Math.ceil(ticksToNs(1000)));
      // Without latching, two successive reads return LSB then MSB of the live count.
      io.inb(0x42);
      samples.push(io.inb(0x42));
    }
    // After k*1000 ticks the MSB is that of 0xffff - k*1000 (rounded down to the tick).
    samples.forEach((msb, i) => expect(msb).toBe(((0xffff - (i + 1) * 1000) >> 8) & 0xff));
  });

  it('fires IRQ0 at HZ=250 in mode 2 and keeps every edge even when the board services timers late', () => {
    for (const step of [50 * US, 3 * MS]) {
      const { clock, irq, io } = setup();
      const latch = Math.floor((PIT_HZ + 125) / 250);
      io.outb(0x43, 0x34); // counter 0, LSB/MSB, mode 2
      io.outb(0x40, latch & 0xff);
      io.outb(0x40, latch >> 8);
      irq.riseTimes.length = 0;
      irq.rises = 0;
      runFor(clock, 1000 * MS, step);
      expect(irq.rises).toBe(Math.floor((1000 * MS) / ticksToNs(latch)));
      if (step < MS) {
        // Serviced promptly: each edge lands within a step of its exact time.
        irq.riseTimes.forEach((t, i) => expect(Math.abs(t - ticksToNs(latch * (i + 1)))).toBeLessThan(step + 1));
      }
    }
  });

  it('mode 0 on counter 0 (oneshot clockevent) raises IRQ0 once at the programmed delay', () => {
    const { clock, irq, io } = setup();
    io.outb(0x43, 0x30); // counter 0, LSB/MSB, mode 0: OUT goes low
    expect(irq.level).toBe(false);
    io.outb(0x40, 1193 & 0xff);
    io.outb(0x40, 1193 >> 8);
    irq.rises = 0;
    irq.riseTimes.length = 0;
    runFor(clock, 20 * MS);
    expect(irq.rises).toBe(1);
    expect(irq.riseTimes[0]).toBeGreaterThanOrEqual(ticksToNs(1193));
    expect(irq.riseTimes[0]).toBeLessThan(ticksToNs(1193) + 1);
    // Linux's shutdown: control word 0x30 and a zero count; no more interrupts.
    io.outb(0x43, 0x30);
    io.outb(0x40, 0);
    io.outb(0x40, 0);
    runFor(clock, 20 * MS);
    expect(irq.rises).toBe(1);
  });

  it('latch command freezes the value until both bytes are read', () => {
    const { clock, io } = setup();
    io.outb(0x43, 0x34);
    io.outb(0x40, 0x00);
    io.outb(0x40, 0x80); // 0x8000
    clock.advance(Math.ceil(ticksToNs(100)));
    io.outb(0x43, 0x00); // latch counter 0
    clock.advance(Math.ceil(ticksToNs(300)));
    expect(readCounter16(io, 0x40)).toBe(0x8000 - 100);
    // The next read is live again.
    expect(readCounter16(io, 0x40)).toBe(0x8000 - 400);
  });

  it('read-back returns status (output, null count, access, mode) before the count', () => {
    const { clock, io } = setup();
    io.outb(0x43, 0x36); // counter 0, LSB/MSB, mode 3
    io.outb(0x43, 0xe2); // read-back: status only, counter 0
    expect(io.inb(0x40)).toBe(0x40 | 0x80 | (3 << 4) | (3 << 1)); // null count, OUT high
    io.outb(0x40, 0x10);
    io.outb(0x40, 0x00);
    clock.advance(Math.ceil(ticksToNs(3)));
    io.outb(0x43, 0xc2); // latch count and status of counter 0
    const status = io.inb(0x40);
    expect(status & 0x40).toBe(0); // count loaded
    expect(status & 0x0e).toBe(3 << 1);
    // Mode 3 counts down by two from 0x10.
    expect(readCounter16(io, 0x40)).toBe(0x10 - 6);
  });

  it('counts in BCD when asked', () => {
    const { clock, io } = setup();
    io.outb(0x61, 0x01);
    io.outb(0x43, 0xb1); // counter 2, LSB/MSB, mode 0, BCD
    io.outb(0x42, 0x00);
    io.outb(0x42, 0x10); // 1000 decimal
    clock.advance(Math.ceil(ticksToNs(10)));
    expect(readCounter16(io, 0x42)).toBe(0x0990);
  });

  it('gate low suspends mode 0 counting on counter 2', () => {
    const { clock, io } = setup();
    io.outb(0x61, 0x01);
    io.outb(0x43, 0xb0);
    io.outb(0x42, 0x00);
    io.outb(0x42, 0x10);
    clock.advance(Math.ceil(ticksToNs(16)));
    io.outb(0x61, 0x00); // gate low
    clock.advance(MS);
    io.outb(0x43, 0x80); // latch counter 2
    expect(readCounter16(io, 0x42)).toBe(0x1000 - 16);
    io.outb(0x61, 0x01);
    clock.advance(Math.ceil(ticksToNs(4)));
    expect(readCounter16(io, 0x42)).toBe(0x1000 - 20);
  });

  it('toggles the refresh bit of port 0x61 every 15 us', () => {
    const { clock, io } = setup();
    const a = io.inb(0x61) & 0x10;
    clock.advance(15_100);
    const b = io.inb(0x61) & 0x10;
    clock.advance(15_100);
    const c = io.inb(0x61) & 0x10;
    expect(a).not.toBe(b);
    expect(c).toBe(a);
    expect(io.inb(0x61) & 0x0f).toBe(0);
    io.outb(0x61, 0x03);
    expect(io.inb(0x61) & 0x03).toBe(0x03);
  });

  it('runs the speaker tone in mode 3 when gate and speaker data are enabled', () => {
    const { io, pit } = setup();
    io.outb(0x43, 0xb6);
    io.outb(0x42, 1193 & 0xff);
    io.outb(0x42, 1193 >> 8);
    expect(pit.speakerActive).toBe(false);
    io.outb(0x61, 0x03);
    expect(pit.speakerActive).toBe(true);
    expect(Math.round(pit.speakerFrequency)).toBe(1000);
  });

  it('saves and restores mid-count with identical behaviour afterwards', () => {
    const a = setup();
    a.io.outb(0x43, 0x34);
    a.io.outb(0x40, 0x9b);
    a.io.outb(0x40, 0x2e);
    a.io.outb(0x61, 0x01);
    a.io.outb(0x43, 0xb0);
    a.io.outb(0x42, 0x34); // half-written count on counter 2 stays pending
    runFor(a.clock, 7.3 * MS, 100 * US);
    const saved = structuredClone(a.pit.saveState());

    const b = setup();
    b.clock.setNow(a.clock.now());
    b.pit.loadState(saved, b.pit.stateVersion);
    a.irq.rises = b.irq.rises = 0;
    a.io.outb(0x42, 0x12);
    b.io.outb(0x42, 0x12);
    runFor(a.clock, 30 * MS, 100 * US);
    runFor(b.clock, 30 * MS, 100 * US);
    expect(b.irq.rises).toBe(a.irq.rises);
    expect(b.irq.rises).toBeGreaterThan(0);
    expect(readCounter16(b.io, 0x40)).toBe(readCounter16(a.io, 0x40));
    expect(readCounter16(b.io, 0x42)).toBe(readCounter16(a.io, 0x42));
    expect(b.io.inb(0x61)).toBe(a.io.inb(0x61));
  });

  it('rejects a corrupt snapshot without changing state', () => {
    const { pit, io } = setup();
    const good = pit.saveState();
    const bad = structuredClone(good);
    (bad.counters as Array<Record<string, unknown>>)[1].mode = 9;
    expect(() => pit.loadState(bad, 1)).toThrow(/pit-8254\.counters\[1\]\.mode is 9, outside \[0, 5\]/);
    expect(() => pit.loadState({ ...good, portB: 'x' }, 1)).toThrow(/pit-8254\.portB is not an integer/);
    expect(() => pit.loadState(good, 2)).toThrow(/version 2; this build reads up to 1/);
    expect(io.inb(0x61) & 0x0f).toBe(0);
  });
});

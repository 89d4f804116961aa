import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { RtcMc146818 } from '../../engine-ts/devices/rtc-mc146818/rtc-mc146818';
import { civilFromDays, daysFromCivil } from '../../engine-ts/devices/rtc-mc146818/calendar';
import { RecordingIrq, TestPorts, runFor } from './helpers';

const MS = 1_000_000;
const S = 1_000_000_000;

function setup(startTime = Date.UTC(2024, 1, 29, 23, 59, 58) / 1000) {
  const clock = new VirtualClock();
  const irq = new RecordingIrq(clock);
  const rtc = new RtcMc146818(clock, { irq, startTime });
  const io = new TestPorts();
  rtc.register(io);
  const read = (i: number) => {
    io.outb(0x70, 0x80 | i); // NMI masked, as Linux's CMOS_READ does
    return io.inb(0x71);
  };
  const write = (i: number, v: number) => {
    io.outb(0x70, 0x80 | i);
    io.outb(0x71, v);
  };
  return { clock, irq, rtc, io, read, write };
}

const bcd = (v: number) => ((Math.floor(v / 10) % 10) << 4) | (v % 10);

/** Linux's mc146818_get_time: wait for UIP to clear, then read the fields. */
function linuxReadTime(t: ReturnType<typeof setup>) {
  while (t.read(0x0a) & 0x80) t.clock.advance(10_000);
  return {
    sec: t.read(0x00),
    min: t.read(0x02),
    hour: t.read(0x04),
    mday: t.read(0x07),
    mon: t.read(0x08),
    year: t.read(0x09),
    century: t.read(0x32),
    wday: t.read(0x06),
  };
}

describe('calendar', () => {
  it('agrees with the proleptic Gregorian calendar over several centuries', () => {
    for (let days = -200_000; days <= 200_000; days += 97) {
      const d = new Date(days * 86400_000);
      const c = civilFromDays(days);
      expect([c.year, c.month, c.day]).toEqual([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
      expect(daysFromCivil(c.year, c.month, c.day)).toBe(days);
    }
  });
});

describe('MC146818 RTC', () => {
  it('shows the host start time in BCD 24-hour format and rolls over a leap day', () => {
    const t = setup();
    expect(linuxReadTime(t)).toEqual({ sec: 0x58, min: 0x59, hour: 0x23, mday: 0x29, mon: 0x02, year: 0x24, century: 0x20, wday: 5 });
    t.clock.advance(2 * S);
    expect(linuxReadTime(t)).toEqual({ sec: 0x00, min: 0x00, hour: 0x00, mday: 0x01, mon: 0x03, year: 0x24, century: 0x20, wday: 6 });
  });

  it('sets UIP in the 244 us before each update and changes the seconds exactly at the update', () => {
    const t = setup(1_700_000_000);
    const start = t.read(0x00);
    t.clock.advance(S - 300_000);
    expect(t.read(0x0a) & 0x80).toBe(0);
    t.clock.advance(100_000); // 200 us before the update
    expect(t.read(0x0a) & 0x80).toBe(0x80);
    expect(t.read(0x00)).toBe(start); // still the old second while UIP
    t.clock.advance(200_000);
    expect(t.read(0x0a) & 0x80).toBe(0);
    expect(t.read(0x00)).toBe(bcd((1_700_000_000 % 60) + 1));
  });

  it('follows register B for binary and 12-hour formats', () => {
    const t = setup(Date.UTC(2023, 6, 4, 23, 5, 9) / 1000);
    t.write(0x0b, 0x04); // binary, 12-hour
    t.clock.advance(S);
    expect(t.read(0x04)).toBe(0x80 | 11); // 11 PM
    expect(t.read(0x00)).toBe(10);
    expect(t.read(0x09)).toBe(23);
    t.write(0x0b, 0x00); // BCD 12-hour
    expect(t.read(0x04)).toBe(0x80 | 0x11);
  });

  it('lets the guest set the time with SET and keeps counting from it', () => {
    const t = setup();
    t.clock.advance(300 * MS);
    t.write(0x0b, 0x82); // SET, 24h BCD
    t.write(0x00, 0x30);
    t.write(0x02, 0x15);
    t.write(0x04, 0x08);
    t.write(0x07, 0x31);
    t.write(0x08, 0x12);
    t.write(0x09, 0x99);
    t.write(0x32, 0x19);
    t.clock.advance(5 * S); // frozen while SET
    expect(t.read(0x00)).toBe(0x30);
    t.write(0x0b, 0x02);
    t.clock.advance(31 * S);
    expect([t.read(0x00), t.read(0x02), t.read(0x04)]).toEqual([0x01, 0x16, 0x08]);
    expect([t.read(0x09), t.read(0x32), t.read(0x06)]).toEqual([0x99, 0x19, 6]); // 1999-12-31 was a Friday
  });

  it("follows Linux's mc146818_set_time: divider reset + SET, write, release", () => {
    const t = setup();
    t.clock.advance(700 * MS);
    const saveControl = t.read(0x0b);
    const saveFreq = t.read(0x0a);
    t.write(0x0b, saveControl | 0x80);
    t.write(0x0a, saveFreq | 0x70);
    const fields: [number, number][] = [[0x09, 0x25], [0x08, 0x07], [0x07, 0x14], [0x04, 0x13], [0x02, 0x37], [0x00, 0x05]];
    for (const [r, v] of fields) t.write(r, v);
    t.write(0x0b, saveControl);
    t.write(0x0a, saveFreq);
    t.clock.advance(499 * MS);
    expect(t.read(0x00)).toBe(0x05);
    t.clock.advance(2 * MS); // first update half a second after the divider restarts
    expect(linuxReadTime(t)).toMatchObject({ sec: 0x06, min: 0x37, hour: 0x13, mday: 0x14, mon: 0x07, year: 0x25, wday: 2 });
  });

  it('delivers the periodic interrupt at the reg A rate, once per reg C read', () => {
    const t = setup();
    let pf = 0;
    t.write(0x0a, 0x26); // 1024 Hz
    t.write(0x0b, 0x42); // PIE
    const end = t.clock.now() + S;
    while (t.clock.now() < end) {
      t.clock.advance(Math.min(t.clock.nextDeadline(), end) - t.clock.now());
      t.clock.runDue();
      if (t.irq.level) {
        const c = t.read(0x0c); // the interrupt handler acknowledges
        expect(c & 0xc0).toBe(0xc0);
        expect(t.irq.level).toBe(false);
        pf++;
      }
    }
    expect(pf).toBe(1024);
    t.write(0x0a, 0x2f); // 2 Hz
    pf = 0;
    for (let i = 0; i < 4; i++) {
      runFor(t.clock, 500 * MS);
      if (t.read(0x0c) & 0x40) pf++;
    }
    expect(pf).toBe(4);
  });

  it('raises update-ended interrupts every second and the alarm only at its time', () => {
    const t = setup(Date.UTC(2024, 0, 1, 10, 0, 0) / 1000);
    t.write(0x01, 0x05); // alarm at xx:xx:05 on any hour/minute
    t.write(0x03, 0xc0);
    t.write(0x05, 0xff);
    t.write(0x0b, 0x32); // AIE | UIE
    const flags: number[] = [];
    for (let i = 0; i < 8; i++) {
      runFor(t.clock, S);
      expect(t.irq.level).toBe(true);
      flags.push(t.read(0x0c));
    }
    expect(flags.filter((f) => f & 0x10).length).toBe(8);
    expect(flags.map((f) => (f & 0x20 ? 1 : 0))).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('keeps the IRQ low and the flags pending while interrupts are disabled', () => {
    const t = setup();
    runFor(t.clock, 3 * S);
    expect(t.irq.rises).toBe(0);
    expect(t.read(0x0c) & 0x50).toBe(0x50); // UF and PF seen by a poller
    expect(t.read(0x0c)).toBe(0);
    expect(t.clock.nextDeadline()).toBe(Infinity); // no timers wasted while nothing is enabled
  });

  it('restarts the second half a second after the divider leaves reset', () => {
    const t = setup(1_000_000_000); // hh:mm:40
    t.clock.advance(700 * MS);
    t.write(0x0a, 0x70); // divider reset
    t.clock.advance(10 * S);
    expect(t.read(0x00)).toBe(bcd(40));
    t.write(0x0a, 0x26);
    t.clock.advance(499 * MS);
    expect(t.read(0x00)).toBe(bcd(40));
    t.clock.advance(1 * MS);
    expect(t.read(0x00)).toBe(bcd(41));
  });

  it('holds the memory size fields the firmware reads, the NMI mask and the general CMOS bytes', () => {
    const t = setup();
    t.rtc.setMemorySize(48 * 1024 * 1024);
    expect(t.read(0x30) | (t.read(0x31) << 8)).toBe(47 * 1024); // KiB above 1 MiB
    expect(t.read(0x17) | (t.read(0x18) << 8)).toBe(47 * 1024);
    t.rtc.setMemorySize(128 * 1024 * 1024);
    expect(t.read(0x15) | (t.read(0x16) << 8)).toBe(640);
    expect(t.read(0x30) | (t.read(0x31) << 8)).toBe(0xffff); // saturates; firmware uses 0x34 instead
    expect(t.read(0x34) | (t.read(0x35) << 8)).toBe(((128 - 16) * 1024 * 1024) / 65536);
    expect(t.read(0x5b) | t.read(0x5c) | t.read(0x5d)).toBe(0);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += t.read(i);
    expect((t.read(0x2e) << 8) | t.read(0x2f)).toBe(sum);
    expect(t.rtc.nmiDisabled).toBe(true);
    t.io.outb(0x70, 0x40);
    expect(t.rtc.nmiDisabled).toBe(false);
    t.io.outb(0x71, 0x5a);
    expect(t.read(0x40)).toBe(0x5a);
    expect(t.read(0x0d)).toBe(0x80);
    expect(() => t.rtc.setMemorySize(100)).toThrow(/RAM size/);
    expect(() => t.rtc.setByte(0x0b, 1)).toThrow(/general-purpose/);
  });

  it('saves and restores the clock, pending flags and timers', () => {
    const a = setup();
    a.write(0x0a, 0x2a); // 64 Hz
    a.write(0x0b, 0x52); // PIE | UIE
    runFor(a.clock, 1234 * MS);
    const saved = structuredClone(a.rtc.saveState());
    const b = setup(0);
    b.clock.setNow(a.clock.now());
    b.rtc.loadState(saved, 1);
    expect(b.irq.level).toBe(a.irq.level);
    const seen = (t: ReturnType<typeof setup>) => {
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        runFor(t.clock, 37 * MS);
        out.push(t.read(0x0c), t.read(0x00), t.read(0x0a) & 0x7f);
      }
      return out;
    };
    expect(seen(b)).toEqual(seen(a));
    const bad = structuredClone(saved);
    bad.cmos = new Uint8Array(12);
    expect(() => b.rtc.loadState(bad, 1)).toThrow(/cmos/);
  });
});

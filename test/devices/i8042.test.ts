import { describe, expect, it } from 'vitest';
import { I8042 } from '../../engine-ts/devices/i8042/i8042';
import { RecordingIrq, TestPorts } from './helpers';

function setup(initialA20 = true) {
  const irq1 = new RecordingIrq();
  const irq12 = new RecordingIrq();
  const a20: boolean[] = [];
  let resets = 0;
  const kbc = new I8042({ irq1, irq12, setA20: (on) => a20.push(on), requestReset: () => resets++, initialA20 });
  const io = new TestPorts();
  kbc.register(io);
  /** i8042_command-style: write a command, optional data, read `results` bytes waiting on OBF. */
  const command = (cmd: number, data: number[] = [], results = 0) => {
    expect(io.inb(0x64) & 0x02).toBe(0); // IBF never blocks
    io.outb(0x64, cmd);
    for (const d of data) io.outb(0x60, d);
    const out: number[] = [];
    for (let i = 0; i < results; i++) {
      expect(io.inb(0x64) & 0x01).toBe(1);
      out.push(io.inb(0x60));
    }
    return out;
  };
  /** Reads every byte the interrupt handler would get, with the status seen for each. */
  const drain = () => {
    const out: { data: number; aux: boolean }[] = [];
    while (io.inb(0x64) & 0x01) {
      const st = io.inb(0x64);
      out.push({ data: io.inb(0x60), aux: (st & 0x20) !== 0 });
    }
    return out;
  };
  return { kbc, io, irq1, irq12, a20, command, drain, resets: () => resets };
}

describe('i8042 controller', () => {
  it("answers Linux's controller probe: flush, self-test, CTR read/write", () => {
    const t = setup();
    expect(t.drain()).toEqual([]);
    expect(t.command(0xaa, [], 1)).toEqual([0x55]);
    const [ctr] = t.command(0x20, [], 1);
    expect(ctr & 0x40).toBe(0x40); // translation on, as firmware leaves it
    expect(ctr & 0x20).toBe(0x20); // aux port disabled
    // Linux: enable the keyboard port and its interrupt, keep XLATE.
    const newCtr = (ctr & ~0x10) | 0x01;
    t.command(0x60, [newCtr]);
    expect(t.command(0x20, [], 1)).toEqual([newCtr]);
    expect(t.io.inb(0x64) & 0x04).toBe(0x04); // system flag after self-test
    expect(t.command(0xab, [], 1)).toEqual([0x00]);
  });

  it('answers the atkbd probe through IRQ1: get ID, set LEDs, enable, reset', () => {
    const t = setup();
    t.io.outb(0x60, 0xf2);
    expect(t.irq1.level).toBe(true);
    const id: number[] = [];
    while (t.irq1.level) id.push(t.io.inb(0x60)); // one rising edge per byte
    expect(id).toEqual([0xfa, 0xab, 0x41]);
    expect(t.irq1.rises).toBe(3);
    t.io.outb(0x60, 0xed);
    expect(t.drain()).toEqual([{ data: 0xfa, aux: false }]);
    t.io.outb(0x60, 0x07);
    expect(t.drain()).toEqual([{ data: 0xfa, aux: false }]);
    t.io.outb(0x60, 0xf4);
    t.io.outb(0x60, 0xff);
    expect(t.drain().map((b) => b.data)).toEqual([0xfa, 0xfa, 0xaa]);
    t.io.outb(0x60, 0x42); // not a command
    expect(t.drain().map((b) => b.data)).toEqual([0xfe]);
    // Untranslated, the ID's second byte is the keyboard's own 0x83.
    t.command(0x60, [0x05]);
    t.io.outb(0x60, 0xf2);
    expect(t.drain().map((b) => b.data)).toEqual([0xfa, 0xab, 0x83]);
  });

  it('delivers host keys as set 1 when translating and as set 2 when not', () => {
    const t = setup();
    t.kbc.keyPress([0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8]); // A down/up, Up down/up
    expect(t.drain().map((b) => b.data)).toEqual([0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8]);
    t.command(0x60, [0x05]); // translation off
    t.kbc.keyPress([0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8]);
    expect(t.drain().map((b) => b.data)).toEqual([0x1c, 0xf0, 0x1c, 0xe0, 0x75, 0xe0, 0xf0, 0x75]);
    // Scan code set query: set 2, reported untranslated.
    t.io.outb(0x60, 0xf0);
    t.io.outb(0x60, 0x00);
    expect(t.drain().map((b) => b.data)).toEqual([0xfa, 0xfa, 0x02]);
    expect(() => t.kbc.keyPress([0x100])).toThrow(/not a byte/);
  });

  it('holds keys while the keyboard port is disabled and drops them while scanning is off', () => {
    const t = setup();
    t.command(0xad);
    t.kbc.keyPress([0x10]);
    expect(t.drain()).toEqual([]);
    expect(t.irq1.level).toBe(false);
    t.command(0xae);
    expect(t.drain().map((b) => b.data)).toEqual([0x10]);
    t.io.outb(0x60, 0xf5);
    t.drain();
    t.kbc.keyPress([0x11]);
    expect(t.drain()).toEqual([]);
  });

  it("passes Linux's aux port checks: loopback, mux test, IRQ12 delivery", () => {
    const t = setup();
    expect(t.command(0xd3, [0x5a], 1)).toEqual([0x5a]);
    expect(t.irq12.rises).toBe(0); // aux interrupt still disabled in the CTR
    // i8042_set_mux_mode: an echo of 0xa4 means "not a multiplexing controller".
    expect([0xf0, 0x56, 0xa4].map((b) => t.command(0xd3, [b], 1)[0])).toEqual([0xf0, 0x56, 0xa4]);
    const [ctr] = t.command(0x20, [], 1);
    t.command(0x60, [(ctr & ~0x20) | 0x02]); // enable aux port and its interrupt
    t.io.outb(0x64, 0xd3);
    t.io.outb(0x60, 0xa5);
    expect(t.irq12.level).toBe(true);
    expect(t.irq1.level).toBe(false);
    expect(t.drain()).toEqual([{ data: 0xa5, aux: true }]);
    expect(t.irq12.level).toBe(false);
  });

  it('has a PS/2 mouse that psmouse can reset, identify, enable and read', () => {
    const t = setup();
    t.command(0x60, [0x47]); // both ports on, both interrupts
    const mouse = (b: number) => {
      t.io.outb(0x64, 0xd4);
      t.io.outb(0x60, b);
      return t.drain();
    };
    expect(mouse(0xff)).toEqual([0xfa, 0xaa, 0x00].map((data) => ({ data, aux: true })));
    expect(mouse(0xf2).map((b) => b.data)).toEqual([0xfa, 0x00]);
    expect(mouse(0xf3).map((b) => b.data)).toEqual([0xfa]);
    expect(mouse(200).map((b) => b.data)).toEqual([0xfa]);
    expect(mouse(0xe9).map((b) => b.data)).toEqual([0xfa, 0x00, 0x02, 200]);
    t.kbc.mouseMove(5, -3, 1);
    expect(t.drain()).toEqual([]); // not enabled yet
    expect(mouse(0xf4).map((b) => b.data)).toEqual([0xfa]);
    t.kbc.mouseMove(5, -3, 1);
    expect(t.irq12.level).toBe(true);
    expect(t.drain().map((b) => b.data)).toEqual([0x08 | 0x20 | 1, 5, 0xfd]);
  });

  it('drives A20 from the output port and port 0x92, and resets on 0xFE, output port bit 0 and 0x92 bit 0', () => {
    const t = setup(false);
    expect(t.kbc.a20Enabled).toBe(false);
    t.command(0xd1, [0xdf]);
    expect(t.a20).toEqual([true]);
    expect(t.command(0xd0, [], 1)[0] & 0x03).toBe(0x03);
    t.command(0xd1, [0xdd]);
    expect(t.a20).toEqual([true, false]);
    t.io.outb(0x92, 0x02);
    expect(t.a20).toEqual([true, false, true]);
    expect(t.io.inb(0x92)).toBe(0x02);
    expect(t.resets()).toBe(0);
    t.io.outb(0x92, 0x03);
    expect(t.resets()).toBe(1);
    t.command(0xfe);
    expect(t.resets()).toBe(2);
    t.command(0xff); // pulses nothing
    expect(t.resets()).toBe(2);
    t.command(0xd1, [0x02]);
    expect(t.resets()).toBe(3);
  });

  it('saves and restores queued bytes, modes and a half-sent command', () => {
    const a = setup();
    a.command(0x60, [0x47]);
    a.kbc.keyPress([0x1e, 0x9e, 0x30]);
    a.io.outb(0x64, 0xd4);
    a.io.outb(0x60, 0xf2); // mouse ID answer waits behind the keys
    a.io.outb(0x60, 0xed); // keyboard now expects an LED byte
    expect(a.io.inb(0x60)).toBe(0x1e);
    a.io.outb(0x64, 0xd1); // output port write pending
    const saved = structuredClone(a.kbc.saveState());
    const b = setup();
    b.kbc.loadState(saved, 1);
    expect(b.irq1.level).toBe(a.irq1.level);
    for (const t of [a, b]) t.io.outb(0x60, 0xdf);
    const rest = (t: ReturnType<typeof setup>) => {
      t.io.outb(0x60, 0x01);
      return t.drain();
    };
    expect(rest(b)).toEqual(rest(a));
    expect(b.kbc.configByte).toBe(0x47);
    const bad = structuredClone(saved);
    bad.kbdSet = 7;
    expect(() => b.kbc.loadState(bad, 1)).toThrow(/kbdSet/);
  });
});

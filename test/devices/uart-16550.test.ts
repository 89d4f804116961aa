import { describe, it, expect, beforeEach } from 'vitest';
import { Uart16550 } from '../../engine-ts/devices/uart-16550/uart-16550';
import { VirtualClock } from '../../engine-ts/platform/clock';

function setup() {
  const clock = new VirtualClock();
  const out: number[] = [];
  const irq = { level: false, edges: 0, set(l: boolean) { if (l && !this.level) this.edges++; this.level = l; } };
  const u = new Uart16550('com1', irq, clock, { transmit: (b) => out.push(b) });
  const rd = (r: number) => u.read(0x3f8 + r, 1);
  const wr = (r: number, v: number) => u.write(0x3f8 + r, 1, v);
  return { clock, out, irq, u, rd, wr };
}

describe('16550A UART', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => { t = setup(); });

  it('transmits bytes written to THR and reports THRE/TEMT', () => {
    t.wr(0, 0x41);
    t.wr(0, 0x42);
    expect(t.out).toEqual([0x41, 0x42]);
    expect(t.rd(5) & 0x60).toBe(0x60);
  });

  it('programs the divisor latch behind DLAB without touching THR/IER', () => {
    t.wr(3, 0x80);
    t.wr(0, 0x01);
    t.wr(1, 0x00);
    expect(t.rd(0)).toBe(0x01);
    t.wr(3, 0x03);
    expect(t.out).toEqual([]);
    expect(t.rd(1)).toBe(0);
  });

  it('identifies as a 16550A with FIFOs (IIR bits 7:6 = 11)', () => {
    t.wr(2, 0xc7);
    expect(t.rd(2) & 0xc0).toBe(0xc0);
    t.wr(2, 0);
    expect(t.rd(2) & 0xc0).toBe(0);
  });

  it('raises the receive interrupt only with OUT2 set, and clears it when the data is read', () => {
    t.wr(1, 0x01); // IER: RDI
    t.u.receive([0x61]);
    expect(t.irq.level).toBe(false); // OUT2 clear: the PC's IRQ line is gated off
    t.wr(4, 0x08);
    expect(t.irq.level).toBe(true);
    expect(t.rd(2) & 0x0f).toBe(0x04);
    expect(t.rd(5) & 1).toBe(1);
    expect(t.rd(0)).toBe(0x61);
    expect(t.irq.level).toBe(false);
    expect(t.rd(2) & 0x01).toBe(1);
  });

  it('holds input below the FIFO trigger until the character timeout fires', () => {
    t.wr(4, 0x08);
    t.wr(1, 0x01);
    t.wr(2, 0x81); // FIFO on, trigger level 8
    t.u.receive([1, 2, 3]);
    expect(t.irq.level).toBe(false);
    // Four character times at 9600 baud (divisor 12): 4 * 10 bits / 9600 ≈ 4.17 ms.
    t.clock.advance(4_200_000);
    t.clock.runDue();
    expect(t.irq.level).toBe(true);
    expect(t.rd(2) & 0x0f).toBe(0x0c);
    expect([t.rd(0), t.rd(0), t.rd(0)]).toEqual([1, 2, 3]);
    expect(t.irq.level).toBe(false);
  });

  it('keeps bytes that do not fit in the FIFO queued until the guest reads', () => {
    t.wr(2, 0x01);
    const data = Array.from({ length: 40 }, (_, i) => i);
    t.u.receive(data);
    const got: number[] = [];
    while (t.rd(5) & 1) got.push(t.rd(0));
    expect(got).toEqual(data);
  });

  it('raises THRE at once when the interrupt is enabled with an empty transmitter', () => {
    t.wr(4, 0x08);
    t.wr(1, 0x02);
    expect(t.irq.level).toBe(true);
    expect(t.rd(2) & 0x0f).toBe(0x02); // reading IIR clears a THRE interrupt
    expect(t.irq.level).toBe(false);
  });

  it('loops transmitted bytes back and mirrors MCR in MSR in loopback mode', () => {
    t.wr(4, 0x10 | 0x0f);
    expect(t.rd(6) & 0xf0).toBe(0xf0);
    t.wr(0, 0x5a);
    expect(t.out).toEqual([]);
    expect(t.rd(0)).toBe(0x5a);
    t.wr(4, 0x10);
    expect(t.rd(6) & 0xf0).toBe(0);
  });

  it('round-trips its state', () => {
    t.wr(2, 0xc1); t.wr(1, 0x05); t.wr(7, 0x99); t.u.receive([7, 8]);
    const s = t.u.saveState();
    const t2 = setup();
    t2.u.loadState(structuredClone(s), 1);
    expect(t2.rd(7)).toBe(0x99);
    expect([t2.rd(0), t2.rd(0)]).toEqual([7, 8]);
    expect(() => t2.u.loadState({ ...s, ier: 0x100 }, 1)).toThrow(/ier/);
  });
});

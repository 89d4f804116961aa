import { describe, it, expect, beforeEach } from 'vitest';
import { Pic8259 } from '../../engine-ts/devices/pic-8259/pic-8259';
import { PortBus } from '../../engine-ts/platform/io-bus';

function setup() {
  const intr = { level: false, set(l: boolean) { this.level = l; } };
  const pic = new Pic8259(intr);
  const io = new PortBus();
  pic.register(io);
  const out = (p: number, v: number) => io.write(p, 1, v);
  const inp = (p: number) => io.read(p, 1);
  // The BIOS/Linux initialisation: master 0x20, slave 0x28.
  out(0x20, 0x11); out(0xa0, 0x11);
  out(0x21, 0x20); out(0xa1, 0x28);
  out(0x21, 0x04); out(0xa1, 0x02);
  out(0x21, 0x01); out(0xa1, 0x01);
  out(0x21, 0x00); out(0xa1, 0x00);
  return { intr, pic, out, inp };
}

describe('8259A PIC pair', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => { t = setup(); });

  it('delivers an edge-triggered IRQ with the programmed vector and holds lower priorities until EOI', () => {
    t.pic.setIrq(4, true);
    expect(t.intr.level).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x24);
    expect(t.intr.level).toBe(false);
    t.pic.setIrq(4, false);
    t.pic.setIrq(6, true); // lower priority than the in-service IRQ 4
    expect(t.intr.level).toBe(false);
    t.pic.setIrq(1, true); // higher priority: nests
    expect(t.intr.level).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x21);
    t.out(0x20, 0x20); // EOI for IRQ 1
    expect(t.intr.level).toBe(false);
    t.out(0x20, 0x20); // EOI for IRQ 4
    expect(t.intr.level).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x26);
  });

  it('cascades the slave through master IRQ 2', () => {
    t.pic.setIrq(12, true);
    expect(t.intr.level).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x2c);
    t.out(0x0a0, 0x0b); // read ISR
    expect(t.inp(0xa0)).toBe(0x10);
    t.out(0x020, 0x0b);
    expect(t.inp(0x20)).toBe(0x04);
  });

  it('masks with OCW1 and reports IRR/ISR through OCW3', () => {
    t.out(0x21, 0xff);
    t.pic.setIrq(0, true);
    expect(t.intr.level).toBe(false);
    t.out(0x20, 0x0a);
    expect(t.inp(0x20) & 1).toBe(1);
    expect(t.inp(0x21)).toBe(0xff);
    t.out(0x21, 0xfe);
    expect(t.intr.level).toBe(true);
  });

  it('returns spurious IRQ 7 when the request vanished before INTA', () => {
    t.out(0x20, 0x68); // special mask mode is irrelevant here; make IRQ5 level-triggered instead
    t.pic.setElcr(1 << 5);
    t.pic.setIrq(5, true);
    t.pic.setIrq(5, false);
    expect(t.pic.acknowledge()).toBe(0x27);
  });

  it('keeps a level-triggered request pending while the line stays high', () => {
    t.pic.setElcr(1 << 11);
    t.pic.setIrq(11, true);
    expect(t.pic.acknowledge()).toBe(0x2b);
    t.out(0xa0, 0x20); t.out(0x20, 0x20);
    expect(t.intr.level).toBe(true); // still asserted
    t.pic.setIrq(11, false);
    expect(t.intr.level).toBe(false);
  });

  it('round-trips its state', () => {
    t.pic.setIrq(3, true);
    const s = t.pic.saveState();
    const u = setup();
    u.pic.loadState(structuredClone(s), 1);
    expect(u.pic.acknowledge()).toBe(0x23);
  });
});

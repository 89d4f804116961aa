import { describe, expect, it } from 'vitest';
import { DebugPortE9, XenPlatformPci } from '../../engine-ts/pv/xen-platform-pci';
import type { MmioHandler, PortHandler } from '../../engine-ts/platform/bus';
import { TestPorts } from '../devices/helpers';

/** The device on a bus that records where its BARs are mapped. */
function make() {
  const unplugs: number[] = [];
  const logs: string[] = [];
  const dev = new XenPlatformPci({ unplug: (m) => unplugs.push(m), log: (l) => logs.push(l) });
  const ports = new TestPorts();
  dev.registerPorts(ports);
  const io = new Map<number, PortHandler>();
  const mem = new Map<number, MmioHandler>();
  const irq: boolean[] = [];
  dev.attach({
    device: 3,
    func: 0,
    mapper: {
      mapIo: (base, _size, h) => io.set(base, h),
      unmapIo: (base) => io.delete(base),
      mapMmio: (base, _size, h) => mem.set(base, h),
      unmapMmio: (base) => mem.delete(base),
    },
    setIntx: (level) => irq.push(level),
    warn: (m) => { throw new Error(m); },
  });
  return { dev, ports, unplugs, logs, io, mem, irq };
}

describe('xen-platform-pci', () => {
  it('identifies as 5853:0001, class FF80, revision 1, INTA', () => {
    const { dev } = make();
    expect(dev.readConfig(0, 4)).toBe(0x00015853);
    expect(dev.readConfig(0x2c, 4)).toBe(0x00015853);
    expect(dev.readConfig(0x08, 4) >>> 8).toBe(0xff8000);
    expect(dev.readConfig(0x08, 1)).toBe(1);
    expect(dev.readConfig(0x3d, 1)).toBe(1);
  });

  it('BAR sizing: all-ones reads back the size mask with the type bits; identity is read-only', () => {
    const { dev } = make();
    dev.writeConfig(0x10, 4, 0xffffffff);
    expect(dev.readConfig(0x10, 4)).toBe(0xffffff01);
    dev.writeConfig(0x14, 4, 0xffffffff);
    expect(dev.readConfig(0x14, 4)).toBe(0xff000008);
    dev.writeConfig(0, 4, 0);
    expect(dev.readConfig(0, 2)).toBe(0x5853);
  });

  it('maps its BARs where firmware puts them once decoding is on, and moves them', () => {
    const { dev, io, mem } = make();
    dev.writeConfig(0x10, 4, 0xc123);
    dev.writeConfig(0x14, 4, 0xf1234567);
    expect(io.size + mem.size).toBe(0); // decoding still off
    dev.writeConfig(0x04, 2, 3);
    expect([...io.keys()]).toEqual([0xc100]);
    expect([...mem.keys()]).toEqual([0xf1000000]);
    dev.writeConfig(0x14, 4, 0xf2000000);
    expect([...mem.keys()]).toEqual([0xf2000000]);
  });

  it('runs Linux unplug protocol: magic, version 1, product, build, magic again, mask', () => {
    const { ports, unplugs, dev } = make();
    expect(ports.read(0x10, 2)).toBe(0x49d2);
    expect(ports.read(0x12, 1)).toBe(1);
    ports.write(0x12, 2, 3);
    ports.write(0x10, 4, 1);
    expect(ports.read(0x10, 2)).toBe(0x49d2);
    ports.write(0x10, 2, 3);
    expect(unplugs).toEqual([3]);
    expect(dev.unplugMask).toBe(3);
  });

  it('collects log lines from port 0x12 and BAR0 offset 8', () => {
    const { ports, logs, dev, io } = make();
    for (const c of 'hello\n') ports.write(0x12, 1, c.charCodeAt(0));
    dev.writeConfig(0x10, 4, 0xc000);
    dev.writeConfig(0x04, 2, 1);
    const bar0 = io.get(0xc000)!;
    for (const c of 'bar\n') bar0.write(0xc008, 1, c.charCodeAt(0));
    expect(logs).toEqual(['hello', 'bar']);
  });

  it('drives INTA# unless the guest disables INTx', () => {
    const { dev, irq } = make();
    dev.setIrq(true);
    dev.writeConfig(0x04, 2, 0x400);
    expect(irq).toEqual([true, false]);
  });

  it('state keeps BARs, decoding and the unplug mask; the BARs are mapped again', () => {
    const { dev, ports } = make();
    dev.writeConfig(0x14, 4, 0xf2000000);
    dev.writeConfig(0x04, 2, 2);
    ports.write(0x10, 2, 1);
    const s = dev.saveState();
    const other = make();
    other.dev.loadState(s, 1);
    expect(other.dev.barAddress(1)).toBe(0xf2000000);
    expect([...other.mem.keys()]).toEqual([0xf2000000]);
    expect(other.dev.unplugMask).toBe(1);
  });

  it('port 0xE9 forwards early console bytes', () => {
    const out: number[] = [];
    const e9 = new DebugPortE9((b) => out.push(...b));
    const ports = new TestPorts();
    e9.register(ports);
    ports.write(0xe9, 1, 0x41);
    expect(out).toEqual([0x41]);
    expect(ports.read(0xe9, 1)).toBe(0xe9);
  });
});

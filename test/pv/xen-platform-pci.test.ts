import { describe, expect, it } from 'vitest';
import { DebugPortE9, XenPlatformPci } from '../../engine-ts/pv/xen-platform-pci';
import { TestPorts } from '../devices/helpers';

function make() {
  const unplugs: number[] = [];
  const logs: string[] = [];
  const dev = new XenPlatformPci({ unplug: (m) => unplugs.push(m), log: (l) => logs.push(l) });
  const ports = new TestPorts();
  dev.registerPorts(ports);
  return { dev, ports, unplugs, logs };
}

describe('xen-platform-pci', () => {
  it('identifies as 5853:0001, class FF80, INTA, I/O + memory enabled', () => {
    const { dev } = make();
    expect(dev.configRead(0, 4)).toBe(0x00015853);
    expect(dev.configRead(0x2c, 4)).toBe(0x00015853);
    expect(dev.configRead(0x08, 4) >>> 8).toBe(0xff8000);
    expect(dev.configRead(0x08, 1)).toBe(1);
    expect(dev.configRead(0x3d, 1)).toBe(1);
    expect(dev.configRead(0x04, 2) & 3).toBe(3);
  });

  it('BAR sizing: all-ones reads back the size mask with the type bits', () => {
    const { dev } = make();
    dev.configWrite(0x10, 4, 0xffffffff);
    expect(dev.configRead(0x10, 4)).toBe(0xffffff01);
    dev.configWrite(0x14, 4, 0xffffffff);
    expect(dev.configRead(0x14, 4)).toBe(0xff000008);
    dev.configWrite(0x14, 4, 0xf1234567);
    expect(dev.barBase(1)).toBe(0xf1000000);
    dev.configWrite(0x10, 4, 0xc123);
    expect(dev.barBase(0)).toBe(0xc100);
    // Identity is read-only.
    dev.configWrite(0, 4, 0);
    expect(dev.configRead(0, 2)).toBe(0x5853);
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
    const { ports, logs, dev } = make();
    for (const c of 'hello\n') ports.write(0x12, 1, c.charCodeAt(0));
    const bar0 = dev.barHandler(0)!;
    for (const c of 'bar\n') bar0.write(8, 1, c.charCodeAt(0));
    expect(logs).toEqual(['hello', 'bar']);
  });

  it('state keeps BARs and the unplug mask', () => {
    const { dev, ports } = make();
    dev.configWrite(0x14, 4, 0xf2000000);
    ports.write(0x10, 2, 1);
    const s = dev.saveState();
    const other = make().dev;
    other.loadState(s);
    expect(other.barBase(1)).toBe(0xf2000000);
    expect(other.unplugMask).toBe(1);
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

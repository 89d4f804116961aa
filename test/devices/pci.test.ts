import { describe, expect, it } from 'vitest';
import { PciBus } from '../../engine-ts/devices/pci/pci-bus';
import { PciConfigFunction, type PciBarMapper } from '../../engine-ts/platform/pci-function';
import { I440fxHostBridge, type PamRegion } from '../../engine-ts/devices/pci/i440fx';
import { Piix3IsaBridge } from '../../engine-ts/devices/pci/piix3';
import { TestMmio, TestPorts } from './helpers';

class TestDevice extends PciConfigFunction {
  ioLog: string[] = [];
  mem = new Uint32Array(1024);
  constructor(name = 'test-nic') {
    super({
      name,
      vendorId: 0x1af4,
      deviceId: 0x1000,
      classCode: 0x020000,
      interruptPin: 1,
      bars: [
        {
          index: 0,
          kind: 'io',
          size: 32,
          handler: {
            read: (off) => off + 0x40,
            write: (off, _s, v) => void this.ioLog.push(`${off}=${v}`),
          },
        },
        {
          index: 1,
          kind: 'mem32',
          size: 4096,
          handler: { read: (off) => this.mem[off >> 2], write: (off, _s, v) => void (this.mem[off >> 2] = v) },
        },
        { index: 2, kind: 'mem64', size: 0x4000, prefetchable: true, handler: { read: () => 0x64, write: () => {} } },
      ],
    });
  }
}

function setup() {
  const io = new TestPorts();
  const mmio = new TestMmio();
  const events: string[] = [];
  const warnings: string[] = [];
  const mapper: PciBarMapper = {
    mapIo: (base, size, h, owner) => {
      expect(owner).toMatch(/^test-nic BAR\d$/);
      events.push(`mapIo ${base.toString(16)}`);
      io.register(base, size, h, owner);
    },
    unmapIo: (base, size) => {
      events.push(`unmapIo ${base.toString(16)}`);
      io.unregister(base, size);
    },
    mapMmio: (base, size, h, owner) => {
      events.push(`mapMmio ${base.toString(16)}`);
      mmio.register(base, size, h, owner);
    },
    unmapMmio: (base) => {
      events.push(`unmapMmio ${base.toString(16)}`);
      mmio.unregister(base);
    },
  };
  const isaIrqs: Record<number, boolean> = {};
  const elcrSeen: number[] = [];
  const pamSeen: PamRegion[][] = [];
  let resets = 0;
  const piix = new Piix3IsaBridge({ routeIrq: (irq, l) => (isaIrqs[irq] = l), onElcrChange: (e) => elcrSeen.push(e) });
  const bus = new PciBus({
    mapper,
    setPirq: (p, l) => piix.setPirq(p, l),
    requestReset: () => resets++,
    warn: (m) => warnings.push(m),
  });
  const host = new I440fxHostBridge({ onPamChange: (r) => pamSeen.push(r) });
  const dev = new TestDevice();
  bus.addFunction(0, 0, host);
  bus.addFunction(1, 0, piix);
  bus.addFunction(3, 0, dev);
  bus.register(io);
  piix.register(io);
  const cfgAddr = (d: number, f: number, reg: number) => 0x80000000 | (d << 11) | (f << 8) | (reg & 0xfc);
  const cfgRead = (d: number, f: number, reg: number, size: 1 | 2 | 4 = 4) => {
    io.outl(0xcf8, cfgAddr(d, f, reg));
    return size === 4 ? io.inl(0xcfc) : size === 2 ? io.inw(0xcfc + (reg & 2)) : io.inb(0xcfc + (reg & 3));
  };
  const cfgWrite = (d: number, f: number, reg: number, v: number, size: 1 | 2 | 4 = 4) => {
    io.outl(0xcf8, cfgAddr(d, f, reg));
    if (size === 4) io.outl(0xcfc, v);
    else if (size === 2) io.outw(0xcfc + (reg & 2), v);
    else io.outb(0xcfc + (reg & 3), v);
  };
  return { io, mmio, bus, host, piix, dev, events, warnings, isaIrqs, elcrSeen, pamSeen, cfgRead, cfgWrite, resets: () => resets };
}

describe('PCI configuration mechanism #1', () => {
  it("passes Linux's pci_check_type1 probe and sanity check", () => {
    const t = setup();
    t.io.outb(0xcfb, 0x01);
    const saved = t.io.inl(0xcf8);
    t.io.outl(0xcf8, 0x80000000);
    expect(t.io.inl(0xcf8)).toBe(0x80000000);
    t.io.outl(0xcf8, saved);
    // pci_sanity_check: some device on bus 0 is a host bridge or made by Intel.
    expect(t.cfgRead(0, 0, 0x0a, 2)).toBe(0x0600);
    expect(t.cfgRead(0, 0, 0x00, 2)).toBe(0x8086);
  });

  it('enumerates functions: IDs, class, multifunction bit, master abort for empty slots', () => {
    const t = setup();
    expect(t.cfgRead(0, 0, 0)).toBe(0x12378086);
    expect(t.cfgRead(1, 0, 0)).toBe(0x70008086);
    expect(t.cfgRead(1, 0, 0x08) >>> 8).toBe(0x060100);
    expect(t.cfgRead(1, 0, 0x0e, 1) & 0x80).toBe(0x80);
    expect(t.cfgRead(3, 0, 0)).toBe(0x10001af4);
    expect(t.cfgRead(4, 0, 0)).toBe(0xffffffff);
    expect(t.cfgRead(4, 0, 0, 2)).toBe(0xffff);
    t.io.outl(0xcf8, 0x00000000); // enable bit clear
    expect(t.io.inl(0xcfc)).toBe(0xffffffff);
    // A function behind a single-function device 0 is invisible; bus 1 does not exist.
    t.bus.addFunction(3, 1, new TestDevice('second'));
    expect(t.cfgRead(3, 1, 0)).toBe(0xffffffff);
    t.io.outl(0xcf8, 0x80010000);
    expect(t.io.inl(0xcfc)).toBe(0xffffffff);
    expect(() => t.bus.addFunction(3, 0, new TestDevice('dup'))).toThrow(/already holds/);
    expect(() => t.bus.addFunction(32, 0, new TestDevice('bad'))).toThrow(/device number/);
  });

  it('honours byte/word accesses and read-only fields', () => {
    const t = setup();
    expect(t.cfgRead(3, 0, 0x02, 2)).toBe(0x1000);
    expect(t.cfgRead(3, 0, 0x3d, 1)).toBe(1); // INTA
    t.cfgWrite(3, 0, 0x3c, 11, 1);
    expect(t.cfgRead(3, 0, 0x3c, 1)).toBe(11);
    t.cfgWrite(3, 0, 0x00, 0xdeadbeef);
    expect(t.cfgRead(3, 0, 0)).toBe(0x10001af4);
    t.cfgWrite(3, 0, 0x3d, 4, 1);
    expect(t.cfgRead(3, 0, 0x3d, 1)).toBe(1);
  });

  it('sizes BARs the way Linux does and maps them only while decoding is enabled', () => {
    const t = setup();
    const sizeBar = (reg: number) => {
      const orig = t.cfgRead(3, 0, reg);
      t.cfgWrite(3, 0, reg, 0xffffffff);
      const mask = t.cfgRead(3, 0, reg);
      t.cfgWrite(3, 0, reg, orig);
      return mask;
    };
    expect(sizeBar(0x10)).toBe(0xffffffe1); // 32 bytes of I/O
    expect(sizeBar(0x14)).toBe(0xfffff000); // 4 KiB memory
    expect(sizeBar(0x18)).toBe(0xffffc00c); // 16 KiB, 64-bit, prefetchable
    expect(sizeBar(0x1c)).toBe(0xffffffff); // its upper half
    expect(sizeBar(0x20)).toBe(0); // unimplemented BAR
    t.cfgWrite(3, 0, 0x10, 0xc000);
    t.cfgWrite(3, 0, 0x14, 0xfebf0000);
    t.cfgWrite(3, 0, 0x18, 0xfe000000);
    t.cfgWrite(3, 0, 0x1c, 0);
    expect(t.events).toEqual([]);
    t.cfgWrite(3, 0, 0x04, 0x0003, 2);
    expect(t.events).toEqual(['mapIo c000', 'mapMmio febf0000', 'mapMmio fe000000']);
    expect(t.io.inb(0xc005)).toBe(0x45);
    t.io.outb(0xc01f, 7);
    expect(t.dev.ioLog).toEqual(['31=7']);
    t.mmio.write32(0xfebf0010, 0x1234);
    expect(t.dev.mem[4]).toBe(0x1234);
    // Moving a BAR while decoding unmaps the old place first.
    t.cfgWrite(3, 0, 0x10, 0xd000);
    expect(t.events.slice(3)).toEqual(['unmapIo c000', 'mapIo d000']);
    expect(t.io.has(0xc000)).toBe(false);
    expect(t.io.inb(0xd001)).toBe(0x41);
    t.cfgWrite(3, 0, 0x04, 0x0000, 2);
    expect(t.events.slice(5)).toEqual(['unmapIo d000', 'unmapMmio febf0000', 'unmapMmio fe000000']);
  });

  it('reports an overlapping BAR instead of crashing', () => {
    const t = setup();
    t.cfgWrite(3, 0, 0x10, 0xcf8 & ~31); // would cover the config ports
    t.cfgWrite(3, 0, 0x04, 0x0001, 2);
    expect(t.warnings.length).toBe(1);
    expect(t.warnings[0]).toMatch(/BAR 0 at 0xce0 not mapped/);
    expect(t.io.inl(0xcf8)).toBeGreaterThanOrEqual(0); // config ports still ours
  });

  it('routes INTx through the swizzle and PIIX3 PIRQ registers to an ISA IRQ', () => {
    const t = setup();
    t.dev.setIrq(true);
    expect(t.cfgRead(3, 0, 0x06, 2) & 0x08).toBe(0x08); // interrupt status
    expect(t.bus.pirqLevel(2)).toBe(true); // slot 3 INTA -> PIRQC
    expect(t.isaIrqs[11]).toBeUndefined(); // PIRQC not routed yet
    t.cfgWrite(1, 0, 0x62, 11, 1);
    expect(t.isaIrqs[11]).toBe(true);
    t.dev.setIrq(false);
    expect(t.isaIrqs[11]).toBe(false);
    t.dev.setIrq(true);
    t.cfgWrite(3, 0, 0x04, 0x0400, 2); // INTx disable
    expect(t.isaIrqs[11]).toBe(false);
    t.cfgWrite(3, 0, 0x04, 0x0000, 2);
    expect(t.isaIrqs[11]).toBe(true);
    t.cfgWrite(1, 0, 0x62, 0x80 | 11, 1); // routing disabled
    expect(t.isaIrqs[11]).toBe(false);
    t.cfgWrite(1, 0, 0x62, 0x02, 1); // IRQ 2 cannot be a PIRQ target
    expect(t.isaIrqs[2]).toBeUndefined();
  });

  it('keeps ELCR to the IRQs that may be level-triggered', () => {
    const t = setup();
    t.io.outb(0x4d0, 0xff);
    t.io.outb(0x4d1, 0xff);
    expect(t.io.inb(0x4d0)).toBe(0xf8);
    expect(t.io.inb(0x4d1)).toBe(0xde);
    expect(t.piix.elcr).toBe(0xdef8);
    expect(t.elcrSeen).toEqual([0x00f8, 0xdef8]);
  });

  it('resets through 0xCF9 and reports PAM changes', () => {
    const t = setup();
    t.io.outb(0xcf9, 0x02);
    expect(t.resets()).toBe(0);
    t.io.outb(0xcf9, 0x06);
    expect(t.resets()).toBe(1);
    t.cfgWrite(0, 0, 0x59, 0x30, 1);
    const f0000 = t.pamSeen.at(-1)!.find((r) => r.base === 0xf0000)!;
    expect(f0000).toEqual({ base: 0xf0000, size: 0x10000, readRam: true, writeRam: true });
    t.cfgWrite(0, 0, 0x5a, 0x31, 1);
    const regions = t.pamSeen.at(-1)!;
    expect(regions.find((r) => r.base === 0xc0000)).toMatchObject({ readRam: true, writeRam: false });
    expect(regions.find((r) => r.base === 0xc4000)).toMatchObject({ readRam: true, writeRam: true });
  });

  it('saves and restores config spaces, mappings, routing and the address latch', () => {
    const a = setup();
    a.cfgWrite(3, 0, 0x10, 0xc100);
    a.cfgWrite(3, 0, 0x04, 0x0001, 2);
    a.cfgWrite(1, 0, 0x60, 10, 1);
    a.dev.setIrq(true);
    a.io.outb(0x4d1, 0x0c);
    a.io.outl(0xcf8, 0x80001808);
    const saved = structuredClone({
      bus: a.bus.saveState(),
      host: a.host.saveState(),
      piix: a.piix.saveState(),
      dev: a.dev.saveState(),
    });
    // Slot 3 INTA on PIRQC; route A and C to 10 to see the restored level.
    const b = setup();
    b.bus.loadState(saved.bus, 1);
    b.host.loadState(saved.host, 1);
    b.piix.loadState(saved.piix, 1);
    b.dev.loadState(saved.dev, 1);
    expect(b.events).toEqual(['mapIo c100']);
    expect(b.io.inb(0xc102)).toBe(0x42);
    expect(b.io.inl(0xcf8)).toBe(0x80001808);
    expect(b.piix.elcr).toBe(0x0c00);
    expect(b.piix.pirqRoute(0)).toBe(10);
    expect(b.bus.pirqLevel(2)).toBe(true);
    b.cfgWrite(1, 0, 0x62, 10, 1);
    expect(b.isaIrqs[10]).toBe(true);
    expect(() => b.dev.loadState({ config: new Uint8Array(10), intxLevel: false }, 1)).toThrow(/config/);
  });
});

import { describe, expect, it } from 'vitest';
import { buildMpTable } from '../../engine-ts/devices/mp-table/mp-table';

const sum = (b: Uint8Array, off: number, len: number) => b.subarray(off, off + len).reduce((a, x) => a + x, 0) & 0xff;
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;
const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));

describe('MP table', () => {
  const base = 0x9fc00;
  const built = buildMpTable(base, {
    apicIds: [0, 1],
    cpuSignature: 0x0633,
    cpuFeatures: 0x0781abfd,
    ioapic: { id: 2, address: 0xfec00000 },
    pciInterrupts: [{ device: 3, pin: 0, ioapicPin: 11 }],
  });
  const b = built.bytes;

  it('has a floating pointer with a valid checksum pointing at the configuration table', () => {
    expect(ascii(b, 0, 4)).toBe('_MP_');
    expect(sum(b, 0, 16)).toBe(0);
    expect(u32(b, 4)).toBe(base + 16);
    expect([b[8], b[9], b[11], b[12]]).toEqual([1, 4, 0, 0]);
  });

  it('has a configuration table whose entries parse in the order the spec requires', () => {
    const c = u32(b, 4) - base;
    expect(ascii(b, c, 4)).toBe('PCMP');
    const len = u16(b, c + 4);
    expect(c + len).toBe(b.length);
    expect(sum(b, c, len)).toBe(0);
    expect(u32(b, c + 36)).toBe(0xfee00000);
    const count = u16(b, c + 34);
    const entries: number[][] = [];
    let p = c + 44;
    for (let i = 0; i < count; i++) {
      const size = b[p] === 0 ? 20 : 8;
      entries.push(Array.from(b.subarray(p, p + size)));
      p += size;
    }
    expect(p).toBe(c + len);
    const types = entries.map((e) => e[0]);
    expect([...types].sort((x, y) => x - y)).toEqual(types);
    const cpus = entries.filter((e) => e[0] === 0);
    expect(cpus.map((e) => [e[1], e[3]])).toEqual([[0, 3], [1, 1]]); // BSP flag on the first
    expect(u32(Uint8Array.from(cpus[0]), 4)).toBe(0x0633);
    const buses = entries.filter((e) => e[0] === 1).map((e) => [e[1], ascii(Uint8Array.from(e), 2, 6)]);
    expect(buses).toEqual([[0, 'PCI   '], [1, 'ISA   ']]);
    const ioapic = entries.find((e) => e[0] === 2)!;
    expect([ioapic[1], ioapic[3], u32(Uint8Array.from(ioapic), 4)]).toEqual([2, 1, 0xfec00000]);
    const ints = entries.filter((e) => e[0] === 3).map((e) => ({ type: e[1], bus: e[4], irq: e[5], apic: e[6], pin: e[7] }));
    expect(ints[0]).toEqual({ type: 3, bus: 1, irq: 0, apic: 2, pin: 0 }); // ExtINT
    expect(ints.find((x) => x.bus === 1 && x.irq === 0 && x.type === 0)!.pin).toBe(2); // timer override
    expect(ints.filter((x) => x.bus === 1 && x.type === 0).length).toBe(15);
    expect(ints.find((x) => x.bus === 0)).toEqual({ type: 0, bus: 0, irq: (3 << 2) | 0, apic: 2, pin: 11 });
    const lints = entries.filter((e) => e[0] === 4).map((e) => [e[1], e[6], e[7]]);
    expect(lints).toEqual([[3, 0xff, 0], [1, 0xff, 1]]);
  });

  it('rejects bad input before building', () => {
    const cfg = { apicIds: [0], cpuSignature: 0, cpuFeatures: 0, ioapic: { id: 1, address: 0xfec00000 } };
    expect(() => buildMpTable(0x9fc04, cfg)).toThrow(/aligned/);
    expect(() => buildMpTable(0x9fc00, { ...cfg, apicIds: [] })).toThrow(/APIC IDs/);
    expect(() => buildMpTable(0x9fc00, { ...cfg, pciInterrupts: [{ device: 1, pin: 4, ioapicPin: 16 }] })).toThrow(/pin 4/);
  });
});

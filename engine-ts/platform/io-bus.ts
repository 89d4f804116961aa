// Port and MMIO dispatch. Unclaimed ports read as all ones and ignore writes, as on a PC's
// ISA bus; unclaimed physical addresses above RAM behave the same.

import type { AccessSize, IoPorts, MmioHandler, MmioSpace, PortHandler } from './bus';

const ONES = [0, 0xff, 0xffff, 0, 0xffffffff];

export class PortBus implements IoPorts {
  private readonly map: Int16Array = new Int16Array(0x10000).fill(-1);
  private readonly handlers: PortHandler[] = [];
  private readonly owners: string[] = [];
  /** Accesses per handler, and to ports nobody claims (the inspector's exits by device). */
  private readonly hits: number[] = [];
  private unclaimed = 0;
  /** Count of port accesses (VM exits of the emulated-device path). */
  accesses = 0;
  /** Where the claimed ports are mirrored, one byte per port (see mirrorClaims). */
  private claims: Uint8Array | null = null;

  /** Keep `bytes` (65536, one per port) saying which ports a device claims: 1 claimed, 0 free. */
  mirrorClaims(bytes: Uint8Array): void {
    if (bytes.length !== 0x10000) throw new RangeError('the port claim map has one byte per port (65536)');
    for (let p = 0; p < 0x10000; p++) bytes[p] = this.map[p] >= 0 ? 1 : 0;
    this.claims = bytes;
  }

  register(base: number, count: number, handler: PortHandler, owner: string): void {
    if (!Number.isInteger(base) || !Number.isInteger(count) || base < 0 || count < 1 || base + count > 0x10000)
      throw new RangeError(`${owner}: bad port range ${base}+${count}`);
    for (let p = base; p < base + count; p++) {
      if (this.map[p] >= 0) throw new Error(`${owner}: port 0x${p.toString(16)} already belongs to ${this.owners[this.map[p]]}`);
    }
    const idx = this.handlers.length;
    this.handlers.push(handler);
    this.owners.push(owner);
    this.hits.push(0);
    for (let p = base; p < base + count; p++) this.map[p] = idx;
    this.claims?.fill(1, base, base + count);
  }

  unregister(base: number, count: number): void {
    for (let p = base; p < base + count && p < 0x10000; p++) this.map[p] = -1;
    this.claims?.fill(0, base, Math.min(base + count, 0x10000));
  }

  owner(port: number): string | null {
    const i = this.map[port & 0xffff];
    return i >= 0 ? this.owners[i] : null;
  }

  read(port: number, size: AccessSize): number {
    this.accesses++;
    const i = this.map[port & 0xffff];
    if (i < 0) { this.unclaimed++; return ONES[size]; }
    this.hits[i]++;
    // A wider access that starts in a device's range is handled by that device.
    return this.handlers[i].read(port, size) & ONES[size];
  }

  write(port: number, size: AccessSize, value: number): void {
    this.accesses++;
    const i = this.map[port & 0xffff];
    if (i < 0) { this.unclaimed++; return; }
    this.hits[i]++;
    this.handlers[i].write(port, size, value & ONES[size]);
  }

  /** Accesses by owner since power-on (owners that registered several ranges are summed). */
  accessesByOwner(): Map<string, number> {
    const m = new Map<string, number>();
    this.owners.forEach((o, i) => { if (this.hits[i]) m.set(o, (m.get(o) ?? 0) + this.hits[i]); });
    if (this.unclaimed) m.set('(no device)', this.unclaimed);
    return m;
  }
}

interface Region {
  base: number;
  end: number; // exclusive
  handler: MmioHandler;
  owner: string;
  /** Accesses since it was mapped. */
  hits: number;
}

export class MmioBus implements MmioSpace {
  private regions: Region[] = [];
  accesses = 0;

  constructor(private readonly ramSize: number) {}

  register(base: number, length: number, handler: MmioHandler, owner: string): void {
    if (!Number.isInteger(base) || !Number.isInteger(length) || base < 0 || length < 1 || base + length > 2 ** 32)
      throw new RangeError(`${owner}: bad MMIO range 0x${base.toString(16)}+${length}`);
    const end = base + length;
    if (base < this.ramSize && base >= 0x100000) throw new Error(`${owner}: MMIO at 0x${base.toString(16)} overlaps RAM`);
    for (const r of this.regions) {
      if (base < r.end && r.base < end) throw new Error(`${owner}: MMIO 0x${base.toString(16)} overlaps ${r.owner}`);
    }
    this.regions.push({ base, end, handler, owner, hits: 0 });
    this.regions.sort((a, b) => a.base - b.base);
  }

  unregister(owner: string): void {
    this.regions = this.regions.filter((r) => r.owner !== owner);
  }

  unregisterAt(base: number): void {
    this.regions = this.regions.filter((r) => r.base !== base);
  }

  private find(addr: number): Region | null {
    for (const r of this.regions) if (addr >= r.base && addr < r.end) return r;
    return null;
  }

  read(addr: number, size: AccessSize): number {
    this.accesses++;
    const r = this.find(addr);
    if (!r) { this.unclaimed++; return ONES[size]; }
    r.hits++;
    return r.handler.read(addr - r.base, size) >>> 0;
  }

  write(addr: number, size: AccessSize, value: number): void {
    this.accesses++;
    const r = this.find(addr);
    if (!r) { this.unclaimed++; return; }
    r.hits++;
    r.handler.write(addr - r.base, size, value);
  }

  private unclaimed = 0;

  /** Accesses by owner of the regions mapped now. */
  accessesByOwner(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.regions) if (r.hits) m.set(r.owner, (m.get(r.owner) ?? 0) + r.hits);
    if (this.unclaimed) m.set('(no device)', this.unclaimed);
    return m;
  }
}

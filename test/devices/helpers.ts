// Test doubles for the bus: a port space and MMIO space that dispatch like the board
// will, and an IRQ line that records every level change.

import type { AccessSize, IoPorts, IrqLine, MmioHandler, MmioSpace, PortHandler } from '../../engine-ts/platform/bus';
import { VirtualClock } from '../../engine-ts/platform/clock';

export class RecordingIrq implements IrqLine {
  level = false;
  rises = 0;
  falls = 0;
  /** Guest time of every rising edge (needs a clock). */
  riseTimes: number[] = [];
  constructor(private readonly clock?: VirtualClock) {}
  set(level: boolean): void {
    if (level && !this.level) {
      this.rises++;
      if (this.clock) this.riseTimes.push(this.clock.now());
    }
    if (!level && this.level) this.falls++;
    this.level = level;
  }
}

export class TestPorts implements IoPorts {
  private readonly map = new Map<number, PortHandler>();
  register(base: number, count: number, handler: PortHandler, _owner: string): void {
    for (let p = base; p < base + count; p++)
      if (this.map.has(p)) throw new Error(`port 0x${p.toString(16)} claimed twice`);
    for (let p = base; p < base + count; p++) this.map.set(p, handler);
  }
  unregister(base: number, count: number): void {
    for (let p = base; p < base + count; p++) this.map.delete(p);
  }
  has(port: number): boolean {
    return this.map.has(port);
  }
  private handler(port: number): PortHandler {
    const h = this.map.get(port);
    if (!h) throw new Error(`no device at port 0x${port.toString(16)}`);
    return h;
  }
  read(port: number, size: AccessSize): number {
    return this.handler(port).read(port, size);
  }
  write(port: number, size: AccessSize, value: number): void {
    this.handler(port).write(port, size, value);
  }
  inb(port: number): number {
    return this.read(port, 1);
  }
  inw(port: number): number {
    return this.read(port, 2);
  }
  inl(port: number): number {
    return this.read(port, 4) >>> 0;
  }
  outb(port: number, v: number): void {
    this.write(port, 1, v & 0xff);
  }
  outw(port: number, v: number): void {
    this.write(port, 2, v & 0xffff);
  }
  outl(port: number, v: number): void {
    this.write(port, 4, v >>> 0);
  }
}

export class TestMmio implements MmioSpace {
  readonly regions: { base: number; length: number; handler: MmioHandler; owner: string }[] = [];
  register(base: number, length: number, handler: MmioHandler, owner: string): void {
    for (const r of this.regions)
      if (base < r.base + r.length && r.base < base + length) throw new Error(`MMIO overlap with ${r.owner}`);
    this.regions.push({ base, length, handler, owner });
  }
  unregister(base: number): void {
    const i = this.regions.findIndex((r) => r.base === base);
    if (i >= 0) this.regions.splice(i, 1);
  }
  private find(addr: number) {
    const r = this.regions.find((x) => addr >= x.base && addr < x.base + x.length);
    if (!r) throw new Error(`no MMIO at 0x${addr.toString(16)}`);
    return r;
  }
  read32(addr: number): number {
    const r = this.find(addr);
    return r.handler.read(addr - r.base, 4) >>> 0;
  }
  write32(addr: number, v: number): void {
    const r = this.find(addr);
    r.handler.write(addr - r.base, 4, v >>> 0);
  }
}

/** Advances guest time in steps no longer than `step` ns, firing due timers like the board does. */
export function runFor(clock: VirtualClock, ns: number, step = Infinity): void {
  const end = clock.now() + ns;
  for (;;) {
    const next = Math.min(end, clock.nextDeadline(), clock.now() + step);
    clock.advance(next - clock.now());
    clock.runDue();
    if (clock.now() >= end) return;
  }
}

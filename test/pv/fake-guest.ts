// Test doubles for the PV layer: guest memory that records every page touched (and can
// veto touches), identity-mapped "virtual" memory for hypercall arguments, an upcall sink
// that records deliveries, and a helper that issues hypercalls the way the core will.

import type { GuestMemory } from '../../engine-ts/platform/bus';
import type { AtomicWords } from '../../engine-ts/platform/bus';
import { wordsOf } from '../../engine-ts/worker/machine-memory';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { Hypervisor } from '../../engine-ts/pv/hypervisor';
import type { HvmDomain } from '../../engine-ts/pv/domain';
import {
  HypercallExit,
  type GuestTime,
  type GuestVirtualMemory,
  type HypercallContext,
  type HypercallRegs,
  type PhysmapHost,
  type UpcallSink,
} from '../../engine-ts/pv/interfaces';

export const PAGE = 4096;

/**
 * RAM [0, size) plus pages the board "places" above it (BAR1 backing). Every view() records
 * the pages it covers; `audit`, when set, is asked about each touch and may fail the test.
 */
export class FakeMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  private readonly extra = new Map<number, Uint8Array>();
  readonly touched = new Set<number>();
  audit: ((gfn: number) => void) | null = null;
  /** When false, views are not recorded (the test itself peeking at memory). */
  recording = true;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
  }

  addPage(gfn: number): void {
    if (gfn * PAGE < this.size) return;
    if (!this.extra.has(gfn)) this.extra.set(gfn, new Uint8Array(PAGE));
  }

  dropPage(gfn: number): void {
    this.extra.delete(gfn);
  }

  private note(addr: number, length: number): void {
    if (!this.recording) return;
    const first = Math.floor(addr / PAGE);
    const last = Math.floor((addr + Math.max(length, 1) - 1) / PAGE);
    for (let g = first; g <= last; g++) {
      this.touched.add(g);
      this.audit?.(g);
    }
  }

  words(view: Uint8Array): AtomicWords {
    return wordsOf(view);
  }

  view(addr: number, length: number): Uint8Array | null {
    if (!Number.isInteger(addr) || !Number.isInteger(length) || addr < 0 || length < 0) return null;
    if (addr + length <= this.size) {
      this.note(addr, length);
      return this.bytes.subarray(addr, addr + length);
    }
    const gfn = Math.floor(addr / PAGE);
    const page = this.extra.get(gfn);
    const off = addr - gfn * PAGE;
    if (!page || off + length > PAGE) return null;
    this.note(addr, length);
    return page.subarray(off, off + length);
  }

  read(addr: number, dst: Uint8Array): boolean {
    const v = this.view(addr, dst.length);
    if (!v) return false;
    dst.set(v);
    return true;
  }

  write(addr: number, src: Uint8Array): boolean {
    const v = this.view(addr, src.length);
    if (!v) return false;
    v.set(src);
    return true;
  }

  /** Test-side access that is not recorded as a hypervisor/backend touch. */
  peek(addr: number, length: number): Uint8Array {
    const was = this.recording;
    this.recording = false;
    try {
      const v = this.view(addr, length);
      if (!v) throw new Error(`test peeked outside memory at 0x${addr.toString(16)}`);
      return v;
    } finally {
      this.recording = was;
    }
  }

  u32(addr: number): number {
    const b = this.peek(addr, 4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }
  setU32(addr: number, v: number): void {
    const b = this.peek(addr, 4);
    b[0] = v & 0xff;
    b[1] = (v >>> 8) & 0xff;
    b[2] = (v >>> 16) & 0xff;
    b[3] = (v >>> 24) & 0xff;
  }
  u16(addr: number): number {
    const b = this.peek(addr, 2);
    return b[0] | (b[1] << 8);
  }
  setU16(addr: number, v: number): void {
    const b = this.peek(addr, 2);
    b[0] = v & 0xff;
    b[1] = (v >>> 8) & 0xff;
  }
}

/** Guest-virtual = guest-physical (paging off), as far as hypercall arguments go. Reads are not audited. */
export class IdentityVirtual implements GuestVirtualMemory {
  constructor(private readonly mem: FakeMemory) {}
  read(va: number, dst: Uint8Array): boolean {
    if (va + dst.length > this.mem.size) return false;
    dst.set(this.mem.peek(va, dst.length));
    return true;
  }
  write(va: number, src: Uint8Array): boolean {
    if (va + src.length > this.mem.size) return false;
    this.mem.peek(va, src.length).set(src);
    return true;
  }
}

export class RecordingUpcalls implements UpcallSink {
  vectors: { vcpu: number; vector: number }[] = [];
  gsi = new Map<number, boolean>();
  intx = false;
  kicks: number[] = [];
  injectVector(vcpu: number, vector: number): void {
    this.vectors.push({ vcpu, vector });
  }
  setGsiLevel(gsi: number, level: boolean): void {
    this.gsi.set(gsi, level);
  }
  setPciIntxLevel(level: boolean): void {
    this.intx = level;
  }
  kick(vcpu: number): void {
    this.kicks.push(vcpu);
  }
}

export class FakePhysmap implements PhysmapHost {
  placed: { gfn: number; what: string }[] = [];
  released: number[] = [];
  constructor(private readonly mem: FakeMemory) {}
  place(gfn: number, what: string): boolean {
    this.mem.addPage(gfn);
    this.placed.push({ gfn, what });
    return true;
  }
  release(gfn: number): void {
    this.released.push(gfn);
    this.mem.dropPage(gfn);
  }
}

export const TSC_HZ = 2_000_000_000;

export function guestTime(clock: VirtualClock): GuestTime {
  return {
    clock,
    tscHz: TSC_HZ,
    tsc: () => BigInt(Math.floor(clock.now())) * 2n, // 2 GHz: 2 ticks per ns
    wallClockSec: 1_700_000_000,
    wallClockNsec: 123_456_789,
  };
}

export interface TestGuest {
  hv: Hypervisor;
  clock: VirtualClock;
  dom: HvmDomain;
  mem: FakeMemory;
  upcalls: RecordingUpcalls;
  physmap: FakePhysmap;
  shutdowns: number[];
  debug: number[];
  logs: string[];
  /** Issue hypercall `op` with args (EBX, ECX, EDX, ESI, EDI); returns EAX as a signed number. */
  hypercall(op: number, args?: number[], opts?: { vcpu?: number; cpl?: number }): number;
  lastExit: HypercallExit;
}

export const RAM_SIZE = 16 * 1024 * 1024;
/** Scratch area the tests use for hypercall argument structs. */
export const ARG = 0x1000;

export function makeGuest(opts: { hv?: Hypervisor; clock?: VirtualClock; domid?: number; nrVcpus?: number; ram?: number } = {}): TestGuest {
  const logs: string[] = [];
  const clock = opts.clock ?? new VirtualClock();
  const hv = opts.hv ?? new Hypervisor((m) => logs.push(m));
  const mem = new FakeMemory(opts.ram ?? RAM_SIZE);
  const upcalls = new RecordingUpcalls();
  const physmap = new FakePhysmap(mem);
  const shutdowns: number[] = [];
  const debug: number[] = [];
  const dom = hv.createDomain({
    domid: opts.domid ?? 1,
    name: 'guest',
    memory: mem,
    nrVcpus: opts.nrVcpus ?? 2,
    upcalls,
    physmap,
    time: guestTime(clock),
    host: {
      shutdown: (r) => shutdowns.push(r),
      debugOutput: (b) => debug.push(...b),
      log: (m) => logs.push(m),
    },
  });
  const virt = new IdentityVirtual(mem);
  const g: TestGuest = {
    hv,
    clock,
    dom,
    mem,
    upcalls,
    physmap,
    shutdowns,
    debug,
    logs,
    lastExit: HypercallExit.Continue,
    hypercall(op, args = [], o = {}) {
      const regs: HypercallRegs = { eax: op, ebx: args[0] ?? 0, ecx: args[1] ?? 0, edx: args[2] ?? 0, esi: args[3] ?? 0, edi: args[4] ?? 0 };
      const ctx: HypercallContext = { vcpu: o.vcpu ?? 0, cpl: o.cpl ?? 0, regs, mem: virt };
      g.lastExit = hv.hypercall(dom.domid, ctx);
      return regs.eax | 0;
    },
  };
  return g;
}

/** Write little-endian fields into guest memory at `addr`: [offset, size, value] triples. */
export function poke(mem: FakeMemory, addr: number, fields: [number, 1 | 2 | 4 | 8, number | bigint][]): void {
  for (const [off, size, value] of fields) {
    const b = mem.peek(addr + off, size);
    let v = BigInt(value);
    for (let i = 0; i < size; i++) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
}

/** A seeded PRNG (mulberry32): tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

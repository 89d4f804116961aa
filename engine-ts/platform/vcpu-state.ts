// A typed view of one vCPU's state block in the shared memory (layout: engine-wasm/memory-map.ts).
// Host code (loaders, the hypervisor, tests, the inspector) reads and writes registers here.
// After writing anything the core derives state from (segments, CR0, EFLAGS) call the
// core's `refresh()`.

import * as MM from '../../engine-wasm/memory-map';
import type { AtomicWords } from './bus';

export const GPR_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
export type GprName = (typeof GPR_NAMES)[number];
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;
export type SegName = (typeof SEG_NAMES)[number];

export interface SegmentCache {
  selector: number;
  base: number;
  limit: number;
  /** Access rights: access byte in bits 0-7, flags nibble (AVL, L, D/B, G) in bits 8-11. */
  access: number;
}

/** What a VcpuState needs of the machine memory: its buffer, and atomic words for the event lines. */
export interface VcpuMemory {
  readonly buffer: ArrayBufferLike;
  /** Absent in single-threaded core harnesses, which never raise event lines. */
  words?(byteOffset: number, count: number): AtomicWords;
}

export class VcpuState {
  readonly base: number;
  private readonly dv: DataView;
  private readonly events: AtomicWords | null;

  constructor(memory: VcpuMemory, readonly id: number) {
    if (!Number.isInteger(id) || id < 0 || id >= MM.MAX_VCPUS) throw new RangeError(`vCPU id ${id} out of range`);
    this.base = MM.VCPU_BASE + id * MM.VCPU_STRIDE;
    this.dv = new DataView(memory.buffer, this.base, MM.VCPU_STATE_SIZE);
    this.events = memory.words ? memory.words(this.base + MM.R_PENDING, 1) : null;
  }

  u32(off: number): number { return this.dv.getUint32(off, true); }
  setU32(off: number, v: number): void { this.dv.setUint32(off, v >>> 0, true); }
  u64(off: number): bigint { return this.dv.getBigUint64(off, true); }
  setU64(off: number, v: bigint): void { this.dv.setBigUint64(off, BigInt.asUintN(64, v), true); }

  gpr(r: number | GprName): number {
    const i = typeof r === 'number' ? r : GPR_NAMES.indexOf(r);
    return this.u32(MM.R_GPR + 4 * i);
  }
  setGpr(r: number | GprName, v: number): void {
    const i = typeof r === 'number' ? r : GPR_NAMES.indexOf(r);
    this.setU32(MM.R_GPR + 4 * i, v);
  }
  get eip(): number { return this.u32(MM.R_EIP); }
  set eip(v: number) { this.setU32(MM.R_EIP, v); }

  seg(s: number | SegName): SegmentCache {
    const i = typeof s === 'number' ? s : SEG_NAMES.indexOf(s);
    return {
      selector: this.u32(MM.R_SEG_SEL + 4 * i),
      base: this.u32(MM.R_SEG_BASE + 4 * i),
      limit: this.u32(MM.R_SEG_LIMIT + 4 * i),
      access: this.u32(MM.R_SEG_ACC + 4 * i),
    };
  }
  setSeg(s: number | SegName, c: SegmentCache): void {
    const i = typeof s === 'number' ? s : SEG_NAMES.indexOf(s);
    this.setU32(MM.R_SEG_SEL + 4 * i, c.selector & 0xffff);
    this.setU32(MM.R_SEG_BASE + 4 * i, c.base);
    this.setU32(MM.R_SEG_LIMIT + 4 * i, c.limit);
    this.setU32(MM.R_SEG_ACC + 4 * i, c.access);
  }

  get cr0(): number { return this.u32(MM.R_CR0); }
  set cr0(v: number) { this.setU32(MM.R_CR0, v); }
  get cr2(): number { return this.u32(MM.R_CR2); }
  get cr3(): number { return this.u32(MM.R_CR3); }
  set cr3(v: number) { this.setU32(MM.R_CR3, v); }
  get cr4(): number { return this.u32(MM.R_CR4); }
  set cr4(v: number) { this.setU32(MM.R_CR4, v); }
  get cpl(): number { return this.u32(MM.R_CPL); }
  set cpl(v: number) { this.setU32(MM.R_CPL, v & 3); }
  get halted(): boolean { return this.u32(MM.R_HALTED) !== 0; }
  set halted(v: boolean) { this.setU32(MM.R_HALTED, v ? 1 : 0); }
  /** Virtual cycles retired (the TSC base). */
  get icount(): bigint { return this.u64(MM.R_ICOUNT); }
  set icount(v: bigint) { this.setU64(MM.R_ICOUNT, v); }
  /** Instructions retired: the cycle counter without the extra cycles PAUSE took. */
  get retired(): bigint { return this.icount - this.u64(MM.R_PAUSE_CYCLES); }
  /** Of those, the instructions run from translated code. */
  get jitRetired(): bigint { return this.u64(MM.R_JIT_RETIRED); }
  /** Raw EFLAGS word (arithmetic flags may be stale: use the core's getEflags for the true value). */
  get eflagsRaw(): number { return this.u32(MM.R_EFLAGS); }
  setGdtr(base: number, limit: number): void { this.setU32(MM.R_GDTR_BASE, base); this.setU32(MM.R_GDTR_LIMIT, limit); }
  setIdtr(base: number, limit: number): void { this.setU32(MM.R_IDTR_BASE, base); this.setU32(MM.R_IDTR_LIMIT, limit); }
  get lastException(): { vector: number; code: number; eip: number; count: number } {
    return { vector: this.u32(MM.R_LAST_EXC), code: this.u32(MM.R_LAST_EXC_CODE), eip: this.u32(MM.R_LAST_EXC_EIP), count: this.u32(MM.R_EXC_COUNT) };
  }

  /** Set bits in R_PENDING atomically (safe from any thread). */
  raisePending(bits: number): void {
    this.eventLines().or(0, bits);
  }
  clearPending(bits: number): void {
    this.eventLines().and(0, ~bits);
  }
  private eventLines(): AtomicWords {
    if (!this.events) throw new Error('this vCPU view has no atomic access to its event lines (build it over the machine memory)');
    return this.events;
  }
  get pending(): number { return this.u32(MM.R_PENDING); }
}

// The machine's shared memory as the engine's lower layers use it: guest-physical views and
// atomic words (this folder is the only one that touches Atomics).
import * as MM from '../../engine-wasm/memory-map';
import type { AtomicWords, GuestMemory, MachineMemory } from '../platform/bus';
import type { MachineLayout } from '../config/machine';
import { CodePages } from './code-pages';

class Int32Words implements AtomicWords {
  private bytes: Uint8Array | null = null;
  constructor(private readonly a: Int32Array) {}
  private u8(): Uint8Array { return (this.bytes ??= new Uint8Array(this.a.buffer, this.a.byteOffset, this.a.byteLength)); }
  loadByte(offset: number): number { return Atomics.load(this.u8(), offset); }
  exchangeByte(offset: number, v: number): number { return Atomics.exchange(this.u8(), offset, v & 0xff); }
  load(i: number): number { return Atomics.load(this.a, i); }
  store(i: number, v: number): void { Atomics.store(this.a, i, v | 0); }
  or(i: number, bits: number): number { return Atomics.or(this.a, i, bits | 0); }
  and(i: number, bits: number): number { return Atomics.and(this.a, i, bits | 0); }
  exchange(i: number, v: number): number { return Atomics.exchange(this.a, i, v | 0); }
  compareExchange(i: number, expected: number, v: number): number { return Atomics.compareExchange(this.a, i, expected | 0, v | 0); }
}

/** Atomic words over any 4-byte aligned bytes (shared or not). */
export function wordsOf(bytes: Uint8Array): AtomicWords {
  if (bytes.byteOffset % 4 !== 0) throw new RangeError('atomic words need a 4-byte aligned view');
  return new Int32Words(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2));
}

/**
 * Guest-physical bytes [0, size) at `base` of a buffer. The one GuestMemory of the engine.
 * `code`: the machine's code pages (a machine's memory): a view handed out makes the
 * translated code of its pages stale, since the caller may write through it.
 */
export class BufferGuestMemory implements GuestMemory {
  constructor(private readonly buffer: ArrayBufferLike, private readonly base: number, readonly size: number, private readonly code: CodePages | null = null) {}

  view(addr: number, length: number): Uint8Array | null {
    if (!Number.isInteger(addr) || !Number.isInteger(length) || addr < 0 || length < 0 || addr + length > this.size) return null;
    this.code?.noteWrite(addr, length);
    return new Uint8Array(this.buffer, this.base + addr, length);
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
  words(view: Uint8Array): AtomicWords {
    return wordsOf(view);
  }
}

/** The machine's guest-physical memory (RAM and any Xen window) as bytes: page 0 at offset 0. */
export function guestBytes(memory: WebAssembly.Memory, layout: MachineLayout): Uint8Array {
  return new Uint8Array(memory.buffer, MM.RAM_BASE, layout.backedBytes);
}

/** The layers' view of a machine's WebAssembly memory laid out as `layout` says. */
export function machineMemory(memory: WebAssembly.Memory, layout: MachineLayout): MachineMemory {
  const buffer = memory.buffer;
  if (MM.RAM_BASE + layout.backedBytes > buffer.byteLength)
    throw new RangeError(`the machine memory holds ${buffer.byteLength - MM.RAM_BASE} bytes of guest memory, the layout needs ${layout.backedBytes}`);
  const code = new CodePages(buffer);
  return {
    buffer,
    ram: new BufferGuestMemory(buffer, MM.RAM_BASE, layout.ramBytes, code),
    backed: new BufferGuestMemory(buffer, MM.RAM_BASE, layout.backedBytes, code),
    words: (byteOffset, count) => new Int32Words(new Int32Array(buffer, byteOffset, count)),
  };
}

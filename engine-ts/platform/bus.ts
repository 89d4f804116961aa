// Bus interfaces between the board and its devices. A device depends only on these,
// never on another device; engine-ts/board/board.ts wires devices together.

export type AccessSize = 1 | 2 | 4;

/** Port I/O handlers for a range of ports. `port` is the absolute port number. */
export interface PortHandler {
  read(port: number, size: AccessSize): number;
  write(port: number, size: AccessSize, value: number): void;
}

/** MMIO handlers for a physical range. `offset` is relative to the range's base. */
export interface MmioHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

export interface IoPorts {
  /** Claim ports [base, base+count). Overlapping claims are an error. */
  register(base: number, count: number, handler: PortHandler, owner: string): void;
}

export interface MmioSpace {
  /** Claim physical bytes [base, base+length). Must not overlap RAM or another claim. */
  register(base: number, length: number, handler: MmioHandler, owner: string): void;
}

/**
 * One interrupt line from a device to an interrupt controller input.
 * Level semantics: the device says whether it is asserting the line; an edge-triggered
 * input sees a rising edge when the level goes from false to true.
 */
export interface IrqLine {
  set(level: boolean): void;
}

/** Guest-physical memory as seen by DMA-capable devices and PV backends. */
export interface GuestMemory {
  readonly size: number;
  /** A view of [addr, addr+length) if it lies wholly inside RAM, else null. Never keep it past the call. */
  view(addr: number, length: number): Uint8Array | null;
  read(addr: number, dst: Uint8Array): boolean;
  write(addr: number, src: Uint8Array): boolean;
  /** Atomic access to the 32-bit words of `view`, a 4-byte aligned view this memory gave out. */
  words(view: Uint8Array): AtomicWords;
}

/** Named, typed device state. Values must be structured-clone friendly. */
export type StateValue = number | boolean | string | number[] | Uint8Array | StateRecord | StateRecord[];
export interface StateRecord {
  [field: string]: StateValue;
}

/**
 * A part of the machine with a declared, versioned state layout (architecture principle 1),
 * normally a `declareState` (platform/state.ts) that both saves and loads its fields.
 */
export interface Stateful {
  /** Stable name used as the key in snapshots. */
  readonly stateName: string;
  /** The version saveState() writes. */
  readonly stateVersion: number;
  /**
   * A fresh value that shares nothing the part goes on changing (declareState's codecs copy;
   * hand-written ones build new objects and slice their buffers): a snapshot is compressed
   * while the machine runs on (test/snapshot/determinism.test.ts saves mid-run).
   */
  saveState(): StateRecord;
  /** Restore from a record saved at `version` (older ones are upgraded first); checks it all before changing anything. */
  loadState(state: StateRecord, version: number): void;
  /**
   * A part added after snapshots existed: restoring a snapshot that lacks it leaves it in its
   * power-on state (instead of refusing the snapshot as one of another machine).
   */
  readonly stateOptional?: boolean;
}

/**
 * 32-bit words shared with other threads — a ring page the guest's vCPUs write, a vCPU's event
 * lines — read and written atomically. Only engine-ts/worker implements it (with Atomics).
 */
export interface AtomicWords {
  load(index: number): number;
  store(index: number, value: number): void;
  /** These return the old value. */
  or(index: number, bits: number): number;
  and(index: number, bits: number): number;
  exchange(index: number, value: number): number;
  compareExchange(index: number, expected: number, value: number): number;
  /** Single bytes of the same range (byte offset from its start). */
  loadByte(offset: number): number;
  exchangeByte(offset: number, value: number): number;
}

/** A page shared with a guest: its bytes, and atomic access to its words (ring indexes). */
export interface SharedPage {
  readonly bytes: Uint8Array;
  readonly words: AtomicWords;
}

/** The machine's shared memory as the layers below the worker see it (built by engine-ts/worker). */
export interface MachineMemory {
  /** The whole buffer: control block, vCPU state blocks, RAM (offsets in engine-wasm/memory-map.ts). */
  readonly buffer: ArrayBufferLike;
  /** Guest RAM (the e820 map's memory). */
  readonly ram: GuestMemory;
  /** RAM plus the backed window above it (the Xen BAR1 window): what the core treats as memory. */
  readonly backed: GuestMemory;
  /** Atomic access to `count` words at `byteOffset` of the buffer (4-byte aligned). */
  words(byteOffset: number, count: number): AtomicWords;
}

// Bus interfaces between the board and its devices. A device depends only on these,
// never on another device; engine-ts/machine/board.ts wires devices together.

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
}

/** Named, typed device state. Values must be structured-clone friendly. */
export type StateValue = number | boolean | string | number[] | Uint8Array | StateRecord | StateRecord[];
export interface StateRecord {
  [field: string]: StateValue;
}

/** A device with a declared, versioned state layout (see architecture principle 1). */
export interface Stateful {
  /** Stable name used as the key in snapshots. */
  readonly stateName: string;
  readonly stateVersion: number;
  saveState(): StateRecord;
  /** Restore from a record of this device's current version (migrations run before this). */
  loadState(state: StateRecord): void;
}

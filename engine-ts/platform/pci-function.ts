// One PCI function: a 256-byte type 0 configuration space with per-bit write masks,
// up to six BARs that map themselves when the guest enables decoding, and an INTx pin.
// Devices that live on PCI (IDE, virtio, the Xen platform device...) extend
// PciConfigFunction, or implement PciFunction themselves.

import type { AccessSize, MmioHandler, PortHandler, Stateful, StateRecord } from './bus';
import { bool, bytes, declareState, type DeclaredState, type Fields } from './state';

// Configuration space offsets (PCI Local Bus Specification 3.0, 6.1).
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_PARITY = 0x0040;
export const PCI_COMMAND_SERR = 0x0100;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;

export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;
/** Error bits, cleared by writing 1. */
const PCI_STATUS_W1C = 0xf900;

export const PCI_HEADER_MULTIFUNCTION = 0x80;

/** A BAR's handler sees offsets relative to the BAR's base. */
export interface PciBarHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

export interface PciBarSpec {
  /** 0..5; a 64-bit memory BAR also uses index + 1. */
  index: number;
  kind: 'io' | 'mem32' | 'mem64';
  /** Power of two: at least 4 for I/O (at most 256), at least 16 for memory. */
  size: number;
  prefetchable?: boolean;
  handler: PciBarHandler;
}

/** What the board provides to move BARs around: (un)registration of handlers. */
export interface PciBarMapper {
  mapIo(base: number, size: number, handler: PortHandler, owner: string): void;
  unmapIo(base: number, size: number): void;
  mapMmio(base: number, size: number, handler: MmioHandler, owner: string): void;
  unmapMmio(base: number, size: number): void;
}

/** What the bus gives a function when it is plugged in. */
export interface PciAttachment {
  /** Device number 0..31 and function 0..7 on bus 0. */
  readonly device: number;
  readonly func: number;
  readonly mapper: PciBarMapper;
  /** Drive this function's INTx pin (already swizzled and wire-ORed by the bus). */
  setIntx(level: boolean): void;
  /** A BAR could not be mapped (overlap): the guest misprogrammed it. */
  warn(message: string): void;
}

export interface PciFunction {
  readonly name: string;
  readConfig(offset: number, size: AccessSize): number;
  writeConfig(offset: number, size: AccessSize, value: number): void;
  /** Interrupt pin 1..4 (INTA..INTD), or 0 for none. */
  readonly interruptPin: number;
  attach(at: PciAttachment): void;
}

export interface PciFunctionInfo {
  name: string;
  vendorId: number;
  deviceId: number;
  /** class << 16 | subclass << 8 | prog-if */
  classCode: number;
  revision?: number;
  headerType?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  interruptPin?: number;
  bars?: PciBarSpec[];
}

interface BarState {
  spec: PciBarSpec;
  /** Where it is mapped now, or -1. */
  mapped: number;
  ioHandler?: PortHandler;
  mmioHandler?: MmioHandler;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export class PciConfigFunction implements PciFunction, Stateful {
  readonly name: string;
  readonly stateName: string;
  readonly interruptPin: number;

  protected readonly config = new Uint8Array(256);
  /** Bits the guest may change. */
  protected readonly wmask = new Uint8Array(256);
  /** Bits the guest clears by writing 1. */
  protected readonly w1cmask = new Uint8Array(256);
  private readonly bars: (BarState | undefined)[] = [];
  private intxLevel = false;
  private attachment: PciAttachment | null = null;

  constructor(info: PciFunctionInfo) {
    this.name = info.name;
    this.stateName = `pci-${info.name}`;
    const pin = info.interruptPin ?? 0;
    if (!Number.isInteger(pin) || pin < 0 || pin > 4) throw new RangeError(`pci ${info.name}: interrupt pin ${pin} is not 0..4`);
    this.interruptPin = pin;
    this.setU16(PCI_VENDOR_ID, info.vendorId);
    this.setU16(PCI_DEVICE_ID, info.deviceId);
    this.config[PCI_REVISION_ID] = info.revision ?? 0;
    this.config[PCI_CLASS_PROG] = info.classCode & 0xff;
    this.config[PCI_CLASS_PROG + 1] = (info.classCode >> 8) & 0xff;
    this.config[PCI_CLASS_PROG + 2] = (info.classCode >> 16) & 0xff;
    this.config[PCI_HEADER_TYPE] = info.headerType ?? 0;
    this.setU16(PCI_SUBSYSTEM_VENDOR_ID, info.subsystemVendorId ?? 0);
    this.setU16(PCI_SUBSYSTEM_ID, info.subsystemId ?? 0);
    this.config[PCI_INTERRUPT_PIN] = pin;
    const cmdMask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
    this.setMask(PCI_COMMAND, 2, cmdMask);
    this.w1cmask[PCI_STATUS] = PCI_STATUS_W1C & 0xff;
    this.w1cmask[PCI_STATUS + 1] = PCI_STATUS_W1C >> 8;
    this.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    this.wmask[PCI_LATENCY_TIMER] = 0xff;
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
    for (const bar of info.bars ?? []) this.addBar(bar);
  }

  private addBar(spec: PciBarSpec): void {
    const { index, kind, size } = spec;
    const slots = kind === 'mem64' ? 2 : 1;
    if (!Number.isInteger(index) || index < 0 || index + slots > 6) throw new RangeError(`pci ${this.name}: BAR index ${index} out of range`);
    for (let i = index; i < index + slots; i++) if (this.bars[i]) throw new Error(`pci ${this.name}: BAR ${i} defined twice`);
    if (!isPowerOfTwo(size)) throw new RangeError(`pci ${this.name}: BAR ${index} size ${size} is not a power of two`);
    if (kind === 'io' && (size < 4 || size > 256)) throw new RangeError(`pci ${this.name}: I/O BAR size ${size} not in 4..256`);
    if (kind !== 'io' && (size < 16 || size > 0x80000000)) throw new RangeError(`pci ${this.name}: memory BAR size ${size} not in 16..2 GiB`);
    const off = PCI_BASE_ADDRESS_0 + index * 4;
    if (kind === 'io') {
      this.setU32(off, 0x1);
      this.setMask(off, 4, ~(size - 1) & 0xfffffffc);
    } else {
      this.setU32(off, (kind === 'mem64' ? 0x4 : 0) | (spec.prefetchable ? 0x8 : 0));
      this.setMask(off, 4, ~(size - 1) & 0xfffffff0);
      if (kind === 'mem64') this.setMask(off + 4, 4, 0xffffffff);
    }
    const state: BarState = { spec, mapped: -1 };
    const base = () => state.mapped;
    if (kind === 'io') {
      state.ioHandler = {
        read: (port, sz) => spec.handler.read(port - base(), sz),
        write: (port, sz, v) => spec.handler.write(port - base(), sz, v),
      };
    } else {
      state.mmioHandler = { read: (o, sz) => spec.handler.read(o, sz), write: (o, sz, v) => spec.handler.write(o, sz, v) };
    }
    this.bars[index] = state;
  }

  // ---- helpers for subclasses --------------------------------------------------------

  protected setU16(off: number, v: number): void {
    this.config[off] = v & 0xff;
    this.config[off + 1] = (v >> 8) & 0xff;
  }

  protected setU32(off: number, v: number): void {
    for (let i = 0; i < 4; i++) this.config[off + i] = (v >>> (8 * i)) & 0xff;
  }

  protected getU16(off: number): number {
    return this.config[off] | (this.config[off + 1] << 8);
  }

  protected getU32(off: number): number {
    return (this.config[off] | (this.config[off + 1] << 8) | (this.config[off + 2] << 16) | (this.config[off + 3] << 24)) >>> 0;
  }

  /** Makes `size` bytes at `off` writable under `mask`. */
  protected setMask(off: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.wmask[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Called after every guest write (already applied through the masks). */
  protected configWritten(_offset: number, _size: AccessSize): void {}

  // ---- PciFunction ----------------------------------------------------------------------

  attach(at: PciAttachment): void {
    this.attachment = at;
  }

  readConfig(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      v |= (o < 256 ? this.config[o] : 0) << (8 * i);
    }
    return v >>> 0;
  }

  writeConfig(offset: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o >= 256) break;
      const b = (value >>> (8 * i)) & 0xff;
      const m = this.wmask[o];
      let n = (this.config[o] & ~m) | (b & m);
      n &= ~(b & this.w1cmask[o]);
      this.config[o] = n;
    }
    const end = offset + size;
    if (offset < PCI_COMMAND + 2 && end > PCI_COMMAND) {
      this.updateIntx();
      this.updateMappings();
    } else if (offset < PCI_BASE_ADDRESS_0 + 24 && end > PCI_BASE_ADDRESS_0) {
      this.updateMappings();
    }
    this.configWritten(offset, size);
  }

  // ---- interrupts ------------------------------------------------------------------------

  /** The device asserts (true) or releases its INTx pin. */
  setIrq(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  private updateIntx(): void {
    if (this.intxLevel) this.config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    else this.config[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
    const disabled = (this.getU16(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) !== 0;
    this.attachment?.setIntx(this.intxLevel && !disabled && this.interruptPin !== 0);
  }

  // ---- BAR decoding -------------------------------------------------------------------------

  /** Address a BAR decodes at now, or -1 if it must not be mapped. */
  barAddress(index: number): number {
    const bar = this.bars[index];
    if (!bar) return -1;
    const cmd = this.getU16(PCI_COMMAND);
    const off = PCI_BASE_ADDRESS_0 + index * 4;
    const { kind, size } = bar.spec;
    if (kind === 'io') {
      if (!(cmd & PCI_COMMAND_IO)) return -1;
      const addr = this.getU32(off) & 0xfffc & ~(size - 1);
      return addr !== 0 && addr + size <= 0x10000 ? addr : -1;
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) return -1;
    if (kind === 'mem64' && this.getU32(off + 4) !== 0) return -1; // above 4 GiB: not reachable here
    const addr = (this.getU32(off) & 0xfffffff0 & ~(size - 1)) >>> 0;
    return addr !== 0 && addr + size <= 2 ** 32 ? addr : -1;
  }

  protected updateMappings(): void {
    const at = this.attachment;
    if (!at) return;
    for (let i = 0; i < 6; i++) {
      const bar = this.bars[i];
      if (!bar) continue;
      const want = this.barAddress(i);
      if (want === bar.mapped) continue;
      const { kind, size } = bar.spec;
      if (bar.mapped >= 0) {
        if (kind === 'io') at.mapper.unmapIo(bar.mapped, size);
        else at.mapper.unmapMmio(bar.mapped, size);
        bar.mapped = -1;
      }
      if (want < 0) continue;
      try {
        // One owner name per BAR, so a board that unregisters by owner moves just this one.
        const owner = `${this.name} BAR${i}`;
        if (kind === 'io') at.mapper.mapIo(want, size, bar.ioHandler!, owner);
        else at.mapper.mapMmio(want, size, bar.mmioHandler!, owner);
        bar.mapped = want;
      } catch (e) {
        at.warn(`pci ${this.name}: BAR ${i} at 0x${want.toString(16)} not mapped: ${(e as Error).message}`);
      }
    }
  }

  // ---- state ------------------------------------------------------------------------------

  /** The declared state; a subclass with more state extends PCI_FUNCTION_FIELDS and overrides this. */
  protected get declaredState(): DeclaredState {
    return PCI_FUNCTION_STATE;
  }

  get stateVersion(): number {
    return this.declaredState.version;
  }

  saveState(): StateRecord {
    return this.declaredState.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    const before = this.config.slice();
    this.declaredState.load(this, state, version);
    // Identity and read-only bits come from this build, not from the file.
    for (let i = 0; i < 256; i++) this.config[i] = (before[i] & ~this.wmask[i]) | (this.config[i] & this.wmask[i]);
    this.updateIntx();
    this.updateMappings();
    this.afterLoad();
  }

  /** A subclass's own derived state after a load (the config space and BARs are done). */
  protected afterLoad(): void {}
}

/** What every PCI function keeps: its configuration space and its INTx level. */
export const PCI_FUNCTION_FIELDS = { config: bytes(256), intxLevel: bool } satisfies Fields;
const PCI_FUNCTION_STATE = declareState('pci-function', PCI_FUNCTION_FIELDS);

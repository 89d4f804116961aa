// The Xen platform PCI device (spec §9): vendor 0x5853 device 0x0001. Linux's
// xen-platform-pci driver binds to it to get the grant-table area (BAR1) and an interrupt;
// the fixed I/O ports 0x10-0x1F carry the "unplug emulated devices" protocol, which must
// succeed or blkfront/netfront refuse to load.
//
// The PCI bus (engine-ts/devices/pci/) is written separately, so this object exposes a plain
// 256-byte configuration space with BAR sizing semantics, the BAR list, and offset-relative
// handlers per BAR: an adapter there can wrap it in whatever function interface the bus uses.

import type { AccessSize, IoPorts, MmioHandler, PortHandler, Stateful, StateRecord } from '../machine/bus';
import { checkVersion, readBytes, readInt } from '../devices/common/state-fields';
import { put16, put32, u32 as get32 } from './bytes';

export const XEN_PLATFORM_VENDOR_ID = 0x5853;
export const XEN_PLATFORM_DEVICE_ID = 0x0001;
/** inw(0x10): the platform is present and our driver version is welcome. */
export const XEN_IOPORT_MAGIC_VAL = 0x49d2;
/** inw(0x10) after a blacklisted product/build: "your driver is blacklisted". */
export const XEN_IOPORT_BLACKLISTED = 0xd249;
export const XEN_IOPORT_BASE = 0x10;
export const XEN_IOPORT_COUNT = 0x10;
export const XEN_IOPORT_PROTOVER = 1;

// Unplug mask bits (outw(0x10, mask)).
export const UNPLUG_ALL_IDE_DISKS = 1;
export const UNPLUG_ALL_NICS = 2;
export const UNPLUG_AUX_IDE_DISKS = 4;
export const UNPLUG_NVME_DISKS = 8;

export interface PciBarInfo {
  index: number;
  kind: 'io' | 'mem';
  /** Size in bytes, a power of two. */
  size: number;
  prefetchable: boolean;
}

/** What a PCI bus needs from a function: config space, BARs, and per-BAR access handlers. */
export interface PciFunctionLike {
  readonly name: string;
  readonly bars: readonly PciBarInfo[];
  configRead(offset: number, size: AccessSize): number;
  configWrite(offset: number, size: AccessSize, value: number): void;
  /** Offset-relative handler of BAR `index` (I/O or memory), if the function decodes it. */
  barHandler(index: number): MmioHandler | null;
  /** Current base address programmed into BAR `index` (without the flag bits). */
  barBase(index: number): number;
}

export interface XenPlatformHost {
  /** The guest asked to unplug emulated devices (UNPLUG_* bits). */
  unplug(mask: number): void;
  /** A line the guest driver logged through port 0x12 or BAR0 offset 8. */
  log?(line: string): void;
}

const BAR0_SIZE = 0x100;
const BAR1_SIZE = 16 * 1024 * 1024;
const LOG_LINE_MAX = 256;

// Config-space offsets (PCI local bus spec, type 0 header).
const PCI_VENDOR_ID = 0x00;
const PCI_DEVICE_ID = 0x02;
const PCI_COMMAND = 0x04;
const PCI_REVISION_ID = 0x08;
const PCI_CLASS_PROG = 0x09;
const PCI_CLASS_DEVICE = 0x0a;
const PCI_HEADER_TYPE = 0x0e;
const PCI_BASE_ADDRESS_0 = 0x10;
const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
const PCI_SUBSYSTEM_ID = 0x2e;
const PCI_INTERRUPT_LINE = 0x3c;
const PCI_INTERRUPT_PIN = 0x3d;
/** Command bits a driver may change: I/O, memory, bus master, INTx disable. */
const PCI_COMMAND_WRITABLE = 0x0001 | 0x0002 | 0x0004 | 0x0400;

export class XenPlatformPci implements PciFunctionLike, Stateful {
  readonly name = 'xen-platform';
  readonly stateName = 'xen-platform-pci';
  readonly stateVersion = 1;
  readonly bars: readonly PciBarInfo[] = [
    { index: 0, kind: 'io', size: BAR0_SIZE, prefetchable: false },
    { index: 1, kind: 'mem', size: BAR1_SIZE, prefetchable: true },
  ];
  private readonly config = new Uint8Array(256);
  /** Platform flags byte (bit 0 = ROM lock in QEMU; we only store it). */
  private platformFlags = 0;
  private blacklisted = false;
  /** Every unplug mask the guest sent, OR-ed (unplug is one-way). */
  private unplugged = 0;
  private logLine: number[] = [];

  constructor(private readonly host: XenPlatformHost) {
    this.reset();
  }

  reset(): void {
    const c = this.config;
    c.fill(0);
    put16(c, PCI_VENDOR_ID, XEN_PLATFORM_VENDOR_ID);
    put16(c, PCI_DEVICE_ID, XEN_PLATFORM_DEVICE_ID);
    put16(c, PCI_COMMAND, 0x0003); // I/O and memory decoding enabled at reset
    c[PCI_REVISION_ID] = 1;
    c[PCI_CLASS_PROG] = 0x00;
    put16(c, PCI_CLASS_DEVICE, 0xff80); // class 0xFF (other), subclass 0x80
    c[PCI_HEADER_TYPE] = 0;
    put32(c, PCI_BASE_ADDRESS_0, 0x1); // I/O space indicator
    put32(c, PCI_BASE_ADDRESS_0 + 4, 0x8); // 32-bit memory, prefetchable
    put16(c, PCI_SUBSYSTEM_VENDOR_ID, XEN_PLATFORM_VENDOR_ID);
    put16(c, PCI_SUBSYSTEM_ID, XEN_PLATFORM_DEVICE_ID);
    c[PCI_INTERRUPT_PIN] = 1; // INTA#
    this.platformFlags = 0;
    this.blacklisted = false;
    this.logLine = [];
  }

  /** Unplug bits the guest has requested so far. */
  get unplugMask(): number {
    return this.unplugged;
  }

  // ---- configuration space ----------------------------------------------------------------

  configRead(offset: number, size: AccessSize): number {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > 256) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[offset + i];
    return v >>> 0;
  }

  configWrite(offset: number, size: AccessSize, value: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > 256) return;
    for (let i = 0; i < size; i++) this.writeConfigByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  private writeConfigByte(off: number, b: number): void {
    const c = this.config;
    if (off === PCI_COMMAND || off === PCI_COMMAND + 1) {
      const shift = (off - PCI_COMMAND) * 8;
      const mask = (PCI_COMMAND_WRITABLE >> shift) & 0xff;
      c[off] = (c[off] & ~mask) | (b & mask);
      return;
    }
    if (off >= PCI_BASE_ADDRESS_0 && off < PCI_BASE_ADDRESS_0 + 8) {
      const bar = this.bars[(off - PCI_BASE_ADDRESS_0) >> 2];
      const byte = (off - PCI_BASE_ADDRESS_0) & 3;
      // Address bits below the BAR's size read as zero, the flag bits are fixed: writing
      // all-ones therefore reads back the size mask, as the sizing protocol expects.
      const flags = bar.kind === 'io' ? 0x1 : 0x8;
      const keep = (~(bar.size - 1) >>> 0) & (bar.kind === 'io' ? 0xfffffffc : 0xfffffff0);
      const byteMask = (keep >>> (8 * byte)) & 0xff;
      const fixed = (flags >>> (8 * byte)) & 0xff;
      c[off] = (b & byteMask) | fixed;
      return;
    }
    if (off === PCI_INTERRUPT_LINE) c[off] = b;
    // Everything else is read-only.
  }

  barBase(index: number): number {
    const bar = this.bars[index];
    if (!bar) return 0;
    const raw = get32(this.config, PCI_BASE_ADDRESS_0 + 4 * index);
    return (raw & (bar.kind === 'io' ? 0xfffffffc : 0xfffffff0)) >>> 0;
  }

  barHandler(index: number): MmioHandler | null {
    if (index === 0) return this.bar0;
    if (index === 1) return this.bar1;
    return null;
  }

  // BAR0: offset 0 = platform flags byte, offset 8 = log bytes.
  private readonly bar0: MmioHandler = {
    read: (offset, size) => (offset === 0 && size === 1 ? this.platformFlags : size === 4 ? 0xffffffff : (1 << (size * 8)) - 1),
    write: (offset, size, value) => {
      if (offset === 0 && size === 1) this.platformFlags = value & 0xff;
      else if (offset === 8 && size === 1) this.logByte(value & 0xff);
    },
  };

  // BAR1: nothing decodes here until the guest places grant frames (the board backs those).
  private readonly bar1: MmioHandler = {
    read: (_offset, size) => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1),
    write: () => {},
  };

  // ---- fixed I/O ports 0x10-0x1F (unplug protocol) ------------------------------------------

  readonly ioPorts: PortHandler = {
    read: (port, size) => {
      const off = port - XEN_IOPORT_BASE;
      if (off === 0 && size === 2) return this.blacklisted ? XEN_IOPORT_BLACKLISTED : XEN_IOPORT_MAGIC_VAL;
      if (off === 0 && size === 1) return this.platformFlags;
      if (off === 2 && size === 1) return XEN_IOPORT_PROTOVER;
      return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    },
    write: (port, size, value) => {
      const off = port - XEN_IOPORT_BASE;
      if (off === 0 && size === 2) {
        const mask = value & 0xffff;
        this.unplugged |= mask;
        this.host.unplug(mask);
      } else if (off === 0 && size === 1) {
        this.platformFlags = value & 0xff;
      } else if (off === 2 && size === 1) {
        this.logByte(value & 0xff);
      }
      // off 0 size 4: driver build number; off 2 size 2: product number. Nothing is blacklisted.
    },
  };

  /** Claim the fixed ports 0x10-0x1F. */
  registerPorts(ports: IoPorts): void {
    ports.register(XEN_IOPORT_BASE, XEN_IOPORT_COUNT, this.ioPorts, 'xen-platform');
  }

  private logByte(b: number): void {
    if (b === 0x0a) {
      this.host.log?.(String.fromCharCode(...this.logLine));
      this.logLine = [];
      return;
    }
    if (this.logLine.length < LOG_LINE_MAX) this.logLine.push(b >= 0x20 && b < 0x7f ? b : 0x3f);
  }

  // ---- state -----------------------------------------------------------------------------------

  saveState(): StateRecord {
    return { config: this.config.slice(), platformFlags: this.platformFlags, unplugged: this.unplugged };
  }

  loadState(state: StateRecord): void {
    checkVersion(this.stateName, this.stateVersion, 1);
    const cfg = readBytes(state, this.stateName, 'config', 256);
    this.reset();
    // Only the writable parts come from the snapshot; identity bytes stay ours.
    this.configWrite(PCI_COMMAND, 2, cfg[PCI_COMMAND] | (cfg[PCI_COMMAND + 1] << 8));
    this.configWrite(PCI_BASE_ADDRESS_0, 4, get32(cfg, PCI_BASE_ADDRESS_0));
    this.configWrite(PCI_BASE_ADDRESS_0 + 4, 4, get32(cfg, PCI_BASE_ADDRESS_0 + 4));
    this.config[PCI_INTERRUPT_LINE] = cfg[PCI_INTERRUPT_LINE];
    this.platformFlags = readInt(state, this.stateName, 'platformFlags', 0, 0xff);
    this.unplugged = readInt(state, this.stateName, 'unplugged', 0, 0xffff);
  }
}

/** I/O port 0xE9: HVM Linux's earlyprintk=xen writes its early console here (spec §1). */
export class DebugPortE9 implements PortHandler {
  static readonly PORT = 0xe9;
  constructor(private readonly sink: (bytes: Uint8Array) => void) {}
  read(): number {
    // Bochs/QEMU convention: reading 0xE9 returns 0xE9 so software can detect the port.
    return 0xe9;
  }
  write(_port: number, size: AccessSize, value: number): void {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    this.sink(b);
  }
  register(ports: IoPorts): void {
    ports.register(DebugPortE9.PORT, 1, this, 'xen-debug-e9');
  }
}

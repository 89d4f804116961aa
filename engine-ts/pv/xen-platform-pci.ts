// The Xen platform PCI device (spec §9): vendor 0x5853 device 0x0001. Linux's
// xen-platform-pci driver binds to it to get the grant-table area (BAR1) and an interrupt;
// the fixed I/O ports 0x10-0x1F carry the "unplug emulated devices" protocol, which must
// succeed or blkfront/netfront refuse to load.
//
// Its configuration space and BARs are the common PCI function model (platform/pci-function.ts).

import type { AccessSize, IoPorts, PortHandler } from '../platform/bus';
import { PCI_FUNCTION_FIELDS, PciConfigFunction } from '../platform/pci-function';
import { declareState, u16, u8, type DeclaredState } from '../platform/state';

export const XEN_PLATFORM_VENDOR_ID = 0x5853;
export const XEN_PLATFORM_DEVICE_ID = 0x0001;
/** inw(0x10): the platform is present and our driver version is welcome. */
export const XEN_IOPORT_MAGIC_VAL = 0x49d2;
export const XEN_IOPORT_BASE = 0x10;
export const XEN_IOPORT_COUNT = 0x10;
export const XEN_IOPORT_PROTOVER = 1;

// Unplug mask bits (outw(0x10, mask)).
export const UNPLUG_ALL_IDE_DISKS = 1;
export const UNPLUG_ALL_NICS = 2;
export const UNPLUG_AUX_IDE_DISKS = 4;
export const UNPLUG_NVME_DISKS = 8;

export interface XenPlatformHost {
  /** The guest asked to unplug emulated devices (UNPLUG_* bits). */
  unplug(mask: number): void;
  /** A line the guest driver logged through port 0x12 or BAR0 offset 8. */
  log?(line: string): void;
}

const BAR0_SIZE = 0x100;
/** BAR1: the area Linux places its grant-table frames in (the board backs it with memory). */
export const XEN_PLATFORM_BAR1_SIZE = 16 * 1024 * 1024;
const LOG_LINE_MAX = 256;

/** The platform device: a PCI function (config space, BARs, INTA#) plus its fixed unplug ports. */
export class XenPlatformPci extends PciConfigFunction {
  /** Platform flags byte (bit 0 = ROM lock in QEMU; we only store it). */
  private platformFlags = 0;
  /** Every unplug mask the guest sent, OR-ed (unplug is one-way). */
  private unplugged = 0;
  private logLine: number[] = [];

  constructor(private readonly host: XenPlatformHost) {
    super({
      name: 'xen-platform',
      vendorId: XEN_PLATFORM_VENDOR_ID,
      deviceId: XEN_PLATFORM_DEVICE_ID,
      classCode: 0xff8000, // class 0xFF (other), subclass 0x80
      revision: 1,
      subsystemVendorId: XEN_PLATFORM_VENDOR_ID,
      subsystemId: XEN_PLATFORM_DEVICE_ID,
      interruptPin: 1, // INTA#
      bars: [
        // BAR0: offset 0 = platform flags byte, offset 8 = log bytes.
        {
          index: 0, kind: 'io', size: BAR0_SIZE, handler: {
            read: (offset, size) => (offset === 0 && size === 1 ? this.platformFlags : ones(size)),
            write: (offset, size, value) => {
              if (offset === 0 && size === 1) this.platformFlags = value & 0xff;
              else if (offset === 8 && size === 1) this.logByte(value & 0xff);
            },
          },
        },
        // BAR1: nothing decodes here; the board backs the window with memory the core treats as RAM.
        { index: 1, kind: 'mem32', size: XEN_PLATFORM_BAR1_SIZE, prefetchable: true, handler: { read: (_o, size) => ones(size), write: () => {} } },
      ],
    });
  }

  /** Unplug bits the guest has requested so far. */
  get unplugMask(): number {
    return this.unplugged;
  }

  // ---- fixed I/O ports 0x10-0x1F (unplug protocol) ------------------------------------------

  readonly ioPorts: PortHandler = {
    read: (port, size) => {
      const off = port - XEN_IOPORT_BASE;
      if (off === 0 && size === 2) return XEN_IOPORT_MAGIC_VAL; // no driver is blacklisted
      if (off === 0 && size === 1) return this.platformFlags;
      if (off === 2 && size === 1) return XEN_IOPORT_PROTOVER;
      return ones(size);
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

  protected override get declaredState(): DeclaredState {
    return XEN_PLATFORM_STATE;
  }
}

const XEN_PLATFORM_STATE = declareState('xen-platform-pci', {
  ...PCI_FUNCTION_FIELDS,
  /** Platform flags byte (BAR0 offset 0, port 0x10). */
  platformFlags: u8,
  /** Every unplug mask the guest sent, OR-ed. */
  unplugged: u16,
});

function ones(size: AccessSize): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
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

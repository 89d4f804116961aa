// Intel 82371SB (PIIX3) IDE controller, PCI function 1 of the PIIX3 (8086:7010, class
// 01 01 80: IDE, bus-master capable, both channels in legacy mode).
//
// Legacy decoding: primary 0x1F0-0x1F7 + 0x3F6 on ISA IRQ 14, secondary 0x170-0x177 + 0x376
// on IRQ 15, enabled by PCICMD I/O space enable and the channel's IDETIM decode bit (set at
// power-on here, since no BIOS runs before Linux). BAR4 (BMIBA) is the 16-byte bus-master IDE
// block: BMICx/BMISx/BMIDTPx at +0/+2/+4, secondary channel at +8. There is no INTx pin:
// legacy mode interrupts go straight to IRQ 14/15.
//
// Every access to the legacy ports and to BAR4 counts as a VM exit of its channel
// (`stats`), for the emulated-vs-PV comparison ("I/O exits per MiB").
//
// Disk I/O is asynchronous and ordered by a HostIoQueue shared by both channels; see
// host-io-queue.ts for how completions are pinned to guest time, and `waitingForHost`.

import type { AccessSize, GuestMemory, IoPorts, IrqLine, PortHandler, StateRecord } from '../../platform/bus';
import type { VirtualClock } from '../../platform/clock';
import type { BlockDevice } from '../../disk/block-device';
import { declareState, objects, type DeclaredState } from '../../platform/state';
import { PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_FUNCTION_FIELDS, PciConfigFunction, type PciAttachment } from '../../platform/pci-function';
import type { AtaDriveOptions } from './ata-drive';
import { DEFAULT_HOST_IO_TIMING, HostIoQueue, type HostIoTiming } from '../../platform/host-io-queue';
import { IDE_CHANNEL_STATE, IdeChannel, type IdeChannelStats } from './ide-channel';

export const PIIX_IDE_VENDOR_ID = 0x8086;
export const PIIX_IDE_DEVICE_ID = 0x7010;
/** Mass storage, IDE, prog-if 80h: bus master, both channels fixed in compatibility mode. */
export const PIIX_IDE_CLASS = 0x010180;
/** IDE timing registers (primary, secondary) and the slave timing register. */
export const PIIX_IDETIM = [0x40, 0x42] as const;
export const PIIX_SIDETIM = 0x44;
/** IDETIM bit 15: IDE decode enable (ata_piix checks it in piix_pata_prereset). */
export const IDETIM_IDE = 0x8000;
const BMIBA_BAR = 4;
const BMIBA_SIZE = 16;

/** Legacy resources of each channel: command block, control block (Alternate Status / Device Control). */
export const IDE_LEGACY = [
  { command: 0x1f0, control: 0x3f6, irq: 14 },
  { command: 0x170, control: 0x376, irq: 15 },
] as const;

export interface PiixIdeOptions {
  /** Guest RAM, for bus-master DMA. */
  memory: GuestMemory;
  clock: VirtualClock;
  /** ISA IRQ 14 (primary channel) and 15 (secondary channel). */
  irq14: IrqLine;
  irq15: IrqLine;
  /**
   * BAR4 base as firmware would have assigned it (16-byte aligned I/O address), with I/O
   * decoding and bus mastering turned on. Default: unassigned (0), PCICMD 0; the OS assigns
   * and enables it (Linux does both).
   */
  bmiba?: number;
  /** Guest-time cost of disk I/O (see host-io-queue.ts). */
  timing?: Partial<HostIoTiming>;
  /** A host I/O promise settled: the worker can wake up and let the queue apply it. */
  onHostIoDone?(): void;
  /** Guest-visible failures (disk errors, DMA faults) for the machine log. */
  log?(message: string): void;
}

export class PiixIde extends PciConfigFunction {
  readonly channels: readonly [IdeChannel, IdeChannel];
  private readonly queue: HostIoQueue;

  constructor(options: PiixIdeOptions) {
    // The BAR handler is created before `this` exists; it reaches the channels through `self`.
    const self: { ide: PiixIde | null } = { ide: null };
    super({
      name: 'piix3-ide',
      vendorId: PIIX_IDE_VENDOR_ID,
      deviceId: PIIX_IDE_DEVICE_ID,
      classCode: PIIX_IDE_CLASS,
      revision: 0x00,
      interruptPin: 0,
      bars: [
        {
          index: BMIBA_BAR,
          kind: 'io',
          size: BMIBA_SIZE,
          handler: {
            read: (offset, size) => self.ide!.readBusMaster(offset, size),
            write: (offset, size, value) => self.ide!.writeBusMaster(offset, size, value),
          },
        },
      ],
    });
    self.ide = this;

    const timing: HostIoTiming = { ...DEFAULT_HOST_IO_TIMING, ...options.timing };
    for (const [k, v] of Object.entries(timing))
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`piix3-ide: timing.${k} must be a finite number >= 0`);
    this.queue = new HostIoQueue(options.clock, 'piix3-ide disk I/O', options.onHostIoDone);
    const log = options.log ?? (() => {});
    const irqs = [options.irq14, options.irq15];
    const make = (i: number) =>
      new IdeChannel(i, {
        memory: options.memory,
        irq: irqs[i],
        queue: this.queue,
        timing,
        decodes: () => this.decodes(i),
        busMasterEnabled: () => (this.getU16(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0,
        log,
      });
    this.channels = [make(0), make(1)];

    this.setU16(0x06, 0x0280); // fast back-to-back capable, medium DEVSEL
    for (const off of PIIX_IDETIM) {
      this.setU16(off, IDETIM_IDE); // what the BIOS leaves: both channels decoded
      this.setMask(off, 2, 0xf3ff); // bits 11:10 reserved
    }
    this.wmask[PIIX_SIDETIM] = 0xff;
    if (options.bmiba !== undefined && options.bmiba !== 0) {
      const b = options.bmiba;
      if (!Number.isInteger(b) || b < BMIBA_SIZE || b + BMIBA_SIZE > 0x10000 || b % BMIBA_SIZE !== 0)
        throw new RangeError(`piix3-ide: bmiba 0x${b.toString(16)} is not a 16-byte aligned I/O address`);
      this.setU32(0x10 + 4 * BMIBA_BAR, b | 1);
      this.setU16(PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    }
  }

  /** Plug a disk in as device `device` (0 = master, 1 = slave) of `channel` (0 = primary). */
  attachDisk(channel: number, device: number, disk: BlockDevice, options?: AtaDriveOptions): void {
    if (channel !== 0 && channel !== 1) throw new RangeError(`piix3-ide: channel ${channel} is not 0 or 1`);
    this.channels[channel].attach(device, IdeChannel.makeDrive(channel, device, disk, options));
  }

  /** Unplug every disk (the guest's PV drivers asked for it through xen-platform-pci). */
  detachAllDisks(): void {
    for (const ch of this.channels) ch.detachAll();
  }

  /** Claims the legacy command and control block ports. */
  register(io: IoPorts): void {
    IDE_LEGACY.forEach((legacy, i) => {
      const ch = this.channels[i];
      const command: PortHandler = {
        read: (port, size) => ch.readCommandBlock(port - legacy.command, size),
        write: (port, size, value) => ch.writeCommandBlock(port - legacy.command, size, value),
      };
      const control: PortHandler = {
        read: (_port, size) => ch.readControl(size),
        write: (_port, _size, value) => ch.writeControl(value & 0xff),
      };
      io.register(legacy.command, 8, command, `ide${i}`);
      io.register(legacy.control, 1, control, `ide${i}-control`);
    });
  }

  override attach(at: PciAttachment): void {
    super.attach(at);
    this.updateMappings(); // a BAR4 preset by `bmiba` decodes at once
  }

  /** Legacy ports of channel `i` respond: PCICMD I/O enable and IDETIM decode enable. */
  private decodes(i: number): boolean {
    return (this.getU16(PCI_COMMAND) & PCI_COMMAND_IO) !== 0 && (this.getU16(PIIX_IDETIM[i]) & IDETIM_IDE) !== 0;
  }

  // ---- BAR4: bus-master IDE registers -------------------------------------------------------

  private readBusMaster(offset: number, size: AccessSize): number {
    this.channels[(offset >> 3) & 1].countBusMasterAccess();
    let v = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      v |= (o < BMIBA_SIZE ? this.channels[o >> 3].readBusMaster(o & 7) : 0xff) << (8 * i);
    }
    return v >>> 0;
  }

  private writeBusMaster(offset: number, size: AccessSize, value: number): void {
    this.channels[(offset >> 3) & 1].countBusMasterAccess();
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o < BMIBA_SIZE) this.channels[o >> 3].writeBusMaster(o & 7, (value >>> (8 * i)) & 0xff);
    }
  }

  // ---- host I/O gate (for the run loop) --------------------------------------------------------

  /**
   * Guest time reached a disk completion the host has not delivered yet. The run loop should
   * not advance guest time (run or skip) until `hostReady()` resolves; it must let the host's
   * event loop run meanwhile (no blocking wait).
   */
  get waitingForHost(): boolean {
    return this.queue.waitingForHost;
  }

  hostReady(): Promise<void> {
    return this.queue.hostReady();
  }

  /** Finish every disk operation now (before a snapshot; see HostIoQueue.drainNow). */
  quiesce(): Promise<void> {
    return this.queue.drainNow();
  }

  /** No disk operation is queued: the device can be saved. */
  get ioIdle(): boolean {
    return this.queue.idle;
  }

  /** Per-channel exit and traffic counters. */
  stats(channel: number): Readonly<IdeChannelStats> {
    return this.channels[channel & 1].stats;
  }

  /** VM exits (port accesses) per MiB moved on `channel`, or 0 before any data moved. */
  ioExitsPerMiB(channel: number): number {
    const s = this.stats(channel);
    const mib = (s.bytesRead + s.bytesWritten) / (1024 * 1024);
    return mib > 0 ? s.portAccesses / mib : 0;
  }

  /** Machine reset: both channels and their devices back to power-on state. */
  reset(): void {
    for (const ch of this.channels) ch.reset();
  }

  // ---- state -------------------------------------------------------------------------------------
  // In-flight disk I/O cannot be saved: save once `ioIdle` is true (run the machine until then).

  protected override get declaredState(): DeclaredState {
    return PIIX_IDE_STATE;
  }

  override saveState(): StateRecord {
    if (!this.queue.idle || !this.channels.every((c) => c.saveable)) throw new Error(`${this.stateName}: disk I/O in flight; save when ioIdle is true`);
    return super.saveState();
  }

  override loadState(state: StateRecord, version: number): void {
    if (!this.queue.idle) throw new Error(`${this.stateName}: cannot restore while disk I/O is in flight`);
    super.loadState(state, version);
  }

  protected override afterLoad(): void {
    for (const ch of this.channels) ch.afterLoad();
  }
}

const PIIX_IDE_STATE = declareState('piix-ide', { ...PCI_FUNCTION_FIELDS, channels: objects(IDE_CHANNEL_STATE, 2) });

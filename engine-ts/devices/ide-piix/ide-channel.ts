// One IDE channel of the PIIX3: the command block (0x1F0-0x1F7 / 0x170-0x177), the control
// block (0x3F6 / 0x376), up to two ATA disks, and the channel's bus-master IDE registers.
//
// Protocol notes (ATA/ATAPI-6, ACS-2, SFF-8038i), as libata-sff and ata_piix rely on them:
// - Taskfile writes go to both devices; reads come from the selected one. If device 1 is
//   absent and selected, device 0 answers for it: Status/Alternate Status read 00h (BSY
//   clear, so no probe waits) and the other registers show device 0's values, so the reset
//   signature check finds nsect = lbal = 1 at once. With no device that can answer, the bus
//   floats: 7Fh (the DD7 pull-down keeps BSY clear).
// - INTRQ: pending from the end of a command (or a PIO block) until the Status register is
//   read or a command is written; driven only by the selected device and only while nIEN is
//   clear. Its rising edge sets the bus master's INTR bit (piix_irq_check reads it).
// - PIO: after each data-in block, and before each data-out block except the first, the
//   device raises INTRQ; no interrupt after the last data-in block.
// - Bus-master DMA: data moves when the command has data ready and the engine is started;
//   at the end INTR rises and ACTIVE clears if the PRD table ended exactly there. A PRD table
//   shorter than the transfer stops the engine (ACTIVE = 0) without an interrupt; a PRD entry
//   or region outside RAM sets ERR and aborts the command (ABRT, interrupt).
// Disk I/O runs in chunks of at most CHUNK_SECTORS through the HostIoQueue, so a guest's
// sector count never sizes a buffer beyond 128 KiB.

import type { GuestMemory, IrqLine, StateRecord } from '../../platform/bus';
import { SECTOR_SIZE } from '../../disk/block-device';
import { StateError, bool, bytes, count, fields, int, oneOf, optional, u8, type Codec } from '../../platform/state';
import * as A from './ata-defs';
import { ATA_DRIVE_STATE, AtaDrive, type AtaDriveOptions } from './ata-drive';
import { ioCostNs, type HostIoQueue, type HostIoTiming } from '../../platform/host-io-queue';
import { PRD_WALKER_STATE, PrdWalker } from './prd-walker';
import { MULTIPLE_MAX } from './ata-identify';

/** Largest disk I/O the device issues at once (sectors). A multiple of every multiple-mode block size. */
export const CHUNK_SECTORS = 256;

const READY = A.ATA_DRDY | A.ATA_DSC;
const BUSY = A.ATA_BSY | A.ATA_DRDY | A.ATA_DSC;
const DATA = A.ATA_DRDY | A.ATA_DSC | A.ATA_DRQ;
/** What a channel with nobody to answer reads as. */
const FLOATING = 0x7f;

type TransferKind = 'pio-in' | 'pio-out' | 'dma-in' | 'dma-out' | 'nodata';

/** The command in progress on the channel. */
interface Transfer {
  kind: TransferKind;
  /** Which device runs it. */
  slot: number;
  /** Report errors in the 48-bit registers. */
  lba48: boolean;
  /** Reads: next sector to fetch from the disk. */
  next: number;
  /** Reads: sectors not yet fetched. Writes: sectors not yet committed to the disk. */
  remaining: number;
  /** PIO: sectors per DRQ block. */
  blockSectors: number;
  /** The current chunk and the disk sector of its first byte. */
  buf: Uint8Array;
  bufLba: number;
  /** Reads: valid bytes in buf. */
  bufLen: number;
  /** Bytes of buf already handed to the guest (reads) or received from it (writes). */
  pos: number;
  /** PIO: end of the current DRQ block within buf. */
  blockEnd: number;
  /** DMA: the device is ready to move data (reads: buf holds data; writes: it wants data). */
  dmaReady: boolean;
}

export interface IdeChannelStats {
  /** Guest accesses to this channel's command block, control block and bus-master registers (VM exits). */
  portAccesses: number;
  /** Commands accepted (written to the Command register of a present device). */
  commands: number;
  /** Data bytes moved from the disk to the guest (PIO or DMA) and from the guest to the disk. */
  bytesRead: number;
  bytesWritten: number;
  /** Rising edges of the channel's interrupt line. */
  interrupts: number;
}

export interface IdeChannelContext {
  memory: GuestMemory;
  irq: IrqLine;
  queue: HostIoQueue;
  timing: HostIoTiming;
  /** The controller decodes this channel's legacy ports (PCI I/O enable and IDETIM decode enable). */
  decodes(): boolean;
  /** PCI bus mastering is enabled. */
  busMasterEnabled(): boolean;
  /** A guest-visible failure worth a log line (host I/O error, DMA fault). */
  log(message: string): void;
}

const EMPTY = new Uint8Array(0);

export class IdeChannel {
  readonly drives: (AtaDrive | null)[] = [null, null];
  readonly stats: IdeChannelStats = { portAccesses: 0, commands: 0, bytesRead: 0, bytesWritten: 0, interrupts: 0 };
  private selected = 0;
  /** Last value written to the Device Control register (nIEN, SRST, HOB). */
  private control = 0;
  private irqLevel = false;
  private bmCommand = 0;
  private bmStatus = 0;
  private bmPrdt = 0;
  private readonly walker = new PrdWalker();
  private xfer: Transfer | null = null;
  /** Bumped by every reset, so late completions of an abandoned command are dropped. */
  private generation = 0;

  constructor(
    readonly index: number,
    private readonly ctx: IdeChannelContext,
  ) {}

  private get name(): string {
    return `ide${this.index}`;
  }

  /** Remove every drive (Xen's unplug protocol: the PV driver takes over the disks). */
  detachAll(): void {
    this.drives[0] = null;
    this.drives[1] = null;
  }

  attach(slot: number, drive: AtaDrive): void {
    if (slot !== 0 && slot !== 1) throw new RangeError(`${this.name}: device ${slot} is not 0 or 1`);
    if (this.drives[slot]) throw new Error(`${this.name}: device ${slot} already has a disk`);
    this.drives[slot] = drive;
    // Firmware marks the drives it found DMA capable (BMISx bits 5-6).
    this.bmStatus |= 0x20 << slot;
  }

  static makeDrive(channel: number, slot: number, disk: AtaDrive['disk'], options?: AtaDriveOptions): AtaDrive {
    return new AtaDrive(disk, slot === 1, `PVLAB-VHD-${channel}${slot}`, options);
  }

  // ---- register access -------------------------------------------------------------------

  /** Command block read; `reg` is 0..7. */
  readCommandBlock(reg: number, size: number): number {
    this.stats.portAccesses++;
    if (reg === A.ATA_REG_DATA) {
      if (size === 1) return 0xff;
      if (size === 2) return this.readData16();
      const lo = this.readData16();
      return (lo | (this.readData16() << 16)) >>> 0;
    }
    let v = 0;
    for (let i = 0; i < size; i++) v |= (reg + i < 8 ? this.readRegister(reg + i) : 0xff) << (8 * i);
    return v >>> 0;
  }

  writeCommandBlock(reg: number, size: number, value: number): void {
    this.stats.portAccesses++;
    if (reg === A.ATA_REG_DATA) {
      if (size === 2) this.writeData16(value & 0xffff);
      else if (size === 4) {
        this.writeData16(value & 0xffff);
        this.writeData16((value >>> 16) & 0xffff);
      }
      return; // byte writes to the data register move nothing
    }
    for (let i = 0; i < size && reg + i < 8; i++) this.writeRegister(reg + i, (value >>> (8 * i)) & 0xff);
  }

  /** Alternate Status (control block read): Status without clearing the interrupt. */
  readControl(size: number): number {
    this.stats.portAccesses++;
    const ones = size === 1 ? 0 : size === 2 ? 0xff00 : 0xffffff00;
    if (!this.ctx.decodes()) return (0xff | ones) >>> 0;
    const r = this.responder();
    return ((r === null ? FLOATING : r.standIn ? 0 : r.drive.status) | ones) >>> 0;
  }

  writeControl(value: number): void {
    this.stats.portAccesses++;
    if (!this.ctx.decodes()) return;
    const wasReset = (this.control & A.ATA_SRST) !== 0;
    this.control = value & (A.ATA_NIEN | A.ATA_SRST | A.ATA_HOB);
    const reset = (value & A.ATA_SRST) !== 0;
    if (reset && !wasReset) this.beginSoftReset();
    else if (!reset && wasReset) this.endSoftReset();
    this.updateIrq();
  }

  /** The selected device if present; device 0 standing in for an absent device 1; or nobody. */
  private responder(): { drive: AtaDrive; standIn: boolean } | null {
    const sel = this.drives[this.selected];
    if (sel) return { drive: sel, standIn: false };
    const d0 = this.drives[0];
    if (this.selected === 1 && d0) return { drive: d0, standIn: true };
    return null;
  }

  private readRegister(reg: number): number {
    if (!this.ctx.decodes()) return 0xff;
    const r = this.responder();
    if (!r) return FLOATING;
    const d = r.drive;
    const hob = (this.control & A.ATA_HOB) !== 0;
    switch (reg) {
      case A.ATA_REG_ERROR:
        return hob ? d.hobFeature : d.error;
      case A.ATA_REG_NSECT:
        return hob ? d.hobNsect : d.nsect;
      case A.ATA_REG_LBAL:
        return hob ? d.hobLbal : d.lbal;
      case A.ATA_REG_LBAM:
        return hob ? d.hobLbam : d.lbam;
      case A.ATA_REG_LBAH:
        return hob ? d.hobLbah : d.lbah;
      case A.ATA_REG_DEVICE:
        return d.device | A.ATA_DEVICE_OBS;
      default: {
        if (r.standIn) return 0;
        // Reading Status acknowledges the device's interrupt.
        const status = d.status;
        if (d.intrq) {
          d.intrq = false;
          this.updateIrq();
        }
        return status;
      }
    }
  }

  private writeRegister(reg: number, v: number): void {
    if (!this.ctx.decodes()) return;
    // Any command block write clears HOB (ATA/ATAPI-6 7.9).
    this.control &= ~A.ATA_HOB;
    const sel = this.drives[this.selected];
    if (reg === A.ATA_REG_STATUS) {
      this.command(v);
      return;
    }
    // A busy device ignores the taskfile (and cannot be deselected).
    if (sel && sel.status & A.ATA_BSY) return;
    for (const d of this.drives) {
      if (!d) continue;
      switch (reg) {
        case A.ATA_REG_ERROR:
          d.hobFeature = d.feature;
          d.feature = v;
          break;
        case A.ATA_REG_NSECT:
          d.hobNsect = d.nsect;
          d.nsect = v;
          break;
        case A.ATA_REG_LBAL:
          d.hobLbal = d.lbal;
          d.lbal = v;
          break;
        case A.ATA_REG_LBAM:
          d.hobLbam = d.lbam;
          d.lbam = v;
          break;
        case A.ATA_REG_LBAH:
          d.hobLbah = d.lbah;
          d.lbah = v;
          break;
        case A.ATA_REG_DEVICE:
          d.device = v & ~A.ATA_DEVICE_OBS;
          break;
      }
    }
    if (reg === A.ATA_REG_DEVICE) {
      this.selected = (v & A.ATA_DEV1) !== 0 ? 1 : 0;
      this.updateIrq();
    }
  }

  // ---- PIO data port --------------------------------------------------------------------------

  private pioTransfer(kind: 'pio-in' | 'pio-out'): { x: Transfer; d: AtaDrive } | null {
    const x = this.xfer;
    if (!x || x.kind !== kind || x.slot !== this.selected || !this.ctx.decodes()) return null;
    const d = this.drives[x.slot];
    if (!d || !(d.status & A.ATA_DRQ)) return null;
    return { x, d };
  }

  private readData16(): number {
    const t = this.pioTransfer('pio-in');
    if (!t) return 0xffff;
    const { x, d } = t;
    const v = x.buf[x.pos] | (x.buf[x.pos + 1] << 8);
    x.pos += 2;
    this.stats.bytesRead += 2;
    if (x.pos >= x.blockEnd) this.pioInBlockDone(x, d);
    return v;
  }

  private writeData16(v: number): void {
    const t = this.pioTransfer('pio-out');
    if (!t) return;
    const { x, d } = t;
    x.buf[x.pos] = v & 0xff;
    x.buf[x.pos + 1] = v >> 8;
    x.pos += 2;
    this.stats.bytesWritten += 2;
    if (x.pos >= x.blockEnd) this.pioOutBlockDone(x, d);
  }

  // ---- commands -------------------------------------------------------------------------------

  private command(cmd: number): void {
    const d = this.drives[this.selected];
    if (!d) return; // device 0 does not execute commands for an absent device 1
    if (d.status & (A.ATA_BSY | A.ATA_DRQ)) return; // ignored while busy or transferring
    if (this.control & A.ATA_SRST) return;
    d.intrq = false;
    this.updateIrq();
    this.stats.commands++;
    d.error = 0;
    switch (cmd) {
      case A.ATA_CMD_IDENTIFY_DEVICE: {
        const other = this.drives[this.selected ^ 1] !== null;
        this.startPioBuffer(d, d.identify(other));
        return;
      }
      case A.ATA_CMD_READ_SECTORS:
      case A.ATA_CMD_READ_SECTORS_NORETRY:
        return this.readWrite(d, { lba48: false, write: false, dma: false, multiple: false });
      case A.ATA_CMD_READ_SECTORS_EXT:
        return this.readWrite(d, { lba48: true, write: false, dma: false, multiple: false });
      case A.ATA_CMD_READ_MULTIPLE:
        return this.readWrite(d, { lba48: false, write: false, dma: false, multiple: true });
      case A.ATA_CMD_READ_MULTIPLE_EXT:
        return this.readWrite(d, { lba48: true, write: false, dma: false, multiple: true });
      case A.ATA_CMD_READ_DMA:
      case A.ATA_CMD_READ_DMA_NORETRY:
        return this.readWrite(d, { lba48: false, write: false, dma: true, multiple: false });
      case A.ATA_CMD_READ_DMA_EXT:
        return this.readWrite(d, { lba48: true, write: false, dma: true, multiple: false });
      case A.ATA_CMD_WRITE_SECTORS:
      case A.ATA_CMD_WRITE_SECTORS_NORETRY:
        return this.readWrite(d, { lba48: false, write: true, dma: false, multiple: false });
      case A.ATA_CMD_WRITE_SECTORS_EXT:
        return this.readWrite(d, { lba48: true, write: true, dma: false, multiple: false });
      case A.ATA_CMD_WRITE_MULTIPLE:
        return this.readWrite(d, { lba48: false, write: true, dma: false, multiple: true });
      case A.ATA_CMD_WRITE_MULTIPLE_EXT:
        return this.readWrite(d, { lba48: true, write: true, dma: false, multiple: true });
      case A.ATA_CMD_WRITE_DMA:
      case A.ATA_CMD_WRITE_DMA_NORETRY:
        return this.readWrite(d, { lba48: false, write: true, dma: true, multiple: false });
      case A.ATA_CMD_WRITE_DMA_EXT:
        return this.readWrite(d, { lba48: true, write: true, dma: true, multiple: false });
      case A.ATA_CMD_READ_VERIFY:
      case A.ATA_CMD_READ_VERIFY_NORETRY:
      case A.ATA_CMD_READ_VERIFY_EXT: {
        const lba48 = cmd === A.ATA_CMD_READ_VERIFY_EXT;
        const range = this.addressRange(d, lba48);
        if (range) this.complete(d);
        return;
      }
      case A.ATA_CMD_SET_MULTIPLE_MODE: {
        const n = d.nsect;
        if (n > MULTIPLE_MAX || (n & (n - 1)) !== 0) return this.abort(d);
        d.multiple = n; // 0 turns multiple mode off
        return this.complete(d);
      }
      case A.ATA_CMD_SET_FEATURES:
        return this.setFeatures(d);
      case A.ATA_CMD_INITIALIZE_DEVICE_PARAMETERS: {
        if (d.nsect === 0) return this.abort(d);
        d.sectorsPerTrack = d.nsect;
        d.heads = (d.device & 0x0f) + 1;
        return this.complete(d);
      }
      case A.ATA_CMD_READ_NATIVE_MAX:
        d.setLba(Math.min(d.totalSectors, 2 ** 28) - 1, false);
        return this.complete(d);
      case A.ATA_CMD_READ_NATIVE_MAX_EXT:
        d.setLba(d.totalSectors - 1, true);
        return this.complete(d);
      case A.ATA_CMD_CHECK_POWER_MODE:
        d.nsect = A.ATA_POWER_ACTIVE_IDLE;
        return this.complete(d);
      case A.ATA_CMD_IDLE_IMMEDIATE:
      case A.ATA_CMD_IDLE:
      case A.ATA_CMD_STANDBY_IMMEDIATE:
      case A.ATA_CMD_STANDBY:
        // No spindle: the device is always ready, so power states change nothing visible.
        return this.complete(d);
      case A.ATA_CMD_FLUSH_CACHE:
      case A.ATA_CMD_FLUSH_CACHE_EXT:
        return this.flush(d);
      case A.ATA_CMD_EXECUTE_DEVICE_DIAGNOSTIC: {
        for (const dev of this.drives) dev?.setSignature();
        const reporter = this.drives[0] ?? d;
        reporter.intrq = true;
        this.updateIrq();
        return;
      }
      default:
        // Unknown and unsupported commands, ATAPI PACKET / IDENTIFY PACKET DEVICE, DEVICE RESET.
        return this.abort(d);
    }
  }

  private setFeatures(d: AtaDrive): void {
    switch (d.feature) {
      case A.SETFEATURES_XFER: {
        const mode = d.nsect;
        if (mode === A.XFER_PIO_DEFAULT || mode === A.XFER_PIO_DEFAULT_NO_IORDY || (mode >= A.XFER_PIO_0 && mode <= A.XFER_PIO_4)) {
          // PIO timing changes nothing here; the DMA selection stays.
        } else if (mode >= A.XFER_MW_DMA_0 && mode <= A.XFER_MW_DMA_2) {
          d.dma = { kind: 'mwdma', mode: mode - A.XFER_MW_DMA_0 };
        } else if (mode >= A.XFER_UDMA_0 && mode <= A.XFER_UDMA_5) {
          d.dma = { kind: 'udma', mode: mode - A.XFER_UDMA_0 };
        } else {
          return this.abort(d);
        }
        return this.complete(d);
      }
      case A.SETFEATURES_WC_ON:
        d.writeCache = true;
        return this.complete(d);
      case A.SETFEATURES_WC_OFF:
        d.writeCache = false;
        return this.complete(d);
      case A.SETFEATURES_RA_ON:
        d.readAhead = true;
        return this.complete(d);
      case A.SETFEATURES_RA_OFF:
        d.readAhead = false;
        return this.complete(d);
      case A.SETFEATURES_DEFAULTS_ON:
      case A.SETFEATURES_DEFAULTS_OFF:
        return this.complete(d);
      default:
        return this.abort(d);
    }
  }

  /** The command's first sector and count from the taskfile, checked against the disk; null after aborting. */
  private addressRange(d: AtaDrive, lba48: boolean): { lba: number; count: number } | null {
    let lba: number;
    let count: number;
    if (lba48) {
      lba = d.lbal + d.lbam * 0x100 + d.lbah * 0x10000 + d.hobLbal * 2 ** 24 + d.hobLbam * 2 ** 32 + d.hobLbah * 2 ** 40;
      count = d.nsect + d.hobNsect * 256 || 65536;
    } else if (d.device & A.ATA_LBA) {
      lba = d.lbal + d.lbam * 0x100 + d.lbah * 0x10000 + (d.device & 0x0f) * 2 ** 24;
      count = d.nsect || 256;
    } else {
      const g = d.current;
      const cylinder = d.lbam | (d.lbah << 8);
      const head = d.device & 0x0f;
      const sector = d.lbal;
      count = d.nsect || 256;
      if (sector < 1 || sector > g.sectorsPerTrack || head >= g.heads || cylinder >= g.cylinders) {
        this.fail(d, A.ATA_IDNF);
        return null;
      }
      lba = (cylinder * g.heads + head) * g.sectorsPerTrack + sector - 1;
    }
    if (lba + count > d.totalSectors) {
      this.fail(d, A.ATA_IDNF, Math.min(lba, d.totalSectors), lba48);
      return null;
    }
    return { lba, count };
  }

  private readWrite(d: AtaDrive, op: { lba48: boolean; write: boolean; dma: boolean; multiple: boolean }): void {
    if (op.multiple && d.multiple === 0) return this.abort(d);
    if (op.write && d.disk.readOnly) return this.abort(d);
    const range = this.addressRange(d, op.lba48);
    if (!range) return;
    const x: Transfer = {
      kind: op.write ? (op.dma ? 'dma-out' : 'pio-out') : op.dma ? 'dma-in' : 'pio-in',
      slot: this.selected,
      lba48: op.lba48,
      next: range.lba,
      remaining: range.count,
      blockSectors: op.multiple ? d.multiple : 1,
      buf: EMPTY,
      bufLba: range.lba,
      bufLen: 0,
      pos: 0,
      blockEnd: 0,
      dmaReady: false,
    };
    this.xfer = x;
    if (!op.write) {
      d.status = BUSY;
      this.fetch(x, d);
      return;
    }
    x.buf = new Uint8Array(Math.min(x.remaining, CHUNK_SECTORS) * SECTOR_SIZE);
    if (op.dma) {
      d.status = BUSY;
      x.dmaReady = true;
      this.runDma();
    } else {
      // The first data-out block is requested without an interrupt.
      x.blockEnd = Math.min(x.blockSectors * SECTOR_SIZE, x.buf.length);
      d.status = DATA;
    }
  }

  /** PIO data-in from a buffer the device already has (IDENTIFY). */
  private startPioBuffer(d: AtaDrive, data: Uint8Array): void {
    const x: Transfer = {
      kind: 'pio-in', slot: this.selected, lba48: false, next: 0, remaining: 0, blockSectors: data.length / SECTOR_SIZE,
      buf: data, bufLba: 0, bufLen: data.length, pos: 0, blockEnd: 0, dmaReady: false,
    };
    this.xfer = x;
    this.beginPioInBlock(x, d);
  }

  private delay(sectors: number): number {
    return ioCostNs(this.ctx.timing, sectors);
  }

  /** Read the next chunk of a read command from the disk. */
  private fetch(x: Transfer, d: AtaDrive): void {
    const n = Math.min(x.remaining, CHUNK_SECTORS);
    const lba = x.next;
    const buf = new Uint8Array(n * SECTOR_SIZE);
    x.next += n;
    x.remaining -= n;
    const gen = this.generation;
    this.ctx.queue.submit(this.delay(n), () => d.disk.read(lba, buf), (error) => {
      if (gen !== this.generation || this.xfer !== x) return;
      if (error !== null) {
        this.ctx.log(`${this.name}: read of ${n} sectors at ${lba} failed: ${error}`);
        return this.fail(d, A.ATA_UNC, lba, x.lba48);
      }
      x.buf = buf;
      x.bufLba = lba;
      x.bufLen = buf.length;
      x.pos = 0;
      if (x.kind === 'pio-in') this.beginPioInBlock(x, d);
      else {
        x.dmaReady = true;
        this.runDma();
      }
    });
  }

  /** Write the current chunk of a write command to the disk. */
  private commit(x: Transfer, d: AtaDrive): void {
    const buf = x.buf;
    const lba = x.bufLba;
    const n = buf.length / SECTOR_SIZE;
    const gen = this.generation;
    d.status = BUSY;
    const writeThrough = !d.writeCache;
    this.ctx.queue.submit(
      this.delay(n),
      async () => {
        await d.disk.write(lba, buf);
        if (writeThrough) await d.disk.flush();
      },
      (error) => {
        if (gen !== this.generation || this.xfer !== x) return;
        if (error !== null) {
          this.ctx.log(`${this.name}: write of ${n} sectors at ${lba} failed: ${error}`);
          return this.fail(d, A.ATA_ABRT, lba, x.lba48);
        }
        x.remaining -= n;
        if (x.remaining === 0) return this.finishTransfer(x, d);
        x.bufLba = lba + n;
        x.buf = new Uint8Array(Math.min(x.remaining, CHUNK_SECTORS) * SECTOR_SIZE);
        x.pos = 0;
        if (x.kind === 'pio-out') {
          x.blockEnd = Math.min(x.blockSectors * SECTOR_SIZE, x.buf.length);
          d.status = DATA;
          this.raise(d);
        } else {
          x.dmaReady = true;
          this.runDma();
        }
      },
    );
  }

  private flush(d: AtaDrive): void {
    const x: Transfer = {
      kind: 'nodata', slot: this.selected, lba48: false, next: 0, remaining: 0, blockSectors: 1,
      buf: EMPTY, bufLba: 0, bufLen: 0, pos: 0, blockEnd: 0, dmaReady: false,
    };
    this.xfer = x;
    d.status = BUSY;
    const gen = this.generation;
    this.ctx.queue.submit(this.delay(0), () => d.disk.flush(), (error) => {
      if (gen !== this.generation || this.xfer !== x) return;
      if (error !== null) {
        this.ctx.log(`${this.name}: flush failed: ${error}`);
        return this.fail(d, A.ATA_ABRT);
      }
      this.finishTransfer(x, d);
    });
  }

  private beginPioInBlock(x: Transfer, d: AtaDrive): void {
    x.blockEnd = Math.min(x.pos + x.blockSectors * SECTOR_SIZE, x.bufLen);
    d.status = DATA;
    this.raise(d);
  }

  private pioInBlockDone(x: Transfer, d: AtaDrive): void {
    if (x.pos < x.bufLen) return this.beginPioInBlock(x, d);
    if (x.remaining > 0) {
      d.status = BUSY;
      return this.fetch(x, d);
    }
    // The last data-in block: DRQ drops, no interrupt.
    this.xfer = null;
    d.status = READY;
  }

  private pioOutBlockDone(x: Transfer, d: AtaDrive): void {
    if (x.pos < x.buf.length) {
      // More room in this chunk: take the next block at once (the write is cached).
      x.blockEnd = Math.min(x.pos + x.blockSectors * SECTOR_SIZE, x.buf.length);
      d.status = DATA;
      this.raise(d);
      return;
    }
    this.commit(x, d);
  }

  // ---- completion -------------------------------------------------------------------------------

  private raise(d: AtaDrive): void {
    d.intrq = true;
    this.updateIrq();
  }

  /** Successful end of a command without data. */
  private complete(d: AtaDrive): void {
    this.xfer = null;
    d.status = READY;
    this.raise(d);
  }

  /** Successful end of a data command (the last disk write or DMA chunk finished). */
  private finishTransfer(x: Transfer, d: AtaDrive): void {
    if ((x.kind === 'dma-in' || x.kind === 'dma-out') && this.walker.exhausted) this.bmStatus &= ~A.BM_STATUS_ACTIVE;
    this.complete(d);
  }

  private abort(d: AtaDrive): void {
    this.fail(d, A.ATA_ABRT);
  }

  /** End the command with ERR; `lba` (if given) goes to the LBA registers. */
  private fail(d: AtaDrive, error: number, lba?: number, lba48 = false): void {
    this.xfer = null;
    if (lba !== undefined) d.setLba(lba, lba48);
    d.error = error;
    d.status = READY | A.ATA_ERR;
    this.raise(d);
  }

  private updateIrq(): void {
    const sel = this.drives[this.selected];
    const level = sel !== null && sel.intrq && !(this.control & A.ATA_NIEN);
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    if (level) {
      this.bmStatus |= A.BM_STATUS_INTR;
      this.stats.interrupts++;
    }
    this.ctx.irq.set(level);
  }

  // ---- reset ------------------------------------------------------------------------------------

  private beginSoftReset(): void {
    this.generation++;
    this.xfer = null;
    for (const d of this.drives) {
      if (!d) continue;
      d.status = A.ATA_BSY;
      d.intrq = false;
    }
  }

  private endSoftReset(): void {
    for (const d of this.drives) d?.setSignature();
    this.selected = 0; // SRST selects device 0
  }

  /** Hardware reset (power-on / machine reset): devices, channel and bus master to defaults. */
  reset(): void {
    this.generation++;
    this.xfer = null;
    this.control = 0;
    this.selected = 0;
    this.bmCommand = 0;
    this.bmStatus = (this.drives[0] ? 0x20 : 0) | (this.drives[1] ? 0x40 : 0);
    this.bmPrdt = 0;
    this.walker.restart(0);
    for (const d of this.drives) d?.powerOn();
    this.updateIrq();
  }

  // ---- bus-master IDE -----------------------------------------------------------------------------

  /** A byte of this channel's BMIDE registers (offset 0..7). */
  readBusMaster(offset: number): number {
    switch (offset) {
      case A.BM_REG_COMMAND:
        return this.bmCommand;
      case A.BM_REG_STATUS:
        return this.bmStatus;
      case 4:
      case 5:
      case 6:
      case 7:
        return (this.bmPrdt >>> (8 * (offset - 4))) & 0xff;
      default:
        return 0;
    }
  }

  writeBusMaster(offset: number, v: number): void {
    switch (offset) {
      case A.BM_REG_COMMAND: {
        const was = this.bmCommand & A.BM_CMD_START;
        this.bmCommand = v & (A.BM_CMD_START | A.BM_CMD_WRITE_MEMORY);
        if (v & A.BM_CMD_START && !was) {
          this.bmStatus |= A.BM_STATUS_ACTIVE;
          this.walker.restart(this.bmPrdt);
          this.runDma();
        } else if (!(v & A.BM_CMD_START) && was) {
          // Stopping the engine abandons whatever it had not moved yet.
          this.bmStatus &= ~A.BM_STATUS_ACTIVE;
        }
        return;
      }
      case A.BM_REG_STATUS:
        this.bmStatus &= ~(v & (A.BM_STATUS_ERROR | A.BM_STATUS_INTR));
        this.bmStatus = (this.bmStatus & ~A.BM_STATUS_DRIVE_DMA) | (v & A.BM_STATUS_DRIVE_DMA);
        return;
      case 4:
      case 5:
      case 6:
      case 7: {
        const shift = 8 * (offset - 4);
        const mask = (0xff << shift) >>> 0;
        this.bmPrdt = ((this.bmPrdt & ~mask) | ((v << shift) & mask)) >>> 0;
        this.bmPrdt = (this.bmPrdt & ~3) >>> 0; // dword aligned: bits 1:0 read as 0
        return;
      }
      default:
        return;
    }
  }

  countBusMasterAccess(): void {
    this.stats.portAccesses++;
  }

  /** Move data if a DMA command is ready and the engine is running. */
  private runDma(): void {
    const x = this.xfer;
    if (!x || !x.dmaReady || !(this.bmStatus & A.BM_STATUS_ACTIVE)) return;
    if (x.kind !== 'dma-in' && x.kind !== 'dma-out') return;
    const d = this.drives[x.slot]!;
    const toMemory = x.kind === 'dma-in';
    if (((this.bmCommand & A.BM_CMD_WRITE_MEMORY) !== 0) !== toMemory)
      return this.dmaFault(d, 'bus master direction (BMICx bit 3) does not match the command');
    if (!this.ctx.busMasterEnabled()) return this.dmaFault(d, 'PCI bus mastering is disabled');
    const end = toMemory ? x.bufLen : x.buf.length;
    const { outcome, moved } = this.walker.transfer(this.ctx.memory, x.buf, x.pos, end - x.pos, toMemory);
    x.pos += moved;
    if (toMemory) this.stats.bytesRead += moved;
    else this.stats.bytesWritten += moved;
    if (outcome === 'fault') return this.dmaFault(d, this.walker.fault);
    if (outcome === 'short') {
      // The PRD table ended before the device's data did: the engine stops, no interrupt
      // (SFF-8038i: INTR = 0, ACTIVE = 0); the device keeps waiting until the host resets it.
      this.bmStatus &= ~A.BM_STATUS_ACTIVE;
      return;
    }
    x.dmaReady = false;
    if (!toMemory) return this.commit(x, d);
    if (x.remaining > 0) return this.fetch(x, d);
    this.finishTransfer(x, d);
  }

  private dmaFault(d: AtaDrive, why: string): void {
    this.ctx.log(`${this.name}: DMA stopped: ${why}`);
    this.bmStatus = (this.bmStatus | A.BM_STATUS_ERROR) & ~A.BM_STATUS_ACTIVE;
    this.fail(d, A.ATA_ABRT);
  }

  // ---- state ------------------------------------------------------------------------------------

  /** A command waiting for the disk cannot be saved: quiesce first (run until the host I/O is done). */
  get saveable(): boolean {
    return this.xfer?.kind !== 'nodata';
  }

  /** After IDE_CHANNEL_STATE loaded: keep register bits in range, forget old completions, drive the IRQ line. */
  afterLoad(): void {
    this.walker.fault = '';
    this.control &= A.ATA_NIEN | A.ATA_SRST | A.ATA_HOB;
    this.bmCommand &= A.BM_CMD_START | A.BM_CMD_WRITE_MEMORY;
    this.bmStatus &= ~A.BM_STATUS_SIMPLEX;
    this.bmPrdt = (this.bmPrdt & ~3) >>> 0;
    this.generation++;
    const sel = this.drives[this.selected];
    this.irqLevel = sel !== null && sel.intrq && !(this.control & A.ATA_NIEN);
    this.ctx.irq.set(this.irqLevel);
  }
}

/** The two device slots: each the drive's state, or absent; they must match the disks attached now. */
const DRIVES: Codec<(AtaDrive | null)[]> = {
  describe: 'master and slave drives',
  save: (drives) => drives.map((d) => (d ? ATA_DRIVE_STATE.save(d as unknown as Record<string, unknown>) : { absent: true })) as StateRecord[],
  load: () => { throw new Error('IDE drives load in place'); },
  loadInto: (drives, v, path) => {
    if (!Array.isArray(v) || v.length !== 2) throw new StateError(path, 'must list the master and slave slots');
    const commits = v.map((rec, i) => {
      const absent = typeof rec === 'object' && rec !== null && (rec as StateRecord).absent === true;
      const d = drives[i];
      if (absent !== (d === null)) throw new StateError(`${path}[${i}]`, `was ${absent ? 'absent' : 'a disk'} when saved, but ${absent ? 'a disk is attached' : 'no disk is attached'} now`);
      return d ? ATA_DRIVE_STATE.loadInto!(d as unknown as Record<string, unknown>, rec, `${path}[${i}]`) : () => {};
    });
    return () => commits.forEach((c) => c());
  },
};

/** A transfer in progress (a command waiting for the disk is never saved: see IdeChannel.saveable). */
const TRANSFER = fields({
  kind: oneOf(['pio-in', 'pio-out', 'dma-in', 'dma-out'] as const), slot: int(0, 1), lba48: bool, next: count,
  remaining: int(0, 65536), blockSectors: int(1, MULTIPLE_MAX), buf: bytes({ max: CHUNK_SECTORS * SECTOR_SIZE }),
  bufLba: count, bufLen: count, pos: count, blockEnd: count, dmaReady: bool,
}, 'ide transfer', (x) => {
  const len = (x.buf as Uint8Array).length;
  if (len % SECTOR_SIZE !== 0) return 'transfer buffer is not whole sectors';
  if ((x.bufLen as number) > len || (x.pos as number) > len || (x.blockEnd as number) > len) return 'transfer position is outside its buffer';
  return (x.pos as number) % 2 || (x.blockEnd as number) % 2 ? 'transfer position is not word aligned' : null;
});

export const IDE_CHANNEL_STATE = fields({
  selected: int(0, 1), control: u8, bmCommand: u8, bmStatus: u8, bmPrdt: int(0, 0xfffffffc),
  walker: PRD_WALKER_STATE,
  drives: DRIVES,
  xfer: optional(TRANSFER),
}, 'ide channel', (v, ch) => {
  const x = v.xfer as Transfer | null;
  if (!x) return null;
  const drive = (ch.drives as (AtaDrive | null)[])[x.slot];
  if (!drive) return `transfer on absent device ${x.slot}`;
  const total = drive.totalSectors;
  if (x.next > total || x.bufLba > total || x.bufLba + x.buf.length / SECTOR_SIZE > total) return 'transfer runs past the end of the disk';
  return null;
});

// One ATA disk on a channel: its register copy, its settings, and the BlockDevice behind it.
// The channel (ide-channel.ts) runs the protocol; this holds the device's own state.

import type { StateRecord } from '../../platform/bus';
import { SECTOR_SIZE, type BlockDevice } from '../../disk/block-device';
import { readBool, readInt, readString } from '../../platform/state-fields';
import { ATA_DIAG_PASS, ATA_DRDY, ATA_DSC } from './ata-defs';
import {
  LBA48_MAX_SECTORS, MULTIPLE_MAX, buildIdentify, checkAtaString, currentGeometry, defaultGeometry,
  type ChsGeometry, type DmaModeSelection,
} from './ata-identify';

export interface AtaDriveOptions {
  /** IDENTIFY model string, at most 40 characters. Default "PVLAB VHD DISK". */
  model?: string;
  /** IDENTIFY serial number, at most 20 characters. */
  serial?: string;
  /** IDENTIFY firmware revision, at most 8 characters. */
  firmware?: string;
}

export const DEFAULT_MODEL = 'PVLAB VHD DISK';
export const DEFAULT_FIRMWARE = '1.0';

export class AtaDrive {
  readonly totalSectors: number;
  readonly model: string;
  readonly serial: string;
  readonly firmware: string;
  readonly geometry: ChsGeometry;

  // Command block registers. Each taskfile register is a two-deep FIFO for 48-bit commands:
  // a write pushes the current value into the "previous" (HOB) slot.
  feature = 0;
  hobFeature = 0;
  nsect = 0;
  hobNsect = 0;
  lbal = 0;
  hobLbal = 0;
  lbam = 0;
  hobLbam = 0;
  lbah = 0;
  hobLbah = 0;
  device = 0;
  status = 0;
  error = 0;
  /** The device's interrupt is pending (INTRQ asserted unless nIEN or not selected). */
  intrq = false;

  // Settings (kept across soft reset).
  multiple = MULTIPLE_MAX;
  writeCache = true;
  readAhead = true;
  dma: DmaModeSelection = { kind: 'none' };
  heads: number;
  sectorsPerTrack: number;

  constructor(
    readonly disk: BlockDevice,
    readonly isDevice1: boolean,
    defaultSerial: string,
    options: AtaDriveOptions = {},
  ) {
    const size = disk.size;
    if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR_SIZE !== 0)
      throw new RangeError(`ide: disk size ${size} is not a positive multiple of ${SECTOR_SIZE}`);
    const sectors = size / SECTOR_SIZE;
    if (sectors > LBA48_MAX_SECTORS) throw new RangeError(`ide: disk of ${sectors} sectors exceeds the 48-bit address space`);
    this.totalSectors = sectors;
    this.model = options.model ?? DEFAULT_MODEL;
    this.serial = options.serial ?? defaultSerial;
    this.firmware = options.firmware ?? DEFAULT_FIRMWARE;
    checkAtaString('model', this.model, 40);
    checkAtaString('serial', this.serial, 20);
    checkAtaString('firmware revision', this.firmware, 8);
    this.geometry = defaultGeometry(sectors);
    this.heads = this.geometry.heads;
    this.sectorsPerTrack = this.geometry.sectorsPerTrack;
    this.setSignature();
  }

  /** Registers after power-on, reset or EXECUTE DEVICE DIAGNOSTIC: the ATA signature. */
  setSignature(): void {
    this.nsect = this.hobNsect = 1;
    this.lbal = this.hobLbal = 1;
    this.lbam = this.hobLbam = 0;
    this.lbah = this.hobLbah = 0;
    this.feature = this.hobFeature = 0;
    this.device = 0;
    this.error = ATA_DIAG_PASS;
    this.status = ATA_DRDY | ATA_DSC;
    this.intrq = false;
  }

  /** Power-on defaults of the settings as well (a hardware reset of the machine). */
  powerOn(): void {
    this.multiple = MULTIPLE_MAX;
    this.writeCache = true;
    this.readAhead = true;
    this.dma = { kind: 'none' };
    this.heads = this.geometry.heads;
    this.sectorsPerTrack = this.geometry.sectorsPerTrack;
    this.setSignature();
  }

  get current(): ChsGeometry {
    return currentGeometry(this.totalSectors, this.heads, this.sectorsPerTrack);
  }

  identify(otherPresent: boolean): Uint8Array {
    return buildIdentify({
      totalSectors: this.totalSectors,
      model: this.model,
      serial: this.serial,
      firmware: this.firmware,
      geometry: this.geometry,
      current: this.current,
      multiple: this.multiple,
      writeCache: this.writeCache,
      readAhead: this.readAhead,
      dma: this.dma,
      isDevice1: this.isDevice1,
      otherPresent,
    });
  }

  /** Put an address in the LBA registers (error reports, READ NATIVE MAX ADDRESS). */
  setLba(lba: number, lba48: boolean): void {
    this.lbal = lba & 0xff;
    this.lbam = (lba >>> 8) & 0xff;
    this.lbah = (lba >>> 16) & 0xff;
    if (lba48) {
      const high = Math.floor(lba / 2 ** 24);
      this.hobLbal = high & 0xff;
      this.hobLbam = (high >>> 8) & 0xff;
      this.hobLbah = (high >>> 16) & 0xff;
    } else {
      this.device = (this.device & 0xf0) | ((lba >>> 24) & 0x0f);
    }
  }

  saveState(): StateRecord {
    return {
      totalSectors: this.totalSectors,
      feature: this.feature,
      hobFeature: this.hobFeature,
      nsect: this.nsect,
      hobNsect: this.hobNsect,
      lbal: this.lbal,
      hobLbal: this.hobLbal,
      lbam: this.lbam,
      hobLbam: this.hobLbam,
      lbah: this.lbah,
      hobLbah: this.hobLbah,
      device: this.device,
      status: this.status,
      error: this.error,
      intrq: this.intrq,
      multiple: this.multiple,
      writeCache: this.writeCache,
      readAhead: this.readAhead,
      dmaKind: this.dma.kind,
      dmaMode: this.dma.kind === 'none' ? 0 : this.dma.mode,
      heads: this.heads,
      sectorsPerTrack: this.sectorsPerTrack,
    };
  }

  /** Validate a saved record; the returned function applies it (so a bad record changes nothing). */
  prepareLoad(s: StateRecord, device: string): () => void {
    const total = readInt(s, device, 'totalSectors', 1, LBA48_MAX_SECTORS);
    if (total !== this.totalSectors)
      throw new Error(`${device} state: saved with a disk of ${total} sectors, the attached disk has ${this.totalSectors}`);
    const byte = (f: string) => readInt(s, device, f, 0, 0xff);
    const regs = {
      feature: byte('feature'), hobFeature: byte('hobFeature'), nsect: byte('nsect'), hobNsect: byte('hobNsect'),
      lbal: byte('lbal'), hobLbal: byte('hobLbal'), lbam: byte('lbam'), hobLbam: byte('hobLbam'),
      lbah: byte('lbah'), hobLbah: byte('hobLbah'), device: byte('device'), status: byte('status'), error: byte('error'),
    };
    const intrq = readBool(s, device, 'intrq');
    const multiple = readInt(s, device, 'multiple', 0, MULTIPLE_MAX);
    if (multiple & (multiple - 1)) throw new Error(`${device} state: multiple count ${multiple} is not a power of two`);
    const writeCache = readBool(s, device, 'writeCache');
    const readAhead = readBool(s, device, 'readAhead');
    const dmaKind = readString(s, device, 'dmaKind', ['none', 'mwdma', 'udma']);
    const dmaMode = readInt(s, device, 'dmaMode', 0, dmaKind === 'udma' ? 5 : 2);
    const heads = readInt(s, device, 'heads', 1, 16);
    const sectorsPerTrack = readInt(s, device, 'sectorsPerTrack', 1, 255);
    return () => {
      Object.assign(this, regs);
      this.intrq = intrq;
      this.multiple = multiple;
      this.writeCache = writeCache;
      this.readAhead = readAhead;
      this.dma = dmaKind === 'none' ? { kind: 'none' } : { kind: dmaKind as 'mwdma' | 'udma', mode: dmaMode };
      this.heads = heads;
      this.sectorsPerTrack = sectorsPerTrack;
    };
  }
}

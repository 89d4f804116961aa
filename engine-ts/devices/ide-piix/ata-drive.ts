// One ATA disk on a channel: its register copy, its settings, and the BlockDevice behind it.
// The channel (ide-channel.ts) runs the protocol; this holds the device's own state.

import { SECTOR_SIZE, type BlockDevice } from '../../disk/block-device';
import { StateError, bool, fields, int, oneOf, u8, type Codec } from '../../platform/state';
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
}

const DMA_FIELDS = fields({ kind: oneOf(['none', 'mwdma', 'udma'] as const), mode: int(0, 5) }, 'dma mode');
const DMA_MODE: Codec<DmaModeSelection> = {
  describe: 'none | mwdma 0..2 | udma 0..5',
  save: (d) => ({ kind: d.kind, mode: d.kind === 'none' ? 0 : d.mode }),
  load: (v, path) => {
    const r = DMA_FIELDS.load(v, path);
    if (r.kind === 'mwdma' && (r.mode as number) > 2) throw new StateError(path, `selects MWDMA mode ${r.mode as number}; the drive has 0..2`);
    return r.kind === 'none' ? { kind: 'none' } : { kind: r.kind as 'mwdma' | 'udma', mode: r.mode as number };
  },
};

/** A drive's task file and settings. Its size is the attached disk's: a record for another size is refused. */
export const ATA_DRIVE_STATE = fields({
  totalSectors: int(1, LBA48_MAX_SECTORS),
  feature: u8, hobFeature: u8, nsect: u8, hobNsect: u8, lbal: u8, hobLbal: u8, lbam: u8, hobLbam: u8, lbah: u8, hobLbah: u8,
  device: u8, status: u8, error: u8, intrq: bool,
  multiple: int(0, MULTIPLE_MAX), writeCache: bool, readAhead: bool, dma: DMA_MODE,
  heads: int(1, 16), sectorsPerTrack: int(1, 255),
}, 'ata drive', (v, drive) => {
  if (v.totalSectors !== drive.totalSectors) return `was saved with a disk of ${v.totalSectors as number} sectors, the attached disk has ${drive.totalSectors as number}`;
  const m = v.multiple as number;
  return m & (m - 1) ? `multiple count ${m} is not a power of two` : null;
});

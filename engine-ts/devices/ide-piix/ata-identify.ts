// IDENTIFY DEVICE data (ACS-2 table 45, ATA/ATAPI-6 for the PATA-only words) and the CHS
// geometry helpers. Pure functions: the channel passes in the device's current settings.

/** Largest sector count the LBA28 capacity words (60-61) can hold. */
export const LBA28_MAX_SECTORS = 0x0fffffff;
/** The 48-bit address space. */
export const LBA48_MAX_SECTORS = 2 ** 48;
/** Sectors per DRQ block the device allows for READ/WRITE MULTIPLE (word 47). */
export const MULTIPLE_MAX = 16;

export interface ChsGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/** The default translation every ATA disk reports: 16 heads, 63 sectors, at most 16383 cylinders. */
export function defaultGeometry(totalSectors: number): ChsGeometry {
  const heads = 16;
  const sectorsPerTrack = 63;
  const cylinders = Math.max(1, Math.min(16383, Math.floor(totalSectors / (heads * sectorsPerTrack))));
  return { cylinders, heads, sectorsPerTrack };
}

/** The geometry after INITIALIZE DEVICE PARAMETERS (heads 1..16, sectors 1..255). */
export function currentGeometry(totalSectors: number, heads: number, sectorsPerTrack: number): ChsGeometry {
  const limit = Math.min(totalSectors, LBA28_MAX_SECTORS);
  const cylinders = Math.min(65535, Math.floor(limit / (heads * sectorsPerTrack)));
  return { cylinders, heads, sectorsPerTrack };
}

export type DmaModeSelection = { kind: 'none' } | { kind: 'mwdma' | 'udma'; mode: number };

export interface IdentifyParams {
  totalSectors: number;
  model: string;
  serial: string;
  firmware: string;
  geometry: ChsGeometry;
  current: ChsGeometry;
  /** Current READ/WRITE MULTIPLE block size; 0 = multiple mode off. */
  multiple: number;
  writeCache: boolean;
  readAhead: boolean;
  dma: DmaModeSelection;
  /** This is device 1 (slave) on its channel. */
  isDevice1: boolean;
  /** The other device on the channel exists (word 93 reset results). */
  otherPresent: boolean;
}

/** ATA strings: two characters per word, the first in the high byte; space padded. */
function putString(id: Uint16Array, word: number, words: number, text: string): void {
  const s = text.padEnd(words * 2, ' ').slice(0, words * 2);
  for (let i = 0; i < words; i++) {
    id[word + i] = (s.charCodeAt(2 * i) << 8) | s.charCodeAt(2 * i + 1);
  }
}

/** Only printable ASCII may appear in identify strings. */
export function checkAtaString(what: string, text: string, max: number): void {
  if (text.length > max) throw new RangeError(`ide: ${what} "${text}" is longer than ${max} characters`);
  if (!/^[\x20-\x7e]*$/.test(text)) throw new RangeError(`ide: ${what} must be printable ASCII`);
}

/** The 512 bytes a guest reads after IDENTIFY DEVICE (little-endian words). */
export function buildIdentify(p: IdentifyParams): Uint8Array {
  const id = new Uint16Array(256);
  const lba28 = Math.min(p.totalSectors, LBA28_MAX_SECTORS);
  const currentCapacity = p.current.cylinders * p.current.heads * p.current.sectorsPerTrack;

  id[0] = 0x0040; // ATA device, fixed (not removable)
  id[1] = p.geometry.cylinders;
  id[3] = p.geometry.heads;
  id[6] = p.geometry.sectorsPerTrack;
  putString(id, 10, 10, p.serial);
  putString(id, 23, 4, p.firmware);
  putString(id, 27, 20, p.model);
  id[47] = 0x8000 | MULTIPLE_MAX;
  id[49] = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 8); // IORDY, IORDY may be disabled, LBA, DMA
  id[50] = 0x4000;
  id[51] = 0x0200; // obsolete PIO timing mode 2
  id[53] = 0x0007; // words 54-58, 64-70 and 88 are valid
  id[54] = p.current.cylinders;
  id[55] = p.current.heads;
  id[56] = p.current.sectorsPerTrack;
  id[57] = currentCapacity & 0xffff;
  id[58] = Math.floor(currentCapacity / 0x10000) & 0xffff;
  id[59] = p.multiple > 0 ? 0x0100 | p.multiple : 0;
  id[60] = lba28 & 0xffff;
  id[61] = Math.floor(lba28 / 0x10000) & 0xffff;
  id[63] = 0x0007 | (p.dma.kind === 'mwdma' ? 0x0100 << p.dma.mode : 0); // MWDMA 0-2 supported
  id[64] = 0x0003; // PIO 3 and 4
  id[65] = 120; // minimum MWDMA cycle time (ns)
  id[66] = 120; // recommended MWDMA cycle time
  id[67] = 120; // minimum PIO cycle time without flow control
  id[68] = 120; // minimum PIO cycle time with IORDY
  id[80] = 0x01f0; // ATA/ATAPI-4 through ATA8-ACS
  // Word 83 bit 14 "valid" also vouches for word 82 (Linux checks it before trusting bit 5).
  id[82] = (1 << 6) | (1 << 5) | (1 << 3); // look-ahead, write cache, power management
  id[83] = 0x4000 | (1 << 13) | (1 << 12) | (1 << 10); // FLUSH CACHE EXT, FLUSH CACHE, 48-bit
  id[84] = 0x4000;
  id[85] = (p.readAhead ? 1 << 6 : 0) | (p.writeCache ? 1 << 5 : 0) | (1 << 3);
  id[86] = (1 << 13) | (1 << 12) | (1 << 10);
  id[87] = 0x4000;
  id[88] = 0x003f | (p.dma.kind === 'udma' ? 0x0100 << p.dma.mode : 0); // UDMA 0-5 supported
  id[93] = hardwareResetResult(p.isDevice1, p.otherPresent);
  let total = p.totalSectors;
  for (let w = 100; w < 104; w++) {
    id[w] = total % 0x10000;
    total = Math.floor(total / 0x10000);
  }
  id[106] = 0x4000; // one logical sector per physical sector, 512 bytes
  id[217] = 0x0001; // non-rotating medium: a file has no seek time

  const bytes = new Uint8Array(512);
  for (let w = 0; w < 256; w++) {
    bytes[2 * w] = id[w] & 0xff;
    bytes[2 * w + 1] = id[w] >> 8;
  }
  // Integrity word: signature A5h, then a checksum that makes all 512 bytes sum to 0 (mod 256).
  bytes[510] = 0xa5;
  let sum = 0;
  for (let i = 0; i < 511; i++) sum += bytes[i];
  bytes[511] = (256 - (sum & 0xff)) & 0xff;
  return bytes;
}

/** Word 93 for a parallel device: 80-conductor cable detected, jumper-selected, diagnostics passed. */
function hardwareResetResult(isDevice1: boolean, otherPresent: boolean): number {
  const common = 0x6000; // bit 14 set, bit 13 = CBLID- above ViH
  if (isDevice1) return common | 0x0100 | 0x0200 | 0x0800; // device 1 present, jumper, PDIAG- asserted
  let v = common | 0x0001 | 0x0002 | 0x0008; // device 0: jumper, passed diagnostics
  if (otherPresent) v |= 0x0010 | 0x0020; // PDIAG- and DASP- seen from device 1
  else v |= 0x0040; // responds for the absent device 1
  return v;
}

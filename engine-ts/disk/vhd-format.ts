// Microsoft VHD (v1) on-disk structures: the 512-byte hard disk footer, the 1024-byte
// dynamic disk header, parent locators, the BAT and per-block sector bitmaps.
// Everything here is a pure function over bytes; file access lives in vhd.ts.
// Reference: ../../../shared/spec/vhd.md (a digest of Microsoft's VHD spec v1.0).
// All on-disk integers are big-endian.

export const VHD_SECTOR = 512;
export const VHD_FOOTER_SIZE = 512;
/** Virtual PC before 2004 wrote a 511-byte footer (no last reserved byte). */
export const VHD_FOOTER_SIZE_OLD = 511;
export const VHD_HEADER_SIZE = 1024;

export const FOOTER_COOKIE = 'conectix';
export const HEADER_COOKIE = 'cxsparse';
export const VHD_VERSION = 0x00010000;
/** Footer feature bit 1: reserved, must always be set. Bit 0 = temporary disk. */
export const FEATURE_RESERVED = 0x2;
export const FEATURE_TEMPORARY = 0x1;

export const DISK_TYPE_FIXED = 2;
export const DISK_TYPE_DYNAMIC = 3;
export const DISK_TYPE_DIFFERENCING = 4;
export type VhdDiskTypeName = 'fixed' | 'dynamic' | 'differencing';

/** BAT value for a block that is not allocated. */
export const BAT_UNUSED = 0xffffffff;
/** "No offset" (fixed disks, header data offset): spec says 0xFFFFFFFF, everyone writes all 64 bits. */
export const NO_OFFSET = 0xffffffffffffffffn;
export const NO_OFFSET_32 = 0xffffffffn;

export const DEFAULT_BLOCK_SIZE = 0x200000; // 2 MiB, what every known writer uses
/** Largest block size we accept. The spec allows any power of two; real files use 512 KiB-2 MiB. */
export const MAX_BLOCK_SIZE = 256 * 1024 * 1024;
/** 2040 GiB: the largest size Hyper-V and qemu accept (0xFF000000 sectors). */
export const MAX_DISK_SIZE = 0xff000000 * VHD_SECTOR;
/** CHS of 65535/16/255 is the "size does not fit CHS, use current size" marker. */
export const CHS_MAX_CYLINDERS = 65535;
export const CHS_MAX_HEADS = 16;
export const CHS_MAX_SECTORS = 255;
export const CHS_MAX_TOTAL = CHS_MAX_CYLINDERS * CHS_MAX_HEADS * CHS_MAX_SECTORS;

/** Creator host OS codes. */
export const HOST_OS_WINDOWS = 0x5769326b; // 'Wi2k'
export const HOST_OS_MAC = 0x4d616320; // 'Mac '

/** What pvlab writes as creator application and version (1.0). */
export const PVLAB_CREATOR_APP = 'pvlb';
export const PVLAB_CREATOR_VERSION = 0x00010000;

/**
 * Creators whose images are sized by the footer's current size rather than C×H×S
 * (qemu's table): Hyper-V/Windows, qemu with force_size, Disk2vhd, XenServer blktap,
 * XenConverter.
 */
export const CURRENT_SIZE_CREATORS: readonly string[] = ['win ', 'qem2', 'd2v ', 'tap\0', 'CTXS'];

/** Parent locator platform codes. */
export const PLATFORM_NONE = 0x00000000;
export const PLATFORM_WI2R = 0x57693272; // 'Wi2r' deprecated: relative path, ANSI
export const PLATFORM_WI2K = 0x5769326b; // 'Wi2k' deprecated: absolute path, ANSI
export const PLATFORM_W2RU = 0x57327275; // 'W2ru' relative path, UTF-16LE
export const PLATFORM_W2KU = 0x57326b75; // 'W2ku' absolute path, UTF-16LE
export const PLATFORM_MAC = 0x4d616320; // 'Mac ' alias record (opaque)
export const PLATFORM_MACX = 0x4d616358; // 'MacX' file URL, UTF-8
export const PARENT_LOCATOR_COUNT = 8;
/** Locator data longer than this is not a path; refuse it rather than allocate for it. */
export const MAX_LOCATOR_LENGTH = 64 * 1024;
/** The parent unicode name field holds 256 UTF-16 code units. */
export const PARENT_NAME_UNITS = 256;

/** 2000-01-01T00:00:00Z in Unix milliseconds: VHD timestamps count seconds from here. */
export const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/** Every problem with a VHD file or its use is reported as a VhdError whose message names it. */
export class VhdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VhdError';
  }
}

// ---------------------------------------------------------------------------------------------
// Structures

export interface VhdFooter {
  /** 0: 'conectix'. */
  cookie: string;
  /** 8: bit 0 temporary, bit 1 reserved (always set). */
  features: number;
  /** 12: 0x00010000. */
  fileFormatVersion: number;
  /** 16: absolute offset of the dynamic header; all ones for fixed disks. */
  dataOffset: bigint;
  /** 24: seconds since 2000-01-01 UTC. */
  timestamp: number;
  /** 28: 4 ASCII characters, e.g. 'qemu', 'win ', 'vpc '. */
  creatorApplication: string;
  /** 32: major << 16 | minor. */
  creatorVersion: number;
  /** 36: 'Wi2k' or 'Mac '. */
  creatorHostOs: number;
  /** 40: virtual size in bytes at creation. */
  originalSize: bigint;
  /** 48: current virtual size in bytes. */
  currentSize: bigint;
  /** 56: cylinders (u16). */
  cylinders: number;
  /** 58: heads (u8). */
  heads: number;
  /** 59: sectors per track (u8). */
  sectorsPerTrack: number;
  /** 60: 2 fixed, 3 dynamic, 4 differencing. */
  diskType: number;
  /** 64: one's complement of the byte sum with this field as zero. */
  checksum: number;
  /** 68: 16 bytes. */
  uniqueId: Uint8Array;
  /** 84: 1 if a saved VM state uses this disk. */
  savedState: number;
}

export interface VhdParentLocator {
  /** 0: platform code (PLATFORM_*). */
  platformCode: number;
  /** 4: space reserved for the data: 512-byte sectors per the spec, bytes for some writers. */
  platformDataSpace: number;
  /** 8: bytes of data actually used. */
  platformDataLength: number;
  /** 12: reserved, 0. */
  reserved: number;
  /** 16: absolute file offset of the data. */
  platformDataOffset: bigint;
}

export interface VhdHeader {
  /** 0: 'cxsparse'. */
  cookie: string;
  /** 8: unused, all ones. */
  dataOffset: bigint;
  /** 16: absolute offset of the BAT. */
  tableOffset: bigint;
  /** 24: 0x00010000. */
  headerVersion: number;
  /** 28: number of BAT entries. */
  maxTableEntries: number;
  /** 32: bytes per block, not counting the bitmap; a power of two. */
  blockSize: number;
  /** 36: checksum over the 1024 bytes, as for the footer. */
  checksum: number;
  /** 40: the parent footer's unique id (differencing). */
  parentUniqueId: Uint8Array;
  /** 56: the parent's modification time, seconds since 2000-01-01. */
  parentTimestamp: number;
  /** 60: reserved. */
  reserved1: number;
  /** 64: parent file name, UTF-16BE, 512 bytes zero-padded (decoded up to the first NUL). */
  parentUnicodeName: string;
  /** 576: 8 entries of 24 bytes. */
  parentLocators: VhdParentLocator[];
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function u64(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4));
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function put64(b: Uint8Array, o: number, v: bigint): void {
  put32(b, o, Number((v >> 32n) & 0xffffffffn));
  put32(b, o + 4, Number(v & 0xffffffffn));
}
function ascii(b: Uint8Array, o: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[o + i]);
  return s;
}
function putAscii(b: Uint8Array, o: number, n: number, s: string): void {
  for (let i = 0; i < n; i++) b[o + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

/** A 32-bit field as text if printable ('qemu', 'Wi2k'), else hex. */
export function fourCc(v: number): string {
  const s = String.fromCharCode((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  return /^[\x20-\x7e]{4}$/.test(s) ? s : `0x${v.toString(16).padStart(8, '0')}`;
}

/** Printable form of a creator application field (NULs shown as \0, as in 'tap\0'). */
export function printableCreator(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => (c === '\0' ? '\\0' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** One's complement of the byte sum, skipping the 4 checksum bytes at `checksumAt`. */
export function vhdChecksum(bytes: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i >= checksumAt && i < checksumAt + 4) continue;
    sum = (sum + bytes[i]) >>> 0;
  }
  return ~sum >>> 0;
}

const FOOTER_CHECKSUM_AT = 64;
const HEADER_CHECKSUM_AT = 36;

// ---------------------------------------------------------------------------------------------
// Footer

/**
 * Decode and check a footer (512 bytes, or 511 from pre-2004 Virtual PC).
 * Checks cookie, checksum, version and disk type; offsets and sizes are checked against the
 * file in vhd-layout.ts, which knows the file size.
 */
export function parseFooter(bytes: Uint8Array): VhdFooter {
  if (bytes.length !== VHD_FOOTER_SIZE && bytes.length !== VHD_FOOTER_SIZE_OLD) {
    throw new VhdError(`footer must be 512 bytes, got ${bytes.length}`);
  }
  const cookie = ascii(bytes, 0, 8);
  if (cookie !== FOOTER_COOKIE) throw new VhdError(`no footer: cookie is ${JSON.stringify(cookie)}, not "conectix"`);
  const f: VhdFooter = {
    cookie,
    features: u32(bytes, 8),
    fileFormatVersion: u32(bytes, 12),
    dataOffset: u64(bytes, 16),
    timestamp: u32(bytes, 24),
    creatorApplication: ascii(bytes, 28, 4),
    creatorVersion: u32(bytes, 32),
    creatorHostOs: u32(bytes, 36),
    originalSize: u64(bytes, 40),
    currentSize: u64(bytes, 48),
    cylinders: u16(bytes, 56),
    heads: bytes[58],
    sectorsPerTrack: bytes[59],
    diskType: u32(bytes, 60),
    checksum: u32(bytes, 64),
    uniqueId: bytes.slice(68, 84),
    savedState: bytes[84],
  };
  const computed = vhdChecksum(bytes, FOOTER_CHECKSUM_AT);
  if (computed !== f.checksum) {
    throw new VhdError(`footer checksum mismatch: stored ${hex32(f.checksum)}, computed ${hex32(computed)}`);
  }
  if (f.fileFormatVersion >>> 16 !== 1) {
    throw new VhdError(`unsupported file format version ${hex32(f.fileFormatVersion)} (expected 0x00010000)`);
  }
  if (f.diskType !== DISK_TYPE_FIXED && f.diskType !== DISK_TYPE_DYNAMIC && f.diskType !== DISK_TYPE_DIFFERENCING) {
    throw new VhdError(`unsupported disk type ${f.diskType} (expected 2 fixed, 3 dynamic or 4 differencing)`);
  }
  return f;
}

/** Encode a footer (512 bytes) and set its checksum field (also in `f`). */
export function serializeFooter(f: VhdFooter): Uint8Array {
  const b = new Uint8Array(VHD_FOOTER_SIZE);
  putAscii(b, 0, 8, f.cookie);
  put32(b, 8, f.features);
  put32(b, 12, f.fileFormatVersion);
  put64(b, 16, f.dataOffset);
  put32(b, 24, f.timestamp);
  putAscii(b, 28, 4, f.creatorApplication);
  put32(b, 32, f.creatorVersion);
  put32(b, 36, f.creatorHostOs);
  put64(b, 40, f.originalSize);
  put64(b, 48, f.currentSize);
  put16(b, 56, f.cylinders);
  b[58] = f.heads;
  b[59] = f.sectorsPerTrack;
  put32(b, 60, f.diskType);
  b.set(f.uniqueId.subarray(0, 16), 68);
  b[84] = f.savedState;
  f.checksum = vhdChecksum(b, FOOTER_CHECKSUM_AT);
  put32(b, FOOTER_CHECKSUM_AT, f.checksum);
  return b;
}

export function diskTypeName(t: number): VhdDiskTypeName {
  if (t === DISK_TYPE_FIXED) return 'fixed';
  if (t === DISK_TYPE_DYNAMIC) return 'dynamic';
  if (t === DISK_TYPE_DIFFERENCING) return 'differencing';
  throw new VhdError(`unsupported disk type ${t}`);
}

// ---------------------------------------------------------------------------------------------
// Dynamic disk header

/** Decode and check a dynamic header: cookie, checksum, version, block size. */
export function parseHeader(bytes: Uint8Array): VhdHeader {
  if (bytes.length !== VHD_HEADER_SIZE) throw new VhdError(`dynamic header must be 1024 bytes, got ${bytes.length}`);
  const cookie = ascii(bytes, 0, 8);
  if (cookie !== HEADER_COOKIE) throw new VhdError(`dynamic header cookie is ${JSON.stringify(cookie)}, not "cxsparse"`);
  const locators: VhdParentLocator[] = [];
  for (let i = 0; i < PARENT_LOCATOR_COUNT; i++) {
    const o = 576 + i * 24;
    locators.push({
      platformCode: u32(bytes, o),
      platformDataSpace: u32(bytes, o + 4),
      platformDataLength: u32(bytes, o + 8),
      reserved: u32(bytes, o + 12),
      platformDataOffset: u64(bytes, o + 16),
    });
  }
  const h: VhdHeader = {
    cookie,
    dataOffset: u64(bytes, 8),
    tableOffset: u64(bytes, 16),
    headerVersion: u32(bytes, 24),
    maxTableEntries: u32(bytes, 28),
    blockSize: u32(bytes, 32),
    checksum: u32(bytes, 36),
    parentUniqueId: bytes.slice(40, 56),
    parentTimestamp: u32(bytes, 56),
    reserved1: u32(bytes, 60),
    parentUnicodeName: decodeUtf16(bytes.subarray(64, 576), false),
    parentLocators: locators,
  };
  const computed = vhdChecksum(bytes, HEADER_CHECKSUM_AT);
  if (computed !== h.checksum) {
    throw new VhdError(`dynamic header checksum mismatch: stored ${hex32(h.checksum)}, computed ${hex32(computed)}`);
  }
  if (h.headerVersion >>> 16 !== 1) {
    throw new VhdError(`unsupported dynamic header version ${hex32(h.headerVersion)} (expected 0x00010000)`);
  }
  if (!isValidBlockSize(h.blockSize)) {
    throw new VhdError(`block size ${h.blockSize} is not a power of two between 512 and ${MAX_BLOCK_SIZE}`);
  }
  return h;
}

/** Encode a dynamic header (1024 bytes) and set its checksum field (also in `h`). */
export function serializeHeader(h: VhdHeader): Uint8Array {
  const b = new Uint8Array(VHD_HEADER_SIZE);
  putAscii(b, 0, 8, h.cookie);
  put64(b, 8, h.dataOffset);
  put64(b, 16, h.tableOffset);
  put32(b, 24, h.headerVersion);
  put32(b, 28, h.maxTableEntries);
  put32(b, 32, h.blockSize);
  b.set(h.parentUniqueId.subarray(0, 16), 40);
  put32(b, 56, h.parentTimestamp);
  put32(b, 60, h.reserved1);
  b.set(encodeUtf16(h.parentUnicodeName, false, PARENT_NAME_UNITS), 64);
  for (let i = 0; i < PARENT_LOCATOR_COUNT; i++) {
    const l = h.parentLocators[i];
    if (!l) continue;
    const o = 576 + i * 24;
    put32(b, o, l.platformCode);
    put32(b, o + 4, l.platformDataSpace);
    put32(b, o + 8, l.platformDataLength);
    put32(b, o + 12, l.reserved);
    put64(b, o + 16, l.platformDataOffset);
  }
  h.checksum = vhdChecksum(b, HEADER_CHECKSUM_AT);
  put32(b, HEADER_CHECKSUM_AT, h.checksum);
  return b;
}

export function emptyLocator(): VhdParentLocator {
  return { platformCode: PLATFORM_NONE, platformDataSpace: 0, platformDataLength: 0, reserved: 0, platformDataOffset: 0n };
}

export function isValidBlockSize(n: number): boolean {
  return Number.isInteger(n) && n >= VHD_SECTOR && n <= MAX_BLOCK_SIZE && (n & (n - 1)) === 0;
}

// ---------------------------------------------------------------------------------------------
// Geometry and size

export interface ChsGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/**
 * The spec's CHS algorithm (Virtual PC's): a sector count to C/H/S.
 * C×H×S is often below the count, because each step rounds down.
 */
export function chsFromSectors(totalSectors: number): ChsGeometry {
  let t = Math.min(Math.max(0, Math.floor(totalSectors)), CHS_MAX_TOTAL);
  let spt: number;
  let heads: number;
  let ch: number;
  if (t >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    ch = Math.floor(t / spt);
  } else {
    spt = 17;
    ch = Math.floor(t / spt);
    heads = Math.max(4, Math.floor((ch + 1023) / 1024));
    if (ch >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      ch = Math.floor(t / spt);
    }
    if (ch >= heads * 1024) {
      spt = 63;
      heads = 16;
      ch = Math.floor(t / spt);
    }
  }
  return { cylinders: Math.floor(ch / heads), heads, sectorsPerTrack: spt };
}

export function chsSectors(g: ChsGeometry): number {
  return g.cylinders * g.heads * g.sectorsPerTrack;
}

export function isChsMaxMarker(g: ChsGeometry): boolean {
  return g.cylinders === CHS_MAX_CYLINDERS && g.heads === CHS_MAX_HEADS && g.sectorsPerTrack === CHS_MAX_SECTORS;
}

export interface CreateSize {
  /** Bytes the disk will have (current and original size). */
  size: number;
  geometry: ChsGeometry;
}

/**
 * Size and geometry for a new disk of `requested` bytes.
 * Default (as qemu-img): round up to a sector, then to the first C×H×S that covers it, so
 * readers that trust CHS (Virtual PC, qemu for its own images) and readers that trust current
 * size agree. `exact`: only round to a sector and write the 65535/16/255 marker (qemu's
 * force_size). Sizes beyond CHS reach always get the marker.
 */
export function sizeForCreate(requested: number, exact = false): CreateSize {
  if (!Number.isSafeInteger(requested) || requested <= 0) throw new VhdError(`invalid disk size ${requested}`);
  const sectors = Math.ceil(requested / VHD_SECTOR);
  if (sectors * VHD_SECTOR > MAX_DISK_SIZE) throw new VhdError(`disk size ${requested} is above the VHD limit of 2040 GiB`);
  const marker = { cylinders: CHS_MAX_CYLINDERS, heads: CHS_MAX_HEADS, sectorsPerTrack: CHS_MAX_SECTORS };
  if (exact || sectors > CHS_MAX_TOTAL) return { size: sectors * VHD_SECTOR, geometry: marker };
  // Try T, T+1, ... : the product grows in steps of at most 16×255, so this ends quickly.
  for (let t = sectors; t <= CHS_MAX_TOTAL; t++) {
    const g = chsFromSectors(t);
    const n = chsSectors(g);
    if (n >= sectors) {
      return isChsMaxMarker(g) ? { size: sectors * VHD_SECTOR, geometry: g } : { size: n * VHD_SECTOR, geometry: g };
    }
  }
  return { size: sectors * VHD_SECTOR, geometry: marker };
}

export type SizeRule = 'auto' | 'chs' | 'current-size';

/**
 * Which of the two sizes a footer describes to use (spec §3, qemu's table):
 * current size for Hyper-V-family creators and for the CHS marker, C×H×S otherwise.
 */
export function chooseSizeRule(f: VhdFooter, rule: SizeRule = 'auto'): 'chs' | 'current-size' {
  if (rule !== 'auto') return rule;
  if (CURRENT_SIZE_CREATORS.includes(f.creatorApplication)) return 'current-size';
  if (isChsMaxMarker(f)) return 'current-size';
  return 'chs';
}

// ---------------------------------------------------------------------------------------------
// Timestamps and UUIDs

/** Seconds since 2000-01-01 UTC, clamped to the u32 field. */
export function vhdTimestamp(now: Date): number {
  const s = Math.floor((now.getTime() - VHD_EPOCH_MS) / 1000);
  if (!Number.isFinite(s)) throw new VhdError('invalid date');
  return Math.min(Math.max(s, 0), 0xffffffff);
}

export function dateFromVhdTimestamp(t: number): Date {
  return new Date(VHD_EPOCH_MS + t * 1000);
}

export function uuidToString(u: Uint8Array): string {
  const h = Array.from(u.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function uuidFromString(s: string): Uint8Array {
  const h = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new VhdError(`invalid UUID ${JSON.stringify(s)}`);
  const u = new Uint8Array(16);
  for (let i = 0; i < 16; i++) u[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return u;
}

/** A version-4 UUID from 16 bytes of entropy that the caller supplies. */
export function uuidV4(random16: Uint8Array): Uint8Array {
  if (random16.length < 16) throw new VhdError('UUID needs 16 random bytes');
  const u = random16.slice(0, 16);
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  return u;
}

export function uuidEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isZeroUuid(u: Uint8Array): boolean {
  return u.every((b) => b === 0);
}

// ---------------------------------------------------------------------------------------------
// Text: parent names and locators

/** UTF-16 (big- or little-endian) up to the first NUL. Never throws: unpaired surrogates pass through. */
export function decodeUtf16(bytes: Uint8Array, littleEndian: boolean): string {
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const c = littleEndian ? bytes[i] | (bytes[i + 1] << 8) : (bytes[i] << 8) | bytes[i + 1];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** UTF-16 encode, optionally zero-padded to `units` code units (longer strings are refused). */
export function encodeUtf16(s: string, littleEndian: boolean, units?: number): Uint8Array {
  if (units !== undefined && s.length > units) throw new VhdError(`name is longer than ${units} UTF-16 units`);
  const b = new Uint8Array((units ?? s.length) * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (littleEndian) {
      b[i * 2] = c & 0xff;
      b[i * 2 + 1] = c >>> 8;
    } else {
      b[i * 2] = c >>> 8;
      b[i * 2 + 1] = c & 0xff;
    }
  }
  return b;
}

/** Locator data to text per its platform code; undefined for opaque or unknown kinds. */
export function decodeLocatorData(platformCode: number, data: Uint8Array): string | undefined {
  switch (platformCode) {
    case PLATFORM_W2RU:
    case PLATFORM_W2KU:
      return decodeUtf16(data, true);
    case PLATFORM_MACX:
      return new TextDecoder('utf-8').decode(data).replace(/\0.*$/s, '');
    case PLATFORM_WI2R:
    case PLATFORM_WI2K: {
      let s = '';
      for (const b of data) {
        if (b === 0) break;
        s += String.fromCharCode(b);
      }
      return s;
    }
    default:
      return undefined;
  }
}

export function encodeLocatorData(platformCode: number, text: string): Uint8Array {
  switch (platformCode) {
    case PLATFORM_W2RU:
    case PLATFORM_W2KU:
      return encodeUtf16(text, true);
    case PLATFORM_MACX:
      return new TextEncoder().encode(text);
    default:
      throw new VhdError(`cannot write parent locators of kind ${fourCc(platformCode)}`);
  }
}

/**
 * A locator's data length must fit its reserved space. The spec counts the space in sectors,
 * some writers in bytes; a length within space × 512 is accepted either way.
 */
export function locatorFitsSpace(l: VhdParentLocator): boolean {
  return l.platformDataLength <= l.platformDataSpace * VHD_SECTOR;
}

// ---------------------------------------------------------------------------------------------
// BAT and bitmaps

/** Bytes of the sector bitmap in front of each block: one bit per sector, padded to a sector. */
export function bitmapSize(blockSize: number): number {
  const bytes = Math.ceil(blockSize / VHD_SECTOR / 8);
  return Math.ceil(bytes / VHD_SECTOR) * VHD_SECTOR;
}

/** BAT size on disk: 4 bytes per entry, padded to a sector. */
export function batSizeOnDisk(entries: number): number {
  return roundUp(entries * 4, VHD_SECTOR);
}

export function decodeBat(bytes: Uint8Array, entries: number): Uint32Array {
  if (bytes.length < entries * 4) throw new VhdError(`BAT needs ${entries * 4} bytes, got ${bytes.length}`);
  const bat = new Uint32Array(entries);
  for (let i = 0; i < entries; i++) bat[i] = u32(bytes, i * 4);
  return bat;
}

/** Encode BAT entries, padded with 0xFF to a whole sector as qemu and Windows do. */
export function encodeBat(bat: Uint32Array): Uint8Array {
  const b = new Uint8Array(batSizeOnDisk(bat.length)).fill(0xff);
  for (let i = 0; i < bat.length; i++) put32(b, i * 4, bat[i]);
  return b;
}

export function encodeBatEntry(v: number): Uint8Array {
  const b = new Uint8Array(4);
  put32(b, 0, v);
  return b;
}

/** File offset of block data's bitmap for a BAT entry (a sector number). */
export function blockOffset(entry: number): number {
  return entry * VHD_SECTOR;
}

/** Sector k of a block is bit 7-(k mod 8) of byte k/8: most significant bit first. */
export function bitmapGet(bitmap: Uint8Array, k: number): boolean {
  return (bitmap[k >>> 3] & (0x80 >>> (k & 7))) !== 0;
}

export function bitmapSet(bitmap: Uint8Array, k: number): void {
  bitmap[k >>> 3] |= 0x80 >>> (k & 7);
}

/** Length of the run of equal bits starting at sector k, up to `end`. */
export function bitmapRun(bitmap: Uint8Array, k: number, end: number): number {
  const v = bitmapGet(bitmap, k);
  let n = k + 1;
  while (n < end) {
    // Whole bytes at a time where the run is byte-aligned.
    if ((n & 7) === 0 && n + 8 <= end && bitmap[n >>> 3] === (v ? 0xff : 0)) {
      n += 8;
      continue;
    }
    if (bitmapGet(bitmap, n) !== v) break;
    n++;
  }
  return n - k;
}

// ---------------------------------------------------------------------------------------------
// Small numeric helpers

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

/** A u64 field as a number if it is exactly representable, else undefined. */
export function safeNumber(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

export function isZero(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  if ((b.byteOffset & 3) === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length * 4;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

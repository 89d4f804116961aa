// Validation of a whole VHD file's metadata before anything is allocated from its numbers:
// find the footer, read the dynamic header and BAT, and check every offset, size and count
// against the file. The result, VhdLayout, holds only checked values (plain numbers).
// Order follows the spec's checklist (shared/spec/vhd.md §9).

import {
  BAT_UNUSED, DISK_TYPE_FIXED, FEATURE_RESERVED, FEATURE_TEMPORARY, FOOTER_COOKIE,
  MAX_DISK_SIZE, MAX_LOCATOR_LENGTH, NO_OFFSET, NO_OFFSET_32, PLATFORM_NONE, VHD_FOOTER_SIZE, VHD_FOOTER_SIZE_OLD,
  VHD_HEADER_SIZE, VHD_SECTOR, VhdError, bitmapSize, chooseSizeRule, chsSectors, decodeBat, decodeLocatorData,
  diskTypeName, fourCc, isChsMaxMarker, isZeroUuid, locatorFitsSpace, parseFooter, parseHeader, roundUp,
  safeNumber, type SizeRule, type VhdDiskTypeName, type VhdFooter, type VhdHeader,
} from './vhd-format';

export interface ParentLocatorInfo {
  /** Entry index 0..7 in the header. */
  index: number;
  platformCode: number;
  /** 'W2ru', 'W2ku', 'MacX', ... */
  kind: string;
  offset: number;
  length: number;
  /** Decoded path or URL, for the kinds that hold text. */
  text?: string;
}

export interface VhdLayout {
  fileSize: number;
  footer: VhdFooter;
  /** The footer exactly as stored (511 bytes are padded to 512 with a zero, which keeps its checksum). */
  footerBytes: Uint8Array;
  /** Where the footer in use was found. 'head-copy': the tail was missing (read-only use). */
  footerSource: 'tail' | 'tail-511' | 'head-copy';
  /** Offset of the trailing footer; equals fileSize for 'head-copy'. */
  footerOffset: number;
  type: VhdDiskTypeName;
  /** Virtual size in bytes (multiple of 512). */
  size: number;
  sizeRule: 'chs' | 'current-size';
  /** First byte that metadata and blocks may not reach (the trailing footer). */
  dataEnd: number;
  // Dynamic and differencing disks only (zero/empty for fixed):
  header?: VhdHeader;
  headerOffset: number;
  tableOffset: number;
  blockSize: number;
  bitmapBytes: number;
  bat: Uint32Array;
  locators: ParentLocatorInfo[];
  /** End of header, BAT and locator data, rounded up to a sector. */
  metadataEnd: number;
  /** Non-fatal findings, worded for a person. */
  warnings: string[];
}

export interface LayoutReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export async function loadLayout(store: LayoutReader, rule: SizeRule = 'auto'): Promise<VhdLayout> {
  const fileSize = store.size;
  const warnings: string[] = [];
  if (fileSize < VHD_FOOTER_SIZE_OLD) throw new VhdError(`file is ${fileSize} bytes, too small to hold a VHD footer`);

  // 1. The footer: last 512 bytes, else last 511 (pre-2004 Virtual PC), else the copy at 0.
  let footer: VhdFooter;
  let footerSource: VhdLayout['footerSource'];
  let footerOffset: number;
  let footerBytes: Uint8Array;
  const tail = fileSize >= VHD_FOOTER_SIZE ? await store.read(fileSize - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE) : undefined;
  const tail511 = await store.read(fileSize - VHD_FOOTER_SIZE_OLD, VHD_FOOTER_SIZE_OLD);
  if (tail && startsWithCookie(tail)) {
    footer = parseFooter(tail);
    footerBytes = tail;
    footerSource = 'tail';
    footerOffset = fileSize - VHD_FOOTER_SIZE;
  } else if (startsWithCookie(tail511)) {
    footer = parseFooter(tail511);
    footerBytes = new Uint8Array(VHD_FOOTER_SIZE);
    footerBytes.set(tail511);
    footerSource = 'tail-511';
    footerOffset = fileSize - VHD_FOOTER_SIZE_OLD;
    warnings.push('footer is 511 bytes long (written by Virtual PC before 2004)');
  } else {
    const head = fileSize >= VHD_FOOTER_SIZE ? await store.read(0, VHD_FOOTER_SIZE) : tail511;
    if (head.length !== VHD_FOOTER_SIZE || !startsWithCookie(head)) {
      throw new VhdError('not a VHD: no "conectix" footer in the last 512 bytes or at offset 0');
    }
    footer = parseFooter(head);
    footerBytes = head;
    if (footer.diskType === DISK_TYPE_FIXED) throw new VhdError('trailing footer missing and a fixed disk has no copy');
    footerSource = 'head-copy';
    footerOffset = fileSize;
    warnings.push('trailing footer is missing or damaged; using the copy at offset 0 (read-only)');
  }
  const type = diskTypeName(footer.diskType);
  const dataEnd = footerOffset;

  // 2. Footer fields that are not checked by parseFooter.
  if ((footer.features & FEATURE_RESERVED) === 0) warnings.push('footer feature bit 1 (reserved, always set) is clear');
  if ((footer.features & ~(FEATURE_RESERVED | FEATURE_TEMPORARY)) !== 0) {
    warnings.push(`unknown footer feature bits 0x${footer.features.toString(16)}`);
  }
  if (footer.fileFormatVersion !== 0x00010000) warnings.push(`file format version is 0x${footer.fileFormatVersion.toString(16)}`);
  if (footer.savedState > 1) warnings.push(`saved state byte is ${footer.savedState} (expected 0 or 1)`);
  else if (footer.savedState === 1) warnings.push('saved state flag is set: a VM was saved while using this disk');
  const currentSize = safeNumber(footer.currentSize);
  if (currentSize === undefined || currentSize > MAX_DISK_SIZE) {
    throw new VhdError(`current size ${footer.currentSize} is above the VHD limit of 2040 GiB`);
  }
  if (currentSize % VHD_SECTOR !== 0) throw new VhdError(`current size ${currentSize} is not a multiple of 512`);
  if (isZeroUuid(footer.uniqueId)) warnings.push('unique id is all zeros');

  // 3. The disk size (§3): current size or C×H×S, depending on who made the file.
  const sizeRule = chooseSizeRule(footer, rule);
  const chsSize = chsSectors(footer) * VHD_SECTOR;
  const size = sizeRule === 'current-size' ? currentSize : chsSize;
  if (sizeRule === 'chs' && chsSize !== currentSize && !isChsMaxMarker(footer)) {
    warnings.push(`C×H×S size ${chsSize} differs from current size ${currentSize}; using C×H×S (creator ${fourCc(creatorCode(footer))})`);
  }

  const base = {
    fileSize, footer, footerBytes, footerSource, footerOffset, type, size, sizeRule, dataEnd, warnings,
    headerOffset: 0, tableOffset: 0, blockSize: 0, bitmapBytes: 0, bat: new Uint32Array(0), locators: [], metadataEnd: 0,
  };

  if (type === 'fixed') {
    if (footer.dataOffset !== NO_OFFSET && footer.dataOffset !== NO_OFFSET_32) {
      warnings.push(`fixed disk data offset is 0x${footer.dataOffset.toString(16)} (expected all ones); ignored`);
    }
    if (size > dataEnd) throw new VhdError(`fixed disk of ${size} bytes needs a ${size + VHD_FOOTER_SIZE}-byte file, file holds ${dataEnd} bytes of data`);
    if (size < dataEnd) warnings.push(`file holds ${dataEnd - size} bytes of data past the disk size ${size}`);
    return base;
  }

  // 4. Dynamic header.
  const headerOffset = safeNumber(footer.dataOffset);
  if (headerOffset === undefined || headerOffset < VHD_FOOTER_SIZE || headerOffset + VHD_HEADER_SIZE > dataEnd) {
    throw new VhdError(`dynamic header offset 0x${footer.dataOffset.toString(16)} is outside the file (${dataEnd} bytes before the footer)`);
  }
  const header = parseHeader(await store.read(headerOffset, VHD_HEADER_SIZE));
  if (header.dataOffset !== NO_OFFSET && header.dataOffset !== NO_OFFSET_32) {
    warnings.push(`dynamic header data offset is 0x${header.dataOffset.toString(16)} (expected all ones); ignored`);
  }
  const blockSize = header.blockSize;
  const bitmapBytes = bitmapSize(blockSize);
  const blockBytes = bitmapBytes + blockSize;

  // 5. The BAT: inside the file, covering the whole disk.
  const entries = header.maxTableEntries;
  const tableOffset = safeNumber(header.tableOffset);
  if (tableOffset === undefined || tableOffset < VHD_FOOTER_SIZE || tableOffset + entries * 4 > dataEnd) {
    throw new VhdError(`BAT at 0x${header.tableOffset.toString(16)} with ${entries} entries does not fit in the file (${dataEnd} bytes before the footer)`);
  }
  if (entries * blockSize < size) {
    throw new VhdError(`BAT has ${entries} entries of ${blockSize} bytes, too few for a ${size}-byte disk`);
  }
  const needed = Math.ceil(size / blockSize);
  const bat = decodeBat(await store.read(tableOffset, entries * 4), entries);

  // 6. Parent locators (differencing only).
  const locators: ParentLocatorInfo[] = [];
  if (type === 'differencing') {
    if (isZeroUuid(header.parentUniqueId)) throw new VhdError('differencing disk has no parent unique id');
    for (let i = 0; i < header.parentLocators.length; i++) {
      const l = header.parentLocators[i];
      if (l.platformCode === PLATFORM_NONE) continue;
      const kind = fourCc(l.platformCode);
      if (l.platformDataLength === 0) continue;
      const offset = safeNumber(l.platformDataOffset);
      if (l.platformDataLength > MAX_LOCATOR_LENGTH) {
        throw new VhdError(`parent locator ${i} (${kind}) is ${l.platformDataLength} bytes long, more than ${MAX_LOCATOR_LENGTH}`);
      }
      if (offset === undefined || offset < VHD_FOOTER_SIZE || offset + l.platformDataLength > dataEnd) {
        throw new VhdError(`parent locator ${i} (${kind}) at 0x${l.platformDataOffset.toString(16)} is outside the file`);
      }
      if (!locatorFitsSpace(l)) {
        warnings.push(`parent locator ${i} (${kind}) holds ${l.platformDataLength} bytes but reserves only ${l.platformDataSpace}`);
      }
      const text = decodeLocatorData(l.platformCode, await store.read(offset, l.platformDataLength));
      locators.push({ index: i, platformCode: l.platformCode, kind, offset, length: l.platformDataLength, text });
    }
  } else if (header.parentLocators.some((l) => l.platformCode !== PLATFORM_NONE)) {
    warnings.push('dynamic disk has parent locator entries; ignored');
  }

  // 7. Nothing may overlap: footer copy, header, BAT, locator data and every allocated block.
  const regions: Region[] = [
    { start: 0, end: VHD_FOOTER_SIZE, what: 'the footer copy at offset 0' },
    { start: headerOffset, end: headerOffset + VHD_HEADER_SIZE, what: 'the dynamic header' },
    { start: tableOffset, end: tableOffset + entries * 4, what: 'the BAT' },
  ];
  for (const l of locators) regions.push({ start: l.offset, end: l.offset + l.length, what: `parent locator ${l.index}` });
  const metadataEnd = roundUp(Math.max(...regions.map((r) => r.end)), VHD_SECTOR);
  let unusedButAllocated = 0;
  for (let i = 0; i < entries; i++) {
    const e = bat[i];
    if (e === BAT_UNUSED) continue;
    const start = e * VHD_SECTOR;
    if (start + blockBytes > dataEnd) {
      throw new VhdError(`BAT entry ${i} points to 0x${start.toString(16)}, past the end of the data (block of ${blockBytes} bytes, ${dataEnd} bytes before the footer)`);
    }
    if (i >= needed) unusedButAllocated++;
    regions.push({ start, end: start + blockBytes, what: `block ${i}` });
  }
  regions.sort((a, b) => a.start - b.start);
  for (let i = 1; i < regions.length; i++) {
    if (regions[i].start < regions[i - 1].end) {
      throw new VhdError(`${regions[i].what} at 0x${regions[i].start.toString(16)} overlaps ${regions[i - 1].what}`);
    }
  }
  if (unusedButAllocated > 0) warnings.push(`${unusedButAllocated} allocated block(s) lie past the end of the disk`);

  // 8. The copy at offset 0 should equal the trailing footer.
  if (footerSource !== 'head-copy') {
    const head = await store.read(0, VHD_FOOTER_SIZE);
    const tailBytes = footerSource === 'tail' ? tail! : tail511;
    if (!startsWithCookie(head)) warnings.push('footer copy at offset 0 is missing');
    else if (!sameBytes(head.subarray(0, tailBytes.length), tailBytes)) warnings.push('footer copy at offset 0 differs from the trailing footer');
  }

  return {
    ...base, header, headerOffset, tableOffset, blockSize, bitmapBytes, bat, locators, metadataEnd,
  };
}

interface Region {
  start: number;
  end: number;
  what: string;
}

function startsWithCookie(b: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (b[i] !== FOOTER_COOKIE.charCodeAt(i)) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function creatorCode(f: VhdFooter): number {
  const s = f.creatorApplication;
  return ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;
}

// Whole-image operations on top of VhdDisk: raw <-> VHD conversion, disk-to-disk copy,
// commit/compact wrappers and a checker. Memory stays bounded: data moves in 1 MiB pieces.

import type { BlockDevice } from './block-device';
import type { BlockStore } from './block-store';
import {
  BAT_UNUSED, VHD_SECTOR, VhdError, dateFromVhdTimestamp, fourCc, isZero, printableCreator,
  uuidToString,
} from './vhd-format';
import { loadLayout, type VhdLayout } from './vhd-layout';
import { VhdDisk, parentRef, type CompactResult, type OpenParent, type VhdCreateOptions } from './vhd';

const PIECE = 1024 * 1024;
const PIECE_SECTORS = PIECE / VHD_SECTOR;

/**
 * Copy every non-zero sector of `src` into `dst`, which must read as zeros where it is not
 * written (a freshly created image or raw file). Zero runs are skipped, so sparse output
 * stays sparse and dynamic output allocates only blocks with data.
 */
export async function copyNonZero(
  src: { size: number; read(sector: number, dst: Uint8Array): Promise<void> },
  dst: { write(sector: number, src: Uint8Array): Promise<void> },
): Promise<void> {
  const sectors = Math.ceil(src.size / VHD_SECTOR);
  for (let s = 0; s < sectors; s += PIECE_SECTORS) {
    const n = Math.min(PIECE_SECTORS, sectors - s);
    const buf = new Uint8Array(n * VHD_SECTOR);
    await src.read(s, buf);
    await writeNonZeroRuns(dst, s, buf);
  }
}

async function writeNonZeroRuns(dst: { write(sector: number, src: Uint8Array): Promise<void> }, first: number, buf: Uint8Array): Promise<void> {
  const n = buf.length / VHD_SECTOR;
  let runStart = -1;
  for (let j = 0; j <= n; j++) {
    const nonZero = j < n && !isZero(buf.subarray(j * VHD_SECTOR, (j + 1) * VHD_SECTOR));
    if (nonZero && runStart < 0) runStart = j;
    if (!nonZero && runStart >= 0) {
      await dst.write(first + runStart, buf.subarray(runStart * VHD_SECTOR, j * VHD_SECTOR));
      runStart = -1;
    }
  }
}

/** A raw image seen as sectors; a tail that is not a whole sector reads padded with zeros. */
export function rawDevice(store: BlockStore): { size: number; read(sector: number, dst: Uint8Array): Promise<void> } {
  return {
    size: Math.ceil(store.size / VHD_SECTOR) * VHD_SECTOR,
    async read(sector, dst) {
      const off = sector * VHD_SECTOR;
      const have = Math.max(0, Math.min(dst.length, store.size - off));
      if (have > 0) dst.set(await store.read(off, have));
      dst.fill(0, have);
    },
  };
}

/**
 * Make a VHD in the empty store `out` holding the raw image's contents. The disk size is the
 * raw size rounded up to a sector, and further to CHS unless `exactSize`.
 */
export async function rawToVhd(raw: BlockStore, out: BlockStore, opts: Omit<VhdCreateOptions, 'size' | 'parent'>): Promise<VhdDisk> {
  if (opts.type === 'differencing') throw new VhdError('convert: cannot make a differencing disk from a raw image');
  const src = rawDevice(raw);
  if (src.size === 0) throw new VhdError('convert: the raw image is empty');
  const disk = await VhdDisk.create(out, { ...opts, size: src.size });
  await copyNonZero(src, disk);
  await disk.flush();
  return disk;
}

/** Write the disk's virtual contents to the empty store `out` as a raw image. */
export async function vhdToRaw(disk: BlockDevice, out: BlockStore): Promise<void> {
  if (out.size !== 0) throw new VhdError(`convert: output is not empty (${out.size} bytes)`);
  await copyNonZero(disk, { write: (s, b) => out.write(s * VHD_SECTOR, b) });
  if (out.size < disk.size) {
    if (out.truncate) await out.truncate(disk.size);
    else await out.write(disk.size - VHD_SECTOR, new Uint8Array(VHD_SECTOR));
  }
  await out.flush();
}

/** Copy one disk into a new VHD (another subformat, or a differencing chain flattened). */
export async function vhdToVhd(src: BlockDevice, out: BlockStore, opts: Omit<VhdCreateOptions, 'size' | 'parent'>): Promise<VhdDisk> {
  if (opts.type === 'differencing') throw new VhdError('convert: cannot make a differencing disk by conversion');
  const disk = await VhdDisk.create(out, { ...opts, size: src.size, exactSize: opts.exactSize ?? true });
  if (disk.size !== src.size) {
    throw new VhdError(`convert: output size ${disk.size} differs from input size ${src.size}`);
  }
  await copyNonZero(src, disk);
  await disk.flush();
  return disk;
}

export function commitVhd(child: VhdDisk): Promise<{ sectors: number }> {
  return child.commit();
}

export function compactVhd(disk: VhdDisk): Promise<CompactResult> {
  return disk.compact();
}

// ---------------------------------------------------------------------------------------------
// Inspection

export interface VhdInfo {
  type: string;
  virtualSize: number;
  fileSize: number;
  sizeRule: 'chs' | 'current-size';
  currentSize: number;
  originalSize: string;
  creator: { application: string; version: string; hostOs: string };
  geometry: { cylinders: number; heads: number; sectorsPerTrack: number };
  uniqueId: string;
  timestamp: string;
  savedState: boolean;
  blockSize?: number;
  blocks?: { allocated: number; total: number };
  parent?: { uniqueId: string; timestamp: string; name: string; locators: { kind: string; text?: string }[] };
  warnings: string[];
}

export function describeLayout(L: VhdLayout): VhdInfo {
  const f = L.footer;
  const info: VhdInfo = {
    type: L.type,
    virtualSize: L.size,
    fileSize: L.fileSize,
    sizeRule: L.sizeRule,
    currentSize: Number(f.currentSize),
    originalSize: f.originalSize.toString(),
    creator: {
      application: printableCreator(f.creatorApplication),
      version: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`,
      hostOs: fourCc(f.creatorHostOs),
    },
    geometry: { cylinders: f.cylinders, heads: f.heads, sectorsPerTrack: f.sectorsPerTrack },
    uniqueId: uuidToString(f.uniqueId),
    timestamp: dateFromVhdTimestamp(f.timestamp).toISOString(),
    savedState: f.savedState === 1,
    warnings: [...L.warnings],
  };
  if (L.type !== 'fixed') {
    let allocated = 0;
    for (const e of L.bat) if (e !== BAT_UNUSED) allocated++;
    info.blockSize = L.blockSize;
    info.blocks = { allocated, total: L.bat.length };
  }
  if (L.type === 'differencing') {
    const h = L.header!;
    info.parent = {
      uniqueId: uuidToString(h.parentUniqueId),
      timestamp: dateFromVhdTimestamp(h.parentTimestamp).toISOString(),
      name: h.parentUnicodeName,
      locators: L.locators.map((l) => ({ kind: l.kind, text: l.text })),
    };
  }
  return info;
}

export interface CheckReport {
  /** Problems: the image cannot be used as it is (or its parent cannot be found). */
  errors: string[];
  /** Findings that do not stop use, e.g. leaked space or a CHS/current size mismatch. */
  warnings: string[];
  /** Bytes between blocks that no BAT entry references (left by interrupted allocations). */
  leakedBytes: number;
  info?: VhdInfo;
}

/**
 * Validate an image as open() would, plus: a damaged trailing footer, space no block uses,
 * and, for differencing disks with a resolver, that the parent is found and matches.
 */
export async function checkVhd(store: BlockStore, opts: { openParent?: OpenParent } = {}): Promise<CheckReport> {
  const report: CheckReport = { errors: [], warnings: [], leakedBytes: 0 };
  let L: VhdLayout;
  try {
    L = await loadLayout(store);
  } catch (e) {
    if (e instanceof VhdError) {
      report.errors.push(e.message);
      return report;
    }
    throw e;
  }
  report.info = describeLayout(L);
  for (const w of L.warnings) {
    if (L.footerSource === 'head-copy' && w.startsWith('trailing footer')) report.errors.push(w);
    else report.warnings.push(w);
  }
  if (L.type !== 'fixed') {
    const blockBytes = L.bitmapBytes + L.blockSize;
    const starts = Array.from(L.bat).filter((e) => e !== BAT_UNUSED).map((e) => e * VHD_SECTOR).sort((a, b) => a - b);
    let cursor = L.metadataEnd;
    for (const s of starts) {
      if (s >= cursor) report.leakedBytes += s - cursor;
      cursor = Math.max(cursor, s + blockBytes);
    }
    if (L.footerOffset > cursor) report.leakedBytes += L.footerOffset - cursor;
    if (report.leakedBytes > 0) {
      report.warnings.push(`${report.leakedBytes} bytes of the file are not used by any block (compact reclaims them)`);
    }
  }
  if (L.type === 'differencing') {
    if (!opts.openParent) {
      report.warnings.push(`parent not checked (expects unique id ${parentRef(L).uniqueId})`);
    } else {
      try {
        const d = await VhdDisk.open(store, { readOnly: true, openParent: opts.openParent });
        for (const w of d.warnings) if (!L.warnings.includes(w)) report.warnings.push(w);
        await d.parent?.close();
      } catch (e) {
        if (!(e instanceof VhdError)) throw e;
        report.errors.push(e.message);
      }
    }
  }
  return report;
}

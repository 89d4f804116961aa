// A VHD image (fixed, dynamic or differencing) as a BlockDevice over a BlockStore.
//
// Bitmaps: pvlab keeps EXACT sector bitmaps, also in dynamic disks (qemu sets all bits when
// it allocates a block). A bit is set only for sectors written through this disk. A new
// block's data area is always the zero-filled extension of the file, so readers that ignore
// bitmaps in dynamic disks (qemu does) see the same contents, and `compact` can tell which
// blocks were never written.
//
// Write ordering and what an interruption can lose (in the order the store sees writes;
// FileStore reorders nothing but the OS may until flush(); the IndexedDB store commits
// everything between two flushes in one transaction unless its cache overflows):
//   allocating block i at the old end of the file E:
//     1. footer at E + bitmap + blockSize (the new end: the file's tail is a valid footer at
//        every step; the old footer bytes at E are now unreferenced)
//     2. the data sectors into the new block
//     3. the block's bitmap at E (bits set only for the sectors just written)
//     4. the BAT entry: the block becomes visible in one 4-byte write
//   Interrupted before 4: the write is lost, the file is valid, the new area is leaked
//   (`check` reports it, `compact` reclaims it). After 4: the write is complete.
//   writing to an allocated block: data, then the bitmap bytes that gain bits. Interrupted
//   between the two: the new sectors still read as before (zeros / the parent). Overwriting
//   sectors already present can leave a torn sector, as on any disk.
// A fixed disk writes in place; the footer never moves.

import { BlockDevice, mergeRuns, SECTOR_SIZE, type SectorRun } from './block-device';
import type { BlockStore } from './block-store';
import { SerialQueue } from './serial-queue';
import {
  BAT_UNUSED, DEFAULT_BLOCK_SIZE, DISK_TYPE_DIFFERENCING, DISK_TYPE_DYNAMIC, DISK_TYPE_FIXED, FEATURE_RESERVED,
  FOOTER_COOKIE, HEADER_COOKIE, HOST_OS_WINDOWS, NO_OFFSET, PARENT_LOCATOR_COUNT, PLATFORM_MACX, PLATFORM_W2KU,
  PLATFORM_W2RU, PVLAB_CREATOR_APP, PVLAB_CREATOR_VERSION, VHD_FOOTER_SIZE, VHD_HEADER_SIZE, VHD_SECTOR, VHD_VERSION,
  VhdError, batSizeOnDisk, bitmapGet, bitmapRun, bitmapSet, bitmapSize, chsSectors, emptyLocator, encodeBat,
  encodeBatEntry, encodeLocatorData, isChsMaxMarker, isValidBlockSize, isZero, roundUp, serializeFooter,
  serializeHeader, sizeForCreate, uuidEquals, uuidToString, vhdTimestamp, type ChsGeometry, type SizeRule,
  type VhdDiskTypeName, type VhdFooter, type VhdHeader, type VhdParentLocator, CHS_MAX_CYLINDERS, CHS_MAX_HEADS,
  CHS_MAX_SECTORS, MAX_DISK_SIZE, PLATFORM_WI2K, PLATFORM_WI2R,
} from './vhd-format';
import { loadLayout, type ParentLocatorInfo, type VhdLayout } from './vhd-layout';

/** What a differencing disk knows about its parent, handed to the caller's resolver. */
export interface ParentRef {
  /** The parent footer's unique id that the child expects. */
  uniqueId: string;
  /** Parent modification time recorded in the child (seconds since 2000-01-01). */
  timestamp: number;
  /** The header's parent unicode name (usually the parent's file name). */
  unicodeName: string;
  /** Candidate names, most useful first: W2ru, W2ku, MacX, Wi2r, Wi2k, then the unicode name. */
  names: string[];
  locators: ParentLocatorInfo[];
}

/** Opens the parent of a differencing disk. Matching by unique id is checked by VhdDisk. */
export type OpenParent = (ref: ParentRef, mode: { readOnly: boolean }) => Promise<VhdDisk>;

export interface VhdOpenOptions {
  /** Default: the store's own read-only flag. */
  readOnly?: boolean;
  /** Which size to trust: 'auto' follows the creator (see vhd-format.ts chooseSizeRule). */
  sizeRule?: SizeRule;
  /** Needed for differencing disks. */
  openParent?: OpenParent;
  /** Open the parent writable, for commit(). */
  writableParent?: boolean;
}

export interface ParentLocatorSpec {
  platform: 'W2ru' | 'W2ku' | 'MacX';
  path: string;
}

export interface VhdCreateOptions {
  type: VhdDiskTypeName;
  /** Bytes; required for fixed and dynamic. Differencing disks take the parent's size. */
  size?: number;
  /** Keep the size exact (rounded to a sector) with the CHS 65535/16/255 marker, like qemu's force_size. */
  exactSize?: boolean;
  /** Dynamic/differencing block size, default 2 MiB. */
  blockSize?: number;
  /** Creation time for the footer timestamp (the engine never reads the clock itself). */
  now: Date;
  /** 16 bytes, e.g. uuidV4(entropy). */
  uniqueId: Uint8Array;
  /** Differencing: the parent, open. */
  parent?: VhdDisk;
  /** Differencing: the parent's file name for the header's unicode name field. */
  parentName?: string;
  /** Differencing: locators to write (Windows writes W2ku and W2ru). */
  parentLocators?: ParentLocatorSpec[];
}

export interface CompactResult {
  sizeBefore: number;
  sizeAfter: number;
  droppedBlocks: number;
  movedBlocks: number;
}

/** Work in pieces of this size when copying, so memory stays bounded whatever the disk size. */
const PIECE = 1024 * 1024;
/** Cached bitmaps, in bytes, before the cache is emptied. */
const BITMAP_CACHE_BYTES = 8 * 1024 * 1024;

export class VhdDisk implements BlockDevice {
  readonly readOnly: boolean;
  private readonly queue = new SerialQueue();
  private readonly bitmaps = new Map<number, Uint8Array>();
  private bitmapCacheBytes = 0;
  private closed = false;

  private constructor(
    private readonly store: BlockStore,
    private readonly layoutData: VhdLayout,
    readOnly: boolean,
    readonly parent: VhdDisk | undefined,
  ) {
    this.readOnly = readOnly;
  }

  /** Validate the image and open it. Every problem is a VhdError naming it. */
  static async open(store: BlockStore, opts: VhdOpenOptions = {}): Promise<VhdDisk> {
    const readOnly = opts.readOnly ?? store.readOnly;
    if (!readOnly && store.readOnly) throw new VhdError('cannot open read-write: the store is read-only');
    const layout = await loadLayout(store, opts.sizeRule);
    if (layout.footerSource === 'head-copy' && !readOnly) {
      throw new VhdError('trailing footer is missing or damaged; open read-only to recover the data');
    }
    let parent: VhdDisk | undefined;
    if (layout.type === 'differencing') {
      if (!opts.openParent) throw new VhdError('differencing disk: no way to open its parent was given');
      const ref = parentRef(layout);
      parent = await opts.openParent(ref, { readOnly: !opts.writableParent });
      if (!uuidEquals(parent.footer.uniqueId, layout.header!.parentUniqueId)) {
        const got = uuidToString(parent.footer.uniqueId);
        await parent.close();
        throw new VhdError(`parent unique id mismatch: child expects ${ref.uniqueId}, parent is ${got}`);
      }
      if (parent.footer.timestamp !== layout.header!.parentTimestamp) {
        layout.warnings.push('parent timestamp differs from the one recorded in the child');
      }
      if (parent.size !== layout.size) {
        layout.warnings.push(`parent size ${parent.size} differs from the child's ${layout.size}`);
      }
    }
    return new VhdDisk(store, layout, readOnly, parent);
  }

  /** Make a new image in an empty store and open it read-write. */
  static async create(store: BlockStore, opts: VhdCreateOptions): Promise<VhdDisk> {
    if (store.size !== 0) throw new VhdError(`create: the store is not empty (${store.size} bytes)`);
    if (opts.uniqueId.length !== 16) throw new VhdError('create: unique id must be 16 bytes');
    let size: number;
    let geometry: ChsGeometry;
    if (opts.type === 'differencing') {
      const p = opts.parent;
      if (!p) throw new VhdError('create: a differencing disk needs a parent');
      if (opts.size !== undefined && opts.size !== p.size) {
        throw new VhdError(`create: a differencing disk has its parent's size (${p.size}), not ${opts.size}`);
      }
      size = p.size;
      // Keep the parent's CHS when it describes the size exactly; otherwise the marker makes
      // every reader use the current size.
      geometry = chsSectors(p.footer) * VHD_SECTOR === size && !isChsMaxMarker(p.footer)
        ? { cylinders: p.footer.cylinders, heads: p.footer.heads, sectorsPerTrack: p.footer.sectorsPerTrack }
        : { cylinders: CHS_MAX_CYLINDERS, heads: CHS_MAX_HEADS, sectorsPerTrack: CHS_MAX_SECTORS };
    } else {
      if (opts.parent) throw new VhdError(`create: a ${opts.type} disk has no parent`);
      if (opts.size === undefined) throw new VhdError('create: size is required');
      ({ size, geometry } = sizeForCreate(opts.size, opts.exactSize));
    }
    if (size > MAX_DISK_SIZE) throw new VhdError('create: size above 2040 GiB');
    const footer: VhdFooter = {
      cookie: FOOTER_COOKIE,
      features: FEATURE_RESERVED,
      fileFormatVersion: VHD_VERSION,
      dataOffset: opts.type === 'fixed' ? NO_OFFSET : BigInt(VHD_FOOTER_SIZE),
      timestamp: vhdTimestamp(opts.now),
      creatorApplication: PVLAB_CREATOR_APP,
      creatorVersion: PVLAB_CREATOR_VERSION,
      creatorHostOs: HOST_OS_WINDOWS,
      originalSize: BigInt(size),
      currentSize: BigInt(size),
      cylinders: geometry.cylinders,
      heads: geometry.heads,
      sectorsPerTrack: geometry.sectorsPerTrack,
      diskType: opts.type === 'fixed' ? DISK_TYPE_FIXED : opts.type === 'dynamic' ? DISK_TYPE_DYNAMIC : DISK_TYPE_DIFFERENCING,
      checksum: 0,
      uniqueId: opts.uniqueId.slice(),
      savedState: 0,
    };
    const footerBytes = serializeFooter(footer);

    if (opts.type === 'fixed') {
      // The data area is the zero-filled gap in front of the footer (sparse where possible).
      await store.write(size, footerBytes);
      await store.flush();
      return VhdDisk.open(store, { readOnly: false });
    }

    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!isValidBlockSize(blockSize)) throw new VhdError(`create: block size ${blockSize} is not a power of two in range`);
    const entries = Math.ceil(size / blockSize);
    // Layout: footer copy @0, header @512, locator data, BAT, then blocks, then the footer.
    let cursor = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
    const locators: VhdParentLocator[] = [];
    const locatorData: { offset: number; data: Uint8Array }[] = [];
    for (const spec of opts.parentLocators ?? []) {
      if (opts.type !== 'differencing') throw new VhdError('create: only differencing disks have parent locators');
      if (locators.length >= PARENT_LOCATOR_COUNT) throw new VhdError('create: at most 8 parent locators');
      const code = spec.platform === 'W2ru' ? PLATFORM_W2RU : spec.platform === 'W2ku' ? PLATFORM_W2KU : PLATFORM_MACX;
      const data = encodeLocatorData(code, spec.path);
      const space = Math.max(1, Math.ceil(data.length / VHD_SECTOR));
      locators.push({ platformCode: code, platformDataSpace: space, platformDataLength: data.length, reserved: 0, platformDataOffset: BigInt(cursor) });
      locatorData.push({ offset: cursor, data });
      cursor += space * VHD_SECTOR;
    }
    while (locators.length < PARENT_LOCATOR_COUNT) locators.push(emptyLocator());
    const tableOffset = cursor;
    const bat = new Uint32Array(entries).fill(BAT_UNUSED);
    const batBytes = encodeBat(bat);
    const footerAt = tableOffset + batSizeOnDisk(entries);
    const parent = opts.parent;
    const header: VhdHeader = {
      cookie: HEADER_COOKIE,
      dataOffset: NO_OFFSET,
      tableOffset: BigInt(tableOffset),
      headerVersion: VHD_VERSION,
      maxTableEntries: entries,
      blockSize,
      checksum: 0,
      parentUniqueId: parent ? parent.footer.uniqueId.slice() : new Uint8Array(16),
      // The parent footer's timestamp: a browser store has no file modification time.
      parentTimestamp: parent ? parent.footer.timestamp : 0,
      reserved1: 0,
      parentUnicodeName: parent ? (opts.parentName ?? '') : '',
      parentLocators: locators,
    };
    // Tail footer first, so the store's length is final; the copy at 0 last, so a
    // half-written file is never taken for a VHD.
    await store.write(footerAt, footerBytes);
    await store.write(tableOffset, batBytes);
    for (const l of locatorData) await store.write(l.offset, l.data);
    await store.write(VHD_FOOTER_SIZE, serializeHeader(header));
    await store.write(0, footerBytes);
    await store.flush();
    return VhdDisk.open(store, { readOnly: false, openParent: parent ? async () => parent : undefined });
  }

  // -------------------------------------------------------------------------------------------
  // What the disk is

  get size(): number {
    return this.layoutData.size;
  }
  get type(): VhdDiskTypeName {
    return this.layoutData.type;
  }
  get footer(): VhdFooter {
    return this.layoutData.footer;
  }
  get header(): VhdHeader | undefined {
    return this.layoutData.header;
  }
  get uniqueId(): string {
    return uuidToString(this.layoutData.footer.uniqueId);
  }
  /** Checked metadata; treat as read-only. */
  get layout(): Readonly<VhdLayout> {
    return this.layoutData;
  }
  get warnings(): readonly string[] {
    return this.layoutData.warnings;
  }
  /** Number of allocated blocks (0 for fixed disks). */
  get allocatedBlocks(): number {
    let n = 0;
    for (const e of this.layoutData.bat) if (e !== BAT_UNUSED) n++;
    return n;
  }
  /** Length of the image file in bytes. */
  get storedSize(): number {
    return this.store.size;
  }

  // -------------------------------------------------------------------------------------------
  // BlockDevice

  async read(sector: number, dst: Uint8Array): Promise<void> {
    this.checkRequest('read', sector, dst);
    return this.queue.run(() => this.readUnlocked(sector, dst));
  }

  async write(sector: number, src: Uint8Array): Promise<void> {
    this.checkRequest('write', sector, src);
    if (this.readOnly) throw new VhdError('write: disk is open read-only');
    return this.queue.run(() => this.writeUnlocked(sector, src));
  }

  flush(): Promise<void> {
    return this.queue.run(async () => {
      if (!this.readOnly) await this.store.flush();
    });
  }

  /** Runs of sectors that may hold data: this file's (bit set) and its parents'; a fixed disk is one run. */
  dataRanges(): Promise<SectorRun[]> {
    return this.queue.run(async () => {
      if (this.type === 'fixed') return [{ sector: 0, count: this.size / VHD_SECTOR }];
      const runs: SectorRun[] = [];
      await this.forEachPresentRun(async (sector, count) => { runs.push({ sector, count }); });
      if (this.parent) runs.push(...await this.parent.dataRanges());
      return mergeRuns(runs);
    });
  }

  /** Flush, then close the store and the parent chain. */
  close(): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) return;
      this.closed = true;
      if (!this.readOnly) await this.store.flush();
      await this.store.close?.();
      await this.parent?.close();
    });
  }

  private checkRequest(what: string, sector: number, buf: Uint8Array): void {
    if (this.closed) throw new VhdError(`${what}: disk is closed`);
    if (!Number.isSafeInteger(sector) || sector < 0 || buf.length % SECTOR_SIZE !== 0) {
      throw new VhdError(`${what}: bad request (sector ${sector}, ${buf.length} bytes)`);
    }
    if (sector * SECTOR_SIZE + buf.length > this.size) {
      throw new VhdError(`${what}: ${buf.length / SECTOR_SIZE} sectors at sector ${sector} go past the end of the disk (${this.size / SECTOR_SIZE} sectors)`);
    }
  }

  private async readUnlocked(sector: number, dst: Uint8Array): Promise<void> {
    if (dst.length === 0) return;
    if (this.type === 'fixed') {
      dst.set(await this.store.read(sector * VHD_SECTOR, dst.length));
      return;
    }
    await this.forEachBlockSpan(sector, dst.length / VHD_SECTOR, async (i, k, n, done) => {
      await this.readInBlock(i, k, n, dst.subarray(done * VHD_SECTOR, (done + n) * VHD_SECTOR), sector + done);
    });
  }

  private async writeUnlocked(sector: number, src: Uint8Array): Promise<void> {
    if (src.length === 0) return;
    if (this.type === 'fixed') {
      await this.store.write(sector * VHD_SECTOR, src);
      return;
    }
    await this.forEachBlockSpan(sector, src.length / VHD_SECTOR, async (i, k, n, done) => {
      await this.writeInBlock(i, k, n, src.subarray(done * VHD_SECTOR, (done + n) * VHD_SECTOR));
    });
  }

  /** Split a sector range at block boundaries: block i, first sector k in it, n sectors. */
  private async forEachBlockSpan(
    sector: number,
    count: number,
    fn: (i: number, k: number, n: number, done: number) => Promise<void>,
  ): Promise<void> {
    const spb = this.layoutData.blockSize / VHD_SECTOR;
    let done = 0;
    while (done < count) {
      const s = sector + done;
      const i = Math.floor(s / spb);
      const k = s - i * spb;
      const n = Math.min(spb - k, count - done);
      await fn(i, k, n, done);
      done += n;
    }
  }

  private dataOffset(i: number, k: number): number {
    return this.layoutData.bat[i] * VHD_SECTOR + this.layoutData.bitmapBytes + k * VHD_SECTOR;
  }

  private async readInBlock(i: number, k: number, n: number, out: Uint8Array, firstSector: number): Promise<void> {
    if (this.layoutData.bat[i] === BAT_UNUSED) {
      await this.readBelow(firstSector, out);
      return;
    }
    const bm = await this.bitmap(i);
    for (let j = k; j < k + n; ) {
      const run = bitmapRun(bm, j, k + n);
      const part = out.subarray((j - k) * VHD_SECTOR, (j - k + run) * VHD_SECTOR);
      if (bitmapGet(bm, j)) part.set(await this.store.read(this.dataOffset(i, j), part.length));
      else await this.readBelow(firstSector + (j - k), part);
      j += run;
    }
  }

  /** Sectors this file does not hold: zeros, or the parent's (zeros past the parent's end). */
  private async readBelow(sector: number, out: Uint8Array): Promise<void> {
    const p = this.parent;
    let have = 0;
    if (p) {
      have = Math.max(0, Math.min(out.length, p.size - sector * VHD_SECTOR));
      if (have > 0) await p.read(sector, out.subarray(0, have));
    }
    out.fill(0, have);
  }

  private async bitmap(i: number): Promise<Uint8Array> {
    let bm = this.bitmaps.get(i);
    if (!bm) {
      const size = this.layoutData.bitmapBytes;
      bm = await this.store.read(this.layoutData.bat[i] * VHD_SECTOR, size);
      if (this.bitmapCacheBytes + size > BITMAP_CACHE_BYTES) {
        this.bitmaps.clear();
        this.bitmapCacheBytes = 0;
      }
      this.bitmaps.set(i, bm);
      this.bitmapCacheBytes += size;
    }
    return bm;
  }

  private async writeInBlock(i: number, k: number, n: number, data: Uint8Array): Promise<void> {
    const L = this.layoutData;
    if (L.bat[i] === BAT_UNUSED) {
      const at = roundUp(L.footerOffset, VHD_SECTOR);
      const end = at + L.bitmapBytes + L.blockSize;
      if (at / VHD_SECTOR >= BAT_UNUSED) throw new VhdError('write: the file would outgrow the reach of 32-bit BAT entries');
      // Steps 1-4 of the ordering described at the top of this file.
      await this.store.write(end, L.footerBytes);
      L.footerOffset = end;
      L.dataEnd = end;
      L.footerSource = 'tail';
      await this.store.write(at + L.bitmapBytes + k * VHD_SECTOR, data);
      const bm = new Uint8Array(L.bitmapBytes);
      for (let j = k; j < k + n; j++) bitmapSet(bm, j);
      await this.store.write(at, bm);
      await this.store.write(L.tableOffset + i * 4, encodeBatEntry(at / VHD_SECTOR));
      L.bat[i] = at / VHD_SECTOR;
      this.bitmaps.set(i, bm);
      this.bitmapCacheBytes += bm.length;
      return;
    }
    await this.store.write(this.dataOffset(i, k), data);
    const bm = await this.bitmap(i);
    let lo = -1;
    let hi = -1;
    for (let j = k; j < k + n; j++) {
      if (bitmapGet(bm, j)) continue;
      bitmapSet(bm, j);
      if (lo < 0) lo = j >>> 3;
      hi = j >>> 3;
    }
    if (lo >= 0) await this.store.write(L.bat[i] * VHD_SECTOR + lo, bm.slice(lo, hi + 1));
  }

  // -------------------------------------------------------------------------------------------
  // Whole-image operations

  /**
   * Merge this differencing disk into its parent: every sector present here is written to
   * the parent (which must have been opened with writableParent). The child is left as it
   * was and still reads the same. Interrupted, it can simply be run again.
   */
  commit(): Promise<{ sectors: number }> {
    return this.queue.run(async () => {
      if (this.type !== 'differencing') throw new VhdError(`commit: a ${this.type} disk has no parent`);
      const p = this.parent!;
      if (p.readOnly) throw new VhdError('commit: the parent is open read-only');
      if (p.size < this.size) throw new VhdError(`commit: parent (${p.size} bytes) is smaller than the child (${this.size})`);
      let sectors = 0;
      await this.forEachPresentRun(async (sector, count) => {
        for (let off = 0; off < count; off += PIECE / VHD_SECTOR) {
          const n = Math.min(PIECE / VHD_SECTOR, count - off);
          const buf = new Uint8Array(n * VHD_SECTOR);
          await this.readUnlocked(sector + off, buf);
          await p.write(sector + off, buf);
        }
        sectors += count;
      });
      await p.flush();
      return { sectors };
    });
  }

  /** Call fn for each run of sectors this file holds (bit set), within the disk size. */
  private async forEachPresentRun(fn: (sector: number, count: number) => Promise<void>): Promise<void> {
    const L = this.layoutData;
    const spb = L.blockSize / VHD_SECTOR;
    const diskSectors = this.size / VHD_SECTOR;
    for (let i = 0; i < L.bat.length && i * spb < diskSectors; i++) {
      if (L.bat[i] === BAT_UNUSED) continue;
      const bm = await this.bitmap(i);
      const end = Math.min(spb, diskSectors - i * spb);
      for (let j = 0; j < end; ) {
        const run = bitmapRun(bm, j, end);
        if (bitmapGet(bm, j)) await fn(i * spb + j, run);
        j += run;
      }
    }
  }

  /**
   * Shrink the file in place: drop blocks that hold nothing (no bit set, or in a dynamic
   * disk only zero sectors; blocks past the disk's end), then move later blocks down into
   * the holes and truncate. Each block move copies into free space first and then switches
   * its BAT entry, so an interruption leaves a valid file (with some space still leaked).
   */
  compact(): Promise<CompactResult> {
    return this.queue.run(async () => {
      const L = this.layoutData;
      if (this.type === 'fixed') throw new VhdError('compact: a fixed disk has no blocks to drop');
      if (this.readOnly) throw new VhdError('compact: disk is open read-only');
      if (!this.store.truncate) throw new VhdError('compact: this store cannot shrink');
      const sizeBefore = this.store.size;
      const spb = L.blockSize / VHD_SECTOR;
      const diskSectors = this.size / VHD_SECTOR;
      let droppedBlocks = 0;
      for (let i = 0; i < L.bat.length; i++) {
        if (L.bat[i] === BAT_UNUSED) continue;
        if (i * spb < diskSectors && !(await this.blockIsEmpty(i, Math.min(spb, diskSectors - i * spb)))) continue;
        await this.store.write(L.tableOffset + i * 4, encodeBatEntry(BAT_UNUSED));
        L.bat[i] = BAT_UNUSED;
        this.dropBitmap(i);
        droppedBlocks++;
      }
      const blockBytes = L.bitmapBytes + L.blockSize;
      const order: number[] = [];
      for (let i = 0; i < L.bat.length; i++) if (L.bat[i] !== BAT_UNUSED) order.push(i);
      order.sort((a, b) => L.bat[a] - L.bat[b]);
      let cursor = L.metadataEnd;
      let movedBlocks = 0;
      for (const i of order) {
        const from = L.bat[i] * VHD_SECTOR;
        if (from < cursor) continue; // a block placed among the metadata by its writer: leave it
        if (from !== cursor && cursor + blockBytes <= from) {
          for (let off = 0; off < blockBytes; off += PIECE) {
            const n = Math.min(PIECE, blockBytes - off);
            await this.store.write(cursor + off, await this.store.read(from + off, n));
          }
          await this.store.write(L.tableOffset + i * 4, encodeBatEntry(cursor / VHD_SECTOR));
          L.bat[i] = cursor / VHD_SECTOR;
          movedBlocks++;
          cursor += blockBytes;
        } else {
          cursor = from + blockBytes;
        }
      }
      if (cursor < L.footerOffset) {
        // New footer inside the file first; the truncation then makes it the tail.
        await this.store.write(cursor, L.footerBytes);
        await this.store.truncate(cursor + VHD_FOOTER_SIZE);
        L.footerOffset = cursor;
        L.dataEnd = cursor;
      }
      await this.store.flush();
      return { sizeBefore, sizeAfter: this.store.size, droppedBlocks, movedBlocks };
    });
  }

  private dropBitmap(i: number): void {
    const bm = this.bitmaps.get(i);
    if (bm) {
      this.bitmaps.delete(i);
      this.bitmapCacheBytes -= bm.length;
    }
  }

  /** True if block i holds nothing a reader could see (checks the first `sectors` sectors). */
  private async blockIsEmpty(i: number, sectors: number): Promise<boolean> {
    const bm = await this.bitmap(i);
    for (let j = 0; j < sectors; ) {
      const run = bitmapRun(bm, j, sectors);
      if (bitmapGet(bm, j)) {
        // In a differencing disk a present sector hides the parent, even if it is zero.
        if (this.type === 'differencing') return false;
        for (let off = 0; off < run; off += PIECE / VHD_SECTOR) {
          const n = Math.min(PIECE / VHD_SECTOR, run - off);
          if (!isZero(await this.store.read(this.dataOffset(i, j + off), n * VHD_SECTOR))) return false;
        }
      }
      j += run;
    }
    return true;
  }
}

/** Names to try for the parent, from the child's header and locators. */
export function parentRef(layout: VhdLayout): ParentRef {
  const h = layout.header!;
  const byKind = (code: number) => layout.locators.filter((l) => l.platformCode === code && l.text).map((l) => l.text!);
  const names = [
    ...byKind(PLATFORM_W2RU), ...byKind(PLATFORM_W2KU), ...byKind(PLATFORM_MACX),
    ...byKind(PLATFORM_WI2R), ...byKind(PLATFORM_WI2K),
  ];
  if (h.parentUnicodeName) names.push(h.parentUnicodeName);
  return {
    uniqueId: uuidToString(h.parentUniqueId),
    timestamp: h.parentTimestamp,
    unicodeName: h.parentUnicodeName,
    names: [...new Set(names)],
    locators: layout.locators,
  };
}

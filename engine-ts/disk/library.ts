// The disk library: the VHD images a browser keeps in IndexedDB, for the page (list, create,
// import, export, delete, rename) and for machine workers (`openDisk(id)` -> BlockDevice).
//
// Storage: a metadata record per disk in its own idb-keyval store ('pvlab-disk-library' /
// 'disks'); the image bytes in the chunked store (engine-ts/disk/idb-store.ts) under a
// separate image key, so an import can replace a disk's contents by switching one record.
// Ordering that keeps this consistent across crashes: a record is written before its image's
// chunks and deleted before them, so image keys no record names are garbage (collected by
// list()); a record left 'importing' by a closed tab is found by its free lock.
//
// Two writers: every disk has a Web Lock 'pvlab-disk:<id>' (navigator.locks, shared by the
// page, its workers and other tabs). Writers, deletes and imports over a disk take it
// exclusively; readers, exports and the parents of open differencing disks take it shared.
// Requests never wait: a disk in use gives a DiskLibraryError('busy') at once.
// Clock and entropy come from the host object (the page/worker boundary), not from here.

import { createStore, del, get, set, update, values, type UseStore } from 'idb-keyval';
import type { BlockDevice, SectorRun } from './block-device';
import type { BlockStore } from './block-store';
import { BlockStoreError, checkRange } from './block-store';
import { ChunkedStore, type ChunkBackend } from './chunked-store';
import { IdbChunkBackend, countIdbChunks, createDiskStore, deleteIdbStore, listIdbStores } from './idb-store';
import { BAT_UNUSED, MAX_DISK_SIZE, VhdError, uuidToString, uuidV4 } from './vhd-format';
import { loadLayout, type VhdLayout } from './vhd-layout';
import { VhdDisk } from './vhd';
import { rawToVhd } from './vhd-tools';

export type { BlockDevice } from './block-device';

export type DiskType = 'fixed' | 'dynamic' | 'differencing';

/** One disk as the library lists it. Times are milliseconds since 1970 (host clock). */
export interface DiskInfo {
  id: string;
  name: string;
  type: DiskType;
  /** Size the guest sees, in bytes. */
  virtualSize: number;
  /** Length of the VHD file (what an export produces), in bytes. */
  fileSize: number;
  /** Bytes the image takes in IndexedDB before the browser's own compression (zero areas cost nothing). */
  storedBytes: number;
  created: number;
  modified: number;
  /** Open by a machine (or being exported): it cannot be deleted or replaced now. */
  inUse: boolean;
  /** Differencing disks: the disk holding the parent image. */
  parentId?: string;
}

export interface StorageInfo {
  /** Bytes this origin uses, and may use, as the browser estimates them. */
  usage: number;
  quota: number;
  /** Whether the browser promised not to evict this origin's data (null: unknown). */
  persisted: boolean | null;
}

export interface CreateDiskOptions {
  name: string;
  type: 'fixed' | 'dynamic';
  /** Requested size in bytes; rounded up to a sector and to a CHS geometry, as qemu-img does. */
  size: number;
  /** Keep `size` exactly (a whole number of sectors), as qemu-img's force_size does. */
  exactSize?: boolean;
}

export interface ImportOptions {
  /** Default: the file name without its extension. */
  name?: string;
  /** 'auto' (default): by extension (.vhd / .img .raw .bin .iso), else by looking for a VHD footer. */
  format?: 'auto' | 'vhd' | 'raw';
  /** Replace this disk's contents (keeps its id and name unless `name` is given). */
  replace?: string;
  /** Called after each piece with bytes of the file processed so far. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ChangeResult {
  disk: DiskInfo;
  /** Result of navigator.storage.persist() (null: not supported here). */
  persisted: boolean | null;
  /** Non-fatal findings about an imported image. */
  warnings: string[];
}

export interface OpenDiskOptions {
  /** Default false. A writable open needs the disk to be free; read-only opens may share. */
  readOnly?: boolean;
  /** Chunk cache in MiB (default 32). */
  cacheMiB?: number;
}

/** An open library disk: a BlockDevice plus close() (flushes and releases the disk's lock). */
export interface LibraryDisk extends BlockDevice {
  readonly id: string;
  readonly type: DiskType;
  close(): Promise<void>;
}

export type DiskLibraryErrorCode = 'not-found' | 'busy' | 'invalid' | 'quota' | 'aborted' | 'damaged' | 'unavailable';

export class DiskLibraryError extends Error {
  constructor(readonly code: DiskLibraryErrorCode, message: string) {
    super(message);
    this.name = 'DiskLibraryError';
  }
}

// ---------------------------------------------------------------------------------------------
// What the library runs on (IndexedDB + Web Locks in a browser; memory in tests)

/** The metadata records (one per disk, keyed by id). Values come back untrusted. */
export interface DiskRecordBackend {
  get(id: string): Promise<unknown>;
  put(id: string, record: unknown): Promise<void>;
  /** Atomic read-modify-write; `fn` may throw to abort without writing. */
  update(id: string, fn: (old: unknown) => unknown): Promise<void>;
  delete(id: string): Promise<void>;
  all(): Promise<unknown[]>;
}

/** The image bytes, one chunk key-space per image key. */
export interface DiskImageBackend {
  chunks(key: string): ChunkBackend;
  delete(key: string): Promise<void>;
  /** Number of chunks held for the image. */
  count(key: string): Promise<number>;
  /** Every image key that holds something. */
  keys(): Promise<string[]>;
}

/** The part of the Web Locks API the library uses (navigator.locks fits). */
export interface LockManagerLike {
  request(name: string, options: { mode: 'exclusive' | 'shared'; ifAvailable: true }, cb: (lock: unknown) => unknown): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

/** The part of navigator.storage the library uses. */
export interface StorageManagerLike {
  estimate?(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export interface DiskLibraryHost {
  records: DiskRecordBackend;
  images: DiskImageBackend;
  locks: LockManagerLike;
  storage?: StorageManagerLike;
  /** Host clock, ms since 1970. */
  now(): number;
  /** Host entropy (ids, VHD unique ids). */
  randomBytes(n: number): Uint8Array;
  /** Bytes per IndexedDB value for new images (default IMAGE_CHUNK_SIZE). */
  chunkSize?: number;
    /** Tell other pages/workers that the library changed, and hear about their changes. */
  broadcast?: { post(): void; listen(cb: () => void): () => void };
}

// ---------------------------------------------------------------------------------------------
// Records

interface DiskRecord {
  version: 1;
  id: string;
  name: string;
  /** Key of the image's chunks (changes when an import replaces the contents). */
  image: string;
  state: 'ready' | 'importing';
  type: DiskType;
  virtualSize: number;
  /** The VHD footer's unique id (differencing children name their parent by it). */
  uniqueId: string;
  parentId?: string;
  created: number;
  modified: number;
}

/**
 * Bytes per IndexedDB value for new images: 256 KiB. Chromium keeps values under 64 KiB
 * inline in its database, where random data wrote at about 20 MB/s; bigger values go to files
 * of their own, and bigger ones amortise the per-value cost (npm run bench:disk, raw values:
 * 64 KiB about 100/60 MB/s write/read, 256 KiB about 140/65, 1 MiB about 200/150, on a loaded
 * 2-core machine). 256 KiB keeps a small random write and its commit cheap while sequential
 * I/O, with the chunked store's read-ahead, runs near raw speed.
 */
export const IMAGE_CHUNK_SIZE = 256 * 1024;

const ID_RE = /^[a-z]+-[0-9a-f]{16}$/;
const MAX_NAME = 120;
/** Import and export move data in pieces of this size: memory stays bounded for any file. */
const PIECE = 4 * 1024 * 1024;
const LOCK_PREFIX = 'pvlab-disk:';

function parseRecord(raw: unknown): DiskRecord | undefined {
  const r = raw as Partial<DiskRecord> | null;
  if (typeof r !== 'object' || r === null || r.version !== 1) return undefined;
  if (typeof r.id !== 'string' || !ID_RE.test(r.id) || typeof r.image !== 'string' || !ID_RE.test(r.image)) return undefined;
  if (typeof r.name !== 'string' || (r.state !== 'ready' && r.state !== 'importing')) return undefined;
  if (r.type !== 'fixed' && r.type !== 'dynamic' && r.type !== 'differencing') return undefined;
  if (typeof r.virtualSize !== 'number' || !Number.isSafeInteger(r.virtualSize) || r.virtualSize < 0 || r.virtualSize > MAX_DISK_SIZE) return undefined;
  if (typeof r.uniqueId !== 'string' || typeof r.created !== 'number' || typeof r.modified !== 'number') return undefined;
  if (r.parentId !== undefined && (typeof r.parentId !== 'string' || !ID_RE.test(r.parentId))) return undefined;
  return r as DiskRecord;
}

/** A disk name as typed by a person: trimmed, 1..120 characters, no control characters. */
export function checkDiskName(name: unknown): string {
  if (typeof name !== 'string') throw new DiskLibraryError('invalid', 'a disk name must be text');
  const n = name.trim();
  if (n.length === 0) throw new DiskLibraryError('invalid', 'a disk name cannot be empty');
  if (n.length > MAX_NAME) throw new DiskLibraryError('invalid', `a disk name is at most ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n)) throw new DiskLibraryError('invalid', 'a disk name cannot contain control characters');
  return n;
}

// ---------------------------------------------------------------------------------------------
// The library

export class DiskLibrary {
  private readonly listeners = new Set<() => void>();
  private unlisten?: () => void;

  constructor(private readonly host: DiskLibraryHost) {}

  /** Every disk, oldest first. Also removes what interrupted imports and deletes left behind. */
  async list(): Promise<DiskInfo[]> {
    // Image keys before records: an image always has its record written first (see the top).
    const imageKeys = await this.host.images.keys();
    const records = await this.allRecords();
    const held = await this.heldLocks();
    const live: DiskRecord[] = [];
    for (const r of records) {
      if (r.state === 'importing' && !held.has(LOCK_PREFIX + r.id)) {
        // The tab that imported it is gone: drop the half-written image, unless a replaced
        // disk's record already points at it (the tab stopped between those two writes).
        await this.host.records.delete(r.id);
        if (!records.some((o) => o !== r && o.image === r.image)) await this.host.images.delete(r.image);
      } else if (r.state === 'ready') {
        live.push(r);
      }
    }
    const referenced = new Set(records.map((r) => r.image));
    for (const k of imageKeys) if (!referenced.has(k)) await this.host.images.delete(k);
    const infos = await Promise.all(live.map((r) => this.describe(r, held)));
    return infos.sort((a, b) => a.created - b.created || a.name.localeCompare(b.name));
  }

  async get(id: string): Promise<DiskInfo> {
    return this.describe(await this.record(id), await this.heldLocks());
  }

  /** A new empty disk. */
  async create(opts: CreateDiskOptions): Promise<ChangeResult> {
    const name = checkDiskName(opts.name);
    if (opts.type !== 'fixed' && opts.type !== 'dynamic') throw new DiskLibraryError('invalid', `disk type must be fixed or dynamic (got ${String(opts.type)})`);
    if (!Number.isSafeInteger(opts.size) || opts.size <= 0) throw new DiskLibraryError('invalid', `disk size must be a positive number of bytes (got ${opts.size})`);
    if (opts.size > MAX_DISK_SIZE) throw new DiskLibraryError('invalid', 'disk size is above the VHD limit of 2040 GiB');
    const rec = this.newRecord(name, opts.type);
    const release = await this.lock(rec.id, 'exclusive', name);
    let ready: DiskRecord;
    try {
      await this.host.records.put(rec.id, rec);
      const store = await this.openImage(rec.image, { create: true });
      const disk = await VhdDisk.create(store, { type: opts.type, size: opts.size, exactSize: opts.exactSize, now: new Date(this.host.now()), uniqueId: this.uuid() });
      ready = { ...rec, state: 'ready', virtualSize: disk.size, uniqueId: disk.uniqueId };
      await disk.close();
      await this.host.records.put(rec.id, ready);
    } catch (e) {
      await this.discard(rec);
      throw storageError(e);
    } finally {
      release();
    }
    return this.finishChange(ready, []);
  }

  /** A differencing disk over `parentId` (which then stays read-only while the child exists). */
  async createDifferencing(parentId: string, name: string): Promise<ChangeResult> {
    const n = checkDiskName(name);
    const releases: (() => void)[] = [];
    const rec = { ...this.newRecord(n, 'differencing'), parentId };
    let ready: DiskRecord;
    try {
      releases.push(await this.lock(rec.id, 'exclusive', n));
      const parentRec = await this.record(parentId);
      const parent = await this.openChain(parentId, true, releases, new Set());
      await this.host.records.put(rec.id, rec);
      const store = await this.openImage(rec.image, { create: true });
      const disk = await VhdDisk.create(store, {
        type: 'differencing', now: new Date(this.host.now()), uniqueId: this.uuid(), parent, parentName: `${parentRec.name}.vhd`,
      });
      ready = { ...rec, state: 'ready', virtualSize: disk.size, uniqueId: disk.uniqueId };
      await disk.close(); // closes the parent chain too
      await this.host.records.put(rec.id, ready);
    } catch (e) {
      await this.discard(rec);
      throw e instanceof VhdError ? new DiskLibraryError('invalid', e.message) : storageError(e);
    } finally {
      for (const r of releases) r();
    }
    return this.finishChange(ready, []);
  }

  /**
   * Import a disk image file. A VHD is checked completely before anything is stored and is
   * kept byte for byte; a raw image becomes a dynamic VHD. The file is read in 4 MiB pieces.
   */
  async import(file: Blob & { name?: string }, opts: ImportOptions = {}): Promise<ChangeResult> {
    const fileName = file.name ?? 'disk.img';
    const name = checkDiskName(opts.name ?? (fileName.replace(/\.(vhd|img|raw|bin|iso|ima)$/i, '') || 'disk'));
    if (file.size === 0) throw new DiskLibraryError('invalid', `${fileName} is empty`);
    const format = await detectFormat(file, fileName, opts.format ?? 'auto');
    const source = blobStore(file);

    // Validate before storing anything.
    let layout: VhdLayout | undefined;
    let parentId: string | undefined;
    if (format === 'vhd') {
      try {
        layout = await loadLayout(source);
      } catch (e) {
        if (e instanceof VhdError) throw new DiskLibraryError('invalid', `${fileName} is not a valid VHD image: ${e.message}. Nothing was stored.`);
        throw e;
      }
      if (layout.footerSource === 'head-copy') {
        throw new DiskLibraryError('invalid', `${fileName}: the VHD's trailing footer is missing or damaged (repair it, e.g. with qemu-img convert, before importing). Nothing was stored.`);
      }
      if (layout.type === 'differencing') parentId = await this.findParent(layout, fileName);
    } else if (file.size > MAX_DISK_SIZE) {
      throw new DiskLibraryError('invalid', `${fileName} is larger than the VHD limit of 2040 GiB`);
    }
    // The data a dynamic image will need is known from its BAT; fixed and raw images may be
    // mostly zeros (which cost nothing), so for them a full quota shows up while writing.
    if (layout && layout.type !== 'fixed') {
      const blocks = layout.bat.reduce((n, e) => n + (e === BAT_UNUSED ? 0 : 1), 0);
      await this.checkRoom(layout.metadataEnd + blocks * (layout.blockSize + layout.bitmapBytes), fileName);
    }

    let releaseOld: (() => void) | undefined;
    let old: DiskRecord | undefined;
    if (opts.replace !== undefined) {
      releaseOld = await this.lock(opts.replace, 'exclusive');
      try {
        old = await this.record(opts.replace);
        await this.refuseIfParent(old, 'replaced');
      } catch (e) {
        releaseOld();
        throw e;
      }
    }
    if (parentId !== undefined && parentId === old?.id) {
      releaseOld?.();
      throw new DiskLibraryError('invalid', `${fileName} is a child of the disk it would replace`);
    }
    const rec = { ...this.newRecord(name, layout?.type ?? 'dynamic'), parentId };
    const release = await this.lock(rec.id, 'exclusive', name);
    const parentLocks: (() => void)[] = [];
    let result: DiskRecord;
    const warnings = [...(layout?.warnings ?? [])];
    try {
      await this.host.records.put(rec.id, rec);
      const store = await this.openImage(rec.image, { create: true });
      const progress = (done: number) => {
        if (opts.signal?.aborted) throw new DiskLibraryError('aborted', `import of ${fileName} cancelled; nothing was stored`);
        opts.onProgress?.(Math.min(done, file.size), file.size);
      };
      let disk: VhdDisk;
      if (format === 'vhd') {
        for (let off = 0; off < file.size; off += PIECE) {
          progress(off);
          await store.write(off, await source.read(off, Math.min(PIECE, file.size - off)));
        }
        progress(file.size);
        await store.flush();
        // Check what was stored, not only what was read (the file may have changed meanwhile).
        disk = await VhdDisk.open(store, { readOnly: true, openParent: parentId ? () => this.openChain(parentId!, true, parentLocks, new Set()) : undefined });
        if (disk.size !== layout!.size || disk.type !== layout!.type) throw new DiskLibraryError('damaged', `${fileName} changed while it was imported`);
      } else {
        const raw = withProgress(source, progress);
        disk = await rawToVhd(raw, store, { type: 'dynamic', now: new Date(this.host.now()), uniqueId: this.uuid() });
        progress(file.size);
      }
      const ready: DiskRecord = { ...rec, state: 'ready', type: disk.type, virtualSize: disk.size, uniqueId: disk.uniqueId };
      await disk.close();
      if (old) {
        // Switch the old record to the new image in one write, then drop the old image.
        result = { ...ready, id: old.id, name: opts.name !== undefined ? name : old.name, created: old.created };
        await this.host.records.put(old.id, result);
        await this.host.records.delete(rec.id);
        await this.host.images.delete(old.image);
      } else {
        result = ready;
        await this.host.records.put(rec.id, ready);
      }
    } catch (e) {
      await this.discard(rec);
      if (e instanceof VhdError) throw new DiskLibraryError('invalid', `${fileName}: ${e.message}`);
      throw storageError(e);
    } finally {
      for (const r of parentLocks) r();
      release();
      releaseOld?.();
    }
    return this.finishChange(result, warnings);
  }

  /** The VHD file, byte for byte as stored, as a Blob (built from 4 MiB pieces). */
  async export(id: string, onProgress?: (done: number, total: number) => void): Promise<Blob> {
    const parts: Blob[] = [];
    for await (const { bytes, done, total } of this.exportPieces(id)) {
      parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      onProgress?.(done, total);
    }
    return new Blob(parts, { type: 'application/octet-stream' });
  }

  /** The VHD file as a stream (for writing straight to a file without a Blob). */
  exportStream(id: string): ReadableStream<Uint8Array> {
    const it = this.exportPieces(id);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value.bytes);
      },
      async cancel() {
        await it.return(undefined);
      },
    });
  }

  private async *exportPieces(id: string): AsyncGenerator<{ bytes: Uint8Array; done: number; total: number }> {
    const release = await this.lock(id, 'shared');
    try {
      const rec = await this.record(id);
      const store = await this.openImage(rec.image, { readOnly: true });
      for (let off = 0; off < store.size; off += PIECE) {
        const bytes = await store.read(off, Math.min(PIECE, store.size - off));
        yield { bytes, done: off + bytes.length, total: store.size };
      }
    } finally {
      release();
    }
  }

  /** Delete a disk and its image. Refused while it is open or while a differencing disk uses it. */
  async delete(id: string): Promise<void> {
    const release = await this.lock(id, 'exclusive');
    try {
      const rec = await this.record(id);
      await this.refuseIfParent(rec, 'deleted');
      await this.host.records.delete(id);
      await this.host.images.delete(rec.image);
    } finally {
      release();
    }
    this.changed();
  }

  /** Rename (allowed while the disk is in use: only the record changes). */
  async rename(id: string, name: string): Promise<DiskInfo> {
    const n = checkDiskName(name);
    await this.host.records.update(id, (raw) => {
      const r = parseRecord(raw);
      if (!r || r.state !== 'ready') throw new DiskLibraryError('not-found', `no disk with id ${id}`);
      return { ...r, name: n, modified: this.host.now() };
    });
    this.changed();
    return this.get(id);
  }

  /**
   * Open a disk as a BlockDevice (in a machine worker or the page). Writes are cached and
   * committed to IndexedDB by flush() (and when the cache fills); close() flushes and lets
   * other users at the disk again. A differencing disk opens its parents read-only.
   */
  async open(id: string, opts: OpenDiskOptions = {}): Promise<LibraryDisk> {
    const readOnly = opts.readOnly ?? false;
    const releases: (() => void)[] = [];
    try {
      const rec = await this.recordIfExists(id);
      if (!readOnly && rec) await this.refuseIfParent(rec, 'opened for writing');
      const disk = await this.openChain(id, readOnly, releases, new Set(), opts.cacheMiB);
      const opened = new OpenedDisk(id, disk, releases, this);
      this.changed();
      return opened;
    } catch (e) {
      for (const r of releases) r();
      throw e instanceof VhdError ? new DiskLibraryError('damaged', `disk ${id}: ${e.message}`) : e;
    }
  }

  /** Browser storage: usage, quota and whether it is persistent (null where unsupported). */
  async storage(): Promise<StorageInfo | null> {
    const s = this.host.storage;
    if (!s?.estimate) return null;
    const e = await s.estimate();
    const persisted = s.persisted ? await s.persisted() : null;
    return { usage: e.usage ?? 0, quota: e.quota ?? 0, persisted };
  }

  /** Call `cb` whenever a disk is created, changed, opened or closed (here or in another page/worker). */
  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    if (this.listeners.size === 1 && this.host.broadcast) this.unlisten = this.host.broadcast.listen(() => this.emit());
    return () => {
      this.listeners.delete(cb);
      if (this.listeners.size === 0) {
        this.unlisten?.();
        this.unlisten = undefined;
      }
    };
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  /** @internal Open a disk and its parents, taking their locks (pushed to `releases`). */
  async openChain(id: string, readOnly: boolean, releases: (() => void)[], seen: Set<string>, cacheMiB = 32): Promise<VhdDisk> {
    if (seen.has(id)) throw new DiskLibraryError('damaged', `disk ${id} is its own ancestor`);
    seen.add(id);
    releases.push(await this.lock(id, readOnly ? 'shared' : 'exclusive'));
    const rec = await this.record(id);
    if (!Number.isFinite(cacheMiB) || cacheMiB < 1 || cacheMiB > 1024) throw new DiskLibraryError('invalid', `cache size ${cacheMiB} MiB is outside 1..1024`);
    const store = await this.openImage(rec.image, { readOnly, cacheBytes: cacheMiB * 1024 * 1024 });
    const parentId = rec.parentId;
    return VhdDisk.open(store, {
      readOnly,
      openParent: parentId ? () => this.openChain(parentId, true, releases, seen) : undefined,
    });
  }

  /** @internal Record the modification time of a disk written through open(). */
  async touch(id: string): Promise<void> {
    await this.host.records.update(id, (raw) => {
      const r = parseRecord(raw);
      if (!r) throw new DiskLibraryError('not-found', `no disk with id ${id}`);
      return { ...r, modified: this.host.now() };
    });
  }

  /** @internal */
  changed(): void {
    this.emit();
    this.host.broadcast?.post();
  }

  private emit(): void {
    for (const cb of this.listeners) {
      try {
        cb();
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  private async openImage(key: string, o: { create?: boolean; readOnly?: boolean; cacheBytes?: number }): Promise<ChunkedStore> {
    return ChunkedStore.open(this.host.images.chunks(key), {
      create: o.create, readOnly: o.readOnly, cacheBytes: o.cacheBytes ?? 32 * 1024 * 1024, chunkSize: this.host.chunkSize ?? IMAGE_CHUNK_SIZE,
    });
  }

  private async finishChange(rec: DiskRecord, warnings: string[]): Promise<ChangeResult> {
    let persisted: boolean | null = null;
    try {
      if (this.host.storage?.persist) persisted = await this.host.storage.persist();
    } catch {
      persisted = false;
    }
    this.changed();
    return { disk: await this.describe(rec, await this.heldLocks()), persisted, warnings };
  }

  private async describe(r: DiskRecord, held: Set<string>): Promise<DiskInfo> {
    let fileSize = 0;
    let chunkSize = 0;
    try {
      const store = await this.openImage(r.image, { readOnly: true, cacheBytes: 0 });
      fileSize = store.size;
      chunkSize = store.chunkSize;
    } catch {
      /* a damaged image lists with size 0; opening it gives the error */
    }
    const chunks = chunkSize ? await this.host.images.count(r.image) : 0;
    return {
      id: r.id, name: r.name, type: r.type, virtualSize: r.virtualSize, fileSize, storedBytes: chunks * chunkSize,
      created: r.created, modified: r.modified, inUse: held.has(LOCK_PREFIX + r.id), parentId: r.parentId,
    };
  }

  private newRecord(name: string, type: DiskType): DiskRecord {
    const now = this.host.now();
    return {
      version: 1, id: `disk-${this.hex(8)}`, name, image: `img-${this.hex(8)}`, state: 'importing', type,
      virtualSize: 0, uniqueId: '', created: now, modified: now,
    };
  }

  private async discard(rec: DiskRecord): Promise<void> {
    try {
      await this.host.records.delete(rec.id);
      await this.host.images.delete(rec.image);
    } catch {
      /* list() collects what is left */
    }
  }

  private async allRecords(): Promise<DiskRecord[]> {
    const out: DiskRecord[] = [];
    for (const raw of await this.host.records.all()) {
      const r = parseRecord(raw);
      if (r) out.push(r);
    }
    return out;
  }

  private async recordIfExists(id: string): Promise<DiskRecord | undefined> {
    if (typeof id !== 'string' || !ID_RE.test(id)) return undefined;
    const r = parseRecord(await this.host.records.get(id));
    return r && r.state === 'ready' && r.id === id ? r : undefined;
  }

  private async record(id: string): Promise<DiskRecord> {
    const r = await this.recordIfExists(id);
    if (!r) throw new DiskLibraryError('not-found', `no disk with id ${String(id)}`);
    return r;
  }

  private async refuseIfParent(rec: DiskRecord, what: string): Promise<void> {
    const child = (await this.allRecords()).find((r) => r.parentId === rec.id);
    if (child) throw new DiskLibraryError('busy', `disk '${rec.name}' is the parent of differencing disk '${child.name}', so it cannot be ${what}`);
  }

  private async findParent(layout: VhdLayout, fileName: string): Promise<string> {
    const want = uuidToString(layout.header!.parentUniqueId);
    const candidates = (await this.allRecords()).filter((r) => r.state === 'ready' && r.uniqueId === want);
    if (candidates.length === 0) {
      throw new DiskLibraryError('invalid', `${fileName} is a differencing disk whose parent (unique id ${want}) is not in the library: import the parent first. Nothing was stored.`);
    }
    return candidates.sort((a, b) => b.modified - a.modified)[0].id;
  }

  private async checkRoom(bytes: number, fileName: string): Promise<void> {
    const s = await this.storage().catch(() => null);
    if (s && s.quota > 0 && bytes > s.quota - s.usage) {
      throw new DiskLibraryError('quota', `not enough browser storage for ${fileName}: it needs up to ${bytes} bytes, ${Math.max(0, s.quota - s.usage)} are free`);
    }
  }

  private async heldLocks(): Promise<Set<string>> {
    try {
      const q = await this.host.locks.query();
      return new Set((q.held ?? []).map((l) => l.name ?? ''));
    } catch {
      return new Set();
    }
  }

  /** Take a disk's lock without waiting; DiskLibraryError('busy') if someone holds it. */
  private async lock(id: string, mode: 'exclusive' | 'shared', name?: string): Promise<() => void> {
    const release = await tryLock(this.host.locks, LOCK_PREFIX + id, mode);
    if (release) return release;
    let label = name;
    if (!label) label = (await this.recordIfExists(id).catch(() => undefined))?.name ?? id;
    throw new DiskLibraryError('busy', mode === 'exclusive'
      ? `disk '${label}' is in use (attached to a running machine, or being exported): stop using it first`
      : `disk '${label}' is open for writing by a running machine: stop the machine first`);
  }

  private uuid(): Uint8Array {
    return uuidV4(this.host.randomBytes(16));
  }

  private hex(n: number): string {
    return Array.from(this.host.randomBytes(n), (b) => b.toString(16).padStart(2, '0')).join('');
  }
}

class OpenedDisk implements LibraryDisk {
  private written = false;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly disk: VhdDisk,
    private readonly releases: (() => void)[],
    private readonly lib: DiskLibrary,
  ) {}

  get size(): number {
    return this.disk.size;
  }
  get readOnly(): boolean {
    return this.disk.readOnly;
  }
  get type(): DiskType {
    return this.disk.type;
  }

  read(sector: number, dst: Uint8Array): Promise<void> {
    return this.disk.read(sector, dst);
  }

  write(sector: number, src: Uint8Array): Promise<void> {
    this.written = true;
    return this.disk.write(sector, src);
  }

  dataRanges(): Promise<SectorRun[]> {
    return this.disk.dataRanges();
  }

  async flush(): Promise<void> {
    await this.disk.flush();
    await this.noteWrites();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.disk.close();
      await this.noteWrites();
    } finally {
      for (const r of this.releases) r();
      this.lib.changed();
    }
  }

  private async noteWrites(): Promise<void> {
    if (!this.written) return;
    this.written = false;
    await this.lib.touch(this.id);
    this.lib.changed();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Resolve to a release function, or null when the lock is taken (never waits). */
function tryLock(locks: LockManagerLike, name: string, mode: 'exclusive' | 'shared'): Promise<(() => void) | null> {
  return new Promise((resolve, reject) => {
    locks
      .request(name, { mode, ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        // Held until the returned promise settles, i.e. until release() is called.
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(reject);
  });
}

/** A read-only BlockStore over a Blob/File: each read slices only the bytes asked for. */
function blobStore(blob: Blob): BlockStore {
  return {
    size: blob.size,
    readOnly: true,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange({ size: blob.size }, offset, length, 'read');
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.length !== length) throw new BlockStoreError(`the file changed while it was read (got ${bytes.length} of ${length} bytes)`);
      return bytes;
    },
    async write(): Promise<void> {
      throw new BlockStoreError('write: store is read-only');
    },
    async flush(): Promise<void> {},
  };
}

function withProgress(store: BlockStore, progress: (done: number) => void): BlockStore {
  return {
    get size() {
      return store.size;
    },
    readOnly: true,
    async read(offset, length) {
      progress(offset);
      return store.read(offset, length);
    },
    write: (o, d) => store.write(o, d),
    flush: () => store.flush(),
  };
}

async function detectFormat(file: Blob, fileName: string, format: 'auto' | 'vhd' | 'raw'): Promise<'vhd' | 'raw'> {
  if (format !== 'auto' && format !== 'vhd' && format !== 'raw') throw new DiskLibraryError('invalid', `unknown image format ${String(format)}`);
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (String.fromCharCode(...head) === 'vhdxfile') {
    throw new DiskLibraryError('invalid', `${fileName} is a VHDX image (the newer Hyper-V format), which pvlab does not read: convert it with qemu-img convert -O vpc`);
  }
  if (format !== 'auto') return format;
  if (/\.vhd$/i.test(fileName)) return 'vhd';
  if (/\.(img|raw|bin|iso|ima)$/i.test(fileName)) return 'raw';
  const tail = new Uint8Array(await file.slice(Math.max(0, file.size - 512), Math.max(0, file.size - 512) + 8).arrayBuffer());
  return String.fromCharCode(...tail) === 'conectix' || String.fromCharCode(...head) === 'conectix' ? 'vhd' : 'raw';
}

/** Storage failures in words: IndexedDB reports a full quota as a QuotaExceededError. */
function storageError(e: unknown): unknown {
  if (e instanceof DiskLibraryError) return e;
  const name = (e as { name?: string } | null)?.name;
  if (name === 'QuotaExceededError') {
    return new DiskLibraryError('quota', 'the browser refused to store more data (storage quota exceeded); nothing was kept');
  }
  if (e instanceof VhdError) return new DiskLibraryError('invalid', e.message);
  return e;
}

// ---------------------------------------------------------------------------------------------
// The browser library (IndexedDB, Web Locks, navigator.storage, BroadcastChannel)

export const LIBRARY_DATABASE = 'pvlab-disk-library';
export const LIBRARY_STORE = 'disks';
const CHANNEL = 'pvlab-disks';

export function idbRecordBackend(store: UseStore = createStore(LIBRARY_DATABASE, LIBRARY_STORE)): DiskRecordBackend {
  return {
    get: (id) => get(id, store),
    put: (id, r) => set(id, r, store),
    update: (id, fn) => update(id, fn, store),
    delete: (id) => del(id, store),
    all: () => values(store),
  };
}

export function idbImageBackend(store: UseStore = createDiskStore()): DiskImageBackend {
  return {
    chunks: (key) => new IdbChunkBackend(key, store),
    delete: (key) => deleteIdbStore(key, store),
    count: (key) => countIdbChunks(key, store),
    keys: () => listIdbStores(store),
  };
}

/** Web Locks for one JavaScript realm, where navigator.locks is missing (Node). */
export class LocalLocks implements LockManagerLike {
  private held = new Map<string, { mode: 'exclusive' | 'shared'; count: number }>();

  async request(name: string, options: { mode: 'exclusive' | 'shared'; ifAvailable: true }, cb: (lock: unknown) => unknown): Promise<unknown> {
    const h = this.held.get(name);
    if (h && (h.mode === 'exclusive' || options.mode === 'exclusive')) return cb(null);
    if (h) h.count++;
    else this.held.set(name, { mode: options.mode, count: 1 });
    try {
      return await cb({ name, mode: options.mode });
    } finally {
      const e = this.held.get(name)!;
      if (--e.count === 0) this.held.delete(name);
    }
  }

  async query(): Promise<{ held: { name: string }[] }> {
    return { held: [...this.held.keys()].map((name) => ({ name })) };
  }
}

function browserHost(): DiskLibraryHost {
  if (typeof indexedDB === 'undefined') throw new DiskLibraryError('unavailable', 'IndexedDB is not available here, so there is no disk library');
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike; storage?: StorageManagerLike } }).navigator;
  let channel: BroadcastChannel | undefined;
  const hasChannel = typeof BroadcastChannel !== 'undefined';
  return {
    records: idbRecordBackend(),
    images: idbImageBackend(),
    locks: nav?.locks ?? new LocalLocks(),
    storage: nav?.storage,
    now: () => Date.now(),
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    broadcast: hasChannel
      ? {
          post: () => {
            channel ??= new BroadcastChannel(CHANNEL);
            channel.postMessage('changed');
          },
          listen: (cb) => {
            const ch = new BroadcastChannel(CHANNEL);
            ch.onmessage = () => cb();
            return () => ch.close();
          },
        }
      : undefined,
  };
}

let library: DiskLibrary | undefined;

/** The library of this browser profile (IndexedDB); the same in the page and in workers. */
export function diskLibrary(): DiskLibrary {
  library ??= new DiskLibrary(browserHost());
  return library;
}

/** Open a library disk by id as a BlockDevice (for a machine worker). See DiskLibrary.open. */
export function openDisk(id: string, opts?: OpenDiskOptions): Promise<LibraryDisk> {
  return diskLibrary().open(id, opts);
}

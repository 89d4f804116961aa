// A BlockStore kept as fixed-size chunks in an async key-value backend (IndexedDB in the
// browser: see idb-store.ts for the thin adapter). This file is the logic: chunking, a
// write-back cache, batching, sparseness, and what is durable when. It has no browser
// dependency, so it is tested in Node against an in-memory backend.
//
// Storage model:
//  - chunk i holds bytes [i*C, (i+1)*C); a chunk that is absent reads as zeros, and a chunk
//    that becomes all zeros is deleted, so unwritten and zeroed areas cost nothing;
//  - one metadata record holds the store's length;
//  - flush() sends every dirty chunk, the deletions and the metadata in ONE backend commit
//    (one IndexedDB transaction): after a crash the store is exactly as at some flush.
//    Between flushes, if more than `maxDirtyChunks` are dirty, they are written back early
//    (also one atomic commit), so a crash can then show a state between two flushes.
//  - bytes at or past the length are always zero in the backend; what the backend holds
//    beyond the recorded length (a damaged or foreign store) is ignored and deleted at the
//    next flush.

import { BlockStore, BlockStoreError, checkRange } from './block-store';
import { SerialQueue } from './serial-queue';
import { isZero } from './vhd-format';

export interface ChunkStoreMeta {
  version: 1;
  /** Length of the store in bytes. */
  size: number;
  /** Bytes per chunk. */
  chunkSize: number;
}

export interface ChunkBatch {
  /** Chunk index ranges [from, to) to delete, applied before the puts (`to` may be Infinity). */
  deleteRanges: [number, number][];
  /** Chunks to store (each exactly chunkSize bytes, owning its buffer). */
  put: [number, Uint8Array][];
  meta: ChunkStoreMeta;
}

/** The async key-value interface the store needs. Values come back untrusted. */
export interface ChunkBackend {
  getMeta(): Promise<unknown>;
  /** One batched lookup; undefined for absent chunks. */
  getChunks(indices: number[]): Promise<unknown[]>;
  /** Apply the whole batch atomically (one transaction) and resolve once it is durable. */
  commit(batch: ChunkBatch): Promise<void>;
}

export interface ChunkedStoreOptions {
  /** Bytes per chunk for a new store (a power of two, 4 KiB..16 MiB). Default 64 KiB. */
  chunkSize?: number;
  /** Chunks kept in memory. Default 512 (32 MiB at 64 KiB). */
  maxCachedChunks?: number;
  /** Dirty chunks allowed before an early write-back. Default 256; must be below maxCachedChunks. */
  maxDirtyChunks?: number;
  readOnly?: boolean;
  /** Make an empty store if the backend holds none. Default false. */
  create?: boolean;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const MIN_CHUNK = 4 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;
/** The largest store we accept from metadata: the VHD limit plus its footer, with room. */
const MAX_STORE_SIZE = 2 ** 42;

export class ChunkedStore implements BlockStore {
  private readonly queue = new SerialQueue();
  /** Cached chunks in least-recently-used order (Map iteration order). */
  private readonly cache = new Map<number, Uint8Array>();
  private readonly dirty = new Set<number>();
  private length: number;
  /** Length recorded in the backend at the last commit. */
  private persistedSize: number;
  /** Backend bytes at or past this offset are stale and read as zeros (Infinity: none). */
  private zeroFrom: number;
  private readonly maxCached: number;
  private readonly maxDirty: number;
  readonly stats = { fetches: 0, chunksFetched: 0, commits: 0, chunksPut: 0 };

  private constructor(
    private readonly backend: ChunkBackend,
    readonly chunkSize: number,
    size: number,
    readonly readOnly: boolean,
    opts: ChunkedStoreOptions,
  ) {
    this.length = size;
    this.persistedSize = size;
    this.zeroFrom = size;
    this.maxCached = opts.maxCachedChunks ?? 512;
    this.maxDirty = opts.maxDirtyChunks ?? Math.floor(this.maxCached / 2);
    if (!(this.maxDirty >= 1 && this.maxDirty < this.maxCached)) {
      throw new BlockStoreError('chunked store: need 1 <= maxDirtyChunks < maxCachedChunks');
    }
  }

  static async open(backend: ChunkBackend, opts: ChunkedStoreOptions = {}): Promise<ChunkedStore> {
    const raw = await backend.getMeta();
    if (raw === undefined) {
      if (!opts.create) throw new BlockStoreError('no such disk in the store');
      const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
      if (!validChunkSize(chunkSize)) throw new BlockStoreError(`chunk size ${chunkSize} is not a power of two in 4 KiB..16 MiB`);
      return new ChunkedStore(backend, chunkSize, 0, opts.readOnly ?? false, opts);
    }
    const meta = checkMeta(raw);
    return new ChunkedStore(backend, meta.chunkSize, meta.size, opts.readOnly ?? false, opts);
  }

  get size(): number {
    return this.length;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.queue.run(async () => {
      checkRange(this, offset, length, 'read');
      const out = new Uint8Array(length);
      if (length === 0) return out;
      const C = this.chunkSize;
      const first = Math.floor(offset / C);
      const last = Math.floor((offset + length - 1) / C);
      await this.load(range(first, last + 1));
      for (let i = first; i <= last; i++) {
        const chunk = this.touch(i);
        const from = Math.max(offset, i * C);
        const to = Math.min(offset + length, (i + 1) * C);
        out.set(chunk.subarray(from - i * C, to - i * C), from - offset);
      }
      await this.trim();
      return out;
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      if (this.readOnly) throw new BlockStoreError('write: store is read-only');
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > MAX_STORE_SIZE) {
        throw new BlockStoreError(`write: invalid offset ${offset}`);
      }
      if (data.length === 0) return;
      const C = this.chunkSize;
      const end = offset + data.length;
      const first = Math.floor(offset / C);
      const last = Math.floor((end - 1) / C);
      // Only the partly covered chunks at either end need their old contents.
      const partial = [first, last].filter((i, n, a) => a.indexOf(i) === n && (offset > i * C || end < (i + 1) * C));
      await this.load(partial);
      for (let i = first; i <= last; i++) {
        let chunk = this.cache.get(i);
        if (!chunk) {
          chunk = new Uint8Array(C);
          this.cache.set(i, chunk);
        }
        const from = Math.max(offset, i * C);
        const to = Math.min(end, (i + 1) * C);
        chunk.set(data.subarray(from - offset, to - offset), from - i * C);
        this.dirty.add(i);
        this.touch(i);
      }
      if (end > this.length) this.length = end;
      await this.trim();
    });
  }

  truncate(size: number): Promise<void> {
    return this.queue.run(async () => {
      if (this.readOnly) throw new BlockStoreError('truncate: store is read-only');
      if (!Number.isSafeInteger(size) || size < 0 || size > MAX_STORE_SIZE) throw new BlockStoreError(`truncate: invalid size ${size}`);
      if (size < this.length) {
        const C = this.chunkSize;
        this.zeroFrom = Math.min(this.zeroFrom, size);
        for (const i of [...this.cache.keys()]) {
          if (i * C >= size) {
            this.cache.delete(i);
            this.dirty.delete(i);
          }
        }
        const tail = this.cache.get(Math.floor(size / C));
        if (tail && size % C !== 0) {
          tail.fill(0, size % C);
          this.dirty.add(Math.floor(size / C));
        }
      }
      this.length = size;
    });
  }

  /** Commit everything written so far in one backend transaction. */
  flush(): Promise<void> {
    return this.queue.run(() => this.writeBack());
  }

  close(): Promise<void> {
    return this.queue.run(async () => {
      if (!this.readOnly) await this.writeBack();
      this.cache.clear();
    });
  }

  /** Chunks written but not yet committed. */
  get dirtyChunks(): number {
    return this.dirty.size;
  }

  /** Chunks held in memory. */
  get cachedChunks(): number {
    return this.cache.size;
  }

  private async writeBack(): Promise<void> {
    if (this.readOnly) return;
    const C = this.chunkSize;
    const stale = this.zeroFrom < Infinity;
    if (this.dirty.size === 0 && !stale && this.length === this.persistedSize) return;
    const deleteRanges: [number, number][] = [];
    if (stale) {
      // The chunk holding zeroFrom keeps stale bytes after it in the backend: rewrite it.
      const p = Math.floor(this.zeroFrom / C);
      if (this.zeroFrom % C !== 0 && p * C < this.length && !this.dirty.has(p)) {
        await this.load([p]);
        this.dirty.add(p);
      }
      deleteRanges.push([Math.ceil(this.zeroFrom / C), Infinity]);
    }
    const put: [number, Uint8Array][] = [];
    for (const i of [...this.dirty].sort((a, b) => a - b)) {
      const chunk = this.cache.get(i)!;
      if (isZero(chunk)) deleteRanges.push([i, i + 1]);
      else put.push([i, chunk.slice()]);
    }
    await this.backend.commit({ deleteRanges, put, meta: { version: 1, size: this.length, chunkSize: C } });
    this.stats.commits++;
    this.stats.chunksPut += put.length;
    this.dirty.clear();
    this.persistedSize = this.length;
    this.zeroFrom = Infinity;
  }

  /** Bring chunks into the cache with one backend lookup for those it has to fetch. */
  private async load(indices: number[]): Promise<void> {
    const C = this.chunkSize;
    const limit = Math.min(this.zeroFrom, this.persistedSize);
    const fetch: number[] = [];
    for (const i of indices) {
      if (this.cache.has(i)) continue;
      if (i * C >= limit) this.cache.set(i, new Uint8Array(C));
      else fetch.push(i);
    }
    if (fetch.length === 0) return;
    this.stats.fetches++;
    this.stats.chunksFetched += fetch.length;
    const values = await this.backend.getChunks(fetch);
    if (values.length !== fetch.length) throw new BlockStoreError('chunk store returned the wrong number of chunks');
    fetch.forEach((i, n) => {
      const v = values[n];
      let chunk: Uint8Array;
      if (v === undefined) chunk = new Uint8Array(C);
      else if (v instanceof Uint8Array && v.length === C) chunk = v;
      else throw new BlockStoreError(`stored chunk ${i} is damaged (not ${C} bytes)`);
      const cut = limit - i * C;
      if (cut < C) chunk.fill(0, cut);
      this.cache.set(i, chunk);
    });
  }

  /** Mark chunk i most recently used and return it. */
  private touch(i: number): Uint8Array {
    const chunk = this.cache.get(i)!;
    this.cache.delete(i);
    this.cache.set(i, chunk);
    return chunk;
  }

  /** Keep the cache within bounds: write back if too much is dirty, then drop clean chunks. */
  private async trim(): Promise<void> {
    if (this.cache.size <= this.maxCached) return;
    if (this.dirty.size > this.maxDirty) await this.writeBack();
    for (const i of this.cache.keys()) {
      if (this.cache.size <= this.maxCached) break;
      if (!this.dirty.has(i)) this.cache.delete(i);
    }
  }
}

function validChunkSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_CHUNK && n <= MAX_CHUNK && (n & (n - 1)) === 0;
}

function checkMeta(raw: unknown): ChunkStoreMeta {
  const m = raw as Partial<ChunkStoreMeta> | null;
  if (typeof m !== 'object' || m === null || m.version !== 1) throw new BlockStoreError('disk metadata is damaged or of an unknown version');
  if (typeof m.chunkSize !== 'number' || !validChunkSize(m.chunkSize)) throw new BlockStoreError(`disk metadata: bad chunk size ${String(m.chunkSize)}`);
  if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0 || m.size > MAX_STORE_SIZE) {
    throw new BlockStoreError(`disk metadata: bad size ${String(m.size)}`);
  }
  return { version: 1, size: m.size, chunkSize: m.chunkSize };
}

function range(from: number, to: number): number[] {
  const a: number[] = [];
  for (let i = from; i < to; i++) a.push(i);
  return a;
}

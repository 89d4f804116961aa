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
// Pipelining (so the store keeps up with raw IndexedDB): an early write-back runs behind the
// writer (one at a time, in order; a later write to a chunk it holds copies the chunk first,
// and a failure makes its chunks dirty again and is reported by the next write-back or
// flush). Sequential reads fetch ahead in lookups of a quarter window, in the background; a
// write detaches a pending fetch of its chunk, so a late answer never replaces newer data.

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
  /**
   * Chunks to store (each exactly chunkSize bytes). The buffers are the store's cache: the
   * backend copies them (IndexedDB's put() clones at once) and keeps no reference after
   * commit() settles. The store changes none of them while the commit is pending.
   */
  put: [number, Uint8Array][];
  meta: ChunkStoreMeta;
  /**
   * false for an early write-back (the cache filled up between flushes): it must be atomic but
   * need not reach the disk before it resolves. flush() commits are durable, and a durable
   * commit makes the earlier ones durable too (IndexedDB commits one store's transactions in order).
   */
  durable?: boolean;
}

/** The async key-value interface the store needs. Values come back untrusted. */
export interface ChunkBackend {
  getMeta(): Promise<unknown>;
  /** One batched lookup; undefined for absent chunks. */
  getChunks(indices: number[]): Promise<unknown[]>;
  /** Apply the whole batch atomically (one transaction); resolve once it is durable unless `durable` is false. */
  commit(batch: ChunkBatch): Promise<void>;
}

export interface ChunkedStoreOptions {
  /** Bytes per chunk for a new store (a power of two, 4 KiB..16 MiB). Default 64 KiB. */
  chunkSize?: number;
  /** Chunks kept in memory. Default: 32 MiB worth. */
  maxCachedChunks?: number;
  /** Memory for the cache in bytes, instead of maxCachedChunks (whatever the chunk size turns out to be). */
  cacheBytes?: number;
  /**
   * Largest read-ahead in bytes for sequential reads (default 8 MiB; 0: none). A read that
   * continues the previous one and misses the cache also fetches the chunks after it, in the
   * same backend lookup; the window doubles with each such miss, up to this size.
   */
  readAheadBytes?: number;
  /** Dirty chunks allowed before an early write-back. Default half the cache; must be below it. */
  maxDirtyChunks?: number;
  readOnly?: boolean;
  /** Make an empty store if the backend holds none. Default false. */
  create?: boolean;
}

/** For IndexedDB the disk library uses bigger chunks (IMAGE_CHUNK_SIZE in engine-ts/api/disks.ts). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const DEFAULT_READ_AHEAD = 8 * 1024 * 1024;
const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
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
  private readonly maxReadAhead: number;
  /** Chunk a read continuing the previous one would start in; current read-ahead window (chunks). */
  private nextSequential = -1;
  private readAhead = 0;
  /** An early write-back still running behind the caller (at most one commit runs at a time). */
  private pendingCommit: Promise<void> | null = null;
  /** Chunk buffers that commit holds: written copy-on-write, never evicted until it settles. */
  private readonly committing = new Map<number, Uint8Array>();
  /** Read-ahead lookups in flight, by chunk; a write to the chunk detaches it (the answer is then old). */
  private readonly fetching = new Map<number, Promise<void>>();
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
    this.maxCached = opts.cacheBytes !== undefined
      ? Math.max(4, Math.floor(opts.cacheBytes / chunkSize))
      : opts.maxCachedChunks ?? Math.max(4, Math.floor(DEFAULT_CACHE_BYTES / chunkSize));
    this.maxDirty = opts.maxDirtyChunks ?? Math.floor(this.maxCached / 2);
    // The window stays well inside the cache, so read-ahead never evicts what it just fetched.
    this.maxReadAhead = Math.min(Math.floor((opts.readAheadBytes ?? DEFAULT_READ_AHEAD) / chunkSize), Math.floor(this.maxCached / 4));
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
      const wanted = range(first, last + 1);
      const sequential = first === this.nextSequential || first + 1 === this.nextSequential;
      this.nextSequential = Math.floor((offset + length) / C);
      let ahead: number[] = [];
      if (!sequential || this.maxReadAhead === 0) {
        this.readAhead = 0;
      } else {
        // Read-ahead: the window doubles with each sequential read, up to the maximum. Only
        // chunks the backend may hold are fetched (past the persisted end all is zeros).
        this.readAhead = Math.min(this.maxReadAhead, Math.max(2 * this.readAhead, wanted.length, 4));
        const stop = Math.ceil(this.backendLimit() / C);
        const end = Math.min(last + 1 + this.readAhead, stop);
        for (let i = last + 1; i < end; i++) if (!this.cache.has(i) && !this.fetching.has(i)) ahead.push(i);
        // Top up in batches of a quarter window: each lookup carries many chunks, and several
        // are in flight while the caller works (near the end of the data, take what is left).
        if (ahead.length < Math.max(1, this.readAhead >> 2) && end < stop) ahead = [];
      }
      if (wanted.some((i) => !this.cache.has(i) && !this.fetching.has(i))) {
        await this.load([...wanted, ...ahead]); // one lookup for the miss and the window
      } else {
        if (ahead.length > 0) this.prefetch(ahead); // runs while the caller uses this read
        await this.load(wanted);
      }
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
        this.fetching.delete(i);
        const chunk = this.writable(i);
        const from = Math.max(offset, i * C);
        const to = Math.min(end, (i + 1) * C);
        chunk.set(data.subarray(from - offset, to - offset), from - i * C);
        this.dirty.add(i);
        this.touch(i);
      }
      if (end > this.length) this.length = end;
      this.nextSequential = -1; // a write breaks a run of reads
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
        for (const i of [...this.fetching.keys()]) if (i * C + C > size) this.fetching.delete(i);
        const t = Math.floor(size / C);
        if (this.cache.has(t) && size % C !== 0) {
          this.writable(t).fill(0, size % C);
          this.dirty.add(t);
        }
      }
      this.length = size;
    });
  }

  /** Commit everything written so far in one durable backend transaction. */
  flush(): Promise<void> {
    return this.queue.run(() => this.writeBack(true));
  }

  close(): Promise<void> {
    return this.queue.run(async () => {
      if (!this.readOnly) await this.writeBack(true);
      this.cache.clear();
      this.fetching.clear();
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

  /** Backend bytes at or past this offset read as zeros. */
  private backendLimit(): number {
    return Math.min(this.zeroFrom, this.persistedSize);
  }

  /** The cached chunk i, ready to be changed: created if absent, copied if a commit holds it. */
  private writable(i: number): Uint8Array {
    let chunk = this.cache.get(i);
    if (!chunk) {
      chunk = new Uint8Array(this.chunkSize);
      this.cache.set(i, chunk);
    } else if (this.committing.get(i) === chunk) {
      chunk = chunk.slice();
      this.cache.set(i, chunk);
    }
    return chunk;
  }

  /** Wait for an early write-back still running; its failure is reported here (once). */
  private async settle(): Promise<void> {
    const p = this.pendingCommit;
    this.pendingCommit = null;
    if (p) await p;
  }

  /**
   * Send the dirty chunks, deletions and length in one commit. `background`: start it and
   * return (the next write-back or flush waits for it); writes meanwhile copy the chunks it
   * holds, and if it fails they become dirty again.
   */
  private async writeBack(durable: boolean, background = false): Promise<void> {
    if (this.readOnly) return;
    await this.settle();
    const C = this.chunkSize;
    const zeroFrom = this.zeroFrom;
    const stale = zeroFrom < Infinity;
    if (this.dirty.size === 0 && !stale && this.length === this.persistedSize) return;
    const deleteRanges: [number, number][] = [];
    if (stale) {
      // The chunk holding zeroFrom keeps stale bytes after it in the backend: rewrite it.
      const p = Math.floor(zeroFrom / C);
      if (zeroFrom % C !== 0 && p * C < this.length && !this.dirty.has(p)) {
        await this.load([p]);
        this.dirty.add(p);
      }
      deleteRanges.push([Math.ceil(zeroFrom / C), Infinity]);
    }
    const put: [number, Uint8Array][] = [];
    // Every dirty chunk goes: a commit is always a state the store really had.
    const sent = [...this.dirty].sort((a, b) => a - b);
    for (const i of sent) {
      const chunk = this.cache.get(i)!;
      this.committing.set(i, chunk);
      if (isZero(chunk)) deleteRanges.push([i, i + 1]);
      else put.push([i, chunk]);
    }
    this.dirty.clear();
    const size = this.length;
    const commit = this.backend.commit({ deleteRanges, put, meta: { version: 1, size, chunkSize: C }, durable }).then(
      () => {
        this.stats.commits++;
        this.stats.chunksPut += put.length;
        this.persistedSize = size;
        // A truncation made while this commit ran keeps its own zeroFrom for the next one.
        if (this.zeroFrom === zeroFrom) this.zeroFrom = Infinity;
      },
      (e: unknown) => {
        for (const i of sent) if (this.cache.has(i)) this.dirty.add(i);
        throw e;
      },
    ).finally(() => {
      for (const i of sent) this.committing.delete(i);
    });
    if (!background) return commit;
    commit.catch(() => undefined); // reported by settle()
    this.pendingCommit = commit;
  }

  /** Bring chunks into the cache with one backend lookup for those it has to fetch. */
  private async load(indices: number[]): Promise<void> {
    const C = this.chunkSize;
    const limit = this.backendLimit();
    const fetch: number[] = [];
    const waits: Promise<void>[] = [];
    for (const i of indices) {
      if (this.cache.has(i)) continue;
      const inFlight = this.fetching.get(i);
      if (inFlight) waits.push(inFlight);
      else if (i * C >= limit) this.cache.set(i, new Uint8Array(C));
      else fetch.push(i);
    }
    if (fetch.length > 0) await this.fetch(fetch);
    if (waits.length === 0) return;
    await Promise.all(waits.map((w) => w.catch(() => undefined)));
    // A read-ahead that failed or was detached: fetch what is still missing now.
    const missing = indices.filter((i) => !this.cache.has(i));
    if (missing.length > 0) await this.load(missing);
  }

  /** Start a lookup without waiting for it (read-ahead); load() waits if it needs one of these. */
  private prefetch(indices: number[]): void {
    this.fetch(indices).catch(() => undefined); // a demand load() retries
  }

  private fetch(indices: number[]): Promise<void> {
    this.stats.fetches++;
    this.stats.chunksFetched += indices.length;
    const p: Promise<void> = this.backend.getChunks(indices).then(
      (values) => {
        if (values.length !== indices.length) throw new BlockStoreError('chunk store returned the wrong number of chunks');
        const C = this.chunkSize;
        // Checked now, not when asked: a truncation may have happened meanwhile.
        const limit = this.backendLimit();
        indices.forEach((i, n) => {
          if (this.fetching.get(i) !== p) return; // detached by a write or truncation
          this.fetching.delete(i);
          if (this.cache.has(i)) return;
          const v = values[n];
          let chunk: Uint8Array;
          if (v === undefined) chunk = new Uint8Array(C);
          else if (v instanceof Uint8Array && v.length === C) chunk = v;
          else throw new BlockStoreError(`stored chunk ${i} is damaged (not ${C} bytes)`);
          const cut = limit - i * C;
          if (cut < C) chunk.fill(0, Math.max(0, cut));
          this.cache.set(i, chunk);
        });
      },
      (e: unknown) => {
        for (const i of indices) if (this.fetching.get(i) === p) this.fetching.delete(i);
        throw e;
      },
    );
    for (const i of indices) this.fetching.set(i, p);
    return p;
  }

  /** Mark chunk i most recently used and return it. */
  private touch(i: number): Uint8Array {
    const chunk = this.cache.get(i)!;
    this.cache.delete(i);
    this.cache.set(i, chunk);
    return chunk;
  }

  /**
   * Keep the cache within bounds: start a write-back when too much is dirty, drop clean
   * chunks when the cache is full. Chunks a running commit holds stay (a failure makes them dirty again); if they
   * are what keeps the cache too big, wait for that commit.
   */
  private async trim(): Promise<void> {
    // Start writing back as soon as enough is dirty, not when the cache is full: the commit
    // then runs while the writer fills the rest of the cache.
    if (this.dirty.size > this.maxDirty) await this.writeBack(false, true);
    if (this.cache.size <= this.maxCached) return;
    this.evictClean();
    if (this.cache.size > this.maxCached && this.committing.size > 0) {
      await this.settle();
      this.evictClean();
    }
  }

  private evictClean(): void {
    for (const i of this.cache.keys()) {
      if (this.cache.size <= this.maxCached) break;
      if (!this.dirty.has(i) && !this.committing.has(i)) this.cache.delete(i);
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

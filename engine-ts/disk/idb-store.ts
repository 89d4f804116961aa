// IndexedDB backend for ChunkedStore, through idb-keyval. Kept thin on purpose: the logic
// (caching, batching, sparseness, crash behaviour) is in chunked-store.ts and tested in Node.
//
// One database 'pvlab-disks' with one object store 'chunks'. Keys are arrays:
// [diskId, chunkIndex] for data (chunkIndex >= 0) and [diskId, -1] for the metadata record,
// so a disk's chunks form one key range that a single request can delete.
// Chromium compresses values, and keeps values of 64 KiB and more in files of their own
// (see DEFAULT_CHUNK_SIZE for what that means for speed). Writes are batched into one
// transaction per flush or write-back; a run of chunks is read with two range requests.

import { get, getMany, promisifyRequest, type UseStore } from 'idb-keyval';
import { BlockStoreError } from './block-store';
import { ChunkedStore, type ChunkBackend, type ChunkBatch, type ChunkedStoreOptions } from './chunked-store';

export const IDB_DATABASE = 'pvlab-disks';
export const IDB_STORE = 'chunks';
const META = -1;

/** A UseStore whose read-write transactions are 'strict', plus `relaxed` for the same database. */
export type DiskStore = UseStore & { relaxed: UseStore };

/**
 * Like idb-keyval's createStore, but read-write transactions ask for 'strict' durability:
 * flush() promises the data is on disk, and Chromium's default may be relaxed. Early
 * write-backs (not flushes) go through `relaxed`, which skips the wait for the disk.
 */
export function createDiskStore(dbName = IDB_DATABASE, storeName = IDB_STORE): DiskStore {
  let dbp: Promise<IDBDatabase> | undefined;
  const getDb = () => {
    if (!dbp) {
      const request = indexedDB.open(dbName);
      request.onupgradeneeded = () => request.result.createObjectStore(storeName);
      dbp = promisifyRequest(request);
      dbp.then(
        (db) => (db.onclose = () => (dbp = undefined)),
        () => (dbp = undefined),
      );
    }
    return dbp;
  };
  const withDurability = (durability: IDBTransactionDurability): UseStore => (mode, callback) =>
    getDb().then((db) => callback(db.transaction(storeName, mode, mode === 'readwrite' ? { durability } : undefined).objectStore(storeName)));
  return Object.assign(withDurability('strict'), { relaxed: withDurability('relaxed') });
}

let sharedStore: DiskStore | undefined;
function defaultStore(): DiskStore {
  sharedStore ??= createDiskStore();
  return sharedStore;
}

export class IdbChunkBackend implements ChunkBackend {
  constructor(
    readonly diskId: string,
    private readonly store: UseStore = defaultStore(),
  ) {}

  getMeta(): Promise<unknown> {
    return get([this.diskId, META], this.store);
  }

  getChunks(indices: number[]): Promise<unknown[]> {
    const from = indices[0];
    const to = indices[indices.length - 1];
    if (indices.length < 2 || to - from !== indices.length - 1 || !indices.every((v, n) => v === from + n)) {
      return getMany(indices.map((i) => [this.diskId, i]), this.store).catch((e: unknown) => {
        throw readError(e, Math.min(...indices), Math.max(...indices));
      });
    }
    // A run (read-ahead): two range requests instead of one request per chunk. Absent chunks
    // have no key, so values are matched to indices through the keys.
    const id = this.diskId;
    return this.store('readonly', async (s) => {
      const range = IDBKeyRange.bound([id, from], [id, to]);
      const [keys, values] = await Promise.all([promisifyRequest(s.getAllKeys(range)), promisifyRequest(s.getAll(range))]);
      const byIndex = new Map<number, unknown>();
      keys.forEach((k, n) => {
        const i = Array.isArray(k) ? k[1] : undefined;
        if (typeof i === 'number') byIndex.set(i, values[n]);
      });
      return indices.map((i) => byIndex.get(i));
    }).catch((e: unknown) => {
      throw readError(e, from, to);
    });
  }

  commit(batch: ChunkBatch): Promise<void> {
    const id = this.diskId;
    const store = batch.durable === false && 'relaxed' in this.store ? (this.store as DiskStore).relaxed : this.store;
    return store('readwrite', (s) => {
      for (const [from, to] of batch.deleteRanges) s.delete(IDBKeyRange.bound([id, from], [id, to], false, true));
      for (const [i, chunk] of batch.put) s.put(chunk, [id, i]);
      s.put(batch.meta, [id, META]);
      return promisifyRequest(s.transaction);
    });
  }
}

/**
 * IndexedDB's read failures in words. Chromium keeps large values in files of their own and
 * reports one it cannot read as UnknownError / NotReadableError ("Failed to read large
 * IndexedDB value"): a deleted file, or, in a private window (where IndexedDB lives in
 * memory), a few hundred MB written in one page.
 */
function readError(e: unknown, from: number, to: number): unknown {
  const name = (e as { name?: string } | null)?.name;
  if (name !== 'UnknownError' && name !== 'NotReadableError' && name !== 'DataError') return e;
  return new BlockStoreError(
    `IndexedDB could not read disk chunks ${from}..${to} (${name}: ${(e as Error).message}). `
    + 'In a private window the browser keeps disks in memory and can fail like this after a few hundred MB; '
    + 'use a normal window for large disks.',
  );
}

/** Open (or with `create`, make) the disk image stored under `diskId`. */
export function openIdbStore(diskId: string, opts: ChunkedStoreOptions = {}): Promise<ChunkedStore> {
  return ChunkedStore.open(new IdbChunkBackend(diskId), opts);
}

/** Delete a disk image and all its chunks in one transaction. */
export function deleteIdbStore(diskId: string, store: UseStore = defaultStore()): Promise<void> {
  return store('readwrite', (s) => {
    s.delete(IDBKeyRange.bound([diskId, -Infinity], [diskId, Infinity]));
    return promisifyRequest(s.transaction);
  });
}

/** Chunks stored for one image (absent chunks read as zeros and cost nothing). */
export function countIdbChunks(diskId: string, store: UseStore = defaultStore()): Promise<number> {
  return store('readonly', (s) => promisifyRequest(s.count(IDBKeyRange.bound([diskId, 0], [diskId, Infinity]))));
}

/**
 * The ids of every image present in the store, one cursor step per image: after a key
 * [id, n] the cursor jumps to [id, []], which sorts after every number (arrays sort last).
 */
export function listIdbStores(store: UseStore = defaultStore()): Promise<string[]> {
  return store('readonly', (s) => {
    const ids: string[] = [];
    const request = s.openKeyCursor();
    return new Promise<string[]>((resolve, reject) => {
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const cursor = request.result;
        if (!cursor) return resolve(ids);
        const key = cursor.key;
        if (Array.isArray(key) && typeof key[0] === 'string') {
          ids.push(key[0]);
          cursor.continue([key[0], []]);
        } else {
          cursor.continue(); // a foreign key: skip it
        }
      };
    });
  });
}

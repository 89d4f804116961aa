// IndexedDB backend for ChunkedStore, through idb-keyval. Kept thin on purpose: the logic
// (caching, batching, sparseness, crash behaviour) is in chunked-store.ts and tested in Node.
//
// One database 'pvlab-disks' with one object store 'chunks'. Keys are arrays:
// [diskId, chunkIndex] for data (chunkIndex >= 0) and [diskId, -1] for the metadata record,
// so a disk's chunks form one key range that a single request can delete.
// Chromium compresses values: random data runs at roughly 50 MB/s write, 90 MB/s read
// (shared/stack.md §4), which is why writes are batched into one transaction per flush.

import { get, getMany, promisifyRequest, type UseStore } from 'idb-keyval';
import { ChunkedStore, type ChunkBackend, type ChunkBatch, type ChunkedStoreOptions } from './chunked-store';

export const IDB_DATABASE = 'pvlab-disks';
export const IDB_STORE = 'chunks';
const META = -1;

/**
 * Like idb-keyval's createStore, but read-write transactions ask for 'strict' durability:
 * flush() promises the data is on disk, and Chromium's default may be relaxed.
 */
export function createDiskStore(dbName = IDB_DATABASE, storeName = IDB_STORE): UseStore {
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
  return (mode, callback) =>
    getDb().then((db) =>
      callback(db.transaction(storeName, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined).objectStore(storeName)),
    );
}

let sharedStore: UseStore | undefined;
function defaultStore(): UseStore {
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
    return getMany(indices.map((i) => [this.diskId, i]), this.store);
  }

  commit(batch: ChunkBatch): Promise<void> {
    const id = this.diskId;
    return this.store('readwrite', (s) => {
      for (const [from, to] of batch.deleteRanges) s.delete(IDBKeyRange.bound([id, from], [id, to], false, true));
      for (const [i, chunk] of batch.put) s.put(chunk, [id, i]);
      s.put(batch.meta, [id, META]);
      return promisifyRequest(s.transaction);
    });
  }
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

// The byte-addressed file a disk image lives in. Three implementations: MemoryStore (tests,
// scratch), FileStore (Node, file-store.ts) and the IndexedDB store (chunked-store.ts +
// idb-store.ts). Only this file and chunked-store.ts are imported by browser code paths.

export interface BlockStore {
  /** Current length in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Read exactly `length` bytes at `offset`; the range must lie inside the store. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Write `data` at `offset`, growing the store if needed; a gap reads as zeros. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Shrink or grow to `size` bytes (growth reads as zeros). Optional. */
  truncate?(size: number): Promise<void>;
  /** Make every completed write durable. */
  flush(): Promise<void>;
  close?(): Promise<void>;
}

/** A misuse of a store or an I/O failure below the disk format. */
export class BlockStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockStoreError';
  }
}

export function checkRange(store: { size: number }, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockStoreError(`${what}: invalid range offset=${offset} length=${length}`);
  }
  if (offset + length > store.size) {
    throw new BlockStoreError(`${what}: range ${offset}+${length} is past the end (${store.size} bytes)`);
  }
}

/**
 * A store in memory. Also instruments its callers: the largest single read and write and
 * the number of calls, which the fuzz tests use to bound what a hostile image can make the
 * disk code allocate.
 */
export class MemoryStore implements BlockStore {
  private buf: Uint8Array;
  private length: number;
  readonly stats = { reads: 0, writes: 0, largestRead: 0, largestWrite: 0, flushes: 0 };

  constructor(initial?: Uint8Array, readonly readOnly = false) {
    this.buf = initial ? initial.slice() : new Uint8Array(0);
    this.length = this.buf.length;
  }

  get size(): number {
    return this.length;
  }

  /** A copy of the current contents. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length, 'read');
    this.stats.reads++;
    this.stats.largestRead = Math.max(this.stats.largestRead, length);
    return this.buf.slice(offset, offset + length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockStoreError('write: store is read-only');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new BlockStoreError(`write: invalid offset ${offset}`);
    this.stats.writes++;
    this.stats.largestWrite = Math.max(this.stats.largestWrite, data.length);
    const end = offset + data.length;
    this.reserve(end);
    this.buf.set(data, offset);
    if (end > this.length) this.length = end;
  }

  async truncate(size: number): Promise<void> {
    if (this.readOnly) throw new BlockStoreError('truncate: store is read-only');
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockStoreError(`truncate: invalid size ${size}`);
    this.reserve(size);
    if (size < this.length) this.buf.fill(0, size, this.length);
    this.length = size;
  }

  async flush(): Promise<void> {
    this.stats.flushes++;
  }

  private reserve(end: number): void {
    if (end <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(end, Math.min(this.buf.length * 2, end + 64 * 1024 * 1024)));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }
}

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
 * A store in memory, sparse: 64 KiB pages, and a page never written costs nothing, so a
 * fixed disk of gigabytes or a file grown by a huge block stays cheap. Copies share pages
 * until one side writes (copy on write), so tests can fork an image thousands of times.
 * Also instruments its callers: the largest single read and write and the number of calls,
 * which the fuzz tests use to bound what a hostile image can make the disk code do.
 */
export class MemoryStore implements BlockStore {
  private static readonly PAGE = 64 * 1024;
  private pages = new Map<number, Uint8Array>();
  /** Pages this store may modify in place; the others are shared and copied before a write. */
  private owned = new Set<number>();
  private length = 0;
  readonly stats = { reads: 0, writes: 0, largestRead: 0, largestWrite: 0, flushes: 0 };

  constructor(initial?: Uint8Array, readonly readOnly = false) {
    if (initial) this.writeSync(0, initial);
  }

  /** A store over `bytes` without copying them; pages are copied on first write. */
  static adopt(bytes: Uint8Array, readOnly = false): MemoryStore {
    const s = new MemoryStore(undefined, readOnly);
    const P = MemoryStore.PAGE;
    const full = Math.floor(bytes.length / P);
    for (let i = 0; i < full; i++) s.pages.set(i, bytes.subarray(i * P, (i + 1) * P));
    if (bytes.length > full * P) s.writeSync(full * P, bytes.subarray(full * P));
    s.length = bytes.length;
    return s;
  }

  get size(): number {
    return this.length;
  }

  /** A copy of the current contents. */
  bytes(): Uint8Array {
    return this.readSync(0, this.length);
  }

  /** An independent copy; both share pages until either writes. */
  clone(readOnly = this.readOnly): MemoryStore {
    const c = new MemoryStore(undefined, readOnly);
    c.pages = new Map(this.pages);
    c.length = this.length;
    this.owned.clear();
    return c;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length, 'read');
    this.stats.reads++;
    this.stats.largestRead = Math.max(this.stats.largestRead, length);
    return this.readSync(offset, length);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockStoreError('write: store is read-only');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new BlockStoreError(`write: invalid offset ${offset}`);
    this.stats.writes++;
    this.stats.largestWrite = Math.max(this.stats.largestWrite, data.length);
    this.writeSync(offset, data);
  }

  async truncate(size: number): Promise<void> {
    if (this.readOnly) throw new BlockStoreError('truncate: store is read-only');
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockStoreError(`truncate: invalid size ${size}`);
    this.setLength(size);
  }

  async flush(): Promise<void> {
    this.stats.flushes++;
  }

  /** Synchronous access for tests and tools that edit images directly (not counted in stats). */
  readSync(offset: number, length: number): Uint8Array {
    const P = MemoryStore.PAGE;
    const out = new Uint8Array(length);
    for (let pos = offset; pos < offset + length; ) {
      const i = Math.floor(pos / P);
      const end = Math.min(offset + length, (i + 1) * P);
      const page = this.pages.get(i);
      if (page) out.set(page.subarray(pos - i * P, end - i * P), pos - offset);
      pos = end;
    }
    return out;
  }

  writeSync(offset: number, data: Uint8Array): void {
    const P = MemoryStore.PAGE;
    for (let pos = offset; pos < offset + data.length; ) {
      const i = Math.floor(pos / P);
      const end = Math.min(offset + data.length, (i + 1) * P);
      this.ownPage(i).set(data.subarray(pos - offset, end - offset), pos - i * P);
      pos = end;
    }
    this.length = Math.max(this.length, offset + data.length);
  }

  /** Shrink (dropping data) or grow (with zeros). */
  setLength(size: number): void {
    const P = MemoryStore.PAGE;
    if (size < this.length) {
      for (const i of [...this.pages.keys()]) {
        if (i * P >= size) {
          this.pages.delete(i);
          this.owned.delete(i);
        }
      }
      if (size % P !== 0 && this.pages.has(Math.floor(size / P))) this.ownPage(Math.floor(size / P)).fill(0, size % P);
    }
    this.length = size;
  }

  private ownPage(i: number): Uint8Array {
    let page = this.pages.get(i);
    if (!page || !this.owned.has(i)) {
      const fresh = new Uint8Array(MemoryStore.PAGE);
      if (page) fresh.set(page);
      page = fresh;
      this.pages.set(i, page);
      this.owned.add(i);
    }
    return page;
  }
}

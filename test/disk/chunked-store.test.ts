// The IndexedDB store's logic (chunking, batching, write-back cache, sparseness, crash
// behaviour) against an in-memory backend that behaves like one IDB object store.
import { describe, expect, it } from 'vitest';
import { BlockStoreError } from '../../engine-ts/disk/block-store';
import { ChunkedStore, type ChunkBackend, type ChunkBatch, type ChunkStoreMeta } from '../../engine-ts/disk/chunked-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { NOW, Prng, fixedUuid, readAll } from './helpers';

const C = 4096; // small chunks keep the tests quick

/** One object store in memory: values are cloned in and out (structured clone), commits atomic. */
class MemoryBackend implements ChunkBackend {
  chunks = new Map<number, Uint8Array>();
  meta: unknown;
  getChunksCalls = 0;
  commits: ChunkBatch[] = [];
  failNextCommit = false;

  async getMeta() {
    return this.meta === undefined ? undefined : structuredClone(this.meta);
  }
  async getChunks(indices: number[]) {
    this.getChunksCalls++;
    return indices.map((i) => this.chunks.get(i)?.slice());
  }
  async commit(batch: ChunkBatch) {
    if (this.failNextCommit) {
      this.failNextCommit = false;
      throw new Error('transaction aborted');
    }
    for (const [from, to] of batch.deleteRanges) for (const k of [...this.chunks.keys()]) if (k >= from && k < to) this.chunks.delete(k);
    for (const [i, v] of batch.put) {
      expect(v.length).toBe((batch.meta as ChunkStoreMeta).chunkSize);
      this.chunks.set(i, v.slice());
    }
    this.meta = structuredClone(batch.meta);
    this.commits.push(batch);
  }
}

const open = (b: ChunkBackend, extra = {}) => ChunkedStore.open(b, { create: true, chunkSize: C, maxCachedChunks: 16, maxDirtyChunks: 8, ...extra });

/** Random writes/truncates checked against a plain array, with reopen-after-flush checks. */
describe('ChunkedStore', () => {
  it('matches a plain byte array under random writes, truncates, flushes and reopens', async () => {
    const backend = new MemoryBackend();
    let store = await open(backend);
    let model = new Uint8Array(0);
    const rng = new Prng(1);
    for (let step = 0; step < 400; step++) {
      const op = rng.int(10);
      if (op < 6) {
        const off = rng.int(model.length + 3 * C);
        const data = rng.int(4) === 0 ? new Uint8Array(1 + rng.int(3 * C)) : rng.bytes(1 + rng.int(3 * C));
        await store.write(off, data);
        if (off + data.length > model.length) {
          const m = new Uint8Array(off + data.length);
          m.set(model);
          model = m;
        }
        model.set(data, off);
      } else if (op < 7) {
        const size = rng.int(model.length + 2 * C);
        await store.truncate(size);
        const m = new Uint8Array(size);
        m.set(model.subarray(0, size));
        model = m;
      } else if (op < 8) {
        await store.flush();
        store = await open(backend); // a fresh store sees exactly what was flushed
      } else if (model.length > 0) {
        const off = rng.int(model.length);
        const len = rng.int(model.length - off + 1);
        expect(Buffer.compare(await store.read(off, len), model.subarray(off, off + len))).toBe(0);
      }
      expect(store.size).toBe(model.length);
      expect(store.cachedChunks).toBeLessThanOrEqual(16);
    }
    await store.flush();
    const fresh = await open(backend);
    expect(Buffer.compare(await fresh.read(0, model.length), model)).toBe(0);
    // Invariants of what is stored: nothing at or past the end, no all-zero chunks.
    for (const [i, v] of backend.chunks) {
      expect(i * C).toBeLessThan(model.length);
      expect(v.some((b) => b !== 0)).toBe(true);
    }
  });

  it('is sparse: unwritten and zeroed chunks are not stored', async () => {
    const backend = new MemoryBackend();
    const store = await open(backend);
    await store.write(100 * C, new Uint8Array([1])); // a 400 KiB store with one byte set
    await store.write(3 * C, new Uint8Array(C)); // zeros
    await store.flush();
    expect([...backend.chunks.keys()]).toEqual([100]);
    expect(store.size).toBe(100 * C + 1);
    // Zeroing a stored chunk deletes it.
    await store.write(100 * C, new Uint8Array([0]));
    await store.flush();
    expect(backend.chunks.size).toBe(0);
  });

  it('batches: one commit per flush, one lookup per read however many chunks it spans', async () => {
    const backend = new MemoryBackend();
    let store = await open(backend, { maxCachedChunks: 64, maxDirtyChunks: 32 });
    await store.write(0, new Prng(2).bytes(20 * C));
    expect(backend.commits.length).toBe(0); // write-back: nothing yet
    await store.flush();
    expect(backend.commits.length).toBe(1);
    expect(backend.commits[0].put.length).toBe(20);
    await store.flush(); // nothing dirty: no transaction
    expect(backend.commits.length).toBe(1);
    store = await open(backend, { maxCachedChunks: 64, maxDirtyChunks: 32 });
    await store.read(C / 2, 10 * C);
    expect(backend.getChunksCalls).toBe(1);
    expect(store.stats.chunksFetched).toBe(11);
    await store.read(C, 5 * C); // cached
    expect(backend.getChunksCalls).toBe(1);
  });

  it('writes whole chunks without reading them first', async () => {
    const backend = new MemoryBackend();
    let store = await open(backend);
    await store.write(0, new Uint8Array(4 * C).fill(1));
    await store.flush();
    store = await open(backend);
    await store.write(C, new Uint8Array(2 * C).fill(2)); // exactly chunks 1 and 2
    expect(backend.getChunksCalls).toBe(0);
    await store.write(C / 2, new Uint8Array(8).fill(3)); // partial: must read chunk 0
    expect(backend.getChunksCalls).toBe(1);
  });

  it('bounds memory: writes back early when too much is dirty and evicts clean chunks', async () => {
    const backend = new MemoryBackend();
    const store = await open(backend); // 16 cached, 8 dirty
    const rng = new Prng(3);
    for (let i = 0; i < 40; i++) {
      await store.write(i * C, rng.bytes(C));
      expect(store.cachedChunks).toBeLessThanOrEqual(16);
      expect(store.dirtyChunks).toBeLessThanOrEqual(16);
    }
    expect(backend.commits.length).toBeGreaterThan(0);
    await store.flush();
    expect(backend.chunks.size).toBe(40);
  });

  it('loses exactly the unflushed writes on a crash, and survives an aborted commit', async () => {
    const backend = new MemoryBackend();
    const store = await open(backend);
    await store.write(0, new Uint8Array(C).fill(1));
    await store.flush();
    await store.write(0, new Uint8Array(C).fill(2));
    await store.write(5 * C, new Uint8Array(10).fill(2));
    // "Crash": a new store over the same backend never saw the second batch.
    const after = await open(backend);
    expect(after.size).toBe(C);
    expect((await after.read(0, 1))[0]).toBe(1);
    // An aborted transaction leaves the backend as it was, and the data stays dirty for a retry.
    backend.failNextCommit = true;
    await expect(store.flush()).rejects.toThrow(/aborted/);
    expect((await (await open(backend)).read(0, 1))[0]).toBe(1);
    await store.flush();
    const retried = await open(backend);
    expect(retried.size).toBe(5 * C + 10);
    expect((await retried.read(0, 1))[0]).toBe(2);
  });

  it('never shows stale bytes after shrinking and growing again', async () => {
    const backend = new MemoryBackend();
    const store = await open(backend);
    await store.write(0, new Uint8Array(3 * C).fill(9));
    await store.flush();
    await store.truncate(C + 10);
    await store.truncate(3 * C); // grow back: bytes past C+10 must read as zero
    const got = await store.read(0, 3 * C);
    expect(got.subarray(0, C + 10).every((b) => b === 9)).toBe(true);
    expect(got.subarray(C + 10).every((b) => b === 0)).toBe(true);
    await store.flush();
    const fresh = await open(backend);
    expect(Buffer.compare(await fresh.read(0, 3 * C), got)).toBe(0);
    expect([...backend.chunks.keys()].sort()).toEqual([0, 1]);
  });

  it('distrusts the backend: bad metadata, damaged chunks, chunks past the recorded end', async () => {
    const backend = new MemoryBackend();
    await expect(ChunkedStore.open(backend)).rejects.toThrow(/no such disk/);
    backend.meta = { version: 1, size: -5, chunkSize: C };
    await expect(open(backend)).rejects.toThrow(/bad size/);
    backend.meta = { version: 1, size: 2 * C, chunkSize: 1000 };
    await expect(open(backend)).rejects.toThrow(/bad chunk size/);
    backend.meta = { version: 7 };
    await expect(open(backend)).rejects.toThrow(BlockStoreError);
    backend.meta = { version: 1, size: C + 100, chunkSize: C };
    backend.chunks.set(0, new Uint8Array(10));
    backend.chunks.set(1, new Uint8Array(C).fill(5)); // bytes past size 100 of chunk 1 are stale
    backend.chunks.set(7, new Uint8Array(C).fill(5)); // past the end entirely
    const store = await open(backend);
    await expect(store.read(0, 10)).rejects.toThrow(/chunk 0 is damaged/);
    const tail = await store.read(C, 100);
    expect(tail.every((b) => b === 5)).toBe(true);
    await store.truncate(8 * C);
    expect((await store.read(C + 100, 7 * C - 100)).every((b) => b === 0)).toBe(true);
    await store.flush();
    expect(backend.chunks.has(7)).toBe(false);
    expect(backend.chunks.get(1)!.subarray(100).every((b) => b === 0)).toBe(true);
  });

  it('refuses writes when read-only and reads past the end', async () => {
    const backend = new MemoryBackend();
    const w = await open(backend);
    await w.write(0, new Uint8Array(10));
    await w.flush();
    const ro = await open(backend, { readOnly: true });
    await expect(ro.write(0, new Uint8Array(1))).rejects.toThrow(/read-only/);
    await expect(ro.read(5, 10)).rejects.toThrow(/past the end/);
  });

  it('holds a VHD: create, write, flush, reopen from the backend', async () => {
    const backend = new MemoryBackend();
    const store = await ChunkedStore.open(backend, { create: true }); // default 64 KiB chunks
    const disk = await VhdDisk.create(store, { type: 'dynamic', size: 32 * 1024 * 1024, now: NOW, uniqueId: fixedUuid(1) });
    const model = new Uint8Array(disk.size);
    const rng = new Prng(4);
    for (let i = 0; i < 30; i++) {
      const n = 1 + rng.int(64);
      const s = rng.int(disk.size / 512 - n);
      const d = rng.bytes(n * 512);
      await disk.write(s, d);
      model.set(d, s * 512);
    }
    await disk.flush();
    const again = await VhdDisk.open(await ChunkedStore.open(backend));
    expect(Buffer.compare(await readAll(again), model)).toBe(0);
    // Sparse: far less stored than the file's length (blocks are 2 MiB, mostly zero).
    const stored = [...backend.chunks.values()].reduce((n, v) => n + v.length, 0);
    expect(stored).toBeLessThan(store.size / 4);
  });
});

// The chunked store's pipelining (what makes the IndexedDB disk keep up with raw IndexedDB):
// early write-backs run behind the writer, sequential reads fetch ahead in the background.
// Checked against a backend that answers late and out of step, like IndexedDB does.
import { describe, expect, it } from 'vitest';
import { ChunkedStore, type ChunkBackend, type ChunkBatch } from '../../engine-ts/disk/chunked-store';
import { Prng } from './helpers';

const C = 4096;

/** An object store whose answers arrive later; values are cloned when a request is made, as IndexedDB does. */
class SlowBackend implements ChunkBackend {
  chunks = new Map<number, Uint8Array>();
  meta: unknown;
  getChunksCalls = 0;
  commits: ChunkBatch[] = [];
  /** Commits wait for this gate when it is set. */
  gate: Promise<void> | null = null;
  failCommits = 0;
  private turn = 0;

  constructor(private readonly rng: Prng) {}

  private async later(): Promise<void> {
    const n = this.rng.int(4);
    for (let i = 0; i < n; i++) await new Promise<void>((r) => setTimeout(r, 0));
  }

  async getMeta() {
    return structuredClone(this.meta);
  }

  /** Lookups wait for this gate when it is set (after taking their snapshot). */
  fetchGate: Promise<void> | null = null;

  async getChunks(indices: number[]) {
    this.getChunksCalls++;
    const snapshot = indices.map((i) => this.chunks.get(i)?.slice());
    if (this.fetchGate) await this.fetchGate;
    await this.later();
    return snapshot;
  }

  commit(batch: ChunkBatch): Promise<void> {
    const order = ++this.turn;
    return (async () => {
      if (this.gate) await this.gate;
      await this.later();
      // The values are read when the transaction runs (IndexedDB's put() comes after the
      // database opens), so the store must not change them while the commit is pending.
      const put = batch.put.map(([i, v]) => [i, v.slice()] as const);
      const meta = structuredClone(batch.meta);
      if (this.failCommits > 0) {
        this.failCommits--;
        throw new Error(`commit ${order} aborted`);
      }
      for (const [from, to] of batch.deleteRanges) for (const k of [...this.chunks.keys()]) if (k >= from && k < to) this.chunks.delete(k);
      for (const [i, v] of put) this.chunks.set(i, v);
      this.meta = meta;
      this.commits.push({ ...batch, put: put.map(([i, v]) => [i, v]) });
    })();
  }
}

const open = (b: ChunkBackend, extra = {}) =>
  ChunkedStore.open(b, { create: true, chunkSize: C, maxCachedChunks: 24, maxDirtyChunks: 8, readAheadBytes: 8 * C, ...extra });

describe('ChunkedStore pipelining', () => {
  it('matches a plain byte array with late answers, background write-backs, read-ahead runs and failed commits', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rng = new Prng(seed);
      const backend = new SlowBackend(rng);
      let store = await open(backend);
      let model = new Uint8Array(0);
      for (let step = 0; step < 300; step++) {
        const op = rng.int(20);
        if (op < 8) {
          // Writes, often long runs that overflow the dirty limit (background write-backs).
          const off = rng.int(model.length + 2 * C);
          const len = 1 + rng.int(op < 3 ? 12 * C : 2 * C);
          const data = rng.int(5) === 0 ? new Uint8Array(len) : rng.bytes(len);
          const ops = [store.write(off, data)];
          if (off + len > model.length) {
            const m = new Uint8Array(off + len);
            m.set(model);
            model = m;
          }
          model.set(data, off);
          if (rng.int(3) === 0) backend.failCommits = 1; // the next commit fails
          await Promise.all(ops).catch((e: Error) => expect(e.message).toMatch(/aborted/));
        } else if (op < 13 && model.length > 0) {
          // A sequential run of reads (read-ahead), sometimes issued without waiting in between.
          let pos = rng.int(model.length);
          const pending: Promise<void>[] = [];
          for (let k = 0; k < 1 + rng.int(12) && pos < model.length; k++) {
            const len = Math.min(model.length - pos, 1 + rng.int(2 * C));
            const at = pos;
            const want = model.slice(at, at + len);
            // A failed background write-back may surface on any later operation.
            pending.push(store.read(at, len).then(
              (got) => expect(Buffer.compare(got, want)).toBe(0),
              (e: Error) => expect(e.message).toMatch(/aborted/),
            ));
            pos += len;
            if (rng.int(2) === 0) await pending[pending.length - 1];
          }
          await Promise.all(pending);
        } else if (op < 14) {
          const size = rng.int(model.length + C);
          await store.truncate(size);
          const m = new Uint8Array(size);
          m.set(model.subarray(0, size));
          model = m;
        } else if (op < 17) {
          try {
            await store.flush();
          } catch (e) {
            expect((e as Error).message).toMatch(/aborted/);
          }
        } else if (op < 18) {
          // Reopen after a successful flush: the new store sees everything.
          backend.failCommits = 0;
          await store.flush().catch(() => store.flush());
          store = await open(backend);
          expect(store.size).toBe(model.length);
        }
        expect(store.size).toBe(model.length);
      }
      backend.failCommits = 0;
      await store.flush().catch(() => store.flush());
      const fresh = await open(backend);
      expect(fresh.size).toBe(model.length);
      expect(Buffer.compare(await fresh.read(0, model.length), model)).toBe(0);
      for (const [i, v] of backend.chunks) {
        expect(i * C).toBeLessThan(model.length);
        expect(v.some((b) => b !== 0)).toBe(true);
      }
    }
  });

  it('reads a long sequential run with few lookups, fetching ahead while the caller works', async () => {
    const backend = new SlowBackend(new Prng(1));
    const data = new Prng(2).bytes(64 * C);
    let store = await open(backend, { readAheadBytes: 32 * C, maxCachedChunks: 128, maxDirtyChunks: 64 });
    await store.write(0, data);
    await store.flush();
    store = await open(backend, { readAheadBytes: 32 * C, maxCachedChunks: 128, maxDirtyChunks: 64 });
    backend.getChunksCalls = 0;
    for (let off = 0; off < data.length; off += C / 2) {
      expect(Buffer.compare(await store.read(off, C / 2), data.subarray(off, off + C / 2))).toBe(0);
    }
    // 128 reads over 64 chunks; without read-ahead that is one lookup per chunk. With a
    // 32-chunk window topped up a quarter at a time, lookups carry about 8 chunks.
    expect(store.stats.chunksFetched).toBe(64);
    expect(backend.getChunksCalls).toBeLessThanOrEqual(12);
    // A random read does not start a read-ahead.
    store = await open(backend, { readAheadBytes: 32 * C, maxCachedChunks: 128, maxDirtyChunks: 64 });
    await store.read(30 * C + 5, 10);
    expect(store.stats.chunksFetched).toBe(1);
  });

  it('lets writes go on while an early write-back is in flight, without changing what it commits', async () => {
    const backend = new SlowBackend(new Prng(3));
    const store = await open(backend, { maxCachedChunks: 16, maxDirtyChunks: 4 });
    await store.write(0, new Uint8Array(16 * C).fill(9));
    await store.flush(); // commit 0: a full cache of clean chunks
    let release = () => {};
    backend.gate = new Promise<void>((r) => (release = r));
    // Five more chunks of 1s: more than 4 dirty, so a write-back of them starts (held at the gate)
    // and the writes return without waiting for it.
    for (let i = 16; i < 21; i++) await store.write(i * C, new Uint8Array(C).fill(1));
    expect(backend.commits.length).toBe(1);
    // Rewrite chunk 16 while that commit still holds it: the commit must still carry the 1s.
    await store.write(16 * C, new Uint8Array(C).fill(2));
    release();
    backend.gate = null;
    await store.flush();
    expect(backend.commits.length).toBe(3);
    expect(backend.commits[1].put.find(([i]) => i === 16)?.[1][0]).toBe(1);
    expect(backend.commits[2].put.map(([i]) => i)).toEqual([16]);
    const fresh = await open(backend);
    const all = await fresh.read(0, 21 * C);
    expect(all.subarray(0, 16 * C).every((b) => b === 9)).toBe(true);
    expect(all.subarray(16 * C, 17 * C).every((b) => b === 2)).toBe(true);
    expect(all.subarray(17 * C).every((b) => b === 1)).toBe(true);
  });

  it('never lets a late read-ahead answer overwrite newer data', async () => {
    const backend = new SlowBackend(new Prng(6));
    const opts = { maxCachedChunks: 16, maxDirtyChunks: 4, readAheadBytes: 8 * C };
    let store = await open(backend, opts);
    await store.write(0, new Uint8Array(40 * C).fill(9));
    await store.flush();
    store = await open(backend, opts);
    await store.read(0, 10); // chunk 0
    let release = () => {};
    backend.fetchGate = new Promise<void>((r) => (release = r));
    await store.read(10, 10); // continues the run: a read-ahead of chunks 1.. starts, held at the gate
    await store.write(2 * C, new Uint8Array(C).fill(7)); // chunk 2 gets newer data
    for (let i = 20; i < 40; i++) await store.write(i * C, new Uint8Array(C).fill(5)); // commit, evict chunk 2
    await store.flush();
    expect(backend.chunks.get(2)![0]).toBe(7);
    release();
    backend.fetchGate = null;
    await new Promise((r) => setTimeout(r, 10)); // let the old answer (9s for chunk 2) arrive
    expect((await store.read(2 * C, C)).every((b) => b === 7)).toBe(true);
  });

  it('reports a failed early write-back at the next flush, keeps the data and commits it on retry', async () => {
    const backend = new SlowBackend(new Prng(4));
    const store = await open(backend, { maxCachedChunks: 16, maxDirtyChunks: 4 });
    backend.failCommits = 1;
    const rng = new Prng(5);
    const data = rng.bytes(20 * C);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.write(i * C, data.subarray(i * C, (i + 1) * C))));
    const flushed = await store.flush().then(() => 'ok', (e: Error) => e.message);
    // The failure surfaced once (on a later write or on this flush), and nothing was lost.
    const failures = results.filter((r) => r.status === 'rejected').length + (flushed === 'ok' ? 0 : 1);
    expect(failures).toBe(1);
    if (flushed !== 'ok') await store.flush();
    const fresh = await open(backend);
    expect(Buffer.compare(await fresh.read(0, 20 * C), data)).toBe(0);
  });
});

// The disk benchmark's browser side (loaded by disk-bench-run.ts into headless Chromium):
// sequential write then read of a dynamic VHD in IndexedDB through the disk library
// (VhdDisk over the chunked store), next to raw idb-keyval setMany/getMany of the same bytes.
// The comparable raw run stores values of the library's chunk size in batches of the size
// its early write-backs commit; a second raw run stores the requests as they are (64 KiB
// values), for reference. Random data, because Chromium compresses IndexedDB values and
// patterns would flatter every side.
import { clear, createStore, getMany, setMany } from 'idb-keyval';
import { IMAGE_CHUNK_SIZE, diskLibrary } from '../../engine-ts/api';

export interface DiskBenchOptions {
  /** Bytes moved per run, MiB. */
  totalMiB: number;
  /** Bytes per request, KiB (a guest's large I/O). */
  requestKiB: number;
  rounds: number;
}

export interface DiskBenchRun {
  writeMBps: number;
  readMBps: number;
}

export interface DiskBenchResult {
  options: DiskBenchOptions;
  chunkSize: number;
  /** Values per raw transaction (what the library's cache commits at once). */
  batch: number;
  /** Per round: raw at the chunk size, raw at the request size, the VHD disk. */
  raw: DiskBenchRun[];
  rawRequestSize: DiskBenchRun[];
  vhd: DiskBenchRun[];
}

declare global {
  interface Window {
    runDiskBench?: (o: DiskBenchOptions) => Promise<DiskBenchResult>;
  }
}

/** Random data in separate buffers: a view into one big buffer would be cloned whole by IndexedDB. */
function randomPieces(count: number, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const b = new Uint8Array(size);
    for (let o = 0; o < size; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(size, o + 65536)));
    out.push(b);
  }
  return out;
}

/** The same bytes cut into values of another size. */
function resplit(pieces: Uint8Array[], size: number): Uint8Array[] {
  const all = new Uint8Array(pieces.length * pieces[0].length);
  pieces.forEach((p, i) => all.set(p, i * p.length));
  const out: Uint8Array[] = [];
  for (let o = 0; o < all.length; o += size) out.push(all.slice(o, o + size));
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function rawRun(pieces: Uint8Array[], batch: number): Promise<DiskBenchRun> {
  const store = createStore('pvlab-bench-raw', 'kv');
  await clear(store);
  const bytes = pieces.length * pieces[0].length;
  const t0 = performance.now();
  for (let i = 0; i < pieces.length; i += batch) {
    await setMany(pieces.slice(i, i + batch).map((p, j) => [i + j, p] as [number, Uint8Array]), store);
  }
  const t1 = performance.now();
  const back: Uint8Array[] = [];
  for (let i = 0; i < pieces.length; i += batch) {
    const keys = [];
    for (let j = i; j < Math.min(pieces.length, i + batch); j++) keys.push(j);
    back.push(...(await getMany<Uint8Array>(keys, store)).map((v) => v!));
  }
  const t2 = performance.now();
  for (let i = 0; i < pieces.length; i++) if (!back[i] || !same(back[i], pieces[i])) throw new Error(`raw: value ${i} read back wrong`);
  await clear(store);
  return { writeMBps: mbps(bytes, t1 - t0), readMBps: mbps(bytes, t2 - t1) };
}

async function vhdRun(pieces: Uint8Array[], totalMiB: number): Promise<DiskBenchRun> {
  const lib = diskLibrary();
  const { disk } = await lib.create({ name: 'bench', type: 'dynamic', size: totalMiB * 1024 * 1024 });
  const size = pieces[0].length;
  const bytes = pieces.length * size;
  try {
    const w = await lib.open(disk.id);
    const t0 = performance.now();
    for (let i = 0; i < pieces.length; i++) await w.write((i * size) / 512, pieces[i]);
    await w.flush(); // durable: part of the cost
    const t1 = performance.now();
    await w.close();
    const r = await lib.open(disk.id, { readOnly: true }); // cold cache: every byte comes from IndexedDB
    const out = pieces.map(() => new Uint8Array(size));
    const t2 = performance.now();
    for (let i = 0; i < pieces.length; i++) await r.read((i * size) / 512, out[i]);
    const t3 = performance.now();
    await r.close();
    for (let i = 0; i < pieces.length; i++) if (!same(out[i], pieces[i])) throw new Error(`vhd: request ${i} read back wrong`);
    return { writeMBps: mbps(bytes, t1 - t0), readMBps: mbps(bytes, t3 - t2) };
  } finally {
    await lib.delete(disk.id);
  }
}

export async function runDiskBench(o: DiskBenchOptions): Promise<DiskBenchResult> {
  const size = o.requestKiB * 1024;
  const pieces = randomPieces((o.totalMiB * 1024 * 1024) / size, size);
  const chunks = resplit(pieces, IMAGE_CHUNK_SIZE);
  // An open disk caches 32 MiB and writes back when half of it is dirty.
  const batch = (16 * 1024 * 1024) / IMAGE_CHUNK_SIZE;
  const result: DiskBenchResult = { options: o, chunkSize: IMAGE_CHUNK_SIZE, batch, raw: [], rawRequestSize: [], vhd: [] };
  // Warm-up (database creation, JIT), then the three sides in turn, so drift hits each.
  await rawRun(chunks.slice(0, 16), batch);
  await vhdRun(pieces.slice(0, 64), 8);
  for (let r = 0; r < o.rounds; r++) {
    result.raw.push(await rawRun(chunks, batch));
    result.vhd.push(await vhdRun(pieces, o.totalMiB));
    result.rawRequestSize.push(await rawRun(pieces, batch * (IMAGE_CHUNK_SIZE / size)));
  }
  return result;
}

window.runDiskBench = runDiskBench;

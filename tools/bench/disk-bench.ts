// The disk benchmark's browser side (loaded by disk-bench-run.ts into headless Chromium):
// sequential write then read of a dynamic VHD in IndexedDB through the disk library
// (VhdDisk over the chunked store), next to raw idb-keyval setMany/getMany of the same bytes
// in batches of the size the chunked store commits. Random data, because Chromium compresses
// IndexedDB values and patterns would flatter both sides.
import { clear, createStore, getMany, setMany } from 'idb-keyval';
import { diskLibrary } from '../../engine-ts/api';
import { IdbChunkBackend } from '../../engine-ts/disk/idb-store';
const prof = { commit: 0, get: 0, commits: 0, gets: 0, chunks: 0 };
(window as any).__prof = prof;
const oc = IdbChunkBackend.prototype.commit, og = IdbChunkBackend.prototype.getChunks;
IdbChunkBackend.prototype.commit = async function (b) { const t = performance.now(); try { return await oc.call(this, b); } finally { prof.commit += performance.now() - t; prof.commits++; prof.chunks += b.put.length; } };
IdbChunkBackend.prototype.getChunks = async function (i) { const t = performance.now(); try { return await og.call(this, i); } finally { prof.get += performance.now() - t; prof.gets++; } };

export interface DiskBenchOptions {
  /** Bytes moved per run, MiB. */
  totalMiB: number;
  /** Bytes per request, KiB (a guest's large I/O). */
  requestKiB: number;
  /** Values per setMany/getMany transaction on the raw side. */
  batch: number;
  /** Size of each raw value, KiB (default: the request size). */
  rawValueKiB?: number;
  rounds: number;
}

export interface DiskBenchRun {
  writeMBps: number;
  readMBps: number;
}

export interface DiskBenchResult {
  options: DiskBenchOptions;
  raw: DiskBenchRun[];
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
    Object.assign(prof, { commit: 0, get: 0, commits: 0, gets: 0, chunks: 0 });
    const t0 = performance.now();
    for (let i = 0; i < pieces.length; i++) await w.write((i * size) / 512, pieces[i]);
    await w.flush();
    const t1 = performance.now();
    console.log('write', (t1 - t0).toFixed(0), JSON.stringify(prof));
    await w.close();
    const r = await lib.open(disk.id, { readOnly: true }); // cold cache: every byte comes from IndexedDB
    const out = pieces.map(() => new Uint8Array(size));
    Object.assign(prof, { commit: 0, get: 0, commits: 0, gets: 0, chunks: 0 });
    const t2 = performance.now();
    for (let i = 0; i < pieces.length; i++) await r.read((i * size) / 512, out[i]);
    const t3 = performance.now();
    console.log('read', (t3 - t2).toFixed(0), JSON.stringify(prof));
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
  const result: DiskBenchResult = { options: o, raw: [], vhd: [] };
  const rawPieces = o.rawValueKiB && o.rawValueKiB !== o.requestKiB ? resplit(pieces, o.rawValueKiB * 1024) : pieces;
  // Warm-up (database creation, JIT), then alternate the two sides so drift hits both.
  await rawRun(pieces.slice(0, 64), o.batch);
  await vhdRun(pieces.slice(0, 64), 8);
  for (let r = 0; r < o.rounds; r++) {
    result.raw.push(await rawRun(rawPieces, o.batch));
    result.vhd.push(await vhdRun(pieces, o.totalMiB));
  }
  return result;
}

window.runDiskBench = runDiskBench;

// `npm run bench:snapshot -- --profile`: where pvlab's save and restore time and its bytes go,
// measured on the engine's own pieces in Node (the API gives only the whole call). The machine
// is the shipped snapshot resumed on this thread, the way LocalMachine.snapshot and
// LocalMachine.resume put the pieces together; each piece is timed alone, several times
// (median). Alternatives (other deflate levels, brotli, zstd) are timed on the same blocks, to
// show what a change of compressor would give.
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { machineLayout } from '../../engine-ts/config/machine';
import { captureMachine, restoreMachine } from '../../engine-ts/snapshot/capture';
import { decodeSnapshot, encodeSnapshot, PAGE, PAGES_PER_BLOCK, readHeader } from '../../engine-ts/snapshot/format';
import { deflate, inflate, sha256 } from '../../engine-ts/snapshot/bytes';
import { baseViewsFor, planRefs } from '../../engine-ts/snapshot/bases';
import { baseImagesNeeded } from '../../engine-ts/snapshot/format';
import { loadCoreModuleFromFile } from '../../engine-ts/worker/node-host';
import { LocalMachine } from '../../engine-ts/worker/local-machine';
import { machineMemory } from '../../engine-ts/worker/machine-memory';
import { createMachineMemoryFor } from '../../engine-ts/worker/wasm-core';
import type { RunnerHost } from '../../engine-ts/worker/runner';

const REPEAT = 5;

/** A host for a machine that never runs here. */
const idleHost: RunnerHost = {
  idleWait: () => Promise.resolve(),
  yieldToHost: () => Promise.resolve(),
  wallNow: () => performance.now(),
};

interface Timed<T> { ms: number; cpuMs: number; value: T }

/** Median wall and CPU time (the whole process: zlib's and Web Crypto's threads too) of REPEAT runs after a warm-up. */
async function timed<T>(fn: () => Promise<T> | T, repeat = REPEAT): Promise<Timed<T>> {
  const wall: number[] = [];
  const cpu: number[] = [];
  let value!: T;
  if (repeat > 1) await fn();
  for (let i = 0; i < repeat; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    value = await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return { ms: mid(wall), cpuMs: mid(cpu), value };
}

/** "wall ms (CPU ms)": under load the CPU time is the steadier figure. */
const ms = (t: { ms: number; cpuMs: number }) => `${t.ms.toFixed(0)} ms (CPU ${t.cpuMs.toFixed(0)} ms)`;
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

/** The page blocks encodeSnapshot makes for a full snapshot: a bitmap, then the present pages, per 4 MiB of memory. */
function pageBlocks(pages: Map<number, Uint8Array>, total: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let first = 0; first < total; first += PAGES_PER_BLOCK) {
    const n = Math.min(PAGES_PER_BLOCK, total - first);
    const present: Uint8Array[] = [];
    const bitmap = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) {
      const d = pages.get(first + i);
      if (d) { bitmap[i >> 3] |= 1 << (i & 7); present.push(d); }
    }
    if (!present.length) continue;
    const raw = new Uint8Array(bitmap.length + present.length * PAGE);
    raw.set(bitmap);
    present.forEach((d, i) => raw.set(d, bitmap.length + i * PAGE));
    out.push(raw);
  }
  return out;
}

function zstdSize(data: Uint8Array, level: number): number | null {
  const r = spawnSync('zstd', [`-${level}`, '-c', '-q'], { input: data, maxBuffer: 1 << 30 });
  return r.status === 0 ? r.stdout.length : null;
}

export async function profileSnapshots(coreWasm: string, shipped: Uint8Array, guest: { kernel: Uint8Array; initrd: Uint8Array }): Promise<string> {
  const out: string[] = [`pvlab snapshot profile (Node, this thread; median of ${REPEAT} after a warm-up; wall time, and the process's CPU time):`];
  const say = (s: string) => out.push(`- ${s}`);
  const module = await loadCoreModuleFromFile(coreWasm);

  // ---- restore: the pieces of LocalMachine.resume ----
  const images = (ref: { size: number }) => [guest.kernel, guest.initrd].find((b) => b.length === ref.size);
  // (The first resume makes the base views; timed() runs it once untimed first.)
  const resume = await timed(async () => (await LocalMachine.resume(module, shipped, {}, idleHost, { images })).machine);
  const header = await timed(() => readHeader(shipped));
  const bases = await baseViewsFor(header.value.header.config, baseImagesNeeded(header.value.header), images);
  const hash = await timed(() => sha256(shipped.subarray(0, shipped.length - 32)));
  const decode = await timed(() => decodeSnapshot(shipped, { bases }));
  const snap = decode.value;
  const { header: h, bodyStart } = header.value;
  const blocks: Array<{ kind: string; data: Uint8Array; rawLength: number }> = [];
  let off = bodyStart;
  for (const b of h.blocks) { blocks.push({ kind: b.kind, data: shipped.subarray(off, off + b.length), rawLength: b.rawLength }); off += b.length; }
  const inflateAll = await timed(() => Promise.all(blocks.map((b) => inflate(b.data, b.rawLength, b.kind))));
  const inflateZlib = await timed(() => blocks.map((b) => zlib.inflateRawSync(b.data)));
  const m = resume.value;
  const n = snap.header.config.memoryMiB * 256;
  const mem = machineMemory(m.memory, machineLayout(snap.header.config.memoryMiB, snap.header.config.xen));
  const load = await timed(() => restoreMachine(m.board, mem, n, snap));
  const memory = await timed(() => createMachineMemoryFor(machineLayout(snap.header.config.memoryMiB, snap.header.config.xen)));
  out.push('', 'Restore (`resumeMachine` in Node):');
  say(`whole LocalMachine.resume: ${ms(resume)}`);
  say(`decodeSnapshot: ${ms(decode)}, of which readHeader ${ms(header)} (its SHA-256 over ${mb(shipped.length)}: ${ms(hash)}) `
    + `and inflating ${blocks.length} blocks to ${mb(blocks.reduce((a, b) => a + b.rawLength, 0))} (DecompressionStream, all at once): ${ms(inflateAll)} `
    + `(zlib.inflateRawSync, one after another: ${ms(inflateZlib)})`);
  say(`a new machine memory (WebAssembly.Memory, shared, ${snap.header.config.memoryMiB} MiB of RAM): ${ms(memory)}`);
  say(`restoreMachine (zero the RAM, copy ${snap.pages.size} pages, load every part): ${ms(load)}`);
  say(`the rest (core instance, board, between the pieces): about ${(resume.ms - decode.ms - memory.ms - load.ms).toFixed(0)} ms`);

  // ---- save: the pieces of LocalMachine.snapshot ----
  const whole = await timed(() => m.snapshot());
  const delta = await timed(() => m.snapshot({ base: shipped, console: snap.header.console }));
  const quiesce = await timed(() => m.board.quiesce());
  const cap = await timed(() => captureMachine(m.board, mem, n));
  const c = cap.value;
  const plan = await timed(() => planRefs(c.pages, snap.header.config, bases));
  const encode = await timed(() => encodeSnapshot({ header: { ...snap.header }, state: c.state, vcpus: c.vcpus, pages: c.pages, zeroPages: new Set(), images: new Map(), disks: new Map(), refs: plan.value }, { bases }));
  const encodePlain = await timed(() => encodeSnapshot({ header: { ...snap.header }, state: c.state, vcpus: c.vcpus, pages: c.pages, zeroPages: new Set(), images: new Map(), disks: new Map() }));
  const raws = pageBlocks(c.pages, n);
  const rawBytes = raws.reduce((a, r) => a + r.length, 0);
  const defl = await timed(() => Promise.all(raws.map((r) => deflate(r))));
  const saveHash = await timed(() => sha256(whole.value.subarray(0, whole.value.length - 32)));
  out.push('', 'Save (`snapshot()` in Node; the vCPU stands still for quiesce and captureMachine only, inside Runner.betweenSlices; encodeSnapshot runs while the guest runs on):');
  say(`whole LocalMachine.snapshot: ${ms(whole)}`);
  say(`quiesce: ${ms(quiesce)}; captureMachine (every part's state, the vCPU, ${c.pages.size} non-zero pages of ${n} copied out): ${ms(cap)}`);
  say(`planRefs (which pages to store relative to the base views: ${plan.value.size} pages): ${ms(plan)}`);
  say(`encodeSnapshot with them: ${ms(encode)}, ${mb(encode.value.length)}; without them: ${ms(encodePlain)}, ${mb(encodePlain.value.length)}, of which deflating the ${raws.length} page blocks (${mb(rawBytes)}, CompressionStream, all at once) ${ms(defl)} and the SHA-256 ${ms(saveHash)}`);
  const dh = await readHeader(delta.value);
  const dpages = dh.header.blocks.filter((b) => b.kind === 'pages');
  say(`a delta (\`snapshot({ base })\`, the guest not run since the base, with the console the page would give it): ${ms(delta)}, `
    + `${delta.value.length.toLocaleString('en-US')} bytes: header JSON ${(dh.bodyStart - 16).toLocaleString('en-US')} (of which console text ${dh.header.console.length.toLocaleString('en-US')} characters, not compressed), `
    + `${dpages.length} page blocks ${dpages.reduce((a, b) => a + b.length, 0).toLocaleString('en-US')}, `
    + dh.header.blocks.filter((b) => b.kind !== 'pages').map((b) => `${b.kind} ${b.length.toLocaleString('en-US')}`).join(', ')
    + `; the machine keeps the last base it decoded (decodeSnapshot above: ${decode.ms.toFixed(0)} ms, paid for the first delta only)`);

  // ---- bytes: where they go, and what other compressors make of the same blocks ----
  const byKind = new Map<string, { n: number; len: number; raw: number }>();
  for (const b of h.blocks) {
    const k = byKind.get(b.kind) ?? { n: 0, len: 0, raw: 0 };
    k.n++; k.len += b.length; k.raw += b.rawLength;
    byKind.set(b.kind, k);
  }
  out.push('', `Bytes of the shipped snapshot (${mb(shipped.length)}):`);
  say(`header JSON ${(bodyStart - 16).toLocaleString('en-US')} bytes; `
    + [...byKind].map(([k, v]) => `${k}: ${v.n} block${v.n > 1 ? 's' : ''}, ${mb(v.len)} from ${mb(v.raw)}`).join('; '));
  const hashes = new Map<string, number>();
  for (const d of c.pages.values()) {
    const k = Buffer.from(d).toString('base64');
    hashes.set(k, (hashes.get(k) ?? 0) + 1);
  }
  say(`${c.pages.size} non-zero pages (${mb(c.pages.size * PAGE)}), ${hashes.size} distinct`);
  const levels: string[] = [];
  for (const level of [1, 6, 9]) {
    const t = await timed(() => raws.map((r) => zlib.deflateRawSync(r, { level })), 1);
    levels.push(`deflate ${level}: ${mb(t.value.reduce((a, x) => a + x.length, 0))} in ${ms(t)}`);
  }
  for (const q of [5, 9]) {
    const t = await timed(() => raws.map((r) => zlib.brotliCompressSync(r, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q } })), 1);
    levels.push(`brotli ${q}: ${mb(t.value.reduce((a, x) => a + x.length, 0))} in ${ms(t)}`);
  }
  const all = new Uint8Array(rawBytes);
  raws.reduce((o, r) => { all.set(r, o); return o + r.length; }, 0);
  for (const level of [3, 19]) {
    const z = zstdSize(all, level);
    if (z !== null) levels.push(`zstd -${level} (one stream, the CLI): ${mb(z)}`);
  }
  say(`the same page blocks through other compressors (zlib in Node, one block after another, timed once): ${levels.join('; ')}`);
  return out.join('\n');
}

// The snapshot benchmark's procedure, the same in Node and in Chromium (snapshot-bench.ts runs
// it in Node and, through snapshot-bench-page.ts, in the page): pvlab and v86 each save and
// restore the same kind of booted 128 MiB Linux, and pvlab makes the share link for
// "booted, then `echo hello > ~/hello.txt`". The host gives the two emulators (pvlab's API of
// that host, v86's constructor with the options the booted v86 state was made with); the
// rest is plain Web APIs (performance.now, CompressionStream), present in both.
import type { MachineEvents, MachineHandle } from '../../engine-ts/config/machine';
import { toBase64 } from '../../engine-ts/snapshot/bytes';
import { decodeSnapshot, peekHeader, readHeader } from '../../engine-ts/snapshot/format';
import { linkFragment } from '../../engine-ts/snapshot/link';
import { initrdView, kernelView } from '../../engine-ts/snapshot/bases';
import { ConsoleSession } from './console-session';
import { PROMPT, type V86Instance } from './linux-measure';

export { PROMPT, READY, type V86Instance } from './linux-measure';
/** What the link's machine did after the shipped snapshot. */
export const LINK_COMMAND = 'echo hello > ~/hello.txt';
const WAIT_MS = 120_000;

export interface PvlabApi {
  /** resumeMachine of this host (a .pvsnap, or a delta with its base). */
  resume(file: Uint8Array, events: MachineEvents, opts: { base?: Uint8Array; pacing?: 'realtime' | 'fast' }): Promise<{ machine: MachineHandle; header: { console: string } }>;
  /**
   * The page only: keep a machine worker started ahead (`prepareMachines()`, as the app does
   * when it loads), or not (each machine starts its worker when it is made).
   */
  workerAhead?: (keep: boolean) => void;
}

export interface V86Api {
  /** A new emulator (not started) with the same options as the one whose state is restored. */
  create(): V86Instance;
}

/** The page's inputs (snapshot-bench.ts serves them under FILES_URL to snapshot-bench-page.ts). */
export const PAGE_FILES = ['shipped.pvsnap', 'v86-booted.bin', 'bios.bin', 'bzImage', 'initrd.img', 'libv86.mjs', 'v86.wasm'] as const;
export const FILES_URL = '/__snapshot-bench/';

export interface PageOptions {
  /** What the table calls the browser. */
  host: string;
  runs: number;
  memoryMiB: number;
  cmdline: string;
}

export interface StepInputs {
  /** The shipped snapshot (public/snapshots/linux.pvsnap): the guest booted to its shell. */
  shipped: Uint8Array;
  /** v86's save_state of the same guest booted to the same shell (uncompressed, as save_state gives it). */
  v86Booted: ArrayBuffer;
  /** Timed repetitions of each measurement (after one untimed warm-up). */
  runs: number;
  /** The guest's bzImage and initrd: the shipped snapshot's pages are stored relative to their base views. */
  kernel: Uint8Array;
  initrd: Uint8Array;
}

/** Every timing is a list of milliseconds, one per run. */
export interface StepFigures {
  host: string;
  pvlab: {
    /**
     * Making the base views from the guest's images (kernelView + initrdView on the calling
     * thread): what a host pays once (Node: per process, at its first resume; the page: in a
     * worker when it loads), before the restores below.
     */
    prepareMs: number[];
    /** resumeMachine(shipped) until the handle exists (in the page: with a machine worker started ahead, after a second's idle). */
    restoreMs: number[];
    /** The page only: the same, with the machine's worker started at the call. */
    coldRestoreMs: number[];
    /** Parts of a restore, on this thread: readHeader (the header checked, SHA-256 over the file) and decodeSnapshot (that, then every block inflated). */
    headerMs: number[];
    decodeMs: number[];
    /** snapshot() of the running machine, after the link command. */
    saveMs: number[];
    /** Of saveMs, the time the guest stood still (MachineStats.lastSave.pausedMs: the capture; compression runs after it). */
    savePauseMs: number[];
    fullBytes: number;
    /** snapshot({ base: shipped }): the delta a share link carries. */
    deltaSaveMs: number[];
    deltaPauseMs: number[];
    deltaBytes: number;
    /** The link's URL fragment (linkFragment: `snap=` and the delta in base64url), characters. */
    linkChars: number;
    /** resumeMachine(delta, { base: shipped }) until the handle exists. */
    linkRestoreMs: number[];
  };
  v86: {
    /** new V86 (not started) until emulator-loaded, then restore_state(raw state): the whole stretch. */
    createRestoreMs: number[];
    /** restore_state(raw state) alone, into an emulator already created. */
    restoreMs: number[];
    /** Gunzip of the shipped (gzipped) state. */
    gunzipMs: number[];
    /** save_state() of the running emulator, after the link command, until the ArrayBuffer exists. */
    saveMs: number[];
    rawBytes: number;
    /** gzip (CompressionStream, zlib's default level) of that state. */
    gzipMs: number[];
    gzipBytes: number;
    /** The gzipped state base64url-encoded: v86 has no delta, so this is what a link would carry. */
    linkChars: number;
  };
}

const now = () => performance.now();

async function pipe(data: Uint8Array, through: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(through);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
export const gzip = (b: Uint8Array) => pipe(b, new CompressionStream('gzip'));
export const gunzip = (b: Uint8Array) => pipe(b, new DecompressionStream('gzip'));

function withTimeout<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** A v86 emulator created and loaded (its wasm instantiated, its images in place), not running. */
export function loadedV86(api: V86Api): Promise<V86Instance> {
  const e = api.create();
  return withTimeout(new Promise<V86Instance>((resolve) => e.add_listener('emulator-loaded', () => resolve(e))), 'v86: emulator-loaded');
}

/** Type a command line at the shell and wait for the next prompt. */
async function command(session: ConsoleSession, send: (s: string) => void, line: string, expect?: RegExp): Promise<string> {
  const from = session.length;
  send(`${line}\r`);
  const m = await session.waitFor(PROMPT, WAIT_MS, `\`${line}\`: the prompt after it`, from);
  const out = session.slice(from, m.match.index);
  if (expect && !expect.test(out)) throw new Error(`\`${line}\` printed ${JSON.stringify(out.slice(-200))}, expected ${expect}`);
  return out;
}

/**
 * A pvlab machine resumed from `file` and running, as the page runs one: pacing realtime (an
 * idle guest sleeps), and the console's last 16 KiB (the snapshot's, then what the guest
 * wrote) kept to go into the next snapshot.
 */
async function runningPvlab(api: PvlabApi, file: Uint8Array, base?: Uint8Array) {
  const session = new ConsoleSession();
  const dec = new TextDecoder();
  let tail = '';
  const onConsole = (b: Uint8Array) => {
    session.events.onOutput(b);
    tail = (tail + dec.decode(b, { stream: true })).slice(-16384);
  };
  const { machine, header } = await api.resume(file, { onConsole }, { base, pacing: 'realtime' });
  tail = (header.console + tail).slice(-16384);
  machine.run().then(
    (r) => session.events.onStopped(r.kind),
    (e: unknown) => session.events.onStopped(`run failed: ${(e as Error).message}`),
  );
  const send = (s: string) => machine.sendInput(new TextEncoder().encode(s));
  return { machine, session, send, console: () => tail };
}

async function runningV86(api: V86Api, state: ArrayBuffer) {
  const emulator = await loadedV86(api);
  const session = new ConsoleSession();
  emulator.add_listener('serial0-output-byte', (b) => session.events.onOutput(Uint8Array.of(b)));
  await emulator.restore_state(state);
  emulator.run();
  return { emulator, session, send: (s: string) => emulator.serial0_send(s) };
}

/**
 * The whole procedure on one host. Restores alternate pvlab and v86 round by round (so a
 * change of load hits both); then both machines type the link command and stay running (both
 * guests idle at the prompt, which costs either emulator next to nothing) while their saves
 * alternate the same way.
 */
export async function runSteps(host: string, pv: PvlabApi, v86: V86Api, input: StepInputs, progress: (msg: string) => void): Promise<StepFigures> {
  const { shipped, runs } = input;
  const f: StepFigures = {
    host,
    pvlab: { prepareMs: [], restoreMs: [], coldRestoreMs: [], headerMs: [], decodeMs: [], saveMs: [], savePauseMs: [], fullBytes: 0, deltaSaveMs: [], deltaPauseMs: [], deltaBytes: 0, linkChars: 0, linkRestoreMs: [] },
    v86: { createRestoreMs: [], restoreMs: [], gunzipMs: [], saveMs: [], rawBytes: 0, gzipMs: [], gzipBytes: 0, linkChars: 0 },
  };
  const v86Gz = await gzip(new Uint8Array(input.v86Booted));

  const times = `${runs} run${runs > 1 ? 's' : ''}`;
  progress(`${host}: base views made from the guest's images (${times}, after a warm-up)`);
  const roles = peekHeader(shipped).header.config.guest.images.map((im) => im.role);
  const bases = new Map<number, Uint8Array>();
  for (let r = -1; r < runs; r++) {
    const t0 = now();
    const kernel = kernelView(input.kernel);
    const initrd = await initrdView(input.initrd);
    if (r >= 0) f.pvlab.prepareMs.push(now() - t0);
    bases.set(roles.indexOf('kernel'), kernel).set(roles.indexOf('initrd'), initrd);
  }
  progress(`${host}: restores (${times} each, after a warm-up)`);
  for (let r = -1; r < runs; r++) {
    const keep = r >= 0;
    if (pv.workerAhead) {
      // A user's page is idle before a click: its worker (started ahead) is ready.
      pv.workerAhead(true);
      await new Promise((res) => setTimeout(res, 1000));
    }
    let t0 = now();
    const { machine } = await pv.resume(shipped, {}, { pacing: 'realtime' });
    if (keep) f.pvlab.restoreMs.push(now() - t0);
    machine.dispose();
    if (pv.workerAhead) {
      pv.workerAhead(false);
      await new Promise((res) => setTimeout(res, 200));
      t0 = now();
      const cold = await pv.resume(shipped, {}, { pacing: 'realtime' });
      if (keep) f.pvlab.coldRestoreMs.push(now() - t0);
      cold.machine.dispose();
      pv.workerAhead(true);
    }
    t0 = now();
    await readHeader(shipped);
    if (keep) f.pvlab.headerMs.push(now() - t0);
    t0 = now();
    await decodeSnapshot(shipped, { bases });
    if (keep) f.pvlab.decodeMs.push(now() - t0);

    t0 = now();
    const raw = await gunzip(v86Gz);
    if (keep) f.v86.gunzipMs.push(now() - t0);
    t0 = now();
    const e = await loadedV86(v86);
    const t1 = now();
    await e.restore_state(raw.buffer as ArrayBuffer);
    const t2 = now();
    if (keep) {
      f.v86.createRestoreMs.push(t2 - t0);
      f.v86.restoreMs.push(t2 - t1);
    }
    await e.destroy();
  }

  progress(`${host}: both guests run \`${LINK_COMMAND}\``);
  const p = await runningPvlab(pv, shipped);
  const v = await runningV86(v86, input.v86Booted);
  try {
    await command(p.session, p.send, LINK_COMMAND);
    await command(v.session, v.send, LINK_COMMAND);

    progress(`${host}: saves (${times} each, after a warm-up)`);
    let delta: Uint8Array = new Uint8Array(0);
    for (let r = -1; r < runs; r++) {
      const keep = r >= 0;
      let t0 = now();
      const full = await p.machine.snapshot({ console: p.console() });
      if (keep) f.pvlab.saveMs.push(now() - t0);
      if (keep) f.pvlab.savePauseMs.push((await p.machine.stats()).lastSave!.pausedMs);
      f.pvlab.fullBytes = full.length;

      t0 = now();
      delta = await p.machine.snapshot({ console: p.console(), base: shipped });
      if (keep) f.pvlab.deltaSaveMs.push(now() - t0);
      if (keep) f.pvlab.deltaPauseMs.push((await p.machine.stats()).lastSave!.pausedMs);
      f.pvlab.deltaBytes = delta.length;

      t0 = now();
      const state = await v.emulator.save_state();
      if (keep) f.v86.saveMs.push(now() - t0);
      f.v86.rawBytes = state.byteLength;

      t0 = now();
      const gz = await gzip(new Uint8Array(state));
      if (keep) f.v86.gzipMs.push(now() - t0);
      f.v86.gzipBytes = gz.length;
      if (r === runs - 1) f.v86.linkChars = toBase64(gz, true).length;
    }
    // The page's Copy link: a fragment, or null past LINK_MAX_BYTES (then count it anyway).
    f.pvlab.linkChars = (linkFragment(delta) ?? `snap=${toBase64(delta, true)}`).length;

    progress(`${host}: restoring the link (${times}, after a warm-up) and checking ~/hello.txt`);
    for (let r = -1; r < runs; r++) {
      const t0 = now();
      const { machine } = await pv.resume(delta, {}, { base: shipped, pacing: 'realtime' });
      if (r >= 0) f.pvlab.linkRestoreMs.push(now() - t0);
      machine.dispose();
    }
    const linked = await runningPvlab(pv, delta, shipped);
    try {
      // The link is worth nothing unless the file is there: a wrong answer stops the bench.
      await command(linked.session, linked.send, 'cat ~/hello.txt', /\nhello\n/);
    } finally {
      await linked.machine.stop();
      linked.machine.dispose();
    }
  } finally {
    await p.machine.stop();
    p.machine.dispose();
    await v.emulator.stop();
    await v.emulator.destroy();
  }
  return f;
}

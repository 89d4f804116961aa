// Page side of a machine running in a Web Worker.
import * as Comlink from 'comlink';
import * as MM from '../../engine-wasm/memory-map';
import coreWasmUrl from '../../engine-wasm/build/core.wasm?url';
import { createMachineMemoryFor } from './wasm-core';
import { guestBytes, machineMemory } from './machine-memory';
import { ConsoleRing } from './console-ring';
import type { LinkEndpoint } from '../network/link-endpoint';
import type { EventWants, MachineWorkerApi, SharedBaseView } from './machine.worker';
import { baseImagesNeeded, inflatePagesInto, pageBlocksOf, peekHeader, type SnapshotHeader } from '../snapshot/format';
import type { InspectOptions } from '../config/inspect';
import type { NicSpec, DiskSpec, MachineConfig, MachineEvents, MachineHandle, MachineLayout, RunOptions, SnapshotOptions, StopReason } from '../config/machine';
import { machineLayout, resolveConfig } from '../config/machine';
import { VcpuState } from '../platform/vcpu-state';
import { VCPU_THREAD_CONSTANTS } from './vcpu-thread';
import { blockTaker } from './block-taker';

let modulePromise: Promise<WebAssembly.Module> | null = null;
function coreModule(): Promise<WebAssembly.Module> {
  modulePromise ??= WebAssembly.compileStreaming(fetch(coreWasmUrl));
  return modulePromise;
}

/**
 * A machine worker started ahead of need. A new Web Worker takes the page 50 to 250 ms before
 * its script runs (fetched, compiled, evaluated), which a click on Boot or Resume would
 * otherwise wait for; once prepareMachines() was called, each machine takes this one and the
 * next is started a moment later.
 */
let spare: Worker | null = null;
let keepSpare = false;
const SPARE_DELAY_MS = 500;

function newMachineWorker(): Worker {
  return new Worker(new URL('./machine.worker.ts', import.meta.url), { type: 'module', name: 'vcpu0' });
}

function takeMachineWorker(): Worker {
  const w = spare ?? newMachineWorker();
  spare = null;
  // The next one starts after the machine that takes this one has had the page for a moment.
  if (keepSpare) setTimeout(() => { if (keepSpare) spare ??= newMachineWorker(); }, SPARE_DELAY_MS);
  return w;
}

/**
 * Base views of the guest images the page offers (snapshot/bases.ts), made once per page in a
 * worker of their own, in shared memory that every machine worker is handed: a snapshot whose
 * pages are stored relative to them resumes without making them again (about 1 s for a
 * Linux kernel).
 */
let bases: Promise<SharedBaseView[]> | null = null;
let basesMade: SharedBaseView[] = [];

function prepareBases(urls: string[]): Promise<SharedBaseView[]> {
  bases ??= (async () => {
    const w = newMachineWorker();
    try {
      basesMade = await Comlink.wrap<MachineWorkerApi>(w).prepareBases(urls);
    } catch {
      basesMade = []; // the machines make what they need themselves
    } finally {
      w.terminate();
    }
    return basesMade;
  })();
  return bases;
}

/** The views a snapshot's page blocks need, by image index, if every one is among `views`; else null. */
function viewsFor(header: SnapshotHeader, views: SharedBaseView[]): Map<number, Uint8Array> | null {
  const out = new Map<number, Uint8Array>();
  for (const i of baseImagesNeeded(header)) {
    const ref = header.config.guest.images[i];
    const v = views.find((x) => x.role === ref.role && x.sha256 === ref.sha256);
    if (!v) return null;
    out.set(i, v.view);
  }
  return out;
}

/** Settles when the base views prepareMachines({ baseImages }) started are made (at once if none were asked for). */
export async function baseImagesReady(): Promise<void> {
  await bases;
}

/**
 * Get ready to run machines: compile the x86 core and start a machine worker, so the first
 * machine starts without waiting for either, and keep one worker started from then on. A page
 * that will run machines calls this when it loads. `{ keep: false }` stops keeping one (each
 * machine then starts its own worker when it is made). `baseImages`: URLs of the guest images
 * (a Linux bzImage and initrd) whose base views to make now, for the snapshots that need them.
 */
export function prepareMachines(opts: { keep?: boolean; baseImages?: string[] } = {}): void {
  if (opts.baseImages?.length) void prepareBases(opts.baseImages);
  keepSpare = opts.keep !== false;
  if (!keepSpare) {
    spare?.terminate();
    spare = null;
    return;
  }
  void coreModule().catch(() => {}); // a failure shows when a machine is made
  spare ??= newMachineWorker();
}

export async function createWorkerMachine(config: MachineConfig, events: MachineEvents): Promise<MachineHandle> {
  const resolved = resolveConfig(config);
  const w = startWorker(resolved.layout, events);
  try {
    const module = await coreModule();
    startVcpuWorkers(w, module, resolved.vcpus);
    await w.remote.create(module, w.memory, resolved, Comlink.proxy(events), w.wants, basesMade);
  } catch (e) {
    terminate(w);
    throw e;
  }
  return workerHandle(w);
}

/** What resumeMachine takes in the page (see LocalMachine.resume). */
export interface BrowserResumeOptions {
  /** The full snapshot a delta was made against. */
  base?: Uint8Array;
  /** URLs of guest images the page can offer if the guest reboots (matched by SHA-256). */
  imageUrls?: string[];
  /** Disks from the disk library for the snapshot machine's disk slots. */
  disks?: DiskSpec[];
  pacing?: 'realtime' | 'fast';
  /** Translate hot guest code (MachineConfig.jit; not part of the snapshot). */
  jit?: boolean;
  /** Disks the snapshot carries become library disks named "<disk> (<carriedName>)". */
  carriedName?: string;
}

/**
 * Resume a .pvsnap in a new worker. Its header is read here first (it says how much memory to
 * make); the worker checks the whole file. A full snapshot's page blocks are shared out between
 * this thread and the worker, each taking the next one as it is free, and inflated straight
 * into the machine's memory (DecompressionStream inflates on the calling thread: one thread
 * alone takes about 190 ms for the 33 MB of a booted Linux). The machine runs only once both
 * have succeeded.
 */
export async function resumeWorkerMachine(file: Uint8Array, events: MachineEvents, opts: BrowserResumeOptions = {}): Promise<{ machine: MachineHandle; header: SnapshotHeader }> {
  const { header } = peekHeader(file);
  const layout = machineLayout(header.config.memoryMiB, header.config.xen);
  const w = startWorker(layout, events);
  try {
    const module = await coreModule();
    startVcpuWorkers(w, module, header.config.vcpus);
    // Pages stored relative to base views: the worker needs them (started when the page loaded).
    // (A delta's base may need them too.)
    const needed = baseImagesNeeded(header).length > 0 || (opts.base !== undefined && baseImagesNeeded(peekHeader(opts.base).header).length > 0);
    const views = needed && bases ? await bases : basesMade;
    // This thread inflates such blocks too if it has every view they need (as the worker then does).
    const mine = viewsFor(header, views);
    const blocks = pageBlocksOf(header, { withRefs: mine !== null });
    // The index into `blocks` of the next block either side takes.
    const next = new Int32Array(new SharedArrayBuffer(4));
    // The file goes over as a transferred copy: cloning 12 MB into the message delayed its
    // arrival by 30 to 90 ms.
    const copy = file.slice();
    const resumed = w.remote.resume(module, w.memory, Comlink.transfer(copy, [copy.buffer]), Comlink.proxy(events), w.wants, { ...opts, bases: views, pagesShared: blocks.length ? { blocks, next } : undefined });
    resumed.catch(() => {}); // awaited below, after this thread's part
    if (blocks.length) {
      let error: string | null = null;
      try {
        // Between blocks, the page's other tasks get their turn.
        await inflatePagesInto(file, blockTaker(blocks, next), guestBytes(w.memory, layout), () => new Promise((r) => setTimeout(r, 0)), mine ?? undefined);
      } catch (e) {
        error = (e as Error).message;
      }
      await w.remote.pagesWritten(error);
    }
    const h = await resumed;
    return { machine: workerHandle(w), header: h };
  } catch (e) {
    terminate(w);
    throw e;
  }
}

interface StartedWorker {
  worker: Worker;
  /** The workers of vCPUs 1..N-1 (vcpu.worker.ts); vCPU 0 runs in `worker`, with the board. */
  vcpuWorkers: Worker[];
  remote: Comlink.Remote<MachineWorkerApi>;
  memory: WebAssembly.Memory;
  ring: ConsoleRing;
  vcpu0: VcpuState;
  wants: EventWants;
}

function startWorker(layout: MachineLayout, events: MachineEvents): StartedWorker {
  if (!globalThis.crossOriginIsolated)
    throw new Error('this page is not cross-origin isolated (COOP/COEP headers missing): shared memory is unavailable');
  const memory = createMachineMemoryFor(layout);
  const worker = takeMachineWorker();
  return {
    worker,
    vcpuWorkers: [],
    remote: Comlink.wrap<MachineWorkerApi>(worker),
    memory,
    ring: new ConsoleRing(memory),
    vcpu0: new VcpuState(machineMemory(memory, layout), 0),
    // Comlink proxies can't say which callbacks exist: tell the worker, so it never calls a
    // missing one (Linux writes port 0x80 constantly; each would be a failing round trip).
    wants: { console: !!events.onConsole, debug: !!events.onDebug, postCode: !!events.onPostCode },
  };
}

/** One Web Worker for each vCPU after the first; they wait, parked, until vCPU 0's worker runs the machine. */
function startVcpuWorkers(w: StartedWorker, module: WebAssembly.Module, count: number): void {
  for (let id = 1; id < count; id++) {
    const vw = new Worker(new URL('./vcpu.worker.ts', import.meta.url), { type: 'module', name: `vcpu${id}` });
    vw.onerror = (e) => console.error(`vCPU ${id}:`, e.message);
    vw.postMessage({ module, memory: w.memory, id, vcpus: count, C: VCPU_THREAD_CONSTANTS });
    w.vcpuWorkers.push(vw);
  }
}

function terminate(w: StartedWorker): void {
  w.worker.terminate();
  for (const vw of w.vcpuWorkers) vw.terminate();
}

function workerHandle(w: StartedWorker): MachineHandle {
  const { remote, ring, vcpu0 } = w;
  let running: Promise<StopReason> | null = null;
  return ({
    run(opts?: RunOptions) {
      if (!running) running = remote.run(opts).finally(() => { running = null; });
      return running;
    },
    async stop() {
      ring.request(MM.REQ_STOP);
      vcpu0.raisePending(MM.PEND_EXIT);
      if (running) await running;
    },
    snapshot: (opts?: SnapshotOptions) => {
      if (opts?.whilePaused) throw new Error('whilePaused is for in-process machines (a page\'s machine runs in a worker)');
      return remote.snapshot({ console: opts?.console, base: opts?.base, carryDisks: opts?.carryDisks, diskNames: opts?.diskNames });
    },
    sendInput(bytes: Uint8Array) {
      let off = 0;
      const pushMore = () => {
        off += ring.push(bytes.subarray(off));
        if (off < bytes.length) setTimeout(pushMore, 5);
      };
      pushMore();
    },
    stats: () => remote.stats(),
    profile: (everyInstructions: number) => remote.profile(everyInstructions),
    inspect: (opts?: InspectOptions) => remote.inspect(opts),
    addDisk: (spec: DiskSpec) => remote.addDisk(spec),
    removeDisk: (unit: number) => remote.removeDisk(unit),
    addNic: (nic: NicSpec) => remote.addNic(nic),
    removeNic: (devid: number) => remote.removeNic(devid),
    [LINK]: (port: MessagePort) => remote.attachLink(Comlink.transfer(port, [port])),
    dispose() {
      ring.request(MM.REQ_STOP);
      vcpu0.raisePending(MM.PEND_EXIT);
      // Flush and release the disks (a stopped machine keeps them), then end the thread.
      void (running ?? Promise.resolve()).then(() => remote.release()).finally(() => terminate(w));
    },
  } as MachineHandle);
}

const LINK = Symbol('pvlab worker link');

/** A network endpoint on a worker machine's switch: a MessageChannel to the worker. */
export async function workerLinkEndpoint(h: MachineHandle): Promise<LinkEndpoint> {
  const attach = (h as unknown as Record<symbol, (p: MessagePort) => Promise<void>>)[LINK];
  if (!attach) throw new Error('this machine does not belong to this page');
  const ch = new MessageChannel();
  await attach(ch.port2);
  let onFrame: ((f: Uint8Array) => void) | null = null;
  ch.port1.onmessage = (e: MessageEvent<ArrayBuffer>) => onFrame?.(new Uint8Array(e.data));
  return {
    send: (f) => { const copy = f.slice(); ch.port1.postMessage(copy.buffer, [copy.buffer]); },
    onFrame: (cb) => { onFrame = cb; },
  };
}

// Running a machine in-process under Node: the run loop yields to the event loop between
// slices (so stdin and timers work) and sleeps with timers while the guest idles.

import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as MM from '../../engine-wasm/memory-map';
import { openVhd } from '../disk/vhd-files';
import { createMachineMemoryFor } from './wasm-core';
import { VCPU_THREAD_CONSTANTS, vcpuThreadMain } from './vcpu-thread';
import { readHeader, type CarriedDisk } from '../snapshot/format';
import { writeDiskChunks } from '../snapshot/disks';
import { FileStore } from '../disk/file-store';
import { VhdDisk } from '../disk/vhd';
import { uuidV4 } from '../disk/vhd-format';
import { createHash, randomBytes } from 'node:crypto';
import { prepareBaseView } from '../snapshot/bases';
import type { ImageSource } from '../snapshot/config';
import { machineLayout } from '../config/machine';
import { LocalMachine, type ResumeOptions } from './local-machine';
import type { BlockDevice } from '../disk/block-device';
import type { SnapshotHeader } from '../snapshot/format';
import type { RunnerHost } from './runner';
import type { LinkEndpoint } from '../network/link-endpoint';
import type { InspectOptions } from '../config/inspect';
import { resolveConfig, type NicSpec, type DiskSpec, type GuestProfile, type MachineConfig, type MachineEvents, type MachineHandle, type MachineStats, type RunOptions, type SnapshotOptions, type StopReason } from '../config/machine';

let cached: { path: string; module: Promise<WebAssembly.Module> } | null = null;

export function loadCoreModuleFromFile(path: string): Promise<WebAssembly.Module> {
  if (cached?.path === path) return cached.module;
  if (!fs.existsSync(path)) throw new Error(`x86 core not built: ${path} is missing (run \`npm run asbuild\`)`);
  const module = WebAssembly.compile(fs.readFileSync(path));
  cached = { path, module };
  return module;
}

/**
 * The run loop's host on Node's main thread: it sleeps on the control block's wake word
 * (Atomics.waitAsync, so stdin, timers and disk I/O go on), which input, I/O completions and
 * the other vCPUs' requests bump.
 */
class NodeHost implements RunnerHost {
  private readonly ctrl: Int32Array;
  constructor(memory: WebAssembly.Memory) {
    this.ctrl = new Int32Array(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE >> 2);
  }
  idleWait(ms: number): Promise<void> {
    const waitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;
    const r = waitAsync(this.ctrl, MM.CTRL_WAKE >> 2, Atomics.load(this.ctrl, MM.CTRL_WAKE >> 2), ms);
    if (!r.async) return Promise.resolve();
    // A pending waitAsync does not keep Node's event loop alive; a timer does. Without it a
    // script whose only work left was this wait (a 2-vCPU machine parking its threads on
    // stop) ended with exit code 13, its top-level await unsettled.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const keepAlive = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms + 1); });
    return Promise.race([(r.value as Promise<string>).then(() => {}), keepAlive]).finally(() => clearTimeout(timer));
  }
  yieldToHost(): Promise<void> { return new Promise((r) => setImmediate(r)); }
  wallNow(): number { return performance.now(); }
  wake(): void {
    Atomics.add(this.ctrl, MM.CTRL_WAKE >> 2, 1);
    Atomics.notify(this.ctrl, MM.CTRL_WAKE >> 2);
  }
  notify(): void { this.wake(); }
}

/**
 * One worker thread per vCPU after the first (vcpu-thread.ts): the thread runs the source of
 * vcpuThreadMain, which is self-contained, so no TypeScript needs loading there.
 */
function startVcpuThreads(module: WebAssembly.Module, memory: WebAssembly.Memory, count: number, fail: (message: string) => void): Worker[] {
  // `__name`: some TypeScript transforms wrap inner functions in it to keep their names.
  const src = `const __name = (f) => f; const { workerData } = require('node:worker_threads'); (${vcpuThreadMain.toString()})(workerData);`;
  const workers: Worker[] = [];
  for (let id = 1; id < count; id++) {
    const w = new Worker(src, { eval: true, workerData: { module, memory, id, vcpus: count, C: VCPU_THREAD_CONSTANTS } });
    w.on('error', (e) => fail(`vCPU ${id}: ${(e as Error).message}`));
    w.unref();
    workers.push(w);
  }
  return workers;
}

export async function createNodeMachine(coreWasmPath: string, config: MachineConfig, events: MachineEvents): Promise<MachineHandle> {
  const module = await loadCoreModuleFromFile(coreWasmPath);
  const resolved = resolveConfig(config);
  const memory = createMachineMemoryFor(resolved.layout);
  const host = new NodeHost(memory);
  let m: LocalMachine | null = null;
  const threads = startVcpuThreads(module, memory, resolved.vcpus, (msg) => m?.runner.fail(msg));
  try {
    m = await LocalMachine.create(module, resolved, events, host, memory, openFileDisk);
  } catch (e) {
    for (const t of threads) void t.terminate();
    throw e;
  }
  return nodeHandle(m, host, threads);
}

/** Node hosts: resume a .pvsnap (see LocalMachine.resume); its disks are VHD files given in `opts.disks`. */
/** Guest images in files (the bundled guest's, those given on a command line): the one whose SHA-256 a snapshot names. */
export function imagesFromFiles(files: readonly string[]): ImageSource {
  return (ref) => {
    for (const f of files) {
      let size = -1;
      try { size = fs.statSync(f).size; } catch { continue; }
      if (size !== ref.size) continue;
      const b = new Uint8Array(fs.readFileSync(f));
      if (createHash('sha256').update(b).digest('hex') === ref.sha256) return b;
    }
    return undefined;
  };
}

/**
 * Make the base views of a Linux kernel (bzImage) and initrd files now, for this process
 * (snapshot/bases.ts): resuming or saving a snapshot stored relative to them then does not
 * wait for them. A file that is not such an image is an error.
 */
export async function prepareBaseImages(files: readonly string[]): Promise<void> {
  for (const f of files) {
    const bytes = new Uint8Array(fs.readFileSync(f));
    const role = bytes.length > 0x206 && bytes.subarray(0x202, 0x206).toString() === [0x48, 0x64, 0x72, 0x53].toString() ? 'kernel' : 'initrd';
    await prepareBaseView({ role, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes);
  }
}

export async function resumeNodeMachine(
  coreWasmPath: string, file: Uint8Array, events: MachineEvents,
  opts: Omit<ResumeOptions, 'memory' | 'openDisk' | 'makeDisk'> & {
    /** Where to write a disk the snapshot carries, as a new dynamic VHD (a file that exists is an error). */
    carriedDiskFile?: (carried: CarriedDisk) => string;
  } = {},
): Promise<{ machine: MachineHandle; header: SnapshotHeader }> {
  const module = await loadCoreModuleFromFile(coreWasmPath);
  const { header: h } = await readHeader(file);
  const memory = createMachineMemoryFor(machineLayout(h.config.memoryMiB, h.config.xen));
  const host = new NodeHost(memory);
  let m: LocalMachine | null = null;
  const threads = startVcpuThreads(module, memory, h.config.vcpus ?? 1, (msg) => m?.runner.fail(msg));
  try {
    const where = opts.carriedDiskFile;
    const makeDisk = where && (async (carried: CarriedDisk, slot: { bus: 'ide' | 'xen'; readOnly: boolean; unit?: number }, chunks: Map<number, Uint8Array>): Promise<DiskSpec> => {
      const f = where(carried);
      if (fs.existsSync(f)) throw new Error(`${f} exists already: the disk the snapshot carries is not written over it`);
      const store = await FileStore.open(f, 'create');
      const disk = await VhdDisk.create(store, { type: 'dynamic', size: carried.size, exactSize: true, now: new Date(), uniqueId: uuidV4(randomBytes(16)) });
      try { await writeDiskChunks(disk, carried.size, chunks); } finally { await disk.close(); }
      return { bus: slot.bus, file: f, readOnly: slot.readOnly, unit: slot.unit };
    });
    const r = await LocalMachine.resume(module, file, events, host, { ...opts, memory, openDisk: openFileDisk, makeDisk });
    m = r.machine;
    return { machine: nodeHandle(r.machine, host, threads), header: r.header };
  } catch (e) {
    for (const t of threads) void t.terminate();
    throw e;
  }
}

function openFileDisk(spec: DiskSpec): Promise<BlockDevice> {
  if (!spec.file) throw new Error('Node machines take disks as VHD files');
  return openVhd(spec.file, spec.readOnly ? 'read' : 'read-write');
}

function nodeHandle(m: LocalMachine, host: NodeHost, threads: Worker[]): MachineHandle {
  let running: Promise<StopReason> | null = null;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const t of threads) void t.terminate();
    await m.closeDisks();
  };
  return {
    run(opts?: RunOptions) {
      if (closed) return Promise.resolve({ kind: 'error', message: 'this machine was released' } as StopReason);
      // A machine stopped on request keeps its disks open and may run again; one that ended releases them.
      if (!running) running = m.run(opts).then(async (r) => { if (r.kind !== 'stopped') await close(); return r; }).finally(() => { running = null; });
      return running;
    },
    async stop() {
      m.runner.requestStop();
      host.notify();
      if (running) await running;
    },
    snapshot(opts?: SnapshotOptions) {
      return m.save(opts);
    },
    sendInput(bytes: Uint8Array) {
      m.board.sendConsoleInput(bytes);
      host.notify();
    },
    async stats(): Promise<MachineStats> { return m.stats(); },
    async profile(everyInstructions: number): Promise<GuestProfile> { return m.profile(everyInstructions); },
    async inspect(opts?: InspectOptions) { return m.inspect(opts); },
    addDisk: (spec: DiskSpec) => m.addDisk(spec),
    removeDisk: (unit: number) => m.removeDisk(unit),
    addNic: (nic: NicSpec) => m.addNic(nic),
    removeNic: (devid: number) => m.removeNic(devid),
    dispose() {
      m.runner.requestStop();
      host.notify();
      void (running ?? Promise.resolve()).then(close);
    },
    [LOCAL]: m,
  } as MachineHandle;
}

const LOCAL = Symbol('pvlab local machine');

/** A network endpoint on an in-process machine's switch (see engine-ts/api/network.ts). */
export function nodeLinkEndpoint(h: MachineHandle): LinkEndpoint {
  const m = (h as unknown as Record<symbol, LocalMachine>)[LOCAL];
  if (!m) throw new Error('this machine does not belong to this host');
  let onFrame: ((f: Uint8Array) => void) | null = null;
  const deliver = m.addLink((f) => onFrame?.(f));
  return { send: (f) => deliver(f), onFrame: (cb) => { onFrame = cb; } };
}

// The vCPU worker: owns the board and runs the wasm core. The page controls it with comlink
// calls between slices, and — while it runs or sleeps — through the shared control block
// (console input ring, REQ_* flags, the CTRL_WAKE futex), since a worker inside the wasm
// loop cannot answer messages.
import * as Comlink from 'comlink';
import * as MM from '../../engine-wasm/memory-map';
import { LocalMachine, type ResumeOptions } from './local-machine';
import { ConsoleRing } from './console-ring';
import { blockTaker } from './block-taker';
import { diskLibrary, openDisk } from '../disk/library';
import { writeDiskChunks } from '../snapshot/disks';
import type { RunnerHost } from './runner';
import type { InspectOptions, InspectorSample } from '../config/inspect';
import type { HotplugDisk, NicSpec, DiskSpec, GuestProfile, MachineEvents, MachineStats, ResolvedConfig, RunOptions, SnapshotOptions, StopReason } from '../config/machine';
import type { BlockDevice } from '../disk/block-device';
import { SnapshotError, type CarriedDisk, type ImageRef, type SnapshotHeader } from '../snapshot/format';
import { adoptBaseView, kernelLayoutOf, prepareBaseView } from '../snapshot/bases';
import type { KernelLayout } from '../board/loaders/linux';
import { hex, sha256 } from '../snapshot/bytes';

/** A base view (snapshot/bases.ts) in shared memory: made by one worker, used by every machine of the page. */
export interface SharedBaseView {
  role: 'kernel' | 'initrd';
  sha256: string;
  view: Uint8Array;
  /** A kernel's: where it boots from (the machines boot the kernel from the view, unpacked). */
  layout?: KernelLayout;
}

function adoptAll(bases: SharedBaseView[] | undefined): void {
  for (const b of bases ?? []) adoptBaseView(b, b.view, b.layout);
}

let machine: LocalMachine | null = null;

function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); resolve(); };
    ch.port2.postMessage(0);
  });
}

/** The worker side of a machine: events relayed to the page, the control block as the host. */
function workerHost(memory: WebAssembly.Memory, remoteEvents: MachineEvents, wants: EventWants): { events: MachineEvents; host: RunnerHost } {
  const events: MachineEvents = {
    onConsole: wants.console ? (b) => void remoteEvents.onConsole!(b) : undefined,
    onDebug: wants.debug ? (b) => void remoteEvents.onDebug!(b) : undefined,
    onPostCode: wants.postCode ? (c, p) => void remoteEvents.onPostCode!(c, p) : undefined,
  };
  const ring = new ConsoleRing(memory);
  const host: RunnerHost = {
    idleWait: (ms) => ring.waitForNews(ms),
    wake: () => ring.wake(),
    yieldToHost: macrotask,
    wallNow: () => performance.now(),
    poll: () => {
      const input = ring.drain();
      if (input && machine) machine.board.sendConsoleInput(input);
      const req = ring.takeRequests();
      if (req & (MM.REQ_STOP | MM.REQ_PAUSE)) machine?.runner.requestStop();
    },
  };
  return { events, host };
}

async function openLibraryDisk(spec: DiskSpec): Promise<BlockDevice> {
  if (!spec.idbDisk) throw new Error('machines in the page take disks from the disk library');
  return openDisk(spec.idbDisk, { readOnly: spec.readOnly === true });
}

export interface EventWants { console: boolean; debug: boolean; postCode: boolean }

/** What the page may pass to resume(): no functions cross this boundary, so images come as candidates. */
export interface WorkerResumeOptions {
  base?: Uint8Array;
  /** Guest images the page has (the bundled guest's); matched by SHA-256 if the guest reboots. */
  imageUrls?: string[];
  disks?: DiskSpec[];
  pacing?: 'realtime' | 'fast';
  jit?: boolean;
  /** Named into the library disks made from the snapshot's carried disks ("<disk> (<this>)"). */
  carriedName?: string;
  /** Base views the page has (prepareBases), kept by this worker for resumes and saves. */
  bases?: SharedBaseView[];
  /**
   * A full snapshot's page blocks, shared out between the page and this worker: each side takes
   * the index `Atomics.add(next, 0, 1)` into `blocks` until they run out, and inflates that
   * block into the memory. The page calls pagesWritten() when it has no more to take.
   */
  pagesShared?: { blocks: number[]; next: Int32Array };
}

/** The page's part of a resume's page blocks: settled by pagesWritten(). */
let pagesFromPage: { resolve(): void; reject(e: Error): void } | null = null;

const api = {
  /**
   * Make the base views of guest images (the page's URLs of a Linux kernel and initrd; a file
   * that cannot be fetched or has no view is left out) into shared memory, for the page to hand
   * every machine worker.
   */
  async prepareBases(urls: string[]): Promise<SharedBaseView[]> {
    const out: SharedBaseView[] = [];
    for (const url of urls) {
      try {
        const res = await fetch(url);
        if (!res.ok) continue;
        const bytes = new Uint8Array(await res.arrayBuffer());
        // A bzImage says so in its boot header ("HdrS"); anything else is tried as an initrd.
        const role = bytes.length > 0x206 && String.fromCharCode(...bytes.subarray(0x202, 0x206)) === 'HdrS' ? 'kernel' : 'initrd';
        const ref = { role, sha256: hex(await sha256(bytes)) } as const;
        const view = await prepareBaseView(ref, bytes);
        const shared = new Uint8Array(new SharedArrayBuffer(view.length));
        shared.set(view);
        out.push({ ...ref, view: shared, layout: kernelLayoutOf(view) });
      } catch { /* not a base image: the machines do without it */ }
    }
    return out;
  },
  async create(module: WebAssembly.Module, memory: WebAssembly.Memory, config: ResolvedConfig, remoteEvents: MachineEvents, wants: EventWants, bases?: SharedBaseView[]): Promise<void> {
    adoptAll(bases);
    const { events, host } = workerHost(memory, remoteEvents, wants);
    machine = await LocalMachine.create(module, config, events, host, memory, openLibraryDisk);
  },
  async resume(
    module: WebAssembly.Module, memory: WebAssembly.Memory, file: Uint8Array, remoteEvents: MachineEvents, wants: EventWants, opts: WorkerResumeOptions,
  ): Promise<SnapshotHeader> {
    adoptAll(opts.bases);
    const { events, host } = workerHost(memory, remoteEvents, wants);
    const images = async (ref: ImageRef): Promise<Uint8Array | undefined> => {
      for (const url of opts.imageUrls ?? []) {
        try {
          const res = await fetch(url);
          if (!res.ok) continue;
          const b = new Uint8Array(await res.arrayBuffer());
          if (b.length === ref.size) return b; // resume() checks the SHA-256
        } catch { /* try the next one */ }
      }
      return undefined;
    };
    // Disks the snapshot carries become new disks in the library (removed again if the resume fails).
    const made: string[] = [];
    const makeDisk = async (carried: CarriedDisk, slot: { bus: 'ide' | 'xen'; readOnly: boolean; unit?: number }, chunks: Map<number, Uint8Array>): Promise<DiskSpec> => {
      const lib = diskLibrary();
      const name = `${carried.name} (${opts.carriedName ?? 'from a snapshot'})`.slice(0, 200);
      const { disk } = await lib.create({ name, type: 'dynamic', size: carried.size, exactSize: true });
      made.push(disk.id);
      const dev = await lib.open(disk.id);
      try { await writeDiskChunks(dev, carried.size, chunks); } finally { await dev.close(); }
      return { bus: slot.bus, idbDisk: disk.id, readOnly: slot.readOnly, unit: slot.unit };
    };
    let sharedPages: ResumeOptions['sharedPages'];
    const shared = opts.pagesShared;
    if (shared?.blocks.length) {
      const written = new Promise<void>((resolve, reject) => { pagesFromPage = { resolve, reject }; });
      written.catch(() => {}); // a failed resume may stop waiting for it
      sharedPages = { blocks: shared.blocks, take: blockTaker(shared.blocks, shared.next), written };
    }
    try {
      const { base, disks, pacing, jit } = opts;
      const r = await LocalMachine.resume(module, file, events, host, { base, disks, pacing, jit, sharedPages, images, memory, openDisk: openLibraryDisk, makeDisk });
      machine = r.machine;
      return r.header;
    } catch (e) {
      for (const id of made) await diskLibrary().delete(id).catch(() => {});
      throw e;
    }
  },
  /** The page has inflated the page blocks it took into the memory (null), or failed to (its error). */
  pagesWritten(error: string | null): void {
    const p = pagesFromPage;
    pagesFromPage = null;
    if (error === null) p?.resolve();
    else p?.reject(new SnapshotError(error));
  },
  async run(opts?: RunOptions): Promise<StopReason> {
    if (!machine) throw new Error('machine not created');
    const reason = await machine.run(opts);
    // Stopped on request: it may run again. Otherwise flush what the guest wrote and release the disks' locks.
    if (reason.kind !== 'stopped') await machine.closeDisks();
    return reason;
  },
  async release(): Promise<void> {
    await machine?.closeDisks();
  },
  async snapshot(opts?: SnapshotOptions): Promise<Uint8Array> {
    if (!machine) throw new Error('machine not created');
    // Carried disks keep their library names.
    const names = opts?.diskNames ?? (opts?.carryDisks
      ? await Promise.all(machine.diskSlots().map(async (d, i) => (d.idbDisk ? (await diskLibrary().get(d.idbDisk).catch(() => null))?.name : undefined) ?? `disk ${i + 1}`))
      : undefined);
    const file = await machine.save({ console: opts?.console, base: opts?.base, carryDisks: opts?.carryDisks, diskNames: names });
    return Comlink.transfer(file, [file.buffer]);
  },
  stats(): MachineStats {
    if (!machine) throw new Error('machine not created');
    return machine.stats();
  },
  profile(everyInstructions: number): GuestProfile {
    if (!machine) throw new Error('machine not created');
    return machine.profile(everyInstructions);
  },
  inspect(opts?: InspectOptions): InspectorSample {
    if (!machine) throw new Error('machine not created');
    const s = machine.inspect(opts);
    const t = s.timeline;
    return Comlink.transfer(s, [t.time.buffer, t.kind.buffer, t.dom.buffer, t.args.buffer]);
  },
  addDisk(spec: DiskSpec): Promise<HotplugDisk> {
    if (!machine) throw new Error('machine not created');
    return machine.addDisk(spec);
  },
  removeDisk(unit: number): Promise<void> {
    if (!machine) throw new Error('machine not created');
    return machine.removeDisk(unit);
  },
  addNic(nic: NicSpec): Promise<number> {
    if (!machine) throw new Error('machine not created');
    return machine.addNic(nic);
  },
  removeNic(devid: number): Promise<void> {
    if (!machine) throw new Error('machine not created');
    return machine.removeNic(devid);
  },
  crossOriginIsolated(): boolean { return self.crossOriginIsolated; },
  /** One end of a cable to another machine's switch (frames as transferred ArrayBuffers). */
  attachLink(port: MessagePort): void {
    if (!machine) throw new Error('machine not created');
    const deliver = machine.addLink((f) => port.postMessage(f.buffer, [f.buffer]));
    port.onmessage = (e: MessageEvent<ArrayBuffer>) => deliver(new Uint8Array(e.data));
  },
};

export type MachineWorkerApi = typeof api;
Comlink.expose(api);

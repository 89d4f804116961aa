// Running a machine in-process under Node: the run loop yields to the event loop between
// slices (so stdin and timers work) and sleeps with timers while the guest idles.

import fs from 'node:fs';
import { openVhd } from '../disk/vhd-files';
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

class NodeHost implements RunnerHost {
  private waker: (() => void) | null = null;
  idleWait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waker = null; resolve(); }, ms);
      this.waker = () => { clearTimeout(t); this.waker = null; resolve(); };
    });
  }
  yieldToHost(): Promise<void> { return new Promise((r) => setImmediate(r)); }
  wallNow(): number { return performance.now(); }
  wake(): void { this.waker?.(); }
  notify(): void { this.waker?.(); }
}

export async function createNodeMachine(coreWasmPath: string, config: MachineConfig, events: MachineEvents): Promise<MachineHandle> {
  const module = await loadCoreModuleFromFile(coreWasmPath);
  const host = new NodeHost();
  const m = await LocalMachine.create(module, resolveConfig(config), events, host, undefined, openFileDisk);
  return nodeHandle(m, host);
}

/** Node hosts: resume a .pvsnap (see LocalMachine.resume); its disks are VHD files given in `opts.disks`. */
export async function resumeNodeMachine(
  coreWasmPath: string, file: Uint8Array, events: MachineEvents, opts: Omit<ResumeOptions, 'memory' | 'openDisk'> = {},
): Promise<{ machine: MachineHandle; header: SnapshotHeader }> {
  const module = await loadCoreModuleFromFile(coreWasmPath);
  const host = new NodeHost();
  const { machine, header } = await LocalMachine.resume(module, file, events, host, { ...opts, openDisk: openFileDisk });
  return { machine: nodeHandle(machine, host), header };
}

function openFileDisk(spec: DiskSpec): Promise<BlockDevice> {
  if (!spec.file) throw new Error('Node machines take disks as VHD files');
  return openVhd(spec.file, spec.readOnly ? 'read' : 'read-write');
}

function nodeHandle(m: LocalMachine, host: NodeHost): MachineHandle {
  let running: Promise<StopReason> | null = null;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
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

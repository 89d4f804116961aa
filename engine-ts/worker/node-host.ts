// Running a machine in-process under Node: the run loop yields to the event loop between
// slices (so stdin and timers work) and sleeps with timers while the guest idles.

import fs from 'node:fs';
import { openVhd } from '../disk/vhd-files';
import { LocalMachine } from './local-machine';
import type { RunnerHost } from './runner';
import type { LinkEndpoint } from '../network/link-endpoint';
import { resolveConfig, type GuestProfile, type MachineConfig, type MachineEvents, type MachineHandle, type MachineStats, type StopReason } from '../config/machine';

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
  const m = await LocalMachine.create(module, resolveConfig(config), events, host, undefined, async (spec) => {
    if (!spec.file) throw new Error('Node machines take disks as VHD files');
    return openVhd(spec.file, spec.readOnly ? 'read' : 'read-write');
  });
  let running: Promise<StopReason> | null = null;
  return {
    run() {
      if (!running) running = m.run().finally(async () => { running = null; await m.closeDisks(); });
      return running;
    },
    async stop() {
      m.runner.requestStop();
      host.notify();
      if (running) await running;
    },
    sendInput(bytes: Uint8Array) {
      m.board.sendConsoleInput(bytes);
      host.notify();
    },
    async stats(): Promise<MachineStats> { return m.stats(); },
    async profile(everyInstructions: number): Promise<GuestProfile> { return m.profile(everyInstructions); },
    dispose() { m.runner.requestStop(); host.notify(); },
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

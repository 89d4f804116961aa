// Page side of a machine running in a Web Worker.
import * as Comlink from 'comlink';
import * as MM from '../../engine-wasm/memory-map';
import coreWasmUrl from '../../engine-wasm/build/core.wasm?url';
import { createMachineMemory } from './wasm-core';
import { ConsoleRing } from './console-ring';
import { atomicOr } from './atomics';
import type { MachineWorkerApi } from './machine.worker';
import type { MachineConfig, MachineEvents, MachineHandle, StopReason } from '../api/types';
import { validateConfig } from '../api/types';

let modulePromise: Promise<WebAssembly.Module> | null = null;
function coreModule(): Promise<WebAssembly.Module> {
  modulePromise ??= WebAssembly.compileStreaming(fetch(coreWasmUrl));
  return modulePromise;
}

export async function createWorkerMachine(config: MachineConfig, events: MachineEvents): Promise<MachineHandle> {
  if (!globalThis.crossOriginIsolated)
    throw new Error('this page is not cross-origin isolated (COOP/COEP headers missing): shared memory is unavailable');
  const v = validateConfig(config);
  const memory = createMachineMemory(v.memoryMiB << 20);
  const ring = new ConsoleRing(memory);
  const worker = new Worker(new URL('./machine.worker.ts', import.meta.url), { type: 'module', name: 'vcpu0' });
  const remote = Comlink.wrap<MachineWorkerApi>(worker);
  await remote.create(await coreModule(), memory, config, Comlink.proxy(events));
  let running: Promise<StopReason> | null = null;
  return {
    run() {
      if (!running) running = remote.run().finally(() => { running = null; });
      return running;
    },
    async stop() {
      ring.request(MM.REQ_STOP);
      atomicOr(memory, MM.VCPU_BASE + MM.R_PENDING, MM.PEND_EXIT);
      if (running) await running;
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
    dispose() {
      ring.request(MM.REQ_STOP);
      worker.terminate();
    },
  };
}

// Page side of a machine running in a Web Worker.
import * as Comlink from 'comlink';
import * as MM from '../../engine-wasm/memory-map';
import coreWasmUrl from '../../engine-wasm/build/core.wasm?url';
import { createMachineMemoryFor } from './wasm-core';
import { machineMemory } from './machine-memory';
import { ConsoleRing } from './console-ring';
import type { LinkEndpoint } from '../network/link-endpoint';
import type { MachineWorkerApi } from './machine.worker';
import type { MachineConfig, MachineEvents, MachineHandle, StopReason } from '../config/machine';
import { resolveConfig } from '../config/machine';
import { VcpuState } from '../platform/vcpu-state';

let modulePromise: Promise<WebAssembly.Module> | null = null;
function coreModule(): Promise<WebAssembly.Module> {
  modulePromise ??= WebAssembly.compileStreaming(fetch(coreWasmUrl));
  return modulePromise;
}

export async function createWorkerMachine(config: MachineConfig, events: MachineEvents): Promise<MachineHandle> {
  if (!globalThis.crossOriginIsolated)
    throw new Error('this page is not cross-origin isolated (COOP/COEP headers missing): shared memory is unavailable');
  const resolved = resolveConfig(config);
  const memory = createMachineMemoryFor(resolved.layout);
  const vcpu0 = new VcpuState(machineMemory(memory, resolved.layout), 0);
  const ring = new ConsoleRing(memory);
  const worker = new Worker(new URL('./machine.worker.ts', import.meta.url), { type: 'module', name: 'vcpu0' });
  const remote = Comlink.wrap<MachineWorkerApi>(worker);
  // Comlink proxies can't say which callbacks exist: tell the worker, so it never calls a
  // missing one (Linux writes port 0x80 constantly; each would be a failing round trip).
  const wants = { console: !!events.onConsole, debug: !!events.onDebug, postCode: !!events.onPostCode };
  await remote.create(await coreModule(), memory, resolved, Comlink.proxy(events), wants);
  let running: Promise<StopReason> | null = null;
  return ({
    run() {
      if (!running) running = remote.run().finally(() => { running = null; });
      return running;
    },
    async stop() {
      ring.request(MM.REQ_STOP);
      vcpu0.raisePending(MM.PEND_EXIT);
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
    profile: (everyInstructions: number) => remote.profile(everyInstructions),
    [LINK]: (port: MessagePort) => remote.attachLink(Comlink.transfer(port, [port])),
    dispose() {
      ring.request(MM.REQ_STOP);
      worker.terminate();
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

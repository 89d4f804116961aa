// The vCPU worker: owns the board and runs the wasm core. The page controls it with comlink
// calls between slices, and — while it runs or sleeps — through the shared control block
// (console input ring, REQ_* flags, the CTRL_WAKE futex), since a worker inside the wasm
// loop cannot answer messages.
import * as Comlink from 'comlink';
import * as MM from '../../engine-wasm/memory-map';
import { LocalMachine } from './local-machine';
import { ConsoleRing } from './console-ring';
import { openDisk } from '../disk/library';
import type { RunnerHost } from './runner';
import type { GuestProfile, MachineEvents, MachineStats, ResolvedConfig, StopReason } from '../config/machine';

let machine: LocalMachine | null = null;

function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); resolve(); };
    ch.port2.postMessage(0);
  });
}

const api = {
  async create(
    module: WebAssembly.Module, memory: WebAssembly.Memory, config: ResolvedConfig, remoteEvents: MachineEvents,
    wants: { console: boolean; debug: boolean; postCode: boolean },
  ): Promise<void> {
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
    machine = await LocalMachine.create(module, config, events, host, memory, async (spec) => {
      if (!spec.idbDisk) throw new Error('machines in the page take disks from the disk library');
      return openDisk(spec.idbDisk, { readOnly: spec.readOnly === true });
    });
  },
  async run(): Promise<StopReason> {
    if (!machine) throw new Error('machine not created');
    try {
      return await machine.run();
    } finally {
      await machine.closeDisks(); // flush what the guest wrote and release the disks' locks
    }
  },
  stats(): MachineStats {
    if (!machine) throw new Error('machine not created');
    return machine.stats();
  },
  profile(everyInstructions: number): GuestProfile {
    if (!machine) throw new Error('machine not created');
    return machine.profile(everyInstructions);
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

// Run code on several vCPUs at once: one worker thread per vCPU, each with its own instance of
// the core over one shared machine memory (as the machine's vCPU threads do), devices absent
// (port reads return all ones). Each vCPU starts in flat 32-bit mode at `entry` with its own
// stack; `setup` may set registers; all start together and run until HLT.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { setupFlat32 } from './harness';
import { VcpuState } from '../../engine-ts/platform/vcpu-state';
import * as MM from '../../engine-wasm/memory-map';

export async function runOnVcpus(
  memory: WebAssembly.Memory, count: number, entry: number, setup: (state: VcpuState, id: number) => void = () => {},
): Promise<number[]> {
  const module = await WebAssembly.compile(fs.readFileSync(new URL('../../engine-wasm/build/core.wasm', import.meta.url)));
  new DataView(memory.buffer, MM.CTRL_BASE).setUint32(MM.CTRL_NR_VCPUS, count, true);
  // The workers instantiate the core on the shared memory, bind vCPU `id` and reset it; the
  // main thread then sets up the vCPU state; they start together on a shared flag.
  const sync = new Int32Array(new SharedArrayBuffer(8)); // [0]: ready count, [1]: go
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { module, memory, id, sync, stopped } = workerData;
    const env = { memory, abort: () => { throw new Error('abort'); }, ioRead: () => 0xff, ioWrite: () => {},
      mmioRead: () => 0xffffffff, mmioWrite: () => {}, intAck: () => -1, msrHost: () => 1, cpuidHost: () => 0,
      crWrite: () => {}, hypercall: () => -1,
      table: new WebAssembly.Table({ element: 'anyfunc', initial: 1 }), jitCompile: () => 0, jitFind: () => 0, jitReset: () => {} }; // translation stays off
    const core = new WebAssembly.Instance(module, { env }).exports;
    if (core.init(id) !== 0) throw new Error('init failed');
    core.reset();
    Atomics.add(sync, 0, 1); Atomics.notify(sync, 0);
    Atomics.wait(sync, 1, 0);
    core.refresh();
    let exit = 0, runs = 0;
    do { exit = core.run(200000); runs++; } while (exit !== stopped && runs < 10000);
    parentPort.postMessage(exit);`;
  const ids = Array.from({ length: count }, (_, i) => i);
  const workers = ids.map((id) => new Worker(src, { eval: true, workerData: { module, memory, id, sync, stopped: MM.EXIT_STOPPED } }));
  let failed: unknown = null; // a worker that failed before it was ready (the core's imports, say) never will be
  const done = workers.map((w) => new Promise<number>((resolve, reject) => { w.once('message', resolve); w.once('error', (e) => { failed ??= e; reject(e); }); }));
  done.forEach((d) => d.catch(() => {})); // (awaited below, or the failure is thrown from the wait)
  try {
    while (Atomics.load(sync, 0) < count) {
      if (failed) throw failed;
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const id of ids) {
      const state = new VcpuState(memory, id);
      setupFlat32(memory, state, entry, 0x80000 + id * 0x1000);
      setup(state, id);
    }
    Atomics.store(sync, 1, 1); Atomics.notify(sync, 1);
    return await Promise.all(done);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

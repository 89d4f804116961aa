// Guest time of a multi-vCPU machine whose vCPUs all wait, in realtime pacing. Time jumps to
// the earliest timer deadline of any vCPU, never past wall time; with no timer armed on any
// vCPU it stands still (as for one vCPU) until something from outside wakes one. It used to
// follow wall time instead: a guest that boots slower than real time (guest time behind wall
// time) then saw tens of seconds pass at once on every CPU, with no timer interrupt in
// between, and Linux reported soft lockups on every CPU ("stuck for 26s") in the page.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, it, expect } from 'vitest';
import { Board } from '../../engine-ts/board/board';
import { createMachineMemoryFor } from '../../engine-ts/worker/wasm-core';
import { machineMemory } from '../../engine-ts/worker/machine-memory';
import { machineLayout } from '../../engine-ts/config/machine';
import { SmpHub } from '../../engine-ts/worker/smp-hub';
import { VCPU_THREAD_CONSTANTS, vcpuThreadMain } from '../../engine-ts/worker/vcpu-thread';
import * as MM from '../../engine-wasm/memory-map';

const LAPIC = 0xfee00000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('guest time of a multi-vCPU machine with every vCPU waiting (realtime pacing)', () => {
  it('stands still with no timer armed, and moves to a timer deadline (not past it) when one is', async () => {
    const layout = machineLayout(16, false);
    const memory = createMachineMemoryFor(layout);
    const b = new Board(machineMemory(memory, layout), layout, { vcpus: 2 });
    const hub = new SmpHub(memory.buffer, 2);
    hub.attach(b);
    hub.powerOn();
    // vCPU 1 starts at 0x9C000 (real mode): sti; hlt; jmp $-3. No interrupt is ever sent to it.
    new Uint8Array(memory.buffer, MM.RAM_BASE, layout.ramBytes).set([0xfb, 0xf4, 0xeb, 0xfd], 0x9c000);
    const lapic = b.coreHostFor(0);
    lapic.mmioWrite(LAPIC + 0xf0, 4, 0x1ff);
    // The PIT's counter 0 counts from power-on: stop it (mode 0, no count written yet), so that
    // no timer is armed on any vCPU.
    lapic.ioWrite(0x43, 1, 0x30);
    expect(b.clocks.map((c) => c.nextDeadline())).toEqual([Infinity, Infinity]);
    for (const icr of [0x4500, 0x469c]) { lapic.mmioWrite(LAPIC + 0x310, 4, 1 << 24); lapic.mmioWrite(LAPIC + 0x300, 4, icr); }

    const module = await WebAssembly.compile(fs.readFileSync(new URL('../../engine-wasm/build/core.wasm', import.meta.url)));
    const src = `const __name = (f) => f; const { workerData } = require('node:worker_threads'); (${vcpuThreadMain.toString()})(workerData);`;
    const w = new Worker(src, { eval: true, workerData: { module, memory, id: 1, vcpus: 2, C: VCPU_THREAD_CONSTANTS } });
    let error: Error | null = null;
    w.once('error', (e) => { error = e; });
    const ctrl = new Int32Array(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE >> 2);
    const runstate1 = (MM.CTRL_SMP_SLOTS + MM.SMP_SLOT_SIZE + MM.SLOT_RUNSTATE) >> 2;
    const now1 = () => Number(b.vcpus[1].icount);
    /** Serve vCPU 1's requests (as vCPU 0's run loop does) for `ms`. */
    const serve = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) { hub.service(); await sleep(2); }
    };
    try {
      // vCPU 0 waits at guest time 0; wall time starts now.
      hub.start('realtime', 0, performance.timeOrigin + performance.now());
      hub.setRunstate(0, MM.RS_HALTED);
      const t0 = Date.now();
      while (!(Atomics.load(ctrl, runstate1) === MM.RS_HALTED && b.vcpus[1].halted) && !error && Date.now() - t0 < 10_000) await serve(5);
      expect(error).toBeNull();
      expect(b.vcpus[1].halted).toBe(true);

      // No timer anywhere: 400 ms of wall time pass, the guest's do not.
      const before = now1();
      await serve(400);
      expect(hub.followTarget(performance.timeOrigin + performance.now())).toBe(Infinity);
      expect(now1() - before).toBeLessThan(1e6);

      // A timer on vCPU 0's clock 100 ms of guest time from now: both move to it, and no further.
      const due = now1() + 100e6;
      let fired = -1;
      b.clock.createTimer('test', (t) => { fired = t; }).setDeadline(due);
      hub.publishDeadlines();
      expect(hub.followTarget(performance.timeOrigin + performance.now())).toBe(due);
      await serve(400);
      expect(now1()).toBe(due);
      b.skipToNextEvent(due - b.now()); // what vCPU 0's idle loop does with the same target
      expect(fired).toBe(due);
      expect(error).toBeNull();
    } finally {
      hub.requestPark();
      await w.terminate();
    }
  });
});

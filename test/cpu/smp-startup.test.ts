// An application processor's thread (engine-ts/worker/vcpu-thread.ts) taking INIT and its
// start-up IPI. On a loaded host the thread may look only after both have been latched: it
// then resets for the INIT and must still start at the start-up IPI's page (the reset once
// cleared the latched vector with the rest of the vCPU's block, and the AP ran from 0000:0000).
// And a thread may start before the board exists (a Web Worker often does): it waits, parked.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, it, expect } from 'vitest';
import { Board } from '../../engine-ts/board/board';
import { createMachineMemory } from '../../engine-ts/worker/wasm-core';
import { machineMemory } from '../../engine-ts/worker/machine-memory';
import { machineLayout } from '../../engine-ts/config/machine';
import { SmpHub } from '../../engine-ts/worker/smp-hub';
import { VCPU_THREAD_CONSTANTS, vcpuThreadMain } from '../../engine-ts/worker/vcpu-thread';
import * as MM from '../../engine-wasm/memory-map';

const LAPIC = 0xfee00000;
const layout = machineLayout(16, false);

/** vCPU 1's thread over `memory`; `error` holds what it threw, if anything. */
async function startThread(memory: WebAssembly.Memory): Promise<{ w: Worker; error: () => Error | null }> {
  const module = await WebAssembly.compile(fs.readFileSync(new URL('../../engine-wasm/build/core.wasm', import.meta.url)));
  const src = `const __name = (f) => f; const { workerData } = require('node:worker_threads'); (${vcpuThreadMain.toString()})(workerData);`;
  const w = new Worker(src, { eval: true, workerData: { module, memory, id: 1, vcpus: 2, C: VCPU_THREAD_CONSTANTS } });
  let error: Error | null = null;
  w.once('error', (e) => { error = e; });
  return { w, error: () => error };
}

/**
 * A 2-vCPU board over `memory` with code at 0x9C000 (vector 0x9C: mov ax, 0x1234;
 * mov [0x500], ax; hlt; jmp $-3, real mode, DS = 0) and vCPU 0's local APIC enabled.
 */
function board(memory: WebAssembly.Memory) {
  const b = new Board(machineMemory(memory, layout), layout, { vcpus: 2 });
  const hub = new SmpHub(memory.buffer, 2);
  hub.attach(b);
  hub.powerOn();
  new Uint8Array(memory.buffer, MM.RAM_BASE, layout.ramBytes).set([0xb8, 0x34, 0x12, 0xa3, 0x00, 0x05, 0xf4, 0xeb, 0xfd], 0x9c000);
  const lapic = b.coreHostFor(0);
  lapic.mmioWrite(LAPIC + 0xf0, 4, 0x1ff); // software-enable vCPU 0's local APIC
  /** INIT, then the start-up IPI with vector 0x9C, to APIC ID 1. */
  const initAndStartup = () => {
    const ipi = (icrLow: number) => { lapic.mmioWrite(LAPIC + 0x310, 4, 1 << 24); lapic.mmioWrite(LAPIC + 0x300, 4, icrLow); };
    ipi(0x4500);
    ipi(0x469c);
  };
  return { b, hub, initAndStartup };
}

/** Run (vCPU 0 halted at guest time 0: the AP may run up to the skew bound) until the AP wrote its marker, then park it. */
async function expectStartsAtVector(memory: WebAssembly.Memory, b: Board, hub: SmpHub, error: () => Error | null): Promise<void> {
  hub.start('fast', 0, Date.now());
  hub.setRunstate(0, MM.RS_HALTED);
  const marker = new Uint16Array(memory.buffer, MM.RAM_BASE + 0x500, 1);
  const t0 = Date.now();
  while (marker[0] !== 0x1234 && !error() && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  expect(error()).toBeNull();
  expect(marker[0].toString(16)).toBe('1234');
  expect(b.vcpus[1].seg('cs').selector).toBe(0x9c00);
  hub.requestPark();
  while (!hub.parked() && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 5));
  expect(hub.parked()).toBe(true);
}

describe('start-up of an application processor', () => {
  it('INIT and start-up IPI latched before its thread looks: it starts at the start-up page', async () => {
    const memory = createMachineMemory(layout.ramBytes);
    const { b, hub, initAndStartup } = board(memory);
    initAndStartup();
    expect(b.vcpus[1].pending & (MM.PEND_INIT | MM.PEND_SIPI)).toBe(MM.PEND_INIT | MM.PEND_SIPI);
    const { w, error } = await startThread(memory);
    try {
      await expectStartsAtVector(memory, b, hub, error);
    } finally {
      await w.terminate();
    }
  });

  it('a thread that starts before the board has set the machine up (as a Web Worker often does) waits, then starts', async () => {
    const memory = createMachineMemory(layout.ramBytes);
    const { w, error } = await startThread(memory);
    try {
      // The thread is up and parked (the control block is all zero: no machine runs yet).
      const ctrl = new Int32Array(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE >> 2);
      const parked = (MM.CTRL_SMP_SLOTS + MM.SMP_SLOT_SIZE + MM.SLOT_PARKED) >> 2;
      const t0 = Date.now();
      while (Atomics.load(ctrl, parked) !== 1 && !error() && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
      expect(error()).toBeNull();
      expect(Atomics.load(ctrl, parked)).toBe(1);
      const { b, hub, initAndStartup } = board(memory);
      initAndStartup();
      await expectStartsAtVector(memory, b, hub, error);
    } finally {
      await w.terminate();
    }
  });
});

// An application processor's thread (engine-ts/worker/vcpu-thread.ts) blocked in a Xen
// SCHEDOP_poll with interrupts disabled, as Linux's paravirtual spinlocks wait
// (xen_qlock_wait). The poll may end (another vCPU's EVTCHNOP_send on the polled port,
// served on vCPU 0's thread) after vCPU 0's thread has answered "blocked" and before the
// AP's core marks itself halted for that answer. The board's unblockCpu then bumps the
// vCPU's unblock count (SLOT_UNBLOCK in the control block), and the thread, finding the vCPU
// halted after a hypercall made before the bump, runs it on. Nothing else ends such a wait:
// with interrupts disabled, IPIs sent to the vCPU meanwhile (Linux's call-function IPIs
// among them) stay pending.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, it, expect } from 'vitest';
import { Board } from '../../engine-ts/board/board';
import { createMachineMemoryFor } from '../../engine-ts/worker/wasm-core';
import { machineMemory } from '../../engine-ts/worker/machine-memory';
import { machineLayout } from '../../engine-ts/config/machine';
import { SmpHub } from '../../engine-ts/worker/smp-hub';
import { VCPU_THREAD_CONSTANTS, vcpuThreadMain } from '../../engine-ts/worker/vcpu-thread';
import { __HYPERVISOR_sched_op, SCHEDOP_poll } from '../../engine-ts/pv/xen-public';
import * as MM from '../../engine-wasm/memory-map';

const LAPIC = 0xfee00000;
const DOMID = 1;

/**
 * Real mode at the start-up page 0x9C000 (DS = 0): cli; SCHEDOP_poll on the ports listed by
 * the sched_poll at 0x600 (no timeout); then mov word [0x500], 0x1234; hlt; jmp $-3.
 */
const CODE = [
  0xfa, // cli
  0x66, 0xb8, __HYPERVISOR_sched_op, 0x00, 0x00, 0x00, // mov eax, __HYPERVISOR_sched_op
  0x66, 0xbb, SCHEDOP_poll, 0x00, 0x00, 0x00, // mov ebx, SCHEDOP_poll
  0x66, 0xb9, 0x00, 0x06, 0x00, 0x00, // mov ecx, 0x600
  0x0f, 0x01, 0xc1, // vmcall
  0xc7, 0x06, 0x00, 0x05, 0x34, 0x12, // mov word [0x500], 0x1234
  0xf4, 0xeb, 0xfd, // hlt; jmp $-3
];

describe('a Xen poll of an application processor', () => {
  it('ends even when the polled port is raised before the vCPU marks itself halted for the poll', async () => {
    const layout = machineLayout(16, true);
    const memory = createMachineMemoryFor(layout);
    const b = new Board(machineMemory(memory, layout), layout, { vcpus: 2, xen: { name: 'poll' } });
    const hub = new SmpHub(memory.buffer, 2);
    hub.attach(b);
    hub.powerOn();
    const ram = new DataView(memory.buffer, MM.RAM_BASE, layout.ramBytes);
    CODE.forEach((byte, i) => ram.setUint8(0x9c000 + i, byte));
    // The vCPU's spinlock kicker: an IPI port bound to vCPU 1.
    const port = b.xen!.hv.bindIpi(DOMID, 1);
    expect(port).toBeGreaterThan(0);
    // struct sched_poll (i386) at 0x600: ports (a guest handle) 0x610, nr_ports 1, timeout 0 (none).
    ram.setUint32(0x600, 0x610, true);
    ram.setUint32(0x604, 1, true);
    ram.setUint32(0x610, port, true);

    // The kick lands right after the poll was answered "blocked", before the AP's thread has the answer.
    const h = b.coreHostFor(1);
    const serve = h.hypercall;
    let polls = 0;
    h.hypercall = () => {
      const r = serve();
      if (r === 1) {
        polls++;
        expect(b.xen!.hv.send(DOMID, port)).toBe(0);
      }
      return r;
    };

    const module = await WebAssembly.compile(fs.readFileSync(new URL('../../engine-wasm/build/core.wasm', import.meta.url)));
    const src = `const __name = (f) => f; const { workerData } = require('node:worker_threads'); (${vcpuThreadMain.toString()})(workerData);`;
    const w = new Worker(src, { eval: true, workerData: { module, memory, id: 1, vcpus: 2, C: VCPU_THREAD_CONSTANTS } });
    let error: Error | null = null;
    w.once('error', (e) => { error = e; });
    try {
      // INIT, then the start-up IPI with vector 0x9C, to APIC ID 1 (from vCPU 0's local APIC).
      const bsp = b.coreHostFor(0);
      bsp.mmioWrite(LAPIC + 0xf0, 4, 0x1ff);
      for (const icrLow of [0x4500, 0x469c]) {
        bsp.mmioWrite(LAPIC + 0x310, 4, 1 << 24);
        bsp.mmioWrite(LAPIC + 0x300, 4, icrLow);
      }
      // vCPU 0 halted at guest time 0: it serves the AP's requests and never holds it back.
      hub.start('fast', 0, Date.now());
      hub.setRunstate(0, MM.RS_HALTED);
      const marker = new Uint16Array(memory.buffer, MM.RAM_BASE + 0x500, 1);
      const t0 = Date.now();
      while (marker[0] !== 0x1234 && !error && Date.now() - t0 < 5_000) {
        hub.service();
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(error).toBeNull();
      expect(polls).toBe(1);
      expect(marker[0].toString(16)).toBe('1234');
    } finally {
      hub.requestPark();
      const t1 = Date.now();
      while (!hub.parked() && Date.now() - t1 < 10_000) {
        hub.service();
        await new Promise((r) => setTimeout(r, 1));
      }
      await w.terminate();
    }
  }, 60_000);
});

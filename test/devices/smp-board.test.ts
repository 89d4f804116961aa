// The board of a multi-vCPU machine: a local APIC per vCPU at the same address, IPIs by
// destination and shorthand, INIT and start-up IPIs handed to the target vCPU's thread (its
// event lines), lowest-priority delivery, and one MADT entry per processor.
import { describe, it, expect } from 'vitest';
import { Board } from '../../engine-ts/board/board';
import { createMachineMemory } from '../../engine-ts/worker/wasm-core';
import { machineMemory } from '../../engine-ts/worker/machine-memory';
import { machineLayout } from '../../engine-ts/config/machine';
import * as MM from '../../engine-wasm/memory-map';

const LAPIC = 0xfee00000;

function board(vcpus: number) {
  const layout = machineLayout(16, false);
  const b = new Board(machineMemory(createMachineMemory(layout.ramBytes), layout), layout, { vcpus });
  const woken: number[] = [];
  b.onWakeVcpu = (id) => woken.push(id);
  const lapicWrite = (from: number, reg: number, v: number) => b.coreHostFor(from).mmioWrite(LAPIC + reg, 4, v >>> 0);
  const lapicRead = (from: number, reg: number) => b.coreHostFor(from).mmioRead(LAPIC + reg, 4) >>> 0;
  // Software-enable every local APIC (SVR bit 8, spurious vector 0xff), flat logical mode, logical ID bit = 1 << id.
  for (let id = 0; id < vcpus; id++) {
    lapicWrite(id, 0xf0, 0x1ff);
    lapicWrite(id, 0xe0, 0xffffffff);
    lapicWrite(id, 0xd0, (1 << id) << 24);
  }
  const ipi = (from: number, icrLow: number, dest = 0) => { lapicWrite(from, 0x310, dest << 24); lapicWrite(from, 0x300, icrLow); };
  /** Interrupt acknowledge on vCPU `id`, then EOI (as the handler would). */
  const take = (id: number) => { const v = b.coreHostFor(id).intAck(); if (v >= 0) lapicWrite(id, 0xb0, 0); return v; };
  return { b, woken, ipi, lapicRead, take };
}

describe('board with several vCPUs', () => {
  it('each vCPU sees its own local APIC (its ID) at the one address', () => {
    const { lapicRead } = board(4);
    expect([0, 1, 2, 3].map((id) => lapicRead(id, 0x20) >>> 24)).toEqual([0, 1, 2, 3]);
  });

  it('a fixed IPI reaches the vCPU it names (physical), wakes its thread, and its interrupt acknowledge takes the vector', () => {
    const { b, woken, ipi } = board(2);
    ipi(0, 0x4041, 1); // fixed, physical, vector 0x41 (INIT level-assert bit set as Linux does)
    expect(b.vcpus[1].pending & MM.PEND_INTR).toBeTruthy();
    expect(b.vcpus[0].pending & MM.PEND_INTR).toBe(0);
    expect(woken).toContain(1);
    expect(b.coreHostFor(1).intAck()).toBe(0x41);
    expect(b.coreHostFor(1).intAck()).toBe(-1); // nothing more for vCPU 1
  });

  it('shorthands: all but self, and all including self; logical destinations by bit', () => {
    const { b, ipi, take } = board(3);
    ipi(1, 0xc0042); // all excluding self, vector 0x42
    expect([0, 1, 2].map((id) => (b.vcpus[id].pending & MM.PEND_INTR) !== 0)).toEqual([true, false, true]);
    expect([0, 1, 2].map(take)).toEqual([0x42, -1, 0x42]);
    ipi(0, 0x80043); // all including self
    expect([0, 1, 2].map(take)).toEqual([0x43, 0x43, 0x43]);
    ipi(0, 0x0844, 0b110); // logical flat: CPUs 1 and 2
    expect([0, 1, 2].map(take)).toEqual([-1, 0x44, 0x44]);
  });

  it('INIT and start-up IPIs latch on the target vCPU for its thread, with the start page', () => {
    const { b, woken, ipi } = board(2);
    ipi(0, 0x4500, 1); // INIT, level assert
    expect(b.vcpus[1].pending & (MM.PEND_INIT | MM.PEND_EXIT)).toBe(MM.PEND_INIT | MM.PEND_EXIT);
    ipi(0, 0x4609, 1); // start-up, vector 9: the AP starts at 0x9000
    expect(b.vcpus[1].pending & MM.PEND_SIPI).toBeTruthy();
    expect(b.vcpus[1].u32(MM.R_SIPI_VECTOR)).toBe(9);
    expect(woken.filter((id) => id === 1).length).toBeGreaterThanOrEqual(2);
    expect(b.vcpus[0].pending & (MM.PEND_INIT | MM.PEND_SIPI)).toBe(0);
  });

  it('the MADT lists one enabled processor per vCPU', () => {
    const { b } = board(4);
    const t = b.firmwareTables().bytes;
    const text = String.fromCharCode(...t);
    const madt = text.indexOf('APIC');
    const len = new DataView(t.buffer, t.byteOffset + madt + 4, 4).getUint32(0, true);
    const ids: number[] = [];
    for (let o = madt + 44; o < madt + len; o += t[o + 1]) if (t[o] === 0 && (t[o + 4] & 1)) ids.push(t[o + 3]);
    expect(ids).toEqual([0, 1, 2, 3]);
  });
});

import { describe, it, expect, beforeAll } from 'vitest';
import { createCpuHarness, type CpuHarness } from './harness';
import * as MM from '../../engine-wasm/memory-map';

describe('cpu harness', () => {
  let h: CpuHarness;
  beforeAll(async () => { h = await createCpuHarness(); });

  it('runs 32-bit code: a loop summing 1..100 and printing over port 0xE9', () => {
    // mov ecx,100; xor eax,eax; l: add eax,ecx; loop l; mov dx,0xe9; out dx,al; hlt
    h.load(0x1000, [0xb9, 100, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xe2, 0xfc, 0x66, 0xba, 0xe9, 0, 0xee, 0xf4]);
    h.enterFlat32(0x1000);
    expect(h.runUntilHalt()).toBe(MM.EXIT_STOPPED); // HLT with IF=0
    expect(h.state.gpr('eax')).toBe(5050);
    expect(h.debugOut).toEqual([5050 & 0xff]);
  });

  it('delivers a page fault with CR2 and the error code through the IDT', () => {
    h.debugOut.length = 0;
    // IDT at 0x2000 with #PF (14) → handler at 0x3000: pop eax (error code); out 0xe9,al; hlt
    h.load(0x3000, [0x58, 0xe6, 0xe9, 0xf4]);
    const idt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x2000, 256 * 8);
    idt.setUint32(14 * 8, (0x08 << 16) | 0x3000, true);
    idt.setUint32(14 * 8 + 4, 0x00008e00, true);
    // Page directory at 0x10000: identity-map the first 4 MiB with a page table at 0x11000,
    // except page 0x400000 which is absent. Write to 0x400000 from CPL 0 → #PF, code 2.
    const pd = new DataView(h.memory.buffer, MM.RAM_BASE + 0x10000, 4096);
    const pt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x11000, 4096);
    pd.setUint32(0, 0x11000 | 3, true);
    for (let i = 0; i < 1024; i++) pt.setUint32(i * 4, (i << 12) | 3, true);
    // mov eax,cr0; or eax,0x80000000; mov cr0,eax; mov dword [0x400000],1
    h.load(0x1000, [0x0f, 0x20, 0xc0, 0x0d, 0, 0, 0, 0x80, 0x0f, 0x22, 0xc0, 0xc7, 0x05, 0, 0, 0x40, 0, 1, 0, 0, 0]);
    h.enterFlat32(0x1000);
    h.state.setIdtr(0x2000, 256 * 8 - 1);
    h.state.cr3 = 0x10000;
    h.core.refresh();
    h.runUntilHalt();
    expect(h.debugOut).toEqual([2]);
    expect(h.state.cr2).toBe(0x400000);
    expect(h.state.lastException.vector).toBe(14);
  });

  it('delivers a pending interrupt right after the instruction that follows STI, even in a tight CLI/STI loop', () => {
    // Linux spins in loops like this (spin_lock_irq / spin_unlock_irq around a poll): the
    // interrupt must get in through the one-instruction window after STI every time round.
    h.debugOut.length = 0;
    // l: cli; 20 x nop; sti; nop; jmp l       (the jmp is at 0x1017)
    h.load(0x1000, [0xfa, ...new Array(20).fill(0x90), 0xfb, 0x90, 0xeb, 0xe7]);
    // Vector 0x20 → 0x3000: pop eax (return EIP); out 0xe9,al; hlt (IF is 0 in the handler).
    h.load(0x3000, [0x58, 0xe6, 0xe9, 0xf4]);
    const idt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x2000, 256 * 8);
    idt.setUint32(0x20 * 8, (0x08 << 16) | 0x3000, true);
    idt.setUint32(0x20 * 8 + 4, 0x00008e00, true);
    h.enterFlat32(0x1000);
    h.state.setIdtr(0x2000, 256 * 8 - 1);
    h.core.refresh();
    const pending = new Int32Array(h.memory.buffer, MM.VCPU_BASE + MM.R_PENDING, 1);
    let acks = 0;
    h.intAck = () => { acks++; Atomics.and(pending, 0, ~MM.PEND_INTR); return 0x20; };
    Atomics.or(pending, 0, MM.PEND_INTR);
    try {
      expect(h.runUntilHalt(10_000)).toBe(MM.EXIT_STOPPED);
    } finally {
      h.intAck = () => -1;
    }
    expect(acks).toBe(1);
    expect(h.state.gpr('eax')).toBe(0x1017); // taken after the NOP under STI's shadow, before the JMP
    expect(h.debugOut).toEqual([0x17]);
  });
});

// Two vCPUs running at the same time on one shared memory (two worker threads, as a machine
// with --cpus 2 runs them) hammer shared counters with the locked forms Linux's spinlocks,
// atomics and bitmaps use. Every update must land: the totals are exact.
import { describe, it, expect } from 'vitest';
import { createMachineMemory } from '../../engine-ts/worker/wasm-core';
import { runOnVcpus } from './vcpu-threads';
import * as MM from '../../engine-wasm/memory-map';

// At 0x1000, with EBP = iterations, ESI = this vCPU's bit number (its id); each iteration:
//        xor edi, edi                      ; lost bit updates seen by this vCPU
//   top: lock inc dword [0x3000]
//  spin: mov eax, 1 / xchg eax, [0x3008] / test eax, eax / jnz spin   ; spinlock by XCHG
//        inc dword [0x3004]                ; plain increment inside the lock
//        mov dword [0x3008], 0             ; unlock
//   cas: mov eax, [0x3010] / lea ebx, [eax+1] / lock cmpxchg [0x3010], ebx / jnz cas
//        mov ax, 1 / lock xadd [0x3021], ax            ; unaligned 16-bit operand
//        lock bts [0x3030], esi / jc bad1              ; our bit must have been clear...
//        lock btr [0x3030], esi / jnc bad2             ; ...and set by us (a lost update
//                                                      ; by the other vCPU's RMW of the byte shows here)
//        dec ebp / jnz top
//        mov [0x3040 + esi*4], edi / hlt
//  bad1: inc edi / jmp back1     bad2: inc edi / jmp back2
const CODE = [
  0x31, 0xff, 0xf0, 0xff, 0x05, 0x00, 0x30, 0x00, 0x00, 0xb8, 0x01, 0x00,
  0x00, 0x00, 0x87, 0x05, 0x08, 0x30, 0x00, 0x00, 0x85, 0xc0, 0x75, 0xf1,
  0xff, 0x05, 0x04, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x08, 0x30, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0xa1, 0x10, 0x30, 0x00, 0x00, 0x8d, 0x58, 0x01,
  0xf0, 0x0f, 0xb1, 0x1d, 0x10, 0x30, 0x00, 0x00, 0x75, 0xee, 0x66, 0xb8,
  0x01, 0x00, 0xf0, 0x66, 0x0f, 0xc1, 0x05, 0x21, 0x30, 0x00, 0x00, 0xf0,
  0x0f, 0xab, 0x35, 0x30, 0x30, 0x00, 0x00, 0x72, 0x15, 0xf0, 0x0f, 0xb3,
  0x35, 0x30, 0x30, 0x00, 0x00, 0x73, 0x0e, 0x4d, 0x75, 0xa4, 0x89, 0x3c,
  0xb5, 0x40, 0x30, 0x00, 0x00, 0xf4, 0x47, 0xeb, 0xe8, 0x47, 0xeb, 0xef,
];

describe('locked read-modify-write across two vCPUs', () => {
  it('lock inc, an XCHG spinlock, lock cmpxchg, unaligned lock xadd and lock bts/btr lose no update', async () => {
    const N = 100_000;
    const memory = createMachineMemory(16 << 20);
    new Uint8Array(memory.buffer, MM.RAM_BASE + 0x1000, CODE.length).set(CODE);
    const exits = await runOnVcpus(memory, 2, 0x1000, (s, id) => { s.setGpr('ebp', N); s.setGpr('esi', id); });
    expect(exits).toEqual([MM.EXIT_STOPPED, MM.EXIT_STOPPED]);
    const dv = new DataView(memory.buffer, MM.RAM_BASE + 0x3000, 0x50);
    expect({
      lockInc: dv.getUint32(0x00, true),
      underXchgLock: dv.getUint32(0x04, true),
      lock: dv.getUint32(0x08, true),
      cmpxchg: dv.getUint32(0x10, true),
      xadd16: dv.getUint16(0x21, true),
      neighbours: [dv.getUint8(0x20), dv.getUint8(0x23)],
      bits: dv.getUint8(0x30),
      lostBitUpdates: [dv.getUint32(0x40, true), dv.getUint32(0x44, true)],
    }).toEqual({
      lockInc: 2 * N, underXchgLock: 2 * N, lock: 0, cmpxchg: 2 * N, xadd16: (2 * N) & 0xffff,
      neighbours: [0, 0], bits: 0, lostBitUpdates: [0, 0],
    });
  }, 120_000);
});

// CMPXCHG8B (0F C7 /1): results in registers, ZF and memory on the atomic path (8-byte aligned
// RAM) and on the plain one (unaligned, MMIO), and atomicity between two vCPUs running at the
// same time on one shared memory (two worker threads).
import { describe, it, expect, beforeAll } from 'vitest';
import { createCpuHarness, type CpuHarness } from './harness';
import { runOnVcpus } from './vcpu-threads';
import { createMachineMemory } from '../../engine-ts/worker/wasm-core';
import * as MM from '../../engine-wasm/memory-map';

const ZF = 0x40;
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

describe('CMPXCHG8B', () => {
  let h: CpuHarness;
  beforeAll(async () => { h = await createCpuHarness(); });

  /** Run `[lock] cmpxchg8b [addr]; hlt` with EDX:EAX = expected, ECX:EBX = replacement. */
  function run(addr: number, lock: boolean, mem: [number, number] | null, expected: [number, number], repl: [number, number]) {
    h.load(0x1000, [...(lock ? [0xf0] : []), 0x0f, 0xc7, 0x0d, ...le32(addr), 0xf4]);
    if (mem) h.load(addr, [...le32(mem[0]), ...le32(mem[1])]);
    h.enterFlat32(0x1000);
    h.state.setGpr('eax', expected[0]); h.state.setGpr('edx', expected[1]);
    h.state.setGpr('ebx', repl[0]); h.state.setGpr('ecx', repl[1]);
    h.core.setEflags(0x2 | (mem && mem[0] === expected[0] && mem[1] === expected[1] ? 0 : ZF)); // ZF must change
    expect(h.runUntilHalt(100)).toBe(MM.EXIT_STOPPED);
    const dv = addr < 16 << 20 ? new DataView(h.memory.buffer, MM.RAM_BASE + addr, 8) : null;
    return {
      eax: h.state.gpr('eax') >>> 0, edx: h.state.gpr('edx') >>> 0, ebx: h.state.gpr('ebx') >>> 0, ecx: h.state.gpr('ecx') >>> 0,
      zf: (h.eflags() & ZF) !== 0,
      mem: dv ? [dv.getUint32(0, true), dv.getUint32(4, true)] : null,
    };
  }

  for (const [what, addr] of [['aligned RAM (atomic path)', 0x3000], ['unaligned RAM (plain path)', 0x3004]] as const) {
    for (const lock of [true, false]) {
      it(`${what}${lock ? ', LOCK' : ''}: equal → ECX:EBX stored, ZF=1, EDX:EAX unchanged`, () => {
        const r = run(addr, lock, [0x89abcdef, 0x01234567], [0x89abcdef, 0x01234567], [0xdeadbeef, 0xfeedface]);
        expect(r).toEqual({ eax: 0x89abcdef, edx: 0x01234567, ebx: 0xdeadbeef, ecx: 0xfeedface, zf: true, mem: [0xdeadbeef, 0xfeedface] });
      });
      it(`${what}${lock ? ', LOCK' : ''}: different → EDX:EAX loaded, ZF=0, memory unchanged`, () => {
        // Only the high half differs: both halves take part in the comparison.
        const r = run(addr, lock, [0x89abcdef, 0x01234567], [0x89abcdef, 0x01234566], [0xdeadbeef, 0xfeedface]);
        expect(r).toEqual({ eax: 0x89abcdef, edx: 0x01234567, ebx: 0xdeadbeef, ecx: 0xfeedface, zf: false, mem: [0x89abcdef, 0x01234567] });
      });
    }
  }

  it('MMIO operand (plain path): reads go to the device, mismatch loads EDX:EAX, ZF=0', () => {
    // The harness's MMIO reads return all ones.
    const r = run(0xfec00000, true, null, [0, 0], [1, 2]);
    expect(r).toMatchObject({ eax: 0xffffffff, edx: 0xffffffff, zf: false });
  });

  it('is atomic across vCPUs: two vCPUs incrementing one 64-bit counter with LOCK CMPXCHG8B lose no update', async () => {
    const N = 300_000; // increments per vCPU
    const COUNTER = 0x3000;
    const memory = createMachineMemory(16 << 20);
    const ram = new Uint8Array(memory.buffer, MM.RAM_BASE, 16 << 20);
    // The counter starts just below 2^32 so the carry into the high half is exercised.
    const start = 0xffff0000;
    const cdv = new DataView(memory.buffer, MM.RAM_BASE + COUNTER, 8);
    cdv.setUint32(0, start, true); cdv.setUint32(4, 0, true);
    //   mov esi,N
    // l: mov eax,[C]; mov edx,[C+4]
    // r: mov ebx,eax; mov ecx,edx; add ebx,1; adc ecx,0; lock cmpxchg8b [C]; jnz r
    //    dec esi; jnz l; hlt
    const code = [
      0xbe, ...le32(N),
      0xa1, ...le32(COUNTER), 0x8b, 0x15, ...le32(COUNTER + 4),
      0x89, 0xc3, 0x89, 0xd1, 0x83, 0xc3, 0x01, 0x83, 0xd1, 0x00, 0xf0, 0x0f, 0xc7, 0x0d, ...le32(COUNTER), 0x75, 0xec,
      0x4e, 0x75, 0xde, 0xf4,
    ];
    ram.set(code, 0x1000);

    expect(await runOnVcpus(memory, 2, 0x1000)).toEqual([MM.EXIT_STOPPED, MM.EXIT_STOPPED]);
    const total = BigInt(start) + 2n * BigInt(N);
    expect(cdv.getBigUint64(0, true)).toBe(total);
  }, 60_000);
});

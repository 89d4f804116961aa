// The virtual CPU does not speculate, and says so as hardware that is not affected does:
// CPUID leaf 7 announces IA32_ARCH_CAPABILITIES, whose "not affected" bits are set. A guest
// kernel then leaves out page table isolation (a TLB flush on every system call and
// interrupt) and the CPU buffer clearing on every return to user mode.
import { describe, it, expect, beforeAll } from 'vitest';
import { createCpuHarness, type CpuHarness } from './harness';

const RDCL_NO = 1 << 0, SSB_NO = 1 << 4, MDS_NO = 1 << 5, TAA_NO = 1 << 8, GDS_NO = 1 << 26;

describe('CPUID leaf 7 and IA32_ARCH_CAPABILITIES', () => {
  let h: CpuHarness;
  beforeAll(async () => { h = await createCpuHarness(); });

  it('CPUID 0 reports leaf 7, leaf 7 has the ARCH_CAPABILITIES bit, RDMSR 0x10A the not-affected bits', () => {
    h.load(0x1000, [
      0x31, 0xc0, 0x0f, 0xa2, 0xa3, 0x00, 0x20, 0x00, 0x00, // xor eax,eax; cpuid; mov [0x2000],eax
      0xb8, 0x07, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, 0x89, 0x15, 0x04, 0x20, 0x00, 0x00, // mov eax,7; xor ecx,ecx; cpuid; mov [0x2004],edx
      0xb8, 0x09, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, 0x89, 0x15, 0x10, 0x20, 0x00, 0x00, // mov eax,9 (above the max); cpuid; mov [0x2010],edx
      0xb9, 0x0a, 0x01, 0x00, 0x00, 0x0f, 0x32, 0xa3, 0x08, 0x20, 0x00, 0x00, 0x89, 0x15, 0x0c, 0x20, 0x00, 0x00, // mov ecx,0x10a; rdmsr; mov [0x2008],eax; mov [0x200c],edx
      0xf4,
    ]);
    h.enterFlat32(0x1000);
    h.runUntilHalt();
    const dv = new DataView(h.ram.buffer, h.ram.byteOffset + 0x2000, 0x14);
    expect(dv.getUint32(0, true)).toBe(7);
    expect(dv.getUint32(4, true) & (1 << 29)).toBe(1 << 29);
    expect(dv.getUint32(0x10, true)).toBe(dv.getUint32(4, true)); // a leaf above the maximum returns the highest one's
    const caps = dv.getUint32(8, true);
    for (const bit of [RDCL_NO, SSB_NO, MDS_NO, TAA_NO, GDS_NO]) expect(caps & bit).toBe(bit);
    expect(caps & (1 << 1)).toBe(0); // no enhanced IBRS: there is no IA32_SPEC_CTRL to back it
    expect(dv.getUint32(12, true)).toBe(0);
  });
});

// The 286-vs-386 kinds named in tools/vectors/run-vectors.ts EXCLUSIONS, checked against what
// the SDM says a P6-class CPU does: reserved group-11 and group-1A encodings raise #UD, a word
// operand at offset 0xFFFF raises #GP(0) in real mode, and IDIV accepts -2^(n-1) but not +2^(n-1).
import { describe, it, expect, beforeAll } from 'vitest';
import { createCpuHarness, type CpuHarness } from './harness';
import { wordStringAtFFFF, idivQuotientAtEdge } from '../../tools/vectors/run-vectors';
import type { MooTest } from '../../tools/vectors/moo';

/** Real mode at 0:0x1000 with an IVT whose vector v handler is a HLT at 0x2000 + v; returns the vector taken or -1. */
function runReal(h: CpuHarness, code: number[], regs: Record<string, number> = {}): number {
  for (let v = 0; v < 32; v++) { h.load(v * 4, [(0x2000 + v) & 0xff, (0x2000 + v) >> 8, 0, 0]); h.load(0x2000 + v, [0xf4]); }
  h.load(0x1000, [...code, 0xf4]);
  h.enterReal(0x1000);
  for (const [r, val] of Object.entries(regs)) h.state.setGpr(r as 'eax', val);
  h.core.refresh();
  h.runUntilHalt(100);
  const ip = h.state.eip & 0xffff;
  return ip > 0x2000 && ip <= 0x2020 ? ip - 0x2001 : -1;
}

describe('real-mode edge cases where the 80286 and a P6-class CPU differ', () => {
  let h: CpuHarness;
  beforeAll(async () => { h = await createCpuHarness(); });

  it('C6/C7 with a reg field other than 0 and 8F with one other than 0 raise #UD; /0 still moves', () => {
    expect(runReal(h, [0xc7, 0xc8, 0x34, 0x12], { eax: 0 })).toBe(6); // C7 /1, register form
    expect(h.state.gpr('eax')).toBe(0);
    expect(runReal(h, [0xc7, 0x3e, 0x00, 0x05, 0x34, 0x12])).toBe(6); // C7 /7, memory form
    expect(runReal(h, [0xc6, 0x0e, 0x00, 0x05, 0x34])).toBe(6); // C6 /1
    expect(runReal(h, [0x8f, 0x0e, 0x00, 0x05])).toBe(6); // 8F /1
    expect(runReal(h, [0xc7, 0xc0, 0x34, 0x12], { eax: 0 })).toBe(-1); // C7 /0: MOV AX,0x1234
    expect(h.state.gpr('eax') & 0xffff).toBe(0x1234);
  });

  it('a word string operand at offset 0xFFFF raises #GP(0) with SI/DI/CX as after the completed iterations', () => {
    expect(runReal(h, [0xad], { esi: 0xffff })).toBe(13); // LODSW
    expect(runReal(h, [0xab], { edi: 0xffff })).toBe(13); // STOSW
    expect(runReal(h, [0xf3, 0xad], { esi: 0xfffb, ecx: 5 })).toBe(13); // REP LODSW: two iterations, then the fault
    expect(h.state.gpr('esi') & 0xffff).toBe(0xffff);
    expect(h.state.gpr('ecx') & 0xffff).toBe(3);
  });

  it('IDIV: a quotient of -2^(n-1) is valid, +2^(n-1) raises #DE', () => {
    expect(runReal(h, [0xf7, 0xfb], { edx: 0x0001, eax: 0x0000, ebx: 0xfffe })).toBe(-1); // 65536 / -2 = -32768
    expect(h.state.gpr('eax') & 0xffff).toBe(0x8000);
    expect(runReal(h, [0xf7, 0xfb], { edx: 0x0001, eax: 0x0000, ebx: 0x0002 })).toBe(0); // 65536 / 2 = +32768
    expect(runReal(h, [0xf6, 0xfb], { eax: 0x0100, ebx: 0xfe })).toBe(-1); // 256 / -2 = -128
    expect(h.state.gpr('eax') & 0xff).toBe(0x80);
    expect(runReal(h, [0xf6, 0xfb], { eax: 0x0100, ebx: 0x02 })).toBe(0); // 256 / 2 = +128
  });

  it('the exclusion predicates pick out exactly those tests', () => {
    const t = (bytes: number[], regs: MooTest['init']['regs'], ram: Array<[number, number]> = []): MooTest =>
      ({ index: 0, name: '', bytes: new Uint8Array([...bytes, 0xf4]), init: { regs, ram }, final: { regs: {}, ram: [] }, hash: '' });
    expect(wordStringAtFFFF(t([0xad], { si: 0xffff }))).toBe(true);
    expect(wordStringAtFFFF(t([0xad], { si: 0xfffe }))).toBe(false);
    expect(wordStringAtFFFF(t([0xf3, 0xa5], { si: 0x10, di: 0xfffb, cx: 3 }))).toBe(true); // third iteration
    expect(wordStringAtFFFF(t([0xf3, 0xa5], { si: 0x10, di: 0xfffb, cx: 2 }))).toBe(false);
    expect(wordStringAtFFFF(t([0xf3, 0xab], { di: 0x0003, cx: 3, flags: 0x400 }))).toBe(true); // DF=1: 3, 1, 0xFFFF
    expect(idivQuotientAtEdge(t([0xf7, 0xfb], { dx: 1, ax: 0, bx: 0xfffe }))).toBe(true);
    expect(idivQuotientAtEdge(t([0xf7, 0xfb], { dx: 1, ax: 0, bx: 0xfffd }))).toBe(false);
    // IDIV word [bx+si+4] with DS=0x100: divisor 0xFFFE at 0x1000 + 0x20 + 4
    expect(idivQuotientAtEdge(t([0xf7, 0x78, 0x04], { dx: 1, ax: 0, bx: 0x20, si: 0, ds: 0x100 }, [[0x1024, 0xfe], [0x1025, 0xff]]))).toBe(true);
    expect(idivQuotientAtEdge(t([0xf6, 0xfc], { ax: 0xff80 }))).toBe(true); // IDIV AH: 0xFF80 / -1 = +128
  });
});

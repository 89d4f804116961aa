import { describe, it, expect, beforeAll } from 'vitest';
import { createCpuHarness, type CpuHarness } from './harness';
import * as MM from '../../engine-wasm/memory-map';

describe('PAUSE (F3 90)', () => {
  let h: CpuHarness;
  beforeAll(async () => { h = await createCpuHarness(); });

  it('takes 128 guest cycles, so a TSC spin-wait loop retires far fewer instructions; the TSC counts the cycles', () => {
    // rdtsc; mov ebx,eax; l: pause; rdtsc; sub eax,ebx; cmp eax,100000; jb l; hlt
    // (udelay's loop: read the TSC until the wanted number of cycles has passed)
    h.load(0x1000, [0x0f, 0x31, 0x89, 0xc3, 0xf3, 0x90, 0x0f, 0x31, 0x29, 0xd8, 0x3d, 0xa0, 0x86, 0x01, 0x00, 0x72, 0xf3, 0xf4]);
    h.enterFlat32(0x1000);
    const cycles0 = h.state.icount;
    const pause0 = h.state.u64(MM.R_PAUSE_CYCLES);
    expect(h.runUntilHalt()).toBe(MM.EXIT_STOPPED);
    const cycles = Number(h.state.icount - cycles0);
    const extra = Number(h.state.u64(MM.R_PAUSE_CYCLES) - pause0);
    const retired = cycles - extra;
    // Each round: 5 instructions, one of them PAUSE at 128 cycles → 132 cycles a round.
    expect(cycles).toBeGreaterThanOrEqual(100_000);
    expect(cycles).toBeLessThan(100_000 + 2 * 132);
    const rounds = Math.ceil((100_000 - 1) / 132);
    expect(extra).toBeGreaterThanOrEqual((rounds - 1) * 127);
    expect(retired).toBeLessThan(6 * rounds);
    expect(h.state.retired).toBe(h.state.icount - h.state.u64(MM.R_PAUSE_CYCLES));
  });

  it('is an ordinary NOP without the F3 prefix', () => {
    // 10 x nop; hlt
    h.load(0x1000, [...new Array(10).fill(0x90), 0xf4]);
    h.enterFlat32(0x1000);
    const c0 = h.state.icount, p0 = h.state.u64(MM.R_PAUSE_CYCLES);
    h.runUntilHalt();
    expect(Number(h.state.icount - c0)).toBe(11);
    expect(h.state.u64(MM.R_PAUSE_CYCLES)).toBe(p0);
  });
});

// MachineHandle.profile: EIP samples every N guest instructions, as bench:pv --profile uses them.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { createMachine } from '../../engine-ts/api/node';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

// Real mode, loaded at 0x7C00 and entered at 07C0:0000 (samples are EIP, the offset in CS):
// loop A runs 100,000 times, loop B 300,000 times (two instructions per turn each), then
// exit through the debug-exit port.
const LOOP_A = 0x06, LOOP_B = 0x10;
const program = [
  0x66, 0xb9, ...le32(100_000), //  00 mov ecx, 100000
  0x66, 0x49, 0x75, 0xfc, //        06 A: dec ecx; jnz A
  0x66, 0xb9, ...le32(300_000), //  0A mov ecx, 300000
  0x66, 0x49, 0x75, 0xfc, //        10 B: dec ecx; jnz B
  0xb0, 0x00, 0xe6, 0xf4, //        mov al, 0; out 0xF4, al
  0xf4, //                          hlt
];

async function machine() {
  return createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: 4,
    pacing: 'fast',
    guest: { kind: 'flat', image: new Uint8Array(program) },
  }, {});
}

describe('guest profile (EIP sampling)', () => {
  it('samples where the guest runs, in proportion to the instructions spent there', async () => {
    const m = await machine();
    const before = await m.profile(100);
    expect(before).toEqual({ everyInstructions: 0, kernel: [], user: 0 }); // nothing sampled while off
    expect(await m.run()).toEqual({ kind: 'exit', code: 1 });
    const p = await m.profile(0);
    m.dispose();
    expect(p.everyInstructions).toBe(100);
    expect(p.user).toBe(0); // real mode runs at CPL 0
    const inLoop = (lo: number) => p.kernel.filter(([eip]) => eip >= lo && eip < lo + 4).reduce((a, [, n]) => a + n, 0);
    const total = p.kernel.reduce((a, [, n]) => a + n, 0);
    const a = inLoop(LOOP_A), b = inLoop(LOOP_B);
    expect(total).toBeGreaterThan(7_500); // 800,000 instructions / 100
    expect(a + b).toBeGreaterThan(0.99 * total);
    expect(b / a).toBeGreaterThan(2.8);
    expect(b / a).toBeLessThan(3.2);
    // Taking the samples starts a new set.
    expect(await m.profile(0)).toEqual({ everyInstructions: 0, kernel: [], user: 0 });
  });

  it('rejects a sampling interval outside 100..1e9', async () => {
    const m = await machine();
    for (const n of [-1, 1, 99, 1.5, 2e9, Number.NaN]) await expect(m.profile(n)).rejects.toThrow(/100\.\.1e9/);
    m.dispose();
  });
});

// Development aid: a tight register loop to measure raw dispatch speed.
import { createCpuHarness } from '../../test/cpu/harness';
export async function main(): Promise<number> {
  const h = await createCpuHarness();
  h.load(0x1000, [0x01, 0xc8, 0x41, 0x81, 0xf9, 0xff, 0xff, 0xff, 0x7f, 0x75, 0xf5, 0xf4]);
  h.enterFlat32(0x1000);
  for (let rep = 0; rep < 4; rep++) {
    const t0 = performance.now();
    const before = h.state.icount;
    for (let i = 0; i < 20; i++) h.core.run(5_000_000);
    const dt = performance.now() - t0;
    console.log(`run ${rep}: ${(Number(h.state.icount - before) / dt / 1000).toFixed(1)} MIPS`);
  }
  return 0;
}

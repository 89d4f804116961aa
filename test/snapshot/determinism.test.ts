// Time is virtual, so a machine is a value: resumed from a snapshot it must go on exactly as
// the machine that was saved, instruction for instruction. Checked by saving both again
// later at the same cycle and comparing the files byte for byte (RAM, vCPU, every device).
import { describe, expect, it } from 'vitest';
import { readSnapshotHeader } from '../../engine-ts/api/node';
import { resume, sha, shipped, type } from './helpers';

describe('snapshot determinism', () => {
  it('emulated Linux: resumed at cycle N, it runs to N+M exactly as the original, with translation to WebAssembly off or on; save → restore → save is byte-identical', async () => {
    const a = await resume(shipped('linux'));
    // Work for the CPU, the timers, the UART and the shell: a loop that prints as it goes.
    type(a.machine, 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); [ $((i % 5000)) = 0 ] && echo tick-$i; done; echo loop-$((6*7))-done');
    const c0 = (await a.machine.stats()).cycles;
    expect(await a.machine.run({ untilCycle: c0 + 400e6 })).toEqual({ kind: 'stopped' });
    expect((await a.machine.stats()).cycles).toBe(c0 + 400e6);
    expect(a.output()).toContain('tick-5000');
    expect(a.output()).not.toContain('loop-42-done'); // saved in the middle of the work
    const s1 = await a.machine.snapshot();

    await a.machine.run({ untilCycle: c0 + 4000e6 });
    const s2 = await a.machine.snapshot();
    expect(a.output()).toContain('loop-42-done');

    const b = await resume(s1);
    expect(sha(await b.machine.snapshot())).toBe(sha(s1));
    // Saved while it runs: the vCPU stands still only while the machine is copied out, and it
    // is compressed while the guest runs on. The file is still the machine at that instant.
    const running = b.machine.run({ untilCycle: c0 + 4000e6 });
    await new Promise((r) => setTimeout(r, 200));
    const mid = await b.machine.snapshot();
    const save = (await b.machine.stats()).lastSave!;
    expect(save.bytes).toBe(mid.length);
    expect(save.pausedMs).toBeLessThan(save.totalMs);
    expect(await running).toEqual({ kind: 'stopped' });
    expect(b.output()).toContain('loop-42-done');
    expect(a.output().endsWith(b.output())).toBe(true);
    expect(sha(await b.machine.snapshot())).toBe(sha(s2));
    a.machine.dispose();
    b.machine.dispose();
    // ...as a machine run to the same cycle and saved while stopped shows, byte for byte.
    const midCycle = Number((await readSnapshotHeader(mid)).header.icount);
    expect(midCycle).toBeGreaterThan(c0 + 400e6);
    expect(midCycle).toBeLessThan(c0 + 4000e6);
    const c = await resume(s1);
    await c.machine.run({ untilCycle: midCycle });
    expect(sha(await c.machine.snapshot())).toBe(sha(mid));
    c.machine.dispose();

    // Translation to WebAssembly is how a host runs the machine, not part of it: resumed with
    // it on, the machine runs to the same state (nothing of it is in the snapshots either).
    const j = await resume(s1, { jit: true });
    expect(sha(await j.machine.snapshot())).toBe(sha(s1));
    await j.machine.run({ untilCycle: c0 + 4000e6 });
    const stats = await j.machine.stats();
    expect(stats.jit.enabled).toBe(true);
    expect(stats.jit.share).toBeGreaterThan(0);
    expect(sha(await j.machine.snapshot())).toBe(sha(s2));
    j.machine.dispose();
  }, 1_800_000);
});

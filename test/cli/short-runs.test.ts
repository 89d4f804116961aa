// A script may drive a machine in short steps (`run({ untilCycle })` in a loop, as the
// hot-plug test does while it waits for an unplug to finish). The host's own work (file I/O,
// timers: closing an unplugged disk's VHD) must still get its turns: the run loop yields to
// the host every few milliseconds of wall time across calls, not only within one long call.
// (Before, each call restarted that clock, so a loop of calls shorter than it never yielded:
// the hot-plug test's unplug once waited 11 minutes for the VHD's close.)
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../engine-ts/api/node';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

describe('a machine run in short steps', () => {
  it('lets a host timer fire while a script loops over short run() calls', async () => {
    // jmp $: the guest stays busy, and each step of 20,000 instructions takes well under a millisecond.
    const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), { memoryMiB: 1, pacing: 'fast', guest: { kind: 'flat', image: new Uint8Array([0xeb, 0xfe]) } }, {});
    try {
      let fired = false;
      setTimeout(() => { fired = true; }, 1);
      const t0 = performance.now();
      let c = (await m.stats()).cycles;
      let steps = 0;
      while (!fired && performance.now() - t0 < 3000) {
        c += 20_000;
        await m.run({ untilCycle: c });
        steps++;
      }
      expect(fired).toBe(true);
      expect(steps).toBeGreaterThan(0);
    } finally {
      m.dispose();
    }
  });
});

// Translation at the machine level: which machines translate (MachineConfig.jit), and that a
// snapshot carries nothing of it.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMachine, type MachineConfig } from '../../engine-ts/api/node';
import * as MM from '../../engine-wasm/memory-map';
import { VCPU_UPGRADES } from '../../engine-ts/snapshot/vcpu-upgrades';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CORE = path.join(root, 'engine-wasm/build/core.wasm');
const hello = (): MachineConfig['guest'] => ({ kind: 'flat', image: new Uint8Array(fs.readFileSync(path.join(root, 'public/guests/hello.bin'))), name: 'hello' });

describe('translation in a machine', () => {
  it('is on unless switched off, and never on a machine with several vCPUs (their writes would not make translations stale)', async () => {
    const cases: Array<[Partial<MachineConfig>, boolean]> = [
      [{}, process.env.PVLAB_JIT !== '0'], // the default: on, unless PVLAB_JIT=0
      [{ jit: true }, true],
      [{ jit: false }, false],
      [{ jit: true, vcpus: 2 }, false],
    ];
    for (const [config, enabled] of cases) {
      const m = await createMachine(CORE, { memoryMiB: 4, pacing: 'fast', rtcStartSeconds: 1_767_225_600, guest: hello(), ...config }, {});
      try {
        await m.run({ untilCycle: 1_000_000 });
        expect((await m.stats()).jit.enabled, JSON.stringify(config)).toBe(enabled);
      } finally {
        m.dispose();
      }
    }
  }, 120_000);

  it('vCPU layout 5 → 6: the PAUSE and translation counters start at zero', () => {
    const step = VCPU_UPGRADES.find((u) => u.from === 5)!;
    const block = new Uint8Array(MM.VCPU_STATE_SIZE).fill(0xa5);
    step.run(block);
    expect([...block.subarray(MM.R_PAUSE_CYCLES, MM.R_PAUSE_CYCLES + 8)]).toEqual(new Array(8).fill(0));
    expect([...block.subarray(MM.R_JIT_RETIRED, MM.R_JIT_RETIRED + 8)]).toEqual(new Array(8).fill(0));
    expect(block[MM.R_NOW]).toBe(0xa5); // the rest is left alone
    expect(block[MM.R_SEG_LO]).toBe(0xa5);
  });
});

import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createMachine } from '../../engine-ts/api/node';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dir = path.join(root, 'public/guests/cpu-tests');
const kernels = ['gates', 'tasks', 'paging', 'v86', 'misc', 'x87', 'stack', 'fwcfg', 'debug', 'irq', 'nx'];
/** Fewest checks a kernel makes (a kernel that stops early prints fewer). */
const minChecks: Record<string, number> = { fwcfg: 15 };

/** Boot a CPU test kernel (Multiboot) headless; returns its port-0xE9 report and exit status. */
async function runKernel(name: string): Promise<{ report: string; code: number | null }> {
  let report = '';
  const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: 32,
    pacing: 'fast',
    guest: { kind: 'multiboot', kernel: new Uint8Array(fs.readFileSync(path.join(dir, `${name}.bin`))), cmdline: '' },
  }, { onDebug: (b) => { report += Buffer.from(b).toString('latin1'); } });
  const reason = await m.run();
  m.dispose();
  return { report, code: reason.kind === 'exit' ? reason.code : null };
}

describe('protected-mode CPU test kernels (guests/cpu-tests, validated on QEMU)', () => {
  for (const name of kernels) {
    it(`${name}: every check passes`, async () => {
      const { report, code } = await runKernel(name);
      const fails = report.split('\n').filter((l) => l.startsWith('FAIL '));
      expect(fails).toEqual([]);
      const summary = report.match(new RegExp(`SUMMARY ${name}: (\\d+) passed, (\\d+) failed, (\\d+) skipped`));
      expect(summary, report.slice(-500)).not.toBeNull();
      expect(Number(summary![1])).toBeGreaterThan(minChecks[name] ?? 30);
      expect(summary![3]).toBe('0'); // with an empty command line no check is skipped
      expect(code).toBe(1); // isa-debug-exit: wrote 0 → (0 << 1) | 1
    }, 120_000);
  }
});

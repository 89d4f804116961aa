// A script that creates a 2-vCPU machine, stops it and goes on: stopping parks the vCPU
// threads while vCPU 0's loop waits on Atomics.waitAsync, which alone does not keep Node's
// event loop alive. The script must get past `await m.stop()` (it once ended there with exit
// code 13, "unsettled top-level await": npm run bench:smp printed no table).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

describe('a multi-vCPU machine in a script of its own', () => {
  it('stops, and the script goes on to its end (exit code 0)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'tools/run-ts.mjs'), 'test/cli/scripts/smp-stop.ts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('stopped: {"kind":"stopped"}');
    expect(r.status).toBe(0);
  }, 180_000);
});

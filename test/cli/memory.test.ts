// Guest RAM at its edges: every size from 1 MiB to 3 GiB works, anything else is one clear line.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { machineLayout, resolveConfig, ConfigError, MAX_MEMORY_MIB } from '../../engine-ts/config/machine';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
function pvlab(args: string[], input = '') {
  const r = spawnSync(process.execPath, [path.join(root, 'tools/pvlab.mjs'), ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const guest = { kind: 'flat' as const, image: new Uint8Array([0xf4]) };

describe('guest memory size', () => {
  it('the layout is exact at every edge (no 32-bit overflow at 2 GiB and above)', () => {
    expect(machineLayout(2048, false)).toEqual({ ramBytes: 2 ** 31, windowBytes: 0, backedBytes: 2 ** 31 });
    expect(machineLayout(3072, true)).toEqual({ ramBytes: 3 * 2 ** 30, windowBytes: 16 * 2 ** 20, backedBytes: 3 * 2 ** 30 + 16 * 2 ** 20 });
    expect(resolveConfig({ guest }).layout.ramBytes).toBe(32 * 2 ** 20);
  });

  it('refuses sizes that cannot work with a message that says what can', () => {
    const msg = (memoryMiB: unknown, xen = false) => {
      try { resolveConfig({ guest, memoryMiB: memoryMiB as number, xen }); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; }
      return 'accepted';
    };
    expect(msg(0)).toBe(`memory must be 1 to ${MAX_MEMORY_MIB} MiB (got 0)`);
    expect(msg(4096)).toBe('memory must be 1 to 3072 MiB (got 4096)');
    expect(msg(1.5)).toBe('memory must be a whole number of MiB (got 1.5)');
    expect(msg(NaN)).toBe('memory must be a whole number of MiB (got NaN)');
    expect(msg('64')).toBe('memory must be a whole number of MiB (got 64)');
    expect(msg(2047, true)).toBe('Xen mode needs memory in multiples of 16 MiB (got 2047)');
    expect(msg(2048, true)).toBe('accepted');
  });

  it.each([1, 2, 2047, 2048, 3072])('the hello guest runs with %i MiB', (mem) => {
    const r = pvlab(['run', 'public/guests/hello.bin', '--mem', String(mem)], 'ok\n');
    expect(r.err).toBe('');
    expect(r.out).toContain('Hello from pvlab');
    expect(r.out).toContain('Goodbye.');
    expect(r.code).toBe(0);
  });

  it.each([
    ['4096', 'pvlab: memory must be 1 to 3072 MiB (got 4096)'],
    ['1.5', 'pvlab: memory must be a whole number of MiB (got 1.5)'],
  ])('pvlab run --mem %s is one line, no stack trace', (mem, line) => {
    const r = pvlab(['run', 'public/guests/hello.bin', '--mem', mem]);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toEqual([line]);
  });
});

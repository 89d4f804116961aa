import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { VectorRunner, runFile, readMeta, loadRevoked, collectFiles, EXCLUSIONS } from '../../tools/vectors/run-vectors';

const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../vectors/80286-real');
const wasm = path.resolve(dir, '../../../engine-wasm/build/core.wasm');

describe('SingleStepTests 80286 real-mode vectors (hardware-captured)', () => {
  it('every non-revoked, non-excluded vector passes', async () => {
    const runner = await VectorRunner.create(new Uint8Array(fs.readFileSync(wasm)));
    const meta = readMeta(dir), revoked = loadRevoked(dir);
    let passed = 0, excluded = 0;
    const failures: string[] = [];
    for (const f of collectFiles([dir])) {
      const r = runFile(runner, f, meta, revoked);
      passed += r.passed; excluded += r.excluded;
      failures.push(...r.failures.map((x) => `${r.file} ${x}`));
    }
    expect(failures).toEqual([]);
    // The suite must really run: 48 files of ~5000 tests; exclusions stay a small minority.
    expect(passed).toBeGreaterThan(200_000);
    expect(excluded).toBeLessThan(passed / 20);
    expect(EXCLUSIONS.every((e) => e.reason.length > 20)).toBe(true);
  }, 300_000);
});

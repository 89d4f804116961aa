// tools/bench/linux-report.ts: benchmarks rewrite their own section of BENCHMARKS.md and
// leave the rest (the prose, the other benchmarks' results) as it was.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LINUX_SECTION, updateBenchmarksFile, type BenchmarksSection } from '../../tools/bench/linux-report';

const SNAPSHOT: BenchmarksSection = { name: 'snapshot-bench', command: 'npm run bench:snapshot', title: '## Snapshots' };

describe('BENCHMARKS.md sections', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-benchmarks-'));
  const file = path.join(dir, 'BENCHMARKS.md');
  afterEach(() => fs.rmSync(file, { force: true }));

  it('adds a missing section at the end, then replaces only its own results', () => {
    fs.writeFileSync(file, '# Benchmarks\n\nProse.\n');
    updateBenchmarksFile(file, 'linux 1', LINUX_SECTION);
    updateBenchmarksFile(file, 'snap 1', SNAPSHOT);
    updateBenchmarksFile(file, 'linux 2', LINUX_SECTION);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('Prose.');
    expect(text).toContain('linux 2');
    expect(text).not.toContain('linux 1');
    expect(text).toContain('snap 1');
    expect(text.indexOf('## Linux boot')).toBeLessThan(text.indexOf('## Snapshots'));
    expect(text).toContain('<!-- snapshot-bench:begin (written by `npm run bench:snapshot`; edit outside the markers) -->\nsnap 1\n<!-- snapshot-bench:end -->');
    // Written twice, the section is still there once.
    expect(text.split('<!-- linux-bench:begin').length).toBe(2);
  });

  it('refuses a file with only one of a section\'s markers', () => {
    fs.writeFileSync(file, '# Benchmarks\n<!-- snapshot-bench:end -->\n');
    expect(() => updateBenchmarksFile(file, 'x', SNAPSHOT)).toThrow(/only one of the snapshot-bench markers/);
  });
});

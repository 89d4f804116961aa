// The committed CPU test kernels (public/guests/cpu-tests/*.bin) are what users without
// nasm run: check that each one is a loadable Multiboot image and, where nasm is
// installed, that it still matches its source.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const srcDir = path.join(root, 'guests/cpu-tests');
const binDir = path.join(root, 'public/guests/cpu-tests');
const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.asm')).map((f) => f.slice(0, -4)).sort();
const hasNasm = spawnSync('nasm', ['-v']).status === 0;

const MB_MAGIC = 0x1badb002;
/** Where each kernel loads: 1 MiB, except fwcfg, which checks that a kernel may load below it. */
const LOAD_ADDR: Record<string, number> = { fwcfg: 0x10000 };

describe('cpu-tests binaries', () => {
  it('has one committed binary per kernel source, and no stray binaries', () => {
    const bins = fs.readdirSync(binDir).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort();
    expect(sources).toEqual(['debug', 'fwcfg', 'gates', 'irq', 'misc', 'nx', 'paging', 'stack', 'tasks', 'v86', 'x87']);
    expect(bins).toEqual(sources);
  });

  for (const name of sources) {
    it(`${name}.bin has a Multiboot header with the a.out kludge that covers the file`, () => {
      const buf = fs.readFileSync(path.join(binDir, `${name}.bin`));
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let at = -1;
      for (let o = 0; o + 32 <= Math.min(buf.length, 8192); o += 4) {
        if (dv.getUint32(o, true) === MB_MAGIC) { at = o; break; }
      }
      expect(at, 'magic in the first 8 KiB').toBeGreaterThanOrEqual(0);
      const [magic, flags, checksum, headerAddr, loadAddr, loadEnd, bssEnd, entry] =
        Array.from({ length: 8 }, (_, i) => dv.getUint32(at + i * 4, true));
      expect((magic + flags + checksum) >>> 0).toBe(0);
      expect(flags & 0x10000).toBe(0x10000);
      expect(loadAddr).toBe(LOAD_ADDR[name] ?? 0x100000);
      expect(headerAddr - loadAddr).toBe(at);
      expect(loadEnd - loadAddr).toBeLessThanOrEqual(buf.length);
      expect(loadEnd - loadAddr).toBeGreaterThan(buf.length - 16); // only alignment padding left out
      expect(bssEnd).toBeGreaterThanOrEqual(loadEnd);
      expect(bssEnd).toBeLessThan(0x280000); // below the kernels' fixed stacks
      expect(entry).toBeGreaterThanOrEqual(loadAddr);
      expect(entry).toBeLessThan(loadEnd);
    });
  }

  // Without nasm there is nothing to rebuild from; the header checks above still run.
  it.skipIf(!hasNasm)('reassembling the sources gives the committed binaries byte for byte', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-cpu-tests-'));
    try {
      for (const name of sources) {
        const bin = path.join(out, `${name}.bin`);
        const r = spawnSync('nasm', ['-f', 'bin', '-I', srcDir + path.sep, '-o', bin, path.join(srcDir, `${name}.asm`)], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        expect(fs.readFileSync(bin).equals(fs.readFileSync(path.join(binDir, `${name}.bin`))), `${name}.bin is stale: run guests/cpu-tests/build.sh`).toBe(true);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

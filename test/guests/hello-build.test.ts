import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

describe('committed guest binaries', () => {
  for (const [src, bin] of [['guests/hello/hello.asm', 'public/guests/hello.bin'], ['guests/test-rom/test-rom.asm', 'public/guests/test-rom.bin']]) {
    it(`${bin} is exactly what nasm builds from ${src}`, () => {
      let nasm: string;
      try { nasm = execFileSync('sh', ['-c', 'command -v nasm'], { encoding: 'utf8' }).trim(); } catch { nasm = ''; }
      expect(nasm, 'nasm is required to check the committed guest binaries (Debian package: nasm)').not.toBe('');
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-')), 'out.bin');
      execFileSync(nasm, ['-f', 'bin', '-o', out, path.join(root, src)]);
      expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(path.join(root, bin)))).toBe(0);
    });
  }
});

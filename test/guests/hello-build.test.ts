import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

describe('guests/hello', () => {
  it('public/guests/hello.bin is exactly what nasm builds from guests/hello/hello.asm', () => {
    let nasm: string;
    try { nasm = execFileSync('sh', ['-c', 'command -v nasm'], { encoding: 'utf8' }).trim(); } catch { nasm = ''; }
    expect(nasm, 'nasm is required to check the committed guest binary (Debian package: nasm)').not.toBe('');
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-')), 'hello.bin');
    execFileSync(nasm, ['-f', 'bin', '-o', out, path.join(root, 'guests/hello/hello.asm')]);
    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(path.join(root, 'public/guests/hello.bin')))).toBe(0);
  });
});

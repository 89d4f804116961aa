import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
function pvlab(args: string[], input = '') {
  const r = spawnSync(process.execPath, [path.join(root, 'tools/pvlab.mjs'), ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('pvlab run', () => {
  it('runs the hello guest: greeting, echo of stdin, and exit 0 when the guest halts at EOF', () => {
    const r = pvlab(['run', 'public/guests/hello.bin'], 'abc\n');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Hello from pvlab');
    expect(r.out).toContain('abc\r\n');
    expect(r.out).toContain('Goodbye.');
    expect(r.err).toBe('');
  });

  it('gives a one-line error naming the file for a missing image', () => {
    const r = pvlab(['run', 'no/such/image.bin']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toEqual(['pvlab: no/such/image.bin: no such file']);
  });

  it('rejects an empty or oversized image without a stack trace', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-'));
    fs.writeFileSync(path.join(dir, 'empty.bin'), '');
    fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(700_000));
    const e = pvlab(['run', path.join(dir, 'empty.bin')]);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/^pvlab: .*empty\.bin: image is empty\n$/);
    const b = pvlab(['run', path.join(dir, 'big.bin')]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/^pvlab: .*big\.bin: image of 700000 bytes does not fit below 640 KiB/);
    expect(b.err).not.toMatch(/\bat .*\.(ts|js|mjs):\d+/);
  });

  it('reports a guest that triple-faults', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-'));
    // lidt [zero-limit]; int 0x10 → #GP → #DF → triple fault
    const code = [0x0f, 0x01, 0x1e, 0x0a, 0x7c, 0xcd, 0x10, 0xf4, 0, 0, 0, 0, 0, 0, 0, 0];
    fs.writeFileSync(path.join(dir, 'tf.bin'), Buffer.from(code));
    const r = pvlab(['run', path.join(dir, 'tf.bin')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('triple-faulted');
  });
});

describe('pvlab run --bios', () => {
  it('starts a firmware image at the reset vector; debug ports show its POST codes and output; 0xF4 sets the exit status', () => {
    const r = pvlab(['run', '--bios', 'public/guests/test-rom.bin', '--debug-ports']);
    expect(r.err).toContain('POST 0x80: 0x01');
    expect(r.err).toContain('POST 0x190: 0x03');
    expect(r.err).toContain('pvlab test ROM: started at the reset vector');
    expect(r.err).toContain('pvlab test ROM: OK');
    expect(r.code).toBe(1); // wrote 0 to port 0xF4 → (0 << 1) | 1
  });
  it('rejects an image that is not 64, 128 or 256 KiB', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-'));
    fs.writeFileSync(path.join(dir, 'odd.rom'), Buffer.alloc(40_000));
    const r = pvlab(['run', '--bios', path.join(dir, 'odd.rom')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^pvlab: .*odd\.rom: a BIOS image must be 64, 128 or 256 KiB \(this one is 40000 bytes\)\n$/);
  });
});

describe('pvlab boot with disks', () => {
  it('refuses a disk that is not a VHD with one line naming it, and leaves the other disks untouched', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-'));
    const good = path.join(dir, 'good.vhd'), junk = path.join(dir, 'junk.vhd'), cut = path.join(dir, 'cut.vhd');
    expect(pvlab(['disk', 'create', good, '8M']).code).toBe(0);
    const goodBytes = fs.readFileSync(good);
    fs.writeFileSync(junk, Buffer.alloc(64 * 1024, 0x5a));
    fs.writeFileSync(cut, goodBytes.subarray(0, 1536)); // a dynamic VHD cut short: no footer at the end, BAT gone
    const kernel = 'public/guests/cpu-tests/misc.bin';
    for (const [flag, bad] of [['--pv-disk', junk], ['--disk', junk], ['--pv-disk', cut]] as const) {
      const r = pvlab(['boot', '--kernel', kernel, '--disk', good, flag, bad, '--timeout', '30']);
      expect([flag, r.code]).toEqual([flag, 1]);
      expect(r.err).toMatch(new RegExp(`^pvlab: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+\n$`));
      expect(r.err).not.toMatch(/\bat .*\.(ts|js|mjs):\d+/);
    }
    expect(fs.readFileSync(good).equals(goodBytes)).toBe(true);
  });
});

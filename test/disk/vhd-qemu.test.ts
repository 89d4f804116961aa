// Differential tests against a second implementation: QEMU's vpc driver (qemu-img and
// qemu-io from Debian's qemu-utils; CI installs it). Images pvlab writes must read the same
// in qemu, images qemu writes must read the same in pvlab, and each may write into the other's.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../engine-ts/disk/file-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { NOW, Prng, fixedUuid, haveTool, readAll, sha256, tempDir } from './helpers';

const tmp = tempDir('qemu');
afterAll(() => tmp.cleanup());
const at = (name: string) => path.join(tmp.dir, name);

function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}
function qemuVirtualSize(file: string): number {
  return JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', file))['virtual-size'];
}
function qemuRaw(file: string): Uint8Array {
  qemuImg('convert', '-f', 'vpc', '-O', 'raw', file, at('qemu-out.raw'));
  return new Uint8Array(readFileSync(at('qemu-out.raw')));
}
/** qemu-img compare: 0 identical, 1 different (anything else is an error). */
function qemuCompare(vhd: string, raw: string): number {
  const r = spawnSync('qemu-img', ['compare', '-f', 'vpc', vhd, '-F', 'raw', raw], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`qemu-img compare failed: ${r.stderr}`);
  return r.status;
}

/** Random sector writes at odd places, always including the first and last sector. */
async function scribble(disk: VhdDisk, model: Uint8Array, seed: number, count = 30): Promise<void> {
  const rng = new Prng(seed);
  const sectors = disk.size / 512;
  const plan: [number, number][] = [[0, 1], [sectors - 1, 1], [4095, 3]]; // 4095..4097 straddles a 2 MiB block edge
  for (let i = 0; i < count; i++) {
    const n = 1 + rng.int(600);
    plan.push([rng.int(sectors - n), n]);
  }
  for (const [s, n] of plan) {
    if (s + n > sectors) continue;
    const data = rng.bytes(n * 512);
    await disk.write(s, data);
    model.set(data, s * 512);
  }
}

it('has qemu-img and qemu-io (Debian package qemu-utils)', () => {
  expect(haveTool('qemu-img')).toBe(true);
  expect(haveTool('qemu-io')).toBe(true);
});

describe('pvlab writes, qemu reads', () => {
  const cases = [
    { type: 'fixed', exactSize: false }, { type: 'dynamic', exactSize: false },
    { type: 'fixed', exactSize: true }, { type: 'dynamic', exactSize: true },
  ] as const;
  for (const [n, c] of cases.entries()) {
    it(`${c.type}${c.exactSize ? ' (exact size)' : ''}: qemu-img compare and convert agree`, async () => {
      const vhd = at(`pv-${n}.vhd`);
      const raw = at(`pv-${n}.raw`);
      const disk = await VhdDisk.create(await FileStore.open(vhd, 'create'), {
        type: c.type, size: 7 * 1024 * 1024 + 1234, exactSize: c.exactSize, now: NOW, uniqueId: fixedUuid(n),
      });
      const model = new Uint8Array(disk.size);
      await scribble(disk, model, 100 + n);
      await disk.close();
      writeFileSync(raw, model);
      expect(qemuVirtualSize(vhd)).toBe(model.length);
      expect(qemuCompare(vhd, raw)).toBe(0);
      expect(sha256(qemuRaw(vhd))).toBe(sha256(model));
      // The comparison can fail: one flipped byte is noticed.
      model[model.length - 3] ^= 0x40;
      writeFileSync(raw, model);
      expect(qemuCompare(vhd, raw)).toBe(1);
    });
  }
});

describe('qemu writes, pvlab reads', () => {
  const cases = ['subformat=fixed', 'subformat=dynamic', 'subformat=fixed,force_size=on', 'subformat=dynamic,force_size=on'];
  for (const [n, opts] of cases.entries()) {
    it(`qemu-img create -o ${opts} + qemu-io writes read identically`, async () => {
      const vhd = at(`q-${n}.vhd`);
      qemuImg('create', '-f', 'vpc', '-o', opts, vhd, '9999999');
      const size = qemuVirtualSize(vhd);
      const model = new Uint8Array(size);
      const rng = new Prng(200 + n);
      const cmds: string[] = [];
      for (let i = 0; i < 25; i++) {
        const len = 1 + rng.int(300_000);
        const off = rng.int(size - len); // byte offsets: qemu does the read-modify-write
        const pattern = 1 + rng.int(255);
        cmds.push('-c', `write -P ${pattern} ${off} ${len}`);
        model.fill(pattern, off, off + len);
      }
      execFileSync('qemu-io', ['-f', 'vpc', ...cmds, vhd], { encoding: 'utf8' });
      const disk = await VhdDisk.open(await FileStore.open(vhd, 'read'));
      expect(disk.size).toBe(size);
      const ours = await readAll(disk);
      await disk.close();
      expect(sha256(ours)).toBe(sha256(model));
      expect(sha256(ours)).toBe(sha256(qemuRaw(vhd)));
    });
  }
});

describe('mixed writers on one image', () => {
  it('pvlab writes into a qemu-made dynamic image, then qemu reads it back', async () => {
    const vhd = at('mixed-1.vhd');
    qemuImg('create', '-f', 'vpc', '-o', 'subformat=dynamic', vhd, '12M');
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x5a 3000000 100000', vhd]);
    const disk = await VhdDisk.open(await FileStore.open(vhd, 'read-write'));
    const model = await readAll(disk);
    await scribble(disk, model, 300);
    await disk.close();
    expect(sha256(qemuRaw(vhd))).toBe(sha256(model));
  });

  it('qemu-io writes into a pvlab-made dynamic image (exact bitmaps), then pvlab reads it back', async () => {
    const vhd = at('mixed-2.vhd');
    const disk = await VhdDisk.create(await FileStore.open(vhd, 'create'), { type: 'dynamic', size: 12 * 1024 * 1024, now: NOW, uniqueId: fixedUuid(9) });
    const model = new Uint8Array(disk.size);
    await scribble(disk, model, 400, 10);
    await disk.close();
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x77 5000000 3000000', '-c', 'write -P 0x78 100 1000', vhd]);
    model.fill(0x77, 5000000, 8000000);
    model.fill(0x78, 100, 1100);
    const again = await VhdDisk.open(await FileStore.open(vhd, 'read'));
    expect(again.warnings).toEqual([]);
    expect(sha256(await readAll(again))).toBe(sha256(model));
    await again.close();
  });
});

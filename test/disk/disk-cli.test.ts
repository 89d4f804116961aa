// `pvlab disk ...` end to end on real files, checked with qemu-img and libvhdi's vhdiinfo.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../engine-ts/disk/file-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { diskCommand, humanSize, parseSize } from '../../tools/cli/disk';
import { fileParentResolver } from '../../engine-ts/disk/vhd-files';
import { FIXTURES, Prng, fixtureBytes, haveTool, readAll, sha256, tempDir } from './helpers';

const tmp = tempDir('cli');
afterAll(() => tmp.cleanup());
const at = (...p: string[]) => path.join(tmp.dir, ...p);

async function pvlab(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await diskCommand(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}
function field(text: string, name: string): string {
  const m = new RegExp(`^\\s*${name}\\s*:\\s*(.*)$`, 'm').exec(text);
  if (!m) throw new Error(`no "${name}" in:\n${text}`);
  return m[1].trim();
}
function qemuInfo(file: string): { 'virtual-size': number } {
  return JSON.parse(execFileSync('qemu-img', ['info', '-f', 'vpc', '--output=json', file], { encoding: 'utf8' }));
}
function qemuRaw(file: string): Uint8Array {
  execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', file, at('q.raw')]);
  return new Uint8Array(readFileSync(at('q.raw')));
}
async function writeRandom(file: string, seed: number, model?: Uint8Array, count = 12): Promise<Uint8Array> {
  const disk = await VhdDisk.open(await FileStore.open(file, 'read-write'), { openParent: fileParentResolver(file) });
  const m = model ?? (await readAll(disk));
  const rng = new Prng(seed);
  for (let i = 0; i < count; i++) {
    const n = 1 + rng.int(900);
    const s = rng.int(disk.size / 512 - n);
    const d = rng.bytes(n * 512);
    await disk.write(s, d);
    m.set(d, s * 512);
  }
  await disk.close();
  return m;
}

describe('pvlab disk create / info', () => {
  it('creates dynamic and fixed images that qemu-img sizes the same, and info reports them', async () => {
    for (const [sub, size] of [['dynamic', '64M'], ['fixed', '1500000']] as const) {
      const f = at(`c-${sub}.vhd`);
      const r = await pvlab('create', '--subformat', sub, f, size);
      expect(r).toMatchObject({ code: 0, err: '' });
      // qemu-img rounds the same request to the same CHS size.
      const q = at(`q-${sub}.vhd`);
      execFileSync('qemu-img', ['create', '-f', 'vpc', '-o', `subformat=${sub}`, q, size]);
      const want = qemuInfo(q)['virtual-size'];
      expect(qemuInfo(f)['virtual-size']).toBe(want);
      expect(statSync(f).size).toBe(statSync(q).size);
      const info = await pvlab('info', f);
      expect(info.code).toBe(0);
      expect(field(info.out, 'type')).toBe(sub);
      expect(field(info.out, 'virtual size')).toContain(`(${want} bytes)`);
      expect(field(info.out, 'stored size')).toContain(`(${statSync(f).size} bytes`);
      expect(field(info.out, 'creator')).toBe('pvlb 1.0 (Wi2k)');
      expect(field(info.out, 'unique id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    // Dynamic 64M: header, BAT and footers only.
    expect(statSync(at('c-dynamic.vhd')).size).toBe(512 + 1024 + 512 + 512);
  });

  it('info reads the qemu fixtures: geometry, creator, size rule (README values)', async () => {
    for (const fx of FIXTURES) {
      const f = at(fx.name);
      writeFileSync(f, fixtureBytes(fx.name));
      const r = await pvlab('info', f);
      expect(r.code).toBe(0);
      expect(field(r.out, 'geometry \\(C/H/S\\)')).toBe(fx.chs.join('/'));
      expect(field(r.out, 'virtual size')).toContain(`(${fx.virtualSize} bytes)`);
      expect(field(r.out, 'creator')).toMatch(fx.chs[0] === 65535 ? /^qem2 5\.3/ : /^qemu 5\.3/);
      const json = JSON.parse((await pvlab('info', '--json', f)).out);
      expect(json.virtualSize).toBe(fx.virtualSize);
      expect(json.type).toBe(fx.type);
    }
    expect(field((await pvlab('info', at('dynamic-8m.vhd'))).out, 'blocks allocated')).toBe('2 of 5');
  });

  it('--exact-size keeps the size with the CHS marker', async () => {
    const f = at('exact.vhd');
    expect((await pvlab('create', '--exact-size', f, '10000000')).code).toBe(0);
    expect(qemuInfo(f)['virtual-size']).toBe(10000384);
    expect(field((await pvlab('info', f)).out, 'geometry \\(C/H/S\\)')).toBe('65535/16/255');
  });
});

describe('differencing images: create --parent, write, commit', () => {
  it('links child to parent (vhdiinfo agrees), reads through, and commits the merge', async () => {
    expect(haveTool('vhdiinfo')).toBe(true); // Debian package libvhdi-utils
    mkdirSync(at('family', 'kids'), { recursive: true });
    const parent = at('family', 'base.vhd');
    const child = at('family', 'kids', 'child.vhd');
    expect((await pvlab('create', parent, '6M')).code).toBe(0);
    const parentModel = await writeRandom(parent, 1);
    const created = await pvlab('create', '--parent', parent, child);
    expect(created).toMatchObject({ code: 0, err: '' });

    // libvhdi (an independent reader) sees the link we wrote.
    const vi = execFileSync('vhdiinfo', [child], { encoding: 'utf8' });
    const parentId = field((await pvlab('info', parent)).out, 'unique id');
    const childInfo = (await pvlab('info', child)).out;
    expect(field(vi, 'Disk type')).toBe('Differential');
    expect(field(vi, 'Identifier')).toBe(field(childInfo, 'unique id'));
    expect(field(vi, 'Parent identifier')).toBe(parentId);
    expect(field(vi, 'Parent filename')).toBe('base.vhd');
    expect(field(vi, 'Media size')).toContain(`(${parentModel.length} bytes)`);
    expect(field(childInfo, 'parent file')).toBe(parent);
    expect(field(childInfo, 'parent locator W2ru')).toBe('../base.vhd');

    // Write into the child only; the merged view differs from the parent.
    const childModel = new Uint8Array(parentModel.length);
    const merged = await writeRandom(child, 2, parentModel.slice());
    await writeRandom(child, 2, childModel); // same writes onto zeros: what the child alone holds
    expect(sha256(merged)).not.toBe(sha256(parentModel));
    expect(sha256(qemuRaw(parent))).toBe(sha256(parentModel));
    // qemu opens a differencing file as dynamic and ignores the parent: it sees only the child's sectors.
    expect(sha256(qemuRaw(child))).toBe(sha256(childModel));
    expect((await pvlab('check', child)).out).toContain('No errors were found');

    // Commit: the parent now holds the merged contents (qemu reads it independently).
    const c = await pvlab('commit', child);
    expect(c).toMatchObject({ code: 0, err: '' });
    expect(sha256(qemuRaw(parent))).toBe(sha256(merged));
  });

  it('finds a moved family by the relative locator, and refuses a wrong parent', async () => {
    mkdirSync(at('moved'), { recursive: true });
    const parent = at('moved', 'p.vhd');
    const child = at('moved', 'c.vhd');
    await pvlab('create', parent, '4M');
    await pvlab('create', '--parent', parent, child);
    // Another image under the parent's name: same path, different unique id.
    await pvlab('create', parent, '4M');
    const r = await pvlab('check', child);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error: parent with unique id [0-9a-f-]+ not found \(tried: .*p\.vhd \(unique id/);
    const info = await pvlab('info', child);
    expect(info.code).toBe(0);
    expect(field(info.out, 'parent file')).toMatch(/^not found/);
  });
});

describe('pvlab disk convert / compact / check', () => {
  it('raw -> vhd (fixed, dynamic) -> raw round-trips; qemu-img compare agrees', async () => {
    const raw = at('src.img');
    const rng = new Prng(5);
    const data = new Uint8Array(5 * 1024 * 1024);
    // Data in the first MiB and the last sector only: two of three 2 MiB blocks.
    for (let i = 0; i < 30; i++) data.set(rng.bytes(1 + rng.int(50000)), rng.int(1024 * 1024 - 50000));
    data.set(rng.bytes(512), data.length - 512);
    writeFileSync(raw, data);
    for (const sub of ['fixed', 'dynamic']) {
      const vhd = at(`conv-${sub}.vhd`);
      expect((await pvlab('convert', '--subformat', sub, '--exact-size', raw, vhd)).code).toBe(0);
      expect(spawnSync('qemu-img', ['compare', '-f', 'vpc', vhd, '-F', 'raw', raw]).status).toBe(0);
      const back = at(`back-${sub}.raw`);
      expect((await pvlab('convert', vhd, back)).code).toBe(0);
      expect(sha256(readFileSync(back))).toBe(sha256(data));
    }
    // A dynamic conversion allocates only the blocks with data.
    expect(statSync(at('conv-dynamic.vhd')).size).toBe(512 + 1024 + 512 + 2 * (512 + 2 * 1024 * 1024) + 512);
    // vhd -> vhd (dynamic -> fixed) keeps the exact size and contents.
    expect((await pvlab('convert', '--subformat', 'fixed', at('conv-dynamic.vhd'), at('conv-fixed2.vhd'))).code).toBe(0);
    expect(spawnSync('qemu-img', ['compare', '-f', 'vpc', at('conv-fixed2.vhd'), '-F', 'raw', raw]).status).toBe(0);
  });

  it('compact drops blocks qemu-io filled with zeros and keeps contents', async () => {
    const f = at('compact.vhd');
    execFileSync('qemu-img', ['create', '-f', 'vpc', '-o', 'subformat=dynamic', f, '16M']);
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0 0 3M', '-c', 'write -P 0x31 7M 5000', '-c', 'write -P 0 12M 100', f]);
    const before = qemuRaw(f);
    const sizeBefore = statSync(f).size;
    const r = await pvlab('compact', f);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/3 block\(s\) dropped/); // blocks 0, 1 and 6 held only zeros
    expect(statSync(f).size).toBe(sizeBefore - 3 * (512 + 2 * 1024 * 1024));
    expect(sha256(qemuRaw(f))).toBe(sha256(before));
    expect((await pvlab('check', f)).code).toBe(0);
  });

  it('check reports a damaged image with exit 1 and a good one with exit 0', async () => {
    const good = at('good.vhd');
    writeFileSync(good, fixtureBytes('dynamic-8m.vhd'));
    expect(await pvlab('check', good)).toMatchObject({ code: 0, out: 'No errors were found on the image.\n' });
    const bad = at('bad.vhd');
    const b = fixtureBytes('dynamic-8m.vhd');
    b[512 + 40] ^= 0xff; // inside the dynamic header
    writeFileSync(bad, b);
    const r = await pvlab('check', bad);
    expect(r.code).toBe(1);
    expect(r.out).toContain('error: dynamic header checksum mismatch');
  });
});

describe('pvlab disk errors', () => {
  it('prints one line "pvlab disk: FILE: problem" with no stack trace', async () => {
    const missing = at('nope.vhd');
    const r = await pvlab('info', missing);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`pvlab disk: ${missing}: no such file or directory\n`);
    const bad = at('junk.vhd');
    writeFileSync(bad, new Uint8Array(4096).fill(7));
    const j = await pvlab('info', bad);
    expect(j.code).toBe(1);
    expect(j.err).toBe(`pvlab disk: ${bad}: not a VHD: no "conectix" footer in the last 512 bytes or at offset 0\n`);
    for (const e of [r.err, j.err]) expect(e.split('\n').length).toBe(2);
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await pvlab()).code).toBe(2);
    expect((await pvlab('frobnicate')).code).toBe(2);
    expect((await pvlab('create', at('x.vhd'))).err).toMatch(/size is required/);
    expect((await pvlab('create', at('x.vhd'), '12Q')).code).toBe(2);
    expect((await pvlab('create', '--subformat', 'sparse', at('x.vhd'), '1M')).code).toBe(2);
    expect((await pvlab('convert', at('a.qcow2'), at('b.vhd'))).err).toMatch(/cannot tell the format/);
    expect((await pvlab('info', '--bogus', at('x.vhd'))).code).toBe(2);
    expect((await pvlab('--help')).code).toBe(0);
  });

  it('parses and prints sizes like qemu-img', () => {
    expect(parseSize('64M')).toBe(64 * 1024 * 1024);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('100')).toBe(100);
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(humanSize(8390656)).toBe('8 MiB');
    expect(humanSize(10027008)).toBe('9.56 MiB');
    expect(humanSize(511)).toBe('511 B');
  });
});

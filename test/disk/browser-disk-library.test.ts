// The browser disk library (engine-ts/api/disks.ts) on in-memory backends that behave like
// its IndexedDB stores: import validation, byte-exact export, raw conversion (checked by
// qemu-img), the two-writer guard, replacing, differencing chains and crash leftovers.
// The same library on real IndexedDB in Chromium: e2e/disks.spec.ts.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DiskLibrary, DiskLibraryError, LocalLocks, type DiskImageBackend, type DiskLibraryHost, type DiskRecordBackend,
} from '../../engine-ts/disk/library';
import type { ChunkBackend, ChunkBatch } from '../../engine-ts/disk/chunked-store';
import { MemoryStore } from '../../engine-ts/disk/block-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { FIXTURES, Prng, expectedContents, fixtureBytes, readAll, sha256, tempDir } from './helpers';

/** One IndexedDB object store in memory: values are structured-cloned in and out. */
class MemoryImages implements DiskImageBackend {
  data = new Map<string, { meta?: unknown; chunks: Map<number, Uint8Array> }>();
  failCommits = false;
  chunks(key: string): ChunkBackend {
    const space = () => {
      let s = this.data.get(key);
      if (!s) this.data.set(key, (s = { chunks: new Map() }));
      return s;
    };
    return {
      getMeta: async () => structuredClone(this.data.get(key)?.meta),
      getChunks: async (idx) => idx.map((i) => this.data.get(key)?.chunks.get(i)?.slice()),
      commit: async (b: ChunkBatch) => {
        if (this.failCommits) throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
        const s = space();
        for (const [from, to] of b.deleteRanges) for (const k of [...s.chunks.keys()]) if (k >= from && k < to) s.chunks.delete(k);
        for (const [i, v] of b.put) s.chunks.set(i, v.slice());
        s.meta = structuredClone(b.meta);
      },
    };
  }
  async delete(key: string) {
    this.data.delete(key);
  }
  async count(key: string) {
    return this.data.get(key)?.chunks.size ?? 0;
  }
  async keys() {
    return [...this.data.keys()].sort();
  }
}

class MemoryRecords implements DiskRecordBackend {
  map = new Map<string, unknown>();
  async get(id: string) {
    return structuredClone(this.map.get(id));
  }
  async put(id: string, r: unknown) {
    this.map.set(id, structuredClone(r));
  }
  async update(id: string, fn: (old: unknown) => unknown) {
    this.map.set(id, structuredClone(fn(structuredClone(this.map.get(id)))));
  }
  async delete(id: string) {
    this.map.delete(id);
  }
  async all() {
    return [...this.map.values()].map((v) => structuredClone(v));
  }
}

let records: MemoryRecords;
let images: MemoryImages;
let locks: LocalLocks;
let clock: number;
let storage: { usage: number; quota: number; persistCalls: number };
let lib: DiskLibrary;

function makeHost(): DiskLibraryHost {
  const rng = new Prng(7);
  return {
    records, images, locks,
    now: () => clock,
    randomBytes: (n) => rng.bytes(n),
    storage: {
      estimate: async () => ({ usage: storage.usage, quota: storage.quota }),
      persist: async () => (storage.persistCalls++, true),
      persisted: async () => storage.persistCalls > 0,
    },
  };
}

beforeEach(() => {
  records = new MemoryRecords();
  images = new MemoryImages();
  locks = new LocalLocks();
  clock = Date.UTC(2026, 10, 24, 12, 0, 0);
  storage = { usage: 0, quota: 10 * 2 ** 30, persistCalls: 0 };
  lib = new DiskLibrary(makeHost());
});

const tmp = tempDir('library');
afterAll(() => tmp.cleanup());

const file = (bytes: Uint8Array, name: string) => new File([bytes as Uint8Array<ArrayBuffer>], name);
const fixture = (name: string) => file(fixtureBytes(name), name);
async function blobBytes(b: Blob): Promise<Uint8Array> {
  return new Uint8Array(await b.arrayBuffer());
}
async function expectLibError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(DiskLibraryError);
  expect((e as DiskLibraryError).code).toBe(code);
  expect((e as Error).message).toMatch(message);
}
function nothingStored(): void {
  expect(records.map.size).toBe(0);
  expect(images.data.size).toBe(0);
}

describe('import and export', () => {
  it('imports a qemu-made dynamic VHD, lists it with its sizes and exports it byte for byte', async () => {
    const info = FIXTURES.find((f) => f.name === 'dynamic-8m.vhd')!;
    const seen: number[] = [];
    const { disk, persisted, warnings } = await lib.import(fixture(info.name), { onProgress: (d, t) => { expect(t).toBe(info.fileSize); seen.push(d); } });
    expect(persisted).toBe(true);
    expect(warnings).toEqual([]);
    expect(seen.at(-1)).toBe(info.fileSize);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(disk).toMatchObject({ name: 'dynamic-8m', type: 'dynamic', virtualSize: info.virtualSize, fileSize: info.fileSize, inUse: false });
    // Only chunks with data are stored: far less than the 4 MiB file.
    expect(disk.storedBytes).toBeGreaterThan(0);
    expect(disk.storedBytes).toBeLessThan(info.fileSize / 4);
    expect((await lib.list()).map((d) => d.id)).toEqual([disk.id]);

    const exported = await blobBytes(await lib.export(disk.id));
    expect(sha256(exported)).toBe(sha256(fixtureBytes(info.name)));
    const opened = await lib.open(disk.id, { readOnly: true });
    expect(sha256(await readAll(opened))).toBe(info.sha256);
    await opened.close();
  });

  it('imports every fixture with the contents its README describes', async () => {
    for (const info of FIXTURES) {
      const { disk } = await lib.import(fixture(info.name));
      expect(disk.type).toBe(info.type);
      const d = await lib.open(disk.id, { readOnly: true });
      expect(Buffer.compare(await readAll(d), expectedContents(info))).toBe(0);
      await d.close();
    }
    expect(await lib.list()).toHaveLength(FIXTURES.length);
  });

  it('rejects a malformed .vhd with a clear error and stores nothing', async () => {
    const bytes = fixtureBytes('dynamic-8m.vhd');
    bytes[bytes.length - 512 + 64] ^= 0xff; // break the trailing footer's checksum field
    bytes[64] ^= 0xff; // and the copy at offset 0
    await expectLibError(lib.import(file(bytes, 'broken.vhd')), 'invalid', /broken\.vhd is not a valid VHD image: .*Nothing was stored/);
    await expectLibError(lib.import(file(new Prng(3).bytes(100_000), 'noise.vhd')), 'invalid', /not a VHD: no "conectix" footer/);
    await expectLibError(lib.import(file(new Uint8Array(0), 'empty.vhd')), 'invalid', /empty/);
    const vhdx = new Uint8Array(4096);
    vhdx.set(new TextEncoder().encode('vhdxfile'));
    await expectLibError(lib.import(file(vhdx, 'new.vhdx')), 'invalid', /VHDX/);
    nothingStored();
    expect(storage.persistCalls).toBe(0);
  });

  it('refuses an import larger than the free quota before storing anything', async () => {
    storage.usage = storage.quota - 1000;
    await expectLibError(lib.import(fixture('dynamic-8m.vhd')), 'quota', /not enough browser storage/);
    nothingStored();
  });

  it('reports a quota failure while writing and leaves nothing behind', async () => {
    images.failCommits = true;
    await expectLibError(lib.import(fixture('fixed-4m.vhd')), 'quota', /quota exceeded/);
    images.failCommits = false;
    nothingStored();
  });

  it('cancels an import from its progress and keeps nothing', async () => {
    const ac = new AbortController();
    const big = new Uint8Array(10 * 1024 * 1024);
    big.fill(1);
    await expectLibError(
      lib.import(file(big, 'big.img'), { signal: ac.signal, onProgress: (d) => { if (d > 0) ac.abort(); } }),
      'aborted', /cancelled/,
    );
    nothingStored();
  });

  it('converts a raw image to a dynamic VHD that qemu-img reads as the same bytes', async () => {
    const raw = new Uint8Array(5 * 1024 * 1024 + 1000); // not a whole number of sectors
    const rng = new Prng(11);
    raw.set(rng.bytes(70_000), 0);
    raw.set(rng.bytes(5000), 3 * 1024 * 1024 - 2000); // straddles a 2 MiB block edge
    raw.set(rng.bytes(1000), raw.length - 1000);
    const { disk } = await lib.import(file(raw, 'scratch.img'));
    expect(disk).toMatchObject({ name: 'scratch', type: 'dynamic' });
    expect(disk.virtualSize).toBeGreaterThanOrEqual(raw.length);
    const vhd = await blobBytes(await lib.export(disk.id));
    const vhdPath = path.join(tmp.dir, 'scratch.vhd');
    const rawPath = path.join(tmp.dir, 'scratch.raw');
    writeFileSync(vhdPath, vhd);
    const padded = new Uint8Array(disk.virtualSize);
    padded.set(raw);
    writeFileSync(rawPath, padded);
    const info = spawnSync('qemu-img', ['info', '-f', 'vpc', '--output=json', vhdPath], { encoding: 'utf8' });
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)['virtual-size']).toBe(disk.virtualSize);
    const cmp = spawnSync('qemu-img', ['compare', '-f', 'vpc', vhdPath, '-F', 'raw', rawPath], { encoding: 'utf8' });
    expect(cmp.status, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('replaces a disk in place: same id, new contents, old image gone', async () => {
    const { disk: a } = await lib.import(fixture('fixed-4m.vhd'), { name: 'system' });
    const oldImages = await images.keys();
    clock += 60_000;
    const { disk: b } = await lib.import(fixture('dynamic-8m.vhd'), { replace: a.id });
    expect(b).toMatchObject({ id: a.id, name: 'system', type: 'dynamic', created: a.created, modified: clock });
    expect(await lib.list()).toHaveLength(1);
    expect(await images.keys()).toHaveLength(1);
    expect(await images.keys()).not.toEqual(oldImages);
    expect(sha256(await blobBytes(await lib.export(a.id)))).toBe(sha256(fixtureBytes('dynamic-8m.vhd')));
  });
});

describe('create, open, rename, delete', () => {
  it('creates a dynamic disk that keeps what is written through open() across reopen', async () => {
    const { disk } = await lib.create({ name: 'data', type: 'dynamic', size: 64 * 1024 * 1024 });
    expect(disk).toMatchObject({ name: 'data', type: 'dynamic' });
    expect(disk.virtualSize).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(disk.fileSize).toBeLessThan(1024 * 1024);
    const d = await lib.open(disk.id);
    const data = new Prng(5).bytes(3 * 65536);
    await d.write(4000, data);
    clock += 5000;
    await d.close();
    expect((await lib.get(disk.id)).modified).toBe(clock);
    expect((await lib.get(disk.id)).fileSize).toBeGreaterThan(2 * 1024 * 1024);
    const lib2 = new DiskLibrary(makeHost()); // another page on the same stores
    const r = await lib2.open(disk.id, { readOnly: true });
    const back = new Uint8Array(data.length);
    await r.read(4000, back);
    expect(Buffer.compare(back, data)).toBe(0);
    await r.close();
  });

  it('creates fixed disks sparse and rejects bad sizes, types and names', async () => {
    const { disk } = await lib.create({ name: ' big fixed ', type: 'fixed', size: 1024 ** 3 });
    expect(disk).toMatchObject({ name: 'big fixed', type: 'fixed', fileSize: disk.virtualSize + 512 });
    expect(disk.storedBytes).toBeLessThanOrEqual(256 * 1024); // one chunk: the footer
    await expectLibError(lib.create({ name: 'x', type: 'dynamic', size: 0 }), 'invalid', /positive/);
    await expectLibError(lib.create({ name: 'x', type: 'dynamic', size: 2041 * 1024 ** 3 }), 'invalid', /2040 GiB/);
    await expectLibError(lib.create({ name: 'x', type: 'differencing' as 'fixed', size: 1 << 20 }), 'invalid', /fixed or dynamic/);
    await expectLibError(lib.create({ name: '   ', type: 'dynamic', size: 1 << 20 }), 'invalid', /empty/);
    await expectLibError(lib.create({ name: 'a\u0007b', type: 'dynamic', size: 1 << 20 }), 'invalid', /control/);
    expect(await lib.list()).toHaveLength(1);
  });

  it('renames and deletes; unknown ids are not-found', async () => {
    const { disk } = await lib.create({ name: 'one', type: 'dynamic', size: 1 << 20 });
    expect((await lib.rename(disk.id, 'two')).name).toBe('two');
    await expectLibError(lib.rename(disk.id, ''), 'invalid', /empty/);
    await lib.delete(disk.id);
    nothingStored();
    await expectLibError(lib.delete(disk.id), 'not-found', /no disk/);
    await expectLibError(lib.open('disk-0000000000000000'), 'not-found', /no disk/);
    await expectLibError(lib.rename('../etc', 'x'), 'not-found', /no disk/);
  });
});

describe('two writers', () => {
  it('a disk open for writing cannot be deleted, replaced, exported or opened again until closed', async () => {
    const { disk } = await lib.create({ name: 'busy', type: 'dynamic', size: 8 << 20 });
    const w = await lib.open(disk.id);
    expect((await lib.get(disk.id)).inUse).toBe(true);
    await expectLibError(lib.delete(disk.id), 'busy', /'busy' is in use/);
    await expectLibError(lib.import(fixture('dynamic-8m.vhd'), { replace: disk.id }), 'busy', /in use/);
    await expectLibError(lib.export(disk.id), 'busy', /open for writing/);
    await expectLibError(lib.open(disk.id), 'busy', /in use/);
    await expectLibError(lib.open(disk.id, { readOnly: true }), 'busy', /open for writing/);
    expect((await lib.rename(disk.id, 'renamed')).name).toBe('renamed'); // metadata only: allowed
    await w.close();
    expect((await lib.get(disk.id)).inUse).toBe(false);
    // Readers share.
    const r1 = await lib.open(disk.id, { readOnly: true });
    const r2 = await lib.open(disk.id, { readOnly: true });
    await expectLibError(lib.delete(disk.id), 'busy', /in use/);
    await expect(r1.write(0, new Uint8Array(512))).rejects.toThrow(/read-only/);
    await r1.close();
    await r2.close();
    await lib.delete(disk.id);
    nothingStored();
  });
});

describe('differencing disks', () => {
  it('a child reads through to its parent, keeps its own writes, and pins the parent', async () => {
    const { disk: base } = await lib.import(fixture('dynamic-8m.vhd'), { name: 'base' });
    const { disk: child } = await lib.createDifferencing(base.id, 'overlay');
    expect(child).toMatchObject({ type: 'differencing', parentId: base.id, virtualSize: base.virtualSize });
    const c = await lib.open(child.id);
    expect((await lib.get(base.id)).inUse).toBe(true); // the parent is open read-only under it
    const mine = new Uint8Array(512).fill(0x42);
    await c.write(0, mine);
    await c.close();
    const r = await lib.open(child.id, { readOnly: true });
    const all = await readAll(r);
    await r.close();
    const want = expectedContents(FIXTURES.find((f) => f.name === 'dynamic-8m.vhd')!);
    want.set(mine, 0);
    expect(Buffer.compare(all, want)).toBe(0);
    // The parent is unchanged and protected while the child exists.
    expect(sha256(await blobBytes(await lib.export(base.id)))).toBe(sha256(fixtureBytes('dynamic-8m.vhd')));
    await expectLibError(lib.delete(base.id), 'busy', /parent of differencing disk 'overlay'/);
    await expectLibError(lib.open(base.id), 'busy', /parent of differencing disk/);
    // Exported child + parent open in the VHD reader as a chain.
    const childFile = await blobBytes(await lib.export(child.id));
    const parentDisk = await VhdDisk.open(new MemoryStore(fixtureBytes('dynamic-8m.vhd')), { readOnly: true });
    const chain = await VhdDisk.open(new MemoryStore(childFile), { readOnly: true, openParent: async () => parentDisk });
    expect(Buffer.compare(await readAll(chain), want)).toBe(0);
    // Importing that exported child finds its parent in the library by unique id.
    const { disk: again } = await lib.import(file(childFile, 'overlay-copy.vhd'));
    expect(again).toMatchObject({ type: 'differencing', parentId: base.id });
    await lib.delete(again.id);
    await lib.delete(child.id);
    await lib.delete(base.id);
    nothingStored();
  });

  it('refuses a differencing image whose parent is not in the library', async () => {
    const { disk: base } = await lib.create({ name: 'p', type: 'dynamic', size: 4 << 20 });
    const { disk: child } = await lib.createDifferencing(base.id, 'c');
    const childFile = await blobBytes(await lib.export(child.id));
    const other = new DiskLibrary(makeHost());
    records.map.clear();
    images.data.clear();
    await expectLibError(other.import(file(childFile, 'c.vhd')), 'invalid', /parent .* is not in the library/);
    nothingStored();
  });
});

describe('leftovers of interrupted work', () => {
  it('list() drops an import whose tab is gone, orphan images and damaged records', async () => {
    const { disk } = await lib.create({ name: 'keep', type: 'dynamic', size: 1 << 20 });
    const keepImages = await images.keys();
    // An import interrupted by a closed tab: record 'importing', nobody holds its lock.
    const rec = { ...(await records.get(disk.id)) as object, id: 'disk-00000000000000aa', image: 'img-00000000000000aa', state: 'importing' };
    await records.put(rec.id, rec);
    await images.chunks('img-00000000000000aa').commit({ deleteRanges: [], put: [[0, new Uint8Array(65536).fill(1)]], meta: { version: 1, size: 65536, chunkSize: 65536 } });
    // A delete interrupted between the record and the image.
    await images.chunks('img-00000000000000bb').commit({ deleteRanges: [], put: [[0, new Uint8Array(65536).fill(2)]], meta: { version: 1, size: 65536, chunkSize: 65536 } });
    await records.put('junk', { version: 9 });
    // A replacing import that stopped after switching the old record to the new image, before
    // removing its own 'importing' record: the image now belongs to the disk and must stay.
    const keepRec = (await records.get(disk.id)) as { image: string };
    await records.put('disk-00000000000000cc', { ...keepRec, id: 'disk-00000000000000cc', state: 'importing' });
    const listed = await lib.list();
    expect(listed.map((d) => d.name)).toEqual(['keep']);
    expect(records.map.has('disk-00000000000000cc')).toBe(false);
    expect(await images.keys()).toEqual(keepImages);
    expect(records.map.has('disk-00000000000000aa')).toBe(false);
  });
});

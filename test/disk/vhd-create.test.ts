// Images pvlab creates: write, read, reopen, differencing, commit, compact, convert, and
// what an interrupted write leaves behind.
import { describe, expect, it } from 'vitest';
import { MemoryStore, type BlockStore } from '../../engine-ts/disk/block-store';
import { VhdDisk, type OpenParent } from '../../engine-ts/disk/vhd';
import { VhdError, bitmapGet, parseFooter, uuidToString } from '../../engine-ts/disk/vhd-format';
import { checkVhd, rawToVhd, vhdToRaw, vhdToVhd } from '../../engine-ts/disk/vhd-tools';
import { NOW, Prng, fixedUuid, readAll, sha256 } from './helpers';

const KiB = 1024;
const MiB = 1024 * 1024;

/** Apply random sector writes to a disk and to a plain array model. */
async function randomWrites(disk: VhdDisk, model: Uint8Array, rng: Prng, count: number, maxSectors = 300): Promise<void> {
  const sectors = disk.size / 512;
  for (let i = 0; i < count; i++) {
    const n = 1 + rng.int(Math.min(maxSectors, sectors));
    const s = rng.int(sectors - n + 1);
    const data = rng.bytes(n * 512);
    await disk.write(s, data);
    model.set(data, s * 512);
  }
}

function reopen(store: MemoryStore, openParent?: OpenParent): Promise<VhdDisk> {
  return VhdDisk.open(new MemoryStore(store.bytes()), { openParent });
}

describe('creating VHDs', () => {
  for (const type of ['fixed', 'dynamic'] as const) {
    it(`${type}: writes at odd offsets read back, also after reopening`, async () => {
      const store = new MemoryStore();
      const disk = await VhdDisk.create(store, { type, size: 5 * MiB + 3 * KiB, now: NOW, uniqueId: fixedUuid(1), blockSize: type === 'dynamic' ? 512 * KiB : undefined });
      // CHS rounding, as qemu-img: never smaller than asked.
      expect(disk.size).toBeGreaterThanOrEqual(5 * MiB + 3 * KiB);
      expect(disk.size % 512).toBe(0);
      const model = new Uint8Array(disk.size);
      await randomWrites(disk, model, new Prng(7), 40);
      expect(Buffer.compare(await readAll(disk), model)).toBe(0);
      await disk.close();
      const again = await reopen(store);
      expect(again.type).toBe(type);
      expect(again.warnings).toEqual([]);
      expect(again.uniqueId).toBe(uuidToString(fixedUuid(1)));
      expect(Buffer.compare(await readAll(again), model)).toBe(0);
      const report = await checkVhd(new MemoryStore(store.bytes()));
      expect(report.errors).toEqual([]);
      expect(report.warnings).toEqual([]);
    });
  }

  it('dynamic: allocates only touched blocks and keeps exact bitmaps', async () => {
    const store = new MemoryStore();
    const disk = await VhdDisk.create(store, { type: 'dynamic', size: 16 * MiB, now: NOW, uniqueId: fixedUuid(2) });
    const empty = store.size;
    expect(empty).toBe(512 + 1024 + 512 + 512); // copy, header, BAT (8 entries, padded), footer
    await disk.write(4096 + 3, new Uint8Array(512).fill(0x42)); // block 1, sector 3
    expect(disk.allocatedBlocks).toBe(1);
    expect(store.size).toBe(empty + 512 + 2 * MiB);
    const bm = await store.read(disk.layout.bat[1] * 512, 512);
    expect(bitmapGet(bm, 3)).toBe(true);
    expect(bitmapGet(bm, 2)).toBe(false);
    expect(bitmapGet(bm, 4)).toBe(false);
    // The footer copy at 0 still equals the tail footer.
    expect(Buffer.compare(await store.read(0, 512), await store.read(store.size - 512, 512))).toBe(0);
    const buf = new Uint8Array(8 * 512);
    await disk.read(4096, buf);
    expect(buf.subarray(3 * 512, 4 * 512).every((b) => b === 0x42)).toBe(true);
    expect(buf.subarray(0, 3 * 512).every((b) => b === 0)).toBe(true);
  });

  it('keeps the exact size with exactSize (CHS marker, qem2-style)', async () => {
    const disk = await VhdDisk.create(new MemoryStore(), { type: 'dynamic', size: 10_000_000, exactSize: true, now: NOW, uniqueId: fixedUuid(3) });
    expect(disk.size).toBe(10_000_384);
    expect([disk.footer.cylinders, disk.footer.heads, disk.footer.sectorsPerTrack]).toEqual([65535, 16, 255]);
    expect(disk.layout.sizeRule).toBe('current-size');
  });

  it('serializes concurrent writes to the same new block (one allocation)', async () => {
    const store = new MemoryStore();
    const disk = await VhdDisk.create(store, { type: 'dynamic', size: 8 * MiB, now: NOW, uniqueId: fixedUuid(4) });
    await Promise.all([0, 1, 2, 3].map((k) => disk.write(k * 8, new Uint8Array(512).fill(k + 1))));
    expect(disk.allocatedBlocks).toBe(1);
    const again = await reopen(store);
    const b = new Uint8Array(512);
    for (const k of [0, 1, 2, 3]) {
      await again.read(k * 8, b);
      expect(b[0]).toBe(k + 1);
    }
  });

  it('refuses to create in a non-empty store and rejects bad options', async () => {
    await expect(VhdDisk.create(new MemoryStore(new Uint8Array(10)), { type: 'fixed', size: MiB, now: NOW, uniqueId: fixedUuid(5) })).rejects.toThrow(/not empty/);
    await expect(VhdDisk.create(new MemoryStore(), { type: 'dynamic', size: MiB, blockSize: 3000, now: NOW, uniqueId: fixedUuid(5) })).rejects.toThrow(/block size/);
    await expect(VhdDisk.create(new MemoryStore(), { type: 'differencing', now: NOW, uniqueId: fixedUuid(5) })).rejects.toThrow(/needs a parent/);
  });
});

/** A parent with data, a child over it, and a resolver that hands out the parent's bytes. */
async function family(parentType: 'dynamic' | 'fixed' = 'dynamic') {
  const parentStore = new MemoryStore();
  const parent = await VhdDisk.create(parentStore, { type: parentType, size: 6 * MiB, now: NOW, uniqueId: fixedUuid(10) });
  const model = new Uint8Array(parent.size);
  await randomWrites(parent, model, new Prng(11), 20);
  const childStore = new MemoryStore();
  const child = await VhdDisk.create(childStore, {
    type: 'differencing', parent, now: NOW, uniqueId: fixedUuid(12), parentName: 'parent.vhd',
    parentLocators: [{ platform: 'W2ku', path: 'C:\\disks\\parent.vhd' }, { platform: 'W2ru', path: '.\\parent.vhd' }],
  });
  const parentModel = model.slice();
  return { parentStore, parent, childStore, child, model, parentModel };
}

describe('differencing disks', () => {
  it('reads through to the parent, copies on write, and leaves the parent alone', async () => {
    const { parentStore, parent, childStore, child, model, parentModel } = await family();
    expect(child.type).toBe('differencing');
    expect(child.size).toBe(parent.size);
    expect(Buffer.compare(await readAll(child), model)).toBe(0);
    const parentBytes = parentStore.bytes();
    await randomWrites(child, model, new Prng(13), 30, 50);
    expect(Buffer.compare(await readAll(child), model)).toBe(0);
    expect(Buffer.compare(parentStore.bytes(), parentBytes)).toBe(0);
    expect(Buffer.compare(await readAll(parent), parentModel)).toBe(0);
    // Sector-granular COW: a one-sector write sets exactly one bit.
    const fresh = await VhdDisk.create(new MemoryStore(), { type: 'differencing', parent, now: NOW, uniqueId: fixedUuid(14) });
    await fresh.write(5, new Uint8Array(512).fill(9));
    const bm = await (fresh as unknown as { store: BlockStore }).store.read(fresh.layout.bat[0] * 512, 512);
    expect(Array.from(bm.subarray(0, 2))).toEqual([0b0000_0100, 0]);

    // Reopen the child: the resolver sees the names and the expected UUID.
    let seen: string[] = [];
    const openParent: OpenParent = async (ref) => {
      seen = ref.names;
      expect(ref.uniqueId).toBe(parent.uniqueId);
      return VhdDisk.open(new MemoryStore(parentStore.bytes()), { readOnly: true });
    };
    const again = await reopen(childStore, openParent);
    expect(seen).toEqual(['.\\parent.vhd', 'C:\\disks\\parent.vhd', 'parent.vhd']);
    expect(Buffer.compare(await readAll(again), model)).toBe(0);
  });

  it('refuses a parent whose unique id does not match, and a missing resolver', async () => {
    const { childStore } = await family();
    const stranger = await VhdDisk.create(new MemoryStore(), { type: 'dynamic', size: 6 * MiB, now: NOW, uniqueId: fixedUuid(99) });
    await expect(reopen(childStore, async () => stranger)).rejects.toThrow(/parent unique id mismatch/);
    await expect(reopen(childStore)).rejects.toThrow(VhdError);
  });

  it('commit merges the child into the parent', async () => {
    for (const parentType of ['dynamic', 'fixed'] as const) {
      const { parentStore, childStore, child, model } = await family(parentType);
      await randomWrites(child, model, new Prng(21), 25, 700);
      await child.close();
      const pStore = new MemoryStore(parentStore.bytes());
      const c = await VhdDisk.open(new MemoryStore(childStore.bytes()), {
        readOnly: true, writableParent: true,
        openParent: async (_ref, mode) => VhdDisk.open(pStore, { readOnly: mode.readOnly }),
      });
      const { sectors } = await c.commit();
      expect(sectors).toBeGreaterThan(0);
      const merged = await VhdDisk.open(new MemoryStore(pStore.bytes()));
      expect(Buffer.compare(await readAll(merged), model)).toBe(0);
      expect(Buffer.compare(await readAll(c), model)).toBe(0); // the child still reads the same
    }
  });

  it('commit needs a writable parent and a differencing disk', async () => {
    const { childStore, parentStore } = await family();
    const child = await reopen(childStore, async (_ref, mode) => VhdDisk.open(new MemoryStore(parentStore.bytes()), mode));
    await expect(child.commit()).rejects.toThrow(/parent is open read-only/);
    const d = await VhdDisk.create(new MemoryStore(), { type: 'dynamic', size: MiB, now: NOW, uniqueId: fixedUuid(30) });
    await expect(d.commit()).rejects.toThrow(/no parent/);
  });

  it('stacks: a child of a child reads through both', async () => {
    const { child, model } = await family();
    const grandchild = await VhdDisk.create(new MemoryStore(), { type: 'differencing', parent: child, now: NOW, uniqueId: fixedUuid(40) });
    await randomWrites(grandchild, model, new Prng(41), 10, 20);
    expect(Buffer.compare(await readAll(grandchild), model)).toBe(0);
  });
});

describe('compact', () => {
  it('drops zero and unwritten blocks, moves the rest down, keeps contents', async () => {
    const store = new MemoryStore();
    const disk = await VhdDisk.create(store, { type: 'dynamic', size: 16 * MiB, now: NOW, uniqueId: fixedUuid(50), blockSize: 512 * KiB });
    const model = new Uint8Array(disk.size);
    const rng = new Prng(51);
    // Blocks 0..7 touched in scrambled order; 1, 4, 6 get only zeros.
    for (const b of [3, 1, 6, 0, 4, 7, 2, 5]) {
      const s = b * 1024 + rng.int(1000);
      const data = [1, 4, 6].includes(b) ? new Uint8Array(4096) : rng.bytes(4096);
      await disk.write(s, data);
      model.set(data, s * 512);
    }
    const before = store.size;
    const r = await disk.compact();
    expect(r.droppedBlocks).toBe(3);
    expect(r.sizeBefore).toBe(before);
    expect(r.sizeAfter).toBe(before - 3 * (512 + 512 * KiB));
    expect(store.size).toBe(r.sizeAfter);
    expect(Buffer.compare(await readAll(disk), model)).toBe(0);
    const again = await reopen(store);
    expect(again.warnings).toEqual([]);
    expect(again.allocatedBlocks).toBe(5);
    expect(Buffer.compare(await readAll(again), model)).toBe(0);
    expect((await checkVhd(new MemoryStore(store.bytes()))).leakedBytes).toBe(0);
    // Writing after compaction still works (allocation at the new end).
    await again.write(1 * 1024, new Uint8Array(512).fill(1));
    model.fill(1, 1024 * 512, 1025 * 512);
    expect(Buffer.compare(await readAll(again), model)).toBe(0);
  });

  it('keeps zero sectors in a differencing disk (they hide the parent) but drops empty blocks', async () => {
    const { child, model } = await family();
    await child.write(100, new Uint8Array(1024));
    model.fill(0, 100 * 512, 102 * 512);
    const r = await child.compact();
    expect(r.droppedBlocks).toBe(0);
    expect(Buffer.compare(await readAll(child), model)).toBe(0);
  });

  it('refuses fixed disks', async () => {
    const d = await VhdDisk.create(new MemoryStore(), { type: 'fixed', size: MiB, now: NOW, uniqueId: fixedUuid(52) });
    await expect(d.compact()).rejects.toThrow(/fixed/);
  });
});

describe('convert', () => {
  for (const type of ['fixed', 'dynamic'] as const) {
    it(`raw -> ${type} VHD -> raw round-trips (exact size)`, async () => {
      const rng = new Prng(60);
      const raw = new Uint8Array(3 * MiB + 5 * 512);
      for (let i = 0; i < 20; i++) raw.set(rng.bytes(1 + rng.int(20000)), rng.int(raw.length - 20000));
      const vhdStore = new MemoryStore();
      const disk = await rawToVhd(new MemoryStore(raw), vhdStore, { type, exactSize: true, now: NOW, uniqueId: fixedUuid(61) });
      expect(disk.size).toBe(raw.length);
      const out = new MemoryStore();
      await vhdToRaw(await VhdDisk.open(new MemoryStore(vhdStore.bytes())), out);
      expect(sha256(out.bytes())).toBe(sha256(raw));
    });
  }

  it('pads a raw image that is not a whole number of sectors, and CHS-rounds by default', async () => {
    const raw = new Uint8Array(1_000_001).fill(7);
    const disk = await rawToVhd(new MemoryStore(raw), new MemoryStore(), { type: 'dynamic', now: NOW, uniqueId: fixedUuid(62) });
    expect(disk.size).toBeGreaterThanOrEqual(1_000_448);
    const all = await readAll(disk);
    expect(all.subarray(0, 1_000_001).every((b) => b === 7)).toBe(true);
    expect(all.subarray(1_000_001).every((b) => b === 0)).toBe(true);
  });

  it('dynamic -> fixed and differencing -> flat keep contents', async () => {
    const { child, model } = await family();
    await randomWrites(child, model, new Prng(63), 10);
    const flat = await vhdToVhd(child, new MemoryStore(), { type: 'fixed', now: NOW, uniqueId: fixedUuid(64) });
    expect(flat.size).toBe(child.size);
    expect(Buffer.compare(await readAll(flat), model)).toBe(0);
  });
});

/** A store that fails (as a crash would) after a given number of writes. */
class FailingStore extends MemoryStore {
  constructor(initial: Uint8Array, private writesLeft: number) {
    super(initial);
  }
  override async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.writesLeft-- <= 0) throw new Error('simulated power cut');
    return super.write(offset, data);
  }
}

describe('interrupted writes', () => {
  for (const type of ['dynamic', 'differencing'] as const) {
    it(`${type}: a write cut off at any step leaves a valid image with the old or new data`, async () => {
      const { parent, parentStore } = await family();
      const base = new MemoryStore();
      const disk = type === 'dynamic'
        ? await VhdDisk.create(base, { type, size: 6 * MiB, now: NOW, uniqueId: fixedUuid(70) })
        : await VhdDisk.create(base, { type, parent, now: NOW, uniqueId: fixedUuid(70) });
      await disk.write(10, new Uint8Array(512).fill(0x11)); // block 0 allocated
      const openParent: OpenParent = async () => VhdDisk.open(new MemoryStore(parentStore.bytes()), { readOnly: true });
      const before = await readAll(await reopen(base, openParent));
      const image = base.bytes();
      // One write that allocates block 2 and one into allocated block 0.
      const ops: [number, Uint8Array][] = [[2 * 4096 + 7, new Uint8Array(1024).fill(0x22)], [11, new Uint8Array(512).fill(0x33)]];
      for (const [sector, data] of ops) {
        const after = before.slice();
        after.set(data, sector * 512);
        let cuts = 0;
        for (let n = 0; ; n++) {
          const store = new FailingStore(image, n);
          const d = await VhdDisk.open(store, { openParent });
          const failed = await d.write(sector, data).then(() => false, () => true);
          const got = await readAll(await reopen(store, openParent));
          const isOld = Buffer.compare(got, before) === 0;
          const isNew = Buffer.compare(got, after) === 0;
          expect(isOld || isNew).toBe(true);
          if (!failed) {
            expect(isNew).toBe(true);
            break;
          }
          cuts++;
        }
        expect(cuts).toBeGreaterThan(0);
      }
    });
  }

  it('compact reclaims the space an interrupted allocation leaked', async () => {
    const base = new MemoryStore();
    const disk = await VhdDisk.create(base, { type: 'dynamic', size: 6 * MiB, now: NOW, uniqueId: fixedUuid(80) });
    await disk.write(0, new Uint8Array(512).fill(1));
    const store = new FailingStore(base.bytes(), 3); // footer, data, bitmap: then the BAT write fails
    const d = await VhdDisk.open(store);
    await expect(d.write(3 * 4096, new Uint8Array(512).fill(2))).rejects.toThrow(/power cut/);
    const leaky = new MemoryStore(store.bytes());
    const report = await checkVhd(leaky);
    expect(report.errors).toEqual([]);
    expect(report.leakedBytes).toBe(512 + 2 * MiB);
    const r = await (await VhdDisk.open(leaky)).compact();
    expect(r.sizeAfter).toBe(r.sizeBefore - (512 + 2 * MiB));
    expect((await checkVhd(leaky)).leakedBytes).toBe(0);
  });
});

describe('footer parse of created files', () => {
  it('writes pvlab as creator with version 1.0 and Wi2k', async () => {
    const store = new MemoryStore();
    await VhdDisk.create(store, { type: 'dynamic', size: MiB, now: NOW, uniqueId: fixedUuid(90) });
    const f = parseFooter(await store.read(store.size - 512, 512));
    expect(f.creatorApplication).toBe('pvlb');
    expect(f.creatorVersion).toBe(0x00010000);
    expect(f.timestamp).toBe(Math.floor((NOW.getTime() - Date.UTC(2000, 0, 1)) / 1000));
  });
});

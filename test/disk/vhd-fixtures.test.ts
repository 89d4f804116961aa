// Every qemu-made fixture opens and reads back what its README says (third-party expectations).
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../engine-ts/disk/block-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { FIXTURES, expectedContents, fixtureBytes, openFixture, readAll, sha256 } from './helpers';

describe('qemu-img fixtures', () => {
  for (const f of FIXTURES) {
    it(`${f.name}: type, size, geometry, contents and sha256`, async () => {
      const { disk, store } = await openFixture(f.name);
      expect(store.size).toBe(f.fileSize);
      expect(disk.type).toBe(f.type);
      expect(disk.size).toBe(f.virtualSize);
      expect([disk.footer.cylinders, disk.footer.heads, disk.footer.sectorsPerTrack]).toEqual(f.chs);
      const all = await readAll(disk);
      expect(sha256(all)).toBe(f.sha256);
      expect(Buffer.compare(all, expectedContents(f))).toBe(0);
      expect(disk.warnings).toEqual([]);
    });
  }

  it('reads sector ranges that straddle blocks and allocated/unallocated areas', async () => {
    const { disk } = await openFixture('dynamic-8m.vhd');
    const f = FIXTURES.find((x) => x.name === 'dynamic-8m.vhd')!;
    const want = expectedContents(f);
    // Around the block 0 / block 1 boundary (2 MiB), and the 0x11 sector.
    for (const [s, n] of [[4090, 12], [127, 3], [4096, 2], [4097, 1], [0, 16388]] as const) {
      const buf = new Uint8Array(n * 512);
      await disk.read(s, buf);
      expect(Buffer.compare(buf, want.subarray(s * 512, (s + n) * 512))).toBe(0);
    }
  });

  it('finds blocks stored in allocation order (README physical layout)', async () => {
    const { disk } = await openFixture('dynamic-8m.vhd');
    expect(Array.from(disk.layout.bat)).toEqual([0x1005, 0x4, 0xffffffff, 0xffffffff, 0xffffffff]);
    expect(disk.layout.footerOffset).toBe(4197376);
    expect(disk.allocatedBlocks).toBe(2);
  });

  it('refuses reads past the end and writes on a read-only disk', async () => {
    const store = new MemoryStore(fixtureBytes('fixed-4m.vhd'), true);
    const disk = await VhdDisk.open(store);
    expect(disk.readOnly).toBe(true);
    await expect(disk.read(disk.size / 512, new Uint8Array(512))).rejects.toThrow(/past the end/);
    await expect(disk.write(0, new Uint8Array(512))).rejects.toThrow(/read-only/);
  });

  it('honours a size-rule override (force_size_calc)', async () => {
    // qem2 with CHS marker: trusting CHS gives the ~127.5 GiB marker size, which the BAT cannot cover.
    const store = new MemoryStore(fixtureBytes('dynamic-10mb-forcesize.vhd'));
    await expect(VhdDisk.open(store, { sizeRule: 'chs' })).rejects.toThrow(/too few for a 136899993600-byte disk/);
    const d = await VhdDisk.open(new MemoryStore(fixtureBytes('dynamic-10mb-odd.vhd')), { sizeRule: 'current-size' });
    expect(d.size).toBe(10027008);
  });
});

describe('damaged and old-style tails', () => {
  it('reads a 511-byte footer (Virtual PC before 2004) and can still allocate after it', async () => {
    const f = FIXTURES.find((x) => x.name === 'dynamic-8m.vhd')!;
    const b = fixtureBytes(f.name);
    expect(b[b.length - 1]).toBe(0); // the footer's last reserved byte: dropping it keeps the checksum
    const store = new MemoryStore(b.subarray(0, b.length - 1));
    const disk = await VhdDisk.open(store);
    expect(disk.layout.footerSource).toBe('tail-511');
    expect(disk.warnings.join()).toMatch(/511 bytes/);
    expect(sha256(await readAll(disk))).toBe(f.sha256);
    await disk.write(3 * 4096, new Uint8Array(512).fill(0x99)); // block 3: allocated past the old footer
    const again = await VhdDisk.open(new MemoryStore(store.bytes()));
    const want = expectedContents(f);
    want.fill(0x99, 3 * 4096 * 512, (3 * 4096 + 1) * 512);
    expect(Buffer.compare(await readAll(again), want)).toBe(0);
  });

  it('recovers a dynamic disk whose trailing footer is gone from the copy at offset 0, read-only', async () => {
    const f = FIXTURES.find((x) => x.name === 'dynamic-8m.vhd')!;
    const b = fixtureBytes(f.name);
    b.fill(0, b.length - 512);
    await expect(VhdDisk.open(new MemoryStore(b))).rejects.toThrow(/open read-only to recover/);
    const disk = await VhdDisk.open(new MemoryStore(b), { readOnly: true });
    expect(disk.layout.footerSource).toBe('head-copy');
    expect(sha256(await readAll(disk))).toBe(f.sha256);
    // A fixed disk has no copy: nothing to recover from.
    const fx = fixtureBytes('fixed-4m.vhd');
    fx.fill(0, fx.length - 512);
    await expect(VhdDisk.open(new MemoryStore(fx), { readOnly: true })).rejects.toThrow(/not a VHD/);
  });

  it('warns when the copy at offset 0 differs from the trailing footer', async () => {
    const b = fixtureBytes('dynamic-10mb-odd.vhd');
    b[30] ^= 1; // creator field of the copy
    const disk = await VhdDisk.open(new MemoryStore(b));
    expect(disk.warnings).toContain('footer copy at offset 0 differs from the trailing footer');
  });
});

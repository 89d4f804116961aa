import { describe, expect, it } from 'vitest';
import {
  VhdError, bitmapGet, bitmapRun, bitmapSet, bitmapSize, chsFromSectors, chsSectors, chooseSizeRule, dateFromVhdTimestamp,
  decodeBat, decodeUtf16, encodeBat, encodeUtf16, parseFooter, parseHeader, serializeFooter, serializeHeader,
  sizeForCreate, uuidFromString, uuidToString, uuidV4, vhdChecksum, vhdTimestamp,
} from '../../engine-ts/disk/vhd-format';
import { fixtureBytes } from './helpers';

const tailOf = (b: Uint8Array) => b.subarray(b.length - 512);

describe('VHD footer and header', () => {
  it('parses qemu footers and re-encodes them byte for byte', () => {
    for (const name of ['fixed-4m.vhd', 'dynamic-8m.vhd', 'dynamic-10mb-forcesize.vhd']) {
      const raw = tailOf(fixtureBytes(name));
      const f = parseFooter(raw);
      expect(f.cookie).toBe('conectix');
      expect(f.features).toBe(2);
      expect(f.creatorVersion).toBe(0x00050003);
      expect(f.creatorHostOs).toBe(0x5769326b);
      expect(f.timestamp).toBe(848814909); // README: the machine's clock when qemu made them
      expect(serializeFooter({ ...f })).toEqual(raw);
    }
    expect(parseFooter(tailOf(fixtureBytes('dynamic-10mb-forcesize.vhd'))).creatorApplication).toBe('qem2');
  });

  it('parses the qemu dynamic header (README values) and re-encodes it', () => {
    const raw = fixtureBytes('dynamic-8m.vhd').subarray(512, 1536);
    const h = parseHeader(raw);
    expect(h.cookie).toBe('cxsparse');
    expect(h.dataOffset).toBe(0xffffffffffffffffn);
    expect(h.tableOffset).toBe(1536n);
    expect(h.maxTableEntries).toBe(5);
    expect(h.blockSize).toBe(0x200000);
    expect(h.checksum).toBe(0xfffff472);
    expect(h.parentLocators.every((l) => l.platformCode === 0)).toBe(true);
    expect(serializeHeader({ ...h })).toEqual(raw);
  });

  it('rejects a wrong checksum, cookie, version, type and block size with messages naming the field', () => {
    const good = tailOf(fixtureBytes('fixed-4m.vhd')).slice();
    const bad = good.slice();
    bad[100] ^= 1;
    expect(() => parseFooter(bad)).toThrow(/footer checksum mismatch/);
    const cookie = good.slice();
    cookie[0] = 0x78;
    expect(() => parseFooter(cookie)).toThrow(/cookie/);
    const resum = (b: Uint8Array) => {
      const c = vhdChecksum(b, 64);
      new DataView(b.buffer, b.byteOffset).setUint32(64, c);
      return b;
    };
    const version = good.slice();
    version[12] = 2;
    expect(() => parseFooter(resum(version))).toThrow(/file format version/);
    const type = good.slice();
    type[63] = 5;
    expect(() => parseFooter(resum(type))).toThrow(/disk type 5/);
    const header = fixtureBytes('dynamic-8m.vhd').slice(512, 1536);
    new DataView(header.buffer).setUint32(32, 0x200001);
    new DataView(header.buffer).setUint32(36, vhdChecksum(header, 36));
    expect(() => parseHeader(header)).toThrow(VhdError);
    expect(() => parseHeader(header)).toThrow(/block size 2097153 is not a power of two/);
  });

  it('computes the checksum as the one\'s complement of the byte sum', () => {
    const b = new Uint8Array(512);
    b[0] = 1;
    b[511] = 2;
    b[64] = 0xff; // inside the checksum field: skipped
    expect(vhdChecksum(b, 64)).toBe(~3 >>> 0);
  });
});

describe('CHS geometry and sizes', () => {
  it('rounds sizes up the way qemu-img does (values from the fixtures README)', () => {
    const cases: [number, number, [number, number, number]][] = [
      [8 * 1024 * 1024, 8390656, [241, 4, 17]],
      [4 * 1024 * 1024, 4212736, [121, 4, 17]],
      [1500000, 1531904, [44, 4, 17]],
      [10000000, 10027008, [288, 4, 17]],
    ];
    for (const [req, size, chs] of cases) {
      const r = sizeForCreate(req);
      expect(r.size).toBe(size);
      expect([r.geometry.cylinders, r.geometry.heads, r.geometry.sectorsPerTrack]).toEqual(chs);
    }
  });

  it('keeps the exact size with the 65535/16/255 marker when asked (force_size)', () => {
    expect(sizeForCreate(10000000, true)).toEqual({ size: 10000384, geometry: { cylinders: 65535, heads: 16, sectorsPerTrack: 255 } });
    expect(sizeForCreate(1000000, true).size).toBe(1000448);
  });

  it('uses the marker for disks beyond CHS reach (about 127.5 GiB) and refuses more than 2040 GiB', () => {
    const big = sizeForCreate(200 * 1024 ** 3);
    expect(big.size).toBe(200 * 1024 ** 3);
    expect(big.geometry.cylinders).toBe(65535);
    expect(() => sizeForCreate(2041 * 1024 ** 3)).toThrow(/2040 GiB/);
  });

  it('follows the spec algorithm at its branch points', () => {
    // Worked by hand from the spec text: each branch of the algorithm once.
    expect(chsFromSectors(16388)).toEqual({ cylinders: 241, heads: 4, sectorsPerTrack: 17 });
    expect(chsFromSectors(17 * 17 * 1024)).toEqual({ cylinders: 596, heads: 16, sectorsPerTrack: 31 });
    expect(chsFromSectors(1015808)).toEqual({ cylinders: 1007, heads: 16, sectorsPerTrack: 63 });
    expect(chsFromSectors(65535 * 16 * 63)).toEqual({ cylinders: 16191, heads: 16, sectorsPerTrack: 255 });
  });

  it('never returns more sectors than asked and caps at 65535*16*255', () => {
    for (let t = 1; t < 5_000_000; t += 9973) expect(chsSectors(chsFromSectors(t))).toBeLessThanOrEqual(t);
    expect(chsFromSectors(1e12)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  });

  it('chooses current size for Hyper-V family creators and the marker, CHS otherwise', () => {
    const f = parseFooter(tailOf(fixtureBytes('fixed-4m.vhd')));
    expect(chooseSizeRule(f)).toBe('chs');
    expect(chooseSizeRule({ ...f, creatorApplication: 'win ' })).toBe('current-size');
    expect(chooseSizeRule({ ...f, creatorApplication: 'tap\0' })).toBe('current-size');
    expect(chooseSizeRule({ ...f, cylinders: 65535, heads: 16, sectorsPerTrack: 255 })).toBe('current-size');
    expect(chooseSizeRule({ ...f, creatorApplication: 'win ' }, 'chs')).toBe('chs');
  });
});

describe('timestamps, UUIDs, text, BAT and bitmaps', () => {
  it('counts seconds from 2000-01-01 UTC', () => {
    expect(vhdTimestamp(new Date('2026-11-24T05:55:09Z'))).toBe(848814909);
    expect(dateFromVhdTimestamp(848814909).toISOString()).toBe('2026-11-24T05:55:09.000Z');
    expect(vhdTimestamp(new Date('1999-01-01T00:00:00Z'))).toBe(0);
  });

  it('formats and parses UUIDs, and marks v4 ones', () => {
    const s = '346bdb5d-c3fe-4130-a23e-ec8bfd95adcf';
    expect(uuidToString(uuidFromString(s))).toBe(s);
    expect(() => uuidFromString('nope')).toThrow(VhdError);
    const u = uuidV4(new Uint8Array(16).fill(0xff));
    expect(uuidToString(u)).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
  });

  it('encodes UTF-16 both ways and stops at NUL', () => {
    const s = 'Eltern-Platte ü.vhd';
    expect(decodeUtf16(encodeUtf16(s, true), true)).toBe(s);
    expect(decodeUtf16(encodeUtf16(s, false, 256), false)).toBe(s);
    expect(() => encodeUtf16('x'.repeat(257), false, 256)).toThrow(VhdError);
  });

  it('pads the BAT with 0xFF to a sector and reads it back', () => {
    const bat = Uint32Array.from([5, 0xffffffff, 0x1005]);
    const b = encodeBat(bat);
    expect(b.length).toBe(512);
    expect(b.subarray(12).every((x) => x === 0xff)).toBe(true);
    expect(Array.from(decodeBat(b, 3))).toEqual([5, 0xffffffff, 0x1005]);
  });

  it('uses MSB-first bitmaps padded to a sector', () => {
    expect(bitmapSize(2 * 1024 * 1024)).toBe(512);
    expect(bitmapSize(512 * 1024)).toBe(512);
    expect(bitmapSize(32 * 1024 * 1024)).toBe(8192);
    const bm = new Uint8Array(512);
    bitmapSet(bm, 0);
    bitmapSet(bm, 9);
    expect(bm[0]).toBe(0x80);
    expect(bm[1]).toBe(0x40);
    expect(bitmapGet(bm, 9)).toBe(true);
    expect(bitmapRun(bm, 1, 4096)).toBe(8);
    expect(bitmapRun(bm, 10, 4096)).toBe(4086);
  });
});

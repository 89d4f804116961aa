// The Node half of the Linux guest recipe: the cpio "newc" writer that packs the
// initramfs and the .modinfo reader that orders kernel modules for insmod.
import { describe, it, expect } from 'vitest';
import { writeNewc, type CpioEntry } from '../../guests/linux/cpio-newc.mjs';
import { readModinfo, loadOrder, softdepPre, dependsList, type ModuleDeps } from '../../guests/linux/modinfo.mjs';

interface Parsed { name: string; mode: number; data: Uint8Array; nlink: number; devMajor: number; devMinor: number; headerAt: number }

// An independent reader of the format as the kernel sees it (init/initramfs.c):
// "070701", 13 hex fields, the name, padding to 4, the data, padding to 4.
function readNewc(buf: Uint8Array): Parsed[] {
  const dec = new TextDecoder();
  const out: Parsed[] = [];
  let off = 0;
  for (;;) {
    const hdr = dec.decode(buf.subarray(off, off + 110));
    expect(hdr.slice(0, 6)).toBe('070701');
    const f = (i: number) => parseInt(hdr.slice(6 + i * 8, 14 + i * 8), 16);
    const nameSize = f(11);
    const fileSize = f(6);
    const name = dec.decode(buf.subarray(off + 110, off + 110 + nameSize - 1));
    expect(buf[off + 110 + nameSize - 1]).toBe(0);
    let p = off + 110 + nameSize;
    p += (4 - (p % 4)) % 4;
    const data = buf.subarray(p, p + fileSize);
    out.push({ name, mode: f(1), nlink: f(4), data, devMajor: f(9), devMinor: f(10), headerAt: off });
    p += fileSize;
    p += (4 - (p % 4)) % 4;
    off = p;
    if (name === 'TRAILER!!!') break;
  }
  expect(off).toBe(buf.length);
  return out;
}

describe('cpio newc writer', () => {
  const entries: CpioEntry[] = [
    { path: 'bin', type: 'dir', mode: 0o755 },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: new Uint8Array([1, 2, 3, 4, 5]) },
    { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
    { path: 'dev', type: 'dir', mode: 0o755 },
    { path: 'dev/console', type: 'chardev', mode: 0o600, major: 5, minor: 1 },
    { path: 'init', type: 'file', mode: 0o755, data: new TextEncoder().encode('#!/bin/sh\n') },
  ];

  it('writes entries a newc reader gets back: names, types, contents, links, device numbers, trailer', () => {
    const got = readNewc(writeNewc(entries));
    expect(got.map((e) => e.name)).toEqual([...entries.map((e) => e.path), 'TRAILER!!!']);
    expect(got[0].mode).toBe(0o040755);
    expect(got[1].mode).toBe(0o100755);
    expect([...got[1].data]).toEqual([1, 2, 3, 4, 5]);
    expect(got[2].mode).toBe(0o120777);
    expect(new TextDecoder().decode(got[2].data)).toBe('busybox');
    expect(got[4].mode).toBe(0o020600);
    expect([got[4].devMajor, got[4].devMinor]).toEqual([5, 1]);
    expect(new TextDecoder().decode(got[5].data)).toBe('#!/bin/sh\n');
    for (const e of got) expect(e.headerAt % 4).toBe(0);
  });

  it('gives the same bytes for the same input (reproducible initrd)', () => {
    expect(writeNewc(entries, { mtime: 0 })).toEqual(writeNewc(entries, { mtime: 0 }));
  });

  it('refuses absolute, dotted and duplicate paths and type bits in the mode', () => {
    expect(() => writeNewc([{ path: '/init', type: 'file', mode: 0o755 }])).toThrow(/relative/);
    expect(() => writeNewc([{ path: 'a/../b', type: 'file', mode: 0o644 }])).toThrow(/relative/);
    expect(() => writeNewc([{ path: 'a', type: 'dir', mode: 0o755 }, { path: 'a', type: 'dir', mode: 0o755 }])).toThrow(/duplicate/);
    expect(() => writeNewc([{ path: 'a', type: 'file', mode: 0o100644 }])).toThrow(/permission bits/);
    expect(() => writeNewc([{ path: 'l', type: 'symlink', mode: 0o777 }])).toThrow(/no target/);
  });
});

// A minimal ELF32 relocatable with a section string table and a .modinfo section.
function elfWithModinfo(modinfo: string, is64 = false): Uint8Array {
  const enc = new TextEncoder();
  const shstr = enc.encode('\0.shstrtab\0.modinfo\0');
  const info = enc.encode(modinfo);
  const ehsize = is64 ? 64 : 52;
  const shentsize = is64 ? 64 : 40;
  const shstrOff = ehsize;
  const infoOff = shstrOff + shstr.length;
  const shoff = (infoOff + info.length + 7) & ~7;
  const buf = new Uint8Array(shoff + 3 * shentsize);
  const dv = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1]);
  if (is64) {
    dv.setBigUint64(0x28, BigInt(shoff), true);
    dv.setUint16(0x3a, shentsize, true);
    dv.setUint16(0x3c, 3, true);
    dv.setUint16(0x3e, 1, true);
  } else {
    dv.setUint32(0x20, shoff, true);
    dv.setUint16(0x2e, shentsize, true);
    dv.setUint16(0x30, 3, true);
    dv.setUint16(0x32, 1, true);
  }
  buf.set(shstr, shstrOff);
  buf.set(info, infoOff);
  const sect = (i: number, name: number, type: number, off: number, size: number) => {
    const at = shoff + i * shentsize;
    dv.setUint32(at, name, true);
    dv.setUint32(at + 4, type, true);
    if (is64) {
      dv.setBigUint64(at + 0x18, BigInt(off), true);
      dv.setBigUint64(at + 0x20, BigInt(size), true);
    } else {
      dv.setUint32(at + 0x10, off, true);
      dv.setUint32(at + 0x14, size, true);
    }
  };
  sect(1, 1, 3, shstrOff, shstr.length);
  sect(2, 11, 1, infoOff, info.length);
  return buf;
}

describe('kernel module .modinfo reader', () => {
  const text = 'license=GPL\0depends=libata,scsi_mod\0softdep=pre: crypto-crc32c post: foo\0alias=pci:v00008086d*\0alias=ata\0';

  it('reads depends, softdep and repeated alias keys from ELF32 and ELF64 modules', () => {
    for (const is64 of [false, true]) {
      const mi = readModinfo(elfWithModinfo(text, is64));
      expect(dependsList(mi.get('depends') ?? [])).toEqual(['libata', 'scsi_mod']);
      expect(softdepPre(mi.get('softdep') ?? [])).toEqual(['crypto-crc32c']);
      expect(mi.get('alias')).toEqual(['pci:v00008086d*', 'ata']);
    }
  });

  it('rejects a file that is not ELF and a section table outside the file', () => {
    expect(() => readModinfo(new Uint8Array(64))).toThrow(/not an ELF/);
    const bad = elfWithModinfo(text);
    new DataView(bad.buffer).setUint32(0x20, bad.length + 100, true);
    expect(() => readModinfo(bad)).toThrow(/outside file/);
    const noInfo = elfWithModinfo(text);
    noInfo[noInfo.indexOf(0x6d)] = 0x4d; // ".modinfo" -> ".Modinfo"
    expect(() => readModinfo(noInfo)).toThrow(/no \.modinfo/);
  });
});

describe('module load order', () => {
  const mods: Record<string, ModuleDeps> = {
    ata_piix: { name: 'ata_piix', depends: ['libata'], softPre: [] },
    libata: { name: 'libata', depends: ['scsi_mod'], softPre: [] },
    scsi_mod: { name: 'scsi_mod', depends: ['scsi_common'], softPre: [] },
    scsi_common: { name: 'scsi_common', depends: [], softPre: [] },
    ext4: { name: 'ext4', depends: ['jbd2', 'crc16'], softPre: ['crypto-crc32c', 'not-there'] },
    jbd2: { name: 'jbd2', depends: [], softPre: [] },
    crc16: { name: 'crc16', depends: [], softPre: [] },
    crc32c_generic: { name: 'crc32c_generic', depends: [], softPre: [] },
  };
  const aliases: Record<string, string> = { crypto_crc32c: 'crc32c_generic' };
  const lookup = (n: string) => mods[n] ?? mods[aliases[n]];

  it('puts every dependency before its user, once, resolving aliases and skipping missing soft deps', () => {
    const order = loadOrder(['ata_piix', 'ext4', 'libata'], lookup);
    expect(order).toEqual(['scsi_common', 'scsi_mod', 'libata', 'ata_piix', 'crc32c_generic', 'jbd2', 'crc16', 'ext4']);
  });

  it('treats - and _ in module names alike', () => {
    expect(loadOrder(['ata-piix'], lookup).at(-1)).toBe('ata_piix');
  });

  it('names a missing hard dependency and reports a cycle', () => {
    expect(() => loadOrder(['x'], (n) => (n === 'x' ? { name: 'x', depends: ['y'], softPre: [] } : undefined)))
      .toThrow(/y not found \(needed by x\)/);
    const cyc: Record<string, ModuleDeps> = {
      a: { name: 'a', depends: ['b'], softPre: [] },
      b: { name: 'b', depends: ['a'], softPre: [] },
    };
    expect(() => loadOrder(['a'], (n) => cyc[n])).toThrow(/cycle a -> b -> a/);
  });
});

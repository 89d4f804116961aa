import { describe, expect, it } from 'vitest';
import { BMIBA, MemDisk, makeBench } from './ide-harness';

const MiB = 1024 * 1024;

describe('PIIX3 IDE as PCI function 00:01.1', () => {
  it('identifies as 8086:7010, IDE class with bus mastering and both channels in legacy mode', () => {
    const b = makeBench({ master: new MemDisk(MiB), raw: true });
    expect(b.cfg.read(0x00, 2)).toBe(0x8086);
    expect(b.cfg.read(0x02, 2)).toBe(0x7010);
    expect(b.cfg.read(0x08, 4) >>> 8).toBe(0x010180);
    expect(b.cfg.read(0x0e, 1)).toBe(0x00); // function 1 itself is not multifunction
    expect(b.cfg.read(0x3d, 1)).toBe(0); // legacy mode: IRQ 14/15, no INTx pin
    // BAR0-3 do not exist: the legacy channels are fixed.
    for (const bar of [0x10, 0x14, 0x18, 0x1c]) {
      b.cfg.write(bar, 4, 0xffffffff);
      expect(b.cfg.read(bar, 4)).toBe(0);
    }
  });

  it('BAR4 sizes as a 16-byte I/O BAR and decodes the BMIDE block where Linux puts it', () => {
    const b = makeBench({ master: new MemDisk(MiB), raw: true });
    expect(b.cfg.read(0x20, 4)).toBe(0x00000001); // unassigned until the OS places it
    b.cfg.write(0x20, 4, 0xffffffff);
    expect(b.cfg.read(0x20, 4)).toBe(0xfffffff1);
    b.cfg.write(0x20, 4, 0xd000);
    expect(b.io.has(0xd000)).toBe(false); // I/O decoding still off
    b.cfg.write(0x04, 2, 0x0005);
    expect(b.io.has(0xd000) && b.io.has(0xd00f) && !b.io.has(0xd010)).toBe(true);
    expect(b.io.inb(0xd002) & 0x80).toBe(0); // not simplex: both channels may DMA at once
    expect(b.io.inb(0xd002) & 0x20).toBe(0x20); // drive 0 DMA capable
  });

  it('ata_piix finds both channels enabled in IDETIM (bit 15) without a BIOS', () => {
    const b = makeBench({ raw: true });
    expect(b.cfg.read(0x41, 1) & 0x80).toBe(0x80);
    expect(b.cfg.read(0x43, 1) & 0x80).toBe(0x80);
    // piix_set_timings rewrites the timing registers; they hold what it wrote.
    b.cfg.write(0x40, 2, 0xe307);
    b.cfg.write(0x44, 1, 0x0b);
    expect(b.cfg.read(0x40, 2)).toBe(0xe307 & 0xf3ff);
    expect(b.cfg.read(0x44, 1)).toBe(0x0b);
  });

  it('legacy ports float (0xFF) until PCICMD enables I/O, and when IDETIM decode is off', () => {
    const b = makeBench({ master: new MemDisk(MiB), raw: true });
    expect(b.ch0.status()).toBe(0xff);
    b.cfg.write(0x04, 2, 0x0001);
    expect(b.ch0.status()).toBe(0x50);
    b.cfg.write(0x40, 2, 0x0000); // primary decode off
    expect(b.ch0.status()).toBe(0xff);
    b.ch0.command(0xec);
    b.cfg.write(0x40, 2, 0x8000);
    expect(b.ch0.altStatus()).toBe(0x50); // the command written while undecoded never arrived
  });

  it('with bmiba the controller comes up as firmware leaves it: BAR4 placed, I/O and bus master on', () => {
    const b = makeBench({ master: new MemDisk(MiB), raw: true, extra: { bmiba: BMIBA } });
    expect(b.cfg.read(0x20, 4)).toBe(BMIBA | 1);
    expect(b.cfg.read(0x04, 2) & 0x5).toBe(0x5);
    expect(b.io.has(BMIBA)).toBe(true);
    expect(b.ch0.status()).toBe(0x50);
    expect(() => makeBench({ raw: true, extra: { bmiba: 0xc004 } })).toThrow(/16-byte aligned/);
  });

  it('rejects disks that are not whole sectors and identify strings that are not printable ASCII', () => {
    const b = makeBench({ raw: true });
    expect(() => b.ide.attachDisk(0, 0, new MemDisk(1000))).toThrow(/multiple of 512/);
    expect(() => b.ide.attachDisk(0, 0, new MemDisk(MiB), { model: 'disk\n' })).toThrow(/printable ASCII/);
    expect(() => b.ide.attachDisk(2, 0, new MemDisk(MiB))).toThrow(/channel 2/);
    b.ide.attachDisk(0, 1, new MemDisk(MiB));
    expect(() => b.ide.attachDisk(0, 1, new MemDisk(MiB))).toThrow(/already has a disk/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ATA_ABORTED, ATA_BUSY, ATA_DEV1, ATA_DRQ, ATA_ERR, ATA_HOB, ATA_IDNF, ATA_NIEN, ATA_SRST, ATA_UNC, CMD, MemDisk, firstDiff,
  SparseDisk, idString, idWords, lba28, lba48, makeBench, pioRead, pioWrite,
} from './ide-harness';

const MiB = 1024 * 1024;

async function identify(b: ReturnType<typeof makeBench>, dev = 0, width: 2 | 4 = 2): Promise<Uint16Array> {
  b.ch0.select(dev);
  const data = await pioRead(b.ch0, { device: dev ? ATA_DEV1 : 0 }, CMD.ID_ATA, 1, 1, width);
  return idWords(data);
}

describe('IDENTIFY DEVICE', () => {
  it('describes the disk so libata configures it: strings, capacity, features and DMA modes', async () => {
    const disk = new MemDisk(64 * MiB);
    const b = makeBench({ master: disk });
    const w = await identify(b);
    expect(w[0] & 0x8000).toBe(0); // ATA, not ATAPI
    expect(idString(w, 27, 20).trimEnd()).toBe('PVLAB VHD DISK');
    expect(idString(w, 10, 10).trim()).toBe('PVLAB-VHD-00');
    expect(idString(w, 23, 4).trimEnd()).toBe('1.0');
    const sectors = (64 * MiB) / 512;
    expect(w[60] | (w[61] << 16)).toBe(sectors);
    expect(w[100] + w[101] * 0x10000 + w[102] * 2 ** 32 + w[103] * 2 ** 48).toBe(sectors);
    expect(w[1] * w[3] * w[6]).toBeLessThanOrEqual(sectors); // default CHS fits the disk
    expect(w[49] & 0x0300).toBe(0x0300); // LBA and DMA
    expect(w[53] & 0x0007).toBe(0x0007); // words 54-58, 64-70, 88 valid
    expect(w[63] & 0x0007).toBe(0x0007); // MWDMA 0-2 (all ata_piix allows on PIIX3)
    expect(w[88] & 0x003f).toBe(0x003f); // UDMA 0-5
    expect(w[80] & 0x00f0).toBe(0x00f0); // ATA-4..7
    expect(w[83] & 0xc000).toBe(0x4000); // word 83 valid (Linux checks before trusting 82)
    expect(w[83] & 0x3400).toBe(0x3400); // FLUSH CACHE (EXT), 48-bit
    expect(w[86] & 0x3400).toBe(0x3400);
    expect(w[84] & 0xc000).toBe(0x4000);
    expect(w[87] & 0xc000).toBe(0x4000);
    expect(w[82] & 0x20).toBe(0x20); // write cache supported ...
    expect(w[85] & 0x20).toBe(0x20); // ... and on
    expect(w[47]).toBe(0x8010); // READ/WRITE MULTIPLE up to 16 sectors
    expect(w[59]).toBe(0x0110); // multiple mode on at 16 (libata uses it for PIO)
    expect(w[93] & 0xe000).toBe(0x6000); // 80-conductor cable seen
    // Integrity word: signature A5h and the checksum makes all bytes sum to 0.
    const bytes = new Uint8Array(w.buffer);
    expect(w[255] & 0xff).toBe(0xa5);
    expect(bytes.reduce((a, x) => a + x, 0) % 256).toBe(0);
  });

  it('gives the same data through 32-bit PIO (ata_piix sets ATA_PFLAG_PIO32)', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    const w16 = await identify(b, 0, 2);
    const w32 = await identify(b, 0, 4);
    expect(Array.from(w32)).toEqual(Array.from(w16));
  });

  it('caps the LBA28 capacity words on disks beyond 128 GiB and reports the full size in LBA48', async () => {
    const sectors = 2 ** 33 + 5; // 4 TiB
    const b = makeBench({ master: new SparseDisk(sectors * 512) });
    const w = await identify(b);
    expect(w[60] | (w[61] << 16)).toBe(0x0fffffff);
    expect(w[100] + w[101] * 0x10000 + w[102] * 2 ** 32 + w[103] * 2 ** 48).toBe(sectors);
    expect([w[1], w[3], w[6]]).toEqual([16383, 16, 63]);
  });

  it('raises the interrupt when data is ready, drops it on a Status read, and not again after the last word', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec({ device: 0 }, CMD.ID_ATA);
    expect(b.irq14.level).toBe(true);
    expect(b.ch0.altStatus()).toBe(0x58); // DRDY DSC DRQ
    expect(b.irq14.level).toBe(true); // Alternate Status leaves it pending
    expect(b.ch0.status()).toBe(0x58);
    expect(b.irq14.level).toBe(false);
    b.ch0.readData(512);
    expect(b.ch0.altStatus()).toBe(0x50);
    expect(b.irq14.rises).toBe(1);
  });
});

describe('reset and probing', () => {
  it('SRST leaves the ATA signature and device 0 selected', () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec({ nsect: 0x12, lbal: 0x34, lbam: 0x56, lbah: 0x78, device: 0 }, CMD.CHK_POWER);
    b.ch0.setCtl(ATA_SRST);
    expect(b.ch0.altStatus()).toBe(ATA_BUSY);
    b.ch0.setCtl(0);
    expect(b.ch0.status()).toBe(0x50);
    b.ch0.load({ nsect: 0x12, lbal: 0x34, lbam: 0x56, lbah: 0x78 });
    b.ch0.select(1);
    b.ch0.setCtl(ATA_SRST);
    b.ch0.setCtl(0);
    expect(b.ch0.status()).toBe(0x50);
    expect(b.ch0.error()).toBe(0x01); // diagnostics passed
    expect([b.ch0.reg(2), b.ch0.reg(3), b.ch0.reg(4), b.ch0.reg(5)]).toEqual([1, 1, 0, 0]);
    expect(b.ch0.reg(6) & ATA_DEV1).toBe(0);
    expect(b.irq14.level).toBe(false);
  });

  it('an absent slave reads Status 00h with device 0 answering for it, so libata neither waits nor finds it', () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    // ata_devchk on device 1: the pattern is latched (device 0 holds the shared registers).
    b.ch0.select(1);
    b.io.outb(0x1f2, 0x55);
    b.io.outb(0x1f3, 0xaa);
    expect([b.ch0.reg(2), b.ch0.reg(3)]).toEqual([0x55, 0xaa]);
    // ata_bus_softreset, then ata_sff_wait_after_reset with device 1 selected.
    b.ch0.select(0);
    b.ch0.setCtl(ATA_SRST);
    b.ch0.setCtl(0);
    b.ch0.select(1);
    expect([b.ch0.reg(2), b.ch0.reg(3)]).toEqual([1, 1]); // no 50 ms "breather"
    expect(b.ch0.status() & ATA_BUSY).toBe(0); // ata_sff_wait_ready returns at once
    // ata_sff_dev_classify: ATA signature, but Status 00h means "no device".
    expect(b.ch0.error()).toBe(0x01);
    expect([b.ch0.reg(4), b.ch0.reg(5)]).toEqual([0, 0]);
    expect(b.ch0.status()).toBe(0x00);
    expect(b.ch0.altStatus()).toBe(0x00);
    // Commands to the absent device go nowhere.
    b.ch0.command(CMD.ID_ATA);
    expect(b.irq14.level).toBe(false);
    b.ch0.select(0);
    expect(b.ch0.status()).toBe(0x50);
  });

  it('an empty channel floats at 7Fh: BSY clear, and the devchk pattern does not stick', () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    expect(b.ch1.status()).toBe(0x7f);
    b.io.outb(0x172, 0x55);
    b.io.outb(0x173, 0xaa);
    expect(b.ch1.reg(2)).not.toBe(0x55);
    expect(b.ch1.altStatus()).toBe(0x7f);
    b.ch1.command(CMD.ID_ATA);
    expect(b.irq15.rises).toBe(0);
  });

  it('a present slave answers for itself with its own registers', async () => {
    const master = new MemDisk(MiB);
    const slave = new MemDisk(2 * MiB);
    const b = makeBench({ master, slave });
    const w = await identify(b, 1);
    expect(w[60] | (w[61] << 16)).toBe((2 * MiB) / 512);
    expect(idString(w, 10, 10).trim()).toBe('PVLAB-VHD-01');
    const data = await pioRead(b.ch0, lba28(7, 1, 1), CMD.PIO_READ, 1);
    expect(data).toEqual(slave.sector(7));
  });

  it('EXECUTE DEVICE DIAGNOSTIC restores the signature and interrupts', () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec({ nsect: 9, lbal: 9, device: 0 }, CMD.EDD);
    expect(b.irq14.level).toBe(true);
    expect(b.ch0.status()).toBe(0x50);
    expect([b.ch0.error(), b.ch0.reg(2), b.ch0.reg(3)]).toEqual([1, 1, 1]);
  });
});

describe('PIO data transfers', () => {
  it('READ SECTORS: one interrupt and one DRQ block per sector, the disk contents in order', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    const data = await pioRead(b.ch0, lba28(100, 3), CMD.PIO_READ, 3);
    expect(data).toEqual(disk.sector(100, 3));
    expect(b.irq14.rises).toBe(3);
    expect(b.ch0.altStatus()).toBe(0x50);
  });

  it('READ SECTORS with a count of 0 means 256 sectors', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    const data = await pioRead(b.ch0, lba28(1, 0), CMD.PIO_READ, 256, 1, 4);
    expect(firstDiff(data, disk.sector(1, 256))).toBe(-1);
  });

  it('READ SECTORS EXT reaches sectors beyond 2^28 and 2^32 with the HOB registers', async () => {
    const disk = new SparseDisk((2 ** 33 + 64) * 512);
    const b = makeBench({ master: disk });
    for (const lba of [2 ** 28 + 3, 2 ** 32 + 17]) {
      const data = await pioRead(b.ch0, lba48(lba, 2), CMD.PIO_READ_EXT, 2);
      expect(data.subarray(0, 512)).toEqual(SparseDisk.pattern(lba));
      expect(data.subarray(512)).toEqual(SparseDisk.pattern(lba + 1));
    }
  });

  it('READ MULTIPLE moves a block of the multiple count per interrupt; SET MULTIPLE MODE checks its value', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ch0.exec({ nsect: 4, device: 0 }, CMD.SET_MULTI);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    const data = await pioRead(b.ch0, lba28(50, 10), CMD.READ_MULTI, 10, 4, 4);
    expect(data).toEqual(disk.sector(50, 10));
    expect(b.irq14.rises).toBe(1 + 3); // SET MULTIPLE, then blocks of 4, 4 and 2
    const w = await identify(b);
    expect(w[59]).toBe(0x0104);
    b.ch0.exec({ nsect: 3, device: 0 }, CMD.SET_MULTI);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_ABORTED);
    b.ch0.exec({ nsect: 0, device: 0 }, CMD.SET_MULTI); // multiple mode off
    await b.ch0.waitIrq();
    b.ch0.exec(lba28(0, 1), CMD.READ_MULTI);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_ABORTED);
  });

  it('READ MULTIPLE EXT reads 48-bit addresses in multiple blocks', async () => {
    const disk = new SparseDisk((2 ** 30) * 512);
    const b = makeBench({ master: disk });
    const lba = 2 ** 29 + 1000;
    const data = await pioRead(b.ch0, lba48(lba, 20), CMD.READ_MULTI_EXT, 20, 16);
    for (let i = 0; i < 20; i++) expect(data.subarray(i * 512, (i + 1) * 512)).toEqual(SparseDisk.pattern(lba + i));
  });

  it('WRITE SECTORS: DRQ for the first block without an interrupt, then an interrupt per block, data on the disk', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    const data = new Uint8Array(3 * 512).map((_, i) => (i * 31 + 7) & 0xff);
    b.ch0.exec(lba28(200, 3), CMD.PIO_WRITE);
    expect(b.irq14.level).toBe(false);
    expect(b.ch0.altStatus() & ATA_DRQ).toBe(ATA_DRQ);
    b.ch0.writeData(data.subarray(0, 512));
    expect(await b.ch0.waitIrq()).toBe(0x58);
    b.ch0.writeData(data.subarray(512, 1024), 4);
    expect(await b.ch0.waitIrq()).toBe(0x58);
    b.ch0.writeData(data.subarray(1024));
    expect(await b.ch0.waitIrq()).toBe(0x50); // command complete
    expect(disk.sector(200, 3)).toEqual(data);
    expect(disk.sector(203)).toEqual(new MemDisk(MiB).sector(203)); // neighbours untouched
  });

  it('WRITE SECTORS EXT and WRITE MULTIPLE (+EXT) land on the right 48-bit sectors', async () => {
    const disk = new SparseDisk(2 ** 34 * 512);
    const b = makeBench({ master: disk });
    const one = new Uint8Array(512).fill(0x11);
    expect(await pioWrite(b.ch0, lba48(2 ** 33 + 1, 1), CMD.PIO_WRITE_EXT, one)).toBe(0x50);
    expect(disk.written.get(2 ** 33 + 1)).toEqual(one);
    const many = new Uint8Array(20 * 512).map((_, i) => i >> 9);
    expect(await pioWrite(b.ch0, lba28(5000, 20), CMD.WRITE_MULTI, many, 16)).toBe(0x50);
    expect(await pioWrite(b.ch0, lba48(2 ** 32 + 5, 20), CMD.WRITE_MULTI_EXT, many, 16)).toBe(0x50);
    for (let i = 0; i < 20; i++) {
      expect(disk.written.get(5000 + i)).toEqual(many.subarray(i * 512, (i + 1) * 512));
      expect(disk.written.get(2 ** 32 + 5 + i)).toEqual(many.subarray(i * 512, (i + 1) * 512));
    }
  });

  it('a long write is committed to the disk in chunks, with BSY while each is written', async () => {
    const disk = new MemDisk(4 * MiB);
    const b = makeBench({ master: disk });
    const data = new Uint8Array(600 * 512).map((_, i) => (i * 13) >> 3);
    expect(await pioWrite(b.ch0, lba48(10, 600), CMD.PIO_WRITE_EXT, data)).toBe(0x50);
    expect(firstDiff(disk.sector(10, 600), data)).toBe(-1);
    expect(disk.log.filter((l) => l.startsWith('write'))).toEqual(['write 10 256', 'write 266 256', 'write 522 88']);
  });

  it('CHS addressing follows INITIALIZE DEVICE PARAMETERS', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ch0.exec({ nsect: 32, device: 0x07 }, CMD.INIT_DEV_PARAMS); // 8 heads, 32 sectors per track
    expect(await b.ch0.waitIrq()).toBe(0x50);
    const w = await identify(b);
    expect([w[55], w[56]]).toEqual([8, 32]);
    // cylinder 1, head 2, sector 3 = LBA (1 * 8 + 2) * 32 + 2
    const data = await pioRead(b.ch0, { nsect: 1, lbal: 3, lbam: 1, lbah: 0, device: 0x02 }, CMD.PIO_READ, 1);
    expect(data).toEqual(disk.sector(322));
    b.ch0.exec({ nsect: 1, lbal: 0, lbam: 0, lbah: 0, device: 0x00 }, CMD.PIO_READ); // sector 0 does not exist
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_IDNF);
  });
});

describe('errors and other commands', () => {
  it('a range past the end of the disk fails with IDNF and reports the address', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec(lba28(2040, 10), CMD.PIO_READ);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_IDNF);
    expect(b.ch0.reg(3) | (b.ch0.reg(4) << 8)).toBe(2040);
  });

  it('unknown commands, ATAPI PACKET / IDENTIFY PACKET, DEVICE RESET and SMART abort with ERR + ABRT', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    for (const cmd of [0x55, CMD.PACKET, CMD.ID_ATAPI, CMD.DEV_RESET, CMD.SMART]) {
      b.ch0.exec({ device: 0 }, cmd);
      expect(await b.ch0.waitIrq()).toBe(0x51);
      expect(b.ch0.error()).toBe(ATA_ABORTED);
    }
    // The device is still usable afterwards.
    b.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    expect(await b.ch0.waitIrq()).toBe(0x50);
  });

  it('a disk read error ends the command with UNC and the failing address', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    disk.failNext = true;
    b.ch0.exec(lba28(77, 2), CMD.PIO_READ);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_UNC);
    expect(b.ch0.reg(3)).toBe(77);
    expect(b.logs.join('\n')).toMatch(/read of 2 sectors at 77 failed: injected I\/O error/);
  });

  it('a read-only disk refuses writes with ABRT before any data phase', async () => {
    const disk = new MemDisk(MiB, true);
    const b = makeBench({ master: disk });
    b.ch0.exec(lba28(0, 1), CMD.PIO_WRITE);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_ABORTED);
  });

  it('SET FEATURES selects the transfer mode libata asks for, and refuses modes that do not exist', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    const setXfer = async (mode: number) => {
      b.ch0.exec({ feature: 0x03, nsect: mode, device: 0 }, CMD.SET_FEATURES);
      return b.ch0.waitIrq();
    };
    expect(await setXfer(0x0c)).toBe(0x50); // PIO4
    expect(await setXfer(0x22)).toBe(0x50); // MWDMA2: what ata_piix picks on a PIIX3
    let w = await identify(b);
    expect(w[63] & 0x0700).toBe(0x0400);
    expect(w[88] & 0x7f00).toBe(0);
    expect(await setXfer(0x45)).toBe(0x50); // UDMA5
    w = await identify(b);
    expect(w[88] & 0x7f00).toBe(0x2000);
    expect(w[63] & 0x0700).toBe(0);
    expect(await setXfer(0x47)).toBe(0x51); // UDMA7 is not supported
    expect(b.ch0.error()).toBe(ATA_ABORTED);
    b.ch0.exec({ feature: 0x99, device: 0 }, CMD.SET_FEATURES);
    expect(await b.ch0.waitIrq()).toBe(0x51);
  });

  it('with the write cache turned off every write is flushed; FLUSH CACHE (EXT) flushes and interrupts when done', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ch0.exec({ feature: 0x82, device: 0 }, CMD.SET_FEATURES);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    expect((await identify(b))[85] & 0x20).toBe(0);
    await pioWrite(b.ch0, lba28(3, 1), CMD.PIO_WRITE, new Uint8Array(512).fill(1));
    expect(disk.log.slice(-2)).toEqual(['write 3 1', 'flush']);
    for (const cmd of [CMD.FLUSH, CMD.FLUSH_EXT]) {
      const before = disk.flushes;
      b.ch0.exec({ device: 0 }, cmd);
      expect(b.ch0.altStatus() & ATA_BUSY).toBe(ATA_BUSY);
      expect(await b.ch0.waitIrq()).toBe(0x50);
      expect(disk.flushes).toBe(before + 1);
    }
  });

  it('CHECK POWER MODE reports active; IDLE/STANDBY IMMEDIATE complete; READ VERIFY checks the range', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec({ nsect: 0, device: 0 }, CMD.CHK_POWER);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    expect(b.ch0.reg(2)).toBe(0xff);
    for (const cmd of [CMD.IDLEIMMEDIATE, CMD.STANDBYNOW1]) {
      b.ch0.exec({ device: 0 }, cmd);
      expect(await b.ch0.waitIrq()).toBe(0x50);
    }
    b.ch0.exec(lba28(0, 8), CMD.VERIFY);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    b.ch0.exec(lba28(2047, 8), CMD.VERIFY);
    expect(await b.ch0.waitIrq()).toBe(0x51);
  });

  it('READ NATIVE MAX ADDRESS (EXT) returns the last sector, the high half through HOB', async () => {
    const sectors = 2 ** 40 + 12345;
    const b = makeBench({ master: new SparseDisk(sectors * 512) });
    b.ch0.exec({ device: 0x40 }, CMD.READ_NATIVE_MAX);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    const low28 = b.ch0.reg(3) | (b.ch0.reg(4) << 8) | (b.ch0.reg(5) << 16) | ((b.ch0.reg(6) & 0x0f) << 24);
    expect(low28).toBe(2 ** 28 - 1);
    b.ch0.exec({ device: 0x40 }, CMD.READ_NATIVE_MAX_EXT);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    const low = b.ch0.reg(3) | (b.ch0.reg(4) << 8) | (b.ch0.reg(5) << 16);
    b.ch0.setCtl(ATA_HOB);
    const high = b.ch0.reg(3) | (b.ch0.reg(4) << 8) | (b.ch0.reg(5) << 16);
    b.ch0.setCtl(0);
    expect(high * 2 ** 24 + low).toBe(sectors - 1);
  });

  it('HOB reads show the previous value of each taskfile register until any taskfile write clears HOB', () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.load(lba48(0x0a0b0c0d0e0f, 0x1234));
    b.ch0.setCtl(ATA_HOB);
    expect([b.ch0.reg(2), b.ch0.reg(3), b.ch0.reg(4), b.ch0.reg(5)]).toEqual([0x12, 0x0c, 0x0b, 0x0a]);
    b.io.outb(0x1f1, 0); // a taskfile write clears HOB
    expect([b.ch0.reg(2), b.ch0.reg(3)]).toEqual([0x34, 0x0f]);
  });

  it('nIEN holds the interrupt back; it asserts when nIEN clears while still pending', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.setCtl(ATA_NIEN);
    b.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    expect(b.irq14.level).toBe(false);
    expect(b.ch0.altStatus()).toBe(0x50);
    b.ch0.setCtl(0);
    expect(b.irq14.level).toBe(true);
    b.ch0.status();
    expect(b.irq14.level).toBe(false);
    // A polled command acknowledged by a Status read never raises the line.
    b.ch0.setCtl(ATA_NIEN);
    b.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    b.ch0.status();
    b.ch0.setCtl(0);
    expect(b.irq14.rises).toBe(1);
  });

  it('only the selected device drives the interrupt line', async () => {
    const b = makeBench({ master: new MemDisk(MiB), slave: new MemDisk(MiB) });
    b.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    expect(b.irq14.level).toBe(true);
    b.ch0.select(1);
    expect(b.irq14.level).toBe(false);
    b.ch0.select(0);
    expect(b.irq14.level).toBe(true);
  });

  it('commands written while the device is busy are ignored', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ch0.exec(lba28(0, 1), CMD.PIO_READ);
    expect(b.ch0.altStatus() & ATA_BUSY).toBe(ATA_BUSY);
    b.ch0.command(CMD.ID_ATA);
    b.io.outb(0x1f3, 0x99); // taskfile writes too
    const status = await b.ch0.waitIrq();
    expect(status & (ATA_DRQ | ATA_ERR)).toBe(ATA_DRQ);
    expect(b.ch0.readData(512)).toEqual(disk.sector(0));
  });
});

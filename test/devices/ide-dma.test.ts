import { describe, expect, it } from 'vitest';
import {
  ATA_ABORTED, ATA_BUSY, ATA_DMA_ACTIVE, ATA_DMA_ERR, ATA_DMA_INTR, ATA_DMA_START, ATA_DMA_WR, ATA_SRST, BMIBA, CMD,
  MemDisk, SparseDisk, firstDiff, lba28, lba48, makeBench,
} from './ide-harness';

const MiB = 1024 * 1024;
const PRD = 0x1000; // where the tests put their PRD tables (ata_bmdma_port_start allocates one page)

describe('bus-master DMA as libata drives it', () => {
  it('READ DMA into one region: data in RAM, INTR set, ACTIVE clear (table used up), Status clean', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ram.prdTable(PRD, [[0x20000, 8 * 512, true]]);
    const { status, bmStatus } = await b.ch0.dma(PRD, true, lba28(40, 8), CMD.READ);
    expect(status).toBe(0x50);
    expect(bmStatus & (ATA_DMA_INTR | ATA_DMA_ERR | ATA_DMA_ACTIVE)).toBe(ATA_DMA_INTR);
    expect(firstDiff(b.ram.bytes.slice(0x20000, 0x20000 + 4096), disk.sector(40, 8))).toBe(-1);
    expect(b.ch0.bmStatus() & (ATA_DMA_INTR | ATA_DMA_ERR)).toBe(0); // ata_bmdma_irq_clear
    expect(b.irq14.level).toBe(false);
    expect(b.irq14.rises).toBe(1);
  });

  it('scatters a read over several regions in table order', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    const regions: [number, number, boolean?][] = [[0x30000, 512], [0x10000, 1024], [0x50200, 1536], [0x40000, 1024, true]];
    b.ram.prdTable(PRD, regions);
    const { status } = await b.ch0.dma(PRD, true, lba28(300, 8), CMD.READ);
    expect(status).toBe(0x50);
    let off = 0;
    const expected = disk.sector(300, 8);
    for (const [addr, count] of regions) {
      expect(firstDiff(b.ram.bytes.slice(addr, addr + count), expected.subarray(off, off + count))).toBe(-1);
      off += count;
    }
    expect(b.ram.bytes[0x30000 + 512]).toBe(0); // nothing past a region
  });

  it('a byte count of 0 in a PRD entry means 64 KiB (READ DMA EXT of 128 sectors into one entry)', async () => {
    const disk = new MemDisk(4 * MiB);
    const b = makeBench({ master: disk });
    b.ram.prdTable(PRD, [[0x100000, 0x10000, true]]); // stored as count 0
    const { status, bmStatus } = await b.ch0.dma(PRD, true, lba48(1000, 128), CMD.READ_EXT);
    expect(status).toBe(0x50);
    expect(bmStatus & ATA_DMA_ACTIVE).toBe(0);
    expect(firstDiff(b.ram.bytes.slice(0x100000, 0x110000), disk.sector(1000, 128))).toBe(-1);
  });

  it('a read larger than the device chunk goes through in order, with one interrupt at the end', async () => {
    const disk = new MemDisk(4 * MiB);
    const b = makeBench({ master: disk });
    const entries: [number, number, boolean?][] = [];
    for (let i = 0; i < 4; i++) entries.push([0x100000 + i * 0x10000, 0x10000, false]);
    entries.push([0x200000, 600 * 512 - 4 * 0x10000, true]);
    b.ram.prdTable(PRD, entries);
    const { status } = await b.ch0.dma(PRD, true, lba48(7, 600), CMD.READ_EXT);
    expect(status).toBe(0x50);
    const got = new Uint8Array(600 * 512);
    got.set(b.ram.bytes.subarray(0x100000, 0x140000), 0);
    got.set(b.ram.bytes.subarray(0x200000, 0x200000 + 600 * 512 - 0x40000), 0x40000);
    expect(firstDiff(got, disk.sector(7, 600))).toBe(-1);
    expect(disk.log).toEqual(['read 7 256', 'read 263 256', 'read 519 88']);
    expect(b.irq14.rises).toBe(1);
  });

  it('WRITE DMA gathers the regions onto the disk; WRITE DMA EXT reaches 48-bit sectors', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    for (let i = 0; i < 4096; i++) b.ram.bytes[0x60000 + i] = (i * 7 + 3) & 0xff;
    b.ram.prdTable(PRD, [[0x60000, 1024], [0x60400, 3072, true]]);
    const { status, bmStatus } = await b.ch0.dma(PRD, false, lba28(500, 8), CMD.WRITE);
    expect(status).toBe(0x50);
    expect(bmStatus & (ATA_DMA_INTR | ATA_DMA_ERR)).toBe(ATA_DMA_INTR);
    expect(firstDiff(disk.sector(500, 8), b.ram.bytes.slice(0x60000, 0x61000))).toBe(-1);

    const big = new SparseDisk(2 ** 36 * 512);
    const b2 = makeBench({ master: big });
    b2.ram.bytes.fill(0x5a, 0x70000, 0x70400);
    b2.ram.prdTable(PRD, [[0x70000, 1024, true]]);
    const r = await b2.ch0.dma(PRD, false, lba48(2 ** 35 + 9, 2), CMD.WRITE_EXT);
    expect(r.status).toBe(0x50);
    expect(big.written.get(2 ** 35 + 10)).toEqual(new Uint8Array(512).fill(0x5a));
  });

  it('works whichever comes first, the start bit or the command', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ram.prdTable(PRD, [[0x20000, 512, true]]);
    b.io.outl(BMIBA + 4, PRD);
    b.io.outb(BMIBA, ATA_DMA_WR | ATA_DMA_START);
    expect(b.ch0.bmStatus() & ATA_DMA_ACTIVE).toBe(ATA_DMA_ACTIVE);
    b.ch0.exec(lba28(9, 1), CMD.READ);
    expect(await b.ch0.waitIrq()).toBe(0x50);
    expect(firstDiff(b.ram.bytes.slice(0x20000, 0x20200), disk.sector(9))).toBe(-1);
  });

  it('a PRD table larger than the transfer: INTR with ACTIVE still set until the driver stops the engine', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ram.prdTable(PRD, [[0x20000, 8192, true]]);
    const { status, bmStatus } = await b.ch0.dma(PRD, true, lba28(0, 2), CMD.READ);
    expect(status).toBe(0x50);
    expect(bmStatus & (ATA_DMA_INTR | ATA_DMA_ACTIVE)).toBe(ATA_DMA_INTR | ATA_DMA_ACTIVE);
    expect(b.ch0.bmStatus() & ATA_DMA_ACTIVE).toBe(0); // after ata_bmdma_stop
  });

  it('a PRD table smaller than the transfer: the engine stops without an interrupt; SRST recovers', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ram.prdTable(PRD, [[0x20000, 1024, true]]);
    b.ch0.dmaSetup(PRD, true, lba28(0, 4), CMD.READ);
    b.ch0.dmaStart();
    for (let i = 0; i < 50; i++) await b.step();
    expect(b.irq14.rises).toBe(0);
    expect(b.ch0.bmStatus() & (ATA_DMA_INTR | ATA_DMA_ACTIVE | ATA_DMA_ERR)).toBe(0);
    expect(b.ch0.altStatus() & ATA_BUSY).toBe(ATA_BUSY);
    expect(firstDiff(b.ram.bytes.slice(0x20000, 0x20400), disk.sector(0, 2))).toBe(-1);
    expect(b.ram.bytes[0x20400]).toBe(0);
    // libata's timeout handling: stop the engine, reset the channel.
    b.ch0.dmaStop();
    b.ch0.setCtl(ATA_SRST);
    b.ch0.setCtl(0);
    expect(b.ch0.status()).toBe(0x50);
    const r = await b.ch0.dma(PRD, true, lba28(3, 2), CMD.READ);
    expect(r.status).toBe(0x50);
  });

  it('starting the engine again after a stop picks the transfer up with a fresh table', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    b.ram.prdTable(PRD, [[0x20000, 512, true]]);
    b.ch0.dmaSetup(PRD, true, lba28(0, 2), CMD.READ);
    b.ch0.dmaStart();
    for (let i = 0; i < 20; i++) await b.step();
    expect(b.ch0.bmStatus() & ATA_DMA_ACTIVE).toBe(0);
    b.ch0.dmaStop();
    b.ram.prdTable(PRD, [[0x30000, 512, true]]);
    b.ch0.dmaStart();
    expect(await b.ch0.waitIrq()).toBe(0x50);
    expect(firstDiff(b.ram.bytes.slice(0x30000, 0x30200), disk.sector(1))).toBe(-1);
  });

  it('both channels run DMA at the same time (the controller is not simplex)', async () => {
    const d0 = new MemDisk(MiB);
    const d1 = new MemDisk(2 * MiB);
    const b = makeBench({ master: d0, secondaryMaster: d1 });
    b.ram.prdTable(PRD, [[0x20000, 4096, true]]);
    b.ram.prdTable(PRD + 0x100, [[0x30000, 4096, true]]);
    b.ch0.dmaSetup(PRD, true, lba28(10, 8), CMD.READ);
    b.ch1.dmaSetup(PRD + 0x100, true, lba28(20, 8), CMD.READ);
    b.ch0.dmaStart();
    b.ch1.dmaStart();
    expect(await b.ch0.waitIrq()).toBe(0x50);
    expect(await b.ch1.waitIrq()).toBe(0x50);
    expect(firstDiff(b.ram.bytes.slice(0x20000, 0x21000), d0.sector(10, 8))).toBe(-1);
    expect(firstDiff(b.ram.bytes.slice(0x30000, 0x31000), d1.sector(20, 8))).toBe(-1);
  });

  it('BMIDE status: INTR and ERR clear by writing 1, the drive-capable bits hold, ACTIVE is read-only', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ch0.exec({ device: 0 }, 0x55); // an aborted command still interrupts
    expect(b.ch0.bmStatus() & ATA_DMA_INTR).toBe(ATA_DMA_INTR);
    b.io.outb(BMIBA + 2, 0x60 | ATA_DMA_ACTIVE);
    expect(b.ch0.bmStatus()).toBe(0x60 | ATA_DMA_INTR);
    b.io.outb(BMIBA + 2, ATA_DMA_INTR);
    expect(b.ch0.bmStatus()).toBe(0);
    b.io.outl(BMIBA + 4, 0x12345677);
    expect(b.io.inl(BMIBA + 4)).toBe(0x12345674); // dword aligned
  });
});

describe('bus-master DMA against a hostile guest', () => {
  async function expectDmaFault(b: ReturnType<typeof makeBench>, toMemory: boolean, cmd: number, why: RegExp) {
    const { status, bmStatus } = await b.ch0.dma(PRD, toMemory, lba28(0, 2), cmd);
    expect(status).toBe(0x51);
    expect(b.ch0.error()).toBe(ATA_ABORTED);
    expect(bmStatus & (ATA_DMA_ERR | ATA_DMA_INTR | ATA_DMA_ACTIVE)).toBe(ATA_DMA_ERR | ATA_DMA_INTR);
    expect(b.logs.join('\n')).toMatch(why);
    // The channel still works afterwards.
    b.ram.prdTable(PRD, [[0x20000, 1024, true]]);
    const ok = await b.ch0.dma(PRD, true, lba28(0, 2), CMD.READ);
    expect(ok.status).toBe(0x50);
  }

  it('a region outside guest RAM sets ERR and aborts the command; nothing is written', async () => {
    const b = makeBench({ master: new MemDisk(MiB), ramSize: MiB });
    // The second region starts inside RAM, but the 512 bytes it must take run past the end.
    b.ram.prdTable(PRD, [[0x20000, 512], [MiB - 256, 1024, true]]);
    const before = b.ram.bytes.slice();
    await expectDmaFault(b, true, CMD.READ, /region 0xfff00\+512 is outside guest RAM/);
    expect(firstDiff(b.ram.bytes.subarray(MiB - 256), before.subarray(MiB - 256))).toBe(-1);
  });

  it('a write from outside guest RAM faults the same way and leaves the disk alone', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk, ramSize: MiB });
    b.ram.prdTable(PRD, [[0xfffff000, 1024, true]]);
    await expectDmaFault(b, false, CMD.WRITE, /outside guest RAM/);
    expect(disk.log.filter((l) => l.startsWith('write'))).toEqual([]);
  });

  it('a PRD table outside guest RAM faults', async () => {
    const b = makeBench({ master: new MemDisk(MiB), ramSize: MiB });
    b.ch0.dmaSetup(0xf0000000, true, lba28(0, 1), CMD.READ);
    b.ch0.dmaStart();
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.bmStatus() & (ATA_DMA_ERR | ATA_DMA_ACTIVE)).toBe(ATA_DMA_ERR);
    expect(b.logs.join('\n')).toMatch(/PRD entry at 0xf0000000 is outside guest RAM/);
  });

  it('a table of tiny entries without EOT that runs past its 64 KiB region faults instead of walking on', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    const table = 0x2fff0; // two entries fit before the 64 KiB boundary
    b.ram.prdTable(table, [[0x20000, 2], [0x20002, 2], [0x20004, 2]]);
    b.ch0.dmaSetup(table, true, lba28(0, 1), CMD.READ);
    b.ch0.dmaStart();
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.bmStatus() & ATA_DMA_ERR).toBe(ATA_DMA_ERR);
    expect(b.logs.join('\n')).toMatch(/runs past its 64 KiB region without EOT/);
  });

  it('an all-zero table (64 KiB regions at 0, no EOT) is legal: the transfer completes, ACTIVE stays set', async () => {
    const disk = new MemDisk(MiB);
    const b = makeBench({ master: disk });
    const { status, bmStatus } = await b.ch0.dma(PRD + 0x800, true, lba28(5, 1), CMD.READ);
    expect(status).toBe(0x50);
    expect(bmStatus & (ATA_DMA_INTR | ATA_DMA_ACTIVE | ATA_DMA_ERR)).toBe(ATA_DMA_INTR | ATA_DMA_ACTIVE);
    expect(firstDiff(b.ram.bytes.slice(0, 512), disk.sector(5))).toBe(-1);
  });

  it('the engine running in the wrong direction, or with bus mastering off, is an error, not a transfer', async () => {
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ram.prdTable(PRD, [[0x20000, 1024, true]]);
    b.ch0.load(lba28(0, 2));
    b.io.outl(BMIBA + 4, PRD);
    b.io.outb(BMIBA, 0); // engine set to read memory ...
    b.ch0.command(CMD.READ); // ... for a command that writes memory
    b.io.outb(BMIBA, ATA_DMA_START);
    expect(await b.ch0.waitIrq()).toBe(0x51);
    expect(b.ch0.bmStatus() & ATA_DMA_ERR).toBe(ATA_DMA_ERR);
    expect(b.ram.bytes[0x20000]).toBe(0);
    b.ch0.dmaStop();
    b.ch0.bmIrqClear();

    b.cfg.write(0x04, 2, 0x0001); // I/O only, no bus master
    const r = await b.ch0.dma(PRD, true, lba28(0, 2), CMD.READ);
    expect(r.status).toBe(0x51);
    expect(r.bmStatus & ATA_DMA_ERR).toBe(ATA_DMA_ERR);
    expect(b.ram.bytes[0x20000]).toBe(0);
    expect(b.logs.join('\n')).toMatch(/bus mastering is disabled/);
  });
});

import { describe, expect, it } from 'vitest';
import type { StateRecord } from '../../engine-ts/platform/bus';
import {
  ATA_BUSY, ATA_DRQ, ATA_SRST, CMD, ManualDisk, MemDisk, firstDiff, lba28, makeBench, pioRead, pioWrite,
} from './ide-harness';

const MiB = 1024 * 1024;
const PRD = 0x1000;

/** A disk that answers only after the host's event loop has turned a few times (IndexedDB-like). */
class SlowDisk extends MemDisk {
  private async later(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  }
  override async read(sector: number, dst: Uint8Array): Promise<void> {
    await this.later();
    return super.read(sector, dst);
  }
  override async write(sector: number, src: Uint8Array): Promise<void> {
    await this.later();
    return super.write(sector, src);
  }
  override async flush(): Promise<void> {
    await this.later();
    return super.flush();
  }
}

describe('disk I/O completions in guest time', () => {
  it('completes in submission order: a later command on the other channel waits for an earlier one', async () => {
    const d0 = new ManualDisk(MiB);
    const d1 = new ManualDisk(MiB);
    let hostDone = 0;
    const b = makeBench({ master: d0, secondaryMaster: d1, extra: { onHostIoDone: () => hostDone++ } });
    const order: string[] = [];
    for (const [name, irq] of [['ide0', b.irq14], ['ide1', b.irq15]] as const) {
      const set = irq.set.bind(irq);
      irq.set = (level: boolean) => {
        if (level && !irq.level) order.push(name);
        set(level);
      };
    }
    b.ch0.exec(lba28(1, 1), CMD.PIO_READ);
    b.ch1.exec(lba28(2, 1), CMD.PIO_READ);
    d1.settle('read 2');
    for (let i = 0; i < 20; i++) await b.step();
    expect(order).toEqual([]); // ide1's data is back, but ide0's command came first
    expect(b.ide.waitingForHost).toBe(true);
    expect(hostDone).toBe(1);
    let ready = false;
    const whenReady = b.ide.hostReady().then(() => (ready = true));
    await new Promise<void>((r) => setImmediate(r));
    expect(ready).toBe(false);
    d0.settle('read 1');
    await whenReady;
    expect(hostDone).toBe(2);
    await b.until(() => b.irq15.level, 'ide1');
    expect(order).toEqual(['ide0', 'ide1']);
    expect(b.irq14.riseTimes[0]).toBe(b.irq15.riseTimes[0]);
    expect(b.ch0.readData(512)).toEqual(d0.sector(1));
    expect(b.ch1.readData(512)).toEqual(d1.sector(2));
  });

  it('a completion lands at submission time + the latency model, in guest time', async () => {
    const b = makeBench({ master: new MemDisk(MiB), timing: { commandNs: 1000, nsPerSector: 10 } });
    b.clock.advance(5000);
    b.ch0.exec(lba28(0, 8), CMD.PIO_READ);
    await b.ch0.waitIrq();
    expect(b.irq14.riseTimes).toEqual([5000 + 1000 + 8 * 10]);
  });

  it('the guest sees the same interrupt times whether the host disk is instant or slow', async () => {
    async function scenario(makeDisk: () => MemDisk): Promise<number[]> {
      const disk = makeDisk();
      const b = makeBench({ master: disk });
      await pioRead(b.ch0, lba28(10, 3), CMD.PIO_READ, 3);
      b.clock.advance(777);
      b.ram.prdTable(PRD, [[0x100000, 0x10000], [0x110000, 300 * 512 - 0x10000, true]]);
      await b.ch0.dma(PRD, true, lba28(100, 300), CMD.READ);
      await pioWrite(b.ch0, lba28(5, 2), CMD.PIO_WRITE, new Uint8Array(1024).fill(9));
      b.ch0.exec({ device: 0 }, CMD.FLUSH);
      await b.ch0.waitIrq();
      return b.irq14.riseTimes;
    }
    const fast = await scenario(() => new MemDisk(MiB));
    const slow = await scenario(() => new SlowDisk(MiB));
    expect(fast.length).toBe(3 + 1 + 2 + 1);
    expect(slow).toEqual(fast);
    for (let i = 1; i < fast.length; i++) expect(fast[i]).toBeGreaterThanOrEqual(fast[i - 1]);
    expect(fast[fast.length - 1]).toBeGreaterThan(fast[0]);
  });

  it('a run loop that does not wait still gets the completion, just later in guest time', async () => {
    const disk = new ManualDisk(MiB);
    const b = makeBench({ master: disk, timing: { commandNs: 100, nsPerSector: 0 } });
    b.ch0.exec(lba28(3, 1), CMD.PIO_READ);
    b.clock.advance(10_000);
    b.clock.runDue();
    expect(b.ide.waitingForHost).toBe(true);
    expect(b.ch0.altStatus() & ATA_BUSY).toBe(ATA_BUSY);
    disk.settle('read 3');
    await new Promise<void>((r) => setImmediate(r));
    expect(b.ide.waitingForHost).toBe(false);
    expect(b.irq14.riseTimes).toEqual([10_000]); // not at its deadline (100): the host was late
    expect(b.ch0.status() & ATA_DRQ).toBe(ATA_DRQ);
  });

  it('a soft reset drops the late completion of the command it interrupted', async () => {
    const disk = new ManualDisk(MiB);
    const b = makeBench({ master: disk });
    b.ch0.exec(lba28(1, 1), CMD.PIO_READ);
    b.ch0.setCtl(ATA_SRST);
    b.ch0.setCtl(0);
    expect(b.ch0.status()).toBe(0x50);
    b.ch0.exec(lba28(2, 1), CMD.PIO_READ);
    disk.settle('read 1');
    for (let i = 0; i < 10; i++) await b.step();
    expect(b.irq14.rises).toBe(0);
    disk.settle('read 2');
    expect(await b.ch0.waitIrq()).toBe(0x58);
    expect(b.ch0.readData(512)).toEqual(disk.sector(2));
  });
});

describe('VM-exit accounting', () => {
  it('counts port accesses per channel: PIO costs an exit per word, DMA a handful per command', async () => {
    const b = makeBench({ master: new MemDisk(MiB), secondaryMaster: new MemDisk(MiB) });
    await pioRead(b.ch0, lba28(0, 8), CMD.PIO_READ, 8, 1, 2);
    // taskfile (5) + device + command + per sector: Status read + 256 data words
    expect(b.ide.stats(0).portAccesses).toBe(7 + 8 * (1 + 256));
    expect(b.ide.stats(0).bytesRead).toBe(4096);

    await pioRead(b.ch1, lba28(0, 8), CMD.PIO_READ, 8, 1, 4);
    expect(b.ide.stats(1).portAccesses).toBe(7 + 8 * (1 + 128)); // 32-bit PIO halves the exits

    const pio = b.ide.stats(0).portAccesses;
    b.ram.prdTable(PRD, [[0x20000, 4096, true]]);
    await b.ch0.dma(PRD, true, lba28(0, 8), CMD.READ);
    // taskfile + device, PRD address, read/write BMIC, command, start (read + write), BMIS,
    // stop (read + write + Alternate Status), Status, clear (read + write)
    expect(b.ide.stats(0).portAccesses - pio).toBe(6 + 1 + 2 + 1 + 2 + 1 + 3 + 1 + 2);
    expect(b.ide.stats(0).bytesRead).toBe(8192);
    expect(b.ide.ioExitsPerMiB(1)).toBe((7 + 8 * 129) * 256); // 4 KiB moved = 1/256 MiB
    expect(b.ide.stats(0).commands).toBe(2);
  });
});

describe('state', () => {
  it('saves mid-transfer and resumes on a fresh controller with the same disk', async () => {
    const disk = new MemDisk(MiB);
    const a = makeBench({ master: disk });
    a.ch0.exec(lba28(20, 3), CMD.PIO_READ);
    await a.ch0.waitIrq();
    const first = a.ch0.readData(512 + 256);
    const saved = a.ide.saveState();

    const b = makeBench({ master: disk });
    b.ide.loadState(structuredClone(saved), 1);
    const rest = b.ch0.readData(256);
    expect(await b.ch0.waitIrq()).toBe(0x58);
    const last = b.ch0.readData(512);
    const all = new Uint8Array(1536);
    all.set(first, 0);
    all.set(rest, 768);
    all.set(last, 1024);
    expect(firstDiff(all, disk.sector(20, 3))).toBe(-1);
    expect(b.ch0.altStatus()).toBe(0x50);
  });

  it('restores a pending interrupt onto the line', async () => {
    const a = makeBench({ master: new MemDisk(MiB) });
    a.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    const saved = a.ide.saveState();
    const b = makeBench({ master: new MemDisk(MiB) });
    b.ide.loadState(saved, 1);
    expect(b.irq14.level).toBe(true);
    expect(b.ch0.status()).toBe(0x50);
    expect(b.ch0.reg(2)).toBe(0xff);
  });

  it('refuses to save while disk I/O is in flight', () => {
    const b = makeBench({ master: new ManualDisk(MiB) });
    b.ch0.exec(lba28(0, 1), CMD.PIO_READ);
    expect(b.ide.ioIdle).toBe(false);
    expect(() => b.ide.saveState()).toThrow(/in flight/);
  });

  it('rejects a record that does not fit the attached disks, and changes nothing', async () => {
    const a = makeBench({ master: new MemDisk(MiB) });
    const saved = a.ide.saveState();
    const b = makeBench({ master: new MemDisk(2 * MiB) });
    b.ch0.exec({ device: 0 }, CMD.CHK_POWER);
    expect(() => b.ide.loadState(saved, 1)).toThrow(/2048 sectors.*4096/);
    expect(b.irq14.level).toBe(true); // untouched
    const c = makeBench({ master: new MemDisk(MiB), slave: new MemDisk(MiB) });
    expect(() => c.ide.loadState(saved, 1)).toThrow(/drives\[1\] was absent when saved/);
    const broken = structuredClone(saved) as StateRecord;
    (broken.channels as StateRecord[])[0].selected = 7;
    expect(() => a.ide.loadState(broken, 1)).toThrow(/piix-ide\.channels\[0\]\.selected is 7, outside \[0, 1\]/);
  });
});

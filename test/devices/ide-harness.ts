// Test bench for the PIIX3 IDE controller: the PIIX3 wired on a PCI bus as the board does
// (ISA bridge at 1.0, IDE at 1.1), an in-memory disk, guest RAM, IRQ lines that record
// edges, and a small driver that talks to the controller the way libata-sff / ata_piix do
// (config mechanism #1, taskfile loads, Status polling, BMDMA setup/start/stop).

import type { GuestMemory } from '../../engine-ts/platform/bus';
import { BufferGuestMemory } from '../../engine-ts/worker/machine-memory';
import type { BlockDevice } from '../../engine-ts/disk/block-device';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { PciBus } from '../../engine-ts/devices/pci/pci-bus';
import { Piix3IsaBridge } from '../../engine-ts/devices/pci/piix3';
import { PiixIde, type PiixIdeOptions } from '../../engine-ts/devices/ide-piix/piix-ide';
import type { HostIoTiming } from '../../engine-ts/platform/host-io-queue';
import { RecordingIrq, TestPorts } from './helpers';

// ---- disks -----------------------------------------------------------------------------------

/** A disk in memory whose operations complete on the next microtask. */
export class MemDisk implements BlockDevice {
  readonly data: Uint8Array;
  flushes = 0;
  readonly log: string[] = [];
  /** Make the next read or write reject. */
  failNext = false;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.data = new Uint8Array(size);
    // A recognisable pattern: every sector starts with its number.
    for (let s = 0; s < Math.floor(size / 512); s++) {
      const dv = new DataView(this.data.buffer, s * 512, 512);
      dv.setUint32(0, s, true);
      for (let i = 4; i < 512; i++) this.data[s * 512 + i] = (s * 7 + i) & 0xff;
    }
  }
  private check(sector: number, length: number): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('injected I/O error');
    }
    if (sector < 0 || length % 512 !== 0 || sector * 512 + length > this.size) throw new Error(`out of range: ${sector}+${length}`);
  }
  async read(sector: number, dst: Uint8Array): Promise<void> {
    this.check(sector, dst.length);
    this.log.push(`read ${sector} ${dst.length / 512}`);
    dst.set(this.data.subarray(sector * 512, sector * 512 + dst.length));
  }
  async write(sector: number, src: Uint8Array): Promise<void> {
    if (this.readOnly) throw new Error('read-only');
    this.check(sector, src.length);
    this.log.push(`write ${sector} ${src.length / 512}`);
    this.data.set(src, sector * 512);
  }
  async flush(): Promise<void> {
    this.log.push('flush');
    this.flushes++;
  }
  sector(n: number, count = 1): Uint8Array {
    return this.data.slice(n * 512, (n + count) * 512);
  }
}

/** A disk whose operations stay pending until the test settles them, in any order. */
export class ManualDisk extends MemDisk {
  readonly pending: { what: string; settle: () => void }[] = [];
  override read(sector: number, dst: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({ what: `read ${sector}`, settle: () => { void super.read(sector, dst).then(resolve); } });
    });
  }
  override write(sector: number, src: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({ what: `write ${sector}`, settle: () => { void super.write(sector, src).then(resolve); } });
    });
  }
  /** Complete the pending operation whose description starts with `what`. */
  settle(what: string): void {
    const i = this.pending.findIndex((p) => p.what.startsWith(what));
    if (i < 0) throw new Error(`no pending "${what}" (have ${this.pending.map((p) => p.what).join(', ')})`);
    this.pending.splice(i, 1)[0].settle();
  }
}

/** A disk of any size without the memory: unwritten sectors read as a pattern of their number. */
export class SparseDisk implements BlockDevice {
  readonly written = new Map<number, Uint8Array>();
  readonly readOnly = false;
  constructor(readonly size: number) {}
  static pattern(sector: number): Uint8Array {
    const out = new Uint8Array(512);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, sector % 2 ** 32, true);
    dv.setUint32(4, Math.floor(sector / 2 ** 32), true);
    for (let i = 8; i < 512; i++) out[i] = (sector + i) & 0xff;
    return out;
  }
  async read(sector: number, dst: Uint8Array): Promise<void> {
    if (sector * 512 + dst.length > this.size) throw new Error('out of range');
    for (let i = 0; i < dst.length / 512; i++) dst.set(this.written.get(sector + i) ?? SparseDisk.pattern(sector + i), i * 512);
  }
  async write(sector: number, src: Uint8Array): Promise<void> {
    if (sector * 512 + src.length > this.size) throw new Error('out of range');
    for (let i = 0; i < src.length / 512; i++) this.written.set(sector + i, src.slice(i * 512, (i + 1) * 512));
  }
  async flush(): Promise<void> {}
}

// ---- guest RAM ---------------------------------------------------------------------------------

/** Guest RAM for device tests: the engine's memory class over a plain buffer, plus PRD table helpers. */
export class FakeRam extends BufferGuestMemory {
  readonly bytes: Uint8Array;
  constructor(size: number) {
    const buffer = new ArrayBuffer(size);
    super(buffer, 0, size);
    this.bytes = new Uint8Array(buffer);
  }
  /** Write a PRD table at `at`: [address, byte count (65536 allowed), eot?]. */
  prdTable(at: number, entries: [number, number, boolean?][]): void {
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset);
    entries.forEach(([addr, count, eot], i) => {
      dv.setUint32(at + i * 8, addr, true);
      dv.setUint32(at + i * 8 + 4, (count & 0xffff) | (eot ? 0x80000000 : 0), true);
    });
  }
}

// ---- registers (libata names) ---------------------------------------------------------------------

export const ATA_BUSY = 0x80;
export const ATA_DRDY = 0x40;
export const ATA_DRQ = 0x08;
export const ATA_ERR = 0x01;
export const ATA_NIEN = 0x02;
export const ATA_SRST = 0x04;
export const ATA_HOB = 0x80;
export const ATA_LBA = 0x40;
export const ATA_DEV1 = 0x10;
export const ATA_ABORTED = 0x04;
export const ATA_IDNF = 0x10;
export const ATA_UNC = 0x40;
export const ATA_DMA_START = 0x01;
export const ATA_DMA_WR = 0x08;
export const ATA_DMA_ACTIVE = 0x01;
export const ATA_DMA_ERR = 0x02;
export const ATA_DMA_INTR = 0x04;
export const BMIBA = 0xc000;

/** Command opcodes under libata's names (include/linux/ata.h). */
export const CMD = {
  ID_ATA: 0xec,
  ID_ATAPI: 0xa1,
  PACKET: 0xa0,
  DEV_RESET: 0x08,
  EDD: 0x90,
  PIO_READ: 0x20,
  PIO_READ_EXT: 0x24,
  PIO_WRITE: 0x30,
  PIO_WRITE_EXT: 0x34,
  READ_MULTI: 0xc4,
  READ_MULTI_EXT: 0x29,
  WRITE_MULTI: 0xc5,
  WRITE_MULTI_EXT: 0x39,
  SET_MULTI: 0xc6,
  READ: 0xc8,
  READ_EXT: 0x25,
  WRITE: 0xca,
  WRITE_EXT: 0x35,
  VERIFY: 0x40,
  FLUSH: 0xe7,
  FLUSH_EXT: 0xea,
  SET_FEATURES: 0xef,
  INIT_DEV_PARAMS: 0x91,
  READ_NATIVE_MAX: 0xf8,
  READ_NATIVE_MAX_EXT: 0x27,
  CHK_POWER: 0xe5,
  IDLEIMMEDIATE: 0xe1,
  STANDBYNOW1: 0xe0,
  SMART: 0xb0,
} as const;

/** Index of the first byte where `a` and `b` differ (-1 if equal); fast on large buffers, unlike toEqual. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** IDENTIFY data as little-endian words. */
export function idWords(data: Uint8Array): Uint16Array {
  const w = new Uint16Array(256);
  for (let i = 0; i < 256; i++) w[i] = data[2 * i] | (data[2 * i + 1] << 8);
  return w;
}

/** An ATA string from IDENTIFY words (first character in the high byte). */
export function idString(w: Uint16Array, first: number, words: number): string {
  let s = '';
  for (let i = first; i < first + words; i++) s += String.fromCharCode(w[i] >> 8, w[i] & 0xff);
  return s;
}

export interface Taskfile {
  feature?: number;
  nsect?: number;
  lbal?: number;
  lbam?: number;
  lbah?: number;
  device?: number;
  hob?: { feature?: number; nsect?: number; lbal?: number; lbam?: number; lbah?: number };
}

/** Taskfile for a 28-bit LBA command on device `dev`. */
export function lba28(lba: number, count: number, dev = 0): Taskfile {
  return {
    nsect: count & 0xff,
    lbal: lba & 0xff,
    lbam: (lba >> 8) & 0xff,
    lbah: (lba >> 16) & 0xff,
    device: ATA_LBA | (dev ? ATA_DEV1 : 0) | ((lba >> 24) & 0x0f),
  };
}

/** Taskfile for a 48-bit LBA command on device `dev`. */
export function lba48(lba: number, count: number, dev = 0): Taskfile {
  const high = Math.floor(lba / 2 ** 24);
  return {
    nsect: count & 0xff,
    lbal: lba & 0xff,
    lbam: (lba >>> 8) & 0xff,
    lbah: (lba >>> 16) & 0xff,
    device: ATA_LBA | (dev ? ATA_DEV1 : 0),
    hob: { nsect: (count >> 8) & 0xff, lbal: high & 0xff, lbam: (high >> 8) & 0xff, lbah: (high >> 16) & 0xff },
  };
}

export interface BenchOptions {
  master?: BlockDevice;
  slave?: BlockDevice;
  secondaryMaster?: BlockDevice;
  ramSize?: number;
  timing?: Partial<HostIoTiming>;
  /** Leave PCI unconfigured (no I/O enable, BAR4 unassigned). */
  raw?: boolean;
  extra?: Partial<PiixIdeOptions>;
}

export type Bench = ReturnType<typeof makeBench>;

export function makeBench(opts: BenchOptions = {}) {
  const clock = new VirtualClock();
  const io = new TestPorts();
  const ram = new FakeRam(opts.ramSize ?? 4 * 1024 * 1024);
  const irq14 = new RecordingIrq(clock);
  const irq15 = new RecordingIrq(clock);
  const logs: string[] = [];
  const pci = new PciBus({
    mapper: {
      mapIo: (base, size, handler, owner) => io.register(base, size, handler, owner),
      unmapIo: (base, size) => io.unregister(base, size),
      mapMmio: () => { throw new Error('no MMIO BARs expected'); },
      unmapMmio: () => {},
    },
    setPirq: () => {},
  });
  pci.register(io);
  const isa = new Piix3IsaBridge({ routeIrq: () => {} });
  pci.addFunction(1, 0, isa);
  const ide = new PiixIde({ memory: ram, clock, irq14, irq15, timing: opts.timing, log: (m) => logs.push(m), ...opts.extra });
  if (opts.master) ide.attachDisk(0, 0, opts.master);
  if (opts.slave) ide.attachDisk(0, 1, opts.slave);
  if (opts.secondaryMaster) ide.attachDisk(1, 0, opts.secondaryMaster);
  ide.register(io);
  pci.addFunction(1, 1, ide);

  const cfgAddr = (off: number) => (0x80000000 | (1 << 11) | (1 << 8) | (off & 0xfc)) >>> 0;
  const cfg = {
    read(off: number, size: 1 | 2 | 4): number {
      io.outl(0xcf8, cfgAddr(off));
      return io.read(0xcfc + (off & 3), size) >>> 0;
    },
    write(off: number, size: 1 | 2 | 4, v: number): void {
      io.outl(0xcf8, cfgAddr(off));
      io.write(0xcfc + (off & 3), size, v);
    },
  };
  if (!opts.raw) {
    cfg.write(0x20, 4, BMIBA);
    cfg.write(0x04, 2, 0x0005); // I/O space + bus master, as pcim_enable_device + pci_set_master leave it
  }

  /** One step of a run loop that keeps guest time still while the disk is late. */
  async function step(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    if (ide.waitingForHost) return; // hold guest time; let the host's event loop run
    const next = clock.nextDeadline();
    if (next !== Infinity) {
      clock.advance(next - clock.now());
      clock.runDue();
    }
  }

  async function until(cond: () => boolean, what: string, maxSteps = 2000): Promise<void> {
    for (let i = 0; i < maxSteps; i++) {
      if (cond()) return;
      await step();
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const channel = (ch: number) => {
    const base = ch ? 0x170 : 0x1f0;
    const ctl = ch ? 0x376 : 0x3f6;
    const bm = BMIBA + ch * 8;
    const irq = ch ? irq15 : irq14;
    const c = {
      base, ctl, bm, irq,
      status: () => io.inb(base + 7),
      altStatus: () => io.inb(ctl),
      error: () => io.inb(base + 1),
      reg: (r: number) => io.inb(base + r),
      setCtl: (v: number) => io.outb(ctl, v),
      select(dev: number): void {
        io.outb(base + 6, 0xa0 | (dev ? ATA_DEV1 : 0));
        io.inb(ctl); // ata_sff_pause
      },
      /** ata_sff_tf_load: HOB registers first, then the current ones, then the device. */
      load(tf: Taskfile): void {
        if (tf.hob) {
          io.outb(base + 1, tf.hob.feature ?? 0);
          io.outb(base + 2, tf.hob.nsect ?? 0);
          io.outb(base + 3, tf.hob.lbal ?? 0);
          io.outb(base + 4, tf.hob.lbam ?? 0);
          io.outb(base + 5, tf.hob.lbah ?? 0);
        }
        io.outb(base + 1, tf.feature ?? 0);
        io.outb(base + 2, tf.nsect ?? 0);
        io.outb(base + 3, tf.lbal ?? 0);
        io.outb(base + 4, tf.lbam ?? 0);
        io.outb(base + 5, tf.lbah ?? 0);
        if (tf.device !== undefined) io.outb(base + 6, tf.device);
      },
      command: (cmd: number) => io.outb(base + 7, cmd),
      exec(tf: Taskfile, cmd: number): void {
        c.load(tf);
        c.command(cmd);
      },
      /** Wait (in guest time) until BSY clears; returns Alternate Status. */
      async waitReady(): Promise<number> {
        await until(() => !(io.inb(ctl) & ATA_BUSY), 'BSY to clear');
        return io.inb(ctl);
      },
      /** Wait for the channel's interrupt line, then acknowledge it by reading Status. */
      async waitIrq(): Promise<number> {
        await until(() => irq.level, 'the interrupt');
        return io.inb(base + 7);
      },
      /** PIO data-in of `bytes` with 16- or 32-bit accesses. */
      readData(bytes: number, width: 2 | 4 = 2): Uint8Array {
        const out = new Uint8Array(bytes);
        const dv = new DataView(out.buffer);
        for (let i = 0; i < bytes; i += width) {
          if (width === 2) dv.setUint16(i, io.inw(base), true);
          else dv.setUint32(i, io.inl(base), true);
        }
        return out;
      },
      writeData(data: Uint8Array, width: 2 | 4 = 2): void {
        const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let i = 0; i < data.length; i += width) {
          if (width === 2) io.outw(base, dv.getUint16(i, true));
          else io.outl(base, dv.getUint32(i, true));
        }
      },
      bmCmd: () => io.inb(bm),
      bmStatus: () => io.inb(bm + 2),
      /** ata_bmdma_setup: PRD table address, direction, then the ATA command. */
      dmaSetup(prdTable: number, toMemory: boolean, tf: Taskfile, cmd: number): void {
        c.load(tf);
        io.outl(bm + 4, prdTable);
        let dmactl = io.inb(bm);
        dmactl &= ~(ATA_DMA_WR | ATA_DMA_START);
        if (toMemory) dmactl |= ATA_DMA_WR;
        io.outb(bm, dmactl);
        c.command(cmd);
      },
      dmaStart: () => io.outb(bm, io.inb(bm) | ATA_DMA_START),
      dmaStop(): void {
        io.outb(bm, io.inb(bm) & ~ATA_DMA_START);
        io.inb(ctl);
      },
      /** ata_bmdma_irq_clear: write the status back to clear INTR and ERR. */
      bmIrqClear: () => io.outb(bm + 2, io.inb(bm + 2)),
      /**
       * The whole libata DMA command: setup, start, wait for the interrupt, check the BMDMA
       * status, stop, read Status, clear. Returns { status, bmStatus }.
       */
      async dma(prdTable: number, toMemory: boolean, tf: Taskfile, cmd: number): Promise<{ status: number; bmStatus: number }> {
        c.dmaSetup(prdTable, toMemory, tf, cmd);
        c.dmaStart();
        await until(() => irq.level, 'the DMA interrupt');
        const bmStatus = c.bmStatus();
        c.dmaStop();
        const status = c.status();
        c.bmIrqClear();
        return { status, bmStatus };
      },
    };
    return c;
  };

  return { clock, io, ram, irq14, irq15, ide, pci, isa, cfg, logs, step, until, ch0: channel(0), ch1: channel(1) };
}

/** PIO read of `count` sectors through interrupts: one block of `blockSectors` per interrupt. */
export async function pioRead(
  c: Bench['ch0'],
  tf: Taskfile,
  cmd: number,
  count: number,
  blockSectors = 1,
  width: 2 | 4 = 2,
): Promise<Uint8Array> {
  c.exec(tf, cmd);
  const out = new Uint8Array(count * 512);
  for (let done = 0; done < count; ) {
    const status = await c.waitIrq();
    if (status & ATA_ERR) throw new Error(`device error ${c.error().toString(16)}`);
    if (!(status & ATA_DRQ)) throw new Error(`no DRQ (status ${status.toString(16)})`);
    const n = Math.min(blockSectors, count - done);
    out.set(c.readData(n * 512, width), done * 512);
    done += n;
  }
  return out;
}

/** PIO write: first block on DRQ (no interrupt), then one block per interrupt, then the final interrupt. */
export async function pioWrite(
  c: Bench['ch0'],
  tf: Taskfile,
  cmd: number,
  data: Uint8Array,
  blockSectors = 1,
): Promise<number> {
  c.exec(tf, cmd);
  const count = data.length / 512;
  let status = c.altStatus();
  for (let done = 0; done < count; ) {
    if (!(status & ATA_DRQ)) throw new Error(`no DRQ (status ${status.toString(16)})`);
    const n = Math.min(blockSectors, count - done);
    c.writeData(data.subarray(done * 512, (done + n) * 512));
    done += n;
    status = await c.waitIrq();
    if (status & ATA_ERR) return status;
  }
  return status;
}

// QEMU's firmware configuration interface (fw_cfg), as QEMU's docs/specs/fw_cfg describe
// it for the PC machine: test kernels and firmware written for QEMU ask it how many CPUs
// and how much RAM the machine has, and read named blobs ("files") from it.
//
// Ports (I/O, little-endian):
//   0x510  selector (16-bit write): picks an item and sets its read offset to 0
//   0x511  data (8-bit read): the item's next byte, 0 past its end or for an unknown key
//   0x514  DMA address, high 32 bits, big-endian (the guest byte-swaps what it writes with
//          OUT); reading 0x514-0x51B gives the signature "QEMU CFG", 'Q' at 0x514
//   0x518  DMA address, low 32 bits, big-endian: writing it starts the transfer
// A DMA transfer is described in guest memory by FWCfgDmaAccess: be32 control, be32
// length, be64 address; control bits error (0), read (1), skip (2), select (3, the new
// selector in bits 16-31) and write (4). The device clears control when it is done, or
// leaves only the error bit.
// Writes to items (selector bit 14) are not supported: they are ignored, as QEMU does for
// read-only items.

import type { AccessSize, GuestMemory, IoPorts, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import { declareState, u16, u32 } from '../../platform/state';

// Well-known selector keys (QEMU's include/standard-headers/linux/qemu_fw_cfg.h names).
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
const FW_CFG_WRITE_CHANNEL = 0x4000;
const FW_CFG_MAX_FILE_PATH = 56;
/** FW_CFG_ID feature bits. */
export const FW_CFG_VERSION = 1 << 0;
export const FW_CFG_VERSION_DMA = 1 << 1;

export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;
export const FW_CFG_PORT_DMA = 0x514;
/** "QEMU CFG", the value read back from the DMA address register. */
const DMA_SIGNATURE = new TextEncoder().encode('QEMU CFG');

export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;
/** Longest DMA transfer served at once (a guest-supplied length is never trusted). */
const DMA_MAX = 16 << 20;

export interface FwCfgFile { name: string; data: Uint8Array }

export interface FwCfgOptions {
  /** Guest RAM in bytes (FW_CFG_RAM_SIZE). */
  ramBytes: number;
  /** Number of vCPUs (FW_CFG_NB_CPUS and FW_CFG_MAX_CPUS). */
  cpus: number;
  /** Named blobs listed in the file directory, in this order, from selector 0x20 on. */
  files?: FwCfgFile[];
  /** Guest memory for DMA transfers; without it FW_CFG_ID does not offer DMA. */
  memory?: GuestMemory;
}

function le(n: number, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let v = BigInt(n);
  for (let i = 0; i < bytes; i++) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

export class FwCfg implements Stateful {
  readonly stateName = 'fw-cfg';
  readonly stateVersion = FW_CFG_STATE.version;

  private readonly items = new Map<number, Uint8Array>();
  private selector = 0;
  private offset = 0;
  /** DMA address as the guest wrote it (high word, then the low word starts the transfer). */
  private dmaHigh = 0;

  constructor(private readonly options: FwCfgOptions) {
    if (!Number.isInteger(options.cpus) || options.cpus < 1 || options.cpus > 0xffff) throw new RangeError(`fw_cfg: ${options.cpus} CPUs`);
    const files = options.files ?? [];
    if (files.length > 0x4000 - FW_CFG_FILE_FIRST) throw new RangeError('fw_cfg: too many files');
    this.items.set(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.items.set(FW_CFG_ID, le(FW_CFG_VERSION | (options.memory ? FW_CFG_VERSION_DMA : 0), 4));
    this.items.set(FW_CFG_UUID, new Uint8Array(16));
    this.items.set(FW_CFG_RAM_SIZE, le(options.ramBytes, 8));
    this.items.set(FW_CFG_NOGRAPHIC, le(1, 2)); // serial console only
    this.items.set(FW_CFG_NB_CPUS, le(options.cpus, 2));
    this.items.set(FW_CFG_MAX_CPUS, le(options.cpus, 2));
    // The directory: be32 count, then per file be32 size, be16 select, be16 reserved, name[56].
    const dir = new Uint8Array(4 + 64 * files.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, files.length);
    const enc = new TextEncoder();
    files.forEach((f, i) => {
      const name = enc.encode(f.name);
      if (name.length === 0 || name.length >= FW_CFG_MAX_FILE_PATH) throw new RangeError(`fw_cfg: bad file name "${f.name}"`);
      const at = 4 + 64 * i;
      dv.setUint32(at, f.data.length);
      dv.setUint16(at + 4, FW_CFG_FILE_FIRST + i);
      dir.set(name, at + 8);
      this.items.set(FW_CFG_FILE_FIRST + i, f.data);
    });
    this.items.set(FW_CFG_FILE_DIR, dir);
  }

  register(io: IoPorts): void {
    const h: PortHandler = { read: (p, s) => this.read(p, s), write: (p, s, v) => this.write(p, s, v) };
    io.register(FW_CFG_PORT_SEL, 2, h, this.stateName);
    io.register(FW_CFG_PORT_DMA, 8, h, this.stateName);
  }

  /** The item bytes of a key (the write-channel bit ignored), or undefined. */
  private item(key: number): Uint8Array | undefined { return this.items.get(key & ~FW_CFG_WRITE_CHANNEL); }

  read(port: number, size: AccessSize): number {
    if (port === FW_CFG_PORT_DATA) {
      // The data port is one byte wide; a wider read returns that many consecutive bytes.
      let v = 0;
      for (let i = 0; i < size; i++) v |= this.nextByte() << (8 * i);
      return v >>> 0;
    }
    if (port >= FW_CFG_PORT_DMA && port < FW_CFG_PORT_DMA + 8) {
      // A big-endian register: its most significant byte ('Q') is at the lowest port, so a
      // 32-bit IN at 0x514 returns "QEMU" in memory order.
      let v = 0;
      const at = port - FW_CFG_PORT_DMA;
      for (let i = 0; i < size && at + i < 8; i++) v |= DMA_SIGNATURE[at + i] << (8 * i);
      return v >>> 0;
    }
    return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff; // the selector is write-only
  }

  write(port: number, size: AccessSize, value: number): void {
    if (port === FW_CFG_PORT_SEL && size >= 2) { this.select(value & 0xffff); return; }
    if (port === FW_CFG_PORT_DMA && size === 4) { this.dmaHigh = bswap32(value); return; }
    if (port === FW_CFG_PORT_DMA + 4 && size === 4) {
      const addr = this.dmaHigh * 2 ** 32 + bswap32(value);
      this.dmaHigh = 0;
      this.dma(addr);
    }
    // Byte writes to the selector, writes to the data port (read-only items) and other widths are ignored.
  }

  private select(key: number): void {
    this.selector = key;
    this.offset = 0;
  }

  private nextByte(): number {
    const it = this.item(this.selector);
    if (!it || this.offset >= it.length) return 0;
    return it[this.offset++];
  }

  /** Run the FWCfgDmaAccess at guest-physical `addr`. */
  private dma(addr: number): void {
    const mem = this.options.memory;
    if (!mem) return;
    const hdr = new Uint8Array(16);
    if (!mem.read(addr, hdr)) return; // not in RAM: nothing to report the error in
    const dv = new DataView(hdr.buffer);
    let control = dv.getUint32(0);
    const length = dv.getUint32(4);
    const target = Number(dv.getBigUint64(8));
    let error = false;
    if (control & FW_CFG_DMA_CTL_SELECT) this.select(control >>> 16);
    if (control & FW_CFG_DMA_CTL_WRITE) error = true; // items are read-only
    else if (control & (FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_SKIP)) {
      if (length > DMA_MAX) error = true;
      else {
        const it = this.item(this.selector);
        const out = new Uint8Array(length); // bytes past the item's end read as 0
        if (it && this.offset < it.length) out.set(it.subarray(this.offset, Math.min(it.length, this.offset + length)));
        if ((control & FW_CFG_DMA_CTL_READ) && !mem.write(target, out)) error = true;
        this.offset = it ? Math.min(it.length, this.offset + length) : this.offset;
      }
    }
    control = error ? FW_CFG_DMA_CTL_ERROR : 0;
    dv.setUint32(0, control);
    mem.write(addr, hdr.subarray(0, 4));
  }

  saveState(): StateRecord {
    return FW_CFG_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    FW_CFG_STATE.load(this, state, version);
  }
}

/** The selected item and the read position in it; DMA's address high word. Items are built from the configuration. */
const FW_CFG_STATE = declareState('fw-cfg', { selector: u16, offset: u32, dmaHigh: u32 });

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) >>> 0;
}

/** The x86 "etc/e820" file: entries of le64 address, le64 length, le32 type. */
export function e820File(entries: Array<{ addr: number; size: number; type: number }>): Uint8Array {
  const b = new Uint8Array(20 * entries.length);
  const dv = new DataView(b.buffer);
  entries.forEach((e, i) => {
    dv.setBigUint64(i * 20, BigInt(e.addr), true);
    dv.setBigUint64(i * 20 + 8, BigInt(e.size), true);
    dv.setUint32(i * 20 + 16, e.type, true);
  });
  return b;
}

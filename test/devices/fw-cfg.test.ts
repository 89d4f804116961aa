import { describe, expect, it } from 'vitest';
import { FwCfg, e820File, FW_CFG_DMA_CTL_ERROR, FW_CFG_DMA_CTL_READ, FW_CFG_DMA_CTL_SELECT, FW_CFG_DMA_CTL_WRITE } from '../../engine-ts/devices/fw-cfg/fw-cfg';
import { BufferGuestMemory } from '../../engine-ts/worker/machine-memory';
import { TestPorts } from './helpers';

class Ram extends BufferGuestMemory {
  readonly bytes: Uint8Array;
  constructor() {
    const buf = new ArrayBuffer(0x10000);
    super(buf, 0, buf.byteLength);
    this.bytes = new Uint8Array(buf);
  }
}

function setup(withDma = true) {
  const ram = new Ram();
  const dev = new FwCfg({ ramBytes: 64 << 20, cpus: 1, memory: withDma ? ram : undefined, files: [{ name: 'etc/e820', data: e820File([{ addr: 0, size: 0x9fc00, type: 1 }]) }, { name: 'opt/x', data: new Uint8Array([1, 2, 3]) }] });
  const io = new TestPorts();
  dev.register(io);
  const read = (key: number, n: number) => { io.write(0x510, 2, key); return Array.from({ length: n }, () => io.inb(0x511)); };
  /** Start a DMA transfer whose descriptor is at `at`. */
  const dma = (at: number, control: number, length: number, target: number) => {
    const dv = new DataView(ram.bytes.buffer);
    dv.setUint32(at, control); dv.setUint32(at + 4, length); dv.setBigUint64(at + 8, BigInt(target));
    const be = (v: number) => ((v & 0xff) << 24 | (v & 0xff00) << 8 | (v >>> 8) & 0xff00 | v >>> 24) >>> 0;
    io.write(0x514, 4, 0);
    io.write(0x518, 4, be(at));
    return dv.getUint32(at);
  };
  return { dev, io, ram, read, dma };
}

describe('fw_cfg (QEMU firmware configuration)', () => {
  it('answers the signature, the CPU count and the RAM size, and 0 past an item or for an unknown key', () => {
    const t = setup();
    expect(String.fromCharCode(...t.read(0x00, 4))).toBe('QEMU');
    expect(t.io.inb(0x511)).toBe(0); // past the end
    expect(t.read(0x05, 2)).toEqual([1, 0]); // FW_CFG_NB_CPUS
    expect(t.read(0x03, 8)).toEqual([0, 0, 0, 4, 0, 0, 0, 0]); // 64 MiB, le64
    expect(t.read(0x01, 4)).toEqual([3, 0, 0, 0]); // traditional interface + DMA
    expect(setup(false).read(0x01, 4)).toEqual([1, 0, 0, 0]); // no guest memory: no DMA bit
    expect(t.read(0x1234, 4)).toEqual([0, 0, 0, 0]);
  });

  it('lists its files in a big-endian directory with selectors from 0x20', () => {
    const t = setup();
    const dir = t.read(0x19, 4 + 64 * 2);
    const dv = new DataView(new Uint8Array(dir).buffer);
    expect(dv.getUint32(0)).toBe(2);
    expect(dv.getUint32(4)).toBe(20);
    expect(dv.getUint16(8)).toBe(0x20);
    expect(String.fromCharCode(...dir.slice(12, 20))).toBe('etc/e820');
    expect(dv.getUint16(64 + 8)).toBe(0x21);
    expect(t.read(0x21, 4)).toEqual([1, 2, 3, 0]);
    expect(t.read(0x20, 20).slice(8, 12)).toEqual([0x00, 0xfc, 0x09, 0]); // le64 length 0x9FC00
  });

  it('reads the DMA signature register and runs select+read transfers, clearing control', () => {
    const t = setup();
    expect(String.fromCharCode(...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => t.io.inb(0x514 + i)))).toBe('QEMU CFG');
    expect(t.dma(0x100, (0x21 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 5, 0x200)).toBe(0);
    expect(Array.from(t.ram.bytes.subarray(0x200, 0x205))).toEqual([1, 2, 3, 0, 0]);
  });

  it('reports errors from a bad DMA request without touching other memory', () => {
    const t = setup();
    expect(t.dma(0x100, FW_CFG_DMA_CTL_WRITE, 4, 0x200)).toBe(FW_CFG_DMA_CTL_ERROR); // items are read-only
    expect(t.dma(0x100, (0x00 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0xfffe)).toBe(FW_CFG_DMA_CTL_ERROR); // target outside RAM
    expect(t.dma(0x100, FW_CFG_DMA_CTL_READ, 0xffffffff, 0x200)).toBe(FW_CFG_DMA_CTL_ERROR); // absurd length
    expect(t.ram.bytes.subarray(0x200, 0x210).every((b) => b === 0)).toBe(true);
    t.io.write(0x514, 4, 0);
    t.io.write(0x518, 4, 0xfffffff0); // descriptor outside RAM: ignored, nothing throws
  });

  it('saves and restores the selector and offset, and rejects bad state', () => {
    const t = setup();
    t.read(0x00, 2);
    const saved = t.dev.saveState();
    const u = setup();
    u.dev.loadState(saved, 1);
    expect(String.fromCharCode(u.io.inb(0x511), u.io.inb(0x511))).toBe('MU');
    expect(() => u.dev.loadState({ ...saved, selector: 0x10000 }, 1)).toThrow(/selector/);
  });
});

// Hostile images: thousands of seeded mutations of real images (the qemu fixtures plus a
// pvlab-made differencing child). Every case must either open and behave, or be refused
// with a VhdError; never another exception, a runaway loop, or a read the file's own size
// does not bound. Mutations that keep the checksum valid get past the first check, so the
// validation behind it is exercised too.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../engine-ts/disk/block-store';
import { VhdDisk, type OpenParent } from '../../engine-ts/disk/vhd';
import { VhdError, vhdChecksum } from '../../engine-ts/disk/vhd-format';
import { FIXTURES, NOW, Prng, fixtureBytes, fixedUuid } from './helpers';

const READ_MAX = 256 * 1024; // the largest read request the fuzz loop makes
const MAX_STORE_READS = 20_000; // per case: far above what a sane image needs

const be = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

interface Seed {
  name: string;
  store: MemoryStore;
  openParent?: OpenParent;
}

async function differencingSeed(): Promise<Seed> {
  const pStore = new MemoryStore();
  const parent = await VhdDisk.create(pStore, { type: 'dynamic', size: 3 * 1024 * 1024, blockSize: 512 * 1024, now: NOW, uniqueId: fixedUuid(1) });
  const rng = new Prng(5);
  for (let i = 0; i < 8; i++) await parent.write(rng.int(6000), rng.bytes(512 * (1 + rng.int(8))));
  const cStore = new MemoryStore();
  const child = await VhdDisk.create(cStore, {
    type: 'differencing', parent, now: NOW, uniqueId: fixedUuid(2), blockSize: 512 * 1024, parentName: 'p.vhd',
    parentLocators: [{ platform: 'W2ku', path: 'C:\\p.vhd' }, { platform: 'W2ru', path: '.\\p.vhd' }],
  });
  for (let i = 0; i < 8; i++) await child.write(rng.int(6000), rng.bytes(512 * (1 + rng.int(8))));
  const parentBytes = pStore.bytes();
  return {
    name: 'pvlab-differencing',
    store: cStore.clone(),
    openParent: async () => VhdDisk.open(new MemoryStore(parentBytes, true), { readOnly: true }),
  };
}

/** Values that tend to sit on validation edges, for a big-endian field of n bytes. */
function interesting(rng: Prng, orig: bigint, n: number, fileSize: number): bigint {
  const max = (1n << BigInt(8 * n)) - 1n;
  const fs = BigInt(fileSize);
  const choices: bigint[] = [
    0n, 1n, max, max - 1n, orig + 1n, orig - 1n, orig + 512n, orig - 512n, orig * 2n, orig / 2n,
    1n << BigInt(rng.int(8 * n)), fs, fs - 512n, fs - 1024n, fs + 512n, 512n, 1536n, 0x200000n, 0xffffffffn,
    BigInt(rng.int(2 ** 30)), (1n << 53n) + 1n, BigInt(rng.int(fileSize + 1)),
  ];
  return ((rng.pick(choices) % (max + 1n)) + (max + 1n)) % (max + 1n);
}

function getField(m: MemoryStore, off: number, n: number): bigint {
  let v = 0n;
  for (const x of m.readSync(off, n)) v = (v << 8n) | BigInt(x);
  return v;
}
function setField(m: MemoryStore, off: number, n: number, v: bigint): void {
  const b = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  m.writeSync(off, b);
}
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  be(b).setUint32(0, v >>> 0);
  return b;
};

const FOOTER_FIELDS: [number, number][] = [
  [8, 4], [12, 4], [16, 8], [24, 4], [28, 4], [32, 4], [36, 4], [40, 8], [48, 8], [56, 2], [58, 1], [59, 1], [60, 4], [68, 16], [84, 1],
];
const HEADER_FIELDS: [number, number][] = [[8, 8], [16, 8], [24, 4], [28, 4], [32, 4], [40, 16], [56, 4], [60, 4]];
for (let k = 0; k < 8; k++) for (const [o, n] of [[0, 4], [4, 4], [8, 4], [12, 4], [16, 8]]) HEADER_FIELDS.push([576 + 24 * k + o, n]);
const CREATORS = ['win ', 'qem2', 'vpc ', 'd2v ', 'tap\0', 'CTXS', 'qemu', 'vbox'];

function fixFooterChecksum(m: MemoryStore, at: number): void {
  m.writeSync(at + 64, u32(vhdChecksum(m.readSync(at, 512), 64)));
}
function fixHeaderChecksum(m: MemoryStore, at: number): void {
  m.writeSync(at + 36, u32(vhdChecksum(m.readSync(at, 1024), 36)));
}

/** Apply 1..3 mutations to a copy-on-write fork of the seed; returns what was done. */
function mutate(rng: Prng, m: MemoryStore): string[] {
  const what: string[] = [];
  const rounds = 1 + (rng.int(4) === 0 ? rng.int(3) : 0);
  for (let r = 0; r < rounds; r++) {
    const size = m.size;
    if (size < 512) break;
    const tail = size - 512;
    const dynamic = size >= 1536 && String.fromCharCode(...m.readSync(0, 8)) === 'conectix';
    const headerAt = dynamic ? Number(getField(m, tail + 16, 8)) : -1;
    const headerOk = dynamic && headerAt >= 512 && headerAt + 1024 <= size;
    const kind = rng.int(10);
    if (kind <= 2) {
      // A footer field, usually with the checksum recomputed; sometimes also the copy at 0.
      const [off, n] = rng.pick(FOOTER_FIELDS);
      const v = off === 28 && rng.int(2) === 0
        ? BigInt('0x' + Buffer.from(rng.pick(CREATORS), 'latin1').toString('hex'))
        : interesting(rng, getField(m, tail + off, n), n, size);
      setField(m, tail + off, n, v);
      const fix = rng.int(5) !== 0;
      if (fix) fixFooterChecksum(m, tail);
      if (dynamic && rng.int(2) === 0) m.writeSync(0, m.readSync(tail, 512));
      what.push(`footer@${off}=${v}${fix ? '' : ' (stale checksum)'}`);
    } else if (kind <= 4 && headerOk) {
      const [off, n] = rng.pick(HEADER_FIELDS);
      const v = interesting(rng, getField(m, headerAt + off, n), n, size);
      setField(m, headerAt + off, n, v);
      const fix = rng.int(5) !== 0;
      if (fix) fixHeaderChecksum(m, headerAt);
      what.push(`header@${off}=${v}${fix ? '' : ' (stale checksum)'}`);
    } else if (kind <= 6 && headerOk) {
      // A BAT entry (the BAT is never checksummed).
      const table = Number(getField(m, headerAt + 16, 8));
      const entries = Number(getField(m, headerAt + 28, 4));
      if (table + entries * 4 > size || entries === 0) continue;
      const i = rng.int(Math.min(entries, 64));
      const others = Array.from({ length: Math.min(entries, 64) }, (_, j) => Number(getField(m, table + 4 * j, 4)));
      const last = Math.floor(size / 512);
      const v = rng.pick([0, 1, 2, 3, 4, last - 1, last, last - 4097, rng.pick(others), rng.pick(others) + 1, rng.pick(others) - 1, 0xfffffffe, rng.int(2 ** 32)]) >>> 0;
      m.writeSync(table + 4 * i, u32(v));
      what.push(`BAT[${i}]=${v}`);
    } else if (kind === 7) {
      // Truncate, or extend with zeros or junk.
      const len = Math.max(0, rng.pick([rng.int(size), size - 1, size - 511, size - 512, 510, 511, 512, size + rng.int(4096)]));
      m.setLength(len);
      if (len > size && rng.int(2) === 0) m.writeSync(size, rng.bytes(len - size));
      what.push(`length=${len}`);
    } else {
      // Random bytes anywhere (bitmaps, data, padding, structures).
      const n = 1 + rng.int(16);
      for (let j = 0; j < n; j++) m.writeSync(rng.int(size), Uint8Array.of(rng.int(256)));
      what.push(`${n} random bytes`);
    }
  }
  return what;
}

type Outcome = 'opened' | 'rejected';

async function exercise(seed: Seed, store: MemoryStore, rng: Prng): Promise<Outcome> {
  const fileSize = store.size;
  let disk: VhdDisk;
  try {
    disk = await VhdDisk.open(store, { readOnly: true, openParent: seed.openParent });
  } catch (e) {
    if (!(e instanceof VhdError)) throw e;
    expect(e.message.length).toBeGreaterThan(5);
    return 'rejected';
  }
  expect(disk.size % 512).toBe(0);
  expect(disk.size).toBeLessThanOrEqual(0xff000000 * 512);
  const sectors = disk.size / 512;
  if (sectors > 0) {
    const ranges: [number, number][] = [[0, Math.min(sectors, 128)], [Math.max(0, sectors - 128), Math.min(sectors, 128)]];
    for (let i = 0; i < 3; i++) {
      const n = 1 + rng.int(Math.min(sectors, READ_MAX / 512));
      ranges.push([rng.int(sectors - n + 1), n]);
    }
    for (const [s, n] of ranges) {
      const a = new Uint8Array(n * 512);
      await disk.read(s, a);
      const again = new Uint8Array(n * 512);
      await disk.read(s, again);
      expect(Buffer.compare(a, again)).toBe(0);
    }
  }
  await expect(disk.read(sectors, new Uint8Array(512))).rejects.toThrow(VhdError);
  // Bounded: no single read larger than the file or our own request; no runaway loop.
  expect(store.stats.largestRead).toBeLessThanOrEqual(Math.max(fileSize, READ_MAX));
  expect(store.stats.reads).toBeLessThan(MAX_STORE_READS);

  // An image we accept must stay acceptable after we write to it.
  if (sectors > 0) {
    let rw: VhdDisk | undefined;
    try {
      rw = await VhdDisk.open(store, { openParent: seed.openParent });
    } catch (e) {
      if (!(e instanceof VhdError)) throw e;
      expect(e.message).toMatch(/read-only|trailing footer/);
    }
    if (rw) {
      const s = rng.int(sectors);
      const data = rng.bytes(512);
      await rw.write(s, data);
      const back = new Uint8Array(512);
      await rw.read(s, back);
      expect(Buffer.compare(back, data)).toBe(0);
      const reopened = await VhdDisk.open(store.clone(true), { readOnly: true, openParent: seed.openParent });
      const again = new Uint8Array(512);
      await reopened.read(s, again);
      expect(Buffer.compare(again, data)).toBe(0);
    }
  }
  return 'opened';
}

describe('fuzzing VHD validation', () => {
  it('mutated images open and read within bounds, or fail with VhdError', async () => {
    const seeds: Seed[] = FIXTURES.map((f) => ({ name: f.name, store: MemoryStore.adopt(fixtureBytes(f.name), true) }));
    seeds.push(await differencingSeed());
    const CASES_PER_SEED = 1250;
    const tally = new Map<string, Record<Outcome, number>>();
    const rng = new Prng(20261124);
    for (const seed of seeds) {
      const t = { opened: 0, rejected: 0 };
      tally.set(seed.name, t);
      for (let c = 0; c < CASES_PER_SEED; c++) {
        const store = seed.store.clone(false);
        const what = mutate(rng, store);
        try {
          t[await exercise(seed, store, rng)]++;
        } catch (e) {
          throw new Error(`${seed.name} case ${c} [${what.join('; ')}]: ${(e as Error).stack}`);
        }
      }
    }
    const total = [...tally.values()].reduce((n, t) => n + t.opened + t.rejected, 0);
    expect(total).toBe(seeds.length * CASES_PER_SEED);
    // Both outcomes occur for every seed: the mutations reach past the first check.
    for (const [name, t] of tally) {
      expect(t.opened, name).toBeGreaterThan(50);
      expect(t.rejected, name).toBeGreaterThan(50);
    }
    console.log('fuzz outcomes', Object.fromEntries(tally), 'total', total);
  });

  it('data-only mutations are accepted and read back exactly (validation is not over-strict)', async () => {
    const rng = new Prng(7);
    let cases = 0;
    for (const f of FIXTURES) {
      if (f.ranges.length === 0) continue; // the empty image holds no data to mutate
      const base = fixtureBytes(f.name);
      const disk = await VhdDisk.open(new MemoryStore(base));
      for (let c = 0, hits = 0; hits < 40; c++) {
        expect(c).toBeLessThan(1000);
        // Pick a virtual sector that lives in the file, and flip a byte of it there.
        const v = rng.int(disk.size / 512);
        let fileOff: number;
        if (disk.type === 'fixed') fileOff = v * 512;
        else {
          const spb = disk.layout.blockSize / 512;
          const e = disk.layout.bat[Math.floor(v / spb)];
          if (e === 0xffffffff) continue;
          fileOff = e * 512 + disk.layout.bitmapBytes + (v % spb) * 512;
        }
        const b = base.slice();
        const k = rng.int(512);
        b[fileOff + k] ^= 1 + rng.int(255);
        const d = await VhdDisk.open(new MemoryStore(b));
        const got = new Uint8Array(512);
        await d.read(v, got);
        const want = new Uint8Array(512);
        await disk.read(v, want);
        want[k] = b[fileOff + k];
        expect(Buffer.compare(got, want)).toBe(0);
        cases++;
        hits++;
      }
    }
    expect(cases).toBe(40 * FIXTURES.filter((f) => f.ranges.length > 0).length);
  });
});

// The page resumes a full snapshot on two threads: the page blocks are shared out between the
// page and the worker, each inflating the ones it takes straight into the machine's memory
// (inflatePagesInto), while the worker decodes the rest (decodeSnapshot with `elsewhere`).
// Together they must put exactly what one decode puts, however the blocks are shared, and each
// part must refuse what a whole decode refuses.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError, decodeSnapshot, encodeSnapshot, inflatePagesInto, pageBlocksOf, peekHeader, PAGE, type Snapshot } from '../../engine-ts/snapshot/format';
import { deflate, sha256 } from '../../engine-ts/snapshot/bytes';
import { root } from './helpers';

const fixture = new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/snapshots/hello-format3-map6.pvsnap')));
const MIB = 16;

/** The fixture's machine with 16 MiB and pages of varied bytes all over it (several page blocks). */
async function bigSnapshot(): Promise<Uint8Array> {
  const snap: Snapshot = await decodeSnapshot(fixture);
  snap.header.config.memoryMiB = MIB;
  let x = 12345;
  for (let p = 0; p < MIB * 256; p += 1 + (p % 5)) {
    const page = new Uint8Array(PAGE);
    for (let i = 0; i < PAGE; i += 64) { x = (x * 1103515245 + 12345) >>> 0; page[i] = x >>> 24; page[i + 1] = p & 0xff; }
    snap.pages.set(p, page);
  }
  return encodeSnapshot(snap);
}

/** Hands out the blocks of `list` in turn, as a thread's share of a split decode. */
function taking(list: readonly number[]): () => number | undefined {
  let k = 0;
  return () => list[k++];
}

function memoryOf(pages: Map<number, Uint8Array>, into = new Uint8Array(MIB << 20)): Uint8Array {
  for (const [p, d] of pages) into.set(d, p * PAGE);
  return into;
}

/** Replace block `i`'s compressed bytes with `data` of the same length, and forge the checksum. */
async function damagedBlock(file: Uint8Array, i: number): Promise<Uint8Array> {
  const { header, bodyStart } = peekHeader(file);
  let off = bodyStart;
  for (let k = 0; k < i; k++) off += header.blocks[k].length;
  const out = file.slice();
  for (let k = 0; k < header.blocks[i].length; k++) out[off + k] = 0xff ^ (k & 0x3f);
  out.set(await sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

/** The file with block `i` replaced by `raw` (deflated), its header and checksum made to match, as a forger would. */
async function withBlock(file: Uint8Array, i: number, raw: Uint8Array): Promise<Uint8Array> {
  const { header, bodyStart } = peekHeader(file);
  const packed = await deflate(raw);
  let off = bodyStart;
  for (let k = 0; k < i; k++) off += header.blocks[k].length;
  const oldLen = header.blocks[i].length;
  const h = JSON.parse(new TextDecoder().decode(file.subarray(16, bodyStart)));
  h.blocks[i].length = packed.length;
  h.blocks[i].rawLength = raw.length;
  const hj = new TextEncoder().encode(JSON.stringify(h));
  const before = file.subarray(bodyStart, off), after = file.subarray(off + oldLen, file.length - 32);
  const out = new Uint8Array(16 + hj.length + before.length + packed.length + after.length + 32);
  out.set(file.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, hj.length, true);
  let o = 16;
  for (const part of [hj, before, packed, after]) { out.set(part, o); o += part.length; }
  out.set(await sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

describe('a full snapshot decoded on two threads', () => {
  it('puts the same memory as one decode, however the page blocks are shared out', async () => {
    const file = await bigSnapshot();
    const { header } = peekHeader(file);
    const blocks = pageBlocksOf(header);
    expect(blocks).toEqual(header.blocks.flatMap((b, i) => (b.kind === 'pages' ? [i] : [])));
    expect(blocks.length).toBe(4);
    const whole = memoryOf((await decodeSnapshot(file)).pages);
    const shares = [[blocks], [blocks.slice(0, 1), blocks.slice(1)], [blocks.filter((_, k) => k % 2 === 0), blocks.filter((_, k) => k % 2 === 1)], [[], blocks]];
    for (const parts of shares) {
      const ram = new Uint8Array(MIB << 20);
      // Both "threads" at once, as in the page (the worker's decode runs beside its own part).
      const [rest] = await Promise.all([decodeSnapshot(file, { elsewhere: blocks }), ...parts.map((p) => inflatePagesInto(file, taking(p), ram))]);
      expect(rest.pages.size).toBe(0);
      expect(Buffer.compare(memoryOf(rest.pages, ram), whole)).toBe(0);
    }
    // Two takers of one list, each taking the next block when it is free (as the page and the worker do).
    const ram = new Uint8Array(MIB << 20);
    const take = taking(blocks);
    const [rest] = await Promise.all([decodeSnapshot(file, { elsewhere: blocks }), inflatePagesInto(file, take, ram), inflatePagesInto(file, take, ram)]);
    expect(Buffer.compare(memoryOf(rest.pages, ram), whole)).toBe(0);
  });

  it('refuses what a whole decode refuses, on either side', async () => {
    const file = await bigSnapshot();
    const { header } = peekHeader(file);
    const [first] = pageBlocksOf(header);
    const bad = await damagedBlock(file, first);
    await expect(decodeSnapshot(bad)).rejects.toThrow(`block ${first} (pages) is not valid compressed data`);
    await expect(inflatePagesInto(bad, taking([first]), new Uint8Array(MIB << 20))).rejects.toThrow(new SnapshotError(`block ${first} (pages) is not valid compressed data`));
    // Memory too small for the block, a block that is not pages, one the other side is asked to skip.
    await expect(inflatePagesInto(file, taking([first]), new Uint8Array(PAGE))).rejects.toThrow(/reaches past the machine's 1 pages/);
    await expect(inflatePagesInto(file, taking([0]), new Uint8Array(MIB << 20))).rejects.toThrow('block 0 (state) is not a page block of a full snapshot');
    await expect(decodeSnapshot(file, { elsewhere: [0] })).rejects.toThrow('block 0 cannot be inflated apart from the others');
    await expect(decodeSnapshot(file, { elsewhere: [99] })).rejects.toThrow('block 99 cannot be inflated apart from the others');
    // The checksum is decodeSnapshot's: the page side only reads (into the new machine's memory).
    const tampered = file.slice();
    tampered[tampered.length - 1] ^= 1;
    await expect(decodeSnapshot(tampered, { elsewhere: [first] })).rejects.toThrow('the snapshot is damaged or was altered (its checksum does not match)');
  });

  it('a page block whose bitmap and data disagree is refused the same way on both sides', async () => {
    const file = await bigSnapshot();
    const { header } = peekHeader(file);
    const i = pageBlocksOf(header)[1];
    const bitmapLen = Math.ceil(header.blocks[i].count / 8);
    const raw = new Uint8Array(bitmapLen + 2 * PAGE).fill(0xff, 0, bitmapLen); // lists every page, holds two
    const bad = await withBlock(file, i, raw);
    const says = `block ${i} (pages): its bitmap lists ${header.blocks[i].count} pages, its data does not match`;
    await expect(decodeSnapshot(bad)).rejects.toThrow(says);
    await expect(inflatePagesInto(bad, taking([i]), new Uint8Array(MIB << 20))).rejects.toThrow(new SnapshotError(says));
    // The same block made honest (two pages listed) goes in on either side.
    raw.fill(0, 0, bitmapLen);
    raw[0] = 0b101;
    raw.fill(7, bitmapLen, bitmapLen + PAGE);
    raw.fill(9, bitmapLen + PAGE);
    const good = await withBlock(file, i, raw);
    const ram = new Uint8Array(MIB << 20);
    await inflatePagesInto(good, taking([i]), ram);
    const first = peekHeader(good).header.blocks[i].first;
    expect(ram[first * PAGE]).toBe(7);
    expect(ram[(first + 1) * PAGE]).toBe(0);
    expect(ram[(first + 2) * PAGE + 4095]).toBe(9);
    expect((await decodeSnapshot(good)).pages.get(first + 2)![0]).toBe(9);
  });

  it('a delta has no blocks to share (its pages go onto its base\'s)', async () => {
    const snap: Snapshot = await decodeSnapshot(await bigSnapshot());
    snap.header.base = 'ab'.repeat(32);
    const delta = await encodeSnapshot(snap);
    const { header } = peekHeader(delta);
    expect(pageBlocksOf(header)).toEqual([]);
    const pageBlock = header.blocks.findIndex((b) => b.kind === 'pages');
    await expect(decodeSnapshot(delta, { elsewhere: [pageBlock] })).rejects.toThrow(`block ${pageBlock} cannot be inflated apart from the others`);
    await expect(inflatePagesInto(delta, taking([pageBlock]), new Uint8Array(MIB << 20))).rejects.toThrow(`block ${pageBlock} (pages) is not a page block of a full snapshot`);
  });
});

// The page resumes a full snapshot on two threads: it inflates part of the page blocks straight
// into the machine's memory (inflatePagesInto) while the worker decodes the rest
// (decodeSnapshot with `elsewhere`). Together they must put exactly what one decode puts, and
// each half must refuse what a whole decode refuses.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError, decodeSnapshot, encodeSnapshot, inflatePagesInto, pageBlocksFor, peekHeader, PAGE, type Snapshot } from '../../engine-ts/snapshot/format';
import { sha256 } from '../../engine-ts/snapshot/bytes';
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

describe('a full snapshot decoded on two threads', () => {
  it('puts the same memory as one decode, whatever the share', async () => {
    const file = await bigSnapshot();
    const { header } = peekHeader(file);
    const pageBlocks = header.blocks.flatMap((b, i) => (b.kind === 'pages' ? [i] : []));
    expect(pageBlocks.length).toBe(4);
    const whole = memoryOf((await decodeSnapshot(file)).pages);
    for (const share of [0.3, 0.65, 1]) {
      const mine = pageBlocksFor(header, share);
      expect(mine.length).toBeGreaterThan(0);
      const ram = new Uint8Array(MIB << 20);
      await inflatePagesInto(file, mine, ram);
      const rest = await decodeSnapshot(file, { elsewhere: mine });
      for (const i of mine) {
        const b = header.blocks[i];
        for (let p = b.first; p < b.first + b.count; p++) expect(rest.pages.has(p)).toBe(false);
      }
      expect(Buffer.compare(memoryOf(rest.pages, ram), whole)).toBe(0);
    }
    expect(pageBlocksFor(header, 0)).toEqual([]);
    expect(pageBlocksFor(header, 1)).toEqual(pageBlocks);
  });

  it('refuses what a whole decode refuses, on either side', async () => {
    const file = await bigSnapshot();
    const { header } = peekHeader(file);
    const [first] = pageBlocksFor(header, 0.5);
    const bad = await damagedBlock(file, first);
    await expect(decodeSnapshot(bad)).rejects.toThrow(`block ${first} (pages) is not valid compressed data`);
    await expect(inflatePagesInto(bad, [first], new Uint8Array(MIB << 20))).rejects.toThrow(new SnapshotError(`block ${first} (pages) is not valid compressed data`));
    // Memory too small for the block, a block that is not pages, one the other side is asked to skip.
    await expect(inflatePagesInto(file, [first], new Uint8Array(PAGE))).rejects.toThrow(/reaches past the machine's 1 pages/);
    await expect(inflatePagesInto(file, [0], new Uint8Array(MIB << 20))).rejects.toThrow('block 0 (state) is not a page block of a full snapshot');
    await expect(decodeSnapshot(file, { elsewhere: [0] })).rejects.toThrow('block 0 cannot be inflated apart from the others');
    await expect(decodeSnapshot(file, { elsewhere: [99] })).rejects.toThrow('block 99 cannot be inflated apart from the others');
    // The checksum is decodeSnapshot's: the page side only reads (into the new machine's memory).
    const tampered = file.slice();
    tampered[tampered.length - 1] ^= 1;
    await expect(decodeSnapshot(tampered, { elsewhere: [first] })).rejects.toThrow('the snapshot is damaged or was altered (its checksum does not match)');
  });

  it('a delta has no blocks to share (its pages go onto its base\'s)', async () => {
    const snap: Snapshot = await decodeSnapshot(await bigSnapshot());
    snap.header.base = 'ab'.repeat(32);
    const delta = await encodeSnapshot(snap);
    const { header } = peekHeader(delta);
    expect(pageBlocksFor(header, 1)).toEqual([]);
    const pageBlock = header.blocks.findIndex((b) => b.kind === 'pages');
    await expect(decodeSnapshot(delta, { elsewhere: [pageBlock] })).rejects.toThrow(`block ${pageBlock} cannot be inflated apart from the others`);
    await expect(inflatePagesInto(delta, [pageBlock], new Uint8Array(MIB << 20))).rejects.toThrow(`block ${pageBlock} (pages) is not a page block of a full snapshot`);
  });
});

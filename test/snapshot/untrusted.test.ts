// A snapshot is a file from outside: each kind of bad one gets one clear error naming the
// problem, before anything is built from its numbers.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError, readSnapshotHeader } from '../../engine-ts/api/node';
import { FORMAT_VERSION, decodeSnapshot, encodeSnapshot } from '../../engine-ts/snapshot/format';
import { deflate, sha256 } from '../../engine-ts/snapshot/bytes';
import { resume, root, sha } from './helpers';

const fixture = new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/snapshots/hello-format1-map3.pvsnap')));

async function refused(file: Uint8Array, opts: Parameters<typeof resume>[1] = {}): Promise<string> {
  try {
    const r = await resume(file, opts);
    r.machine.dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(SnapshotError);
    return (e as Error).message;
  }
  throw new Error('the snapshot was accepted');
}

/** Rewrite the header JSON (and the checksum, as a forger would). */
async function withHeader(file: Uint8Array, edit: (h: Record<string, unknown>) => void): Promise<Uint8Array> {
  const dv = new DataView(file.buffer, file.byteOffset);
  const hlen = dv.getUint32(12, true);
  const h = JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + hlen)));
  edit(h);
  const nh = new TextEncoder().encode(JSON.stringify(h));
  const body = file.subarray(16 + hlen, file.length - 32);
  const out = new Uint8Array(16 + nh.length + body.length + 32);
  out.set(file.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, nh.length, true);
  out.set(nh, 16);
  out.set(body, 16 + nh.length);
  out.set(await sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

describe('untrusted snapshots', () => {
  it('truncated', async () => {
    expect(await refused(fixture.subarray(0, fixture.length - 100))).toMatch(/^the snapshot is truncated: it should be \d+ bytes, the file has \d+$/);
    expect(await refused(fixture.subarray(0, 40))).toMatch(/^the snapshot is truncated/);
  });

  it('wrong magic', async () => {
    const f = fixture.slice();
    f[0] = 0x51;
    expect(await refused(f)).toBe('not a pvlab snapshot (wrong magic: it does not start with "PVLABSNP")');
    expect(await refused(new TextEncoder().encode('<!doctype html><html>…'))).toMatch(/wrong magic/);
  });

  it('from a newer pvlab: the file format, or a part\'s state', async () => {
    const f = fixture.slice();
    new DataView(f.buffer).setUint32(8, 9, true);
    expect(await refused(f)).toBe(`this snapshot is format 9, made by a newer pvlab; this one reads up to format ${FORMAT_VERSION}`);
    const snap = await decodeSnapshot(fixture);
    snap.state.find((s) => s.name === 'pit-8254')!.version = 7;
    expect(await refused(await encodeSnapshot(snap))).toBe('the snapshot\'s state of "pit-8254" does not load: pit-8254 state is version 7; this build reads up to 1 (a newer pvlab saved it)');
  });

  it('tampered: one byte changed anywhere', async () => {
    const f = fixture.slice();
    f[f.length - 200] ^= 1;
    expect(await refused(f)).toBe('the snapshot is damaged or was altered (its checksum does not match)');
  });

  it('oversized: numbers beyond what the machine can hold, and a block that inflates past its size', async () => {
    const big = await withHeader(fixture, (h) => {
      const pages = (h.blocks as Array<Record<string, unknown>>).find((b) => b.kind === 'pages')!;
      pages.first = 2 ** 40;
    });
    expect(await refused(big)).toMatch(/^block \d+ \(pages\) covers pages 1099511627776\.\.\d+, outside the machine's 1024 pages$/);
    const huge = await withHeader(fixture, (h) => { (h.config as Record<string, unknown>).memoryMiB = 1e9; });
    expect(await refused(huge)).toBe('the snapshot header is damaged: header.config.memoryMiB is 1000000000, outside [1, 3072]');
    // A bomb: 64 MiB of zeros squeezed into one block that claims to be a 4 KiB vCPU block.
    const snap = await decodeSnapshot(fixture);
    const encoded = await encodeSnapshot(snap);
    const bomb = await deflate(new Uint8Array(64 << 20));
    const hlen = new DataView(encoded.buffer).getUint32(12, true);
    const h = JSON.parse(new TextDecoder().decode(encoded.subarray(16, 16 + hlen)));
    const blocks = h.blocks as Array<{ kind: string; length: number; rawLength: number }>;
    const parts: Uint8Array[] = [];
    let off = 16 + hlen;
    for (const b of blocks) {
      let data = encoded.subarray(off, off + b.length);
      off += b.length;
      if (b.kind === 'vcpu') { data = bomb; b.length = bomb.length; }
      parts.push(data);
    }
    const nh = new TextEncoder().encode(JSON.stringify(h));
    const total = 16 + nh.length + parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(total + 32);
    out.set(encoded.subarray(0, 16));
    new DataView(out.buffer).setUint32(12, nh.length, true);
    out.set(nh, 16);
    let o = 16 + nh.length;
    for (const p of parts) { out.set(p, o); o += p.length; }
    out.set(await sha256(out.subarray(0, total)), total);
    expect(await refused(out)).toMatch(/^block \d+ \(vcpu\) expands to more than the 65536 bytes it declares$/);
  });

  it('a delta: without its base, and against the wrong base', async () => {
    const r = await resume(fixture);
    r.machine.sendInput(new TextEncoder().encode('more\r'));
    await r.machine.run({ untilCycle: (await r.machine.stats()).cycles + 5_000_000 });
    const delta = await r.machine.snapshot({ base: fixture });
    const other = await r.machine.snapshot();
    r.machine.dispose();
    const { header } = await readSnapshotHeader(delta);
    expect(header.base).toMatch(/^[0-9a-f]{64}$/);
    expect(delta.length).toBeLessThan(fixture.length);
    expect(await refused(delta)).toMatch(/^this snapshot is a delta; it needs its base snapshot \(SHA-256 [0-9a-f]{12}…\)$/);
    expect(await refused(delta, { base: other })).toMatch(/^this delta was made against snapshot [0-9a-f]{12}…, not against [0-9a-f]{12}… \(wrong base\)$/);
    // The delta and its base make the very machine the full snapshot holds.
    const ok = await resume(delta, { base: fixture });
    expect(sha(await ok.machine.snapshot())).toBe(sha(other));
    ok.machine.dispose();
  });

  it('a snapshot of another kind of machine', async () => {
    const snap = await decodeSnapshot(fixture);
    snap.state = snap.state.filter((s) => s.name !== 'pic-8259');
    expect(await refused(await encodeSnapshot(snap))).toBe('the snapshot has no state for "pic-8259" (it is of another kind of machine)');
    snap.state.push({ name: 'flux-capacitor', version: 1, record: {} });
    snap.state.push({ name: 'pic-8259', version: 1, record: (await decodeSnapshot(fixture)).state.find((s) => s.name === 'pic-8259')!.record });
    expect(await refused(await encodeSnapshot(snap))).toBe('the snapshot holds state for "flux-capacitor", which this machine does not have');
  });

  it('carried disks: slots the machine lacks, sizes and chunks out of range, blocks for slots not carried', async () => {
    const snap = await decodeSnapshot(fixture);
    // The hello machine has no disk slot: it cannot carry one.
    const carried = { ...snap, header: { ...snap.header, disks: [{ slot: 0, size: 1 << 20, name: 'x' }] } };
    expect(await refused(await encodeSnapshot(carried))).toBe('the snapshot header is damaged: header a carried disk is slot 0; the machine has 0 disks');
    // With a slot: a chunk past the disk's end, a size that is not whole sectors, a block for a slot not carried.
    const withSlot = { ...snap, header: { ...snap.header, config: { ...snap.header.config, disks: [{ bus: 'ide' as const, readOnly: false, unit: 0 }] }, disks: [{ slot: 0, size: 1 << 20, name: 'x' }] } };
    const file = await encodeSnapshot({ ...withSlot, disks: new Map([[0, new Map([[3, new Uint8Array(65536).fill(7)]])]]) });
    expect((await readSnapshotHeader(file)).header.disks).toEqual([{ slot: 0, size: 1 << 20, name: 'x' }]);
    expect(await refused(await withHeader(file, (h) => { (h.blocks as Array<{ kind: string; first: number }>).find((b) => b.kind === 'disk')!.first = 15; })))
      .toMatch(/^block \d+ \(disk\) covers chunks 15\.\.30, outside disk slot 0's 16$/);
    expect(await refused(await withHeader(file, (h) => { (h.disks as Array<{ size: number }>)[0].size = 1000; })))
      .toBe('the snapshot header is damaged: header a carried disk\'s size 1000 is not whole sectors');
    expect(await refused(await withHeader(file, (h) => { (h.blocks as Array<{ kind: string; id: number }>).find((b) => b.kind === 'disk')!.id = 1; })))
      .toMatch(/^block \d+ \(disk\) is for disk slot 1, which the header does not list as carried$/);
    // A block is a bitmap and the chunks it marks: the chunk comes back as it went.
    expect((await decodeSnapshot(file)).disks.get(0)!.get(3)![0]).toBe(7);
    const packed = (await readSnapshotHeader(file)).header.blocks.find((b) => b.kind === 'disk')!;
    expect(packed.rawLength).toBe(2 + 65536); // 16 chunks: a 2-byte bitmap
    // (An IDE disk slot with nothing given to fill it, and a host that cannot make disks.)
    expect(await refused(file)).toBe('this snapshot carries its disks, and this host cannot make disks from them: give a disk for every slot');
  });
});

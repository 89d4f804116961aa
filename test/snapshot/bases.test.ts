// Base views (engine-ts/snapshot/bases.ts) and pages stored relative to them (format 4 `refs`):
// the views of a bzImage and an initrd, the round trip through a file, and every way a file
// or an image can be wrong.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError } from '../../engine-ts/api/node';
import { BaseImageError, adoptBaseView, cpioFiles, initrdView, kernelLayoutOf, kernelView, loadedElf, planRefs, unpackedKernel } from '../../engine-ts/snapshot/bases';
import { hex, sha256 } from '../../engine-ts/snapshot/bytes';
import { PAGE, baseImagesNeeded, decodeSnapshot, encodeSnapshot, inflatePagesInto, pageBlocksOf, peekHeader, type ImageRef, type Snapshot } from '../../engine-ts/snapshot/format';
import { xzDecompress } from '../../engine-ts/snapshot/xz';
import { resume, root } from './helpers';
import { bzImage, le16, le32, xz } from '../linux/made-up-images';

const fixture = new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/snapshots/hello-format3-map6.pvsnap')));


/** A 32-bit ELF with two PT_LOAD segments (at physical 16 MiB and 16 MiB + 3 pages) and a note. */
function elf(seg1: Uint8Array, seg2: Uint8Array): Uint8Array {
  const phoff = 52;
  const off1 = 0x1000;
  const off2 = off1 + seg1.length;
  const b = new Uint8Array(off2 + seg2.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  le32(b, 28, phoff);
  le16(b, 42, 32);
  le16(b, 44, 3);
  const ph = (i: number, type: number, off: number, paddr: number, size: number) => {
    const h = phoff + i * 32;
    le32(b, h, type); le32(b, h + 4, off); le32(b, h + 8, 0xc0000000 + paddr); le32(b, h + 12, paddr); le32(b, h + 16, size); le32(b, h + 20, size);
  };
  ph(0, 1, off1, 0x1000000, seg1.length);
  ph(1, 4, off1, 0x1000000, 16); // PT_NOTE: not loaded
  ph(2, 1, off2, 0x1000000 + 3 * PAGE, seg2.length);
  b.set(seg1, off1);
  b.set(seg2, off2);
  return b;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

/** A newc cpio with these entries (mode, name, data). */
function cpio(entries: Array<[number, string, Uint8Array]>): Uint8Array {
  const parts: number[] = [];
  const pad = () => { while (parts.length % 4) parts.push(0); };
  for (const [mode, name, data] of [...entries, [0, 'TRAILER!!!', new Uint8Array(0)] as [number, string, Uint8Array]]) {
    const f = [0, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    for (const c of '070701' + f.map((v) => v.toString(16).padStart(8, '0')).join('') + name) parts.push(c.charCodeAt(0));
    parts.push(0);
    pad();
    parts.push(...data);
    pad();
  }
  return Uint8Array.from(parts);
}

async function gzip(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
}

/** A .pvsnap's header JSON (magic and versions, then its length at byte 12, then it). */
function headerOf(file: Uint8Array): any {
  const hlen = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + hlen)));
}
/** The file with header `h` instead of its own, and its checksum made anew (a forged file). */
async function withHeader(file: Uint8Array, h: unknown): Promise<Uint8Array> {
  const hlen = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  const nh = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(16 + nh.length + file.length - 16 - hlen);
  out.set(file.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, nh.length, true);
  out.set(nh, 16);
  out.set(file.subarray(16 + hlen), 16 + nh.length);
  out.set(await sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

describe('base views', () => {
  it('a bzImage: its xz payload unpacked, the PT_LOAD segments laid out from the lowest physical address', () => {
    const s1 = pattern(2 * PAGE + 100, 1);
    const s2 = pattern(PAGE + 7, 2);
    const view = kernelView(bzImage(xz(elf(s1, s2))));
    expect(view.length).toBe(5 * PAGE);
    expect(Buffer.from(view.subarray(0, s1.length)).equals(Buffer.from(s1))).toBe(true);
    expect(view.subarray(s1.length, 3 * PAGE).every((x) => x === 0)).toBe(true);
    expect(Buffer.from(view.subarray(3 * PAGE, 3 * PAGE + s2.length)).equals(Buffer.from(s2))).toBe(true);
  });

  it('a kernel view keeps where it boots from (its lowest address, the end of its memory, its entry), also when adopted', async () => {
    const e = elf(pattern(2 * PAGE + 100, 1), pattern(PAGE + 7, 2));
    le32(e, 24, 0x1000000 + 0x40); // e_entry
    le32(e, 52 + 2 * 32 + 20, PAGE + 7 + 5000); // the second segment's memory size: a BSS after its bytes
    const bz = bzImage(xz(e));
    const layout = { base: 0x1000000, end: 0x1000000 + 3 * PAGE + PAGE + 7 + 5000, entry: 0x1000040 };
    expect(kernelLayoutOf(kernelView(bz))).toEqual(layout);
    const un = await unpackedKernel(bz);
    expect(un && { base: un.base, end: un.end, entry: un.entry }).toEqual(layout);
    expect(un!.image.length).toBe(5 * PAGE);
    // A view adopted from another thread carries the layout given with it.
    const shared = new Uint8Array(PAGE);
    adoptBaseView({ role: 'kernel', sha256: 'ab'.repeat(32) }, shared, layout);
    expect(kernelLayoutOf(shared)).toEqual(layout);
    // An entry outside the kernel leaves a view for snapshots, not for booting.
    le32(e, 24, 0x2000000);
    expect(kernelLayoutOf(loadedElf(e))).toBeUndefined();
    expect(await unpackedKernel(bzImage(xz(e)))).toBeUndefined();
    expect(await unpackedKernel(new Uint8Array(4096))).toBeUndefined(); // not a bzImage: booted the old way
  });

  it('a bzImage that is not one, or whose payload is damaged, is a BaseImageError saying so', () => {
    expect(() => kernelView(new Uint8Array(4096))).toThrow(new BaseImageError('it is not a bzImage (no "HdrS" boot header)'));
    const bz = bzImage(xz(elf(pattern(PAGE, 3), pattern(PAGE, 4))));
    const bad = bz.slice();
    bad[bad.length - 40] ^= 0xff; // in the payload's index or footer
    expect(() => kernelView(bad)).toThrow(/^its payload does not unpack: /);
    const long = bz.slice();
    le32(long, 0x24c, 1 << 30);
    expect(() => kernelView(long)).toThrow('its payload reaches past the end of the file');
    expect(() => loadedElf(new Uint8Array(100))).toThrow('the kernel is not an ELF file');
    const far = elf(pattern(PAGE, 5), pattern(PAGE, 6));
    le32(far, 52 + 2 * 32 + 12, 0x1000000 + (80 << 20)); // the second segment 80 MiB on
    expect(() => loadedElf(far)).toThrow(`the kernel spans more than ${64 << 20} bytes of memory`);
  });

  it('an initrd: its regular files, each padded to whole pages, gzip\'d or not', async () => {
    const a = pattern(5000, 7);
    const b = pattern(PAGE, 8);
    const archive = cpio([[0o40755, 'bin', new Uint8Array(0)], [0o100644, 'bin/a', a], [0o120777, 'sh', new TextEncoder().encode('busybox')], [0o100755, 'init', b]]);
    const view = cpioFiles(archive);
    expect(view.length).toBe(3 * PAGE);
    expect(Buffer.from(view.subarray(0, a.length)).equals(Buffer.from(a))).toBe(true);
    expect(view.subarray(a.length, 2 * PAGE).every((x) => x === 0)).toBe(true);
    expect(Buffer.from(view.subarray(2 * PAGE)).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(await initrdView(await gzip(archive))).equals(Buffer.from(view))).toBe(true);
    await expect(initrdView(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]))).rejects.toThrow(BaseImageError);
    expect(() => cpioFiles(archive.subarray(0, 200))).toThrow(/cut short|trailer/);
    expect(() => cpioFiles(new TextEncoder().encode('not a cpio archive at all, no, not at all. '.repeat(4)))).toThrow('the initrd is not a newc cpio archive (gzip\'d or plain)');
  });

  it('the bundled guest\'s kernel: the same view as from the xz command\'s vmlinux', () => {
    const f = path.join(root, 'public/guests/linux/bzImage');
    if (!fs.existsSync(f)) throw new Error('public/guests/linux is missing: npm run guest:linux (npm test builds it)');
    const bz = new Uint8Array(fs.readFileSync(f));
    const setup = ((bz[0x1f1] || 4) + 1) * 512;
    const dv = new DataView(bz.buffer, bz.byteOffset);
    const payload = bz.subarray(setup + dv.getUint32(0x248, true), setup + dv.getUint32(0x248, true) + dv.getUint32(0x24c, true));
    const mine = xzDecompress(payload, 64 << 20);
    const theirs = new Uint8Array(execFileSync('xz', ['-dc', '--single-stream'], { input: payload.subarray(0, mine.end), maxBuffer: 1 << 26 }));
    expect(Buffer.from(mine.output).equals(Buffer.from(theirs))).toBe(true);
    expect(Buffer.from(kernelView(bz)).equals(Buffer.from(loadedElf(theirs)))).toBe(true);
  });
});

/** The hello fixture as if it were of a Linux guest with these images (the hello guest's pages stand in for the kernel's). */
async function linuxLike(images: Uint8Array[]): Promise<Snapshot> {
  const snap = await decodeSnapshot(fixture);
  const refs: ImageRef[] = [];
  for (const [i, b] of images.entries()) refs.push({ role: i === 0 ? 'kernel' : 'initrd', sha256: hex(await sha256(b)), size: b.length });
  snap.header.config.guest = { kind: 'linux', name: 'test', cmdline: '', loadAddress: 0, images: refs };
  snap.images = new Map(); // (the hello guest's flat image travelled in it)
  for (let p = 200; p < 204; p++) snap.pages.set(p, pattern(PAGE, p));
  return snap;
}

describe('pages stored relative to base views', () => {
  it('round trip: equal pages take no bytes, changed ones their XOR; the pages come back whole', async () => {
    const snap = await linuxLike([new Uint8Array(10), new Uint8Array(20)]);
    const used = [...snap.pages.keys()].sort((a, b) => a - b);
    expect(used.length).toBeGreaterThan(3);
    // A "kernel" view holding the snapshot's first pages (the second with two words changed),
    // and an "initrd" view holding its last page at view page 2.
    const kernel = new Uint8Array(4 * PAGE);
    kernel.set(snap.pages.get(used[0])!, 0);
    kernel.set(snap.pages.get(used[1])!, PAGE);
    kernel[PAGE + 8] ^= 1;
    kernel[PAGE + 4000] ^= 0x80;
    const initrd = new Uint8Array(3 * PAGE);
    initrd.set(snap.pages.get(used[used.length - 1])!, 2 * PAGE);
    const bases = new Map([[0, kernel], [1, initrd]]);
    snap.refs = new Map([[used[0], { image: 0, page: 0 }], [used[1], { image: 0, page: 1 }], [used[used.length - 1], { image: 1, page: 2 }]]);
    const plain = await encodeSnapshot({ ...snap, refs: undefined, header: structuredClone(snap.header) });
    const file = await encodeSnapshot(snap, { bases });
    const { header } = peekHeader(file);
    const raw = (h: typeof header) => h.blocks.filter((b) => b.kind === 'pages').reduce((a, b) => a + b.rawLength, 0);
    expect(raw(header)).toBe(raw(peekHeader(plain).header) - 2 * PAGE); // the equal pages are not stored
    expect(baseImagesNeeded(header)).toEqual([0, 1]);
    expect(pageBlocksOf(header).some((i) => header.blocks[i].refs)).toBe(false); // shared out only where every thread has the views
    const back = await decodeSnapshot(file, { bases });
    expect(back.pages.size).toBe(snap.pages.size);
    for (const [p, b] of snap.pages) expect(Buffer.from(back.pages.get(p)!).equals(Buffer.from(b))).toBe(true);
    expect(back.refs).toEqual(snap.refs);
    // Encoded again from what was decoded: the same file.
    expect(Buffer.from(await encodeSnapshot(back, { bases })).equals(Buffer.from(file))).toBe(true);
    // Straight into a machine's memory (as the page and the machine's worker share the page blocks out): the same memory.
    const blocks = pageBlocksOf(header, { withRefs: true });
    expect(blocks.some((i) => header.blocks[i].refs)).toBe(true);
    const take = () => { const list = [...blocks]; return () => list.shift(); };
    const ram = new Uint8Array(snap.header.config.memoryMiB << 20);
    await inflatePagesInto(file, take(), ram, undefined, bases);
    for (let p = 0; p < ram.length / PAGE; p++) {
      const want = back.pages.get(p) ?? new Uint8Array(PAGE);
      expect(Buffer.from(ram.subarray(p * PAGE, (p + 1) * PAGE)).equals(Buffer.from(want))).toBe(true);
    }
    await expect(inflatePagesInto(file, take(), ram)).rejects.toThrow(new SnapshotError(`this snapshot stores guest memory relative to the guest's kernel (a bzImage) of 10 bytes, SHA-256 ${snap.header.config.guest.images[0].sha256}; resuming it needs that file`));
  });

  it('planRefs finds the kernel where it lies in memory (words patched on its pages), and pages equal to initrd pages', async () => {
    const view = pattern(40 * PAGE, 11);
    const files = pattern(6 * PAGE, 12);
    const pages = new Map<number, Uint8Array>();
    for (let k = 0; k < 40; k++) {
      const p = view.slice(k * PAGE, (k + 1) * PAGE);
      for (let w = 0; w < PAGE; w += 400) p[w + 3] += 3; // a relocation
      if (k !== 17) pages.set(1000 + k, p); // one page of the kernel freed (zero)
    }
    pages.set(1017, pattern(PAGE, 13)); // ... and given to something else: not stored relative to the kernel
    pages.set(5, files.slice(4 * PAGE, 5 * PAGE));
    pages.set(6, pattern(PAGE, 14));
    const config = (await linuxLike([new Uint8Array(1), new Uint8Array(2)])).header.config;
    const refs = planRefs(pages, config, new Map([[0, view], [1, files]]));
    expect(refs.get(1000)).toEqual({ image: 0, page: 0 });
    expect(refs.get(1039)).toEqual({ image: 0, page: 39 });
    expect(refs.has(1017)).toBe(false);
    expect(refs.get(5)).toEqual({ image: 1, page: 4 });
    expect(refs.has(6)).toBe(false);
    expect(refs.size).toBe(39 + 1);
  });

  it('a missing base view, a view too short, runs that overlap or leave the block, refs in a delta: one clear SnapshotError each', async () => {
    const kernelBytes = new Uint8Array(10);
    const snap = await linuxLike([kernelBytes]);
    const used = [...snap.pages.keys()].sort((a, b) => a - b);
    const kernel = new Uint8Array(2 * PAGE);
    kernel.set(snap.pages.get(used[0])!, PAGE);
    snap.refs = new Map([[used[0], { image: 0, page: 1 }]]);
    const file = await encodeSnapshot(snap, { bases: new Map([[0, kernel]]) });
    const sha = snap.header.config.guest.images[0].sha256;
    await expect(decodeSnapshot(file)).rejects.toThrow(new SnapshotError(`this snapshot stores guest memory relative to the guest's kernel (a bzImage) of 10 bytes, SHA-256 ${sha}; resuming it needs that file`));
    const block = peekHeader(file).header.blocks.findIndex((b) => b.refs);
    await expect(decodeSnapshot(file, { bases: new Map([[0, new Uint8Array(PAGE)]]) })).rejects.toThrow(new SnapshotError(`block ${block} (pages) refers pages ${used[0]}.. to pages 1..1 of image 0's base view, which has 1`));
    // Headers forged (checksum and all).
    const forged = async (edit: (refs: number[][], h: Record<string, unknown>) => void) => {
      const h = headerOf(file);
      edit(h.blocks[block].refs, h);
      const out = await withHeader(file, h);
      return decodeSnapshot(out, { bases: new Map([[0, kernel]]) }).then(() => 'decoded', (e: Error) => { expect(e).toBeInstanceOf(SnapshotError); return e.message; });
    };
    const at = used[0] % 1024;
    expect(await forged((r) => r.push([at, 1, 0, 0]))).toMatch(/refers page \d+ to a base image twice/);
    expect(await forged((r) => { r[0][1] = 2000; })).toMatch(/refers pages \d+\.\.\d+ to a base image; the block has 1024/);
    expect(await forged((r) => { r[0][1] = -1; })).toMatch(/^the snapshot header is damaged: .*refs/);
    expect(await forged((r) => { r[0][0] = 1023; r[0][1] = 5; })).toMatch(/refers pages 1023\.\.1027 to a base image; the block has 1024/);
    expect(await forged((r) => { r[0][2] = 3; })).toMatch(/refers to base image 3, which is not a Linux kernel or initrd/);
    expect(await forged((r) => { r[0][3] = 1 << 20; })).toMatch(/refers past the end of any base image/);
    expect(await forged((r, h) => { h.base = sha; })).toMatch(/only a full snapshot's page blocks may refer to base images/);
    expect(await forged((_r, h) => { (h.config as { guest: { kind: string } }).guest.kind = 'multiboot'; })).toMatch(/not a Linux kernel or initrd/);
    expect(await forged((r) => { r[0] = [0, 1, 0] as unknown as number[]; })).toMatch(/^the snapshot header is damaged/);
  });

  it('resuming: the image not at hand, or one whose view cannot be made, is a SnapshotError naming it', async () => {
    const corrupt = bzImage(xz(elf(pattern(PAGE, 21), pattern(PAGE, 22))));
    corrupt[corrupt.length - 40] ^= 0xff;
    const snap = await linuxLike([corrupt]);
    const used = [...snap.pages.keys()].sort((a, b) => a - b);
    snap.refs = new Map([[used[0], { image: 0, page: 0 }]]);
    const file = await encodeSnapshot(snap, { bases: new Map([[0, new Uint8Array(PAGE)]]) });
    const sha = snap.header.config.guest.images[0].sha256;
    await expect(resume(file, { images: () => undefined })).rejects.toThrow(`this snapshot stores guest memory relative to the guest's kernel (a bzImage) of ${corrupt.length} bytes, SHA-256 ${sha}; resuming it needs that file`);
    // Another file of the same size is not the image.
    await expect(resume(file, { images: () => new Uint8Array(corrupt.length) })).rejects.toThrow(/needs that file$/);
    const e = await resume(file, { images: () => corrupt }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(SnapshotError);
    expect((e as Error).message).toMatch(new RegExp(`^the guest's kernel \\(a bzImage\\) of ${corrupt.length} bytes, SHA-256 ${sha} cannot serve as a base image: its payload does not unpack: `));
  });

  it('three hundred forged refs: each decodes or is refused cleanly', async () => {
    const snap = await linuxLike([new Uint8Array(10), new Uint8Array(20)]);
    const used = [...snap.pages.keys()].sort((a, b) => a - b);
    const bases = new Map([[0, new Uint8Array(8 * PAGE)], [1, new Uint8Array(8 * PAGE)]]);
    snap.refs = new Map(used.slice(0, 3).map((p, i) => [p, { image: i & 1, page: i }]));
    const file = await encodeSnapshot(snap, { bases });
    const h0 = headerOf(file);
    const block = (h0.blocks as Array<{ refs?: unknown }>).findIndex((b) => b.refs);
    let x = 4242;
    const rand = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
    const junk = [-1, 0, 1, 2, 3, 1023, 1024, 1025, 2 ** 20, 2 ** 32, 0.5, '1', null, [], {}];
    const tally = { decoded: 0, refused: 0 };
    for (let i = 0; i < 300; i++) {
      const h = structuredClone(h0);
      const refs = h.blocks[block].refs as unknown[][];
      const run = refs[rand(refs.length)];
      if (rand(5) === 0) refs.push([rand(1024), 1 + rand(3), rand(2), rand(10)]);
      else run[rand(4)] = rand(3) === 0 ? junk[rand(junk.length)] : rand(12);
      const out = await withHeader(file, h);
      try {
        await decodeSnapshot(out, { bases });
        tally.decoded++;
      } catch (e) {
        if (!(e instanceof SnapshotError)) throw e;
        tally.refused++;
      }
    }
    expect(tally.refused).toBeGreaterThan(100);
    expect(tally.decoded).toBeGreaterThan(10);
  });
});

// Base views: what a Linux guest's own images look like once in its memory, so a snapshot can
// store pages as their difference from them (format.ts, `refs`). Both sides have the images
// (the snapshot names them by SHA-256), so the views are made, never carried:
// - a kernel (bzImage): its protected-mode payload, an xz stream (LZMA2 behind the x86 BCJ
//   filter, as the kernel's xz_wrap packs it), unpacked to the vmlinux ELF, whose PT_LOAD
//   segments are laid out from the lowest physical address as the kernel's decompressor lays
//   them at the load address. (KASLR picks the load address and relocations then patch a few
//   words per page: the XOR of a page with its view is still mostly zero.)
// - an initrd (a gzip'd or plain newc cpio): the contents of its regular files in archive
//   order, each padded to whole pages, as the guest's page cache holds them (at pages of its
//   choosing: a page of memory equal to a page of the view refers to it).
// A view takes a while to make (unpacking the kernel: about 1 s in V8 here), so each is made
// once per thread and kept here by the image's SHA-256 (`prepareBaseView`; a view made by
// another thread, in shared memory, is adopted with `adoptBaseView`).
//
// The images are untrusted: every size is checked before anything is allocated from it.

import { gunzip, hex, sha256 } from './bytes';
import { xzDecompress } from './xz';
import type { KernelLayout, UnpackedKernel } from '../board/loaders/linux';
import { PAGE, SnapshotError, describeImage, type BaseViews, type ImageRef, type PageRef, type SavedConfig } from './format';

/** The largest kernel view (and the vmlinux it comes from). */
export const MAX_KERNEL_VIEW = 64 << 20;
/** The largest initrd view (and the cpio it comes from). */
export const MAX_INITRD_VIEW = 256 << 20;

export class BaseImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaseImageError';
  }
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const roundUp = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** The roles whose images have base views (of a Linux guest). */
export function hasBaseView(config: SavedConfig, image: number): boolean {
  const role = config.guest.images[image]?.role;
  return config.guest.kind === 'linux' && (role === 'kernel' || role === 'initrd');
}

/** A bzImage's kernel as its decompressor lays it out in memory (see above). */
export function kernelView(bz: Uint8Array): Uint8Array {
  if (bz.length < 0x250 || u32(bz, 0x202) !== 0x53726448) throw new BaseImageError('it is not a bzImage (no "HdrS" boot header)');
  if (u16(bz, 0x206) < 0x208) throw new BaseImageError('its boot protocol is older than 2.08 (no payload fields)');
  const setup = ((bz[0x1f1] || 4) + 1) * 512;
  const off = setup + u32(bz, 0x248);
  const len = u32(bz, 0x24c);
  if (off + len > bz.length) throw new BaseImageError('its payload reaches past the end of the file');
  const payload = bz.subarray(off, off + len);
  if (payload[0] !== 0xfd || payload[1] !== 0x37) throw new BaseImageError('its payload is not xz-compressed');
  let elf: Uint8Array;
  try {
    elf = xzDecompress(payload, MAX_KERNEL_VIEW).output;
  } catch (e) {
    throw new BaseImageError(`its payload does not unpack: ${(e as Error).message}`);
  }
  return loadedElf(elf);
}

/**
 * Where a kernel view goes in guest memory, for booting the kernel from it (UnpackedKernel in
 * board/loaders/linux.ts): kept beside each view loadedElf makes, and handed with a view to
 * another thread (adoptBaseView).
 */
const layouts = new WeakMap<Uint8Array, KernelLayout>();

/** The layout of a view loadedElf (or kernelView) made, or one adopted with it. */
export function kernelLayoutOf(view: Uint8Array): KernelLayout | undefined {
  return layouts.get(view);
}

/** A 32-bit little-endian ELF's PT_LOAD segments (their file bytes) from the lowest physical address. */
export function loadedElf(elf: Uint8Array): Uint8Array {
  if (elf.length < 52 || u32(elf, 0) !== 0x464c457f) throw new BaseImageError('the kernel is not an ELF file');
  if (elf[4] !== 1 || elf[5] !== 1) throw new BaseImageError('the kernel is not a 32-bit little-endian ELF');
  const phoff = u32(elf, 28);
  const phentsize = u16(elf, 42);
  const phnum = u16(elf, 44);
  if (phentsize < 32 || phnum > 64 || phoff + phnum * phentsize > elf.length) throw new BaseImageError('the kernel\'s program headers are damaged');
  const segs: Array<{ off: number; paddr: number; size: number; memsz: number }> = [];
  for (let i = 0; i < phnum; i++) {
    const h = phoff + i * phentsize;
    if (u32(elf, h) !== 1) continue; // PT_LOAD
    const off = u32(elf, h + 4);
    const paddr = u32(elf, h + 12);
    const size = u32(elf, h + 16);
    const memsz = u32(elf, h + 20);
    if (size === 0) continue;
    if (off + size > elf.length) throw new BaseImageError('a kernel segment reaches past the end of the ELF file');
    segs.push({ off, paddr, size, memsz: Math.max(size, memsz) });
  }
  if (!segs.length) throw new BaseImageError('the kernel has no segment to load');
  const lo = Math.min(...segs.map((s) => s.paddr));
  const end = Math.max(...segs.map((s) => s.paddr + s.size));
  if (end - lo > MAX_KERNEL_VIEW) throw new BaseImageError(`the kernel spans more than ${MAX_KERNEL_VIEW} bytes of memory`);
  const view = new Uint8Array(roundUp(end - lo));
  for (const s of segs) view.set(elf.subarray(s.off, s.off + s.size), s.paddr - lo);
  // (Segments whose zero-filled tail, the kernel's BSS, reaches too far, or an entry point
  // outside the kernel, leave the view without a layout: it serves snapshots, not booting.)
  const memEnd = Math.max(...segs.map((s) => s.paddr + s.memsz));
  const entry = u32(elf, 24);
  if (memEnd - lo <= MAX_KERNEL_VIEW && entry >= lo && entry < end) layouts.set(view, { base: lo, end: memEnd, entry });
  return view;
}

/** An initrd's regular files, each padded to whole pages, in archive order (see above). */
export async function initrdView(initrd: Uint8Array): Promise<Uint8Array> {
  let cpio = initrd;
  if (initrd[0] === 0x1f && initrd[1] === 0x8b) {
    try {
      cpio = await gunzip(initrd, MAX_INITRD_VIEW, 'the initrd');
    } catch (e) {
      throw new BaseImageError((e as Error).message);
    }
  }
  return cpioFiles(cpio);
}

const ascii = (b: Uint8Array, o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));

/** The regular files of a newc cpio archive (up to its trailer), each padded to whole pages. */
export function cpioFiles(cpio: Uint8Array): Uint8Array {
  const files: Uint8Array[] = [];
  let total = 0;
  let o = 0;
  for (;;) {
    if (o + 110 > cpio.length) throw new BaseImageError('the initrd\'s cpio archive ends without its trailer');
    const magic = ascii(cpio, o, 6);
    if (magic !== '070701' && magic !== '070702') throw new BaseImageError('the initrd is not a newc cpio archive (gzip\'d or plain)');
    const field = (k: number) => {
      const s = ascii(cpio, o + 6 + 8 * k, 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new BaseImageError('the initrd\'s cpio archive has a damaged header');
      return parseInt(s, 16);
    };
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = o + 110;
    if (nameSize < 1 || name + nameSize > cpio.length) throw new BaseImageError('the initrd\'s cpio archive is cut short');
    const data = (name + nameSize + 3) & ~3;
    if (ascii(cpio, name, nameSize - 1) === 'TRAILER!!!') break;
    if (data + size > cpio.length) throw new BaseImageError('the initrd\'s cpio archive is cut short');
    if ((mode & 0o170000) === 0o100000 && size > 0) {
      total += roundUp(size);
      if (total > MAX_INITRD_VIEW) throw new BaseImageError(`the initrd's files hold more than ${MAX_INITRD_VIEW} bytes`);
      files.push(cpio.subarray(data, data + size));
    }
    o = (data + size + 3) & ~3;
  }
  const view = new Uint8Array(total);
  let at = 0;
  for (const f of files) { view.set(f, at); at += roundUp(f.length); }
  return view;
}

// ---- views kept per thread ------------------------------------------------------------------

const views = new Map<string, Promise<Uint8Array>>();
const keyOf = (ref: Pick<ImageRef, 'role' | 'sha256'>) => `${ref.role} ${ref.sha256}`;

/**
 * The base view of `bytes`, the image `ref` names (made once per thread: later calls share it).
 * Bytes that are not that image (their SHA-256 differs) are an error, and are not kept.
 */
export async function prepareBaseView(ref: Pick<ImageRef, 'role' | 'sha256'>, bytes: Uint8Array): Promise<Uint8Array> {
  const have = views.get(keyOf(ref));
  if (have) return have;
  if (hex(await sha256(bytes)) !== ref.sha256) throw new BaseImageError(`the file given for the ${ref.role} is not the one named (its SHA-256 differs)`);
  let v = views.get(keyOf(ref)); // (made meanwhile by another caller)
  if (!v) {
    v = ref.role === 'kernel' ? Promise.resolve().then(() => kernelView(bytes)) : ref.role === 'initrd' ? initrdView(bytes) : Promise.reject(new BaseImageError(`a ${ref.role} has no base view`));
    views.set(keyOf(ref), v);
  }
  return v;
}

/** A view already made (by this thread, or adopted), or undefined. */
export function preparedBaseView(ref: Pick<ImageRef, 'role' | 'sha256'>): Promise<Uint8Array> | undefined {
  return views.get(keyOf(ref));
}

/** Keep a view another thread made (in shared memory) as this thread's. */
export function adoptBaseView(ref: Pick<ImageRef, 'role' | 'sha256'>, view: Uint8Array, layout?: KernelLayout): void {
  if (view.length % PAGE !== 0) throw new BaseImageError('a base view must be whole pages');
  if (views.has(keyOf(ref))) return;
  if (layout && ref.role === 'kernel') layouts.set(view, layout);
  views.set(keyOf(ref), Promise.resolve(view));
}

/**
 * The kernel proper of a bzImage (`bytes`, whose SHA-256 is `sha256` when known), unpacked and
 * laid out for the loader to boot it directly (board/loaders/linux.ts, `unpacked`): its base
 * view, made once per thread and shared with snapshots. Undefined when that cannot be done (a
 * payload not packed with xz, a kernel that is not a 32-bit ELF): the kernel then boots through
 * its own decompressor, which says what it makes of the image.
 */
export async function unpackedKernel(bytes: Uint8Array, sha256Hex?: string): Promise<UnpackedKernel | undefined> {
  try {
    const view = await prepareBaseView({ role: 'kernel', sha256: sha256Hex ?? hex(await sha256(bytes)) }, bytes);
    const layout = layouts.get(view);
    return layout && { image: view, ...layout };
  } catch {
    return undefined;
  }
}

/** Where the bytes of a guest image a snapshot names are found (undefined: not at hand). */
export type ImageFinder = (ref: ImageRef) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

/**
 * The base views of the images `wanted` (indices into config.guest.images): kept ones, else made
 * from what `find` gives. An image not at hand is left out (decodeSnapshot then names it); one
 * whose view cannot be made (a damaged xz payload, say) is a SnapshotError naming it.
 */
export async function baseViewsFor(config: SavedConfig, wanted: readonly number[], find?: ImageFinder): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for (const i of wanted) {
    const ref = config.guest.images[i];
    if (!ref || !hasBaseView(config, i)) continue;
    let made = preparedBaseView(ref);
    if (!made) {
      const bytes = await find?.(ref);
      if (!bytes || bytes.length !== ref.size) continue;
      if (hex(await sha256(bytes)) !== ref.sha256) continue; // another file of the same size
      made = prepareBaseView(ref, bytes);
    }
    try {
      out.set(i, await made);
    } catch (e) {
      throw new SnapshotError(`${describeImage(ref)} cannot serve as a base image: ${(e as Error).message}`);
    }
  }
  return out;
}

// ---- which pages to store relative to which view (the save side) ------------------------------

const W = PAGE / 4;

function words(b: Uint8Array): Int32Array {
  return new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
}

/** Words equal in two pages (`a` at word `ai`, `b` at word `bi`). */
function sameWords(a: Int32Array, ai: number, b: Int32Array, bi: number): number {
  let n = 0;
  for (let i = 0; i < W; i++) if (a[ai + i] === b[bi + i]) n++;
  return n;
}

/**
 * A page is stored relative to its place in the kernel's view if at least this many of its
 * words are equal there (a relocated page has most; a page the kernel freed and gave to
 * something else has few, and its XOR with the view would only add noise).
 */
const KERNEL_MIN_SAME = W / 8;

/**
 * Which of `pages` (a full snapshot's: page number → bytes) to store relative to which view:
 * the kernel where it lies in memory (the load address that matches the view best, checked on
 * several of its pages), the initrd's files wherever a page equals one of theirs.
 */
export function planRefs(pages: ReadonlyMap<number, Uint8Array>, config: SavedConfig, bases: BaseViews): Map<number, PageRef> {
  const refs = new Map<number, PageRef>();
  for (const [image, view] of [...bases].sort((a, b) => a[0] - b[0])) {
    if (config.guest.images[image]?.role === 'kernel' && hasBaseView(config, image)) planKernel(pages, image, view, refs);
  }
  for (const [image, view] of [...bases].sort((a, b) => a[0] - b[0])) {
    if (config.guest.images[image]?.role === 'initrd' && hasBaseView(config, image)) planFiles(pages, image, view, refs);
  }
  return refs;
}

function planKernel(pages: ReadonlyMap<number, Uint8Array>, image: number, view: Uint8Array, refs: Map<number, PageRef>): void {
  const v = words(view);
  const n = view.length / PAGE;
  // Probe pages: busy ones (few zero words), spread over the image.
  const probes: number[] = [];
  for (let k = 0; k < n && probes.length < 8; k += Math.max(1, Math.floor(n / 16))) {
    let zero = 0;
    for (let i = 0; i < W; i++) if (v[k * W + i] === 0) zero++;
    if (zero < W / 8) probes.push(k);
  }
  if (probes.length < 2) return;
  // Where the first probe matches best...
  const k0 = probes[0];
  let best = -1;
  let bestSame = W / 2; // at least half the words
  for (const [p, b] of pages) {
    if (p < k0) continue;
    const same = sameWords(words(b), 0, v, k0 * W);
    if (same > bestSame || (same === bestSame && best >= 0 && p < best)) { best = p; bestSame = same; }
  }
  if (best < 0) return;
  const load = best - k0;
  // ... and most of the others agree.
  let agree = 0;
  for (const k of probes) {
    const b = pages.get(load + k);
    if (b && sameWords(words(b), 0, v, k * W) >= W / 2) agree++;
  }
  if (agree * 2 <= probes.length) return;
  for (let k = 0; k < n; k++) {
    const b = pages.get(load + k);
    if (b && !refs.has(load + k) && sameWords(words(b), 0, v, k * W) >= KERNEL_MIN_SAME) refs.set(load + k, { image, page: k });
  }
}

/** A page's key for finding equal pages: words spread over it, mixed. */
function pageKey(w: Int32Array, at: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < W; i += 31) h = Math.imul(h ^ w[at + i], 0x01000193);
  return h >>> 0;
}

const fileIndexes = new WeakMap<Uint8Array, Map<number, number[]>>();

function planFiles(pages: ReadonlyMap<number, Uint8Array>, image: number, view: Uint8Array, refs: Map<number, PageRef>): void {
  const v = words(view);
  let index = fileIndexes.get(view);
  if (!index) {
    index = new Map();
    for (let k = 0; k < view.length / PAGE; k++) {
      let used = false;
      for (let i = 0; i < W && !used; i++) used = v[k * W + i] !== 0;
      if (!used) continue;
      const key = pageKey(v, k * W);
      const at = index.get(key);
      if (!at) index.set(key, [k]);
      else if (at.length < 8) at.push(k);
    }
    fileIndexes.set(view, index);
  }
  for (const [p, b] of pages) {
    if (refs.has(p)) continue;
    const w = words(b);
    for (const k of index.get(pageKey(w, 0)) ?? []) {
      if (sameWords(w, 0, v, k * W) === W) {
        refs.set(p, { image, page: k });
        break;
      }
    }
  }
}

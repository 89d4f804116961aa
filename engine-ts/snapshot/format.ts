// The .pvsnap file: a machine's state as one value.
//
//   "PVLABSNP"                 8 bytes, magic
//   u32 LE format version      (FORMAT_VERSION; older ones load through UPGRADES)
//   u32 LE header length H     ≤ 1 MiB
//   header                     H bytes of JSON (below): what the machine is and where its blocks are
//   blocks                     each deflate-raw compressed (the platform's CompressionStream)
//   SHA-256                    32 bytes over everything before it
//
// Blocks: 'state' — every part's declared state as [{name, version, record}] in JSON (byte
// fields as {"$b": base64}); 'vcpu' — one vCPU's state block as laid out in
// engine-wasm/memory-map.ts; 'pages' — a run of guest-physical pages: a bitmap (1 = present)
// and the present pages, 4 KiB each. A full snapshot leaves out pages that are zero; a delta
// (header.base set) leaves out pages equal to the base snapshot's and lists zero pages that
// were not zero there in 'zero' blocks. 'image' — a small guest image kept whole (a flat
// binary, a firmware ROM), so the machine can reboot without the host. 'disk' (format 3) — a
// run of one disk's 64 KiB chunks as they were at the save: a bitmap and the present chunks
// (chunks that read as zero are left out); header.disks says which disk slots travel so and
// their sizes. A snapshot without them names only the disk slots (the host supplies disks).
//
// Base images (format 4): a full snapshot's 'pages' block may list `refs`, runs of its pages
// stored relative to a base image both sides have: a view of a guest image the header names by
// SHA-256 (bases.ts: a Linux kernel's memory image unpacked from its bzImage, an initrd's files
// page by page). Run [at, count, image, page]: the block's pages at..at+count-1 are, in order,
// the pages page..page+count-1 of image `image`'s base view XOR their stored bytes; a page the
// run covers that the bitmap leaves out is the base page as it is. Reading such a snapshot
// needs those views (decodeSnapshot's `bases`); a missing one is a SnapshotError naming it.
//
// Everything here is read as untrusted: every number is checked before anything is allocated
// from it, each block may not expand past the size the header declares, and the checksum is
// verified before any block is opened.

import * as MM from '../../engine-wasm/memory-map';
import { bool, count, fields, int, list, oneOf, str, StateError, type Codec } from '../platform/state';
import { deflate, hex, inflate, inflateInto, recordsFromJson, recordsToJson, sha256, type StateRecord } from './bytes';

export const MAGIC = 'PVLABSNP';
export const FORMAT_VERSION = 4;
/** Written into every snapshot (informational: versions of each part decide what loads). */
export const ENGINE = 'pvlab 0.2';
export const PAGE = 4096;
/** Pages per 'pages' block: 4 MiB of guest memory, compressed on its own. */
export const PAGES_PER_BLOCK = 1024;
const MAX_HEADER = 1 << 20;
const MAX_STATE = 64 << 20;
const MAX_IMAGE = 16 << 20;
const MAX_BLOCKS = 1 << 16;
/** A carried disk travels in chunks of this many bytes (the last one may be shorter). */
export const DISK_CHUNK = 64 * 1024;
/** Chunks per 'disk' block (4 MiB, compressed on its own). */
export const CHUNKS_PER_BLOCK = 64;
/** The most data one carried disk may hold in a snapshot (its chunks that are not zero). */
export const MAX_DISK_DATA = 256 << 20;
/** The largest disk a snapshot may carry (its virtual size). */
export const MAX_CARRIED_DISK = 2 ** 40;

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** A guest image the snapshot refers to by content (or carries, when small). */
export interface ImageRef {
  role: 'kernel' | 'initrd' | 'image' | 'rom' | 'module';
  sha256: string;
  size: number;
  /** Multiboot module command line. */
  cmdline?: string;
}

/** The machine configuration as a snapshot keeps it (no host paths, no image bytes). */
export interface SavedConfig {
  memoryMiB: number;
  /** Virtual CPUs (format 2; a format 1 snapshot is of a one-vCPU machine). */
  vcpus: number;
  xen: boolean;
  pacing: 'realtime' | 'fast';
  debugPorts: boolean;
  consoleInput: 'serial' | 'hvc0';
  rtcStartSeconds: number;
  /** `devid` and a disk's `unit` are written since hot-plug (older files: list order). */
  nics: Array<{ mac: string; devid?: number }>;
  disks: Array<{ bus: 'ide' | 'xen'; readOnly: boolean; unit?: number }>;
  guest: { kind: 'flat' | 'linux' | 'bios' | 'multiboot'; name: string; cmdline: string; loadAddress: number; images: ImageRef[] };
}

export interface BlockInfo {
  kind: 'state' | 'vcpu' | 'pages' | 'zero' | 'image' | 'disk';
  /** Compressed bytes in the file. */
  length: number;
  /** Bytes once inflated. */
  rawLength: number;
  /** vcpu: its id. image: index into config.guest.images. disk: index into config.disks. */
  id: number;
  /** pages / zero: the first page and how many the block covers; disk: the first chunk and how many. */
  first: number;
  count: number;
  /** pages (format 4, full snapshots): runs of pages stored relative to a base image, see above. */
  refs?: RefRun[];
}

/** [at, count, image, page]: the block's pages at.. are image `image`'s base-view pages page.. XOR their stored bytes. */
export type RefRun = [number, number, number, number];

/** Where a page of a full snapshot is stored relative to: page `page` of image `image`'s base view. */
export interface PageRef {
  image: number;
  page: number;
}

/** Base views by image index (config.guest.images), as bases.ts makes them; each a whole number of pages. */
export type BaseViews = ReadonlyMap<number, Uint8Array>;

export interface SnapshotHeader {
  format: number;
  /** "pvlab <version>" that saved it. */
  engine: string;
  /** engine-wasm/memory-map.ts MAP_VERSION of the vCPU blocks. */
  mapVersion: number;
  config: SavedConfig;
  /** A delta's base: the SHA-256 of the full snapshot it applies to. */
  base: string | null;
  /** Guest time and retired instructions at the save. */
  guestNs: number;
  icount: string;
  /** The end of the console as it was (shown by snapshot libraries and restored to the screen). */
  console: string;
  /** Disks whose contents travel in the file (format 3; older files carry none). */
  disks: CarriedDisk[];
  blocks: BlockInfo[];
}

/** A disk slot whose contents the snapshot holds. */
export interface CarriedDisk {
  /** Index into config.disks. */
  slot: number;
  /** Virtual size in bytes. */
  size: number;
  /** What the disk was called where it was saved (a name for the copy made on resume). */
  name: string;
}

export interface StateSection {
  name: string;
  version: number;
  record: StateRecord;
}

/** A machine's state in memory (what encode writes and decode reads). */
export interface Snapshot {
  header: SnapshotHeader;
  state: StateSection[];
  vcpus: Uint8Array[];
  /** Guest memory page by page: present pages' bytes (a full snapshot: every non-zero page; a delta: every page that differs from the base). */
  pages: Map<number, Uint8Array>;
  /** A delta only: pages that are zero now but were not in the base. */
  zeroPages: Set<number>;
  /** Images carried whole, by index into config.guest.images. */
  images: Map<number, Uint8Array>;
  /** Carried disks' chunks that are not zero, by slot (see header.disks), then chunk index. */
  disks: Map<number, Map<number, Uint8Array>>;
  /**
   * A full snapshot only: pages stored relative to a base view (`pages` holds their true bytes
   * all the same; encodeSnapshot stores the difference, decodeSnapshot gives the true bytes back).
   */
  refs?: Map<number, PageRef>;
}

/** Chunks of a disk of `size` bytes, and the length of chunk `c`. */
export const chunksOf = (size: number): number => Math.ceil(size / DISK_CHUNK);
export const chunkLength = (size: number, c: number): number => Math.min(DISK_CHUNK, size - c * DISK_CHUNK);

// ---- the header, checked field by field ---------------------------------------------------

const SHA = str(64);
/** A SHA-256 or null, as plain JSON (the header is not a state record). */
const SHA_OR_NULL: Codec<string | null> = {
  describe: 'SHA-256 or null',
  save: (v) => v as string,
  load: (v, path) => (v === null ? null : SHA.load(v, path)),
};
const isSha = (s: string) => /^[0-9a-f]{64}$/.test(s);

const IMAGE: Codec<ImageRef> = {
  describe: 'image',
  save: (r) => ({ ...r }),
  load: (v, path) => {
    const r = fields({ role: oneOf(['kernel', 'initrd', 'image', 'rom', 'module'] as const), sha256: SHA, size: int(0, 1 << 30) }, 'image').load(v, path) as unknown as ImageRef;
    if (!isSha(r.sha256)) throw new StateError(`${path}.sha256`, 'is not a SHA-256');
    const c = (v as { cmdline?: unknown }).cmdline;
    if (c !== undefined) r.cmdline = str(4096).load(c, `${path}.cmdline`);
    return r;
  },
};

/** A record codec with one more field that older files leave out (a hot-plugged device's unit, a page block's refs). */
function withOptional<T>(of: ReturnType<typeof fields>, key: string, codec: Codec<T>): Codec<Record<string, unknown>> {
  return {
    describe: of.describe,
    save: (r) => ({ ...of.save(r) as Record<string, unknown>, ...(r[key] === undefined ? {} : { [key]: codec.save(r[key] as T) }) }) as StateRecord,
    load: (v, path) => {
      const x = v as Record<string, unknown> | null;
      const { [key]: opt, ...rest } = typeof x === 'object' && x !== null && !Array.isArray(x) ? x : { [key]: undefined };
      const r = of.load(typeof x === 'object' && x !== null && !Array.isArray(x) ? rest : v, path);
      if (opt !== undefined) r[key] = codec.load(opt, `${path}.${key}`);
      return r;
    },
  };
}

const CONFIG = fields({
  memoryMiB: int(1, 3072),
  vcpus: int(1, MM.MAX_VCPUS),
  xen: bool,
  pacing: oneOf(['realtime', 'fast'] as const),
  debugPorts: bool,
  consoleInput: oneOf(['serial', 'hvc0'] as const),
  rtcStartSeconds: int(0, 2 ** 40),
  nics: list(withOptional(fields({ mac: str(17) }, 'nic'), 'devid', int(0, 7)), 8),
  disks: list(withOptional(fields({ bus: oneOf(['ide', 'xen'] as const), readOnly: bool }, 'disk'), 'unit', int(0, 15)), 20),
  guest: fields({
    kind: oneOf(['flat', 'linux', 'bios', 'multiboot'] as const),
    name: str(256),
    cmdline: str(4096),
    loadAddress: int(0, 0xfffff),
    images: list(IMAGE, 64),
  }, 'guest'),
}, 'config');

/** The largest base view a run may reach into (pages). */
const MAX_BASE_PAGES = 1 << 20;
const BLOCK = withOptional(fields({
  kind: oneOf(['state', 'vcpu', 'pages', 'zero', 'image', 'disk'] as const),
  length: int(0, 2 ** 32),
  rawLength: int(0, 2 ** 32),
  id: int(0, 255),
  first: count,
  count: int(0, PAGES_PER_BLOCK),
}, 'block'), 'refs', list(list(int(0, MAX_BASE_PAGES), 4, { exact: true }), PAGES_PER_BLOCK) as unknown as Codec<RefRun[]>);

const HEADER = fields({
  format: int(1, FORMAT_VERSION),
  engine: str(64),
  mapVersion: int(1, 1 << 16),
  config: CONFIG,
  base: SHA_OR_NULL,
  guestNs: count,
  icount: str(20),
  console: str(1 << 16),
  disks: list(fields({ slot: int(0, 19), size: int(512, MAX_CARRIED_DISK), name: str(256) }, 'carried disk'), 20),
  blocks: list(BLOCK, MAX_BLOCKS),
}, 'header', (h) => {
  if (h.base !== null && !isSha(h.base as string)) return 'base is not a SHA-256';
  const carried = h.disks as CarriedDisk[];
  const slots = (h.config as SavedConfig).disks.length;
  for (const d of carried) {
    if (d.slot >= slots) return `a carried disk is slot ${d.slot}; the machine has ${slots} disks`;
    if (d.size % 512 !== 0) return `a carried disk's size ${d.size} is not whole sectors`;
    if (carried.filter((x) => x.slot === d.slot).length > 1) return `disk slot ${d.slot} is carried twice`;
  }
  if (!/^\d{1,20}$/.test(h.icount as string)) return 'icount is not a count';
  return null;
});

/**
 * The upgrade chain of the file format itself: step `from` turns a header of that format into
 * the next. (Format 1 is the first; each part's state upgrades itself through its own steps.)
 */
const UPGRADES: Array<{ from: number; name: string; run(h: Record<string, unknown>): Record<string, unknown> }> = [
  { from: 1, name: 'machines had one vCPU', run: (h) => ({ ...h, config: { ...(h.config as Record<string, unknown>), vcpus: 1 } }) },
  { from: 2, name: 'no disk travelled in the file', run: (h) => ({ ...h, disks: [] }) },
  { from: 3, name: 'no page was stored relative to a base image', run: (h) => h },
];

/** Check the header and what it promises, for a machine memory of `layoutPages` pages. */
function checkHeader(raw: unknown): SnapshotHeader {
  let h = raw as Record<string, unknown>;
  const format = typeof h === 'object' && h !== null ? h.format : undefined;
  if (typeof format !== 'number' || !Number.isInteger(format)) throw new SnapshotError('the snapshot header has no format version');
  if (format > FORMAT_VERSION) throw new SnapshotError(`this snapshot is format ${format}, made by a newer pvlab; this one reads up to format ${FORMAT_VERSION}`);
  for (const u of UPGRADES) if (u.from === h.format) h = { ...u.run(h), format: u.from + 1 };
  let header: SnapshotHeader;
  try {
    header = HEADER.load(h, 'header') as unknown as SnapshotHeader;
  } catch (e) {
    throw new SnapshotError(`the snapshot header is damaged: ${(e as Error).message}`);
  }
  const pages = pagesOf(header.config);
  const seen = { pages: new Set<number>(), zero: new Set<number>() };
  let states = 0;
  const vcpus = new Set<number>();
  const chunks = new Map<number, { seen: Set<number>; bytes: number }>();
  for (const [i, b] of header.blocks.entries()) {
    const where = `block ${i} (${b.kind})`;
    switch (b.kind) {
      case 'state':
        states++;
        if (b.rawLength > MAX_STATE) throw new SnapshotError(`${where} declares ${b.rawLength} bytes of state, more than ${MAX_STATE}`);
        break;
      case 'vcpu':
        if (b.id >= header.config.vcpus) throw new SnapshotError(`${where} is for vCPU ${b.id}; this machine has ${header.config.vcpus}`);
        if (b.rawLength !== MM.VCPU_STATE_SIZE) throw new SnapshotError(`${where} holds ${b.rawLength} bytes; a vCPU's state is ${MM.VCPU_STATE_SIZE}`);
        if (vcpus.has(b.id)) throw new SnapshotError(`${where} repeats vCPU ${b.id}`);
        vcpus.add(b.id);
        break;
      case 'image':
        if (b.id >= header.config.guest.images.length) throw new SnapshotError(`${where} names image ${b.id}, which the header does not list`);
        if (b.rawLength !== header.config.guest.images[b.id].size || b.rawLength > MAX_IMAGE) throw new SnapshotError(`${where} has the wrong size`);
        break;
      case 'pages':
      case 'zero':
        if (b.count < 1 || b.first + b.count > pages) throw new SnapshotError(`${where} covers pages ${b.first}..${b.first + b.count - 1}, outside the machine's ${pages} pages`);
        for (let p = b.first; p < b.first + b.count; p++) {
          if (seen[b.kind].has(p)) throw new SnapshotError(`${where} covers page ${p} twice`);
          seen[b.kind].add(p);
        }
        if (b.kind === 'zero' && !header.base) throw new SnapshotError(`${where}: zero-page lists belong in deltas only`);
        if (b.rawLength > Math.ceil(b.count / 8) + (b.kind === 'pages' ? b.count * PAGE : 0)) throw new SnapshotError(`${where} declares more bytes than its pages can hold`);
        if (b.refs) checkRefs(b, header, where);
        break;
      case 'disk': {
        const d = header.disks.find((x) => x.slot === b.id);
        if (!d) throw new SnapshotError(`${where} is for disk slot ${b.id}, which the header does not list as carried`);
        if (b.count < 1 || b.count > CHUNKS_PER_BLOCK || b.first + b.count > chunksOf(d.size)) throw new SnapshotError(`${where} covers chunks ${b.first}..${b.first + b.count - 1}, outside disk slot ${b.id}'s ${chunksOf(d.size)}`);
        const c = chunks.get(b.id) ?? chunks.set(b.id, { seen: new Set(), bytes: 0 }).get(b.id)!;
        for (let k = b.first; k < b.first + b.count; k++) {
          if (c.seen.has(k)) throw new SnapshotError(`${where} covers chunk ${k} twice`);
          c.seen.add(k);
        }
        if (b.rawLength > Math.ceil(b.count / 8) + b.count * DISK_CHUNK) throw new SnapshotError(`${where} declares more bytes than its chunks can hold`);
        c.bytes += b.rawLength;
        if (c.bytes > MAX_DISK_DATA + 8 * MAX_BLOCKS) throw new SnapshotError(`disk slot ${b.id} carries more than ${MAX_DISK_DATA >> 20} MiB of data`);
        break;
      }
    }
  }
  if (states !== 1) throw new SnapshotError(`the snapshot has ${states} state blocks; it needs exactly one`);
  if (vcpus.size !== header.config.vcpus) throw new SnapshotError(`the snapshot holds the state of ${vcpus.size} vCPUs; its machine has ${header.config.vcpus}`);
  return header;
}

/** A block's runs of pages stored relative to base images: within the block, apart, of images the header names. */
function checkRefs(b: BlockInfo, header: SnapshotHeader, where: string): void {
  if (b.kind !== 'pages' || header.base) throw new SnapshotError(`${where}: only a full snapshot's page blocks may refer to base images`);
  const covered = new Uint8Array(b.count);
  for (const [at, n, image, page] of b.refs!) {
    if (n < 1 || at + n > b.count) throw new SnapshotError(`${where} refers pages ${at}..${at + n - 1} to a base image; the block has ${b.count}`);
    const ref = header.config.guest.images[image];
    if (!ref || (ref.role !== 'kernel' && ref.role !== 'initrd') || header.config.guest.kind !== 'linux')
      throw new SnapshotError(`${where} refers to base image ${image}, which is not a Linux kernel or initrd of the snapshot's machine`);
    if (page + n > MAX_BASE_PAGES) throw new SnapshotError(`${where} refers past the end of any base image`);
    for (let i = at; i < at + n; i++) {
      if (covered[i]) throw new SnapshotError(`${where} refers page ${b.first + i} to a base image twice`);
      covered[i] = 1;
    }
  }
}

/** Guest-physical pages a machine with this configuration backs (RAM, plus the Xen window). */
export function pagesOf(c: { memoryMiB: number; xen: boolean }): number {
  return (c.memoryMiB * 256) + (c.xen ? 4096 : 0);
}

// ---- reading ----------------------------------------------------------------------------------

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/**
 * The header alone, without the checksum (nothing is inflated or hashed): the magic, the format
 * and every size checked. Enough to build the machine a snapshot describes; nothing in the
 * file is to be trusted until readHeader's or decodeSnapshot's checksum has passed.
 */
export function peekHeader(file: Uint8Array): { header: SnapshotHeader; bodyStart: number } {
  if (file.length < 8 || String.fromCharCode(...file.subarray(0, 8)) !== MAGIC) throw new SnapshotError('not a pvlab snapshot (wrong magic: it does not start with "PVLABSNP")');
  if (file.length < 16 + 32) throw new SnapshotError(`the snapshot is truncated (only ${file.length} bytes)`);
  const format = u32(file, 8);
  if (format > FORMAT_VERSION) throw new SnapshotError(`this snapshot is format ${format}, made by a newer pvlab; this one reads up to format ${FORMAT_VERSION}`);
  if (format < 1) throw new SnapshotError(`the snapshot claims format ${format}, which does not exist`);
  const hlen = u32(file, 12);
  if (hlen > MAX_HEADER) throw new SnapshotError(`the snapshot's header claims ${hlen} bytes, more than a header can be (${MAX_HEADER})`);
  if (16 + hlen + 32 > file.length) throw new SnapshotError(`the snapshot is truncated (its header alone needs ${16 + hlen + 32} bytes, the file has ${file.length})`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(16, 16 + hlen)));
  } catch {
    throw new SnapshotError('the snapshot is damaged: its header is not readable JSON');
  }
  const header = checkHeader(raw);
  let total = 16 + hlen + 32;
  for (const b of header.blocks) total += b.length;
  if (total > file.length) throw new SnapshotError(`the snapshot is truncated: it should be ${total} bytes, the file has ${file.length}`);
  if (total < file.length) throw new SnapshotError(`the snapshot has ${file.length - total} bytes of junk after its end`);
  return { header, bodyStart: 16 + hlen };
}

/** Just the header (fast: nothing is inflated); checks the magic, the format, the sizes and the checksum. */
export async function readHeader(file: Uint8Array): Promise<{ header: SnapshotHeader; bodyStart: number; sha256: string }> {
  const { header, bodyStart } = peekHeader(file);
  const digest = await sha256(file.subarray(0, file.length - 32));
  const want = file.subarray(file.length - 32);
  if (!digest.every((x, i) => x === want[i])) throw new SnapshotError('the snapshot is damaged or was altered (its checksum does not match)');
  return { header, bodyStart, sha256: hex(digest) };
}

/** Where each block's compressed bytes are in the file. */
function blockData(file: Uint8Array, header: SnapshotHeader, bodyStart: number): Uint8Array[] {
  let off = bodyStart;
  return header.blocks.map((b) => file.subarray(off, (off += b.length)));
}

/**
 * Read and check a whole snapshot. Throws SnapshotError naming the problem. `elsewhere`: page
 * blocks another thread inflates straight into the machine's memory (inflatePagesInto); they
 * are checked there, and left out of `pages` here.
 */
export async function decodeSnapshot(file: Uint8Array, opts: { elsewhere?: readonly number[]; bases?: BaseViews } = {}): Promise<Snapshot & { sha256: string }> {
  const { header, bodyStart, sha256: digest } = await readHeader(file);
  const elsewhere = new Set(opts.elsewhere ?? []);
  for (const i of elsewhere) if (header.blocks[i]?.kind !== 'pages' || header.base) throw new SnapshotError(`block ${i} cannot be inflated apart from the others`);
  checkBases(header, opts.bases ?? new Map());
  const snap: Snapshot & { sha256: string } = { header, state: [], vcpus: [], pages: new Map(), zeroPages: new Set(), images: new Map(), disks: new Map(), sha256: digest };
  if (baseImagesNeeded(header).length) snap.refs = new Map();
  const bases = opts.bases ?? new Map();
  for (const d of header.disks) snap.disks.set(d.slot, new Map());
  const data = blockData(file, header, bodyStart);
  const jobs: Promise<void>[] = [];
  for (const [i, b] of header.blocks.entries()) {
    if (elsewhere.has(i)) continue;
    const what = `block ${i} (${b.kind})`;
    jobs.push(inflate(data[i], b.rawLength, what).then((raw) => readBlock(snap, b, raw, what, bases)));
  }
  try {
    await Promise.all(jobs);
  } catch (e) {
    throw e instanceof SnapshotError ? e : new SnapshotError((e as Error).message);
  }
  for (const p of snap.zeroPages) if (snap.pages.has(p)) throw new SnapshotError(`the snapshot lists page ${p} both as data and as zero`);
  return snap;
}

/**
 * The page blocks of a full snapshot, which threads can share out among themselves
 * (inflatePagesInto) while decodeSnapshot does the rest. A delta has none to share (its
 * pages are applied to its base's).
 */
export function pageBlocksOf(header: SnapshotHeader, opts: { withRefs?: boolean } = {}): number[] {
  if (header.base) return [];
  // Blocks stored relative to base views only if every thread inflating them has the views.
  return header.blocks.flatMap((b, i) => (b.kind === 'pages' && (!b.refs || opts.withRefs) ? [i] : []));
}

/** The images (indices into config.guest.images) whose base views reading this snapshot needs. */
export function baseImagesNeeded(header: SnapshotHeader): number[] {
  const need = new Set<number>();
  for (const b of header.blocks) for (const r of b.refs ?? []) need.add(r[2]);
  return [...need].sort((a, b) => a - b);
}

/** Name an image for an error: its role, size and SHA-256. */
export function describeImage(ref: ImageRef): string {
  const what = ref.role === 'kernel' ? 'kernel (a bzImage)' : ref.role === 'initrd' ? 'initrd' : ref.role;
  return `the guest's ${what} of ${ref.size} bytes, SHA-256 ${ref.sha256}`;
}

/** Every base view the snapshot's runs refer to is at hand and long enough. */
function checkBases(header: SnapshotHeader, bases: BaseViews): void {
  for (const i of baseImagesNeeded(header)) {
    if (!bases.get(i)) throw new SnapshotError(`this snapshot stores guest memory relative to ${describeImage(header.config.guest.images[i])}; resuming it needs that file`);
  }
  for (const [k, b] of header.blocks.entries()) {
    for (const [at, n, image, page] of b.refs ?? []) {
      const pages = bases.get(image)!.length / PAGE;
      if (page + n > pages) throw new SnapshotError(`block ${k} (pages) refers pages ${b.first + at}.. to pages ${page}..${page + n - 1} of image ${image}'s base view, which has ${pages}`);
    }
  }
}

/**
 * Inflate page blocks of a full snapshot straight into a machine's fresh memory (`ram`: its
 * guest-physical page 0 at offset 0), checking each as decodeSnapshot would: one block at a
 * time, each the next that `take` hands out (undefined: none left), with `between` awaited
 * before each. Run beside `decodeSnapshot(file, { elsewhere })`, whose checksum covers these
 * blocks too: the machine is trusted with its memory only when both have succeeded.
 */
export async function inflatePagesInto(file: Uint8Array, take: () => number | undefined, ram: Uint8Array, between?: () => Promise<void>, bases: BaseViews = new Map()): Promise<void> {
  const { header, bodyStart } = peekHeader(file);
  const data = blockData(file, header, bodyStart);
  let basesChecked = false;
  try {
    for (;;) {
      await between?.();
      const i = take();
      if (i === undefined) return;
      const b = header.blocks[i];
      const what = `block ${i} (${b?.kind})`;
      if (b?.kind !== 'pages' || header.base) throw new SnapshotError(`${what} is not a page block of a full snapshot`);
      if ((b.first + b.count) * PAGE > ram.length) throw new SnapshotError(`${what} reaches past the machine's ${ram.length / PAGE} pages`);
      if (b.refs && !basesChecked) {
        checkBases(header, bases);
        basesChecked = true;
      }
      await inflatePageBlock(data[i], b, what, ram, bases);
    }
  } catch (e) {
    throw e instanceof SnapshotError ? e : new SnapshotError((e as Error).message);
  }
}

/** The pages a page or zero block's bitmap lists, after checking the block's length against them. */
function pagesListed(b: BlockInfo, bitmap: Uint8Array, rawLength: number, what: string): number[] {
  const pages: number[] = [];
  for (let i = 0; i < b.count; i++) if (bitmap[i >> 3] & (1 << (i & 7))) pages.push(b.first + i);
  if (rawLength !== bitmap.length + (b.kind === 'pages' ? pages.length * PAGE : 0)) throw new SnapshotError(`${what}: its bitmap lists ${pages.length} pages, its data does not match`);
  return pages;
}

/**
 * A page block inflated straight into `ram`: its bitmap first, then each listed page's bytes
 * to that page's place as they come (no buffer for the block, no second copy). The checks are
 * eachPage's.
 */
async function inflatePageBlock(data: Uint8Array, b: BlockInfo, what: string, ram: Uint8Array, bases: BaseViews): Promise<void> {
  const bitmapLen = Math.ceil(b.count / 8);
  const bitmap = new Uint8Array(bitmapLen);
  let pages: number[] | null = bitmapLen === 0 ? pagesListed(b, bitmap, b.rawLength, what) : null;
  let got = 0;
  // Pages stored relative to base views: the view's pages first, then what is stored XORed over them.
  const based = b.refs ? new Uint8Array(b.count) : null;
  for (const [at, n, image, page] of b.refs ?? []) {
    ram.set(bases.get(image)!.subarray(page * PAGE, (page + n) * PAGE), (b.first + at) * PAGE);
    based!.fill(1, at, at + n);
  }
  await inflateInto(data, b.rawLength, what, (piece) => {
    for (let o = 0; o < piece.length; ) {
      if (pages === null) {
        const n = Math.min(bitmapLen - got, piece.length - o);
        bitmap.set(piece.subarray(o, o + n), got);
        got += n;
        o += n;
        if (got < bitmapLen) continue;
        pages = pagesListed(b, bitmap, b.rawLength, what);
        continue;
      }
      // (inflateInto stops the output at rawLength, so the page index stays in the list.)
      const at = got - bitmapLen;
      const inPage = at % PAGE;
      const n = Math.min(PAGE - inPage, piece.length - o);
      const page = pages[(at - inPage) / PAGE];
      if (based?.[page - b.first]) xorAt(ram, page * PAGE + inPage, piece.subarray(o, o + n));
      else ram.set(piece.subarray(o, o + n), page * PAGE + inPage);
      got += n;
      o += n;
    }
  });
  if (b.rawLength < bitmapLen) throw new SnapshotError(`${what} is shorter than its page bitmap`);
}

/** The pages a page or zero block lists, each with its bytes (empty in a zero block), after checking the block. */
function eachPage(b: BlockInfo, raw: Uint8Array, what: string, put: (page: number, bytes: Uint8Array) => void): void {
  const bitmapLen = Math.ceil(b.count / 8);
  if (raw.length < bitmapLen) throw new SnapshotError(`${what} is shorter than its page bitmap`);
  const size = b.kind === 'pages' ? PAGE : 0;
  pagesListed(b, raw.subarray(0, bitmapLen), raw.length, what).forEach((p, k) => put(p, raw.subarray(bitmapLen + k * size, bitmapLen + (k + 1) * size)));
}

function readBlock(snap: Snapshot, b: BlockInfo, raw: Uint8Array, what: string, bases: BaseViews): void {
  switch (b.kind) {
    case 'state': {
      let v: unknown;
      try {
        v = recordsFromJson(new TextDecoder('utf-8', { fatal: true }).decode(raw));
      } catch {
        throw new SnapshotError(`${what} is not readable`);
      }
      try {
        snap.state = list(fields({ name: str(128), version: int(1, 1 << 16) }, 'section'), 4096).load(v, 'state') as unknown as StateSection[];
      } catch (e) {
        throw new SnapshotError(`${what}: ${(e as Error).message}`);
      }
      (v as Array<{ record: unknown }>).forEach((s, i) => {
        const r = s.record;
        if (typeof r !== 'object' || r === null || Array.isArray(r) || r instanceof Uint8Array) throw new SnapshotError(`${what}: section ${i} has no record`);
        snap.state[i].record = r as StateRecord;
      });
      return;
    }
    case 'vcpu':
      snap.vcpus[b.id] = raw;
      return;
    case 'image':
      snap.images.set(b.id, raw);
      return;
    case 'disk': {
      const size = snap.header.disks.find((x) => x.slot === b.id)!.size;
      const bitmapLen = Math.ceil(b.count / 8);
      if (raw.length < bitmapLen) throw new SnapshotError(`${what} is shorter than its chunk bitmap`);
      let want = bitmapLen;
      for (let i = 0; i < b.count; i++) if (raw[i >> 3] & (1 << (i & 7))) want += chunkLength(size, b.first + i);
      if (raw.length !== want) throw new SnapshotError(`${what}: its bitmap does not match its data`);
      const out = snap.disks.get(b.id)!;
      let o = bitmapLen;
      for (let i = 0; i < b.count; i++) {
        if (!(raw[i >> 3] & (1 << (i & 7)))) continue;
        const n = chunkLength(size, b.first + i);
        out.set(b.first + i, raw.subarray(o, o + n));
        o += n;
      }
      return;
    }
    case 'pages':
      eachPage(b, raw, what, (p, bytes) => snap.pages.set(p, bytes));
      // Pages stored relative to a base view: the view's page, XOR what is stored (checkBases checked the runs).
      for (const [at, n, image, page] of b.refs ?? []) {
        const view = bases.get(image)!;
        const out = new Uint8Array(n * PAGE);
        out.set(view.subarray(page * PAGE, (page + n) * PAGE));
        for (let i = 0; i < n; i++) {
          const p = b.first + at + i;
          const mine = out.subarray(i * PAGE, (i + 1) * PAGE);
          const stored = snap.pages.get(p);
          if (stored) xorInto(mine, stored);
          snap.pages.set(p, mine);
          snap.refs!.set(p, { image, page: page + i });
        }
      }
      return;
    case 'zero':
      eachPage(b, raw, what, (p) => snap.zeroPages.add(p));
      return;
  }
}

/** `ram[at..]` ^= `from` (words where both are aligned to them). */
function xorAt(ram: Uint8Array, at: number, from: Uint8Array): void {
  let i = 0;
  const n = from.length;
  if (((ram.byteOffset + at) & 3) === 0 && (from.byteOffset & 3) === 0) {
    const words = n >> 2;
    const a = new Int32Array(ram.buffer, ram.byteOffset + at, words);
    const b = new Int32Array(from.buffer, from.byteOffset, words);
    for (let k = 0; k < words; k++) a[k] ^= b[k];
    i = words << 2;
  }
  for (; i < n; i++) ram[at + i] ^= from[i];
}

/** `into` ^= `from` (whole pages). */
export function xorInto(into: Uint8Array, from: Uint8Array): void {
  if ((into.byteOffset | from.byteOffset | into.length) & 3) {
    for (let i = 0; i < into.length; i++) into[i] ^= from[i];
    return;
  }
  const a = new Int32Array(into.buffer, into.byteOffset, into.length >> 2);
  const b = new Int32Array(from.buffer, from.byteOffset, into.length >> 2);
  for (let i = 0; i < a.length; i++) a[i] ^= b[i];
}

function isZeroPage(b: Uint8Array): boolean {
  const w = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  return true;
}

// ---- writing ----------------------------------------------------------------------------------

/**
 * Encode; blocks compress concurrently. `header.blocks` is filled in here. Pages `snap.refs`
 * names are stored as their difference from `bases` (the base views, by image index): a run per
 * stretch of pages that follow each other in both, and no bytes for a page equal to its base.
 */
export async function encodeSnapshot(snap: Snapshot, opts: { bases?: BaseViews } = {}): Promise<Uint8Array> {
  const refs = snap.refs ?? new Map<number, PageRef>();
  if (refs.size && snap.header.base) throw new Error('a delta stores no page relative to a base image');
  for (const r of refs.values()) {
    const v = opts.bases?.get(r.image);
    if (!v || (r.page + 1) * PAGE > v.length) throw new Error(`a page refers to page ${r.page} of image ${r.image}'s base view, which is not at hand or shorter`);
  }
  const raws: Array<{ info: Omit<BlockInfo, 'length' | 'rawLength'>; raw: Uint8Array }> = [];
  raws.push({ info: { kind: 'state', id: 0, first: 0, count: 0 }, raw: new TextEncoder().encode(recordsToJson(snap.state)) });
  snap.vcpus.forEach((v, id) => raws.push({ info: { kind: 'vcpu', id, first: 0, count: 0 }, raw: v }));
  for (const [id, img] of snap.images) raws.push({ info: { kind: 'image', id, first: 0, count: 0 }, raw: img });
  for (const d of snap.header.disks) {
    const data = snap.disks.get(d.slot) ?? new Map<number, Uint8Array>();
    const total = chunksOf(d.size);
    for (let first = 0; first < total; first += CHUNKS_PER_BLOCK) {
      const n = Math.min(CHUNKS_PER_BLOCK, total - first);
      const bitmap = new Uint8Array(Math.ceil(n / 8));
      const present: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const c = data.get(first + i);
        if (!c) continue;
        if (c.length !== chunkLength(d.size, first + i)) throw new Error(`disk slot ${d.slot} chunk ${first + i} has ${c.length} bytes`);
        bitmap[i >> 3] |= 1 << (i & 7);
        present.push(c);
      }
      if (!present.length) continue;
      const raw = new Uint8Array(bitmap.length + present.reduce((a, c) => a + c.length, 0));
      raw.set(bitmap);
      let o = bitmap.length;
      for (const c of present) { raw.set(c, o); o += c.length; }
      raws.push({ info: { kind: 'disk', id: d.slot, first, count: n }, raw });
    }
  }
  const total = pagesOf(snap.header.config);
  for (let first = 0; first < total; first += PAGES_PER_BLOCK) {
    const n = Math.min(PAGES_PER_BLOCK, total - first);
    for (const kind of ['pages', 'zero'] as const) {
      const bitmap = new Uint8Array(Math.ceil(n / 8));
      const data: Uint8Array[] = [];
      const runs: RefRun[] = [];
      for (let i = 0; i < n; i++) {
        const p = first + i;
        let has = kind === 'pages' ? snap.pages.get(p) : snap.zeroPages.has(p) ? true : undefined;
        if (!has) continue;
        const ref = kind === 'pages' ? refs.get(p) : undefined;
        if (ref && has instanceof Uint8Array) {
          const last = runs[runs.length - 1];
          if (last && last[0] + last[1] === i && last[2] === ref.image && last[3] + last[1] === ref.page) last[1]++;
          else runs.push([i, 1, ref.image, ref.page]);
          const diff = has.slice();
          xorInto(diff, opts.bases!.get(ref.image)!.subarray(ref.page * PAGE, (ref.page + 1) * PAGE));
          if (isZeroPage(diff)) continue;
          has = diff;
        }
        bitmap[i >> 3] |= 1 << (i & 7);
        if (has instanceof Uint8Array) data.push(has);
      }
      if (!bitmap.some((x) => x) && !runs.length) continue;
      const raw = new Uint8Array(bitmap.length + data.length * PAGE);
      raw.set(bitmap);
      data.forEach((d, i) => raw.set(d, bitmap.length + i * PAGE));
      raws.push({ info: runs.length ? { kind, id: 0, first, count: n, refs: runs } : { kind, id: 0, first, count: n }, raw });
    }
  }
  const packed = await Promise.all(raws.map((r) => deflate(r.raw)));
  // (refs go after the sizes, so that a block's JSON reads the same with or without them.)
  snap.header.blocks = raws.map((r, i) => {
    const { refs: runs, ...info } = r.info;
    return runs ? { ...info, length: packed[i].length, rawLength: r.raw.length, refs: runs } : { ...info, length: packed[i].length, rawLength: r.raw.length };
  });
  const head = new TextEncoder().encode(JSON.stringify(snap.header));
  const size = 16 + head.length + packed.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(size + 32);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(8, FORMAT_VERSION, true);
  new DataView(out.buffer).setUint32(12, head.length, true);
  out.set(head, 16);
  let o = 16 + head.length;
  for (const p of packed) { out.set(p, o); o += p.length; }
  out.set(await sha256(out.subarray(0, size)), size);
  return out;
}


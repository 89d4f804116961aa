// Shared helpers for the disk tests: fixtures, hashing, a seeded PRNG, temp dirs, tools.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { MemoryStore } from '../../engine-ts/disk/block-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/vhd/', import.meta.url));

/** The fixtures and what their README says a reader must see (third-party expectations). */
export interface FixtureInfo {
  name: string;
  type: 'fixed' | 'dynamic';
  fileSize: number;
  virtualSize: number;
  chs: [number, number, number];
  /** [start, end, byte]; everything else reads as zero. */
  ranges: [number, number, number][];
  sha256: string;
}

export const FIXTURES: FixtureInfo[] = [
  { name: 'fixed-4m.vhd', type: 'fixed', fileSize: 4213248, virtualSize: 4212736, chs: [121, 4, 17],
    ranges: [[0, 65536, 0xab], [1048576, 1052672, 0xcd], [4212224, 4212736, 0xef]],
    sha256: '10c759f2ea310dcd0b685f4bdfccfc0c73d52665cfd06990fd361e98d680412d' },
  { name: 'fixed-1500kb-odd.vhd', type: 'fixed', fileSize: 1532416, virtualSize: 1531904, chs: [44, 4, 17],
    ranges: [[0, 512, 0x5a], [1531392, 1531904, 0xa5]],
    sha256: '1aabf60c63bd2d33ed169ae1f6b412f6d0e5112fa332144a508c95cbae450d2d' },
  { name: 'fixed-1mb-forcesize.vhd', type: 'fixed', fileSize: 1000960, virtualSize: 1000448, chs: [65535, 16, 255],
    ranges: [[0, 4096, 0x3c], [999936, 1000448, 0xc3]],
    sha256: '9659760e5919045c81eb07021630acec93f09d6f0095170f1b85a05184587cd0' },
  { name: 'dynamic-8m.vhd', type: 'dynamic', fileSize: 4197888, virtualSize: 8390656, chs: [241, 4, 17],
    ranges: [[0, 65536, 0xab], [2097664, 2098176, 0x11]],
    sha256: 'e4c98975a1430000e388566125b6a0af3f151d0e51faf69b9cf4f7d8f228c8bf' },
  { name: 'dynamic-8m-empty.vhd', type: 'dynamic', fileSize: 2560, virtualSize: 8390656, chs: [241, 4, 17],
    ranges: [],
    sha256: '21f4d148b887cd496c14ce4f942a8c0cfe7a9640e9b7be0e6690f296d7386d02' },
  { name: 'dynamic-10mb-odd.vhd', type: 'dynamic', fileSize: 2100224, virtualSize: 10027008, chs: [288, 4, 17],
    ranges: [[10022912, 10027008, 0x77]],
    sha256: '788a88763b52eb57dd6f19056b4fd66a44a8e466d24d159534d61141d3b821b8' },
  { name: 'dynamic-10mb-forcesize.vhd', type: 'dynamic', fileSize: 2100224, virtualSize: 10000384, chs: [65535, 16, 255],
    ranges: [[9999872, 10000384, 0x66]],
    sha256: '059150530f34cb99a5eb797ec003ed49bc28f80a2eb20c44b8529a618bb5d954' },
];

const cache = new Map<string, Uint8Array>();
export function fixtureBytes(name: string): Uint8Array {
  let b = cache.get(name);
  if (!b) {
    b = new Uint8Array(gunzipSync(readFileSync(path.join(FIXTURE_DIR, `${name}.gz`))));
    cache.set(name, b);
  }
  return b.slice();
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function readAll(disk: { size: number; read(s: number, d: Uint8Array): Promise<void> }): Promise<Uint8Array> {
  const out = new Uint8Array(disk.size);
  await disk.read(0, out);
  return out;
}

/** The contents a fixture's README describes, built independently of the reader. */
export function expectedContents(f: FixtureInfo): Uint8Array {
  const out = new Uint8Array(f.virtualSize);
  for (const [s, e, v] of f.ranges) out.fill(v, s, e);
  return out;
}

export async function openFixture(name: string): Promise<{ disk: VhdDisk; store: MemoryStore }> {
  const store = new MemoryStore(fixtureBytes(name));
  return { disk: await VhdDisk.open(store), store };
}

/** Deterministic PRNG (mulberry32): tests never use Math.random. */
export class Prng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `pvlab-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Fixed timestamps and ids for created images (tests never read the clock). */
export const NOW = new Date(Date.UTC(2026, 10, 24, 12, 0, 0));
export function fixedUuid(seed: number): Uint8Array {
  return new Prng(seed).bytes(16);
}

// The .xz decoder (engine-ts/snapshot/xz.ts) against the xz command's own streams, and against
// damaged ones: every bad stream is an XzError, never a crash, a hang or a wrong answer.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_DICT, XzError, crc32, xzDecompress } from '../../engine-ts/snapshot/xz';

/** `xz` with these options over `data`. */
const xz = (data: Uint8Array, ...args: string[]) => new Uint8Array(execFileSync('xz', ['-c', ...args], { input: data, maxBuffer: 1 << 28 }));

/** Test data: x86 code (this Node binary, where the BCJ filter has CALLs and JMPs to convert), text, runs and noise. */
function sample(): Uint8Array {
  const code = new Uint8Array(fs.readFileSync(process.execPath)).subarray(1 << 20, (1 << 20) + 600_000);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog '.repeat(1500));
  const noise = new Uint8Array(300_000);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; noise[i] = x >>> 24; }
  const out = new Uint8Array(code.length + text.length + 70_000 + noise.length);
  out.set(code);
  out.set(text, code.length);
  out.set(noise, code.length + text.length + 70_000); // zeros between
  return out;
}

const data = sample();
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe('xz decoder', () => {
  it.each([
    ['the kernel\'s packing (x86 BCJ, LZMA2 32 MiB dictionary, CRC32)', ['--format=xz', '--check=crc32', '--x86', '--lzma2=preset=6,dict=32MiB']],
    ['xz\'s default (CRC64)', []],
    ['no check, fastest preset', ['--check=none', '-0']],
    ['several blocks (sizes in the block headers)', ['--block-size=500000', '--x86', '--lzma2=preset=1']],
    ['lc=0 lp=2 pb=0 (other literal and position coding)', ['--lzma2=preset=3,lc=0,lp=2,pb=0']],
    ['lc=4 pb=4', ['--lzma2=preset=2,lc=4,lp=0,pb=4']],
    ['x86 BCJ with a start offset', ['--x86=start=4096', '--lzma2=preset=2']],
  ])('%s: the same bytes as went in', (_name, args) => {
    const packed = xz(data, ...args);
    const { output, end } = xzDecompress(packed, 16 << 20);
    expect(end).toBe(packed.length);
    expect(equal(output, data)).toBe(true);
  });

  it('incompressible data (uncompressed LZMA2 chunks) and empty input', () => {
    const noise = data.subarray(data.length - 300_000);
    expect(equal(xzDecompress(xz(noise), 1 << 20).output, noise)).toBe(true);
    expect(xzDecompress(xz(new Uint8Array(0)), 1 << 20).output.length).toBe(0);
  });

  it('data after the stream is left alone (a bzImage appends the size)', () => {
    const packed = xz(data.subarray(0, 100_000), '--check=crc32');
    const withTail = new Uint8Array(packed.length + 4);
    withTail.set(packed);
    withTail.set([1, 2, 3, 4], packed.length);
    const r = xzDecompress(withTail, 1 << 20);
    expect(r.end).toBe(packed.length);
    expect(equal(r.output, data.subarray(0, 100_000))).toBe(true);
  });

  it('refuses what it cannot or must not decode', () => {
    const packed = xz(data.subarray(0, 200_000), '--check=crc32');
    const err = (b: Uint8Array, max = 1 << 20) => {
      try {
        xzDecompress(b, max);
      } catch (e) {
        expect(e).toBeInstanceOf(XzError);
        return (e as Error).message;
      }
      return 'decoded';
    };
    expect(err(new TextEncoder().encode('hello, not xz at all'))).toBe('not an xz stream (wrong magic)');
    expect(err(packed, 100_000)).toBe('the data unpacks to more than 100000 bytes');
    expect(err(packed.subarray(0, packed.length - 20))).toMatch(/cut short|damaged/);
    expect(err(xz(data.subarray(0, 1000), '--check=sha256'))).toBe('the xz stream uses an integrity check this decoder does not support (type 10)');
    // A block header asking for a 1.5 GiB dictionary (its CRC32 made right, as a forger would).
    const big = packed.slice();
    const h = 12;
    const size = (big[h] + 1) * 4;
    const dictAt = big.subarray(h, h + size).findIndex((b, i) => i > 1 && big[h + i - 2] === 0x21 && big[h + i - 1] === 1) + h;
    big[dictAt] = 39;
    new DataView(big.buffer).setUint32(h + size - 4, crc32(big, h, h + size - 4), true);
    expect(err(big)).toBe(`the LZMA2 dictionary (${3 * 2 ** 30} bytes) is larger than ${MAX_DICT}`);
    // The data damaged: the decoder or the CRC32 of the data says so.
    const bad = packed.slice();
    bad[packed.length >> 1] ^= 0x40;
    expect(err(bad)).toMatch(/LZMA2|CRC32|damaged|index/);
  });

  it('a thousand damaged streams: each decodes or is an XzError', () => {
    const packed = xz(data.subarray(0, 20_000), '--x86', '--check=crc32', '--lzma2=preset=6');
    let x = 987654321;
    const rand = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const b = packed.slice();
      for (let k = 1 + rand(4); k > 0; k--) b[rand(b.length)] = rand(256);
      // Skip the CRC of the data sometimes so the LZMA2 decoder meets the damage itself.
      const cut = rand(10) === 0 ? b.subarray(0, rand(b.length)) : b;
      try {
        xzDecompress(cut, 1 << 20);
      } catch (e) {
        if (!(e instanceof XzError)) throw e;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(900);
  });
});

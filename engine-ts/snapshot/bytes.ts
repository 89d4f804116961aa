// Small byte helpers for the snapshot format: base64 (state records carry byte arrays through
// JSON), SHA-256 and deflate through the platform (Web Crypto, CompressionStream), in Node
// and in the browser alike.

import type { StateRecord, StateValue } from '../platform/bus';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function toBase64(b: Uint8Array, url = false): string {
  const A = url ? B64URL : B64;
  const out: string[] = [];
  let chunk = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    chunk += A[n >> 18] + A[(n >> 12) & 63] + (i + 1 < b.length ? A[(n >> 6) & 63] : url ? '' : '=') + (i + 2 < b.length ? A[n & 63] : url ? '' : '=');
    if (chunk.length > 8192) { out.push(chunk); chunk = ''; }
  }
  out.push(chunk);
  return out.join('');
}

const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  DECODE[B64.charCodeAt(i)] = i;
  DECODE[B64URL.charCodeAt(i)] = i;
}

/** Standard or URL-safe base64, padded or not; null if it is not base64. */
export function fromBase64(s: string): Uint8Array | null {
  const t = s.replace(/=+$/, '');
  if (t.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((t.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < t.length; i += 4) {
    let n = 0;
    const k = Math.min(4, t.length - i);
    for (let j = 0; j < 4; j++) {
      const c = j < k ? t.charCodeAt(i + j) : 65;
      const v = c < 128 ? DECODE[c] : -1;
      if (v < 0) return null;
      n = (n << 6) | (j < k ? v : 0);
    }
    out[o++] = n >> 16;
    if (k > 2) out[o++] = (n >> 8) & 0xff;
    if (k > 3) out[o++] = n & 0xff;
  }
  return out;
}

/** State records to JSON: byte arrays become {"$b": base64}. */
export function recordsToJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? { $b: toBase64(x) } : x));
}

/** JSON back to state values; {"$b": ...} becomes bytes again. Throws on bad JSON. */
export function recordsFromJson(text: string): unknown {
  return JSON.parse(text, (_k, x) => {
    if (x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 1 && typeof x.$b === 'string') {
      const b = fromBase64(x.$b);
      if (!b) throw new Error('a byte field is not base64');
      return b;
    }
    return x;
  });
}

export type { StateRecord, StateValue };

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function streamOf(data: Uint8Array): ReadableStream<BufferSource> {
  return new ReadableStream<BufferSource>({ start(c) { c.enqueue(data as BufferSource); c.close(); } });
}

export function deflate(data: Uint8Array): Promise<Uint8Array> {
  return collect(streamOf(data).pipeThrough(new CompressionStream('deflate-raw')));
}

/**
 * Read a decompressing stream to its end, handing each piece to `take` (which may throw to
 * stop: the stream is cancelled and the error goes to the caller as is). A stream error is
 * `bad` (the data is not what its format says).
 */
async function readPieces(reader: ReadableStreamDefaultReader<Uint8Array>, bad: string, take: (piece: Uint8Array) => void): Promise<void> {
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch {
      throw new Error(bad);
    }
    if (r.done) return;
    try {
      take(r.value);
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
  }
}

/**
 * Inflate data that must expand to exactly `size` bytes (a size the caller checked against
 * what it can hold), handing each piece of the output to `take` as it comes. The size is
 * enforced as the output grows (no zip bombs); an error `take` throws goes to the caller as is.
 */
export async function inflateInto(data: Uint8Array, size: number, what: string, take: (piece: Uint8Array) => void): Promise<void> {
  const reader = streamOf(data).pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  let total = 0;
  await readPieces(reader, `${what} is not valid compressed data`, (piece) => {
    if (piece.length > size - total) throw new Error(`${what} expands to more than the ${size} bytes it declares`);
    take(piece);
    total += piece.length;
  });
  if (total !== size) throw new Error(`${what} holds ${total} bytes, the header says ${size}`);
}

/** Inflate data that must expand to exactly `size` bytes into one buffer of that size (see inflateInto). */
export async function inflate(data: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let o = 0;
  await inflateInto(data, size, what, (piece) => { out.set(piece, o); o += piece.length; });
  return out;
}

/** Gunzip data of unknown size, up to `max` bytes of output (more is an error: no gzip bombs). */
export async function gunzip(data: Uint8Array, max: number, what: string): Promise<Uint8Array> {
  const reader = streamOf(data).pipeThrough(new DecompressionStream('gzip')).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  await readPieces(reader, `${what} is not valid gzip data`, (piece) => {
    total += piece.length;
    if (total > max) throw new Error(`${what} unpacks to more than ${max} bytes`);
    parts.push(piece);
  });
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

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

/** The stream's bytes, which must be exactly `size` (checked by the caller), written as they come into one buffer of that size. */
async function collectExact(stream: ReadableStream<Uint8Array>, size: number, what: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const out = new Uint8Array(size);
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value.length > size - total) {
      await reader.cancel();
      throw new Error(`${what} expands to more than the ${size} bytes it declares`);
    }
    out.set(value, total);
    total += value.length;
  }
  if (total !== size) throw new Error(`${what} holds ${total} bytes, the header says ${size}`);
  return out;
}

function streamOf(data: Uint8Array): ReadableStream<BufferSource> {
  return new ReadableStream<BufferSource>({ start(c) { c.enqueue(data as BufferSource); c.close(); } });
}

export function deflate(data: Uint8Array): Promise<Uint8Array> {
  return collect(streamOf(data).pipeThrough(new CompressionStream('deflate-raw')));
}

/**
 * Inflate data that must expand to exactly `size` bytes (a size the caller checked against
 * what it can hold): the output goes straight into one buffer of that size, and an error
 * comes as soon as it would pass it (no zip bombs).
 */
export async function inflate(data: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  try {
    return await collectExact(streamOf(data).pipeThrough(new DecompressionStream('deflate-raw')), size, what);
  } catch (e) {
    const m = (e as Error).message;
    throw new Error(m.includes('declares') || m.includes('the header says') ? m : `${what} is not valid compressed data`);
  }
}

// Little-endian field access on byte arrays (guest pages, hypercall argument copies) and the
// byte <-> string conversions xenstore needs. No allocation in the readers: they run per
// ring slot.

export function u8(b: Uint8Array, off: number): number {
  return b[off];
}
export function u16(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}
export function i16(b: Uint8Array, off: number): number {
  return (u16(b, off) << 16) >> 16;
}
export function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}
/** A u64 as a number; exact up to 2^53, larger values lose low bits (callers range-check). */
export function u64(b: Uint8Array, off: number): number {
  return u32(b, off) + u32(b, off + 4) * 0x1_0000_0000;
}
export function u64big(b: Uint8Array, off: number): bigint {
  return BigInt(u32(b, off)) | (BigInt(u32(b, off + 4)) << 32n);
}

export function put8(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
}
export function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}
/** Store a non-negative integer below 2^64 given as a number (exact below 2^53). */
export function put64(b: Uint8Array, off: number, v: number): void {
  const lo = v % 0x1_0000_0000;
  put32(b, off, lo);
  put32(b, off + 4, Math.floor(v / 0x1_0000_0000));
}
export function put64big(b: Uint8Array, off: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  put32(b, off, Number(x & 0xffffffffn));
  put32(b, off + 4, Number(x >> 32n));
}

/** Bytes as a string with one char per byte (xenstore values are octet strings). */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 4096)));
  return s;
}
/** The inverse of latin1(); chars above 0xFF are truncated to their low byte. */
export function fromLatin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** Write a NUL-padded ASCII string into a fixed-size field. */
export function putCString(b: Uint8Array, off: number, size: number, s: string): void {
  for (let i = 0; i < size; i++) b[off + i] = i < s.length && i < size - 1 ? s.charCodeAt(i) & 0x7f : 0;
}

// Helpers for the x87 tests: assemble snippets with nasm at test time, run them in flat
// 32-bit protected mode (or real mode), read memory and the FPU state back, and an exact
// rational reference for IEEE rounding (BigInt) to check results bit for bit.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCpuHarness, type CpuHarness } from './harness';
import * as MM from '../../engine-wasm/memory-map';

export const CODE = 0x1000;
export const DATA = 0x20000; // inputs
export const OUT = 0x40000; // results
const IDT = 0x2000;
/** Every exception vector lands on a HLT here; `exceptionTaken` checks for it. */
export const EXC_STUB = 0x3000;

let tmpDir: string | null = null;
let counter = 0;

/** Assemble `src` (NASM syntax) as a flat binary for `bits` at `org`. */
export function asm(src: string, bits: 16 | 32 = 32, org = CODE): Uint8Array {
  if (!tmpDir) tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-fpu-'));
  const base = path.join(tmpDir, `s${process.pid}-${counter++}`);
  fs.writeFileSync(`${base}.asm`, `bits ${bits}\norg ${org}\n${src}\n`);
  try {
    execFileSync('nasm', ['-f', 'bin', '-o', `${base}.bin`, `${base}.asm`], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`nasm failed: ${err.stderr?.toString() ?? String(e)}\n${src}`);
  }
  return new Uint8Array(fs.readFileSync(`${base}.bin`));
}

export class X87 {
  constructor(readonly h: CpuHarness) {}

  static async create(): Promise<X87> { return new X87(await createCpuHarness()); }

  get dv(): DataView { return new DataView(this.h.memory.buffer, MM.RAM_BASE); }

  /** Run `body` (then HLT) in flat 32-bit mode with an IDT whose gates all point at EXC_STUB. */
  run32(body: string, opts: { cr0Set?: number; cr0Clear?: number; cr4Set?: number; budget?: number; gates?: Record<number, number> } = {}): number {
    const code = asm(`${body}\nhlt\n`);
    this.h.load(CODE, code);
    this.h.enterFlat32(CODE);
    this.installIdt();
    for (const [v, handler] of Object.entries(opts.gates ?? {})) this.dv.setUint32(IDT + Number(v) * 8, (0x08 << 16) | handler, true);
    this.applyCr(opts);
    return this.h.runUntilHalt(opts.budget ?? 1_000_000);
  }

  /** Run 16-bit real-mode code at 0:CODE. */
  runReal(body: string, opts: { cr0Set?: number; cr0Clear?: number } = {}): number {
    const code = asm(`${body}\nhlt\n`, 16);
    this.h.load(CODE, code);
    this.h.enterReal(CODE);
    this.applyCr(opts);
    return this.h.runUntilHalt();
  }

  private applyCr(opts: { cr0Set?: number; cr0Clear?: number; cr4Set?: number }): void {
    const s = this.h.state;
    s.cr0 = ((s.cr0 | (opts.cr0Set ?? 0)) & ~(opts.cr0Clear ?? 0)) >>> 0;
    if (opts.cr4Set) s.cr4 = (s.cr4 | opts.cr4Set) >>> 0;
    this.h.core.refresh();
  }

  private installIdt(): void {
    const dv = this.dv;
    dv.setUint8(EXC_STUB, 0xf4);
    for (let v = 0; v < 32; v++) {
      dv.setUint32(IDT + v * 8, (0x08 << 16) | EXC_STUB, true);
      dv.setUint32(IDT + v * 8 + 4, 0x00008e00, true);
    }
    this.h.state.setIdtr(IDT, 32 * 8 - 1);
  }

  /** The vector of an exception delivered during the last run, or -1 if it ended at its own HLT. */
  exceptionTaken(): number {
    return this.h.state.eip === EXC_STUB + 1 ? this.h.state.lastException.vector : -1;
  }
  /** EIP recorded for the last exception (the faulting instruction). */
  exceptionEip(): number { return this.h.state.lastException.eip; }

  // ---- memory ----
  setF64(addr: number, ...v: number[]): void { v.forEach((x, i) => this.dv.setFloat64(addr + i * 8, x, true)); }
  setBits64(addr: number, ...v: bigint[]): void { v.forEach((x, i) => this.dv.setBigUint64(addr + i * 8, x, true)); }
  setF32(addr: number, ...v: number[]): void { v.forEach((x, i) => this.dv.setFloat32(addr + i * 4, x, true)); }
  setU32(addr: number, ...v: number[]): void { v.forEach((x, i) => this.dv.setUint32(addr + i * 4, x >>> 0, true)); }
  setU16(addr: number, ...v: number[]): void { v.forEach((x, i) => this.dv.setUint16(addr + i * 2, x, true)); }
  setBytes(addr: number, b: ArrayLike<number>): void { this.h.ram.set(b, addr); }
  f64(addr: number): number { return this.dv.getFloat64(addr, true); }
  bits64(addr: number): bigint { return this.dv.getBigUint64(addr, true); }
  f32(addr: number): number { return this.dv.getFloat32(addr, true); }
  u32(addr: number): number { return this.dv.getUint32(addr, true); }
  u16(addr: number): number { return this.dv.getUint16(addr, true); }
  i16(addr: number): number { return this.dv.getInt16(addr, true); }
  i32(addr: number): number { return this.dv.getInt32(addr, true); }
  i64(addr: number): bigint { return this.dv.getBigInt64(addr, true); }
  u8(addr: number): number { return this.dv.getUint8(addr); }
  bytes(addr: number, n: number): number[] { return Array.from(this.h.ram.subarray(addr, addr + n)); }
  fill(addr: number, n: number, v: number): void { this.h.ram.fill(v, addr, addr + n); }

  // ---- FPU state as stored by the core ----
  private vcpu(off: number): number { return this.h.state.u32(off); }
  get top(): number { return this.vcpu(MM.R_FPU_TOP) & 7; }
  /** Status word with TOP, as FNSTSW shows it. */
  get sw(): number { return (this.vcpu(MM.R_FPU_SW) & ~0x3800) | (this.top << 11); }
  get cw(): number { return this.vcpu(MM.R_FPU_CW); }
  get tag(): number { return this.vcpu(MM.R_FPU_TAG) & 0xffff; }
  get fip(): number { return this.vcpu(MM.R_FPU_IP); }
  get fcs(): number { return this.vcpu(MM.R_FPU_CS); }
  get fdp(): number { return this.vcpu(MM.R_FPU_DP); }
  get fds(): number { return this.vcpu(MM.R_FPU_DS); }
  get fop(): number { return this.vcpu(MM.R_FPU_OPCODE); }
  get mxcsr(): number { return this.vcpu(MM.R_MXCSR); }
  /** ST(i) in stack order, as the nearest JS number (exact when the 80-bit value is a double). */
  st(i: number): number { const e = this.stExt(i); return extToNumber(e.sig, e.se); }
  /** ST(i) in stack order as its 80-bit encoding: significand and sign|exponent word. */
  stExt(i: number): { sig: bigint; se: number } {
    const p = (this.top + i) & 7;
    const dv = new DataView(this.h.memory.buffer, this.h.state.base + MM.R_FPU_ST + p * MM.FPU_ST_STRIDE, 10);
    return { sig: dv.getBigUint64(0, true), se: dv.getUint16(8, true) };
  }
  /** 2-bit tag of ST(i). */
  tagOf(i: number): number { return (this.tag >> (((this.top + i) & 7) * 2)) & 3; }
}

// Status word bits.
export const IE = 0x01, DE = 0x02, ZE = 0x04, OE = 0x08, UE = 0x10, PE = 0x20, SF = 0x40, ES = 0x80;
export const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000, B = 0x8000;
export const CC = C0 | C1 | C2 | C3;

export function bitsOf(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, true);
  return dv.getBigUint64(0, true);
}
/** An 80-bit value as the nearest JS number (NaN payloads are lost; unsupported encodings give NaN). */
export function extToNumber(sig: bigint, se: number): number {
  const neg = (se & 0x8000) !== 0, e = se & 0x7fff;
  if (e === 0x7fff) return (sig & ((1n << 63n) - 1n)) === 0n && sig >> 63n === 1n ? (neg ? -Infinity : Infinity) : NaN;
  if (sig === 0n) return neg ? -0 : 0;
  if (e !== 0 && sig >> 63n === 0n) return NaN;
  const v = ratToNumber({ n: neg ? -sig : sig, d: 1n }, (e === 0 ? 1 : e) - 16383 - 63);
  return v;
}
/** n/d × 2^k rounded to the nearest double (exact when representable). */
function ratToNumber(q: Rat, k: number): number {
  const r = roundRat(k >= 0 ? { n: q.n << BigInt(k), d: q.d } : { n: q.n, d: q.d << BigInt(-k) }, 53, RN);
  return r.value;
}
/**
 * The 80-bit encoding of a roundRat result made with emin = -16382, emax = 16383 and `prec`
 * bits (24, 53 or 64: the significand field holds the bits left-aligned).
 */
export function extOfRounded(r: Rounded, prec: number): { sig: bigint; se: number } {
  const s = r.neg ? 0x8000 : 0;
  if (r.inf) return { sig: 1n << 63n, se: s | 0x7fff };
  let k = r.k ?? 0n, q = r.q ?? 0;
  if (k === 0n) return { sig: 0n, se: s };
  if (k.toString(2).length > prec) { k >>= 1n; q++; } // rounding carried into a new binade
  const sig = k << BigInt(64 - prec);
  if (k.toString(2).length < prec) return { sig, se: s }; // denormal
  return { sig, se: s | (q + prec - 1 + 16383) };
}
/** The exact value of an 80-bit encoding (finite). */
export function ratOfExt(sig: bigint, se: number): Rat {
  const neg = (se & 0x8000) !== 0, e = se & 0x7fff;
  const k = (e === 0 ? 1 : e) - 16383 - 63;
  const n = neg ? -sig : sig;
  return k >= 0 ? { n: n << BigInt(k), d: 1n } : { n, d: 1n << BigInt(-k) };
}
export function fromBits(b: bigint): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, b, true);
  return dv.getFloat64(0, true);
}
export const INDEFINITE = 0xfff8000000000000n;
/** Hex dump of a double for readable failure messages. */
export const hex = (x: number): string => `0x${bitsOf(x).toString(16).padStart(16, '0')}`;

// ---- exact reference rounding -------------------------------------------------------------------------------
export interface Rat { n: bigint; d: bigint } // d > 0

/** The exact value of a finite double. */
export function ratOf(x: number): Rat {
  const b = bitsOf(x);
  const neg = b >> 63n === 1n;
  const be = Number((b >> 52n) & 0x7ffn);
  let m = b & 0xfffffffffffffn;
  let e: number;
  if (be === 0) e = -1074;
  else { m |= 1n << 52n; e = be - 1075; }
  const n = neg ? -m : m;
  return e >= 0 ? { n: n << BigInt(e), d: 1n } : { n, d: 1n << BigInt(-e) };
}
export const ratAdd = (a: Rat, b: Rat): Rat => ({ n: a.n * b.d + b.n * a.d, d: a.d * b.d });
export const ratSub = (a: Rat, b: Rat): Rat => ({ n: a.n * b.d - b.n * a.d, d: a.d * b.d });
export const ratMul = (a: Rat, b: Rat): Rat => ({ n: a.n * b.n, d: a.d * b.d });
export const ratDiv = (a: Rat, b: Rat): Rat => {
  const n = a.n * b.d, d = a.d * b.n;
  return d < 0n ? { n: -n, d: -d } : { n, d };
};
const bitLen = (v: bigint): number => v.toString(2).length;

/** Integer square root (floor). */
export function isqrt(v: bigint): bigint {
  if (v < 2n) return v;
  let x = 1n << BigInt(Math.ceil(bitLen(v) / 2));
  for (;;) {
    const y = (x + v / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/**
 * √x for a finite double x > 0, as a rational that rounds like the true root: exact when the
 * root is exact, otherwise s + 1/2 ulp-of-s for s = floor(√x) at 80 extra bits.
 */
export function ratSqrt(x: number): Rat {
  const r = ratOf(x);
  // x = n / 2^k with k even (scale the numerator if needed), √x = √n / 2^(k/2).
  let n = r.n, k = bitLen(r.d) - 1;
  if (k % 2) { n <<= 1n; k++; }
  const t = 200n; // 100 extra bits of root
  const big = n << t;
  const s = isqrt(big);
  const half = BigInt(k / 2) + t / 2n;
  if (s * s === big) return { n: s, d: 1n << half };
  return { n: 2n * s + 1n, d: 1n << (half + 1n) };
}

export const RN = 0, RD = 1, RU = 2, RZ = 3;

export interface Rounded {
  value: number; inexact: boolean; up: boolean; overflow: boolean; underflow: boolean;
  /** The exact result: (-1)^neg × k × 2^q (k = 0 for zero; for an overflow, the masked response's k and q). */
  neg?: boolean; k?: bigint; q?: number; inf?: boolean;
}

/**
 * Round the rational q to `prec` significant bits in a format with normal exponents
 * emin..emax (subnormal quantum 2^(emin-prec+1)), mode RN/RD/RU/RZ. `ueUnmasked`: an exact
 * tiny result still counts as underflow. Tininess is detected after rounding.
 */
export function roundRat(q: Rat, prec: number, mode: number, emin = -1022, emax = 1023, ueUnmasked = false): Rounded {
  if (q.n === 0n) return { value: 0, inexact: false, up: false, overflow: false, underflow: false };
  const neg = q.n < 0n;
  const a = neg ? -q.n : q.n, d = q.d;
  // E = floor(log2(a/d))
  let E = bitLen(a) - bitLen(d);
  const ge = (e: number): boolean => (e >= 0 ? a >= d << BigInt(e) : a << BigInt(-e) >= d);
  if (!ge(E)) E--;
  const roundAt = (Q: number): { k: bigint; inexact: boolean; inc: boolean } => {
    let num = a, den = d;
    if (Q >= 0) den = d << BigInt(Q); else num = a << BigInt(-Q);
    const k = num / den, r = num % den;
    const inexact = r !== 0n;
    let inc = false;
    if (inexact) {
      if (mode === RN) inc = 2n * r > den || (2n * r === den && (k & 1n) === 1n);
      else if (mode === RD) inc = neg;
      else if (mode === RU) inc = !neg;
    }
    return { k, inexact, inc };
  };
  // Tininess: the value rounded with an unbounded exponent is below 2^emin.
  const unb = roundAt(E - prec + 1);
  const unbK = unb.k + (unb.inc ? 1n : 0n);
  const tiny = E < emin && !(unbK === 1n << BigInt(prec) && E === emin - 1);
  const Q = Math.max(E - prec + 1, emin - prec + 1);
  const r = roundAt(Q);
  const k = r.k + (r.inc ? 1n : 0n);
  const kBits = k === 0n ? 0 : bitLen(k);
  if (k !== 0n && Q + kBits - 1 > emax) {
    const toInf = mode === RN || (mode === RU && !neg) || (mode === RD && neg);
    const max = (2 ** prec - 1) * 2 ** (emax - prec + 1);
    const v = toInf ? Infinity : max;
    return { value: neg ? -v : v, inexact: true, up: toInf, overflow: true, underflow: false, neg, k: (1n << BigInt(prec)) - 1n, q: emax - prec + 1, inf: toInf };
  }
  const mag = Number(k) * 2 ** Q;
  return {
    value: neg ? -mag : mag,
    inexact: r.inexact,
    up: r.inc,
    overflow: false,
    underflow: tiny && (r.inexact || ueUnmasked),
    neg, k, q: Q,
  };
}

/** Deterministic PRNG (xorshift32) for reproducible random cases. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** A random finite double with exponent in [emin, emax] and a random 52-bit fraction. */
export function randomDouble(rnd: () => number, emin: number, emax: number): number {
  const e = emin + Math.floor(rnd() * (emax - emin + 1));
  const hi = BigInt(Math.floor(rnd() * 2 ** 20)), lo = BigInt(Math.floor(rnd() * 2 ** 32));
  let frac = (hi << 32n) | lo;
  // Sometimes short significands, so exact results and ties occur too.
  const r = rnd();
  if (r < 0.2) frac &= ~((1n << 40n) - 1n);
  else if (r < 0.3) frac &= ~((1n << 50n) - 1n);
  const sign = rnd() < 0.5 ? 1n : 0n;
  const be = BigInt(Math.max(0, Math.min(2046, e + 1023)));
  return fromBits((sign << 63n) | (be << 52n) | frac);
}

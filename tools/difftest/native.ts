// Build and drive the native runner (runner.c, compiled with gcc -m32), and the case and
// result file formats it shares with the emulator side.
//
// Case file:   u32 CASES_MAGIC, u32 count, then per case: u32 gpr[8], u32 eflags,
//              u32 dataSeed, u32 codeAddr, u32 codeLength, code bytes padded to a multiple of 4.
// Result file: u32 RESULTS_MAGIC, u32 count, then per case: u32 signal (0 = no fault),
//              u32 trap number, u32 fault EIP, u32 gpr[8], u32 eflags, u32 n,
//              n × u32 (data-area offset << 8 | new byte value).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { CASES_MAGIC, RESULTS_MAGIC, DATA_SIZE, CODE_BASE, CODE_SIZE } from './layout';
import type { DiffCase } from './generator';

export interface RunResult {
  /** The exception that stopped the sequence (vector and EIP of the faulting instruction), or null. */
  fault: { vector: number; eip: number } | null;
  gpr: number[];
  eflags: number;
  /** Data-area bytes that differ from the initial fill: (offset << 8 | value), ascending. */
  changes: number[];
  /** Anything that makes the run unusable (emulator did not halt, native signal without a trap number). */
  error?: string;
}

export const GCC_HINT = 'the differential tester needs a 32-bit capable gcc: on Debian/Ubuntu run `apt-get install -y gcc-multilib`';

/** Compile runner.c into cacheDir (only when the source is newer). Returns the binary's path. */
export function buildRunner(repoRoot: string): string {
  const src = path.join(repoRoot, 'tools', 'difftest', 'runner.c');
  const dir = path.join(repoRoot, '.cache', 'difftest');
  const bin = path.join(dir, 'runner');
  fs.mkdirSync(dir, { recursive: true });
  const fresh = fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs;
  if (fresh) return bin;
  try {
    execFileSync('gcc', ['-m32', '-O2', '-no-pie', '-fno-pie', '-Wall', '-o', bin, src], { stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const detail = err.stderr?.toString().trim() || err.message;
    throw new Error(`cannot build the native runner (${detail.split('\n').slice(-3).join(' | ')}): ${GCC_HINT}`);
  }
  return bin;
}

export function encodeCases(cases: readonly DiffCase[]): Buffer {
  let size = 8;
  for (const c of cases) size += 48 + ((c.code.length + 3) & ~3);
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(CASES_MAGIC, 0);
  buf.writeUInt32LE(cases.length, 4);
  let p = 8;
  for (const c of cases) {
    if (c.gpr.length !== 8) throw new RangeError('a case needs 8 registers');
    checkCodePlacement(c);
    for (let i = 0; i < 8; i++) buf.writeUInt32LE(c.gpr[i] >>> 0, p + 4 * i);
    buf.writeUInt32LE(c.eflags >>> 0, p + 32);
    buf.writeUInt32LE(c.dataSeed >>> 0, p + 36);
    buf.writeUInt32LE(c.codeAddr >>> 0, p + 40);
    buf.writeUInt32LE(c.code.length, p + 44);
    buf.set(c.code, p + 48);
    p += 48 + ((c.code.length + 3) & ~3);
  }
  return buf;
}

/** The code and its epilogue (up to 8 bytes) must fit the code area. */
export function checkCodePlacement(c: DiffCase): void {
  if (c.codeAddr < CODE_BASE || c.codeAddr + c.code.length + 8 > CODE_BASE + CODE_SIZE) {
    throw new RangeError(`case ${c.index}: ${c.code.length} code bytes at ${c.codeAddr.toString(16)} do not fit the code area`);
  }
}

export function decodeResults(buf: Buffer, expected: number): RunResult[] {
  if (buf.length < 8 || buf.readUInt32LE(0) !== RESULTS_MAGIC) throw new Error('not a difftest result file');
  const count = buf.readUInt32LE(4);
  if (count !== expected) throw new Error(`result file has ${count} cases, expected ${expected}`);
  const out: RunResult[] = [];
  let p = 8;
  for (let i = 0; i < count; i++) {
    if (p + 52 > buf.length) throw new Error(`result ${i} is truncated`);
    const sig = buf.readUInt32LE(p), trap = buf.readUInt32LE(p + 4), eip = buf.readUInt32LE(p + 8);
    const gpr: number[] = [];
    for (let r = 0; r < 8; r++) gpr.push(buf.readUInt32LE(p + 12 + 4 * r));
    const eflags = buf.readUInt32LE(p + 44);
    const n = buf.readUInt32LE(p + 48);
    if (n > DATA_SIZE || p + 52 + 4 * n > buf.length) throw new Error(`result ${i} has a bad change count ${n}`);
    const changes: number[] = [];
    for (let k = 0; k < n; k++) changes.push(buf.readUInt32LE(p + 52 + 4 * k));
    p += 52 + 4 * n;
    out.push({ fault: sig === 0 ? null : { vector: trap, eip }, gpr, eflags, changes });
  }
  return out;
}

/** Run cases natively; `work` is a scratch directory for the case and result files. */
export function runNative(runner: string, cases: readonly DiffCase[], work: string, tag = 'batch'): RunResult[] {
  return runNativeTimed(runner, cases, work, tag, false).results;
}

/** Like runNative; with `time`, also each case's wall time (ns) as measured around the guest code. */
export function runNativeTimed(runner: string, cases: readonly DiffCase[], work: string, tag: string, time: boolean): { results: RunResult[]; ns: number[] } {
  fs.mkdirSync(work, { recursive: true });
  const inFile = path.join(work, `${tag}.cases`);
  const outFile = path.join(work, `${tag}.results`);
  fs.writeFileSync(inFile, encodeCases(cases));
  const args = time ? ['--time', inFile, outFile] : [inFile, outFile];
  // A generator bug could make guest code loop forever natively: give up after two minutes.
  const stdout = execFileSync(runner, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 20, encoding: 'utf8', timeout: 120_000 });
  const results = decodeResults(fs.readFileSync(outFile), cases.length);
  fs.rmSync(inFile, { force: true });
  fs.rmSync(outFile, { force: true });
  const ns = time ? stdout.trim().split('\n').map(Number) : [];
  if (time && (ns.length !== cases.length || ns.some((v) => !Number.isFinite(v)))) throw new Error(`runner printed ${ns.length} timings for ${cases.length} cases`);
  return { results, ns };
}

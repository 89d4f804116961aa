// Differential test of the wasm x86 core against the host CPU: generated instruction
// sequences run natively (32-bit process built with gcc -m32) and in the core must end in
// the same registers, flags (minus undefined ones) and memory. Needs an x86 host with
// gcc-multilib; without it the suite fails (it does not skip).
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createContext, runDifftest, type DifftestContext } from '../../tools/difftest/difftest';
import { KNOWN_ISSUES, type KnownIssueId } from '../../tools/difftest/known-issues';
import { generateCase } from '../../tools/difftest/generator';
import { compareRuns } from '../../tools/difftest/compare';
import { EmuRunner } from '../../tools/difftest/emulator';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WASM = new URL('../../engine-wasm/build/core.wasm', import.meta.url);
const ALL_KNOWN = new Set<KnownIssueId>(KNOWN_ISSUES.map((k) => k.id));

// Fixed seeds: mixed sequences of 1-8 instructions, and single instructions.
const MIXED_SEEDS = [1, 2, 3, 4];
const MIXED_CASES = 50_000;
const SINGLE_SEED = 11;
const SINGLE_CASES = 60_000;

describe('x86 core vs host CPU (differential)', () => {
  let ctx: DifftestContext;
  beforeAll(async () => {
    if (!fs.existsSync(WASM)) throw new Error('engine-wasm/build/core.wasm is missing: run `npm run asbuild` first');
    // Throws, naming the Debian package (gcc-multilib), when gcc -m32 is not available.
    ctx = await createContext(ROOT, fs.readFileSync(WASM));
  }, 60_000);

  for (const seed of MIXED_SEEDS) {
    it(`seed ${seed}: ${MIXED_CASES} mixed sequences agree`, () => {
      const s = runDifftest(ctx, { seed, cases: MIXED_CASES, faults: true, avoid: ALL_KNOWN });
      expect(s.failed, s.reports.join('\n\n')).toBe(0);
      expect(s.passed).toBe(MIXED_CASES);
      expect(s.faults).toBeGreaterThan(0); // #DE cases were compared too
    }, 60_000);
  }

  it(`seed ${SINGLE_SEED}: ${SINGLE_CASES} single instructions agree`, () => {
    const s = runDifftest(ctx, { seed: SINGLE_SEED, cases: SINGLE_CASES, groups: 1, faults: true, avoid: ALL_KNOWN });
    expect(s.failed, s.reports.join('\n\n')).toBe(0);
  }, 60_000);

  it('seed 12: 30000 mixed sequences agree with paging off (identity-mapped, no scrambled frames)', async () => {
    const flat = { ...ctx, emu: await EmuRunner.create(fs.readFileSync(WASM), { paging: false }) };
    const s = runDifftest(flat, { seed: 12, cases: 30_000, faults: true, avoid: ALL_KNOWN });
    expect(s.failed, s.reports.join('\n\n')).toBe(0);
  }, 60_000);

  it('seed 13: 20000 stack sequences on a 16-bit stack segment (SS.B=0) agree, every form seen', () => {
    const s = runDifftest(ctx, { seed: 13, cases: 20_000, stack16: true });
    expect(s.failed, s.reports.join('\n\n')).toBe(0);
    expect(s.passed).toBe(20_000);
    // Each push/pop form with both operand sizes ran (24 kinds; CALL also with a stray 66h).
    expect([...s.kinds.keys()].filter((k) => k.startsWith('ss16 ')).length).toBeGreaterThanOrEqual(24);
  }, 60_000);

  it('seed 14: 20000 x87 sequences agree with the host x87 at 80-bit precision (FSTP m80 of every register left)', () => {
    const s = runDifftest(ctx, { seed: 14, cases: 20_000, x87: true });
    expect(s.failed, s.reports.join('\n\n')).toBe(0);
    expect(s.passed).toBe(20_000);
    for (const k of ['x87 arith m', 'x87 arith st', 'x87 fsqrt', 'x87 fprem1', 'x87 fscale', 'x87 fxtract', 'x87 fld m80', 'x87 fst m', 'x87 fucomi']) {
      expect(s.kinds.get(k) ?? 0, k).toBeGreaterThan(100);
    }
  }, 60_000);

  // A known issue that no longer reproduces has been fixed: remove it from known-issues.ts
  // so the main runs above cover that feature again.
  for (const issue of KNOWN_ISSUES) {
    it(`known core issue "${issue.id}" still reproduces`, () => {
      const avoid = new Set(ALL_KNOWN);
      avoid.delete(issue.id);
      const s = runDifftest(ctx, { seed: 21, cases: 20_000, groups: 1, faults: true, avoid, maxReports: 0 });
      expect(s.failed, `${issue.id} no longer diverges (${issue.summary}): remove it from tools/difftest/known-issues.ts`).toBeGreaterThan(0);
    }, 60_000);
  }

  it('generates the same cases for the same seed', () => {
    for (const i of [0, 1, 977]) {
      const a = generateCase(5, i), b = generateCase(5, i);
      expect(Buffer.from(a.code).equals(Buffer.from(b.code))).toBe(true);
      expect(a.gpr).toEqual(b.gpr);
      expect(a.eflags).toBe(b.eflags);
    }
    expect(Buffer.from(generateCase(5, 0).code).equals(Buffer.from(generateCase(6, 0).code))).toBe(false);
  });

  it('reports a register, flag or memory difference as a divergence', () => {
    const c = generateCase(1, 3);
    const ok = ctx.emu.run(c);
    const same = { ...ok, gpr: [...ok.gpr], changes: [...ok.changes] };
    expect(compareRuns(c, same, ok)).toEqual([]);
    const badReg = { ...same, gpr: same.gpr.map((v, i) => (i === 0 ? (v ^ 1) >>> 0 : v)) };
    expect(compareRuns(c, badReg, ok).join('\n')).toMatch(/eax: native/);
    const badFlags = { ...same, eflags: same.eflags ^ 0x400 }; // DF is never undefined
    expect(compareRuns(c, badFlags, ok).join('\n')).toMatch(/eflags/);
    const untouched = [...Array(0x1000).keys()].find((o) => !ok.changes.some((e) => e >>> 8 === o))!;
    const badMem = { ...same, changes: [...same.changes, (untouched << 8) | 0xaa] };
    expect(compareRuns(c, badMem, ok).join('\n')).toMatch(/memory: 1 byte/);
  });
});

// Orchestration: generate cases for a seed, run them natively in batches and in the wasm
// core, compare. Used by the CLI (main.ts) and the vitest suite (test/cpu/difftest*.test.ts).
import path from 'node:path';
import { generateCase, type DiffCase, type GenOptions } from './generator';
import { generateStack16Case } from './stack16';
import { generateX87Case } from './x87';
import { buildRunner, runNative } from './native';
import { EmuRunner } from './emulator';
import { compareRuns, formatDivergence } from './compare';

export interface DifftestOptions extends GenOptions {
  seed: number;
  cases: number;
  /** Index of the first case (to rerun one case: first = index, cases = 1). */
  first?: number;
  /** Cases per native runner invocation. */
  batch?: number;
  /** Stop collecting reports after this many failures (counting goes on). */
  maxReports?: number;
  /** Generate stack-operation sequences on a 16-bit stack segment instead (stack16.ts). */
  stack16?: boolean;
  /** Generate x87 sequences instead, compared at 80-bit precision (x87.ts). */
  x87?: boolean;
}

export interface DifftestSummary {
  passed: number;
  failed: number;
  /** Printable reports of the first failures. */
  reports: string[];
  /** Failures per instruction kind under test (a case counts for each kind it contains). */
  failedKinds: Map<string, number>;
  /** Cases per instruction kind (coverage). */
  kinds: Map<string, number>;
  faults: number;
}

export interface DifftestContext {
  repoRoot: string;
  emu: EmuRunner;
  runner: string;
}

export async function createContext(repoRoot: string, wasm: BufferSource): Promise<DifftestContext> {
  const runner = buildRunner(repoRoot);
  const emu = await EmuRunner.create(wasm);
  return { repoRoot, emu, runner };
}

export function runDifftest(ctx: DifftestContext, o: DifftestOptions): DifftestSummary {
  const batch = o.batch ?? 5000;
  const first = o.first ?? 0;
  const sum: DifftestSummary = { passed: 0, failed: 0, reports: [], failedKinds: new Map(), kinds: new Map(), faults: 0 };
  const work = path.join(ctx.repoRoot, '.cache', 'difftest');
  for (let start = first; start < first + o.cases; start += batch) {
    const n = Math.min(batch, first + o.cases - start);
    const cases: DiffCase[] = [];
    for (let i = start; i < start + n; i++) cases.push(o.stack16 ? generateStack16Case(o.seed, i) : o.x87 ? generateX87Case(o.seed, i) : generateCase(o.seed, i, o));
    const nat = runNative(ctx.runner, cases, work, `seed${o.seed}-${process.pid}`);
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      const emu = ctx.emu.run(c);
      const kinds = new Set(c.insns.filter((x) => !x.kind.startsWith('setup')).map((x) => x.kind));
      for (const k of kinds) sum.kinds.set(k, (sum.kinds.get(k) ?? 0) + 1);
      if (nat[i].fault) sum.faults++;
      const diffs = compareRuns(c, nat[i], emu);
      if (diffs.length === 0) { sum.passed++; continue; }
      sum.failed++;
      for (const k of kinds) sum.failedKinds.set(k, (sum.failedKinds.get(k) ?? 0) + 1);
      if (sum.reports.length < (o.maxReports ?? 3)) sum.reports.push(formatDivergence(c, nat[i], emu, diffs));
    }
  }
  return sum;
}

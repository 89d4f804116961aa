// CLI: npm run difftest -- [--seed N] [--cases N] [--case I] [--groups N] [--faults|--no-faults] [--reports N] [--kinds] [--avoid-known] [--stack16] [--x87] [--wasm FILE]
// Runs generated x86 sequences on the host CPU and in the wasm core and compares them.
// Prints the first divergences and a closing "N passed, N failed" line; exit code 1 on failures.
import fs from 'node:fs';
import path from 'node:path';
import { createContext, runDifftest } from './difftest';
import { KNOWN_ISSUES, type KnownIssueId } from './known-issues';

function parseArgs(args: string[]): { seed: number; cases: number; first: number; faults: boolean; reports: number; kinds: boolean; groups?: number; avoidKnown: boolean; stack16: boolean; x87: boolean; wasm?: string } {
  const o: ReturnType<typeof parseArgs> = { seed: 1, cases: 10_000, first: 0, faults: true, reports: 3, kinds: false, avoidKnown: false, stack16: false, x87: false };
  const num = (i: number, name: string) => {
    const v = Number(args[i + 1]);
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    switch (args[i]) {
      case '--seed': o.seed = num(i, '--seed'); i++; break;
      case '--cases': o.cases = num(i, '--cases'); i++; break;
      case '--case': o.first = num(i, '--case'); o.cases = 1; o.reports = 1; i++; break;
      case '--reports': o.reports = num(i, '--reports'); i++; break;
      case '--faults': o.faults = true; break;
      case '--no-faults': o.faults = false; break;
      case '--kinds': o.kinds = true; break;
      case '--avoid-known': o.avoidKnown = true; break;
      case '--stack16': o.stack16 = true; break;
      case '--x87': o.x87 = true; break;
      case '--wasm': o.wasm = args[++i]; if (!o.wasm) throw new Error('--wasm needs a path'); break;
      case '--groups': (o as { groups?: number }).groups = num(i, '--groups'); i++; break;
      default: throw new Error(`unknown argument ${args[i]} (see tools/difftest/main.ts)`);
    }
  }
  return o;
}

export async function main(args: string[]): Promise<number> {
  const o = parseArgs(args);
  const root = process.cwd();
  const wasmPath = o.wasm ?? path.join(root, 'engine-wasm', 'build', 'core.wasm');
  if (!fs.existsSync(wasmPath)) throw new Error('engine-wasm/build/core.wasm is missing: run `npm run asbuild` first');
  const ctx = await createContext(root, fs.readFileSync(wasmPath));
  const t0 = process.hrtime.bigint();
  const s = runDifftest(ctx, { seed: o.seed, cases: o.cases, first: o.first, faults: o.faults, maxReports: o.reports, groups: o.groups, stack16: o.stack16, x87: o.x87,
    avoid: o.avoidKnown ? new Set<KnownIssueId>(KNOWN_ISSUES.map((k) => k.id)) : undefined });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const r of s.reports) console.log(`${r}\n`);
  if (o.kinds || s.failed > 0) {
    const rows = [...s.kinds.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    console.log('kind                       cases  failed');
    for (const [k, n] of rows) console.log(`${k.padEnd(26)} ${String(n).padStart(6)}  ${String(s.failedKinds.get(k) ?? 0).padStart(6)}`);
  }
  console.log(`seed ${o.seed}: ${s.passed + s.failed} cases (${s.faults} faulting) in ${secs.toFixed(1)} s`);
  console.log(`${s.passed} passed, ${s.failed} failed`);
  return s.failed === 0 ? 0 : 1;
}

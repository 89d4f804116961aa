#!/usr/bin/env node
// `npm test`: build the core, typecheck, run the unit tests (vitest) and the end-to-end
// tests (Playwright, dev server and production build), then print one summary line:
// "N passed, N failed".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
fs.mkdirSync('.cache', { recursive: true });
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
let passed = 0, failed = 0;
const problems = [];

function step(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === 0;
}

if (!step('build the x86 core', process.execPath, ['tools/build-core.mjs'])) {
  console.log('\n0 passed, 1 failed');
  process.exit(1);
}
// The Linux guest is built from Debian's packages (not committed): build.sh builds it when
// missing or made from another recipe (it says "up to date" in a moment otherwise).
if (!step('build the Linux guest (when missing or stale)', 'bash', ['guests/linux/build.sh'])) problems.push('Linux guest build (its tests will fail)');
// The shipped snapshots (public/snapshots/) come from the guest: built when missing or when this
// engine no longer loads them (the snapshot and e2e tests resume them instead of booting cold).
if (fs.existsSync('public/guests/linux/manifest.json')
  && !step('check the shipped snapshots', process.execPath, ['tools/run-ts.mjs', 'tools/build-snapshots.ts', '--check'])) {
  if (!step('build the shipped snapshots', process.execPath, ['tools/run-ts.mjs', 'tools/build-snapshots.ts'])) problems.push('shipped snapshots (their tests will fail)');
}
if (step('typecheck', npx, ['tsc', '-p', '.'])) passed++; else { failed++; problems.push('typecheck'); }

const vitestJson = '.cache/vitest-results.json';
fs.rmSync(vitestJson, { force: true });
/**
 * Count a vitest run's results. A run that exited with an error but reports no failed test
 * (a test worker that crashed, an unhandled error) fails too, with the tests it never ended.
 */
function vitestResults(ok, file, what) {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    passed += v.numPassedTests; failed += v.numFailedTests;
    if (v.numFailedTests) problems.push(`${v.numFailedTests} ${what}`);
    if (v.numFailedTestSuites && !v.numFailedTests) { failed += v.numFailedTestSuites; problems.push(`${what}: files failed to load`); }
    if (!ok && !v.numFailedTests && !v.numFailedTestSuites) {
      const unfinished = v.numTotalTests - v.numPassedTests - v.numFailedTests - (v.numPendingTests ?? 0) - (v.numTodoTests ?? 0);
      failed += Math.max(1, unfinished);
      problems.push(`${what}: vitest exited with an error (${unfinished} tests never ended)`);
    }
  } catch { failed++; problems.push(`${what} produced no results`); }
}
vitestResults(step('unit tests', npx, ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${vitestJson}`]), vitestJson, 'unit tests');

// Everything above runs with translation to WebAssembly on (the default); the CPU tests run
// once more on the interpreter alone, so both paths stay covered.
const interpJson = '.cache/vitest-interpreter.json';
fs.rmSync(interpJson, { force: true });
vitestResults(step('CPU tests, interpreter only (PVLAB_JIT=0)', npx, ['vitest', 'run', 'test/cpu', '--reporter=default', '--reporter=json', `--outputFile=${interpJson}`], { PVLAB_JIT: '0' }), interpJson, 'interpreter-only CPU tests');

const pwJson = path.resolve('.cache/playwright-results.json');
fs.rmSync(pwJson, { force: true });
step('end-to-end tests', npx, ['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson, CI: process.env.CI ?? '1' });
try {
  const p = JSON.parse(fs.readFileSync(pwJson, 'utf8'));
  const s = p.stats;
  passed += s.expected; failed += s.unexpected + (s.flaky ?? 0);
  if (s.unexpected) problems.push(`${s.unexpected} end-to-end tests`);
  if (p.errors?.length) { failed += p.errors.length; problems.push('playwright errors'); }
} catch { failed++; problems.push('end-to-end tests produced no results'); }

if (problems.length) console.log(`\nfailures: ${problems.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// Builds the x86 core (engine-wasm/assembly → engine-wasm/build/core.wasm) only when its
// inputs changed, judged by content: a SHA-256 over the core's sources, its build settings,
// the compiler's version and the profile. Each result is kept in .cache/core/, so switching
// branches or profiles back and forth costs a copy, not a compile.
//
// Profiles (both AssemblyScript -O3 over the same sources):
//   dev      (default) skips the Binaryen passes that are slow on the core's one very large
//            function (the run loop with the inlined dispatcher): about 45 s instead of 3 min.
//            `npm run bench` measured it at the release build's speed.
//   release  every -O3 pass, as before; for benchmarks and the production bundle.
//
// Usage: node tools/build-core.mjs [--profile dev|release] [--force] [--wat] [--quiet]
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(root, 'engine-wasm/build/core.wasm');
const STAMP = path.join(root, 'engine-wasm/build/core.stamp');
const CACHE = path.join(root, '.cache/core');

/**
 * Passes left out of the dev profile. Timed on the core (Binaryen 131): coalesce-locals
 * about 60 s per run over the run loop's interference graph, rse 20 s, merge-locals 10 s,
 * flatten 8 s, simplify-globals-optimizing 7 s (it re-runs the function pipeline). V8
 * allocates registers itself, so none of them changes the speed of the compiled core.
 */
const DEV_SKIPPED_PASSES = ['coalesce-locals', 'rse', 'merge-locals', 'flatten', 'simplify-globals-optimizing'];
const PROFILES = { dev: DEV_SKIPPED_PASSES, release: [] };

/** Every file whose content decides the output. */
function inputs() {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|json)$/.test(e.name)) files.push(p);
    }
  };
  walk(path.join(root, 'engine-wasm/assembly'));
  files.push(path.join(root, 'engine-wasm/memory-map.ts'), path.join(root, 'engine-wasm/asconfig.json'));
  return files;
}

function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

export function coreHash(profile) {
  const h = createHash('sha256');
  h.update(`profile ${profile}: ${PROFILES[profile].join(',')}\n`);
  h.update(`assemblyscript ${packageVersion('assemblyscript')} binaryen ${packageVersion('binaryen')}\n`);
  for (const f of inputs()) {
    h.update(path.relative(root, f).replaceAll('\\', '/') + '\0');
    h.update(fs.readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

async function compile(profile, outFile, wat) {
  const { default: asc } = await import('assemblyscript/asc');
  const skipped = PROFILES[profile];
  // An AssemblyScript transform runs after compiling and before optimising: the moment to
  // tell Binaryen which passes to leave out (a process-wide setting of its pass runner).
  class SkipPasses {
    afterCompile() {
      this.binaryen.clearPassesToSkip();
      for (const p of skipped) this.binaryen.addPassToSkip(p);
    }
  }
  const args = ['--config', path.join(root, 'engine-wasm/asconfig.json'), '--target', 'release', '--outFile', outFile];
  if (wat) args.push('--textFile', outFile.replace(/\.wasm$/, '.wat'));
  const { error } = await asc.main(args, { transforms: [SkipPasses], stdout: process.stdout, stderr: process.stderr });
  if (error) throw new Error(`the x86 core did not compile: ${error.message}`);
}

export async function buildCore({ profile = 'dev', force = false, wat = false, log = console.log } = {}) {
  if (!(profile in PROFILES)) throw new Error(`unknown profile ${profile} (dev or release)`);
  const hash = coreHash(profile);
  const tag = `${profile} ${hash.slice(0, 12)}`;
  const stamp = fs.existsSync(STAMP) && fs.existsSync(OUT) ? fs.readFileSync(STAMP, 'utf8').trim() : '';
  if (!force && !wat && stamp === tag) {
    log(`x86 core: up to date (${tag})`);
    return { built: false, hash };
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.mkdirSync(CACHE, { recursive: true });
  const cached = path.join(CACHE, `${profile}-${hash.slice(0, 32)}.wasm`);
  if (force || wat || !fs.existsSync(cached)) {
    log(`x86 core: compiling (${tag}; ${profile === 'dev' ? 'about 45 s' : 'about 3 min'})…`);
    const t0 = Date.now();
    const tmp = `${cached}.${process.pid}.tmp.wasm`;
    await compile(profile, tmp, wat);
    fs.renameSync(tmp, cached);
    if (wat) fs.renameSync(tmp.replace(/\.wasm$/, '.wat'), OUT.replace(/\.wasm$/, '.wat'));
    log(`x86 core: compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    pruneCache(cached);
  } else {
    log(`x86 core: taken from the build cache (${tag})`);
  }
  fs.copyFileSync(cached, OUT);
  fs.writeFileSync(STAMP, tag + '\n');
  return { built: true, hash };
}

/** Keep the newest few builds per profile. */
function pruneCache(keep) {
  const KEEP = 6;
  const entries = fs.readdirSync(CACHE).filter((f) => f.endsWith('.wasm') && !f.includes('.tmp.'))
    .map((f) => ({ f: path.join(CACHE, f), t: fs.statSync(path.join(CACHE, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const e of entries.slice(KEEP)) if (e.f !== keep) fs.rmSync(e.f, { force: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let opts;
  try {
    opts = parseArgs({
      options: {
        profile: { type: 'string', default: 'dev' },
        force: { type: 'boolean', default: false },
        wat: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e) {
    console.error(`build-core: ${e.message}`);
    process.exit(2);
  }
  try {
    await buildCore({ profile: opts.profile, force: opts.force, wat: opts.wat, log: opts.quiet ? () => {} : console.log });
  } catch (e) {
    console.error(`build-core: ${e.message}`);
    process.exit(1);
  }
}

#!/usr/bin/env node
// Run a TypeScript entry point under Node 20 (which cannot strip types itself): bundle it
// with Vite's SSR build into .cache/run-ts/, then import it. Dependencies stay external.
// Usage: node tools/run-ts.mjs path/to/entry.ts [args...]
import { build } from 'vite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function bundleTs(entry, { quiet = true } = {}) {
  const abs = path.resolve(entry);
  const name = path.relative(root, abs).replace(/[\\/]/g, '_').replace(/\.ts$/, '');
  const outDir = path.join(root, '.cache', 'run-ts', name);
  const outFile = path.join(outDir, 'index.mjs');
  if (!isStale(abs, outFile)) return outFile;
  await build({
    configFile: false,
    root,
    logLevel: quiet ? 'silent' : 'warn',
    build: {
      ssr: abs,
      outDir,
      emptyOutDir: true,
      target: 'node20',
      minify: false,
      sourcemap: true,
      rollupOptions: { output: { format: 'es', entryFileNames: 'index.mjs', codeSplitting: false } },
    },
  });
  return outFile;
}

// Rebuild when any TS source under the repo's code folders is newer than the bundle.
function isStale(entry, outFile) {
  let outTime;
  try { outTime = fs.statSync(outFile).mtimeMs; } catch { return true; }
  const dirs = ['engine-ts', 'engine-wasm/memory-map.ts', 'tools', 'engine-wasm/x86-table.ts'];
  const newer = (p) => {
    let st;
    try { st = fs.statSync(p); } catch { return false; }
    if (st.isDirectory()) return fs.readdirSync(p).some((f) => newer(path.join(p, f)));
    return /\.(ts|mjs)$/.test(p) && st.mtimeMs > outTime;
  };
  return newer(entry) || dirs.some((d) => newer(path.join(root, d)));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) { console.error('usage: node tools/run-ts.mjs ENTRY.ts [args...]'); process.exit(2); }
  const out = await bundleTs(entry);
  process.argv = [process.argv[0], entry, ...args];
  const mod = await import(pathToFileURL(out).href);
  if (typeof mod.main === 'function') {
    const code = await mod.main(args);
    if (typeof code === 'number') process.exitCode = code;
  }
}

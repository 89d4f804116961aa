#!/usr/bin/env node
// The import boundaries of the architecture (engine-ts/CONTEXT.md), checked: every relative
// import in app/, engine-ts/ and tools/cli/ must go to an area its own area may use, engine
// code touches threads and WebAssembly only in engine-ts/worker/, and no two files import
// each other in a cycle. `npm test` runs it (test/layers.test.ts); so can you:
//   node tools/check-layers.mjs [ROOT]     prints each breach, exits 1 if there is one
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Who may import whom. An area may always import itself. Read it top-down: the page and
 * the command line see only the API; the API sees the engine; below it every arrow points
 * down, ending at config/ (the machine's description) and the core's memory map.
 */
export const ALLOWED = {
  'app': ['engine-ts/api'],
  'tools/cli': ['engine-ts/api'],
  'engine-ts/api': ['engine-ts/config', 'engine-ts/worker', 'engine-ts/board', 'engine-ts/network', 'engine-ts/disk', 'engine-ts/pv', 'engine-ts/snapshot', 'engine-ts/platform'],
  'engine-ts/worker': ['engine-ts/config', 'engine-ts/board', 'engine-ts/snapshot', 'engine-ts/network', 'engine-ts/disk', 'engine-ts/platform', 'engine-wasm'],
  'engine-ts/snapshot': ['engine-ts/config', 'engine-ts/board', 'engine-ts/platform', 'engine-ts/disk', 'engine-wasm'],
  'engine-ts/board': ['engine-ts/config', 'engine-ts/devices', 'engine-ts/pv', 'engine-ts/network', 'engine-ts/disk', 'engine-ts/platform', 'engine-wasm'],
  'engine-ts/devices': ['engine-ts/config', 'engine-ts/disk', 'engine-ts/platform', 'engine-wasm'],
  'engine-ts/pv': ['engine-ts/config', 'engine-ts/network', 'engine-ts/disk', 'engine-ts/platform', 'engine-wasm'],
  'engine-ts/network': ['engine-ts/config', 'engine-ts/platform'],
  'engine-ts/disk': [],
  'engine-ts/platform': ['engine-ts/config', 'engine-wasm'],
  'engine-ts/config': ['engine-wasm'],
  'engine-wasm': [],
};

/** Host facilities that only engine-ts/worker may use (threads, shared-memory atomics, wasm). */
const WORKER_ONLY = /\b(Atomics\.|WebAssembly\.|new Worker\b|new MessageChannel\b|self\.postMessage\b|Comlink\.)/;

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?['"](\.{1,2}\/[^'"?]+)(?:\?[^'"]*)?['"]|import\(\s*['"](\.{1,2}\/[^'"?]+)['"]\s*\)/g;

function areaOf(rel) {
  const p = rel.split('/');
  if (p[0] === 'engine-ts') return p.length > 2 ? `engine-ts/${p[1]}` : 'engine-ts';
  if (p[0] === 'tools') return p.length > 2 && p[1] === 'cli' ? 'tools/cli' : null;
  if (p[0] === 'app' || p[0] === 'engine-wasm') return p[0];
  return null;
}

function listFiles(root) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try { entries = fs.readdirSync(path.join(root, dir), { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== 'build') walk(rel); }
      else if (/\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const top of ['app', 'engine-ts', 'engine-wasm', 'tools/cli']) walk(top);
  return out;
}

function resolve(files, from, spec) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const c of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`, base.replace(/\.js$/, '.ts')]) if (files.has(c)) return c;
  return null;
}

/** Strip comments so that prose naming Atomics or an import does not count. */
function code(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function checkLayers(root) {
  const list = listFiles(root);
  const files = new Set(list);
  const breaches = [];
  const graph = new Map();
  for (const f of list) {
    const text = code(fs.readFileSync(path.join(root, f), 'utf8'));
    const from = areaOf(f);
    const deps = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[2] ?? m[3];
      const target = resolve(files, f, spec);
      if (!target) continue;
      if (!m[1]) deps.push(target);
      const to = areaOf(target);
      if (!from || !to || from === to) continue;
      if (!(ALLOWED[from] ?? []).includes(to)) breaches.push(`${f} -> ${target}: ${from} may not import ${to}`);
    }
    graph.set(f, deps);
    if (f.startsWith('engine-ts/') && !f.startsWith('engine-ts/worker/')) {
      const hit = text.match(WORKER_ONLY);
      if (hit) breaches.push(`${f}: uses ${hit[1].replace(/[.(]$/, '')}, which only engine-ts/worker may touch`);
    }
  }
  for (const cycle of cycles(graph)) breaches.push(`import cycle: ${cycle.join(' -> ')}`);
  return breaches;
}

/** File-level cycles over value imports (Tarjan's strongly connected components). */
function cycles(graph) {
  let n = 0;
  const index = new Map(), low = new Map(), stack = [], on = new Set(), out = [];
  const visit = (v) => {
    index.set(v, n); low.set(v, n); n++;
    stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const comp = [];
      let w;
      do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 && !comp.every((c) => c.startsWith('engine-wasm/'))) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const breaches = checkLayers(root);
  for (const b of breaches) console.log(b);
  console.log(breaches.length ? `${breaches.length} import-boundary breaches` : 'layers: every import goes the right way');
  process.exit(breaches.length ? 1 : 0);
}

#!/usr/bin/env node
// `pvlab` launcher: builds the x86 core and the CLI bundle when they are missing or older than
// their sources, then runs the command. See tools/cli/main.ts.
import path from 'node:path';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newest(p) {
  let st;
  try { st = fs.statSync(p); } catch { return 0; }
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...fs.readdirSync(p).map((f) => newest(path.join(p, f))));
}

const wasm = path.join(root, 'engine-wasm/build/core.wasm');
let wasmTime = 0;
try { wasmTime = fs.statSync(wasm).mtimeMs; } catch {}
if (wasmTime < Math.max(newest(path.join(root, 'engine-wasm/assembly')), newest(path.join(root, 'engine-wasm/memory-map.ts')))) {
  const asc = path.join(root, 'node_modules/assemblyscript/bin/asc.js');
  execFileSync(process.execPath, [asc, '--config', path.join(root, 'engine-wasm/asconfig.json'), '--target', 'release'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
const { bundleTs } = await import(pathToFileURL(path.join(root, 'tools/run-ts.mjs')).href);
const out = await bundleTs(path.join(root, 'tools/cli/main.ts'));
const { main } = await import(pathToFileURL(out).href);
// Exit explicitly: an open stdin (a terminal or pipe) would otherwise keep the process alive
// after the guest stopped. Writes to stdout/stderr are synchronous on Linux for files, pipes and TTYs.
process.exit(await main(process.argv.slice(2), process, root));

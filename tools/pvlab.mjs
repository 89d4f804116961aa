#!/usr/bin/env node
// `pvlab` launcher: builds the x86 core and the CLI bundle when they are missing or stale,
// then runs the command. See tools/cli/main.ts.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// The core is rebuilt only when its sources changed (by content; see build-core.mjs).
const { buildCore } = await import(pathToFileURL(path.join(root, 'tools/build-core.mjs')).href);
await buildCore({ log: (line) => { if (!line.includes('up to date')) process.stderr.write(`pvlab: ${line}\n`); } });
const { bundleTs } = await import(pathToFileURL(path.join(root, 'tools/run-ts.mjs')).href);
const out = await bundleTs(path.join(root, 'tools/cli/main.ts'));
const { main } = await import(pathToFileURL(out).href);
// Exit explicitly: an open stdin (a terminal or pipe) would otherwise keep the process alive
// after the guest stopped. Writes to stdout/stderr are synchronous on Linux for files, pipes and TTYs.
process.exit(await main(process.argv.slice(2), process, root));

#!/usr/bin/env node
// `npm start`: make what the lab needs that is missing or stale — the x86 core (when its
// sources changed), the Linux guest (when absent) — one progress line per step, then serve
// the page with Vite's dev server. Extra arguments go to Vite (e.g. `npm start -- --port 8080`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCore } from './build-core.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const t0 = Date.now();
const say = (line) => console.log(`pvlab: ${line}`);
const STEPS = 4;

say(`[1/${STEPS}] x86 core`);
try {
  await buildCore({ log: (line) => say(`      ${line}`) });
} catch (e) {
  say(`the x86 core did not build: ${e.message}`);
  process.exit(1);
}

say(`[2/${STEPS}] Linux guest (public/guests/linux/)`);
const guestFiles = ['bzImage', 'initrd.img', 'manifest.json'].map((f) => path.join('public/guests/linux', f));
const present = guestFiles.every((f) => fs.existsSync(f));
if (!hasCommand('apt-get') || !hasCommand('dpkg-deb')) {
  say(present
    ? '      present (not checked against its recipe: this machine has no apt-get/dpkg-deb)'
    : '      not built: this machine has no apt-get/dpkg-deb to fetch Debian\'s kernel and busybox; run `npm run guest:linux` on a Debian or Ubuntu machine and copy public/guests/linux/ here (the page offers the other guests meanwhile)');
} else {
  // build.sh knows whether the guest is up to date (package versions and its recipe files).
  if (!present) say('      building from Debian\'s i386 packages (once; about a minute)…');
  const r = spawnSync('bash', ['guests/linux/build.sh'], { stdio: present ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) say(`      the Linux guest did not build${present ? `: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}` : ' (see above)'}; the page offers the other guests meanwhile`);
  else if (present) say(/up to date/.test(`${r.stdout}${r.stderr}`) ? '      present and up to date' : '      rebuilt (its recipe changed)');
}

say(`[3/${STEPS}] shipped snapshots (public/snapshots/: the guest booted to its shell, so the page starts it at once)`);
let snapshotBuild = null;
if (!guestFiles.every((f) => fs.existsSync(f))) {
  say('      skipped: no Linux guest');
} else if (spawnSync(process.execPath, ['tools/run-ts.mjs', 'tools/build-snapshots.ts', '--check'], { stdio: 'ignore' }).status === 0) {
  say('      present');
} else {
  // Minutes of booting: done beside the server. Until it finishes the page boots the guest cold.
  say('      building in the background (a few minutes, once); until then the page boots the guest cold');
  snapshotBuild = spawn(process.execPath, ['tools/run-ts.mjs', 'tools/build-snapshots.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  snapshotBuild.stdout.on('data', (d) => { log += d; });
  snapshotBuild.stderr.on('data', (d) => { log += d; });
  snapshotBuild.on('exit', (code) => {
    snapshotBuild = null;
    if (code === 0) say('snapshots are ready: the page now starts the guest from them (reload it)');
    else say(`the shipped snapshots did not build; the page boots the guest cold. Its output:\n${log.slice(-2000)}`);
  });
}

say(`[4/${STEPS}] serving the lab (ready after ${((Date.now() - t0) / 1000).toFixed(1)} s of preparation)`);
const vite = spawn(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { snapshotBuild?.kill(sig); vite.kill(sig); });
vite.on('exit', (code, signal) => { snapshotBuild?.kill(); process.exit(code ?? (signal ? 0 : 1)); });

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

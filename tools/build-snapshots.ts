// The shipped snapshots: the bundled Linux guest booted to its shell, once per recipe in
// guests/linux/snapshots.json, saved into public/snapshots/ with a manifest the page reads.
// Boots are deterministic (pacing 'fast', a fixed RTC, no input) and run in parallel, one
// process each.
//
//   node tools/run-ts.mjs tools/build-snapshots.ts           build (all recipes)
//   node tools/run-ts.mjs tools/build-snapshots.ts --check   exit 0 if every shipped snapshot
//                                                             is there, of this guest and this
//                                                             engine's sources, and loads
// A snapshot made by another engine still loads, but the guest it holds booted on that
// engine (a CPUID leaf, a device's timing): the sources' fingerprint makes any change to the
// engine (engine-wasm/, engine-ts/) build them again.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMachine, imagesFromFiles, readSnapshotHeader, resumeMachine, type MachineConfig } from '../engine-ts/api/node';

interface Recipe {
  name: string;
  title: string;
  memoryMiB: number;
  xen: boolean;
  consoleInput?: 'serial' | 'hvc0';
  cmdline: string;
  nics?: Array<{ mac: string }>;
}

export interface ShippedSnapshot extends Recipe {
  file: string;
  sha256: string;
  size: number;
  /** The guest's manifest.json files (kernel, initrd) it was booted from. */
  guest: Record<string, { sha256: string }>;
  /** engineFingerprint() of the sources that booted it. */
  engine: string;
}

/** SHA-256 over the engine's sources (path and content of each, in path order): what a boot depends on. */
export function engineFingerprint(): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) { if (rel !== 'engine-wasm/build') walk(rel); } else if (e.name.endsWith('.ts')) files.push(rel);
    }
  };
  walk('engine-wasm');
  walk('engine-ts');
  const h = createHash('sha256');
  for (const f of files.sort()) h.update(f).update('\0').update(fs.readFileSync(path.join(root, f))).update('\0');
  return h.digest('hex');
}

const root = process.cwd();
const GUEST = path.join(root, 'public/guests/linux');
const OUT = path.join(root, 'public/snapshots');
const CORE = path.join(root, 'engine-wasm/build/core.wasm');

function recipes(): { rtcStartSeconds: number; snapshots: Recipe[] } {
  return JSON.parse(fs.readFileSync(path.join(root, 'guests/linux/snapshots.json'), 'utf8'));
}

function guestManifest(): { files: Record<string, { sha256: string }>; shellPrompt: string; readyLine: string } {
  return JSON.parse(fs.readFileSync(path.join(GUEST, 'manifest.json'), 'utf8'));
}

function configOf(r: Recipe, rtcStartSeconds: number): MachineConfig {
  return {
    memoryMiB: r.memoryMiB,
    xen: r.xen,
    consoleInput: r.consoleInput ?? 'serial',
    nics: r.nics ?? [],
    pacing: 'fast',
    rtcStartSeconds,
    guest: {
      kind: 'linux', name: 'Debian Linux', cmdline: r.cmdline,
      kernel: new Uint8Array(fs.readFileSync(path.join(GUEST, 'bzImage'))),
      initrd: new Uint8Array(fs.readFileSync(path.join(GUEST, 'initrd.img'))),
    },
  };
}

/** Boot one recipe to its shell prompt and save it. */
async function buildOne(name: string): Promise<void> {
  const { rtcStartSeconds, snapshots } = recipes();
  const r = snapshots.find((s) => s.name === name);
  if (!r) throw new Error(`no snapshot recipe named ${name}`);
  const g = guestManifest();
  let text = '';
  let ready = false;
  let saving: Promise<void> | null = null;
  const dec = new TextDecoder();
  const t0 = Date.now();
  const machine = await createMachine(CORE, configOf(r, rtcStartSeconds), {
    onConsole: (b) => {
      text = (text + dec.decode(b, { stream: true })).slice(-16384);
      ready ||= text.includes(g.readyLine);
      // At the first prompt after the ready line: the shell waits for its first command.
      if (ready && !saving && text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').endsWith(g.shellPrompt)) {
        saving = machine.snapshot({ console: text }).then(async (file) => {
          fs.writeFileSync(path.join(OUT, `${name}.pvsnap`), file);
          await machine.stop();
        });
      }
    },
  });
  const timer = setTimeout(() => void machine.stop(), 15 * 60_000);
  const reason = await machine.run();
  clearTimeout(timer);
  await saving;
  machine.dispose();
  if (!saving) throw new Error(`${name}: the guest stopped (${reason.kind}) before its shell prompt`);
  console.log(`snapshots: ${name} booted and saved in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** Is every shipped snapshot there, made from this guest, and loadable by this engine? */
async function check(): Promise<string | null> {
  const manifestPath = path.join(OUT, 'manifest.json');
  if (!fs.existsSync(manifestPath)) return 'not built yet';
  let shipped: ShippedSnapshot[];
  try {
    shipped = JSON.parse(fs.readFileSync(manifestPath, 'utf8')).snapshots;
  } catch {
    return 'the manifest is unreadable';
  }
  const g = guestManifest();
  const engine = engineFingerprint();
  const { snapshots } = recipes();
  for (const r of snapshots) {
    const s = shipped.find((x) => x.name === r.name);
    if (!s) return `${r.name} is missing`;
    if (s.cmdline !== r.cmdline || s.memoryMiB !== r.memoryMiB || s.xen !== r.xen) return `${r.name} was made from another recipe`;
    for (const [f, v] of Object.entries(g.files)) if (s.guest[f]?.sha256 !== v.sha256) return `${r.name} was made from another guest build`;
    if (s.engine !== engine) return `${r.name} was made by another version of the engine`;
    const file = path.join(OUT, s.file);
    if (!fs.existsSync(file)) return `${s.file} is missing`;
    try {
      const bytes = new Uint8Array(fs.readFileSync(file));
      const { machine } = await resumeMachine(CORE, bytes, {}, { pacing: 'fast', images: imagesFromFiles([path.join(GUEST, 'bzImage'), path.join(GUEST, 'initrd.img')]) });
      machine.dispose();
    } catch (e) {
      return `${s.file} no longer loads (${(e as Error).message})`;
    }
  }
  return null;
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { check: { type: 'boolean' }, only: { type: 'string' } } });
  if (!fs.existsSync(path.join(GUEST, 'manifest.json'))) {
    console.error('snapshots: the Linux guest is not built (npm run guest:linux)');
    return 1;
  }
  if (values.check) {
    const why = await check();
    if (why) console.log(`snapshots: to build (${why})`);
    return why ? 1 : 0;
  }
  fs.mkdirSync(OUT, { recursive: true });
  if (values.only) {
    await buildOne(values.only);
    return 0;
  }
  const { snapshots } = recipes();
  // One process per recipe: the boots run side by side.
  const results = await Promise.all(snapshots.map((r) => new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'tools/run-ts.mjs'), 'tools/build-snapshots.ts', '--only', r.name], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  })));
  if (results.some((c) => c !== 0)) return 1;
  const g = guestManifest();
  const engine = engineFingerprint();
  const shipped: ShippedSnapshot[] = [];
  for (const r of snapshots) {
    const file = `${r.name}.pvsnap`;
    const bytes = new Uint8Array(fs.readFileSync(path.join(OUT, file)));
    const { sha256 } = await readSnapshotHeader(bytes);
    shipped.push({ ...r, file, sha256, size: bytes.length, guest: g.files, engine });
  }
  fs.writeFileSync(path.join(OUT, 'manifest.json'), JSON.stringify({ format: 1, snapshots: shipped }, null, 2) + '\n');
  console.log(`snapshots: wrote ${shipped.map((s) => `${s.file} (${(s.size / 2 ** 20).toFixed(1)} MiB)`).join(', ')}`);
  return 0;
}

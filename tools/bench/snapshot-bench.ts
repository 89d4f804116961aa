// npm run bench:snapshot: pvlab and v86 save and restore the same kind of booted 128 MiB
// Linux, in Node and in headless Chromium (Debian's), in one run; pvlab also makes the share
// link for "booted, then `echo hello > ~/hello.txt`" (a delta against the shipped snapshot,
// base64url as it sits in a URL fragment) and checks that it resumes with the file there.
//
// pvlab starts from the shipped snapshot (public/snapshots/linux.pvsnap); v86 boots the same
// bzImage and initrd with the same command line and RAM here, in Node, and its save_state at
// the prompt is what both hosts restore. The procedure is snapshot-bench-steps.ts; this file
// gets the inputs, runs it in Node, serves snapshot-bench-page.ts to Chromium, prints the
// table and writes it into BENCHMARKS.md (between the snapshot-bench markers).
// Usage: npm run bench:snapshot -- [--runs N] [--only node|chromium] [--bios FILE] [--v86-booted FILE] [--profile] [--no-write]
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { resumeMachine } from '../../engine-ts/api/node';
import { withChromiumPage } from './chromium-page';
import { ConsoleSession } from './console-session';
import { checkV86, importV86, loadGuest, SetupError, v86Options, type V86Paths } from './linux-guests';
import { describeCommit, describeHost, formatLoad, updateBenchmarksFile, type BenchmarksSection } from './linux-report';
import { FILES_URL, loadedV86, PAGE_FILES, PROMPT, READY, runSteps, type PageOptions, type PvlabApi, type StepFigures, type V86Instance } from './snapshot-bench-steps';
import { profileSnapshots } from './snapshot-profile';

const DEFAULT_BIOS = '/usr/share/seabios/bios-256k.bin'; // Debian package `seabios`
const RECIPE = 'linux'; // guests/linux/snapshots.json: the emulated-devices guest
const BOOT_TIMEOUT_S = 1800;
const SECTION: BenchmarksSection = { name: 'snapshot-bench', command: 'npm run bench:snapshot', title: '## Snapshots: save, restore, size, share link (pvlab vs v86)' };

interface Options {
  runs: number;
  hosts: Array<'node' | 'chromium'>;
  bios: string;
  /** A v86 state at the prompt saved by an earlier run (.cache/bench/v86-booted.bin), instead of booting v86. */
  v86Booted: string | null;
  profile: boolean;
  write: boolean;
}

class UsageError extends Error {}

function parseOptions(args: string[]): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      only: { type: 'string' },
      bios: { type: 'string' },
      'v86-booted': { type: 'string' },
      profile: { type: 'boolean' },
      'no-write': { type: 'boolean' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const runs = values.runs === undefined ? 5 : /^\d+$/.test(values.runs) ? Number(values.runs) : NaN;
  if (!(runs >= 1 && runs <= 50)) throw new UsageError(`--runs must be an integer 1-50 (got ${values.runs})`);
  let hosts: Options['hosts'] = ['node', 'chromium'];
  if (values.only !== undefined) {
    if (values.only !== 'node' && values.only !== 'chromium') throw new UsageError(`--only takes node or chromium (got ${values.only})`);
    hosts = [values.only];
  }
  return { runs, hosts, bios: values.bios ?? DEFAULT_BIOS, v86Booted: values['v86-booted'] ?? null, profile: !!values.profile, write: !values['no-write'] };
}

interface Inputs {
  shipped: Uint8Array;
  shippedSha: string;
  memoryMiB: number;
  cmdline: string;
  kernel: Uint8Array;
  initrd: Uint8Array;
  guestDescribe: string;
}

/** The shipped snapshot of the recipe, checked against the guest it must have been made from. */
function loadInputs(root: string): Inputs {
  const guest = loadGuest(root);
  const recipes = JSON.parse(fs.readFileSync(path.join(root, 'guests/linux/snapshots.json'), 'utf8')) as { snapshots: Array<{ name: string; memoryMiB: number; cmdline: string; xen: boolean }> };
  const recipe = recipes.snapshots.find((r) => r.name === RECIPE);
  if (!recipe || recipe.xen) throw new SetupError(`guests/linux/snapshots.json has no recipe "${RECIPE}" with emulated devices`);
  const build = 'build it with `node tools/run-ts.mjs tools/build-snapshots.ts`';
  const manifestPath = path.join(root, 'public/snapshots/manifest.json');
  if (!fs.existsSync(manifestPath)) throw new SetupError(`the shipped snapshots are missing (public/snapshots/): ${build}`);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { snapshots: Array<{ name: string; file: string; sha256: string; cmdline: string; guest: Record<string, { sha256: string }> }> };
  const entry = manifest.snapshots.find((s) => s.name === RECIPE);
  if (!entry) throw new SetupError(`public/snapshots/manifest.json lists no "${RECIPE}" snapshot: ${build}`);
  const guestManifest = JSON.parse(fs.readFileSync(path.join(root, 'public/guests/linux/manifest.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  for (const [f, v] of Object.entries(guestManifest.files)) {
    if (entry.guest[f]?.sha256 !== v.sha256) throw new SetupError(`public/snapshots/${entry.file} was made from another build of the guest: ${build}`);
  }
  if (entry.cmdline !== recipe.cmdline) throw new SetupError(`public/snapshots/${entry.file} was made from another recipe: ${build}`);
  const shipped = new Uint8Array(fs.readFileSync(path.join(root, 'public/snapshots', entry.file)));
  const sha = createHash('sha256').update(shipped.subarray(0, shipped.length - 32)).digest('hex');
  if (sha !== entry.sha256) throw new SetupError(`public/snapshots/${entry.file} is not the file its manifest lists: ${build}`);
  return {
    shipped, shippedSha: sha, memoryMiB: recipe.memoryMiB, cmdline: recipe.cmdline,
    kernel: guest.image.kernel, initrd: guest.image.initrd, guestDescribe: guest.describe,
  };
}

const progress = (msg: string) => process.stderr.write(`bench:snapshot: ${msg}\n`);

/** Boot v86 to the shell prompt with the recipe's command line and save its state there. */
async function bootV86(create: () => V86Instance): Promise<{ state: ArrayBuffer; bootS: number }> {
  const t0 = performance.now();
  const e = await loadedV86({ create });
  const session = new ConsoleSession();
  e.add_listener('serial0-output-byte', (b) => session.events.onOutput(Uint8Array.of(b)));
  e.run();
  try {
    const ready = await session.waitFor(READY, BOOT_TIMEOUT_S * 1000, 'v86 boot to `pvlab: ready`', 0);
    await session.waitFor(PROMPT, BOOT_TIMEOUT_S * 1000, 'v86 boot to the shell prompt', ready.end);
    const bootS = (performance.now() - t0) / 1000;
    // The shell has printed its prompt and waits for input: the state the shipped pvlab snapshot has.
    await e.stop();
    return { state: await e.save_state(), bootS };
  } finally {
    await e.destroy();
  }
}

/**
 * The same procedure in headless Chromium, on a production build of the page: pvlab's page
 * API (a worker per machine) and v86 on the page's main thread.
 */
async function runChromium(root: string, files: Record<string, Uint8Array>, o: Omit<PageOptions, 'host'>): Promise<StepFigures> {
  return withChromiumPage(root, { name: 'snapshot-bench', entry: 'tools/bench/snapshot-bench-page.ts', readyFunction: 'runSnapshotBench', filesUrl: FILES_URL, files, progress }, async (page, version) => {
    await page.exposeFunction('snapshotBenchProgress', progress);
    return page.evaluate((opts) => window.runSnapshotBench!(opts), { ...o, host: `Chromium ${version}` });
  });
}

// ---- the table ---------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const sumRuns = (...lists: number[][]) => lists[0].map((_, i) => lists.reduce((a, l) => a + l[i], 0));

/** A figure: a number, or timings (median shown, with the range of the runs). */
type Cell = number | number[] | undefined;
interface Row {
  label: string;
  pv(f: StepFigures): Cell;
  v86(f: StepFigures): Cell;
  digits: number;
}

const MB = (n: number) => n / 1e6;
const KB = (n: number) => n / 1e3;
const ROWS: Row[] = [
  { label: 'restore, before the first: pvlab makes the base views from the guest\'s bzImage and initrd (once per process or page, ahead of need; here on the calling thread), ms', pv: (f) => f.pvlab.prepareMs, v86: () => undefined, digits: 0 },
  { label: 'restore: bytes → machine that can run, ms (pvlab `resumeMachine`, the base views made; v86 `new V86` + `restore_state`)', pv: (f) => f.pvlab.restoreMs, v86: (f) => f.v86.createRestoreMs, digits: 0 },
  { label: 'restore, the page only: with the machine\'s worker started at the call (no `prepareMachines()`), ms', pv: (f) => (f.pvlab.coldRestoreMs.length ? f.pvlab.coldRestoreMs : undefined), v86: () => undefined, digits: 0 },
  { label: 'restore from the file as shipped, ms (v86: gunzip, then the above)', pv: (f) => f.pvlab.restoreMs, v86: (f) => sumRuns(f.v86.gunzipMs, f.v86.createRestoreMs), digits: 0 },
  { label: 'restore: v86 `restore_state` alone (emulator already made), ms', pv: () => undefined, v86: (f) => f.v86.restoreMs, digits: 0 },
  { label: 'restore, part: pvlab `readHeader` (header checked, SHA-256 of the file) on the calling thread, ms', pv: (f) => f.pvlab.headerMs, v86: () => undefined, digits: 0 },
  { label: 'restore, part: pvlab `decodeSnapshot` (that, then every block inflated), ms', pv: (f) => f.pvlab.decodeMs, v86: () => undefined, digits: 0 },
  { label: 'save: the guest stands still, ms (pvlab: the capture, `lastSave.pausedMs`; v86: `save_state()`, synchronous)', pv: (f) => f.pvlab.savePauseMs, v86: (f) => f.v86.saveMs, digits: 0 },
  { label: 'save: call → file, ms (pvlab `snapshot()` → .pvsnap; v86 `save_state()` → ArrayBuffer)', pv: (f) => f.pvlab.saveMs, v86: (f) => f.v86.saveMs, digits: 0 },
  { label: 'save, compressed for shipping, ms (v86: `save_state()` + gzip)', pv: (f) => f.pvlab.saveMs, v86: (f) => sumRuns(f.v86.saveMs, f.v86.gzipMs), digits: 0 },
  { label: 'full state, MB (pvlab .pvsnap; v86 `save_state()` as is)', pv: (f) => MB(f.pvlab.fullBytes), v86: (f) => MB(f.v86.rawBytes), digits: 2 },
  { label: 'full state as shipped, MB (v86 gzipped)', pv: (f) => MB(f.pvlab.fullBytes), v86: (f) => MB(f.v86.gzipBytes), digits: 2 },
  { label: 'link: save the delta, ms (`snapshot({ base })`)', pv: (f) => f.pvlab.deltaSaveMs, v86: () => undefined, digits: 0 },
  { label: 'link: of that, the guest stands still, ms', pv: (f) => f.pvlab.deltaPauseMs, v86: () => undefined, digits: 0 },
  { label: 'link: delta, KB', pv: (f) => KB(f.pvlab.deltaBytes), v86: () => undefined, digits: 1 },
  { label: 'link: base64url in the URL fragment, KB (v86 has no delta: its gzipped full state)', pv: (f) => KB(f.pvlab.linkChars), v86: (f) => KB(f.v86.linkChars), digits: 1 },
  { label: 'link: restore, ms (`resumeMachine(delta, { base })`)', pv: (f) => f.pvlab.linkRestoreMs, v86: () => undefined, digits: 0 },
];

const value = (c: Cell): number | undefined => (Array.isArray(c) ? median(c) : c);
function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function cellText(c: Cell, digits: number): string {
  if (c === undefined) return '—';
  if (!Array.isArray(c)) return fmt(c, digits);
  return `${fmt(median(c), digits)} (${fmt(Math.min(...c), digits)}–${fmt(Math.max(...c), digits)})`;
}

export function renderTable(results: StepFigures[]): string {
  const head = ['figure', ...results.flatMap((r) => [`${r.host}: pvlab`, `${r.host}: v86`, 'pvlab / v86'])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const row of ROWS) {
    const cells = [row.label];
    for (const r of results) {
      const a = row.pv(r), b = row.v86(r);
      const va = value(a), vb = value(b);
      cells.push(cellText(a, row.digits), cellText(b, row.digits), va !== undefined && vb !== undefined && vb > 0 ? fmt(va / vb, 2) : '');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The aims, checked against the medians of each host. */
function aims(results: StepFigures[]): string[] {
  const yes = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return results.map((r) => {
    const save = median(r.pvlab.savePauseMs), v86Save = median(r.v86.saveMs);
    const shipSave = median(r.pvlab.saveMs), v86Ship = median(sumRuns(r.v86.saveMs, r.v86.gzipMs));
    const restore = median(r.pvlab.restoreMs), v86Restore = median(r.v86.createRestoreMs);
    const half = r.pvlab.fullBytes / r.v86.gzipBytes;
    return `- ${r.host}: save, the guest standing still, ≤ v86's (${fmt(save, 0)} vs ${fmt(v86Save, 0)} ms) ${yes(save <= v86Save)}; `
      + `save to a compressed file ≤ v86's save and gzip (${fmt(shipSave, 0)} vs ${fmt(v86Ship, 0)} ms) ${yes(shipSave <= v86Ship)}; `
      + `restore ≤ v86's (${fmt(restore, 0)} vs ${fmt(v86Restore, 0)} ms) ${yes(restore <= v86Restore)}; `
      + `full snapshot ≤ half of v86's gzipped state (${fmt(half, 2)}×) ${yes(half <= 0.5)}; `
      + `link ≤ 256 KB (${fmt(KB(r.pvlab.linkChars), 1)} KB) ${yes(r.pvlab.linkChars <= 256_000)}; `
      + 'the link resumed with ~/hello.txt holding "hello" (checked; the bench stops otherwise).';
  });
}

export async function main(args: string[]): Promise<number> {
  let opts: Options;
  try { opts = parseOptions(args); } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bench:snapshot: ${(e as Error).message}\nusage: npm run bench:snapshot -- [--runs N] [--only node|chromium] [--bios FILE] [--v86-booted FILE] [--profile] [--no-write]\n`);
      return 2;
    }
    throw e;
  }
  const root = process.cwd();
  const coreWasm = path.join(root, 'engine-wasm', 'build', 'core.wasm');
  const v86Paths: V86Paths = { packageDir: path.join(root, 'node_modules', 'v86'), bios: opts.bios };
  let inputs: Inputs;
  let v86Info: ReturnType<typeof checkV86>;
  try {
    if (!fs.existsSync(path.join(root, 'package.json'))) throw new SetupError('run this from the repo root (npm run bench:snapshot)');
    if (!fs.existsSync(coreWasm)) throw new SetupError('engine-wasm/build/core.wasm is missing: run `npm run asbuild:release`');
    inputs = loadInputs(root);
    v86Info = checkV86(v86Paths);
    if (opts.v86Booted && !fs.existsSync(opts.v86Booted)) throw new SetupError(`--v86-booted: ${opts.v86Booted} does not exist (a run without it saves one in .cache/bench/v86-booted.bin)`);
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    process.stderr.write(`bench:snapshot: ${e.message}\n`);
    return 2;
  }
  const host = describeHost();
  const commit = describeCommit();
  const coreSha = createHash('sha256').update(fs.readFileSync(coreWasm)).digest('hex').slice(0, 12);
  progress(`${host.cpuModel}, nproc ${host.nproc}, node ${host.node}, load average ${formatLoad(host.loadAtStart)}`);

  const image = { kernel: inputs.kernel, initrd: inputs.initrd, cmdline: inputs.cmdline, memoryMiB: inputs.memoryMiB };
  const V86 = await importV86<new (o: Record<string, unknown>) => V86Instance>(v86Paths);
  const v86Opts = { ...v86Options(v86Paths, image), autostart: false };
  const createV86 = () => new V86(v86Opts);
  const savedBoot = path.join(root, '.cache', 'bench', 'v86-booted.bin');
  let booted: { state: ArrayBuffer; bootS: number | null };
  if (opts.v86Booted) {
    booted = { state: new Uint8Array(fs.readFileSync(opts.v86Booted)).buffer, bootS: null };
    progress(`v86's booted state from ${opts.v86Booted}`);
  } else {
    progress(`v86 boots the guest to its shell (${inputs.memoryMiB} MiB, \`${inputs.cmdline}\`)`);
    booted = await bootV86(createV86);
    fs.mkdirSync(path.dirname(savedBoot), { recursive: true });
    fs.writeFileSync(savedBoot, new Uint8Array(booted.state));
    progress(`v86 at the prompt after ${booted.bootS!.toFixed(1)} s; its state (${booted.state.byteLength} bytes) is in ${path.relative(root, savedBoot)} (--v86-booted reuses it)`);
  }

  const results: StepFigures[] = [];
  if (opts.hosts.includes('node')) {
    // The guest's images, for the base views the shipped snapshot is stored relative to (made at the first, untimed, resume).
    const images = (ref: { size: number }) => [inputs.kernel, inputs.initrd].find((b) => b.length === ref.size);
    const pv: PvlabApi = { resume: (file, events, o) => resumeMachine(coreWasm, file, events, { ...o, images }) };
    results.push(await runSteps(`Node ${process.version}`, pv, { create: createV86 }, { shipped: inputs.shipped, v86Booted: booted.state, runs: opts.runs, kernel: inputs.kernel, initrd: inputs.initrd }, progress));
  }
  const loadAfterNode = os.loadavg();
  if (opts.hosts.includes('chromium')) {
    const bios = new Uint8Array(fs.readFileSync(opts.bios));
    const v86File = (f: string) => new Uint8Array(fs.readFileSync(path.join(v86Paths.packageDir, 'build', f)));
    const files: Record<(typeof PAGE_FILES)[number], Uint8Array> = {
      'shipped.pvsnap': inputs.shipped, 'v86-booted.bin': new Uint8Array(booted.state), 'bios.bin': bios, bzImage: inputs.kernel, 'initrd.img': inputs.initrd,
      'libv86.mjs': v86File('libv86.mjs'), 'v86.wasm': v86File('v86.wasm'),
    };
    results.push(await runChromium(root, files, { runs: opts.runs, memoryMiB: inputs.memoryMiB, cmdline: inputs.cmdline }));
  }
  host.loadAtEnd = os.loadavg();

  const block = [
    `Measured ${host.date} by \`npm run bench:snapshot\` (${opts.runs} timed run${opts.runs > 1 ? 's' : ''} of each figure after a warm-up; median, and the range of the runs): `
      + `pvlab ${commit} (core.wasm sha256 ${coreSha}…), v86 ${v86Info.version} with ${v86Info.biosVersion}.`,
    `Host: ${host.cpuModel}, nproc ${host.nproc}, ${host.totalMemGiB.toFixed(1)} GiB, ${host.os}; load average (1/5/15 min) `
      + `${formatLoad(host.loadAtStart)} at the start, ${formatLoad(loadAfterNode)} after Node, ${formatLoad(host.loadAtEnd)} at the end.`,
    `Guest: ${inputs.guestDescribe}, ${inputs.memoryMiB} MiB RAM, \`${inputs.cmdline}\`: pvlab's shipped snapshot `
      + `public/snapshots/linux.pvsnap (sha256 ${inputs.shippedSha.slice(0, 12)}…); v86 booted to the same prompt `
      + (booted.bootS === null ? `in an earlier run (${opts.v86Booted}). ` : `here, in ${booted.bootS.toFixed(0)} s. `)
      + '1 MB = 10⁶ bytes, 1 KB = 10³.',
    '',
    renderTable(results),
    '',
    'Aims (issue 12):',
    ...aims(results),
  ].join('\n');
  process.stdout.write(`\n${block}\n`);

  if (opts.profile) process.stdout.write(`\n${await profileSnapshots(coreWasm, inputs.shipped, { kernel: inputs.kernel, initrd: inputs.initrd })}\n`);

  // A failed step throws (the run stops there): what gets here is complete for its hosts.
  if (opts.write && results.length === 2) {
    updateBenchmarksFile(path.join(root, 'BENCHMARKS.md'), block, SECTION);
    progress('BENCHMARKS.md updated');
  } else if (opts.write) {
    progress('BENCHMARKS.md not updated (only one host ran)');
  }
  return 0;
}

// npm run bench:linux: pvlab and v86 boot the same Linux guest (public/guests/linux: the
// same bzImage, initrd and command line, the same RAM) one after the other, under Node in
// this process and then in a page in headless Chromium (linux-bench-page.ts: pvlab's page
// API, v86 on the page), and run the same workload typed at the shell. Measured per emulator: wall seconds from
// power-on to the prompt, and for a shell loop and `dd | md5sum` both the guest's own time
// (/proc/uptime read before and after, inside the same command line) and the host's wall
// time (from typing the line to the end marker arriving on the console). Prints a markdown
// table and writes it into BENCHMARKS.md (between the linux-bench markers).
// Usage: npm run bench:linux -- [--only pvlab|v86|inspector] [--host node|chromium] [--mem MiB]
//        [--boot-timeout S] [--work-timeout S] [--bios FILE] [--inspector-rounds N]
//        [--decompress loader|guest] [--no-write] [--verbose]
// With pvlab it also measures what the inspector costs (tools/bench/inspector-bench.ts):
// the same workload on the shipped Xen snapshot with the inspector closed and open.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { withChromiumPage } from './chromium-page';
import { inspectorSummary, measureInspector } from './inspector-bench';
import type {} from './linux-bench-page'; // (its window.runLinuxBench; the module runs in the page only)
import { checkV86, loadGuest, nodePvlabGuest, nodeV86Guest, SetupError, type GuestFiles, type LinuxImage } from './linux-guests';
import { DD_MD5, DD_MIB, LINUX_FILES_URL, measure, type LinuxPageOptions, type LinuxPageRun, type MeasureHost } from './linux-measure';
import {
  describeCommit, describeHost, formatLoad, LINUX_SECTION, renderSplit, renderTable, updateBenchmarksFile,
  type EmulatorFigures, type PhaseFigures,
} from './linux-report';

const DEFAULT_BIOS = '/usr/share/seabios/bios-256k.bin'; // Debian package `seabios`

interface Options {
  only: Array<'v86' | 'pvlab'>;
  hosts: Array<'node' | 'chromium'>;
  /** Run the inspector comparison (with pvlab, or alone with --only inspector). */
  inspector: boolean;
  memoryMiB: number;
  bootTimeoutS: number;
  workTimeoutS: number;
  bios: string;
  write: boolean;
  verbose: boolean;
  inspectorRounds: number;
  /** Who unpacks pvlab's kernel: its loader (the default, as the page boots) or the bzImage's decompressor in the guest. */
  decompress: 'loader' | 'guest';
}

class UsageError extends Error {}

function parseOptions(args: string[]): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      only: { type: 'string' },
      host: { type: 'string' },
      mem: { type: 'string' },
      'boot-timeout': { type: 'string' },
      'work-timeout': { type: 'string' },
      bios: { type: 'string' },
      'no-write': { type: 'boolean' },
      verbose: { type: 'boolean' },
      'inspector-rounds': { type: 'string' },
      decompress: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const int = (s: string | undefined, dflt: number, what: string, min: number, max: number): number => {
    if (s === undefined) return dflt;
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= min && n <= max)) throw new UsageError(`${what} must be an integer ${min}-${max} (got ${s})`);
    return n;
  };
  const memoryMiB = int(values.mem, 128, '--mem', 32, 1024);
  // v86 wants a power of two; the same size goes to pvlab.
  if ((memoryMiB & (memoryMiB - 1)) !== 0) throw new UsageError(`--mem must be a power of two (got ${memoryMiB})`);
  let only: Options['only'] = ['v86', 'pvlab']; // v86 first: it is quick, and its figures exist even if pvlab times out
  if (values.only !== undefined) {
    if (values.only !== 'v86' && values.only !== 'pvlab' && values.only !== 'inspector') throw new UsageError(`--only takes pvlab, v86 or inspector (got ${values.only})`);
    only = values.only === 'inspector' ? [] : [values.only];
  }
  let hosts: Options['hosts'] = ['node', 'chromium'];
  if (values.host !== undefined) {
    if (values.host !== 'node' && values.host !== 'chromium') throw new UsageError(`--host takes node or chromium (got ${values.host})`);
    hosts = [values.host];
  }
  const inspectorRounds = int(values['inspector-rounds'], 4, '--inspector-rounds', 0, 50);
  const decompress = values.decompress ?? 'loader';
  if (decompress !== 'loader' && decompress !== 'guest') throw new UsageError(`--decompress takes loader or guest (got ${decompress})`);
  return {
    only,
    hosts,
    inspector: inspectorRounds > 0 && hosts.includes('node') && (only.includes('pvlab') || values.only === 'inspector'),
    memoryMiB,
    bootTimeoutS: int(values['boot-timeout'], 1800, '--boot-timeout', 10, 86_400),
    workTimeoutS: int(values['work-timeout'], 1200, '--work-timeout', 10, 86_400),
    bios: values.bios ?? DEFAULT_BIOS,
    write: !values['no-write'],
    verbose: !!values.verbose,
    inspectorRounds,
    decompress,
  };
}

/** Host-side meter for one stretch: event-loop utilisation and process CPU time. */
function meter(): { stop(): Pick<PhaseFigures, 'busyPct' | 'cpuS'> } {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  return {
    stop() {
      const e = performance.eventLoopUtilization(elu);
      const c = process.cpuUsage(cpu);
      return { busyPct: e.utilization * 100, cpuS: (c.user + c.system) / 1e6 };
    },
  };
}

const progress = (name: string, msg: string) => process.stderr.write(`[${name}] ${msg}\n`);

/** The runs in headless Chromium: the page's API and v86 on a page (linux-bench-page.ts). */
async function runChromium(root: string, opts: Options, image: LinuxImage, v86Paths: { packageDir: string; bios: string }, logDir: string): Promise<{ runs: EmulatorFigures[]; version: string }> {
  const v86File = (f: string) => new Uint8Array(fs.readFileSync(path.join(v86Paths.packageDir, 'build', f)));
  const files: Record<string, Uint8Array> = {
    bzImage: image.kernel, 'initrd.img': image.initrd, 'bios.bin': new Uint8Array(fs.readFileSync(v86Paths.bios)),
    'libv86.mjs': v86File('libv86.mjs'), 'v86.wasm': v86File('v86.wasm'),
  };
  const say = (msg: string) => progress('chromium', msg);
  return withChromiumPage(root, { name: 'linux-bench', entry: 'tools/bench/linux-bench-page.ts', readyFunction: 'runLinuxBench', filesUrl: LINUX_FILES_URL, files, progress: say }, async (page, version) => {
    await page.exposeFunction('linuxBenchProgress', (name: string, msg: string) => progress(`chromium ${name}`, msg));
    const o: LinuxPageOptions = { which: opts.only, cmdline: image.cmdline, memoryMiB: image.memoryMiB, decompress: opts.decompress, bootTimeoutS: opts.bootTimeoutS, workTimeoutS: opts.workTimeoutS };
    const got: LinuxPageRun[] = await page.evaluate((x) => window.runLinuxBench!(x), o);
    for (const r of got) fs.writeFileSync(path.join(logDir, `linux-chromium-${r.figures.name}.log`), Buffer.from(r.transcript, 'latin1'));
    return { runs: got.map((r) => r.figures), version };
  });
}


/** pvlab's split of each phase, as a second table. */
function pvlabSplit(runs: EmulatorFigures[]): string[] {
  const pvlab = runs.find((r) => r.name === 'pvlab');
  const t = pvlab ? renderSplit(pvlab) : null;
  return t ? ['', 'Where pvlab\'s wall time went (the core\'s run() and the host calls from it are timed in the worker layer):', '', t] : [];
}

export async function main(args: string[]): Promise<number> {
  let opts: Options;
  try { opts = parseOptions(args); } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bench:linux: ${(e as Error).message}\nusage: npm run bench:linux -- [--only pvlab|v86|inspector] [--host node|chromium] [--mem MiB] [--boot-timeout S] [--work-timeout S] [--bios FILE] [--inspector-rounds N] [--decompress loader|guest] [--no-write] [--verbose]\n`);
      return 2;
    }
    throw e;
  }
  const root = process.cwd();
  const coreWasm = path.join(root, 'engine-wasm', 'build', 'core.wasm');
  const v86Paths = { packageDir: path.join(root, 'node_modules', 'v86'), bios: opts.bios };
  let guestFiles: GuestFiles;
  let v86Info: ReturnType<typeof checkV86> | null = null;
  try {
    if (!fs.existsSync(path.join(root, 'package.json'))) throw new SetupError('run this from the repo root (npm run bench:linux)');
    guestFiles = loadGuest(root);
    if (opts.only.includes('v86')) v86Info = checkV86(v86Paths);
    if ((opts.only.includes('pvlab') || opts.inspector) && !fs.existsSync(coreWasm)) throw new SetupError('engine-wasm/build/core.wasm is missing: run `npm run asbuild`');
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    process.stderr.write(`bench:linux: ${e.message}\n`);
    return 2;
  }

  const host = describeHost();
  const commit = describeCommit();
  const coreSha = opts.only.includes('pvlab') || opts.inspector
    ? ` (core.wasm sha256 ${createHash('sha256').update(fs.readFileSync(coreWasm)).digest('hex').slice(0, 12)}…)`
    : '';
  const image: LinuxImage = { ...guestFiles.image, memoryMiB: opts.memoryMiB, decompress: opts.decompress };
  if (createHash('md5').update(new Uint8Array(DD_MIB << 20)).digest('hex') !== DD_MD5) throw new Error('linux-measure.ts: DD_MD5 is not the MD5 of the zeros dd writes');
  process.stderr.write(`bench:linux: ${host.cpuModel}, nproc ${host.nproc}, node ${host.node}, load average ${formatLoad(host.loadAtStart)}\n`);
  const logDir = path.join(root, '.cache', 'bench');
  fs.mkdirSync(logDir, { recursive: true });

  const runs: EmulatorFigures[] = [];
  const measureHost: MeasureHost = {
    bootTimeoutS: opts.bootTimeoutS, workTimeoutS: opts.workTimeoutS, meter, progress,
    echo: opts.verbose ? (b) => process.stderr.write(b) : null,
  };
  if (opts.hosts.includes('node')) {
    for (const which of opts.only) {
      const guest = which === 'pvlab' ? nodePvlabGuest(coreWasm, image) : nodeV86Guest(v86Paths, image);
      const { figures, transcript } = await measure(guest, measureHost);
      const log = path.join(logDir, `linux-${guest.name}.log`);
      fs.writeFileSync(log, transcript);
      progress(guest.name, `console transcript in ${path.relative(process.cwd(), log)}`);
      runs.push(figures);
    }
  }
  let inChromium: { runs: EmulatorFigures[]; version: string } | null = null;
  let chromiumFailed: string | null = null;
  if (opts.hosts.includes('chromium') && opts.only.length) {
    try {
      inChromium = await runChromium(root, opts, image, v86Paths, logDir);
    } catch (e) {
      chromiumFailed = (e as Error).message;
      progress('chromium', `FAILED: ${chromiumFailed}`);
    }
  }
  let inspector: string | null = null;
  let inspectorFailed: string | null = null;
  if (opts.inspector) {
    progress('inspector', `open vs closed, ${opts.inspectorRounds} runs each`);
    const f = await measureInspector(coreWasm, root, opts.inspectorRounds, opts.verbose);
    inspector = inspectorSummary(f);
    inspectorFailed = f.error ?? null;
    process.stderr.write(`${inspector}\n`);
  }
  host.loadAtEnd = os.loadavg();

  const failures = runs.filter((r) => r.error).map((r) => `- Node, ${r.name}: ${r.error}`);
  for (const r of inChromium?.runs ?? []) if (r.error) failures.push(`- Chromium, ${r.name}: ${r.error}`);
  if (chromiumFailed) failures.push(`- Chromium: ${chromiumFailed}`);
  if (inspectorFailed) failures.push(`- inspector: ${inspectorFailed}`);
  const block = [
    `Measured ${host.date} by \`npm run bench:linux\`: pvlab ${commit}${coreSha}` +
      (v86Info ? `, v86 ${v86Info.version} with ${v86Info.biosVersion}` : '') + '.',
    `Host: ${host.cpuModel}, nproc ${host.nproc}, ${host.totalMemGiB.toFixed(1)} GiB, ${host.os}, node ${host.node}; ` +
      `load average (1/5/15 min) ${formatLoad(host.loadAtStart)} at the start, ${formatLoad(host.loadAtEnd)} at the end.`,
    ...(runs.length ? [
      `Guest: ${guestFiles.describe}, ${opts.memoryMiB} MiB RAM, command line \`${image.cmdline}\`. ` +
        `Order: ${opts.only.join(', then ')}, one after the other in one Node process. ` +
        (opts.decompress === 'loader' ? 'pvlab\'s loader unpacks the kernel (v86 runs the bzImage\'s decompressor).' : 'pvlab runs the bzImage\'s decompressor too (`--decompress guest`).'),
      '',
      renderTable(runs),
      ...pvlabSplit(runs),
    ] : []),
    ...(inChromium?.runs.length ? [
      '',
      `In Chromium ${inChromium.version} (headless, a production build of a bench page: pvlab through the page's API, its machine in a Web Worker; ` +
        'v86 on the page\'s main thread; the same order; a page cannot see its CPU time, so those rows are empty):',
      '',
      renderTable(inChromium.runs),
      ...pvlabSplit(inChromium.runs),
    ] : []),
    ...(inspector ? ['', inspector] : []),
    ...(failures.length ? ['', 'Failures:', ...failures] : []),
  ].join('\n');
  process.stdout.write(`\n${block}\n`);

  const complete = opts.only.length === 2 && failures.length === 0 && (!opts.hosts.includes('node') || runs.length === 2) && (!opts.hosts.includes('chromium') || inChromium?.runs.length === 2);
  if (opts.write && complete) {
    updateBenchmarksFile(path.join(root, 'BENCHMARKS.md'), block, LINUX_SECTION);
    process.stderr.write('bench:linux: BENCHMARKS.md updated\n');
  } else if (opts.write) {
    process.stderr.write(`bench:linux: BENCHMARKS.md not updated (${failures.length ? 'a run failed' : 'only one emulator ran'})\n`);
  }
  return failures.length ? 1 : 0;
}

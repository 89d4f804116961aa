// npm run bench:linux: pvlab and v86 boot the same Linux guest (public/guests/linux: the
// same bzImage, initrd and command line, the same RAM) one after the other in this process,
// and run the same workload typed at the shell. Measured per emulator: wall seconds from
// power-on to the prompt, and for a shell loop and `dd | md5sum` both the guest's own time
// (/proc/uptime read before and after, inside the same command line) and the host's wall
// time (from typing the line to the end marker arriving on the console). Prints a markdown
// table and writes it into BENCHMARKS.md (between the linux-bench markers).
// Usage: npm run bench:linux -- [--only pvlab|v86|inspector] [--mem MiB] [--boot-timeout S]
//        [--work-timeout S] [--bios FILE] [--inspector-rounds N] [--decompress loader|guest]
//        [--no-write] [--verbose]
// With pvlab it also measures what the inspector costs (tools/bench/inspector-bench.ts):
// the same workload on the shipped Xen snapshot with the inspector closed and open.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ConsoleSession, PhaseError, type ConsoleGuest } from './console-session';
import { inspectorSummary, measureInspector } from './inspector-bench';
import { checkV86, loadGuest, pvlabGuest, SetupError, v86Guest, type GuestFiles, type LinuxImage } from './linux-guests';
import {
  DD_TITLE, describeCommit, describeHost, formatLoad, LINUX_SECTION, LOOP_TITLE, renderSplit, renderTable, splitDelta, updateBenchmarksFile,
  type EmulatorFigures, type PhaseFigures,
} from './linux-report';

const DEFAULT_BIOS = '/usr/share/seabios/bios-256k.bin'; // Debian package `seabios`
const SETUP_TIMEOUT_S = 120;
const LOOP_ITERATIONS = 100_000;
const DD_MIB = 16;
const PROMPT = /root@pvlab:~# /;
const READY = /pvlab: ready\n/;

interface Options {
  only: Array<'v86' | 'pvlab'>;
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
  const inspectorRounds = int(values['inspector-rounds'], 4, '--inspector-rounds', 0, 50);
  const decompress = values.decompress ?? 'loader';
  if (decompress !== 'loader' && decompress !== 'guest') throw new UsageError(`--decompress takes loader or guest (got ${decompress})`);
  return {
    only,
    inspector: inspectorRounds > 0 && (only.includes('pvlab') || values.only === 'inspector'),
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

/** One emulator: power on, wait for the prompt, run the two workloads. Failures end up in `error`. */
async function measure(guest: ConsoleGuest, opts: Options, logDir: string): Promise<EmulatorFigures> {
  const fig: EmulatorFigures = { name: guest.name, boot: {}, loop: {}, dd: {} };
  const session = new ConsoleSession(opts.verbose ? (b) => process.stderr.write(b) : null);
  const bootDeadline = opts.bootTimeoutS * 1000;
  const t0 = performance.now();
  const since = (t: number) => (t - t0) / 1000;
  const bootMeter = meter();
  try {
    // Power on.
    let setupTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      guest.start(session.events).catch((e: unknown) => {
        throw e instanceof SetupError ? e : new PhaseError('setup', (e as Error).message);
      }),
      new Promise<never>((_, reject) => {
        setupTimer = setTimeout(() => reject(new PhaseError('setup', `not running after ${SETUP_TIMEOUT_S} s`)), SETUP_TIMEOUT_S * 1000);
      }),
    ]).finally(() => clearTimeout(setupTimer));
    fig.setupS = since(performance.now());
    progress(guest.name, `running after ${fig.setupS.toFixed(2)} s; booting (timeout ${opts.bootTimeoutS} s)`);

    // Boot to the prompt.
    const ready = await session.waitFor(READY, bootDeadline - (performance.now() - t0), `boot to \`pvlab: ready\` (limit ${opts.bootTimeoutS} s from power-on)`, 0);
    fig.readyS = since(ready.atMs);
    const prompt = await session.waitFor(PROMPT, bootDeadline - (performance.now() - t0), `boot to the shell prompt (limit ${opts.bootTimeoutS} s from power-on)`, ready.end);
    fig.promptS = since(prompt.atMs);
    fig.boot = { wallS: fig.promptS, instructions: await guest.instructions(), split: (await guest.split?.()) ?? undefined, ...bootMeter.stop() };
    if (session.firstOutputMs !== null) fig.firstOutputS = since(session.firstOutputMs);
    progress(guest.name, `\`pvlab: ready\` after ${fig.readyS.toFixed(2)} s, prompt after ${fig.promptS.toFixed(2)} s`);

    // Typed workloads. Each command line reads the guest clock around its body and ends
    // with a marker the echo of the typed line cannot contain ("BENCH""-END" is typed).
    let from = prompt.end;
    const step = async (name: string, body: string, extra: string, phase: PhaseFigures | null) => {
      const before = await guest.instructions();
      const split0 = await guest.split?.();
      const m0 = meter();
      const start = performance.now();
      const bodyFrom = session.length;
      guest.send(`read t0 x < /proc/uptime; ${body}; read t1 x < /proc/uptime; echo "BENCH""-END ${name} $t0 $t1 ${extra}"\r`);
      const end = await session.waitFor(
        new RegExp(`BENCH-END ${name} (\\d+\\.\\d+) (\\d+\\.\\d+) ?(\\S*)\\n`), opts.workTimeoutS * 1000, `${name} (limit ${opts.workTimeoutS} s)`, from,
      );
      const wallS = (end.atMs - start) / 1000;
      const after = await guest.instructions();
      const split1 = await guest.split?.();
      if (phase) {
        Object.assign(phase, {
          wallS,
          split: split0 && split1 ? splitDelta(split0, split1) : undefined,
          guestS: Number(end.match[2]) - Number(end.match[1]),
          instructions: before !== null && after !== null ? after - before : null,
          ...m0.stop(),
        });
      }
      const next = await session.waitFor(PROMPT, opts.workTimeoutS * 1000, `${name}: prompt after the command (limit ${opts.workTimeoutS} s)`, end.end);
      from = next.end;
      return { t0: Number(end.match[1]), extra: end.match[3], output: session.slice(bodyFrom, end.match.index) };
    };

    fig.uptimeAtPromptS = (await step('uptime', ':', '', null)).t0;

    progress(guest.name, `${LOOP_TITLE} (timeout ${opts.workTimeoutS} s)`);
    const loop = await step('loop', `i=0; while [ $i -lt ${LOOP_ITERATIONS} ]; do i=$((i+1)); done`, '$i', fig.loop);
    if (loop.extra !== String(LOOP_ITERATIONS)) throw new PhaseError('loop', `the loop ended with i=${loop.extra}, not ${LOOP_ITERATIONS}`);
    progress(guest.name, `loop: ${fig.loop.wallS!.toFixed(2)} s wall, ${fig.loop.guestS!.toFixed(2)} s guest`);

    progress(guest.name, `${DD_TITLE} (timeout ${opts.workTimeoutS} s)`);
    const dd = await step('dd', `dd if=/dev/zero bs=1M count=${DD_MIB} | md5sum`, '', fig.dd);
    const expected = createHash('md5').update(new Uint8Array(DD_MIB << 20)).digest('hex');
    const got = /\b([0-9a-f]{32})\s+-/.exec(dd.output)?.[1];
    if (got !== expected) throw new PhaseError('dd', `md5sum printed ${got ?? 'nothing'}, expected ${expected} (the MD5 of ${DD_MIB} MiB of zeros)`);
    progress(guest.name, `dd: ${fig.dd.wallS!.toFixed(2)} s wall, ${fig.dd.guestS!.toFixed(2)} s guest`);
  } catch (e) {
    if (!(e instanceof PhaseError) && !(e instanceof SetupError)) throw e;
    fig.error = e.message;
    progress(guest.name, `FAILED: ${e.message}`);
  } finally {
    await guest.shutdown().catch((e: unknown) => progress(guest.name, `shutdown failed: ${(e as Error).message}`));
    const log = path.join(logDir, `linux-${guest.name}.log`);
    fs.writeFileSync(log, Buffer.concat(session.raw));
    progress(guest.name, `console transcript in ${path.relative(process.cwd(), log)}`);
  }
  return fig;
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
      process.stderr.write(`bench:linux: ${(e as Error).message}\nusage: npm run bench:linux -- [--only pvlab|v86|inspector] [--mem MiB] [--boot-timeout S] [--work-timeout S] [--bios FILE] [--inspector-rounds N] [--decompress loader|guest] [--no-write] [--verbose]\n`);
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
  process.stderr.write(`bench:linux: ${host.cpuModel}, nproc ${host.nproc}, node ${host.node}, load average ${formatLoad(host.loadAtStart)}\n`);
  const logDir = path.join(root, '.cache', 'bench');
  fs.mkdirSync(logDir, { recursive: true });

  const runs: EmulatorFigures[] = [];
  for (const which of opts.only) {
    const guest = which === 'pvlab' ? pvlabGuest(coreWasm, image) : v86Guest(v86Paths, image);
    runs.push(await measure(guest, opts, logDir));
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

  const table = renderTable(runs);
  const failures = runs.filter((r) => r.error).map((r) => `- ${r.name}: ${r.error}`);
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
      table,
      ...pvlabSplit(runs),
    ] : []),
    ...(inspector ? ['', inspector] : []),
    ...(failures.length ? ['', 'Failures:', ...failures] : []),
  ].join('\n');
  process.stdout.write(`\n${block}\n`);

  const complete = runs.length === 2 && failures.length === 0;
  if (opts.write && complete) {
    updateBenchmarksFile(path.join(root, 'BENCHMARKS.md'), block, LINUX_SECTION);
    process.stderr.write('bench:linux: BENCHMARKS.md updated\n');
  } else if (opts.write) {
    process.stderr.write(`bench:linux: BENCHMARKS.md not updated (${failures.length ? 'a run failed' : 'only one emulator ran'})\n`);
  }
  return failures.length ? 1 : 0;
}

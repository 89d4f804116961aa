// The Linux benchmark's figures, the host they were taken on, the table (markdown, the
// same text on stdout and in BENCHMARKS.md) and the update of BENCHMARKS.md between
// its markers.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import type { EmulatorFigures, PhaseFigures } from './linux-measure';

export { splitDelta, type EmulatorFigures, type EmulatorSplit, type PhaseFigures } from './linux-measure';

export interface HostInfo {
  date: string;
  cpuModel: string;
  nproc: number;
  totalMemGiB: number;
  os: string;
  node: string;
  loadAtStart: number[];
  loadAtEnd?: number[];
}

export function describeHost(): HostInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' '),
    cpuModel: cpus[0]?.model.trim() || 'unknown CPU',
    nproc: os.availableParallelism(),
    totalMemGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAtStart: os.loadavg(),
  };
}

export function formatLoad(l: number[] | undefined): string {
  return l ? l.map((x) => x.toFixed(2)).join(' / ') : '?';
}

/** Short commit of the repo and whether engine sources differ from it (another engineer may be mid-change). */
export function describeCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'engine-ts', 'engine-wasm'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} + uncommitted engine changes` : head;
  } catch {
    return 'unknown commit';
  }
}

interface Row {
  label: string;
  get(f: EmulatorFigures): number | null | undefined;
  digits: number;
  /** Whether pvlab/v86 is meaningful for this row. */
  ratio: boolean;
}

const mips = (p: PhaseFigures, wallS: number | undefined): number | undefined =>
  p.instructions != null && wallS !== undefined && wallS > 0 ? p.instructions / wallS / 1e6 : undefined;
const cpuPct = (p: PhaseFigures): number | undefined =>
  p.cpuS !== undefined && p.wallS !== undefined && p.wallS > 0 ? p.cpuS / p.wallS * 100 : undefined;

function phaseRows(key: 'loop' | 'dd', title: string): Row[] {
  return [
    { label: `${title}: host wall s`, get: (f) => f[key].wallS, digits: 2, ratio: true },
    { label: `${title}: guest s (/proc/uptime)`, get: (f) => f[key].guestS, digits: 2, ratio: true },
    { label: `${title}: guest instructions, millions`, get: (f) => millions(f[key].instructions), digits: 0, ratio: true },
    { label: `${title}: MIPS (instructions / wall s)`, get: (f) => mips(f[key], f[key].wallS), digits: 1, ratio: true },
    { label: `${title}: MIPS per host CPU s`, get: (f) => mips(f[key], f[key].cpuS), digits: 1, ratio: true },
    { label: `${title}: host main thread busy %`, get: (f) => f[key].busyPct, digits: 0, ratio: false },
    { label: `${title}: host process CPU %`, get: (f) => cpuPct(f[key]), digits: 0, ratio: false },
  ];
}

function millions(n: number | null | undefined): number | null | undefined {
  return n == null ? n : n / 1e6;
}

export const LOOP_TITLE = 'shell loop 100000';
export const DD_TITLE = 'dd 16 MiB into md5sum';

const ROWS: Row[] = [
  { label: 'setup: create → running, wall s', get: (f) => f.setupS, digits: 2, ratio: true },
  { label: 'boot: power-on → first console byte, wall s', get: (f) => f.firstOutputS, digits: 2, ratio: true },
  { label: 'boot: power-on → `pvlab: ready`, wall s', get: (f) => f.readyS, digits: 2, ratio: true },
  { label: 'boot: power-on → shell prompt, wall s', get: (f) => f.promptS, digits: 2, ratio: true },
  { label: 'boot: guest uptime at the prompt, guest s', get: (f) => f.uptimeAtPromptS, digits: 2, ratio: true },
  { label: 'boot: guest instructions to the prompt, millions', get: (f) => millions(f.boot.instructions), digits: 0, ratio: true },
  {
    label: 'boot: MIPS (instructions / wall s running)',
    get: (f) => mips(f.boot, f.promptS !== undefined && f.setupS !== undefined ? f.promptS - f.setupS : undefined),
    digits: 1,
    ratio: true,
  },
  { label: 'boot: MIPS per host CPU s', get: (f) => mips(f.boot, f.boot.cpuS), digits: 1, ratio: true },
  { label: 'boot: host main thread busy %', get: (f) => f.boot.busyPct, digits: 0, ratio: false },
  { label: 'boot: host process CPU %', get: (f) => cpuPct(f.boot), digits: 0, ratio: false },
  ...phaseRows('loop', LOOP_TITLE),
  ...phaseRows('dd', DD_TITLE),
];

function fmt(n: number | null | undefined, digits: number): string {
  if (n === undefined) return '—';
  if (n === null) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The comparison as a markdown table: one column per emulator, then pvlab/v86 when both ran. */
export function renderTable(runs: EmulatorFigures[]): string {
  const pvlab = runs.find((r) => r.name === 'pvlab');
  const v86 = runs.find((r) => r.name === 'v86');
  const withRatio = !!(pvlab && v86);
  const head = ['figure', ...runs.map((r) => r.name), ...(withRatio ? ['pvlab / v86'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const row of ROWS) {
    const cells = [row.label, ...runs.map((r) => fmt(row.get(r), row.digits))];
    if (withRatio) {
      const a = row.get(pvlab!), b = row.get(v86!);
      cells.push(row.ratio && a != null && b != null && b > 0 ? fmt(a / b, 2) : '');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** pvlab's own split of each phase: core, device models, the rest, exits, idle time skipped. */
export function renderSplit(f: EmulatorFigures): string | null {
  const phases: Array<[string, PhaseFigures, number | undefined]> = [
    ['boot (running → prompt)', f.boot, f.promptS !== undefined && f.setupS !== undefined ? f.promptS - f.setupS : undefined],
    [LOOP_TITLE, f.loop, f.loop.wallS],
    [DD_TITLE, f.dd, f.dd.wallS],
  ];
  if (!phases.some(([, p]) => p.split)) return null;
  const lines = [
    '| phase | wall s | in the core (wasm) s | in device models (JS) s | rest (run loop, host event loop) s | port I/O exits | MMIO exits | hypercalls | HLT exits | idle guest time skipped, s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, p, wall] of phases) {
    const x = p.split;
    if (!x) continue;
    const cells = [name, fmt(wall, 2), fmt(x.coreS, 2), fmt(x.devicesS, 2), fmt(wall !== undefined ? wall - x.coreS - x.devicesS : undefined, 2),
      fmt(x.exits.io, 0), fmt(x.exits.mmio, 0), fmt(x.exits.hypercall, 0), fmt(x.exits.halt, 0), fmt(x.idleSkippedS, 2)];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A section of BENCHMARKS.md that a benchmark rewrites: its markers are named after `name`. */
export interface BenchmarksSection {
  /** Marker name, e.g. `linux-bench`. */
  name: string;
  /** The command that writes it. */
  command: string;
  /** The heading the section gets when the file does not have it yet. */
  title: string;
}

export const LINUX_SECTION: BenchmarksSection = { name: 'linux-bench', command: 'npm run bench:linux', title: '## Linux boot and workload (pvlab vs v86)' };

/** Replace the results between the section's markers in BENCHMARKS.md (creating the section if needed). */
export function updateBenchmarksFile(file: string, block: string, section: BenchmarksSection): void {
  const beginPrefix = `<!-- ${section.name}:begin`;
  const endMark = `<!-- ${section.name}:end -->`;
  const body = `${beginPrefix} (written by \`${section.command}\`; edit outside the markers) -->\n${block.trim()}\n${endMark}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const begin = text.indexOf(beginPrefix);
  const end = text.indexOf(endMark);
  if (begin >= 0 && end > begin) {
    text = text.slice(0, begin) + body + text.slice(end + endMark.length);
  } else if (begin >= 0 || end >= 0) {
    throw new Error(`${file}: only one of the ${section.name} markers is there; fix the file by hand`);
  } else {
    text = `${text.trimEnd()}\n\n${section.title}\n\n${body}\n`;
  }
  fs.writeFileSync(file, text);
}

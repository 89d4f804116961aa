// npm run bench:disk — the disk benchmark in headless Chromium (Debian's, as the e2e tests):
// a Vite dev server serves disk-bench.ts on a generated page, Playwright runs it in a fresh
// (temporary, on-disk) profile and this prints MB/s for the VHD disk in IndexedDB next to raw idb-keyval, and the
// ratio (target: at least 80% of raw).
// Usage: npm run bench:disk -- [--mib 64] [--request-kib 64] [--batch 256] [--rounds 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Plugin } from 'vite';
import { chromium } from 'playwright-core';
import type { DiskBenchOptions, DiskBenchResult, DiskBenchRun } from './disk-bench';

const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PAGE = '/__disk-bench.html';
const TARGET = 0.8;

function benchPage(): Plugin {
  return {
    name: 'pvlab-disk-bench-page',
    configureServer(server) {
      server.middlewares.use(async (req, res, next) => {
        if (req.url !== PAGE) return next();
        const html = await server.transformIndexHtml(PAGE,
          '<!doctype html><html><head><meta charset="utf-8"><title>disk bench</title></head>'
          + '<body><script type="module" src="/tools/bench/disk-bench.ts"></script></body></html>');
        res.setHeader('Content-Type', 'text/html');
        res.end(html);
      });
    },
  };
}

function parseArgs(args: string[]): DiskBenchOptions {
  const o: DiskBenchOptions = { totalMiB: 64, requestKiB: 64, rounds: 5 };
  const flags: Record<string, keyof DiskBenchOptions> = { '--mib': 'totalMiB', '--request-kib': 'requestKiB', '--rounds': 'rounds' };
  for (let i = 0; i < args.length; i++) {
    const key = flags[args[i]];
    const v = Number(args[i + 1]);
    if (!key || !Number.isInteger(v) || v < 1) {
      throw new Error(`bad argument ${args[i]} (usage: npm run bench:disk -- [--mib N] [--request-kib N] [--rounds N])`);
    }
    o[key] = v;
    i++;
  }
  if ((o.totalMiB * 1024) % o.requestKiB !== 0 || o.requestKiB > 1024) throw new Error('--request-kib must divide --mib and be at most 1024');
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => x.toFixed(1).padStart(7);

export async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  const root = process.cwd();
  const server = await createServer({
    configFile: false,
    root,
    logLevel: 'warn',
    plugins: [benchPage()],
    // A server of its own: no file watching or reloads in the middle of a run, no dependency
    // optimiser (idb-keyval is plain ESM), its own cache next to the other run-ts output.
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: { ignored: ['**/*'] } },
    optimizeDeps: { noDiscovery: true, include: [] },
    cacheDir: path.join(root, '.cache', 'vite-disk-bench'),
  });
  await server.listen();
  const base = server.resolvedUrls?.local[0];
  if (!base) throw new Error('the Vite server did not report its address');
  // A real (temporary) profile: IndexedDB on disk as for a user. Playwright's default contexts
  // are off the record, where Chromium keeps IndexedDB in memory (and fails reads of large
  // values after a few hundred MB written in one page).
  const profile = mkdtempSync(path.join(tmpdir(), 'pvlab-disk-bench-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS, headless: true,
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(new URL(PAGE, base).href);
    await page.waitForFunction(() => typeof window.runDiskBench === 'function', undefined, { timeout: 60_000 });
    console.log(`disk bench: Chromium ${browser.browser()?.version() ?? ''}, ${opts.totalMiB} MiB of random data in ${opts.requestKiB} KiB requests, `
      + `sequential write (with the final flush) then read (cold cache), ${opts.rounds} rounds, medians`);
    const r: DiskBenchResult = await page.evaluate((o) => window.runDiskBench!(o), opts);
    const med = (runs: DiskBenchRun[], k: keyof DiskBenchRun) => median(runs.map((x) => x[k]));
    const kib = (n: number) => `${n / 1024} KiB`;
    const rows: [string, DiskBenchRun[]][] = [
      [`raw idb-keyval, ${kib(r.chunkSize)} values x${r.batch}`, r.raw],
      [`dynamic VHD (disk library)`, r.vhd],
      [`raw idb-keyval, ${kib(opts.requestKiB * 1024)} values (reference)`, r.rawRequestSize],
    ];
    console.log(`${''.padEnd(44)}  write MB/s   read MB/s`);
    for (const [name, runs] of rows) console.log(`${name.padEnd(44)}  ${fmt(med(runs, 'writeMBps'))}     ${fmt(med(runs, 'readMBps'))}`);
    // The ratio per round (both sides ran back to back) and its median: steadier than a
    // ratio of medians on a machine whose load changes.
    const ratio = (k: keyof DiskBenchRun) => median(r.vhd.map((v, i) => v[k] / r.raw[i][k]));
    const wr = ratio('writeMBps');
    const rr = ratio('readMBps');
    console.log(`${`VHD / raw ${kib(r.chunkSize)} (median per round)`.padEnd(44)}  ${fmt(wr * 100)}%    ${fmt(rr * 100)}%   (target >= ${TARGET * 100}%)`);
    const runs = (xs: DiskBenchRun[]) => xs.map((x) => `${x.writeMBps.toFixed(0)}/${x.readMBps.toFixed(0)}`).join(' ');
    console.log(`rounds (write/read MB/s): raw ${runs(r.raw)}; vhd ${runs(r.vhd)}; raw ${kib(opts.requestKiB * 1024)} ${runs(r.rawRequestSize)}`);
    const ok = wr >= TARGET && rr >= TARGET;
    console.log(ok ? 'within target' : 'BELOW TARGET');
    return ok ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

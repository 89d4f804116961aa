// npm run bench:disk — the disk benchmark in headless Chromium (Debian's, as the e2e tests):
// a Vite dev server serves disk-bench.ts on a generated page, Playwright runs it in a fresh
// profile and this prints MB/s for the VHD disk in IndexedDB next to raw idb-keyval, and the
// ratio (target: at least 80% of raw).
// Usage: npm run bench:disk -- [--mib 64] [--request-kib 64] [--batch 256] [--rounds 3]
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
  const o: DiskBenchOptions = { totalMiB: 64, requestKiB: 64, batch: 256, rounds: 3 };
  const flags: Record<string, keyof DiskBenchOptions> = {
    '--mib': 'totalMiB', '--request-kib': 'requestKiB', '--batch': 'batch', '--rounds': 'rounds', '--raw-kib': 'rawValueKiB',
  };
  for (let i = 0; i < args.length; i++) {
    const key = flags[args[i]];
    const v = Number(args[i + 1]);
    if (!key || !Number.isInteger(v) || v < 1) {
      throw new Error(`bad argument ${args[i]} (usage: npm run bench:disk -- [--mib N] [--request-kib N] [--batch N] [--rounds N])`);
    }
    o[key] = v;
    i++;
  }
  if ((o.requestKiB * 1024) % 512 !== 0 || (o.totalMiB * 1024) % o.requestKiB !== 0) throw new Error('--mib must be a multiple of --request-kib');
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
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    optimizeDeps: { entries: [path.join(root, 'tools/bench/disk-bench.ts')] },
  });
  await server.listen();
  const base = server.resolvedUrls?.local[0];
  if (!base) throw new Error('the Vite server did not report its address');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS, headless: true });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log('page:', m.text()));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(new URL(PAGE, base).href);
    await page.waitForFunction(() => typeof window.runDiskBench === 'function', undefined, { timeout: 60_000 });
    const version = browser.version();
    console.log(`disk bench: Chromium ${version}, ${opts.totalMiB} MiB of random data, ${opts.requestKiB} KiB requests, raw batches of ${opts.batch}, ${opts.rounds} rounds (median)`);
    const r: DiskBenchResult = await page.evaluate((o) => window.runDiskBench!(o), opts);
    const med = (runs: DiskBenchRun[], k: keyof DiskBenchRun) => median(runs.map((x) => x[k]));
    const rows: [string, number, number][] = [
      ['raw idb-keyval setMany/getMany', med(r.raw, 'writeMBps'), med(r.raw, 'readMBps')],
      ['dynamic VHD (library, chunked store)', med(r.vhd, 'writeMBps'), med(r.vhd, 'readMBps')],
    ];
    console.log(`${''.padEnd(38)}  write MB/s   read MB/s`);
    for (const [name, w, rd] of rows) console.log(`${name.padEnd(38)}  ${fmt(w)}     ${fmt(rd)}`);
    const wr = rows[1][1] / rows[0][1];
    const rr = rows[1][2] / rows[0][2];
    console.log(`${'VHD / raw'.padEnd(38)}  ${fmt(wr * 100)}%    ${fmt(rr * 100)}%   (target >= ${TARGET * 100}%)`);
    console.log(`all runs (write/read MB/s): raw ${r.raw.map((x) => `${x.writeMBps.toFixed(0)}/${x.readMBps.toFixed(0)}`).join(' ')}; vhd ${r.vhd.map((x) => `${x.writeMBps.toFixed(0)}/${x.readMBps.toFixed(0)}`).join(' ')}`);
    const ok = wr >= TARGET && rr >= TARGET;
    console.log(ok ? 'within target' : 'BELOW TARGET');
    return ok ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
  }
}

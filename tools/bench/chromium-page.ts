// A benchmark's page in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
// a production build of one page module (as users get pvlab: the worker one bundled file, not
// the dev server's module graph), served cross-origin isolated (guest RAM is shared with the
// machine's worker) with the bench's input files beside it, under `filesUrl`.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { build, preview, type Plugin } from 'vite';

const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** SharedArrayBuffer (guest RAM shared with the worker) needs cross-origin isolation. */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' };

/** The page's inputs, and v86's npm build, served beside the built page. */
function benchFiles(filesUrl: string, files: Record<string, Uint8Array>): Plugin {
  const types: Record<string, string> = { mjs: 'text/javascript', wasm: 'application/wasm' };
  return {
    name: 'pvlab-bench-files',
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = req.url?.split('?')[0] ?? '';
        const name = url.startsWith(filesUrl) ? url.slice(filesUrl.length) : '';
        const data = files[name];
        if (!data) return next();
        for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
        res.setHeader('Content-Type', types[name.split('.').pop()!] ?? 'application/octet-stream');
        res.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      });
    },
  };
}

export interface ChromiumPage {
  /** The bench's name: the build goes to .cache/<name>. */
  name: string;
  /** The page's module (a path in the repo). */
  entry: string;
  /** A global function the page sets when it is ready to be driven. */
  readyFunction: string;
  filesUrl: string;
  files: Record<string, Uint8Array>;
  progress(msg: string): void;
}

/** Build and serve the page, open it in Chromium, and hand it to `drive` (with Chromium's version). */
export async function withChromiumPage<T>(root: string, p: ChromiumPage, drive: (page: Page, version: string) => Promise<T>): Promise<T> {
  const dir = path.join(root, '.cache', p.name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html><html><head><meta charset="utf-8"><title>${p.name}</title><link rel="icon" href="data:,"></head>`
    + `<body><script type="module" src="${path.relative(dir, path.join(root, p.entry))}"></script></body></html>\n`);
  const config = {
    configFile: false as const,
    root: dir,
    logLevel: 'warn' as const,
    worker: { format: 'es' as const },
    build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', assetsInlineLimit: (f: string) => (f.endsWith('.wasm') ? false : undefined) },
  };
  p.progress('Chromium: building the bench page');
  await build(config);
  const server = await preview({ ...config, plugins: [benchFiles(p.filesUrl, p.files)], preview: { host: '127.0.0.1', port: 0, strictPort: false, headers: ISOLATION } });
  const base = server.resolvedUrls?.local[0];
  if (!base) throw new Error('the Vite preview server did not report its address');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS, headless: true });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => p.progress(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') p.progress(`page console: ${m.text()}`); });
    await page.goto(base);
    await page.waitForFunction((f) => typeof (window as unknown as Record<string, unknown>)[f] === 'function', p.readyFunction, { timeout: 120_000 });
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('the bench page is not cross-origin isolated');
    return await drive(page, browser.version());
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
  }
}

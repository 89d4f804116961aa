// `npm run build` makes a site for any static host, even one that cannot send the COOP/COEP
// headers shared memory needs: dist/ served by a plain file server (no such headers) still
// boots a guest, through the cross-origin isolation service worker it ships.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { test, expect } from '@playwright/test';
import { expectConsole } from './helpers';

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

/** A bare static file server: files and their content type, nothing else (no isolation headers). */
function serve(dir: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = path.join(dir, url.endsWith('/') ? `${url}index.html` : url);
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('dist/ on a static host without COOP/COEP headers boots a guest', async ({ page }) => {
  const dist = path.resolve('dist');
  expect(fs.existsSync(path.join(dist, 'index.html')), 'dist/ is built by the preview server (vite build)').toBe(true);
  // Served from a sub-folder, as on many static hosts.
  const site = fs.mkdtempSync(path.join(path.resolve('test-results'), 'static-'));
  fs.cpSync(dist, path.join(site, 'lab'), { recursive: true });
  const server = await serve(site);
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/lab/`;
    const first = await page.request.get(base);
    expect(first.headers()['cross-origin-embedder-policy']).toBeUndefined();
    await page.goto(base);
    // The service worker registers and reloads the page once; then the page is isolated.
    // (The service worker reloads the page once: an evaluate during that reload finds no page yet.)
    await expect.poll(() => page.evaluate(() => crossOriginIsolated).catch(() => false), { timeout: 60_000 }).toBe(true);
    await expect(page.getByRole('alert')).toHaveCount(0);
    await page.getByLabel('Guest').selectOption('hello');
    await page.getByRole('button', { name: 'Boot', exact: true }).click();
    await expectConsole(page, 'Hello from pvlab');
  } finally {
    server.close();
    fs.rmSync(site, { recursive: true, force: true });
  }
});

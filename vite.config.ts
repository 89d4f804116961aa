/// <reference types="vitest/config" />
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

// SharedArrayBuffer (the guest's RAM shared by vCPU workers) needs cross-origin isolation.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Static hosts that cannot send COOP/COEP headers: the coi-serviceworker package (MIT) is
 * served and shipped as /coi-serviceworker.js, a separate same-origin file that index.html
 * loads first. Where the page is already isolated (npm start, vite preview, a host with the
 * headers) it does nothing; elsewhere it registers a service worker that adds the headers
 * and reloads the page once.
 */
function crossOriginIsolationWorker(): Plugin {
  const file = createRequire(import.meta.url).resolve('coi-serviceworker/coi-serviceworker.js');
  const NAME = 'coi-serviceworker.js';
  return {
    name: 'pvlab-coi-serviceworker',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (req.url?.split('?')[0] !== `/${NAME}`) return next();
        res.setHeader('Content-Type', 'text/javascript');
        res.end(fs.readFileSync(file));
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: NAME, source: fs.readFileSync(file) });
    },
  };
}

export default defineConfig({
  root: 'app',
  publicDir: '../public',
  // Relative URLs: the built site works from any folder of any static host.
  base: './',
  // No single-page fallback: a file that is not there (a guest not yet built) is a 404,
  // never the page's HTML in its place.
  appType: 'mpa',
  plugins: [react(), crossOriginIsolationWorker()],
  server: { host: '127.0.0.1', port: 5173, strictPort: true, headers: isolation, fs: { allow: ['..'] } },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: isolation },
  worker: { format: 'es' },
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    // Vite inlines small assets as data: URLs; the core must stay a real .wasm file.
    assetsInlineLimit: (file: string) => (file.endsWith('.wasm') ? false : undefined),
  },
  test: {
    root: '.',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
  },
});

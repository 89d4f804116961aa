import { defineConfig } from '@playwright/test';

import { CHROMIUM_FLAGS, CHROMIUM_PATH } from './e2e/chromium';

// Other ports for a second checkout on the same machine: PVLAB_DEV_PORT, PVLAB_PREVIEW_PORT.
const DEV = Number(process.env.PVLAB_DEV_PORT ?? 5173);
const PREVIEW = Number(process.env.PVLAB_PREVIEW_PORT ?? 4173);

export default defineConfig({
  testDir: 'e2e',
  timeout: 120_000,
  expect: { timeout: 10_000 },
  workers: 1,
  reporter: process.env.CI ? 'line' : 'list',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS },
  },
  projects: [
    // The Linux guests run against the production build only: the dev server serves the same
    // engine and page, and running Linux twice would double the suite's longest tests.
    // static-host.spec.ts serves the production build (dist/), which the preview server makes.
    { name: 'dev', use: { baseURL: `http://127.0.0.1:${DEV}` }, testIgnore: ['linux.spec.ts', 'pv.spec.ts', 'smp.spec.ts', 'static-host.spec.ts', 'snapshot.spec.ts', 'lessons.spec.ts', 'hotplug.spec.ts'] },
    { name: 'preview', use: { baseURL: `http://127.0.0.1:${PREVIEW}` } },
  ],
  webServer: [
    { command: `npx vite --logLevel warn --port ${DEV}`, url: `http://127.0.0.1:${DEV}`, reuseExistingServer: !process.env.CI, timeout: 60_000 },
    { command: `npx vite build --logLevel warn && npx vite preview --port ${PREVIEW}`, url: `http://127.0.0.1:${PREVIEW}`, reuseExistingServer: !process.env.CI, timeout: 180_000 },
  ],
});

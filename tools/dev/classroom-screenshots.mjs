#!/usr/bin/env node
// The README's pictures of the classroom (docs/classroom/*.png), taken from a running page at
// 1280×800: a lesson with its machine, each inspector tab after a hot-plugged disk was
// written to, and the plots. Usage, with the page served (npm start, or vite on any port):
//   node tools/dev/classroom-screenshots.mjs [http://127.0.0.1:5173]
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

// As e2e/chromium.ts: Debian's Chromium, kept off the network.
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const base = process.argv[2] ?? 'http://127.0.0.1:5173';
const out = path.resolve('docs/classroom');
fs.mkdirSync(out, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const consoleText = () => page.evaluate(() => window.__consoles?.[0]?.() ?? '');
const waitFor = async (re, ms = 300_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await page.waitForTimeout(500)) if (re.test(await consoleText())) return;
  throw new Error(`console never showed ${re}`);
};
const shot = async (name, locator) => { await (locator ?? page).screenshot({ path: path.join(out, `${name}.png`) }); console.log(`docs/classroom/${name}.png`); };

await page.goto(`${base}/?lesson=grants-and-rings`);
await waitFor(/root@pvlab:~# $/);
await page.getByRole('button', { name: 'Plug disk' }).click();
await page.locator('.pv-device[data-device="xvda"][data-frontend-state="4"]').waitFor({ timeout: 120_000 });
await page.locator('[data-testid=console-0] textarea').focus();
await page.keyboard.type('dd if=/dev/zero of=/dev/xvda bs=1M count=24 oflag=direct; dd if=/dev/xvda of=/dev/null bs=1M count=24 iflag=direct\n');
const inspector = page.getByTestId('inspector-0');
await inspector.getByRole('tab', { name: 'rings' }).click();
await page.waitForTimeout(2500);
await shot('inspector-rings', inspector);
await inspector.getByRole('tab', { name: 'grants' }).click();
await page.waitForTimeout(600);
await shot('inspector-grants', inspector);
await waitFor(/records out[\s\S]*records out[\s\S]*root@pvlab:~# $/);
await shot('lesson');
for (const tab of ['xenstore', 'event channels', 'rates', 'timeline']) {
  await inspector.getByRole('tab', { name: tab }).click();
  if (tab === 'timeline') for (const k of ['hypercall', 'grant-map', 'grant-unmap']) await inspector.getByLabel(k, { exact: true }).setChecked(k === 'hypercall');
  if (tab === 'xenstore') await inspector.getByLabel('Filter xenstore').fill('vbd');
  await page.waitForTimeout(800);
  await shot(`inspector-${tab.replace(' ', '-')}`, inspector);
}
await page.getByRole('button', { name: 'Plots of machine 1' }).click();
await page.waitForTimeout(1500);
await shot('plots', page.getByTestId('plots-0'));
await browser.close();

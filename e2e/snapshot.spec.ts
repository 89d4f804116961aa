// Snapshots in the page: the default guest starts from its shipped snapshot; a running machine
// is saved to the library and resumed after a reload; exported and imported again; shared as
// a link that a fresh browser opens into the very same machine.
import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import { consoleText, expectConsole, sh } from './helpers';

const PROMPT = /root@pvlab:~# $/m;

test.beforeAll(() => {
  expect(fs.existsSync(new URL('../public/snapshots/manifest.json', import.meta.url)), 'build the shipped snapshots: node tools/run-ts.mjs tools/build-snapshots.ts (npm test does)').toBe(true);
});

test('Boot starts the default guest from its shipped snapshot; a link carries the running machine to a fresh browser', async ({ page, browser }) => {
  test.setTimeout(600_000);
  await page.goto('./');
  const t0 = Date.now();
  await page.getByRole('region', { name: 'Machine 1' }).getByRole('button', { name: 'Boot', exact: true }).click();
  await expect(page.getByTestId('status-0')).toContainText('started from a snapshot', { timeout: 60_000 });
  await expectConsole(page, PROMPT, 60_000);
  console.log(`shell on screen ${Date.now() - t0} ms after the click`);
  expect(await sh(page, 'echo hello > ~/hello.txt; echo marker-$((6*7))')).toContain('marker-42');

  await page.getByRole('button', { name: 'Copy link' }).click();
  const link = await page.getByTestId('link-0').inputValue({ timeout: 60_000 });
  expect(link).toMatch(/#snap=[A-Za-z0-9_-]+$/);
  console.log(`link: ${link.length} characters`);

  // A new browser context: empty storage, nothing shared but the link.
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await other.goto(link);
  await expect(other.getByTestId('status-0')).toContainText('resumed from the link', { timeout: 60_000 });
  await expectConsole(other, 'marker-42', 30_000);
  expect(await sh(other, 'cat ~/hello.txt')).toContain('hello');
  expect(await sh(other, 'echo typing-$((2*21))-works')).toContain('typing-42-works');
  expect(await consoleText(other)).not.toMatch(/Oops|BUG:|Kernel panic/);
  await ctx.close();
});

test('a saved machine survives a page reload, an export and an import', async ({ page }) => {
  test.setTimeout(600_000);
  await page.goto('./');
  await page.getByRole('region', { name: 'Machine 1' }).getByRole('button', { name: 'Boot', exact: true }).click();
  await expectConsole(page, PROMPT, 60_000);
  await sh(page, 'echo from-the-library-$((6*7)) > /root/lib.txt');
  await page.getByRole('button', { name: 'Save snapshot' }).click();
  await expect(page.getByTestId('note-0')).toContainText('Saved "', { timeout: 60_000 });

  await page.reload();
  const row = page.getByRole('region', { name: 'Snapshots' }).locator('tbody tr').first();
  await expect(row).toContainText('Debian Linux');
  await expect(row).toContainText('128 MiB');
  const name = (await row.locator('td').first().textContent())!;

  // Export, delete, import the file again: the same machine comes back.
  const [dl] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: /^Export/ }).click()]);
  const file = test.info().outputPath('saved.pvsnap');
  await dl.saveAs(file);
  await row.getByRole('button', { name: /^Delete/ }).click();
  await expect(page.getByRole('region', { name: 'Snapshots' })).toContainText('No snapshots yet.');
  await page.getByLabel('Import snapshot').setInputFiles(file);
  await expect(page.getByTestId('snapshot-note')).toContainText('Imported');

  await page.getByRole('region', { name: 'Snapshots' }).getByRole('button', { name: /^Resume/ }).first().click();
  await expect(page.getByTestId('status-0')).toContainText('resumed from', { timeout: 60_000 });
  expect(await sh(page, 'cat /root/lib.txt')).toContain('from-the-library-42');
  expect(name.length).toBeGreaterThan(0);
});

test('bad snapshots get one clear line and store nothing', async ({ page }) => {
  await page.goto('./#snap=UFZMQUJTTlAAAAAA');
  await expect(page.getByTestId('status-0')).toHaveAttribute('data-phase', 'error', { timeout: 30_000 });
  await expect(page.getByTestId('status-0')).toContainText('This link does not hold a machine: the snapshot is truncated');

  await page.goto('./?snapshot=nothing-here.pvsnap');
  await expect(page.getByTestId('status-0')).toContainText('Could not fetch the snapshot at nothing-here.pvsnap: HTTP 404', { timeout: 30_000 });

  const junk = test.info().outputPath('junk.pvsnap');
  fs.writeFileSync(junk, 'not a snapshot at all');
  await page.getByLabel('Import snapshot').setInputFiles(junk);
  await expect(page.getByTestId('snapshot-error')).toContainText('junk.pvsnap: not a pvlab snapshot (wrong magic');
  await expect(page.getByTestId('snapshot-error')).toContainText('Nothing was stored.');
  await expect(page.getByRole('region', { name: 'Snapshots' })).toContainText('No snapshots yet.');
});

test('a disk travels with the machine: plugged into the running Xen guest, written, carried by a link into a fresh browser', async ({ page, browser }) => {
  test.setTimeout(300_000);
  await page.goto('./');
  const machine = page.getByRole('region', { name: 'Machine 1' });
  await machine.getByLabel('PV (Xen) devices').check();
  await machine.getByRole('button', { name: 'Boot', exact: true }).click(); // resumes the shipped Xen snapshot
  await expect(page.getByTestId('status-0')).toContainText('started from a snapshot', { timeout: 60_000 });
  await expectConsole(page, PROMPT, 120_000);
  await page.getByRole('button', { name: 'Inspector of machine 1' }).click();
  await page.getByRole('button', { name: 'Plug disk' }).click();
  await expect(page.locator('.pv-device[data-device="xvda"]')).toHaveAttribute('data-frontend-state', '4', { timeout: 120_000 });
  expect(await sh(page, 'echo disk-travels-$((6*7)) | dd of=/dev/xvda conv=fsync 2>/dev/null; echo written-$((2*21))')).toContain('written-42');

  await page.getByRole('button', { name: 'Copy link' }).click();
  const link = await page.getByTestId('link-0').inputValue({ timeout: 60_000 });
  console.log(`link with a disk: ${link.length} characters`);

  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await other.goto(link);
  await expect(other.getByTestId('status-0')).toContainText('resumed from the link', { timeout: 60_000 });
  // The disk came along: a new disk in this browser's library, attached where it was.
  await expect(other.getByRole('region', { name: 'Disks' })).toContainText('(the link)', { timeout: 30_000 });
  expect(await sh(other, 'head -c 15 /dev/xvda; echo')).toContain('disk-travels-42');
  expect(await sh(other, 'echo still-$((6*7)) | dd of=/dev/xvda bs=512 seek=1 conv=fsync 2>/dev/null; echo ok-$((2*21))')).toContain('ok-42');
  await ctx.close();
});

// What a newcomer meets first: files that are not there are 404s (never the page in their
// place), a guest that was not built says how to build it, and guest memory at its edges.
import { test, expect } from '@playwright/test';
import { expectConsole } from './helpers';

test('the server answers a missing guest file with 404, not with the page', async ({ request }) => {
  const missing = await request.get('guests/linux/no-such-kernel');
  expect(missing.status()).toBe(404);
  expect(await missing.text()).not.toContain('<div id="root">');
  const hello = await request.get('guests/hello.bin');
  expect(hello.status()).toBe(200);
});

test('a Linux guest that was not built says so and how to build it', async ({ page }) => {
  // As on a server where `npm run guest:linux` never ran: the guest's files (and so its
  // snapshots) are 404s.
  // (Only those files: the dev server serves the page's own modules from snapshots/ too.)
  const missing = (url: URL) => /\/(guests\/linux\/|snapshots\/[^/]+\.(pvsnap|json)$)/.test(url.pathname);
  await page.route(missing, (route) => route.fulfill({ status: 404, body: 'not found' }));
  await page.goto('./');
  await page.getByRole('button', { name: 'Boot', exact: true }).click();
  const status = page.getByTestId('status-0');
  await expect(status).toHaveAttribute('data-phase', 'error');
  await expect(status).toContainText('the Linux guest is not built on this server. Run `npm run guest:linux`');
  await expect(status).not.toContainText('bzImage');
});

for (const [mem, expected] of [
  ['1', 'Hello from pvlab'],
  ['2048', 'Hello from pvlab'],
  ['4096', 'memory must be 1 to 3072 MiB (got 4096)'],
  ['1.5', 'memory must be a whole number of MiB (got 1.5)'],
] as const) {
  test(`guest memory ${mem} MiB: ${expected}`, async ({ page }) => {
    await page.goto('./');
    await page.getByLabel('Guest').selectOption('hello');
    await page.getByLabel('Memory (MiB)').fill(mem);
    await page.getByRole('button', { name: 'Boot', exact: true }).click();
    if (expected.startsWith('Hello')) await expectConsole(page, expected);
    else {
      await expect(page.getByTestId('status-0')).toHaveAttribute('data-phase', 'error');
      await expect(page.getByTestId('status-0')).toHaveText(`Could not boot Hello guest: ${expected}`);
    }
  });
}

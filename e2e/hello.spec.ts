import { test, expect } from '@playwright/test';
import { consoleText, expectConsole, typeInConsole } from './helpers';

test('the page is cross-origin isolated (shared memory available)', async ({ page }) => {
  await page.goto('/');
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('boots the hello guest, greets, echoes typed characters and halts on Ctrl-D', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Guest').selectOption('hello');
  await page.getByRole('button', { name: 'Boot', exact: true }).click();
  await expectConsole(page, 'Hello from pvlab');
  await expect(page.getByTestId('status-0')).toHaveAttribute('data-phase', 'running');

  await typeInConsole(page, 'echo me');
  await expectConsole(page, 'echo me');
  await page.keyboard.press('Enter');
  await typeInConsole(page, 'line two');
  await expectConsole(page, /echo me\s*\nline two/);

  await page.keyboard.press('Control+D');
  await expectConsole(page, 'Goodbye.');
  await expect(page.getByTestId('status-0')).toContainText('guest halted');
  // Nothing typed after the halt is echoed.
  await typeInConsole(page, 'zzz');
  await page.waitForTimeout(300);
  expect(await consoleText(page)).not.toContain('zzz');
});

test('your own Linux: a file that is not a bzImage is refused with a clear error', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Guest').selectOption('custom');
  await page.getByLabel('Kernel (bzImage)').setInputFiles({ name: 'not-a-kernel.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4096, 0x90) });
  await page.getByRole('button', { name: 'Boot', exact: true }).click();
  await expect(page.getByTestId('status-0')).toHaveAttribute('data-phase', 'error');
  await expect(page.getByTestId('status-0')).toContainText('not a bzImage: no 0xAA55 boot flag');
});

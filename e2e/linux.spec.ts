import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import { consoleText, expectConsole, typeInConsole } from './helpers';

const manifestPath = new URL('../public/guests/linux/manifest.json', import.meta.url);

function plain(s: string): string {
  return s.replace(/\r/g, '');
}

test('boots Debian Linux in the page to a shell and runs commands', async ({ page }) => {
  test.setTimeout(1_200_000);
  expect(fs.existsSync(manifestPath), 'build the Linux guest first: npm run guest:linux').toBe(true);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  await page.goto('/');
  await page.getByLabel('Guest').selectOption('linux');
  await page.getByRole('button', { name: 'Boot' }).click();
  // The status line follows the boot: loading → booting → shell.
  await expect(page.getByTestId('status')).toContainText(/Loading kernel|Loading initrd|booting/, { timeout: 60_000 });
  await expectConsole(page, 'Linux version', 300_000);
  await expectConsole(page, /root@pvlab:~# $/m, 1_000_000);
  await expect(page.getByTestId('status')).toContainText('shell');
  await expect(page.getByTestId('mips')).toContainText('MIPS');

  await typeInConsole(page, 'uname -a; echo "DO""NE1"\n');
  await expectConsole(page, /\nDONE1/, 60_000);
  await typeInConsole(page, 'grep -m1 "model name" /proc/cpuinfo; echo "DO""NE2"\n');
  await expectConsole(page, /\nDONE2/, 60_000);
  await typeInConsole(page, `md5sum ${manifest.testFile.path}; echo "DO""NE3"\n`);
  await expectConsole(page, /\nDONE3/, 60_000);
  const text = plain(await consoleText(page));
  expect(text).toMatch(new RegExp(`Linux pvlab ${manifest.kernelVersion.replace(/\./g, '\\.')} .* i686 GNU/Linux`));
  expect(text).toMatch(/model name\s*: pvlab virtual i686 CPU/);
  expect(text).toContain(`${manifest.testFile.md5}  ${manifest.testFile.path}`);
  expect(text).not.toMatch(/Oops|BUG:|WARNING:|Kernel panic/);
});

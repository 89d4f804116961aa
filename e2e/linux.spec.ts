// Debian Linux in the page on emulated devices (ata_piix over a VHD in IndexedDB). One boot:
// the guest formats the disk and writes files, powers off; the exported .vhd is then checked
// with qemu-img and debugfs after a page reload and after the browser is closed and started
// again with the same profile.
import { test, expect, chromium, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { consoleText, createAttachedDisk, expectConsole, sh, typeInConsole } from './helpers';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from './chromium';

const manifestPath = new URL('../public/guests/linux/manifest.json', import.meta.url);

async function exportDisk(page: Page, name: string, dir: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Export ${name}`, exact: true }).click()]);
  const file = path.join(dir, `${name}-${Date.now()}.vhd`);
  await dl.saveAs(file);
  const raw = file.replace(/\.vhd$/, '.raw');
  execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', file, raw]);
  return raw;
}
const debugfsCat = (raw: string, p: string) => execFileSync('debugfs', ['-R', `cat ${p}`, raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

test('boots Debian Linux; the guest formats an IndexedDB disk over IDE; files survive reload and browser restart', async ({}, testInfo) => {
  test.setTimeout(1_200_000);
  expect(fs.existsSync(manifestPath), 'build the Linux guest first: npm run guest:linux').toBe(true);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const baseURL = testInfo.project.use.baseURL!;
  const profile = testInfo.outputPath('profile');
  const out = testInfo.outputPath('exports');
  fs.mkdirSync(out, { recursive: true });
  const launch = () => chromium.launchPersistentContext(profile, { headless: true, executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, baseURL, acceptDownloads: true });

  let ctx = await launch();
  let page = ctx.pages()[0] ?? await ctx.newPage();
  await page.goto('/');
  await createAttachedDisk(page, 'linux-data');

  const m1 = page.getByRole('region', { name: 'Machine 1' });
  await m1.getByLabel('Guest').selectOption('linux');
  await m1.getByLabel('Disk').selectOption('ide');
  await m1.getByRole('button', { name: 'Boot', exact: true }).click();
  await expect(page.getByTestId('status-0')).toContainText(/Loading kernel|Loading initrd|booting/, { timeout: 60_000 });
  await expectConsole(page, 'Linux version', 300_000);
  await expectConsole(page, /pvlab: ready[\s\S]*root@pvlab:~# $/m, 600_000);
  await expect(page.getByTestId('status-0')).toContainText('shell');
  await expect(page.getByTestId('mips-0')).toContainText('MIPS');
  // Next to MIPS: whether code is translated to WebAssembly (off by default for now) and how much.
  await expect(page.getByTestId('jit-0')).toContainText(/interpreter only|% translated/);
  // Without PV devices every disk and console access is an emulated-device exit; no hypercalls.
  const exits = page.getByTestId('exits-0');
  await expect(exits).toContainText('VM exits/s: port I/O');
  expect(Number(await exits.getAttribute('data-io'))).toBeGreaterThan(1000);
  expect(Number(await exits.getAttribute('data-hypercall'))).toBe(0);

  const info = await sh(page, `uname -a; grep -m1 "model name" /proc/cpuinfo; md5sum ${manifest.testFile.path}`);
  expect(info).toMatch(new RegExp(`Linux pvlab ${manifest.kernelVersion.replace(/\./g, '\\.')} .* i686 GNU/Linux`));
  expect(info).toMatch(/model name\s*: pvlab virtual i686 CPU/);
  expect(info).toContain(`${manifest.testFile.md5}  ${manifest.testFile.path}`);
  const log = await consoleText(page);
  expect(log).toMatch(/ata1\.00: ATA-8: PVLAB VHD DISK/);
  expect(log).not.toMatch(/Oops|BUG:|WARNING:|Kernel panic/);

  await sh(page, 'mke2fs -q /dev/sda && mount /dev/sda /mnt && echo written-in-the-browser > /mnt/hello.txt && mkdir /mnt/dir && cp /etc/pvlab-test.txt /mnt/dir/ && sync && umount /mnt', 600_000);
  await typeInConsole(page, 'poweroff -f\n');
  await expect(page.getByTestId('status-0')).toContainText('powered off', { timeout: 300_000 });

  // After a reload the disk holds the files (checked outside the browser with qemu-img + debugfs).
  await page.reload();
  let raw = await exportDisk(page, 'linux-data', out);
  expect(debugfsCat(raw, '/hello.txt')).toBe('written-in-the-browser\n');
  const testFile = fs.readFileSync(new URL('../guests/linux/rootfs/etc/pvlab-test.txt', import.meta.url), 'utf8');
  expect(debugfsCat(raw, '/dir/pvlab-test.txt')).toBe(testFile);
  await ctx.close();

  // And after closing the browser and starting it again with the same profile.
  ctx = await launch();
  page = ctx.pages()[0] ?? await ctx.newPage();
  await page.goto('/');
  raw = await exportDisk(page, 'linux-data', out);
  expect(debugfsCat(raw, '/hello.txt')).toBe('written-in-the-browser\n');
  await ctx.close();
});

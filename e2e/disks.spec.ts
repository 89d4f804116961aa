// The Disks panel on real IndexedDB in Chromium: import (file picker and drag-and-drop),
// export (a download read back through the VHD reader and qemu-img), create, rename, delete,
// the in-use guard, and persistence across a reload and a browser restart.
// Disk bytes are read and written through window.__disks (app/disks/test-hook.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { chromium, expect, test, type Locator, type Page } from '@playwright/test';
import { MemoryStore } from '../engine-ts/disk/block-store';
import { VhdDisk } from '../engine-ts/disk/vhd';

const FIXTURE = 'dynamic-8m.vhd';
// From test/fixtures/vhd/README.md (made by qemu-img; not by this project).
const FIXTURE_VIRTUAL_SIZE = 8390656;
const FIXTURE_FILE_SIZE = 4197888;
const FIXTURE_RAW_SHA256 = 'e4c98975a1430000e388566125b6a0af3f151d0e51faf69b9cf4f7d8f228c8bf';

function fixtureBytes(): Buffer {
  return gunzipSync(readFileSync(new URL(`../test/fixtures/vhd/${FIXTURE}.gz`, import.meta.url)));
}
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes (tests never use Math.random). */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

async function virtualContents(vhd: Uint8Array): Promise<Uint8Array> {
  const disk = await VhdDisk.open(new MemoryStore(vhd), { readOnly: true });
  const out = new Uint8Array(disk.size);
  await disk.read(0, out);
  return out;
}

const row = (page: Page, name: string): Locator => page.getByRole('row', { name, exact: true });
const diskId = async (r: Locator): Promise<string> => (await r.getAttribute('data-disk-id'))!;
const cellBytes = async (r: Locator, col: number): Promise<number> => Number(await r.getByRole('cell').nth(col).getAttribute('data-bytes'));
// Columns: 0 boot, 1 name, 2 type, 3 virtual size, 4 VHD file, 5 stored, 6 modified, 7 actions.

async function openPanel(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Disks' })).toBeVisible();
  await expect(page.getByText(/No disks yet|Boot/).first()).toBeVisible();
}

async function createDisk(page: Page, name: string, mib: number, type: 'dynamic' | 'fixed'): Promise<Locator> {
  await page.getByLabel('Disk name').fill(name);
  await page.getByLabel('Size (MiB)').fill(String(mib));
  await page.getByLabel('Disk type').selectOption(type);
  await page.getByRole('button', { name: 'Create disk' }).click();
  const r = row(page, name);
  // A fixed disk writes all its bytes into IndexedDB before it is listed: 4-5 s for 8 MiB
  // here, over the default 10 s once in a full run on two busy cores.
  await expect(r).toBeVisible({ timeout: 30_000 });
  return r;
}

async function hook<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([f, a]) => (window.__disks as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
}

async function download(page: Page, name: string): Promise<{ file: string; bytes: Buffer }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Export ${name}`, exact: true }).click()]);
  expect(dl.suggestedFilename()).toBe(`${name}.vhd`);
  const file = test.info().outputPath(dl.suggestedFilename());
  await dl.saveAs(file);
  return { file, bytes: readFileSync(file) };
}

test('imports a VHD from the file picker, lists it, and exports the same bytes', async ({ page }) => {
  await openPanel(page);
  const original = fixtureBytes();
  await page.getByLabel('Import disk image file').setInputFiles({ name: FIXTURE, mimeType: 'application/octet-stream', buffer: original });
  await expect(page.getByRole('status')).toContainText('Imported dynamic-8m (dynamic, 8.0 MiB)');
  const r = row(page, 'dynamic-8m');
  await expect(r.getByRole('cell').nth(2)).toHaveText('dynamic');
  await expect(r.getByRole('cell').nth(3)).toHaveText('8.0 MiB');
  expect(await cellBytes(r, 3)).toBe(FIXTURE_VIRTUAL_SIZE);
  expect(await cellBytes(r, 4)).toBe(FIXTURE_FILE_SIZE);
  // Only chunks holding data are stored (most of the file is zeros).
  const stored = await cellBytes(r, 5);
  expect(stored).toBeGreaterThan(0);
  expect(stored).toBeLessThan(FIXTURE_FILE_SIZE / 4);
  expect(await hook<string>(page, 'sha256', await diskId(r))).toBe(FIXTURE_RAW_SHA256);
  await expect(page.getByTestId('disk-quota')).toContainText(/Browser storage: .* used of .* free/);

  const { bytes } = await download(page, 'dynamic-8m');
  expect(bytes.length).toBe(original.length);
  expect(sha256(bytes)).toBe(sha256(original));
  expect(sha256(await virtualContents(bytes))).toBe(FIXTURE_RAW_SHA256);
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('a raw .img becomes a dynamic VHD with the same contents', async ({ page }) => {
  await openPanel(page);
  const raw = Buffer.alloc(3 * 1024 * 1024 + 1000); // not a whole number of sectors
  pattern(70_000, 4).copy(raw, 0);
  pattern(5000, 5).copy(raw, 2 * 1024 * 1024 - 2000); // across the first 2 MiB block edge
  pattern(1000, 6).copy(raw, raw.length - 1000);
  await page.getByLabel('Import disk image file').setInputFiles({ name: 'scratch.img', mimeType: 'application/octet-stream', buffer: raw });
  const r = row(page, 'scratch');
  await expect(r.getByRole('cell').nth(2)).toHaveText('dynamic');
  const size = await cellBytes(r, 3);
  expect(size).toBeGreaterThanOrEqual(raw.length);
  const padded = Buffer.alloc(size);
  raw.copy(padded);
  expect(await hook<string>(page, 'sha256', await diskId(r))).toBe(sha256(padded));
  const { bytes } = await download(page, 'scratch');
  expect(Buffer.from(await virtualContents(bytes)).equals(padded)).toBe(true);
});

test('a malformed .vhd dropped on the panel is refused and nothing is stored', async ({ page }) => {
  await openPanel(page);
  const bad = fixtureBytes();
  bad.fill(0x5a, bad.length - 512); // the trailing footer
  bad.fill(0x5a, 0, 512); // and its copy at offset 0
  const dt = await page.evaluateHandle((b64) => {
    const dt = new DataTransfer();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], 'broken.vhd'));
    return dt;
  }, bad.toString('base64'));
  await page.getByTestId('disk-drop').dispatchEvent('drop', { dataTransfer: dt });
  await expect(page.getByRole('alert')).toContainText('broken.vhd is not a valid VHD image');
  await expect(page.getByRole('alert')).toContainText('Nothing was stored');
  await expect(page.getByText('No disks yet')).toBeVisible();
  const stored = await page.evaluate(async () => {
    const count = (db: string, store: string) => new Promise<number>((resolve, reject) => {
      const open = indexedDB.open(db);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const d = open.result;
        if (!d.objectStoreNames.contains(store)) { d.close(); resolve(0); return; }
        const req = d.transaction(store).objectStore(store).count();
        req.onsuccess = () => { d.close(); resolve(req.result); };
        req.onerror = () => reject(req.error);
      };
    });
    return (await count('pvlab-disks', 'chunks')) + (await count('pvlab-disk-library', 'disks'));
  });
  expect(stored).toBe(0);

  // A good image dropped the same way is accepted.
  const good = await page.evaluateHandle((b64) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'good.vhd'));
    return dt;
  }, fixtureBytes().toString('base64'));
  await page.getByTestId('disk-drop').dispatchEvent('drop', { dataTransfer: good });
  await expect(row(page, 'good')).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('a new 64 MiB dynamic disk keeps its data across a reload and exports a file qemu-img reads', async ({ page }) => {
  await openPanel(page);
  let r = await createDisk(page, 'data', 64, 'dynamic');
  await expect(r.getByRole('cell').nth(2)).toHaveText('dynamic');
  await expect(r.getByRole('cell').nth(3)).toHaveText('64.0 MiB');
  const size = await cellBytes(r, 3);
  expect(size).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  const id = await diskId(r);
  const data = pattern(3 * 65536 + 512, 1);
  const at = 2 * 1024 * 1024 - 4096; // straddles the first 2 MiB block edge
  await hook(page, 'write', id, at, data.toString('base64'));
  await hook(page, 'write', id, size - 512, pattern(512, 2).toString('base64')); // the last sector

  await page.reload();
  r = row(page, 'data');
  await expect(r).toBeVisible();
  expect(await cellBytes(r, 4)).toBeGreaterThan(4 * 1024 * 1024); // two blocks allocated
  expect(Buffer.from(await hook<string>(page, 'read', id, at, data.length), 'base64').equals(data)).toBe(true);

  const { file, bytes } = await download(page, 'data');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-f', 'vpc', '--output=json', file], { encoding: 'utf8' }));
  expect(info['virtual-size']).toBe(size);
  const rawFile = file.replace(/\.vhd$/, '.raw');
  execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', file, rawFile]);
  const raw = readFileSync(rawFile);
  expect(raw.subarray(at, at + data.length).equals(data)).toBe(true);
  expect(raw.subarray(size - 512).equals(pattern(512, 2))).toBe(true);
  expect(Buffer.from(await virtualContents(bytes)).equals(raw)).toBe(true);
});

test('rename, attach at next boot, and delete with confirmation (refused while in use)', async ({ page }) => {
  await openPanel(page);
  const r = await createDisk(page, 'scratch', 8, 'fixed');
  await expect(r.getByRole('cell').nth(2)).toHaveText('fixed');
  const id = await diskId(r);

  await page.getByRole('button', { name: 'Rename scratch' }).click();
  await page.getByLabel('New name for scratch').fill('work');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(row(page, 'work')).toBeVisible();
  await page.getByLabel('Attach work at next boot').check();
  await page.reload();
  await expect(page.getByLabel('Attach work at next boot')).toBeChecked();

  // While a machine (a worker) has it open, delete is refused with an explanation.
  await hook(page, 'hold', id);
  await expect(row(page, 'work')).toContainText('in use');
  await page.getByRole('button', { name: 'Delete work', exact: true }).click();
  await page.getByRole('button', { name: 'Confirm delete work' }).click();
  await expect(page.getByRole('alert')).toContainText("disk 'work' is in use");
  await expect(row(page, 'work')).toBeVisible();
  await hook(page, 'release', id);
  await expect(row(page, 'work')).not.toContainText('in use');

  // A machine worker that dies without closing the disk does not leave it locked.
  await hook(page, 'hold', id);
  await expect(row(page, 'work')).toContainText('in use');
  await page.evaluate((i) => window.__disks!.kill(i), id);
  await expect.poll(() => page.evaluate((i) => window.__disks!.read(i, 0, 512).then(() => 'readable', (e: Error) => e.message), id)).toBe('readable');

  await page.getByRole('button', { name: 'Delete work', exact: true }).click();
  await page.getByRole('button', { name: 'Keep' }).click();
  await expect(row(page, 'work')).toBeVisible();
  await page.getByRole('button', { name: 'Delete work', exact: true }).click();
  await page.getByRole('button', { name: 'Confirm delete work' }).click();
  await expect(row(page, 'work')).toHaveCount(0);
  await expect(page.getByText('No disks yet')).toBeVisible();
  await expect(page.getByLabel('No disk at next boot')).toBeChecked();
  await page.reload();
  await expect(page.getByText('No disks yet')).toBeVisible();
});

test('a disk written through the page survives closing and relaunching the browser', async ({ baseURL }, testInfo) => {
  const launch = testInfo.project.use.launchOptions ?? {};
  const dir = mkdtempSync(path.join(tmpdir(), 'pvlab-profile-'));
  const start = () => chromium.launchPersistentContext(dir, {
    executablePath: launch.executablePath, args: launch.args, headless: true, baseURL,
  });
  const data = pattern(100_000 - (100_000 % 512), 3);
  try {
    let ctx = await start();
    let page = ctx.pages()[0] ?? (await ctx.newPage());
    await openPanel(page);
    const id = await diskId(await createDisk(page, 'keeper', 16, 'dynamic'));
    await hook(page, 'write', id, 1024 * 1024, data.toString('base64'));
    await ctx.close();

    ctx = await start();
    page = ctx.pages()[0] ?? (await ctx.newPage());
    await openPanel(page);
    await expect(row(page, 'keeper')).toBeVisible();
    expect(Buffer.from(await hook<string>(page, 'read', id, 1024 * 1024, data.length), 'base64').equals(data)).toBe(true);
    await ctx.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});


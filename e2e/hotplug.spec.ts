// Hot-plugging a PV disk into a running guest from the page: the machine (the shipped Xen
// snapshot, resumed by the xenbus lesson's page) gets a new blank disk from the inspector's
// bar, and the inspector's timeline shows both ends of xenbus walk their states 1 → 4 in
// order. The inspector is photographed at that moment (test-results/, and the README's
// picture when PVLAB_SCREENSHOTS names a folder).
import { test, expect } from '@playwright/test';
import path from 'node:path';
import { expectConsole } from './helpers';

const shots = process.env.PVLAB_SCREENSHOTS;

test('plug a PV disk: blkfront and blkback walk 1 → 4 in the timeline; unplug it again', async ({ page }, info) => {
  test.setTimeout(600_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/?lesson=xenbus-handshake');
  await expect(page.getByTestId('status-0')).toHaveAttribute('data-phase', 'running', { timeout: 120_000 });
  await expectConsole(page, /root@pvlab:~# $/, 120_000);
  const inspector = page.getByTestId('inspector-0');
  await inspector.getByRole('tab', { name: 'timeline' }).click();
  await page.getByRole('button', { name: 'Plug disk' }).click();
  await inspector.getByLabel('Find in timeline').fill('51712/state');

  const device = page.locator('.pv-device[data-device="xvda"]');
  await expect(device).toHaveAttribute('data-frontend-state', '4', { timeout: 120_000 });
  await expect(device).toHaveAttribute('data-backend-state', '4');
  // The timeline lists the newest first: read it oldest first.
  const lines = (await inspector.locator('li[data-kind="xs-write"]').allInnerTexts()).reverse();
  const states = (end: RegExp) => lines.filter((l) => end.test(l)).map((l) => Number(/state = (\d)/.exec(l)![1]));
  expect(states(/\/local\/domain\/0\/backend\/vbd\/1\/51712\/state =/)).toEqual([1, 2, 4]);
  expect(states(/\/local\/domain\/1\/device\/vbd\/51712\/state =/)).toEqual([1, 3, 4]);
  await expect(inspector.locator('li[data-kind="xs-write"]').first()).toContainText('(Connected)');
  const shot = await inspector.screenshot();
  await info.attach('inspector after the hot-plug', { body: shot, contentType: 'image/png' });
  if (shots) await inspector.screenshot({ path: path.join(shots, 'inspector-timeline.png') });

  // The guest has the disk; then unplug it and the guest forgets it.
  await expectConsole(page, /blkfront: xvda/, 60_000).catch(async () => {
    await page.locator('[data-testid=console-0] textarea').focus();
    await page.keyboard.type('dmesg | tail -2\n');
    await expectConsole(page, /blkfront: xvda/, 60_000);
  });
  await page.getByRole('button', { name: 'Unplug xvda from machine 1' }).click();
  await expect(device).toHaveCount(0, { timeout: 120_000 });
  await inspector.getByLabel('Find in timeline').fill('51712');
  await expect(inspector.locator('li[data-kind="xs-rm"]', { hasText: 'removes /local/domain/1/device/vbd/51712' })).toHaveCount(1);
  await expect(inspector.locator('li[data-kind="xs-rm"]', { hasText: 'removes /local/domain/0/backend/vbd/1/51712' })).toHaveCount(1);
  await expect(inspector.locator('li[data-kind="xs-write"]', { hasText: 'backend/vbd/1/51712/state = 5 (Closing)' })).toHaveCount(1);
});

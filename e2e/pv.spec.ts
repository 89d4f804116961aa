// The PV bus in the page: two Debian guests booted with Xen para-virtual devices. Machine 1
// uses a VHD in IndexedDB as xvda through blkback; both get addresses from the lab network's
// DHCP server on eth0 (xen-netfront) and ping each other through the virtual switch; then
// machine 1 reboots itself and reads its files back.
import { test, expect, type Page } from '@playwright/test';
import { consoleText, createAttachedDisk, expectConsole, sh, typeInConsole } from './helpers';

const SHELL = /pvlab: ready[\s\S]*root@pvlab:~# $/m;

async function bootPv(page: Page, machine: number, disk: boolean): Promise<void> {
  const m = page.getByRole('region', { name: `Machine ${machine + 1}` });
  await m.getByLabel('Guest').selectOption('linux');
  await m.getByLabel('PV (Xen) devices').check();
  if (disk) await m.getByLabel('Disk').selectOption('xen');
  await m.getByRole('button', { name: 'Boot', exact: true }).click();
}

test('two PV guests: Xen detected, xvda from IndexedDB survives a reboot, eth0 via DHCP, ping both ways', async ({ page }) => {
  test.setTimeout(1_500_000);
  await page.goto('/');
  await createAttachedDisk(page, 'pv-disk');
  await page.getByRole('button', { name: 'Add machine' }).click();
  await bootPv(page, 0, true);
  await bootPv(page, 1, false);
  await expectConsole(page, SHELL, 600_000, 0);
  await expectConsole(page, SHELL, 600_000, 1);

  const log = await consoleText(page, 0);
  expect(log).toContain('Hypervisor detected: Xen HVM');
  expect(log).toContain('printk: console [hvc0] enabled');
  expect(log).toMatch(/blkfront: xvda: flush diskcache: enabled/);
  expect(log).toContain('xen_netfront: Initialising Xen virtual ethernet driver');
  expect(await sh(page, 'ls /sys/bus/pci/drivers', 120_000, 0)).toContain('xen-platform-pci');

  await sh(page, 'mke2fs -q /dev/xvda && mount /dev/xvda /mnt && echo kept-in-indexeddb > /mnt/note.txt && sync && umount /mnt', 600_000, 0);
  // The panel counts VM exits: this guest's disk and console went through hypercalls.
  const exits = page.getByTestId('exits-0');
  await expect(exits).toContainText('hypercalls');
  await expect.poll(async () => Number(await exits.getAttribute('data-hypercall')), { timeout: 10_000 }).toBeGreaterThan(1000);

  const ips: string[] = [];
  for (const m of [0, 1]) {
    const out = await sh(page, 'udhcpc -i eth0 -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script', 300_000, m);
    const ip = out.match(/pvlab: eth0 has address (10\.0\.2\.\d+)/)?.[1];
    expect(ip, `machine ${m + 1} got no address:\n${out}`).toBeTruthy();
    ips.push(ip!);
  }
  expect(ips[0]).not.toBe(ips[1]);
  const p01 = await sh(page, `ping -c 3 -W 5 ${ips[1]}`, 300_000, 0);
  expect(p01).toContain('3 packets transmitted, 3 packets received, 0% packet loss');
  expect(p01).toContain(`bytes from ${ips[1]}: seq=0 ttl=64`);
  const p10 = await sh(page, `ping -c 3 -W 5 ${ips[0]}`, 300_000, 1);
  expect(p10).toContain('3 packets transmitted, 3 packets received, 0% packet loss');

  // Machine 1 reboots itself (SCHEDOP_shutdown); the disk comes back with the file.
  const before = (await consoleText(page, 0)).length;
  await typeInConsole(page, 'reboot -f\n', 0);
  await expect.poll(async () => SHELL.test((await consoleText(page, 0)).slice(before)), { timeout: 600_000 }).toBe(true);
  expect(await sh(page, 'mount /dev/xvda /mnt && cat /mnt/note.txt && umount /mnt', 300_000, 0)).toContain('kept-in-indexeddb');
  expect((await consoleText(page, 0)) + (await consoleText(page, 1))).not.toMatch(/Oops|BUG:|WARNING:|Kernel panic/);
});

// Several vCPUs and several machines in one page: a Debian guest on 2 vCPUs (each a Web
// Worker over the machine's shared memory) says `nproc` 2 and runs one job per CPU; then four
// machines with PV devices on the lab switch get DHCP addresses and each pings the others
// (typing into each console as a user would, while all four run).
import { test, expect, type Page } from '@playwright/test';
import { consoleText, expectConsole, sh } from './helpers';

const SHELL = /pvlab: ready[\s\S]*root@pvlab:~# $/m;

async function boot(page: Page, machine: number, opts: { cpus: number; pv: boolean }): Promise<void> {
  const m = page.getByRole('region', { name: `Machine ${machine + 1}` });
  await m.getByLabel('Guest').selectOption('linux');
  await m.getByLabel('vCPUs').selectOption(String(opts.cpus));
  if (opts.pv) await m.getByLabel('PV (Xen) devices').check();
  await m.getByRole('button', { name: 'Boot', exact: true }).click();
}

test('a 2-vCPU guest: nproc prints 2 and both CPUs run work', async ({ page }) => {
  test.setTimeout(1_800_000);
  await page.goto('/');
  await boot(page, 0, { cpus: 2, pv: false });
  await expectConsole(page, SHELL, 1_500_000);
  expect((await sh(page, 'nproc')).split('\n')).toContain('2');
  // One busy loop per CPU, then both CPUs' user time in /proc/stat is above zero.
  const busy = await sh(page, 'for i in 1 2; do (i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done) & done; wait; grep "^cpu[0-9]" /proc/stat');
  const userTicks = [...busy.matchAll(/^cpu(\d+) (\d+)/gm)].map((m) => Number(m[2]));
  expect(userTicks).toHaveLength(2);
  for (const t of userTicks) expect(t).toBeGreaterThan(0);
  const log = await consoleText(page);
  expect(log).toMatch(/smp: Brought up 1 node, 2 CPUs/);
  expect(log).not.toMatch(/failed to come online|soft lockup|TSC unstable|Oops|BUG:|Kernel panic/);
});

test('four machines on the lab switch ping one another', async ({ page }) => {
  test.setTimeout(2_400_000);
  await page.goto('/');
  for (let i = 1; i < 4; i++) await page.getByRole('button', { name: 'Add machine' }).click();
  for (let i = 0; i < 4; i++) await boot(page, i, { cpus: 1, pv: true });
  for (let i = 0; i < 4; i++) await expectConsole(page, SHELL, 1_500_000, i);
  const ips: string[] = [];
  for (let i = 0; i < 4; i++) {
    const out = await sh(page, 'udhcpc -i eth0 -s /usr/share/udhcpc/default.script -q -n && ip -4 addr show eth0', 300_000, i);
    const ip = out.match(/inet (10\.0\.2\.\d+)\//)?.[1];
    expect(ip, `machine ${i + 1} got an address`).toBeTruthy();
    ips.push(ip!);
  }
  expect(new Set(ips).size).toBe(4);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      if (i === j) continue;
      const out = await sh(page, `ping -c 1 -W 5 ${ips[j]}`, 300_000, i);
      expect(out).toContain('1 packets transmitted, 1 packets received');
    }
  }
});

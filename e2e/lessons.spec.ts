// Every shipped lesson run from start to finish in Chromium as a student would: open
// ?lesson=NAME (its machines resume the shipped snapshots, or boot), press each step's
// "Type this" buttons, do what the step asks in the page (plug a disk, unplug it), and wait
// for each step to turn green by itself.
import { test, expect, type Page } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { expectConsole, typeInConsole } from './helpers';

const index = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'public/lessons/index.json'), 'utf8')) as { lessons: string[] };
const PROMPT = /root@pvlab:~# $/;

/** What a step asks of the student beyond typing (by lesson, by 1-based step). */
const ACTIONS: Record<string, Record<number, (page: Page) => Promise<void>>> = {
  'xenbus-handshake': {
    2: (page) => page.getByRole('button', { name: 'Plug disk' }).click(),
    4: (page) => page.getByRole('button', { name: 'Unplug xvda from machine 1' }).click(),
  },
  'grants-and-rings': {
    1: (page) => page.getByRole('button', { name: 'Plug disk' }).click(),
  },
  'emulated-vs-pv': {
    1: (page) => page.getByRole('button', { name: 'Plots of machine 1' }).click(),
  },
};

/**
 * Wait until a machine's console shows the shell prompt at its end. A kernel message printed
 * after the prompt (blkfront announcing a plugged disk) hides it: then press Enter, as a
 * student would, for a fresh one.
 */
async function atPrompt(page: Page, machine: number, timeout: number): Promise<void> {
  try {
    await expectConsole(page, PROMPT, 15_000, machine);
  } catch {
    await typeInConsole(page, '\n', machine);
    await expectConsole(page, PROMPT, timeout, machine);
  }
}

for (const name of index.lessons) {
  test(`lesson ${name}: every step turns green`, async ({ page }) => {
    test.setTimeout(name === 'emulated-vs-pv' ? 1_500_000 : 600_000);
    await page.goto(`/?lesson=${name}`);
    const progress = page.getByTestId('lesson-progress');
    await expect(progress).toHaveAttribute('data-done', '0', { timeout: 30_000 });
    const steps = Number(await progress.getAttribute('data-steps'));
    expect(steps).toBeGreaterThanOrEqual(3);
    const machines = await page.locator('.lesson-machines > section').count();
    for (let m = 0; m < machines; m++) {
      await expect(page.getByTestId(`status-${m}`)).toHaveAttribute('data-phase', 'running', { timeout: 120_000 });
    }
    for (let i = 1; i <= steps; i++) {
      const step = page.getByTestId(`step-${i}`);
      // A step whose checks already hold is green as soon as it begins (nothing to do).
      await expect(step).toHaveAttribute('data-state', /current|done/, { timeout: 30_000 });
      if ((await step.getAttribute('data-state')) === 'done') continue;
      await ACTIONS[name]?.[i]?.(page);
      const buttons = step.getByRole('button', { name: /^Type this into machine/ });
      for (let b = 0; b < (await buttons.count()); b++) {
        const label = (await buttons.nth(b).getAttribute('aria-label'))!;
        const machine = Number(/machine (\d)/.exec(label)![1]) - 1;
        await atPrompt(page, machine, 900_000);
        await buttons.nth(b).click();
      }
      await expect(step, `step ${i} of ${name}`).toHaveAttribute('data-state', 'done', { timeout: name === 'emulated-vs-pv' ? 900_000 : 300_000 });
    }
    await expect(progress).toHaveAttribute('data-done', String(steps));
    await expect(page.locator('.lesson-done')).toContainText('Lesson complete');
    if (name === 'emulated-vs-pv') {
      // The comparison: a card per disk; the emulated controller is driven by port I/O exits,
      // the PV disk by far fewer hypercalls (and no port I/O).
      const perMiB = async (d: string, kind: string) => Number(await page.locator(`.compare-card[data-disk="${d}"]`).getAttribute(`data-${kind}-per-mib`));
      await expect(page.locator('.compare-card')).toHaveCount(2);
      expect(await perMiB('sda', 'io')).toBeGreaterThan(20);
      expect((await perMiB('xvda', 'io')) + (await perMiB('xvda', 'hypercall'))).toBeLessThan((await perMiB('sda', 'io')) / 2);
    }
    for (let m = 0; m < machines; m++) {
      expect(await page.evaluate((i) => window.__consoles?.[i]?.() ?? '', m)).not.toMatch(/Oops|BUG:|Kernel panic/);
    }
  });
}

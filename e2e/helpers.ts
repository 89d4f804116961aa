import { expect, type Page } from '@playwright/test';

/** A console's whole text (xterm buffer, scrollback included); machine 1 by default. */
export function consoleText(page: Page, machine = 0): Promise<string> {
  return page.evaluate((i) => window.__consoles?.[i]?.() ?? '', machine);
}

/**
 * Wait for a console to show `text`. A machine that failed (status phase "error") ends the
 * wait at once with its status line, instead of leaving the test to time out.
 */
export async function expectConsole(page: Page, text: string | RegExp, timeout = 30_000, machine = 0): Promise<void> {
  const status = page.getByTestId(`status-${machine}`);
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = await consoleText(page, machine);
    if (typeof text === 'string' ? got.includes(text) : text.test(got)) return;
    if ((await status.count()) > 0 && (await status.getAttribute('data-phase')) === 'error')
      throw new Error(`machine ${machine + 1} failed: ${await status.textContent()}\nconsole:\n${got.slice(-2000)}`);
    if (Date.now() > deadline) {
      // Let expect print the usual diff of what the console does show.
      expect(got, `console ${machine + 1} should show ${text} within ${timeout} ms`)[typeof text === 'string' ? 'toContain' : 'toMatch'](text as never);
    }
    await page.waitForTimeout(250);
  }
}

/** Type into a console as a user would (keyboard events into xterm's textarea). */
export async function typeInConsole(page: Page, text: string, machine = 0): Promise<void> {
  await page.locator(`[data-testid=console-${machine}] textarea`).focus();
  await page.keyboard.type(text);
}

let seq = 0;
/** Run a shell command in a console and wait until it finished; resolves with the new console text. */
export async function sh(page: Page, cmd: string, ms = 300_000, machine = 0): Promise<string> {
  const n = 1000 * ++seq + machine;
  const before = (await consoleText(page, machine)).length;
  await typeInConsole(page, `${cmd}; echo "@@$((${n}+1))@@"\n`, machine);
  await expectConsole(page, new RegExp(`@@${n + 1}@@`), ms, machine);
  return (await consoleText(page, machine)).slice(before);
}

/** Create a dynamic disk in the Disks panel and choose it for the next boot. */
export async function createAttachedDisk(page: Page, name: string, sizeMiB = 64): Promise<void> {
  await page.getByLabel('Disk name').fill(name);
  await page.getByLabel('Size (MiB)').fill(String(sizeMiB));
  await page.getByLabel('Disk type').selectOption('dynamic');
  await page.getByRole('button', { name: 'Create disk' }).click();
  await page.getByLabel(`Attach ${name} at next boot`).check();
}


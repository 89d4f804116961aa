import { expect, type Page } from '@playwright/test';

/** The console's whole text (xterm buffer, scrollback included). */
export function consoleText(page: Page): Promise<string> {
  return page.evaluate(() => window.__termText?.() ?? '');
}

export async function expectConsole(page: Page, text: string | RegExp, timeout = 30_000): Promise<void> {
  await expect.poll(() => consoleText(page), { timeout, message: `console should show ${text}` })[typeof text === 'string' ? 'toContain' : 'toMatch'](text as never);
}

/** Type into the console as a user would (keyboard events into xterm's textarea). */
export async function typeInConsole(page: Page, text: string): Promise<void> {
  await page.locator('[data-testid=console] textarea').focus();
  await page.keyboard.type(text);
}

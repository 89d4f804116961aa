// Broken lesson files (no front matter, an unknown check kind, a pattern that does not
// compile) are listed with a clear error, and the other lessons still load and open.
import { test, expect } from '@playwright/test';

const BROKEN: Record<string, string> = {
  'no-front-matter': '# A lesson\n\n## Step\n\n```check\nconsole /x/\n```\n',
  'unknown-check': '---\ntitle: Unknown check\nmachine: snapshot linux-xen\n---\n\n## Step\n\n```check\nsmell /burning/\n```\n',
  'bad-pattern': '---\ntitle: Bad pattern\nmachine: snapshot linux-xen\n---\n\n## Step\n\n```check\nconsole /(unclosed/\n```\n',
};

test('broken lessons are listed with their error; the others still load', async ({ page }) => {
  await page.route('**/lessons/index.json', async (route) => {
    const res = await route.fetch();
    const j = await res.json();
    await route.fulfill({ response: res, json: { lessons: [...Object.keys(BROKEN), ...j.lessons] } });
  });
  for (const [name, text] of Object.entries(BROKEN)) {
    await page.route(`**/lessons/${name}.md`, (route) => route.fulfill({ status: 200, contentType: 'text/markdown', body: text }));
  }
  await page.goto('/');
  const list = page.getByRole('region', { name: 'Lessons' });
  await expect(list.locator('li[data-lesson="no-front-matter"]')).toContainText('no front matter');
  await expect(list.locator('li[data-lesson="unknown-check"]')).toContainText('unknown check kind "smell" (known: console, xenstore, counter, event)');
  await expect(list.locator('li[data-lesson="bad-pattern"]')).toContainText('the pattern /(unclosed/ does not compile');
  await expect(list.locator('li[data-ok="yes"]')).toHaveCount(5);
  await expect(list.getByRole('link', { name: '2. The xenbus handshake' })).toBeVisible();

  // A broken lesson opened by its address says why; a good one opens.
  await page.goto('/?lesson=bad-pattern');
  await expect(page.getByRole('alert')).toContainText('does not compile');
  await page.getByRole('button', { name: 'Back to the lab' }).click();
  await list.getByRole('link', { name: '1. How the kernel finds Xen' }).click();
  await expect(page).toHaveURL(/\?lesson=finding-xen$/);
  await expect(page.getByRole('region', { name: 'Lesson: 1. How the kernel finds Xen' })).toBeVisible();
  await expect(page.getByTestId('step-1')).toHaveAttribute('data-state', 'current');
});

// The browser bundles the disk layer (IndexedDB store + VHD); only file-store.ts and
// vhd-files.ts (opening VHD files with their parents, for Node hosts) may use Node.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('keeps node: imports out of every disk module except file-store.ts and vhd-files.ts', () => {
  const dir = fileURLToPath(new URL('../../engine-ts/disk/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  expect(files).toContain('vhd.ts');
  const offenders = files.filter((f) => f !== 'file-store.ts' && f !== 'vhd-files.ts' && /from\s+['"](node:|fs|path|crypto)/.test(readFileSync(dir + f, 'utf8')));
  expect(offenders).toEqual([]);
  expect(readFileSync(dir + 'file-store.ts', 'utf8')).toMatch(/from 'node:fs\/promises'/);
});

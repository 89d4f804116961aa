// Snapshots committed as fixtures must load in every later pvlab (through the upgrade steps
// of the file format, the vCPU layout and each part's state), and the machine must go on.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSnapshotHeader } from '../../engine-ts/api/node';
import { resume, root } from './helpers';

const dir = path.join(root, 'test/fixtures/snapshots');
const fixtures = fs.readdirSync(dir).filter((f) => f.endsWith('.pvsnap'));

describe('committed snapshot fixtures', () => {
  it('there is at least one (made by test/snapshot/make-fixture.ts)', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it.each(fixtures)('%s resumes: the screen as it was, and the guest still echoes', async (name) => {
    const file = new Uint8Array(fs.readFileSync(path.join(dir, name)));
    const { header } = await readSnapshotHeader(file);
    expect(header.console).toContain('saved-line');
    const r = await resume(file);
    r.machine.sendInput(new TextEncoder().encode('after-resume\r'));
    const cycles = (await r.machine.stats()).cycles;
    await r.machine.run({ untilCycle: cycles + 20_000_000 });
    expect(r.output()).toContain('after-resume');
    r.machine.sendInput(new Uint8Array([4])); // Ctrl-D: the guest says goodbye and halts
    expect(await r.machine.run()).toEqual({ kind: 'halted' });
    expect(r.output()).toContain('Goodbye.');
  });
});

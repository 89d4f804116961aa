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

describe('vCPU layout upgrades', () => {
  it('x87 registers saved as doubles become the same values in 80-bit double-extended form', async () => {
    const { doubleToExtended } = await import('../../engine-ts/snapshot/vcpu-upgrades');
    const bits = (x: number) => new DataView(new Float64Array([x]).buffer).getBigUint64(0, true);
    expect(doubleToExtended(bits(1))).toEqual({ significand: 0x8000000000000000n, signExp: 0x3fff });
    expect(doubleToExtended(bits(-2.5))).toEqual({ significand: 0xa000000000000000n, signExp: 0xc000 });
    expect(doubleToExtended(bits(0))).toEqual({ significand: 0n, signExp: 0 });
    expect(doubleToExtended(bits(-0))).toEqual({ significand: 0n, signExp: 0x8000 });
    expect(doubleToExtended(bits(Infinity))).toEqual({ significand: 0x8000000000000000n, signExp: 0x7fff });
    // The smallest double denormal, 2^-1074, is a normal extended number.
    expect(doubleToExtended(1n)).toEqual({ significand: 0x8000000000000000n, signExp: 16383 - 1074 });
    expect(doubleToExtended(bits(Number.MAX_VALUE))).toEqual({ significand: 0xfffffffffffff800n, signExp: 16383 + 1023 });
    const nan = doubleToExtended(0x7ff8000000000001n);
    expect(nan.signExp).toBe(0x7fff);
    expect(nan.significand).toBe(0xc000000000000800n);
  });
});

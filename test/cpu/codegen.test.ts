import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { generate } from '../../tools/gen-dispatch';
import { X86_TABLE } from '../../engine-wasm/x86-table';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

describe('opcode table', () => {
  it('the committed dispatch.gen.ts is what the table generates', () => {
    const committed = fs.readFileSync(path.join(root, 'engine-wasm/assembly/dispatch.gen.ts'), 'utf8');
    expect(committed === generate(), 'engine-wasm/assembly/dispatch.gen.ts is stale: run `npm run gen`').toBe(true);
  });
  it('has one entry per opcode and covers the whole one-byte map', () => {
    const ops = X86_TABLE.map((e) => e.op);
    expect(new Set(ops).size).toBe(ops.length);
    // Every one-byte opcode exists on an i686 (none are unassigned in 32-bit mode).
    for (let op = 0; op < 0x100; op++) expect(ops, `opcode 0x${op.toString(16)}`).toContain(op);
  });
});

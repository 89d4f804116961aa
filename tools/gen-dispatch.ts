// Generates engine-wasm/assembly/dispatch.gen.ts from the opcode table.
// Usage: node tools/run-ts.mjs tools/gen-dispatch.ts [--check]
//   --check  exit 1 if the committed file differs from what the table generates.
import fs from 'node:fs';
import path from 'node:path';
import { X86_TABLE, type OpEntry } from '../engine-wasm/x86-table';

const OUT = 'engine-wasm/assembly/dispatch.gen.ts';

function variants(e: OpEntry): [string, string] {
  if (Array.isArray(e.impl)) return e.impl;
  return [e.impl.replace(/\{v\}/g, '16'), e.impl.replace(/\{v\}/g, '32')];
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(3, '0');
}

// Three dispatchers come out of the table:
//  - dispatch(): inlined into the run loop (core.ts execute()) for the first opcode byte; the
//    0F map is a nested switch; a prefix hands the rest of the instruction to dispatchPrefixed().
//  - dispatchPrefixed(): after a prefix; further prefixes and 0F update the decode state and
//    continue its switch with the next byte (core.ts nextKey()/escapeKey()).
//  - dispatchLocked(): after LOCK, only lockable forms; prefixes and 0F go through the
//    functions named in the table (core.ts prefix*(), escape0F()).
type Mode = 'main' | 'prefixed' | 'locked';

function modeImpl(impl: string, mode: Mode): string {
  const t = impl.trim();
  if (mode === 'locked') return t;
  if (t === 'escape0F();') return mode === 'main' ? '' : 'key = escapeKeyPrefixed(); if (fault) return; continue;';
  const m = /^prefix(Seg|Opsize|Adsize|Rep)\((\d*)\);$/.exec(t);
  if (m) {
    const state = `prefixState${m[1]}(${m[2]});`;
    return mode === 'main' ? `${state} afterPrefix();` : `${state} key = nextKey(); if (fault) return; continue;`;
  }
  return t;
}

// Unprefixed 32-bit forms whose register-register variant (ModRM mod = 3) the run loop
// executes directly from the ModRM byte `m` (ops-alu.ts *RegReg32); memory forms go on as usual.
const REG_FORM = new Map<number, string>([
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((i): Array<[number, string]> => [
    [i * 8 + 1, `aluRegReg32(${i}, m, true);`],
    [i * 8 + 3, `aluRegReg32(${i}, m, false);`],
  ]),
  [0x85, 'testRegReg32(m);'],
  [0x89, 'movRegReg32(m, true);'],
  [0x8b, 'movRegReg32(m, false);'],
]);

function caseBody(e: OpEntry, impl: string, mode: Mode, size32 = false): string {
  const lines: string[] = [];
  const locked = mode === 'locked' && !!e.lock;
  impl = modeImpl(impl, mode);
  const regForm = mode === 'main' && size32 ? REG_FORM.get(e.op) : undefined;
  if (regForm) {
    return `const m = fetch8(); if (m >= 0xc0) { ${regForm} return; } setModrm(m); decodeEA32(m); if (fault) return; ${impl} return;`;
  }
  // Without prefixes the address size is the code size, which the 32-bit keys imply.
  if (e.modrm) lines.push(`${mode === 'main' && size32 ? 'decodeModrmA32()' : 'decodeModrm()'}; if (fault) return;`);
  if (locked) {
    lines.push('if (modrm >= 0xc0) { raiseUD(); return; }');
    if (Array.isArray(e.lock)) {
      const cond = e.lock.map((r) => `reg == ${r}`).join(' || ');
      lines.push(`{ const reg = (modrm >> 3) & 7; if (!(${cond})) { raiseUD(); return; } }`);
    }
  }
  if (impl) lines.push(impl);
  if (!impl.endsWith('continue;')) lines.push('return;');
  return lines.join(' ');
}

/** Case lines for `entries` at the given indentation. */
function cases(entries: OpEntry[], mode: Mode, indent: string, key = (op: number, size32: boolean) => op | (size32 ? 0x200 : 0)): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const [i16, i32] = variants(e);
    const comment = ` // ${e.name}`;
    if (i16 === i32 && caseBody(e, i16, mode, false) === caseBody(e, i32, mode, true)) {
      out.push(`${indent}case ${hex(key(e.op, false))}: case ${hex(key(e.op, true))}: { ${caseBody(e, i16, mode)} }${comment}`);
    } else {
      out.push(`${indent}case ${hex(key(e.op, false))}: { ${caseBody(e, i16, mode, false)} }${comment}`);
      out.push(`${indent}case ${hex(key(e.op, true))}: { ${caseBody(e, i32, mode, true)} }${comment}`);
    }
  }
  return out;
}

export function generate(): string {
  const byKey = new Map<number, OpEntry>();
  for (const e of X86_TABLE) {
    if (byKey.has(e.op)) throw new Error(`duplicate opcode ${hex(e.op)}`);
    byKey.set(e.op, e);
  }
  const sorted = [...X86_TABLE].sort((a, b) => a.op - b.op);
  // Prefixes and the 0F escape continue decoding after LOCK.
  const prefixOps = new Set([0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);
  const oneByte = sorted.filter((e) => e.op < 0x100 && e.op !== 0x0f);
  const map0F = sorted.filter((e) => e.op >= 0x100);
  const main = cases(oneByte, 'main', '    ');
  // The nested 0F switch is keyed by the second byte | 0x100 for 32-bit operand size (dense: a br_table).
  const main0F = cases(map0F, 'main', '        ', (op, size32) => (op & 0xff) | (size32 ? 0x100 : 0));
  const prefixed = cases(sorted, 'prefixed', '      ');
  const locked = cases(sorted.filter((e) => e.lock || prefixOps.has(e.op)), 'locked', '    ');
  const names = new Set<string>();
  for (const line of [...main, ...main0F, ...prefixed, ...locked]) {
    for (const m of line.replace(/\/\/.*$/, '').matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)\(/g)) names.add(m[1]);
  }
  names.add('escapeKey');
  names.add('dispatchAfterReset');
  for (const n of ['if', 'decodeModrm', 'decodeModrmA32', 'decodeEA32', 'fetch8', 'setModrm', 'raiseUD', 'dispatchPrefixed', 'reg8']) names.delete(n);
  const imports = [...names].sort();
  return `// GENERATED by tools/gen-dispatch.ts from engine-wasm/x86-table.ts — do not edit.
// Key: opcode (0x000-0x0FF one-byte, 0x100-0x1FF 0F map) | 0x200 for 32-bit operand size.

import { fault, modrm, raiseUD, reg8, setModrm } from './state';
import { decodeModrm, decodeModrmA32, decodeEA32, fetch8 } from './decode';
import {
  ${imports.join(',\n  ')},
} from './ops';

/**
 * Execute the instruction whose first opcode byte gives \`key\` (no prefixes seen yet).
 * Inlined into the run loop (core.ts execute()): keys from 0x400 up (a failed fetch) do nothing.
 */
@inline export function dispatch(key: u32): void {
  switch (key) {
${main.join('\n')}
    case 0x00f: case 0x20f: { // 0F escape
      switch (escapeKey()) {
${main0F.join('\n')}
        default: raiseUD(); return;
      }
    }
    default: { // KEY_RESET set (first instruction after prefixes or a mode change), or a failed fetch
      if (key >= 0x400 && !fault) dispatchAfterReset(key); else raiseUD();
      return;
    }
  }
}

/** The rest of an instruction after a prefix: \`key\` is the byte after it. */
export function dispatchPrefixed(first: u32): void {
  let key = first;
  while (true) {
    switch (key) {
${prefixed.join('\n')}
      default: raiseUD(); return;
    }
  }
}

/** Dispatch after a LOCK prefix: only lockable instructions with a memory destination. */
export function dispatchLocked(key: u32): void {
  switch (key) {
${locked.join('\n')}
    default: raiseUD(); return;
  }
}

// Table size: ${X86_TABLE.length} encodings.
`;
}

export function main(args: string[]): number {
  const out = path.join(process.cwd(), OUT); // run from the repository root (npm scripts do)
  const text = generate();
  if (args.includes('--check')) {
    const cur = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
    if (cur !== text) {
      console.error(`${OUT} is stale: run \`npm run gen\` and commit the result`);
      return 1;
    }
    console.log(`${OUT} is up to date`);
    return 0;
  }
  fs.writeFileSync(out, text);
  console.log(`wrote ${OUT}`);
  return 0;
}

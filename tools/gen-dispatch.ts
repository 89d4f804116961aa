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
//  - dispatch(): inlined into the run loop (core.ts execute()) for an instruction without
//    prefixes whose bytes are all in the fetch window. Unprefixed 32-bit code runs the table's
//    `fast` forms (assembly/fast.ts), which read the bytes in place and return the next EIP;
//    instructions without one (and all 16-bit code) run their handlers as the full decoder
//    does, after setting the eip global past the opcode. Prefixes, 16-bit 0F opcodes and
//    KEY_RESET keys go to core.ts slowStep(), the full decoder out of line.
//  - dispatchFull(): the full decoder, inlined into core.ts slowStep(); prefixes and 0F
//    update the decode state and continue its switch with the next byte (core.ts nextKey()).
//  - dispatchLocked(): after LOCK, only lockable forms; prefixes and 0F go through the
//    functions named in the table (core.ts prefix*(), escape0F()).
type Mode = 'full' | 'locked';

function modeImpl(impl: string, mode: Mode): string {
  const t = impl.trim();
  if (mode === 'locked') return t;
  if (t === 'escape0F();') return 'key = escapeKeyPrefixed(); if (fault) return; continue;';
  const m = /^prefix(Seg|Opsize|Adsize|Rep)\((\d*)\);$/.exec(t);
  if (m) return `prefixState${m[1]}(${m[2]}); key = nextKey(); if (fault) return; continue;`;
  return t;
}

function caseBody(e: OpEntry, impl: string, mode: Mode): string {
  const lines: string[] = [];
  const locked = mode === 'locked' && !!e.lock;
  impl = modeImpl(impl, mode);
  if (e.modrm) lines.push('decodeModrm(); if (fault) return;');
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
function cases(entries: OpEntry[], mode: Mode, indent: string): string[] {
  const out: string[] = [];
  const key = (op: number, size32: boolean) => op | (size32 ? 0x200 : 0);
  for (const e of entries) {
    const [i16, i32] = variants(e);
    const comment = ` // ${e.name}`;
    if (i16 === i32) {
      out.push(`${indent}case ${hex(key(e.op, false))}: case ${hex(key(e.op, true))}: { ${caseBody(e, i16, mode)} }${comment}`);
    } else {
      out.push(`${indent}case ${hex(key(e.op, false))}: { ${caseBody(e, i16, mode)} }${comment}`);
      out.push(`${indent}case ${hex(key(e.op, true))}: { ${caseBody(e, i32, mode)} }${comment}`);
    }
  }
  return out;
}

/** Cases of the main dispatcher: the fast forms, keyed by `key(op)`. */
function fastCases(entries: OpEntry[], indent: string, key: (op: number) => number): string[] {
  return entries.filter((e) => e.fast).map((e) => {
    const body = /\breturn\b/.test(e.fast!) ? `{ ${e.fast} }` : `return ${e.fast};`;
    return `${indent}case ${hex(key(e.op))}: ${body} // ${e.name}`;
  });
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
  // Without a fast form: the full decoder's case, on the eip global set past the opcode.
  const generic = (e: OpEntry, size32: boolean, len = 1) =>
    `{ setEip(ip + ${len}); ${caseBody(e, variants(e)[size32 ? 1 : 0], 'full').replace(/\breturn;/g, 'return eip;')} }`;
  const main: string[] = [];
  for (const e of oneByte.filter((e) => !prefixOps.has(e.op))) {
    main.push(`    case ${hex(e.op)}: ${generic(e, false)} // ${e.name}`);
    main.push(...(e.fast ? fastCases([e], '    ', (op) => op | 0x200) : [`    case ${hex(e.op | 0x200)}: ${generic(e, true)} // ${e.name}`]));
  }
  // The nested 0F switch (32-bit code) is keyed by the second byte.
  const main0F = map0F.flatMap((e) => e.fast ? fastCases([e], '        ', (op) => op & 0xff)
    : [`        case ${hex(e.op & 0xff)}: ${generic(e, true, 2)} // ${e.name}`]);
  const full = cases(sorted, 'full', '      ');
  const locked = cases(sorted.filter((e) => e.lock || prefixOps.has(e.op)), 'locked', '    ');
  const names = new Set<string>();
  for (const line of [...main, ...main0F, ...full, ...locked]) {
    for (const m of line.replace(/\/\/.*$/, '').matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)(?:<\w+>)?\(/g)) names.add(m[1]);
  }
  names.add('slowStep');
  for (const n of ['if', 'decodeModrm', 'raiseUD', 'dispatchFull', 'reg8', 'setEip']) names.delete(n);
  const imports = [...names].sort();
  return `// GENERATED by tools/gen-dispatch.ts from engine-wasm/x86-table.ts — do not edit.
// Key: opcode (0x000-0x0FF one-byte, 0x100-0x1FF 0F map) | 0x200 for 32-bit operand size.

import { fault, modrm, raiseUD, reg8, eip, setEip } from './state';
import { decodeModrm } from './decode';
import {
  ${imports.join(',\n  ')},
} from './ops';

/**
 * Execute the instruction at EIP \`ip\`, all of whose bytes are in the fetch window from host
 * address \`p\` on; \`key\` is its first byte | core.ts keyBase. Returns the EIP after it.
 * Inlined into the run loop (core.ts execute()). Prefixes, 16-bit 0F opcodes and KEY_RESET
 * keys (the first instruction after prefixes or a mode change) go to slowStep().
 */
@inline export function dispatch(key: u32, ip: u32, p: usize): u32 {
  switch (key) {
${main.join('\n')}
    case 0x20f: { // 0F escape
      switch (<u32>load<u8>(p + 1)) {
${main0F.join('\n')}
        default: return slowStep(ip);
      }
    }
    default: return slowStep(ip);
  }
}

/**
 * The full decoder: \`first\` is the first byte of the instruction | 0x200 for 32-bit operand
 * size (or a byte after a prefix). Inlined into core.ts slowStep().
 */
@inline export function dispatchFull(first: u32): void {
  let key = first;
  while (true) {
    switch (key) {
${full.join('\n')}
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

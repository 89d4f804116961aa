// Comparing a native result with the emulator's, and printing a divergence so that it can
// be reproduced and read: seed/index, disassembly, initial state, both final states.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DATA_BASE, USER_FLAGS } from './layout';
import { R32 } from './encoder';
import type { DiffCase } from './generator';
import type { RunResult } from './native';
import type { EmuRunResult } from './emulator';

const hex = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, '0');

/** The list of differences between the two runs (empty when they agree). */
export function compareRuns(c: DiffCase, nat: RunResult, emu: EmuRunResult): string[] {
  const d: string[] = [];
  if (emu.error) d.push(`emulator: ${emu.error}`);
  if (nat.error) d.push(`native: ${nat.error}`);
  const nf = nat.fault, ef = emu.fault;
  if (nf || ef) {
    const show = (f: RunResult['fault']) => (f ? `#${f.vector} at ${hex(f.eip)}` : 'no fault');
    if (!nf || !ef || nf.vector !== ef.vector || nf.eip !== ef.eip) d.push(`fault: native ${show(nf)}, emulator ${show(ef)}`);
  }
  for (let r = 0; r < 8; r++) if (nat.gpr[r] !== emu.gpr[r]) d.push(`${R32[r]}: native ${hex(nat.gpr[r])}, emulator ${hex(emu.gpr[r])}`);
  const mask = flagMask(c);
  if (((nat.eflags ^ emu.eflags) & mask) !== 0) {
    d.push(`eflags: native ${flagString(nat.eflags, mask)}, emulator ${flagString(emu.eflags, mask)} (differ: ${flagNames((nat.eflags ^ emu.eflags) & mask)})`);
  }
  const skip = emu.frame;
  const keep = (e: number) => !skip || (e >>> 8) < skip[0] || (e >>> 8) >= skip[1];
  const a = new Map(nat.changes.filter(keep).map((e) => [e >>> 8, e & 0xff]));
  const b = new Map(emu.changes.filter(keep).map((e) => [e >>> 8, e & 0xff]));
  const offs = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y);
  const bad = offs.filter((o) => a.get(o) !== b.get(o));
  if (bad.length > 0) {
    const cell = (m: Map<number, number>, o: number) => (m.has(o) ? hex(m.get(o)!, 2) : '--');
    const shown = bad.slice(0, 16).map((o) => `${hex(DATA_BASE + o)}: native ${cell(a, o)} emulator ${cell(b, o)}`);
    d.push(`memory: ${bad.length} byte(s) differ ('--' = unchanged)\n    ${shown.join('\n    ')}${bad.length > 16 ? '\n    …' : ''}`);
  }
  return d;
}

/** EFLAGS bits compared for a case: the user flags minus those undefined at the end. */
export function flagMask(c: DiffCase): number {
  return USER_FLAGS & ~c.undefMask;
}

const FLAG_BITS: Array<[number, string]> = [[0x800, 'OF'], [0x400, 'DF'], [0x80, 'SF'], [0x40, 'ZF'], [0x10, 'AF'], [0x4, 'PF'], [0x1, 'CF']];

export function flagNames(v: number): string {
  return FLAG_BITS.filter(([b]) => v & b).map(([, n]) => n).join(' ') || '-';
}

function flagString(v: number, mask: number): string {
  return `${hex(v)} [${FLAG_BITS.map(([b, n]) => (mask & b ? (v & b ? n : n.toLowerCase()) : '..')).join(' ')}]`;
}

let objdumpOk: boolean | null = null;

/** Disassembly of a case's code (objdump when installed, else a hex listing per instruction). */
export function disassemble(c: DiffCase): string {
  if (objdumpOk !== false) {
    const file = path.join(os.tmpdir(), `difftest-${process.pid}-${c.index}.bin`);
    try {
      fs.writeFileSync(file, c.code);
      const out = execFileSync('objdump', ['-D', '-b', 'binary', '-mi386', '-Mintel', `--adjust-vma=0x${c.codeAddr.toString(16)}`, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      objdumpOk = true;
      const lines = out.split('\n');
      const start = lines.findIndex((l) => l.includes('<.data>:'));
      return lines.slice(start + 1).filter((l) => l.trim()).map((l) => `  ${l.trim()}`).join('\n');
    } catch {
      objdumpOk = false;
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  return c.insns.map((i) => `  ${hex(c.codeAddr + i.offset)}: ${[...c.code.slice(i.offset, i.offset + i.length)].map((b) => hex(b, 2)).join(' ')}    ; ${i.kind}`).join('\n');
}

export function formatDivergence(c: DiffCase, nat: RunResult, emu: EmuRunResult, diffs: string[]): string {
  const init = R32.map((n, r) => `${n}=${hex(c.gpr[r])}`).join(' ');
  const under = c.insns.filter((i) => !i.kind.startsWith('setup')).map((i) => i.kind).join(', ');
  const regs = R32.map((n, r) => `    ${n.padEnd(6)} ${hex(nat.gpr[r])}  ${hex(emu.gpr[r])}${nat.gpr[r] !== emu.gpr[r] ? '  <--' : ''}`).join('\n');
  return [
    `divergence in case seed=${c.seed} index=${c.index} (rerun: npm run difftest -- --seed ${c.seed} --case ${c.index})`,
    `  instructions under test: ${under}`,
    `code (${c.code.length} bytes at ${hex(c.codeAddr)}):`,
    disassemble(c),
    `initial: ${init}`,
    `         eflags=${flagString(c.eflags, USER_FLAGS)} data seed=${hex(c.dataSeed)}; flags undefined at the end: ${flagNames(c.undefMask)}`,
    'differences:',
    ...diffs.map((d) => `  ${d}`),
    'final state:   native    emulator',
    regs,
    `    eflags ${hex(nat.eflags)}  ${hex(emu.eflags)}`,
  ].join('\n');
}

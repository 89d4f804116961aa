// Development aid: the translator against the interpreter. Boots the Linux guest twice in
// lockstep, translation off and on (translating every block at its first start), and compares
// the vCPU state after every slice; on the first difference it prints both states.
// Usage: node tools/run-ts.mjs tools/dev/jit-lockstep.ts [--slice N] [--max N] [--hot N] [--async]
// Translations are compiled synchronously, unless --async: then as in a machine, on V8's
// threads, and the run waits for the compiles in flight after every slice (so it goes the
// same way each time).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LocalMachine } from '../../engine-ts/worker/local-machine';
import { resolveConfig } from '../../engine-ts/config/machine';
import * as MM from '../../engine-wasm/memory-map';

const { values } = parseArgs({ options: { slice: { type: 'string' }, max: { type: 'string' }, hot: { type: 'string' }, skip: { type: 'string' }, check: { type: 'string' }, async: { type: 'boolean' } } });
const SLICE = Number(values.slice ?? 20_000);
const MAX = Number(values.max ?? 5e9);
const SKIP = Number(values.skip ?? 0);
const CHECK = Number(values.check ?? 2000);
process.env.PVLAB_JIT_HOT = values.hot ?? '1';
process.env.PVLAB_JIT_SYNC = values.async ? '0' : '1';
const dir = 'public/guests/linux';
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { cmdline: string };
const module = await WebAssembly.compile(fs.readFileSync('engine-wasm/build/core.wasm'));
const host = { idleWait: async () => {}, yieldToHost: async () => {}, wallNow: () => 0 };
const outs: string[] = ['', ''];
const mk = (jit: boolean, k: number) => LocalMachine.create(module, resolveConfig({
  memoryMiB: 128,
  guest: { kind: 'linux', kernel: fs.readFileSync(path.join(dir, 'bzImage')), initrd: fs.readFileSync(path.join(dir, 'initrd.img')), cmdline: manifest.cmdline, name: 'bzImage' },
  pacing: 'fast', rtcStartSeconds: 1_700_000_000, jit,
}), { onConsole: (b) => { outs[k] += Buffer.from(b).toString('latin1'); } }, host);
const ms = [await mk(false, 0), await mk(true, 1)];
const state = (m: LocalMachine) => {
  const v = m.board.vcpu;
  const regs = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => v.gpr(r) >>> 0);
  return { eip: v.eip >>> 0, eflags: m.board.cpu.getEflags() >>> 0, regs, icount: v.icount, cpl: v.cpl };
};
const fmt = (s: ReturnType<typeof state>) => `eip=${s.eip.toString(16)} fl=${s.eflags.toString(16)} cpl=${s.cpl} ic=${s.icount} ${s.regs.map((r) => r.toString(16)).join(' ')}`;
const ramHash = (m: LocalMachine) => {
  const a = new Int32Array(m.memory.buffer, MM.RAM_BASE, (128 << 20) / 4);
  let h = 0;
  for (let i = 0; i < a.length; i++) h = (Math.imul(h, 31) + a[i]) | 0;
  return h;
};
let n = 0;
for (let slice = 0; ; slice++) {
  for (const m of ms) {
    const exit = m.board.runSlice(SLICE);
    if (exit === MM.EXIT_HALT) m.board.skipToNextEvent();
  }
  if (values.async) await ms[1].runner.jit?.settled();
  const [a, b] = ms.map(state);
  n = Number(a.icount);
  const same = JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (!same || (slice % CHECK === 0 && n > SKIP && ramHash(ms[0]) !== ramHash(ms[1]))) {
    console.log(`DIFF after slice ${slice} (${n} cycles):\n interp ${fmt(a)}\n jit    ${fmt(b)}\nram ${ramHash(ms[0])} ${ramHash(ms[1])}`);
    const ra = new Uint32Array(ms[0].memory.buffer, MM.RAM_BASE, (128 << 20) / 4), rb = new Uint32Array(ms[1].memory.buffer, MM.RAM_BASE, (128 << 20) / 4);
    let shown = 0;
    for (let i = 0; i < ra.length && shown < 12; i++) if (ra[i] !== rb[i]) { console.log(`  phys ${(i * 4).toString(16)}: interp ${ra[i].toString(16)} jit ${rb[i].toString(16)}`); shown++; }
    console.log('jit stats', ms[1].runner.jit?.stats, 'jit retired', ms[1].board.vcpu.jitRetired);
    console.log('console tail (interp):', JSON.stringify(outs[0].slice(-300)));
    console.log('console tail (jit):', JSON.stringify(outs[1].slice(-300)));
    process.exit(1);
  }
  if (slice % 20000 === 0) console.log(`slice ${slice}: ${n} cycles, jit retired ${ms[1].board.vcpu.jitRetired}, ${ms[1].runner.jit?.stats.translations} translations`);
  if (n > MAX || /root@pvlab/.test(outs[0])) break;
}
console.log(`same state through ${n} cycles; jit retired ${ms[1].board.vcpu.jitRetired}`, ms[1].runner.jit?.stats);
// A run in which no translated code ran compared nothing.
if (!ms[1].board.vcpu.jitRetired) { console.log('translated code never ran'); process.exit(1); }

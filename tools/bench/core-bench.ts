// npm run bench: speed of the wasm x86 core on a fixed 32-bit guest mix (guest-mix.ts),
// next to the host CPU running the identical bytes natively (the difftest runner).
// Reports retired instructions (R_ICOUNT), wall seconds and MIPS (warm-up, then the median
// of 3 runs) and checks that both runs end in the same state.
// The core runs with paging on (4 KiB pages, as a Linux guest does); --no-paging turns it off.
// Usage: npm run bench -- [--rounds N] [--no-paging]
import fs from 'node:fs';
import path from 'node:path';
import { EmuRunner } from '../difftest/emulator';
import { buildRunner, runNativeTimed } from '../difftest/native';
import { compareRuns } from '../difftest/compare';
import { buildGuestMix, ROUNDS_DEFAULT } from './guest-mix';
import * as MM from '../../engine-wasm/memory-map';

const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function main(args: string[]): Promise<number> {
  let rounds = ROUNDS_DEFAULT;
  let paging = true;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--rounds') {
      rounds = Number(args[++i]);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds needs a positive integer');
    } else if (args[i] === '--no-paging') paging = false;
    else throw new Error(`unknown argument ${args[i]} (usage: npm run bench -- [--rounds N] [--no-paging])`);
  }
  const root = process.cwd();
  const wasmPath = path.join(root, 'engine-wasm', 'build', 'core.wasm');
  if (!fs.existsSync(wasmPath)) throw new Error('engine-wasm/build/core.wasm is missing: run `npm run asbuild` first');
  const mix = buildGuestMix(rounds);

  // wasm core: one warm-up run, then RUNS timed runs.
  const emu = await EmuRunner.create(fs.readFileSync(wasmPath), { paging });
  const budget = rounds * 4000 + 1000;
  let instructions = 0;
  const emuSecs: number[] = [];
  let emuResult = emu.run(mix, { maxInstructions: budget, chunk: 1_000_000 });
  for (let i = 0; i < RUNS; i++) {
    const before = emu.state.icount;
    const t0 = process.hrtime.bigint();
    emuResult = emu.run(mix, { maxInstructions: budget, chunk: 1_000_000 });
    emuSecs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const n = Number(emu.state.icount - before);
    if (instructions !== 0 && n !== instructions) throw new Error(`retired-instruction count changed between runs (${instructions} vs ${n})`);
    instructions = n;
  }
  if (emuResult.error) throw new Error(`wasm core: ${emuResult.error}`);

  // Native: the same case 1 + RUNS times in one process (the first one warms up).
  const runner = buildRunner(root);
  const nat = runNativeTimed(runner, Array(RUNS + 1).fill(mix), path.join(root, '.cache', 'bench'), `bench-${process.pid}`, true);
  const natSecs = nat.ns.slice(1).map((ns) => ns / 1e9);

  const emuT = median(emuSecs), natT = median(natSecs);
  const emuMips = instructions / emuT / 1e6, natMips = instructions / natT / 1e6;
  const fmt = (n: number, d: number) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const jit = (emu.core as { jit?: { enabled: boolean; stats: { translations: number; live: number; liveBytes: number } } }).jit;
  const share = Number(emu.state.u64(MM.R_JIT_RETIRED)) / Number(emu.state.retired);
  console.log(`guest mix: memcpy (REP MOVSD) + byte checksum + cdecl calls, ${rounds} rounds, 32-bit flat mode, paging ${paging ? 'on' : 'off'}`);
  console.log(jit?.enabled
    ? `translation to WebAssembly: on (PVLAB_JIT=0 turns it off); ${(share * 100).toFixed(1)} % of the instructions translated; ${jit.stats.translations} translations, ${jit.stats.live} held, ${(jit.stats.liveBytes / 1024).toFixed(1)} KiB of wasm`
    : 'translation to WebAssembly: off (interpreter only)');
  console.log(`${''.padEnd(14)}${'instructions'.padStart(14)}${'seconds'.padStart(10)}${'MIPS'.padStart(10)}`);
  console.log(`${'wasm core'.padEnd(14)}${fmt(instructions, 0).padStart(14)}${fmt(emuT, 3).padStart(10)}${fmt(emuMips, 1).padStart(10)}`);
  console.log(`${'native host'.padEnd(14)}${fmt(instructions, 0).padStart(14)}${fmt(natT, 3).padStart(10)}${fmt(natMips, 1).padStart(10)}`);
  console.log(`core/native: ${fmt((100 * emuMips) / natMips, 2)} % (the core is ${fmt(natMips / emuMips, 1)}x slower); runs: core ${emuSecs.map((s) => fmt(s, 3)).join(' ')} s, native ${natSecs.map((s) => fmt(s, 4)).join(' ')} s`);

  const diffs = compareRuns(mix, nat.results[RUNS], emuResult);
  if (diffs.length > 0) {
    console.error(`\n!!! FINAL STATE MISMATCH between the wasm core and the host CPU !!!\n  ${diffs.join('\n  ')}`);
    return 1;
  }
  console.log('final state: identical (registers, flags, data area)');
  return 0;
}

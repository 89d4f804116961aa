// Compare builds of the wasm core on the bench guest mix, interleaving their runs so both see
// the same machine load, and timing each run by the process's CPU time (user + system), which
// a busy shared machine disturbs far less than wall time. Reports the best run of each build.
// Usage: node tools/run-ts.mjs tools/bench/core-ab.ts [--rounds N] [--runs N] a.wasm [b.wasm ...]
import fs from 'node:fs';
import { EmuRunner } from '../difftest/emulator';
import { buildGuestMix } from './guest-mix';

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function main(args: string[]): Promise<number> {
  let rounds = 30_000;
  let runs = 5;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--rounds') rounds = Number(args[++i]);
    else if (args[i] === '--runs') runs = Number(args[++i]);
    else files.push(args[i]);
  }
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(runs) || runs < 1) throw new Error('--rounds/--runs need positive integers');
  if (files.length === 0) throw new Error('usage: core-ab.ts [--rounds N] [--runs N] a.wasm [b.wasm ...]');
  const mix = buildGuestMix(rounds);
  const budget = rounds * 4000 + 1000;
  const emus: EmuRunner[] = [];
  for (const f of files) {
    const emu = await EmuRunner.create(fs.readFileSync(f), { paging: true });
    emu.run(mix, { maxInstructions: budget, chunk: 1_000_000 }); // warm-up (tier-up)
    emus.push(emu);
  }
  const best = files.map(() => Infinity);
  let instructions = 0;
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < emus.length; k++) {
      const before = emus[k].state.icount;
      const t0 = cpuSeconds();
      const res = emus[k].run(mix, { maxInstructions: budget, chunk: 1_000_000 });
      const dt = cpuSeconds() - t0;
      if (res.error) throw new Error(`${files[k]}: ${res.error}`);
      instructions = Number(emus[k].state.icount - before);
      best[k] = Math.min(best[k], dt);
    }
  }
  for (let k = 0; k < files.length; k++) {
    console.log(`${files[k].padEnd(40)} ${(instructions / best[k] / 1e6).toFixed(1).padStart(7)} MIPS (CPU time, best of ${runs})`);
  }
  return 0;
}

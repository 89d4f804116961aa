// Development aid: where the Linux guest's boot instructions go. Boots public/guests/linux
// with EIP sampling on, types `grep … /proc/kallsyms` at the prompt to name the kernel's
// functions, and prints the top functions of the boot (power-on → prompt) by samples.
// Usage: node tools/run-ts.mjs tools/dev/boot-profile.ts [--every N (0: no samples)] [--top N] [--append 'kernel args']
// (It prints the boot's CPU seconds and the translator's stats; PVLAB_JIT=0 boots on the interpreter alone.)
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMachine } from '../../engine-ts/api/node';
import { functionShares, KernelSymbols } from '../bench/guest-profile';

const { values } = parseArgs({ options: { every: { type: 'string' }, top: { type: 'string' }, append: { type: 'string' } } });
const every = Number(values.every ?? 10_000);
const top = Number(values.top ?? 40);
const dir = 'public/guests/linux';
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { cmdline: string };
let out = '';
const machine = await createMachine('engine-wasm/build/core.wasm', {
  memoryMiB: 128,
  guest: { kind: 'linux', kernel: fs.readFileSync(path.join(dir, 'bzImage')), initrd: fs.readFileSync(path.join(dir, 'initrd.img')), cmdline: `${manifest.cmdline} ${values.append ?? ''}`.trim(), name: 'bzImage' },
  pacing: 'fast',
  rtcStartSeconds: 1_700_000_000,
}, { onConsole: (b) => { out += Buffer.from(b).toString('latin1'); } });
if (every > 0) await machine.profile(every);
const running = machine.run();
const t0 = Date.now();
const waitFor = async (re: RegExp, from: number): Promise<number> => {
  for (;;) {
    const m = re.exec(out.slice(from));
    if (m) return from + m.index + m[0].length;
    if (Date.now() - t0 > 1_800_000) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 50));
  }
};
const at = await waitFor(/root@pvlab:~# /, 0);
const boot = await machine.profile(0);
const st = await machine.stats();
const cpu = process.cpuUsage();
console.log(`boot: ${(st.instructions / 1e6).toFixed(0)} M instructions, ${((Date.now() - t0) / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, guest ${(st.guestNs / 1e9).toFixed(2)} s; translated ${(st.jit.share * 100).toFixed(1)} %`, st.jit);
machine.sendInput(new TextEncoder().encode("grep -E '^[0-9a-f]+ [tTwW] ' /proc/kallsyms; echo KALL''END\r"));
const end = await waitFor(/KALLEND\r?\n/, at);
const syms = KernelSymbols.parse(out.slice(at, end));
const shares = functionShares(boot, syms);
for (const s of shares.slice(0, top)) console.log(`${(s.share * 100).toFixed(2).padStart(6)} %  ${s.name}`);
await machine.stop();
await running;
machine.dispose();

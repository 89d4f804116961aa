// `npm run bench:pv`: the same in-guest disk workload over the emulated IDE disk (ata_piix,
// PIO/DMA through port I/O exits) and over the PV disk (xen-blkfront → blkback through a
// shared ring, grants and event channels), in one boot of one machine. Prints MB/s, VM exits
// per MiB and the PV/emulated ratios.
//
// Both disks are fresh dynamic VHD files of the same size. Workload per disk, with O_DIRECT
// so the guest page cache is out of the way:
//   write: dd if=/dev/zero of=DEV bs=1M count=32 oflag=direct
//   read:  dd if=DEV of=/dev/null bs=1M count=32 iflag=direct
// Each is run --rounds times (default 5, disks alternating) and each figure's median reported.
// --profile samples the guest's EIP during an extra first round (not counted) and names
// the kernel functions (from the guest's /proc/kallsyms) where each workload's instructions go.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BLKFRONT_CMDLINE, createMachine, type GuestProfile, type MachineHandle } from '../../engine-ts/api/node';
import { functionShares, KernelSymbols } from './guest-profile';
import { ConsoleSession } from './console-session';

const MIB = 32;

interface Phase { disk: string; op: string; wallS: number; guestS: number; exits: number; exitsPerMiB: number; kInstrPerMiB: number }

const DISKS = [['emulated IDE (ata_piix)', '/dev/sda'], ['PV (xen-blkfront)', '/dev/xvda']] as const;
/** --profile: one EIP sample per this many guest instructions (in an extra round). */
const PROFILE_EVERY = 1000;

/**
 * Each figure's median over the runs. (Exits and instructions per MiB vary too: how the
 * guest's block layer splits and merges requests depends on where its timer ticks fall.)
 */
function median(xs: Phase[]): Phase {
  const mid = <K extends 'wallS' | 'guestS' | 'exits' | 'kInstrPerMiB'>(k: K) => [...xs].sort((a, b) => a[k] - b[k])[(xs.length - 1) >> 1][k];
  const exits = mid('exits');
  return { disk: xs[0].disk, op: xs[0].op, wallS: mid('wallS'), guestS: mid('guestS'), exits, exitsPerMiB: exits / MIB, kInstrPerMiB: mid('kInstrPerMiB') };
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { verbose: { type: 'boolean' }, 'boot-timeout': { type: 'string' }, rounds: { type: 'string' }, profile: { type: 'boolean' } } });
  const root = process.cwd();
  const guestDir = path.join(root, 'public/guests/linux');
  for (const f of ['bzImage', 'initrd.img']) {
    if (!fs.existsSync(path.join(guestDir, f))) { console.error(`bench:pv: ${f} missing — run npm run guest:linux`); return 2; }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-bench-pv-'));
  const pvlab = (...a: string[]) => execFileSync(process.execPath, [path.join(root, 'tools/pvlab.mjs'), ...a], { cwd: root, stdio: 'ignore' });
  const ide = path.join(dir, 'ide.vhd'), pv = path.join(dir, 'pv.vhd');
  pvlab('disk', 'create', '--subformat', 'dynamic', ide, `${MIB + 8}M`);
  pvlab('disk', 'create', '--subformat', 'dynamic', pv, `${MIB + 8}M`);

  const session = new ConsoleSession(values.verbose ? (b) => process.stdout.write(b) : null);
  const machine: MachineHandle = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: 128,
    pacing: 'fast',
    rtcStartSeconds: 1_800_000_000,
    xen: true,
    consoleInput: 'hvc0',
    disks: [{ bus: 'ide', file: ide }, { bus: 'xen', file: pv }],
    guest: {
      kind: 'linux',
      kernel: new Uint8Array(fs.readFileSync(path.join(guestDir, 'bzImage'))),
      initrd: new Uint8Array(fs.readFileSync(path.join(guestDir, 'initrd.img'))),
      // Keep the emulated disk although PV drivers are present (the default unplugs it; "never"
      // would also switch the PV drivers off). blkfront options as the lab's page boots Linux.
      cmdline: `console=hvc0 tsc=reliable xen_emul_unplug=unnecessary cryptomgr.notests ${BLKFRONT_CMDLINE}`,
    },
  }, { onConsole: (b) => session.events.onOutput(b) });
  const running = machine.run();
  const t0 = performance.now();
  let seq = 0;
  const sh = async (cmd: string, phase: string, timeoutS = 1800) => {
    const n = ++seq;
    const from = session.length;
    machine.sendInput(new TextEncoder().encode(`${cmd}; echo "@@$((${n}*1000+7))@@"\r`));
    const m = await session.waitFor(new RegExp(`\\n@@${n * 1000 + 7}@@\\n`), timeoutS * 1000, phase, from);
    return session.slice(from, m.end);
  };
  try {
    const bootTimeout = Number(values['boot-timeout'] ?? 1800);
    await session.waitFor(/pvlab: ready[\s\S]*root@pvlab:~# $/, bootTimeout * 1000, 'boot');
    const bootS = (performance.now() - t0) / 1000;
    const devs = await sh('ls /sys/block; cat /sys/block/xvda/queue/max_hw_sectors_kb', 'devices');
    if (!/\bsda\b/.test(devs) || !/\bxvda\b/.test(devs)) throw new Error(`expected sda and xvda, the guest has: ${devs.trim()}`);
    const maxKiB = /^(\d+)\r?$/m.exec(devs)?.[1];
    const rounds = Number(values.rounds ?? 5);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds must be 1-50 (got ${values.rounds})`);
    const runs: Phase[] = [];
    const profiles = new Map<string, GuestProfile>();
    // Rounds alternate the disks, so a burst of host load hits both alike; medians are reported.
    // --profile adds a round -1, sampled and not counted (sampling slows the run).
    for (let round = values.profile ? -1 : 0; round < rounds; round++) {
      for (const [label, dev] of DISKS) {
        for (const op of ['write', 'read'] as const) {
          const cmd = op === 'write'
            ? `dd if=/dev/zero of=${dev} bs=1M count=${MIB} oflag=direct`
            : `dd if=${dev} of=/dev/null bs=1M count=${MIB} iflag=direct`;
          const profiling = round === -1;
          if (profiling) await machine.profile(PROFILE_EVERY);
          const st0 = await machine.stats();
          const t = performance.now();
          const out = await sh(cmd, `${label} ${op}`);
          const wallS = (performance.now() - t) / 1000;
          const st1 = await machine.stats();
          if (profiling) profiles.set(`${label} ${op}`, await machine.profile(0));
          if (!new RegExp(`${MIB}\\+0 records out`).test(out)) throw new Error(`${label} ${op}: dd did not finish: ${out.trim()}`);
          const exits = (st1.exits.io - st0.exits.io) + (st1.exits.mmio - st0.exits.mmio) + (st1.exits.hypercall - st0.exits.hypercall);
          const guestS = (st1.guestNs - st0.guestNs) / 1e9;
          if (!profiling) runs.push({ disk: label, op, wallS, guestS, exits, exitsPerMiB: exits / MIB, kInstrPerMiB: (st1.instructions - st0.instructions) / MIB / 1000 });
        }
      }
    }
    const phases = DISKS.flatMap(([label]) => (['write', 'read'] as const).map((op) => median(runs.filter((r) => r.disk === label && r.op === op))));
    print(phases, rounds, bootS, maxKiB ?? '?');
    if (values.profile) {
      // The guest's own symbol table (modules included), read through the console.
      const syms = KernelSymbols.parse(await sh("grep -E '^[0-9a-f]+ [tTwW] ' /proc/kallsyms", 'kallsyms', 600));
      printProfiles(profiles, syms);
    }
    return 0;
  } catch (e) {
    console.error(`bench:pv: ${(e as Error).message}`);
    return 1;
  } finally {
    await machine.stop();
    await running;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function print(p: Phase[], rounds: number, bootS: number, maxKiB: string): void {
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`\nbench:pv — ${MIB} MiB dd with O_DIRECT, median of ${rounds} rounds, same boot (boot took ${bootS.toFixed(0)} s wall); load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`xvda: requests of up to ${maxKiB} KiB (${BLKFRONT_CMDLINE})`);
  // Guest time: both disks are modelled as the same device (10 µs per request, 2 µs per sector).
  console.log('| disk | op | MB/s (wall) | MB/s (guest time) | VM exits | exits per MiB | guest instructions per MiB |');
  console.log('|---|---|--:|--:|--:|--:|--:|');
  for (const x of p) console.log(`| ${x.disk} | ${x.op} | ${f(MIB / x.wallS)} | ${f(MIB / x.guestS)} | ${x.exits} | ${f(x.exitsPerMiB, 0)} | ${f(x.kInstrPerMiB, 0)}k |`);
  for (const op of ['write', 'read']) {
    const e = p.find((x) => x.op === op && x.disk.startsWith('emulated'))!, v = p.find((x) => x.op === op && x.disk.startsWith('PV'))!;
    console.log(`PV/emulated ${op}: ${(e.wallS / v.wallS).toFixed(2)}× the emulated throughput (wall), ${(e.guestS / v.guestS).toFixed(2)}× (guest time), ${(e.exitsPerMiB / Math.max(1, v.exitsPerMiB)).toFixed(0)}× fewer exits per MiB`);
  }
}

/** --profile: the guest kernel functions that take most of each workload's instructions. */
function printProfiles(profiles: Map<string, GuestProfile>, syms: KernelSymbols): void {
  console.log(`\nWhere the guest's instructions go (one sample per ${PROFILE_EVERY} instructions, in a round of its own; ${syms.size} kernel symbols):`);
  for (const [phase, prof] of profiles) {
    const shares = functionShares(prof, syms);
    const total = shares.reduce((a, x) => a + x.samples, 0);
    console.log(`\n${phase}: ${total} samples`);
    for (const x of shares.slice(0, 15)) console.log(`  ${(100 * x.share).toFixed(1).padStart(5)} %  ${x.name}`);
  }
}

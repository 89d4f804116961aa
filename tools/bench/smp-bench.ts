// npm run bench:smp: the SMP speed-up. Boots the Linux guest (public/guests/linux) on 1 vCPU
// and on 2, and at the shell runs JOBS background `md5sum` jobs over the same file, waiting
// for all; measures the host's wall time from typing the line to its end marker (the median
// of ROUNDS runs). With one vCPU the jobs take turns; with two, two run at once, one per
// thread, so on a host with two free cores the wall time should nearly halve.
// The file is 16 MiB by default: a round then takes about 9 s on one vCPU here. With 4 MiB a
// round on two vCPUs is about 1.3 s of which a tenth is fixed cost that does not parallelize
// (the command line typed and echoed through the serial port, whose interrupt the guest
// routes to one CPU, and starting the jobs), and the rounds' spread (up to 30 %) hid the
// speed-up being measured.
// Usage: npm run bench:smp -- [--jobs N] [--mib N] [--rounds N] [--cpus 1,2]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMachine, type MachineHandle } from '../../engine-ts/api/node';

const GUEST = 'public/guests/linux';

function plain(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

class Shell {
  out = '';
  private n = 0;
  constructor(readonly m: MachineHandle) {}
  async waitFor(re: RegExp, from: number, ms: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const t = plain(this.out.slice(from));
      if (re.test(t)) return performance.now();
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}; console tail:\n${plain(this.out).slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Type a command line; resolves with the host ms it took until its marker came back. */
  async timed(cmd: string, ms: number): Promise<number> {
    const n = ++this.n;
    const from = this.out.length;
    const t0 = performance.now();
    this.m.sendInput(new TextEncoder().encode(`${cmd}; echo "@@$((${n}*1000+7))@@"\r`));
    const t1 = await this.waitFor(new RegExp(`\\n@@${n * 1000 + 7}@@\\n`), from, ms);
    return t1 - t0;
  }
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { jobs: { type: 'string' }, mib: { type: 'string' }, rounds: { type: 'string' }, cpus: { type: 'string' } } });
  const jobs = Number(values.jobs ?? 4);
  const mib = Number(values.mib ?? 16);
  const rounds = Number(values.rounds ?? 5);
  const cpuList = (values.cpus ?? '1,2').split(',').map(Number);
  const dir = path.join(process.cwd(), GUEST);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const kernel = new Uint8Array(fs.readFileSync(path.join(dir, 'bzImage')));
  const initrd = new Uint8Array(fs.readFileSync(path.join(dir, 'initrd.img')));
  const results: Array<{ cpus: number; boot: number; times: number[] }> = [];
  const load0 = os.loadavg()[0];
  for (const cpus of cpuList) {
    let sh: Shell | null = null;
    const t0 = performance.now();
    const m = await createMachine(path.join(process.cwd(), 'engine-wasm/build/core.wasm'), {
      memoryMiB: 128, vcpus: cpus, pacing: 'fast', rtcStartSeconds: Math.floor(Date.now() / 1000),
      guest: { kind: 'linux', kernel, initrd, cmdline: manifest.cmdline },
    }, { onConsole: (b) => { sh!.out += Buffer.from(b).toString('latin1'); } });
    sh = new Shell(m);
    const running = m.run();
    try {
      await sh.waitFor(/pvlab: ready[\s\S]*root@pvlab:~# $/, 0, 1_800_000);
      const boot = (performance.now() - t0) / 1000;
      await sh.timed(`dd if=/dev/zero of=/tmp/f bs=1M count=${mib} 2>/dev/null; md5sum /tmp/f`, 600_000);
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        times.push(await sh.timed(`for i in $(seq ${jobs}); do md5sum /tmp/f >/dev/null & done; wait`, 1_800_000) / 1000);
      }
      results.push({ cpus, boot, times });
      process.stderr.write(`${cpus} vCPU(s): boot ${boot.toFixed(1)} s, ${jobs} md5sum jobs: ${times.map((t) => t.toFixed(2)).join(' ')} s\n`);
    } finally {
      await m.stop();
      await running;
      m.dispose();
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = median(results[0].times);
  console.log(`| vCPUs | boot to shell (s) | ${jobs} × md5sum of ${mib} MiB, median of ${rounds} (s) | range (s) | speed-up |`);
  console.log('|---|--:|--:|--:|--:|');
  for (const r of results) {
    console.log(`| ${r.cpus} | ${r.boot.toFixed(1)} | ${median(r.times).toFixed(2)} | ${Math.min(...r.times).toFixed(2)}–${Math.max(...r.times).toFixed(2)} | ${(base / median(r.times)).toFixed(2)}× |`);
  }
  console.log(`\nhost: ${os.cpus().length} cores, load average ${load0.toFixed(2)} at the start, ${os.loadavg()[0].toFixed(2)} at the end`);
  return 0;
}

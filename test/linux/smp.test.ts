import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BLKFRONT_CMDLINE } from '../../engine-ts/api/node';
import { LinuxSession, root } from './guest';

/**
 * The Debian kernel on 2 and 4 vCPUs (each vCPU a worker thread over the one shared memory):
 * it brings every CPU online through the MADT, INIT and start-up IPIs, keeps the TSC (one
 * clock across the CPUs), and runs work on all of them.
 */
describe('Debian Linux guest on several vCPUs (emulated devices)', () => {
  for (const cpus of [2, 4]) {
    it(`boots on ${cpus} vCPUs: nproc and /proc/cpuinfo show ${cpus}, no CPU fails to come online, no lockup, the TSC stays${cpus === 2 ? '; a snapshot of it goes on on both CPUs' : ''}`, async () => {
      const s = await LinuxSession.start({ vcpus: cpus });
      try {
        await s.waitForShell();
        expect((await s.sh('nproc')).trim()).toBe(String(cpus));
        expect((await s.sh('grep -c ^processor /proc/cpuinfo')).trim()).toBe(String(cpus));
        // Every CPU runs work: one busy loop per CPU, then each CPU's busy time in /proc/stat grew.
        const busy = await s.sh(`for i in $(seq ${cpus}); do (i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done) & done; wait; grep '^cpu[0-9]' /proc/stat`);
        const userTicks = [...busy.matchAll(/^cpu(\d+) (\d+)/gm)].map((m) => Number(m[2]));
        expect(userTicks).toHaveLength(cpus);
        for (const t of userTicks) expect(t).toBeGreaterThan(0);
        const log = s.text;
        expect(log).toMatch(new RegExp(`smp: Brought up 1 node, ${cpus} CPUs`));
        expect(log).not.toMatch(/failed to come online|soft lockup|hard LOCKUP|TSC unstable|Marking TSC unstable|rcu_\w+ (?:self-)?detected stall|BUG:|Oops/);
        // (The echoed command line wraps on the console: the answer is the last line.)
        expect((await s.sh('cat /sys/devices/system/clocksource/clocksource0/current_clocksource')).trim().split('\n').at(-1)).toBe('tsc');
        if (cpus === 2) {
          // A snapshot holds every vCPU: the machine saved while it runs goes on in a new one,
          // on both CPUs (each CPU's busy time grows while two loops run).
          const file = await s.machine.snapshot();
          const r = await LinuxSession.resume(file);
          try {
            expect((await r.sh('nproc')).trim().split('\n').at(-1)).toBe('2');
            const out = await r.sh(`grep '^cpu[0-9]' /proc/stat; for i in 1 2; do (i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done) & done; wait; grep '^cpu[0-9]' /proc/stat`);
            const busy = [...out.matchAll(/^cpu(\d+) (\d+) \d+ (\d+)/gm)].map((m) => Number(m[2]) + Number(m[3]));
            expect(busy).toHaveLength(4);
            expect(busy[2]).toBeGreaterThan(busy[0]);
            expect(busy[3]).toBeGreaterThan(busy[1]);
            expect(r.text).not.toMatch(/soft lockup|hard LOCKUP|TSC unstable|rcu_\w+ (?:self-)?detected stall|BUG:|Oops/);
          } finally {
            await r.stop();
          }
        }
      } finally {
        await s.stop();
      }
    }, 1_800_000);
  }
});

/**
 * The same kernel as an HVM guest of "Xen" on 2 and 4 vCPUs: each CPU registers its own
 * vcpu_info (VCPUOP_register_vcpu_info) and takes event-channel upcalls; Linux's IPIs for its
 * spinlocks are per-CPU event channels. A PV disk works from every CPU.
 */
describe('Debian Linux guest on several vCPUs (Xen HVM, PV disk)', () => {
  for (const cpus of [2, 4]) {
    it(`boots on ${cpus} vCPUs: every CPU online with its own vcpu_info and event channels; xvda works from each CPU`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-xen-smp-'));
      const vhd = path.join(dir, 'xvda.vhd');
      execFileSync(process.execPath, [path.join(root, 'tools/pvlab.mjs'), 'disk', 'create', '--subformat', 'dynamic', vhd, '16M'], { cwd: root });
      const s = await LinuxSession.start({
        vcpus: cpus, xen: true, consoleInput: 'hvc0', disks: [{ bus: 'xen', file: vhd }],
        cmdline: `console=hvc0 tsc=reliable printk.time=1 cryptomgr.notests ${BLKFRONT_CMDLINE}`,
      });
      try {
        await s.waitForShell();
        const log = s.text;
        expect(log).toContain('Hypervisor detected: Xen HVM');
        expect(log).toMatch(new RegExp(`smp: Brought up 1 node, ${cpus} CPUs`));
        expect(log).not.toMatch(/failed to come online|soft lockup|hard LOCKUP|TSC unstable|Marking TSC unstable|rcu_\w+ (?:self-)?detected stall|\bBUG:|\bOops\b|vcpu_info.*failed/i);
        // Every CPU but the first says which event channel its spinlock kicks come on.
        for (let k = 1; k < cpus; k++) expect(log).toMatch(new RegExp(`cpu ${k} spinlock event irq \\d+`));
        expect((await s.sh('nproc')).trim()).toBe(String(cpus));
        expect((await s.sh('grep -c ^processor /proc/cpuinfo')).trim()).toBe(String(cpus));
        // Each CPU writes its own part of xvda (taskset pins the dd), then each part reads back.
        const parts = Array.from({ length: cpus }, (_, k) => k);
        const write = parts.map((k) => `taskset -c ${k} dd if=/dev/urandom of=/dev/xvda bs=64k seek=${k * 16} count=16 conv=fsync 2>/dev/null &`).join(' ');
        await s.sh(`${write} wait`);
        const sums = await s.sh(parts.map((k) => `taskset -c ${k} dd if=/dev/xvda bs=64k skip=${k * 16} count=16 2>/dev/null | md5sum`).join('; '));
        const md5s = [...sums.matchAll(/^([0-9a-f]{32}) /gm)].map((m) => m[1]);
        expect(md5s).toHaveLength(cpus);
        expect(new Set(md5s).size).toBe(cpus); // random data: every part differs (none stayed zero)
        // Upcalls reach every CPU (HYP), and each CPU's IPIs are its own event channels.
        const irqs = await s.sh('cat /proc/interrupts');
        const hyp = /^\s*HYP:((?:\s+\d+)+)/m.exec(irqs)?.[1].trim().split(/\s+/).map(Number);
        expect(hyp).toHaveLength(cpus);
        for (const n of hyp!) expect(n).toBeGreaterThan(0);
        for (let k = 0; k < cpus; k++) {
          // CPU k's rescheduling and function-call IPIs: event channels bound to it alone.
          const rows = [...irqs.matchAll(new RegExp(`^\\s*\\d+:((?:\\s+\\d+){${cpus}})\\s+xen-percpu\\s+-ipi\\s+(?:resched|callfunc|callfuncsingle)${k}$`, 'gm'))];
          expect(rows, `CPU ${k}'s IPI event channels in /proc/interrupts`).toHaveLength(3);
          const counts = rows.map((r) => r[1].trim().split(/\s+/).map(Number));
          expect(counts.reduce((sum, c) => sum + c[k], 0)).toBeGreaterThan(0);
          for (const c of counts) expect(c.filter((_, j) => j !== k).every((n) => n === 0)).toBe(true);
        }
        const cpuTicks = await s.sh(`grep '^cpu[0-9]' /proc/stat`);
        const userTicks = [...cpuTicks.matchAll(/^cpu(\d+) (\d+) \d+ (\d+)/gm)].map((m) => Number(m[2]) + Number(m[3]));
        expect(userTicks).toHaveLength(cpus);
        for (const t of userTicks) expect(t).toBeGreaterThan(0);
        expect((await s.sh('cat /sys/devices/system/clocksource/clocksource0/current_clocksource')).trim().split('\n').at(-1)).toBe('tsc');
      } finally {
        await s.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 1_800_000);
  }
});

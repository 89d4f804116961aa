import { describe, it, expect } from 'vitest';
import { LinuxSession } from './guest';

/**
 * The Debian kernel on 2 and 4 vCPUs (each vCPU a worker thread over the one shared memory):
 * it brings every CPU online through the MADT, INIT and start-up IPIs, keeps the TSC (one
 * clock across the CPUs), and runs work on all of them.
 */
describe('Debian Linux guest on several vCPUs (emulated devices)', () => {
  for (const cpus of [2, 4]) {
    it(`boots on ${cpus} vCPUs: nproc and /proc/cpuinfo show ${cpus}, no CPU fails to come online, no lockup, the TSC stays`, async () => {
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
        expect(log).not.toMatch(/failed to come online|soft lockup|hard LOCKUP|TSC unstable|Marking TSC unstable|rcu_sched self-detected stall|BUG:|Oops/);
        // (The echoed command line wraps on the console: the answer is the last line.)
        expect((await s.sh('cat /sys/devices/system/clocksource/clocksource0/current_clocksource')).trim().split('\n').at(-1)).toBe('tsc');
      } finally {
        await s.stop();
      }
    }, 1_800_000);
  }
});

import { describe, it, expect } from 'vitest';
import { LabNetwork } from '../../engine-ts/api/node';
import { LinuxSession } from './guest';

/**
 * Two Linux guests on the lab network: each has a xen-netfront NIC on its machine's switch,
 * both machines are plugged into one lab switch with a DHCP server; they take addresses with
 * busybox udhcpc and ping each other.
 */
describe('two Linux guests on the PV network', () => {
  it('get addresses over DHCP on eth0 (xen-netfront) and ping each other', async () => {
    const net = new LabNetwork();
    const cfg = (n: number) => ({
      xen: true, consoleInput: 'hvc0' as const, nics: [{ mac: `02:50:56:00:01:0${n}` }],
      cmdline: 'console=hvc0 tsc=reliable', rtcStartSeconds: 1_800_000_000 + n,
    });
    const a = await LinuxSession.start(cfg(1));
    const b = await LinuxSession.start(cfg(2));
    try {
      await net.attach(a.machine);
      await net.attach(b.machine);
      await Promise.all([a.waitForShell(1_800_000), b.waitForShell(1_800_000)]);
      for (const s of [a, b]) {
        expect(s.text).toMatch(/xen_netfront: Initialising Xen virtual ethernet driver/);
        const up = await s.sh('udhcpc -i eth0 -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script 2>&1 | tail -1; ip -4 addr show eth0', 300_000);
        expect(up).toMatch(/inet 10\.0\.2\.1\d\/24/);
      }
      const ipOf = (s: LinuxSession) => s.text.match(/pvlab: eth0 has address (10\.0\.2\.\d+)/)![1];
      const ipA = ipOf(a), ipB = ipOf(b);
      expect(ipA).not.toBe(ipB);
      const pingAB = await a.sh(`ping -c 3 -W 5 ${ipB}`, 300_000);
      expect(pingAB).toMatch(new RegExp(`3 packets transmitted, 3 packets received, 0% packet loss`));
      expect(pingAB).toMatch(new RegExp(`bytes from ${ipB.replace(/\./g, '\\.')}: seq=0 ttl=64`));
      const pingBA = await b.sh(`ping -c 2 -W 5 ${ipA}`, 300_000);
      expect(pingBA).toMatch(/2 packets transmitted, 2 packets received, 0% packet loss/);
      expect(net.stats.forwarded).toBeGreaterThan(0);
      expect(a.text + b.text).not.toMatch(/Oops|BUG:|WARNING:|Kernel panic/);
    } finally {
      await Promise.all([a.stop().catch(() => {}), b.stop().catch(() => {})]);
    }
  }, 3_000_000);
});

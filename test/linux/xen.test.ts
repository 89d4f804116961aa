import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinuxSession, root } from './guest';
import { BLKFRONT_CMDLINE } from '../../engine-ts/api/node';

const pvlab = (...args: string[]) => execFileSync(process.execPath, [path.join(root, 'tools/pvlab.mjs'), ...args], { cwd: root, encoding: 'utf8' });

/**
 * The same unmodified kernel in Xen HVM mode: it must find "Xen", bind its own PV frontends
 * (hvc0, xen-blkfront) to our backends, format and use xvda, and find the files again after
 * rebooting itself (SCHEDOP_shutdown → the machine reboots with the same disks).
 */
describe('Debian Linux guest on the PV bus (Xen HVM)', () => {
  it('detects Xen, runs its shell on hvc0, uses xvda through blkback, and keeps the files across a reboot', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-xen-'));
    const vhd = path.join(dir, 'xvda.vhd');
    pvlab('disk', 'create', '--subformat', 'dynamic', vhd, '64M');
    const s = await LinuxSession.start({
      xen: true, consoleInput: 'hvc0', disks: [{ bus: 'xen', file: vhd }],
      cmdline: `console=hvc0 tsc=reliable printk.time=1 cryptomgr.notests ${BLKFRONT_CMDLINE}`,
    });
    try {
      await s.waitForShell();
      const log = s.text;
      expect(log).toContain('Hypervisor detected: Xen HVM');
      expect(log).toContain('Xen HVM callback vector for event delivery is enabled');
      expect(log).toContain('printk: console [hvc0] enabled');
      expect(log).toMatch(/blkfront: xvda: flush diskcache: enabled/);
      expect(await s.sh('ls /sys/bus/pci/drivers')).toMatch(/xen-platform-pci/);
      expect(await s.sh('cat /sys/hypervisor/type 2>/dev/null || dmesg | grep -c "Xen HVM"')).toMatch(/xen|[1-9]/);
      expect(await s.sh('tty')).toMatch(/\/dev\/(hvc0|console)/);
      // The initramfs passed blkfront its option from the command line: 1 MiB indirect requests.
      expect(await s.sh('cat /sys/block/xvda/queue/max_hw_sectors_kb')).toMatch(/^1024\r?$/m);
      const out = await s.sh('mke2fs -q /dev/xvda && mount /dev/xvda /mnt && echo persisted-through-blkback > /mnt/note.txt && dd if=/dev/urandom of=/mnt/blob bs=64k count=16 2>/dev/null && md5sum /mnt/blob && sync && umount /mnt', 600_000);
      const md5 = out.match(/^([0-9a-f]{32})  \/mnt\/blob$/m)?.[1];
      expect(md5).toBeTruthy();
      // Reboot from inside the guest; the machine comes back with the same disk.
      s.mark = s.text.length;
      s.type('reboot -f');
      await s.waitForShell();
      const back = await s.sh('mount /dev/xvda /mnt && cat /mnt/note.txt && md5sum /mnt/blob && umount /mnt', 300_000);
      expect(back).toContain('persisted-through-blkback');
      expect(back).toContain(`${md5}  /mnt/blob`);
      expect(s.text).not.toMatch(/Oops|BUG:|WARNING:|Call Trace|Kernel panic/);
    } finally {
      await s.stop().catch(() => {});
    }
    // And the image is still a valid VHD with the file in it.
    const raw = path.join(dir, 'xvda.raw');
    execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
    expect(execFileSync('debugfs', ['-R', 'cat /note.txt', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('persisted-through-blkback\n');
  }, 2_400_000);
});

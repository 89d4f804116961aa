import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LinuxSession, root } from './guest';
import { BLKFRONT_CMDLINE, imagesFromFiles, resumeMachine } from '../../engine-ts/api/node';
import { createHash } from 'node:crypto';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

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
      const out = await s.sh('mke2fs -q /dev/xvda 32768 && mount /dev/xvda /mnt && echo persisted-through-blkback > /mnt/note.txt && dd if=/dev/urandom of=/mnt/blob bs=64k count=16 2>/dev/null && md5sum /mnt/blob && sync && umount /mnt', 600_000);
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

      // Determinism with a PV disk in the middle of a write: saved at cycle N (the disk file
      // copied beside the snapshot), the original runs to N+M; the snapshot resumed in a new
      // machine on the copy runs to N+M too; both end in the same machine and the same disk.
      await s.stop();
      const m = s.machine;
      // (It writes the disk's second half: the file system in the first half stays whole.)
      s.type('dd if=/dev/urandom of=/dev/xvda bs=64k seek=512 count=160 oflag=direct; echo dd-$((6*7))-done');
      const c0 = (await m.stats()).cycles;
      await m.run({ untilCycle: c0 + 150e6 });
      expect(s.text).not.toContain('dd-42-done'); // saved while dd writes
      const s1 = await m.snapshot();
      const copy = path.join(dir, 'at-save.vhd');
      fs.copyFileSync(vhd, copy);
      const out0 = s.text.length;
      await m.run({ untilCycle: c0 + 8000e6 });
      expect(s.text.slice(out0)).toContain('dd-42-done');
      const s2 = await m.snapshot();
      const { machine: b } = await resumeMachine(path.join(root, 'engine-wasm/build/core.wasm'), s1, {}, { disks: [{ bus: 'xen', file: copy }], images: imagesFromFiles(['bzImage', 'initrd.img'].map((f) => path.join(root, 'public/guests/linux', f))) });
      await b.run({ untilCycle: c0 + 8000e6 });
      const s2b = await b.snapshot();
      // Both machines are stopped with their disks flushed (a snapshot flushes them): compare now.
      const rawOf = (f: string) => { const r = `${f}.raw`; execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', f, r]); return sha(fs.readFileSync(r)); };
      const disks = [rawOf(copy), rawOf(vhd)];
      b.dispose();
      expect(sha(s2b)).toBe(sha(s2));
      expect(disks[0]).toBe(disks[1]);
    } finally {
      await s.stop().catch(() => {});
    }
    // And the image is still a valid VHD with the file in it.
    const raw = path.join(dir, 'xvda.raw');
    execFileSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw]);
    expect(execFileSync('debugfs', ['-R', 'cat /note.txt', raw], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('persisted-through-blkback\n');
  }, 2_400_000);
});

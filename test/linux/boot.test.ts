import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { createMachine } from '../../engine-ts/api/node';
import { loadLinuxGuest, plain, root } from './guest';

/**
 * Boots the unmodified Debian kernel headless (the same engine as the page), runs commands
 * at the busybox shell and checks their output. Also lists kernel-log warnings so a device
 * regression that makes Linux complain shows up as a failure.
 */
describe('Debian Linux guest, headless', () => {
  it('boots to a shell; uname, /proc/cpuinfo and md5sum of a known file are right', async () => {
    const g = loadLinuxGuest();
    let out = '';
    const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB: 128,
      pacing: 'fast',
      rtcStartSeconds: 1_800_000_000,
      guest: { kind: 'linux', kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline },
    }, { onConsole: (b) => { out += Buffer.from(b).toString('latin1'); } });
    const running = m.run();
    const waitFor = async (re: RegExp, ms: number) => {
      const t0 = Date.now();
      while (!re.test(plain(out))) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}; console tail:\n${plain(out).slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const type = (s: string) => m.sendInput(new TextEncoder().encode(s + '\r'));
    try {
      await waitFor(/pvlab: ready[\s\S]*root@pvlab:~# $/, 1_200_000);
      const bootLog = plain(out);
      type('uname -a; echo END1');
      await waitFor(/\nEND1\n/, 60_000);
      type('cat /proc/cpuinfo; echo END2');
      await waitFor(/\nEND2\n/, 60_000);
      type(`md5sum ${g.manifest.testFile!.path}; echo END3`);
      await waitFor(/\nEND3\n/, 60_000);
      const text = plain(out);
      expect(text).toMatch(new RegExp(`Linux pvlab ${g.manifest.kernelVersion.replace(/\./g, '\\.')} #1 SMP .* i686 GNU/Linux`));
      const cpuinfo = text.slice(text.indexOf('cat /proc/cpuinfo'), text.indexOf('\nEND2\n'));
      expect(cpuinfo).toMatch(/vendor_id\s*:\s*GenuineIntel/);
      expect(cpuinfo).toMatch(/cpu family\s*:\s*6/);
      const flags = cpuinfo.match(/flags\s*:(.*)/)?.[1].split(/\s+/) ?? [];
      for (const f of ['fpu', 'tsc', 'pae', 'cx8', 'apic', 'sep', 'cmov', 'pge', 'fxsr', 'nx']) expect(flags).toContain(f);
      expect(flags).not.toContain('sse'); // CPUID describes exactly what exists
      expect(text).toContain(`${g.manifest.testFile!.md5}  ${g.manifest.testFile!.path}`);
      // No oopses, BUGs or WARNINGs from the kernel.
      expect(bootLog).not.toMatch(/Oops|BUG:|WARNING:|Call Trace|Kernel panic/);
    } finally {
      await m.stop();
      await running;
    }
  }, 1_500_000);
});

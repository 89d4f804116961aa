// Shared helpers for tests that boot the Debian Linux guest (public/guests/linux, built by
// `npm run guest:linux`).
import fs from 'node:fs';
import path from 'node:path';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const guestDir = path.join(root, 'public/guests/linux');

export interface LinuxGuest {
  kernel: Uint8Array;
  initrd: Uint8Array;
  cmdline: string;
  manifest: { kernelVersion: string; cmdline: string; testFile?: { path: string; md5: string }; [k: string]: unknown };
}

export function loadLinuxGuest(): LinuxGuest {
  const need = ['bzImage', 'initrd.img', 'manifest.json'].map((f) => path.join(guestDir, f));
  for (const f of need) {
    if (!fs.existsSync(f)) throw new Error(`${path.relative(root, f)} is missing: build the Linux guest with \`npm run guest:linux\``);
  }
  const manifest = JSON.parse(fs.readFileSync(need[2], 'utf8'));
  return {
    kernel: new Uint8Array(fs.readFileSync(need[0])),
    initrd: new Uint8Array(fs.readFileSync(need[1])),
    cmdline: 'console=ttyS0,115200 tsc=reliable printk.time=1',
    manifest,
  };
}

/** Strip terminal escape sequences and carriage returns from console text. */
export function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

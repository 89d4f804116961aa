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
    cmdline: 'console=ttyS0,115200 tsc=reliable printk.time=1 cryptomgr.notests',
    manifest,
  };
}

/** Strip terminal escape sequences and carriage returns from console text. */
export function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

import { createMachine, imagesFromFiles, resumeMachine, type MachineConfig, type MachineHandle, type StopReason } from '../../engine-ts/api/node';

/** A booted guest driven through its console, as a user at the shell would. */
export class LinuxSession {
  private out = '';
  private seq = 0;
  private running: Promise<StopReason> | null = null;
  private constructor(readonly machine: MachineHandle) {}

  static async start(config: Omit<MachineConfig, 'guest'> & { cmdline?: string; decompress?: 'loader' | 'guest' }): Promise<LinuxSession> {
    const g = loadLinuxGuest();
    let session: LinuxSession | null = null;
    const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB: 128, pacing: 'fast', rtcStartSeconds: 1_800_000_000, ...config,
      guest: { kind: 'linux', kernel: g.kernel, initrd: g.initrd, cmdline: config.cmdline ?? g.cmdline, decompress: config.decompress },
    }, { onConsole: (b) => { session!.out += Buffer.from(b).toString('latin1'); } });
    session = new LinuxSession(m);
    session.running = m.run();
    return session;
  }

  /** A machine resumed from a snapshot (in a new machine, fast pacing), running. */
  static async resume(file: Uint8Array): Promise<LinuxSession> {
    let session: LinuxSession | null = null;
    const r = await resumeMachine(path.join(root, 'engine-wasm/build/core.wasm'), file, {
      onConsole: (b) => { session!.out += Buffer.from(b).toString('latin1'); },
    }, { pacing: 'fast', images: imagesFromFiles(['bzImage', 'initrd.img'].map((f) => path.join(root, 'public/guests/linux', f))) });
    session = new LinuxSession(r.machine);
    session.running = r.machine.run();
    return session;
  }

  /** Console text so far, without escape sequences and CRs. */
  get text(): string { return plain(this.out); }

  async waitFor(re: RegExp, ms: number, from = 0): Promise<void> {
    const t0 = Date.now();
    while (!re.test(plain(this.out.slice(from)))) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re}; console tail:\n${plain(this.out).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Wait for the shell prompt after boot (or after a reboot, looking only at new output). */
  async waitForShell(ms = 1_200_000): Promise<void> {
    await this.waitFor(/pvlab: ready[\s\S]*root@pvlab:~# $/, ms, this.mark);
  }

  /** Where the next waitForShell starts looking (set before triggering a reboot). */
  mark = 0;

  /** Run a shell command; resolves with its output (the lines between the command and the marker). */
  async sh(cmd: string, ms = 120_000): Promise<string> {
    const n = ++this.seq;
    const start = this.out.length;
    // The marker is computed by the shell, so the echoed command line never matches it.
    this.machine.sendInput(new TextEncoder().encode(`${cmd}; echo "@@$((${n}*1000+7))@@"\r`));
    const marker = `@@${n * 1000 + 7}@@`;
    await this.waitFor(new RegExp(`\\n${marker}\\n`), ms, start);
    const t = plain(this.out.slice(start));
    const firstNl = t.indexOf('\n');
    return t.slice(firstNl + 1, t.indexOf(`\n${marker}\n`) + 1);
  }

  /** Type without waiting (e.g. `reboot -f`). */
  type(text: string): void { this.machine.sendInput(new TextEncoder().encode(text + '\r')); }

  async stop(): Promise<void> {
    await this.machine.stop();
    await this.running;
  }
}

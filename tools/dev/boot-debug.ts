// Development aid: boot a Linux guest in-process and print the vCPU state periodically
// and when the run ends (reason, EIP, mode, last exception). Not part of the product CLI.
// node tools/run-ts.mjs tools/dev/boot-debug.ts KERNEL INITRD "CMDLINE" [seconds] [memMiB]
import fs from 'node:fs';
import { LocalMachine } from '../../engine-ts/worker/local-machine';
import { resolveConfig } from '../../engine-ts/config/machine';
import { loadCoreModuleFromFile } from '../../engine-ts/worker/node-host';
import * as MM from '../../engine-wasm/memory-map';

export async function main(args: string[]): Promise<number> {
  const [kernel, initrd, cmdline, secs = '60', mem = '128'] = args;
  const module = await loadCoreModuleFromFile('engine-wasm/build/core.wasm');
  let out = '';
  const host = {
    idleWait: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 1))),
    yieldToHost: () => new Promise<void>((r) => setImmediate(r)),
    wallNow: () => performance.now(),
  };
  const m = await LocalMachine.create(module, resolveConfig({
    memoryMiB: Number(mem), pacing: 'fast', rtcStartSeconds: 1_700_000_000,
    guest: { kind: 'linux', kernel: new Uint8Array(fs.readFileSync(kernel)), initrd: initrd ? new Uint8Array(fs.readFileSync(initrd)) : undefined, cmdline },
  }), { onConsole: (b) => { const s = Buffer.from(b).toString('latin1'); out += s; process.stdout.write(s); } }, host);
  const s = m.board.vcpu;
  const dump = (tag: string) => {
    const e = s.lastException;
    const cs = s.seg('cs');
    process.stderr.write(`\n[${tag}] icount=${s.icount} eip=${s.eip.toString(16)} cs=${cs.selector.toString(16)}/${cs.base.toString(16)} cr0=${s.cr0.toString(16)} cr3=${s.cr3.toString(16)} cr4=${s.cr4.toString(16)} cpl=${s.cpl} halted=${s.halted} ` +
      `exc#${e.count} last=${e.vector} code=${e.code.toString(16)} at=${e.eip.toString(16)} cr2=${s.cr2.toString(16)} esp=${s.gpr('esp').toString(16)} eflags=${m.board.cpu.getEflags().toString(16)} io=${m.board.exits.io} mmio=${m.board.exits.mmio}\n`);
  };
  const t = setInterval(() => dump('tick'), 5000);
  const timer = setTimeout(() => m.runner.requestStop(), Number(secs) * 1000);
  const t0 = performance.now();
  const reason = await m.run();
  clearInterval(t); clearTimeout(timer);
  dump(`end: ${JSON.stringify(reason)} after ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(Number(s.icount) / (performance.now() - t0) / 1000).toFixed(1)} MIPS`);
  void MM;
  return 0;
}

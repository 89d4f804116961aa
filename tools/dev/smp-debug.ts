// Development aid: boot the Linux guest with N vCPUs (threads, as `pvlab boot --cpus N`) and
// print each vCPU's run state, guest time, next deadline, pending request and EIP every few
// seconds. Not part of the product CLI.
// node tools/run-ts.mjs tools/dev/smp-debug.ts KERNEL INITRD "CMDLINE" [cpus] [seconds]
import fs from 'node:fs';
import { createNodeMachine } from '../../engine-ts/worker/node-host';
import type { LocalMachine } from '../../engine-ts/worker/local-machine';
import * as MM from '../../engine-wasm/memory-map';

export async function main(args: string[]): Promise<number> {
  const [kernel, initrd, cmdline, cpus = '2', secs = '120'] = args;
  const h = await createNodeMachine('engine-wasm/build/core.wasm', {
    memoryMiB: 128, vcpus: Number(cpus), pacing: 'fast', rtcStartSeconds: 1_700_000_000,
    guest: { kind: 'linux', kernel: new Uint8Array(fs.readFileSync(kernel)), initrd: new Uint8Array(fs.readFileSync(initrd)), cmdline },
  }, { onConsole: (b) => process.stdout.write(Buffer.from(b).toString('latin1')) });
  const m = (h as unknown as Record<symbol, LocalMachine>)[Object.getOwnPropertySymbols(h)[0]];
  const buf = m.memory.buffer;
  const ctrl = new DataView(buf, MM.CTRL_BASE, MM.CTRL_SIZE);
  const dump = () => {
    const lines = m.board.vcpus.map((v) => {
      const s = MM.CTRL_SMP_SLOTS + v.id * MM.SMP_SLOT_SIZE;
      return `  vcpu${v.id}: rs=${ctrl.getUint32(s + MM.SLOT_RUNSTATE, true)} req=${ctrl.getUint32(s + MM.SLOT_REQ, true)}/${ctrl.getUint32(s + MM.SLOT_KIND, true)} ` +
        `now=${(v.u64(MM.R_ICOUNT) / 1000n)}us dl=${(ctrl.getFloat64(s + MM.SLOT_DEADLINE, true) / 1000).toFixed(0)}us pend=${v.pending} halted=${v.halted} eip=${v.eip.toString(16)} parked=${ctrl.getUint32(s + MM.SLOT_PARKED, true)}`;
    });
    process.stderr.write(`\n[smp] run=${ctrl.getUint32(MM.CTRL_SMP_RUN, true)} exits=${JSON.stringify(m.board.exits)}\n${lines.join('\n')}\n`);
  };
  // Count the other vCPUs' port accesses by port (what they ask vCPU 0's thread for).
  const ports = new Map<string, number>();
  for (const v of m.board.vcpus.slice(1)) {
    const host = m.board.coreHostFor(v.id);
    const { ioRead, ioWrite } = host;
    host.ioRead = (p, sz) => { const k = `r${p.toString(16)}`; ports.set(k, (ports.get(k) ?? 0) + 1); return ioRead(p, sz); };
    host.ioWrite = (p, sz, val) => { const k = `w${p.toString(16)}`; ports.set(k, (ports.get(k) ?? 0) + 1); ioWrite(p, sz, val); };
  }
  const t = setInterval(() => { dump(); process.stderr.write(`  ports: ${JSON.stringify([...ports].sort((a, b) => b[1] - a[1]).slice(0, 8))}\n`); ports.clear(); }, 5000);
  const timer = setTimeout(() => void h.stop(), Number(secs) * 1000);
  const reason = await h.run();
  clearInterval(t); clearTimeout(timer);
  dump();
  process.stderr.write(`end: ${JSON.stringify(reason)}\n`);
  h.dispose();
  return 0;
}

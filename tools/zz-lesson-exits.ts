// scratch: reproduce the emulated-vs-pv lesson's exit counts in Node
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createMachine, BLKFRONT_CMDLINE } from '../engine-ts/api/node';
const dir = 'public/guests/linux';
const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
for (const f of ['sd.vhd', 'xvd.vhd']) { fs.rmSync('/tmp/lesson/' + f, { force: true }); execFileSync(process.execPath, ['tools/pvlab.mjs', 'disk', 'create', '--subformat', 'dynamic', '/tmp/lesson/' + f, '64M']); }
let out = '';
const cmdline = `${'console=ttyS0,115200 tsc=reliable printk.time=1 init_on_free=1 cryptomgr.notests'.replace(/console=ttyS0[^ ]*/, 'console=hvc0')} ${BLKFRONT_CMDLINE} xen_emul_unplug=unnecessary`;
const m = await createMachine(path.resolve('engine-wasm/build/core.wasm'), {
  memoryMiB: 128, pacing: 'realtime', rtcStartSeconds: 1_800_000_000, xen: true, consoleInput: 'hvc0',
  nics: [{ mac: '02:50:56:00:02:01' }],
  disks: [{ bus: 'ide', file: '/tmp/lesson/sd.vhd' }, { bus: 'xen', file: '/tmp/lesson/xvd.vhd' }],
  guest: { kind: 'linux', kernel: new Uint8Array(fs.readFileSync(path.join(dir, 'bzImage'))), initrd: new Uint8Array(fs.readFileSync(path.join(dir, 'initrd.img'))), cmdline },
}, { onConsole: (b) => { out += Buffer.from(b).toString('latin1'); } });
void m.run();
const wait = async (re: RegExp, from: number) => { while (!re.test(out.slice(from))) await new Promise((r) => setTimeout(r, 100)); };
await wait(/root@pvlab:~# $/, 0);
console.log('shell');
for (const cmd of ['dd if=/dev/zero of=/dev/sda bs=1M count=32 oflag=direct', 'dd if=/dev/zero of=/dev/xvda bs=1M count=32 oflag=direct', 'sleep 3']) {
  await new Promise((r) => setTimeout(r, 2000));
  const a = await m.stats(); const ia = await m.inspect({ timeline: false });
  const from = out.length;
  m.sendInput(new TextEncoder().encode(cmd + '; echo DONE$((1+1))\r'));
  await wait(/DONE2/, from);
  const b = await m.stats(); const ib = await m.inspect({ timeline: false });
  const bytes = b.disks.map((d, i) => d.writtenBytes - a.disks[i].writtenBytes);
  console.log(cmd, 'io', b.exits.io - a.exits.io, 'mmio', b.exits.mmio - a.exits.mmio, 'hc', b.exits.hypercall - a.exits.hypercall, 'bytes', bytes, 'guestms', (ib.guestNs - ia.guestNs) / 1e6);
  const dev = ib.devices.map((d) => { const o = ia.devices.find((x) => x.name === d.name); return [d.name, d.io - (o?.io ?? 0), d.mmio - (o?.mmio ?? 0)]; }).filter((x) => x[1] || x[2]);
  console.log(' by device', JSON.stringify(dev));
  const hc = ib.xen!.hypercalls.map((h) => [h.name, h.count - (ia.xen!.hypercalls.find((x) => x.op === h.op)?.count ?? 0)]).filter((x) => x[1]);
  console.log(' hypercalls', JSON.stringify(hc));
}
await m.stop();
process.exit(0);

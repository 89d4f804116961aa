// Hot-plug on the real guest: the shipped Xen snapshot resumed, a PV disk plugged into the
// running Linux (blkfront and blkback walk the xenbus states 1 → 4, seen in the inspector's
// timeline), written to, saved in a snapshot that still describes the machine (the new disk
// is part of it), resumed from that snapshot, and unplugged again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSnapshotHeader, timelineEvents, type MachineHandle, type TimelineEvent } from '../../engine-ts/api/node';
import { FileStore } from '../../engine-ts/disk/file-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { resume, shipped, type Resumed } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-hotplug-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function vhd(name: string, mib: number): Promise<string> {
  const file = path.join(tmp, name);
  const disk = await VhdDisk.create(await FileStore.open(file, 'create'), { type: 'dynamic', size: mib << 20, now: new Date(Date.UTC(2026, 0, 1)), uniqueId: new Uint8Array(16).fill(7) });
  await disk.close();
  return file;
}

let marker = 0;
/** Type a command, run the machine until its end marker shows, return its output. */
async function sh(r: Resumed, cmd: string, budget = 20e9): Promise<string> {
  const n = ++marker;
  const from = r.output().length;
  r.machine.sendInput(new TextEncoder().encode(`${cmd}; echo "@@$((${n}+1000))@@"\r`));
  const stats = await r.machine.stats();
  for (let c = stats.cycles; ; ) {
    c += 200e6;
    await r.machine.run({ untilCycle: c });
    const out = r.output().slice(from);
    if (out.includes(`@@${n + 1000}@@`)) return out;
    if (c - stats.cycles > budget) throw new Error(`no end marker for ${JSON.stringify(cmd)}:\n${out.slice(-2000)}`);
  }
}

/** Run until `pred` holds for the timeline gathered so far. */
async function runUntil(m: MachineHandle, events: TimelineEvent[], pred: () => boolean, budget = 10e9): Promise<void> {
  const start = (await m.stats()).cycles;
  for (let c = start; !pred(); ) {
    c += 50e6;
    await m.run({ untilCycle: c });
    const s = await m.inspect({ eventsFrom: events.length ? events[events.length - 1].seq + 1 : 0 });
    events.push(...timelineEvents(s.timeline));
    if (c - start > budget) throw new Error('condition not reached');
  }
}

const stateWrites = (events: TimelineEvent[], end: 'device' | 'backend', devid: number) =>
  events.filter((e) => e.kind === 'xs-write' && e.text!.endsWith(`/${end === 'device' ? 'device' : 'backend'}/vbd/${end === 'device' ? '' : '1/'}${devid}/state`)).map((e) => Number(e.text2));

describe('hot-plug into a running Linux (shipped Xen snapshot)', () => {
  it('plugs xvda: both ends walk 1 → 4 in the timeline; the snapshot after it resumes with the disk; unplug removes it', async () => {
    const a = await resume(shipped('linux-xen'));
    const first = await a.machine.inspect(); // starts the timeline
    expect(first.recording).toBe(true);
    expect(first.xen!.devices.map((d) => d.name)).toEqual(['vif0']);

    const file = await vhd('xvda.vhd', 16);
    const plugged = await a.machine.addDisk({ bus: 'xen', file });
    expect(plugged).toEqual({ unit: 0, name: 'xvda', devid: 51712 });
    const events: TimelineEvent[] = [];
    await runUntil(a.machine, events, () => stateWrites(events, 'device', 51712).includes(4) && stateWrites(events, 'backend', 51712).includes(4));
    // The toolstack writes both ends Initialising (1); blkback offers its features and waits
    // (InitWait, 2); Linux's blkfront publishes its ring (Initialised, 3); blkback maps it and
    // connects (4), and blkfront, seeing that, connects too (4).
    expect(stateWrites(events, 'backend', 51712)).toEqual([1, 2, 4]);
    expect(stateWrites(events, 'device', 51712)).toEqual([1, 3, 4]);
    expect(events.some((e) => e.kind === 'watch' && e.dom === 0 && e.text!.endsWith('/device/vbd/51712/state'))).toBe(true);
    expect(events.some((e) => e.kind === 'grant-map' && (e.c & 2) !== 0)).toBe(true); // blkback maps the ring

    const out = await sh(a, 'dd if=/dev/urandom of=/dev/xvda bs=4k count=64 && sync && md5sum /dev/xvda | cut -c1-32 > /tmp/sum && cat /tmp/sum');
    const sum = /([0-9a-f]{32})/.exec(out.slice(out.indexOf('cat /tmp/sum') + 12))?.[1];
    expect(sum).toBeTruthy();
    const s = await a.machine.inspect({ timeline: false });
    const ring = s.xen!.rings.find((r) => r.name === 'vbd 51712')!;
    expect(ring.protocol).toBe('blkif');
    expect(ring.size).toBe(32);
    expect(ring.req_prod).toBeGreaterThan(0);
    expect(ring.rsp_prod).toBe(ring.req_prod);
    const port = s.xen!.ports.find((p) => p.peer === 'vbd 51712')!;
    expect(port.type).toBe('interdomain');
    expect(port.sent).toBeGreaterThan(0);
    expect(port.received).toBeGreaterThan(0);
    expect(s.xen!.devices.find((d) => d.name === 'xvda')).toMatchObject({ backendState: 4, frontendState: 4 });
    expect((await a.machine.stats()).disks).toEqual([expect.objectContaining({ name: 'xvda', bus: 'xen', unit: 0 })]);
    expect((await a.machine.stats()).disks[0].writtenBytes).toBeGreaterThanOrEqual(256 * 1024);

    // The snapshot describes the machine as it is now: it needs the disk to resume.
    const snap = await a.machine.snapshot();
    // Or it carries the disk: in full, and in a delta against the shipped snapshot (a link),
    // which adds the disk to the base's machine.
    const carrying = await a.machine.snapshot({ carryDisks: true, diskNames: ['lesson disk'] });
    const delta = await a.machine.snapshot({ carryDisks: true, base: shipped('linux-xen') });
    await expect(a.machine.snapshot({ base: shipped('linux-xen') })).rejects.toThrow(/base snapshot is of a different machine/);
    a.machine.dispose();
    const plug = (await readSnapshotHeader(carrying)).header.disks;
    // (16 MiB rounded up to a CHS geometry, as qemu-img does.)
    const vd = await VhdDisk.open(await FileStore.open(file, 'read'));
    expect(plug).toEqual([{ slot: 0, size: vd.size, name: 'lesson disk' }]);
    expect(vd.size).toBeGreaterThanOrEqual(16 << 20);
    await vd.close();
    await expect(resume(carrying)).rejects.toThrow(/carries its disks, and this host cannot make disks from them/);
    const made = path.join(tmp, 'made.vhd');
    const c = await resume(delta, { base: shipped('linux-xen'), carriedDiskFile: () => made });
    expect(await sh(c, 'md5sum /dev/xvda')).toContain(sum!);
    c.machine.dispose();
    // The copy holds just what the guest wrote (a dynamic VHD of 2 MiB blocks).
    expect(fs.statSync(made).size).toBeLessThan(3 << 20);
    console.log(`a delta carrying the disk: ${(delta.length / 1024).toFixed(0)} KiB`);
    await expect(resume(carrying, { carriedDiskFile: () => made })).rejects.toThrow(/exists already/);

    await expect(resume(snap)).rejects.toThrow(/has 1 disk; 0 were given/);
    const b = await resume(snap, { disks: [{ bus: 'xen', file }] });
    expect((await b.machine.inspect()).xen!.devices.map((d) => d.name)).toEqual(['xvda', 'vif0']);
    expect(await sh(b, 'md5sum /dev/xvda')).toContain(sum!);

    // Unplug: the guest closes its end, the device and its directories go.
    const gone = b.machine.removeDisk(0);
    let done = false;
    void gone.then(() => { done = true; });
    for (let c = (await b.machine.stats()).cycles; !done; ) {
      c += 50e6;
      await b.machine.run({ untilCycle: c });
    }
    await gone;
    const after = await b.machine.inspect();
    expect(after.xen!.devices.map((d) => d.name)).toEqual(['vif0']);
    expect(after.xen!.xenstore.nodes.some((n) => n.path.includes('/vbd/1/51712') || n.path.includes('/device/vbd/51712'))).toBe(false);
    expect(await sh(b, 'ls /sys/block')).not.toContain('xvda');
    expect((await b.machine.stats()).disks).toEqual([]);
    b.machine.dispose();
  }, 1_800_000); // (18 to 35 s alone here; 11 min once beside the SMP boots, whose vCPU threads take the cores)
});

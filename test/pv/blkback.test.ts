import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, MAX_INDIRECT_SEGMENTS } from '../../engine-ts/pv/backends/blkback';
import { PAGE } from './fake-guest';
import { MemDisk, settle, SimBlkFront, World } from './sim-guest';

const MiB = 1024 * 1024;

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

function setup(diskOpts: { readOnly?: boolean; size?: number } = {}) {
  const w = new World();
  const g = w.addGuest(1);
  const disk = new MemDisk(diskOpts.size ?? 4 * MiB, diskOpts.readOnly);
  disk.data.set(pattern(disk.size, 1));
  const back = w.ts.addDisk(1, 0, disk);
  const front = new SimBlkFront(g);
  return { w, g, disk, back, front };
}

describe('blkback', () => {
  it('toolstack lays out xenstore as Linux expects', () => {
    const { g, w } = setup();
    expect(g.xsRead('name')).toBe('guest');
    expect(g.xsRead('domid')).toBe('1');
    expect(g.xsRead('memory/target')).toBe(String(16 * 1024));
    expect(g.xsRead('device/vbd/51712/backend')).toBe('/local/domain/0/backend/vbd/1/51712');
    expect(g.xsRead('device/vbd/51712/backend-id')).toBe('0');
    expect(g.xsRead('device/vbd/51712/virtual-device')).toBe('51712');
    expect(g.xsRead('device/vbd/51712/device-type')).toBe('disk');
    expect(g.xsRead('device/vbd/51712/state')).toBe('1');
    expect(g.xsRead('/local/domain/0/backend/vbd/1/51712/state')).toBe('2'); // backend already InitWait
    expect(g.xsRead('/local/domain/0/backend/vbd/1/51712/feature-flush-cache')).toBe('1');
    expect(g.xsRead('/local/domain/0/backend/vbd/1/51712/dev')).toBe('xvda');
    // The guest cannot write the backend's directory or another domain's.
    expect(g.xsWrite('/local/domain/0/backend/vbd/1/51712/state', '4')).toBe('EACCES|');
    expect(w.ts.xs.read('/local/domain/1/device/vbd/51712/state')).toBe('1');
  });

  it('connects through the xenbus handshake and publishes the disk geometry', () => {
    const { front, back } = setup();
    front.connect();
    expect(back.state).toBe(X.XenbusState.Connected);
    expect(front.sectors).toBe((4 * MiB) / 512);
    expect(front.info).toBe(0);
    expect(front.g.xsRead('device/vbd/51712/state')).toBe('4');
  });

  it('reads and writes data through granted pages and flushes', async () => {
    const { front, disk, g } = setup();
    front.connect();
    const r = await front.read(100, 20);
    expect(r.rsp.status).toBe(BLKIF_RSP_OKAY);
    expect(r.rsp.operation).toBe(0);
    expect(r.data).toEqual(disk.data.slice(100 * 512, 120 * 512));

    const data = pattern(11 * 4096, 9);
    const w = await front.write(2000, data);
    expect(w).toMatchObject({ status: BLKIF_RSP_OKAY, operation: 1 });
    expect(disk.data.slice(2000 * 512, 2000 * 512 + data.length)).toEqual(data);
    expect((await front.read(2000, 88)).data).toEqual(data);

    const before = disk.flushes;
    expect(await front.flush()).toMatchObject({ status: BLKIF_RSP_OKAY, operation: 3 });
    expect(disk.flushes).toBe(before + 1);
    // Every grant the backend used was released (Linux can revoke them).
    expect(g.t.dom.grants.activeCount()).toBe(1); // only the ring stays mapped
  });

  it('honours first_sect/last_sect inside each segment page', async () => {
    const { front, disk, g } = setup();
    front.connect();
    const gfn = g.allocPage();
    g.mem.peek(gfn * PAGE, PAGE).fill(0xee);
    const gref = g.grant(gfn, false);
    front.put(0, 77n, 8, [{ gref, first: 3, last: 5 }]);
    front.push();
    const [rsp] = await front.waitFor(1);
    expect(rsp).toEqual({ id: 77n, operation: 0, status: 0 });
    const page = g.mem.peek(gfn * PAGE, PAGE);
    expect(page.slice(0, 3 * 512).every((b) => b === 0xee)).toBe(true);
    expect(page.slice(3 * 512, 6 * 512)).toEqual(disk.data.slice(8 * 512, 11 * 512));
    expect(page.slice(6 * 512).every((b) => b === 0xee)).toBe(true);
  });

  it('answers bad requests with errors and keeps serving', async () => {
    const { front, disk, g } = setup();
    front.connect();
    const gfn = g.allocPage();
    const gref = g.grant(gfn, false);
    const roRef = g.grant(g.allocPage(), true);
    const total = disk.size / 512;
    const cases: [string, () => void, number][] = [
      ['12 segments', () => front.put(0, 1n, 0, [{ gref, first: 0, last: 0 }], 12), BLKIF_RSP_ERROR],
      ['no segments', () => front.put(1, 2n, 0, [], 0), BLKIF_RSP_ERROR],
      ['last_sect 8', () => front.put(0, 3n, 0, [{ gref, first: 0, last: 8 }]), BLKIF_RSP_ERROR],
      ['first > last', () => front.put(0, 4n, 0, [{ gref, first: 5, last: 4 }]), BLKIF_RSP_ERROR],
      ['past the end', () => front.put(0, 5n, total - 2, [{ gref, first: 0, last: 7 }]), BLKIF_RSP_ERROR],
      ['huge sector', () => front.put(0, 6n, 2 ** 60, [{ gref, first: 0, last: 0 }]), BLKIF_RSP_ERROR],
      ['bad grant ref', () => front.put(0, 7n, 0, [{ gref: 100000, first: 0, last: 0 }]), BLKIF_RSP_ERROR],
      ['read into read-only grant', () => front.put(0, 8n, 0, [{ gref: roRef, first: 0, last: 0 }]), BLKIF_RSP_ERROR],
      ['unknown op', () => front.put(9, 9n, 0, []), BLKIF_RSP_EOPNOTSUPP],
      ['indirect without segments', () => front.put(6, 10n, 0, []), BLKIF_RSP_ERROR],
      ['indirect flush', () => front.put(6, 11n, 0, [], 3), BLKIF_RSP_EOPNOTSUPP],
    ];
    for (const [, put] of cases) put();
    front.push();
    // Answers may come in any order (requests run concurrently); the frontend matches ids.
    const rsps = (await front.waitFor(cases.length)).sort((a, b) => Number(a.id - b.id));
    expect(rsps.map((r) => [Number(r.id), r.status])).toEqual(cases.map(([, , s], i) => [i + 1, s]));
    expect(g.mem.peek(gfn * PAGE, PAGE).every((b) => b === 0)).toBe(true); // nothing written through bad requests
    // Still serving.
    expect((await front.read(0, 1)).data).toEqual(disk.data.slice(0, 512));
  });

  it('a disk error fails only that request', async () => {
    const { front, disk } = setup();
    front.connect();
    disk.failNext = true;
    expect((await front.read(0, 8)).rsp.status).toBe(BLKIF_RSP_ERROR);
    expect((await front.read(0, 8)).rsp.status).toBe(BLKIF_RSP_OKAY);
  });

  it('a read-only disk refuses writes but reads and flushes', async () => {
    const { front, disk } = setup({ readOnly: true });
    front.connect();
    expect(front.info & 4).toBe(4);
    expect((await front.write(0, new Uint8Array(512))).status).toBe(BLKIF_RSP_ERROR);
    expect(disk.writes).toBe(0);
    expect((await front.read(0, 1)).rsp.status).toBe(BLKIF_RSP_OKAY);
    expect((await front.flush()).status).toBe(BLKIF_RSP_OKAY);
  });

  it('discard when the disk supports it', async () => {
    const { front, disk, g } = setup();
    front.connect();
    expect(g.xsRead('/local/domain/0/backend/vbd/1/51712/feature-discard')).toBe('1');
    const off = front.ring + 64 + (front.req_prod_pvt % 32) * 108;
    g.mem.peek(off, 108).fill(0);
    // blkif_request_discard (i386): op @0, flag @1, handle @2, id @4, sector @12, nr_sectors @20
    const put = (id: number, sector: number, nr: number) => {
      const o = front.ring + 64 + (front.req_prod_pvt % 32) * 108;
      g.mem.peek(o, 108).fill(0);
      g.mem.peek(o, 1)[0] = 5;
      g.mem.setU32(o + 4, id);
      g.mem.setU32(o + 12, sector);
      g.mem.setU32(o + 20, nr);
      front.req_prod_pvt++;
    };
    put(1, 16, 32);
    put(2, disk.size / 512 - 1, 2);
    front.push();
    const r = (await front.waitFor(2)).sort((a, b) => Number(a.id - b.id));
    expect(r.map((x) => x.status)).toEqual([BLKIF_RSP_OKAY, BLKIF_RSP_ERROR]);
    expect(disk.discards).toEqual([[16, 32]]);
  });

  it('a frontend that overruns the ring is disconnected with an error, and can reconnect', async () => {
    const { front, back, g, w, disk } = setup();
    front.connect();
    g.mem.setU32(front.ring, 1000); // req_prod far ahead of anything possible
    g.send(front.port);
    await settle(() => back.state === X.XenbusState.Closing);
    expect(back.state).toBe(X.XenbusState.Closing);
    expect(w.ts.xs.read('/local/domain/0/error/backend/vbd/1/51712/error')).toMatch(/bogus ring requests/);
    expect(g.t.dom.grants.activeCount()).toBe(0); // ring unmapped
    // Linux-style recovery: Closing -> Closed -> Initialising -> new ring.
    g.switchState(front.nodename, X.XenbusState.Closing);
    g.switchState(front.nodename, X.XenbusState.Closed);
    expect(back.state).toBe(X.XenbusState.Closed);
    g.switchState(front.nodename, X.XenbusState.Initialising);
    expect(back.state).toBe(X.XenbusState.InitWait);
    front.connect();
    expect((await front.read(10, 4)).data).toEqual(disk.data.slice(10 * 512, 14 * 512));
  });

  it('indirect requests move up to 256 pages at once, through granted segment pages', async () => {
    const { front, disk, g, back } = setup();
    front.connect();
    expect(g.xsRead('/local/domain/0/backend/vbd/1/51712/feature-max-indirect-segments')).toBe(String(MAX_INDIRECT_SEGMENTS));
    // Write 1 MiB (256 pages, one indirect page of descriptors), then read it back.
    const data = pattern(MAX_INDIRECT_SEGMENTS * PAGE, 5);
    const pages = Array.from({ length: MAX_INDIRECT_SEGMENTS }, (_, i) => {
      const gfn = g.allocPage();
      g.mem.peek(gfn * PAGE, PAGE).set(data.subarray(i * PAGE, (i + 1) * PAGE));
      return { gfn, gref: g.grant(gfn, false) };
    });
    const seg = pages.map((p) => ({ gref: p.gref, first: 0, last: 7 }));
    expect((await front.indirect(1, 40n, 64, seg)).status).toBe(BLKIF_RSP_OKAY);
    expect(disk.data.slice(64 * 512, 64 * 512 + data.length)).toEqual(data);
    for (const p of pages) g.mem.peek(p.gfn * PAGE, PAGE).fill(0);
    // A read with partial first/last segments lands exactly where the segments say.
    const part = [{ ...seg[0], first: 2, last: 7 }, ...seg.slice(1, 9), { ...seg[9], first: 0, last: 3 }];
    const rsp = await front.indirect(0, 41n, 64, part);
    expect(rsp).toEqual({ id: 41n, operation: 0, status: BLKIF_RSP_OKAY });
    expect(g.mem.peek(pages[0].gfn * PAGE, 1024).every((b) => b === 0)).toBe(true);
    expect(g.mem.peek(pages[0].gfn * PAGE + 1024, 3072)).toEqual(disk.data.slice(64 * 512, 64 * 512 + 3072));
    expect(g.mem.peek(pages[9].gfn * PAGE, 2048)).toEqual(disk.data.slice(64 * 512 + 3072 + 8 * PAGE, 64 * 512 + 3072 + 8 * PAGE + 2048));
    expect(g.mem.peek(pages[9].gfn * PAGE + 2048, 2048).every((b) => b === 0)).toBe(true);
    expect(back.stats.indirect).toBe(2);
    expect(g.t.dom.grants.activeCount()).toBe(1); // segment and descriptor grants released
  });

  it('bad indirect requests get errors without touching memory or disk', async () => {
    const { front, disk, g } = setup({ readOnly: false });
    front.connect();
    const gfn = g.allocPage();
    const gref = g.grant(gfn, false);
    const before = disk.data.slice();
    const seg = [{ gref, first: 0, last: 7 }];
    const cases: [string, () => Promise<{ status: number }>, number][] = [
      ['too many segments', () => front.indirect(0, 1n, 0, seg, { nr: MAX_INDIRECT_SEGMENTS + 1 }), BLKIF_RSP_ERROR],
      ['descriptor page not granted', () => front.indirect(1, 2n, 0, seg, { descGref: 99999 }), BLKIF_RSP_ERROR],
      ['last_sect 8 in a descriptor', () => front.indirect(1, 3n, 0, [{ gref, first: 0, last: 8 }]), BLKIF_RSP_ERROR],
      ['past the end of the disk', () => front.indirect(1, 4n, disk.size / 512 - 4, seg), BLKIF_RSP_ERROR],
      ['segment not granted', () => front.indirect(1, 5n, 0, [{ gref: 77777, first: 0, last: 7 }]), BLKIF_RSP_ERROR],
      ['discard inside indirect', () => front.indirect(5, 6n, 0, seg), BLKIF_RSP_EOPNOTSUPP],
    ];
    for (const [name, run, status] of cases) expect([name, (await run()).status]).toEqual([name, status]);
    expect(disk.data).toEqual(before);
    expect(g.mem.peek(gfn * PAGE, PAGE).every((b) => b === 0)).toBe(true);
    expect((await front.read(0, 8)).data).toEqual(disk.data.slice(0, 4096)); // still serving
  });

  it('starts the whole ring at once and answers in ring order at due guest times, however the host finishes', async () => {
    const { w, front, disk, back, g } = setup();
    front.connect();
    // Hold the first read on the host; the other three finish at once.
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const plain = disk.read.bind(disk);
    const started: number[] = [];
    disk.read = async (sector, dst) => {
      started.push(sector);
      if (sector === 0) await gate;
      return plain(sector, dst);
    };
    const t0 = w.clock.now();
    const pages = [0, 8, 16, 24].map((sector, i) => {
      const gfn = g.allocPage();
      front.put(0, BigInt(100 + i), sector, [{ gref: g.grant(gfn, false), first: 0, last: 7 }]);
      return gfn;
    });
    front.push();
    expect(started).toEqual([0, 8, 16, 24]); // all four reach the disk before any answer
    expect(back.stats.maxInFlight).toBe(4);
    // Guest time runs past every due time, but nothing is answered before the first read is
    // done: the guest would otherwise see host speed.
    await settle(() => back.waitingForHost, 200, w.clock);
    expect(back.waitingForHost).toBe(true);
    expect(front.collect()).toEqual([]);
    expect(g.mem.peek(pages[1] * PAGE, 4096).every((b) => b === 0)).toBe(true); // no data before the answer
    release();
    const rsps = await front.waitFor(4);
    expect(rsps.map((r) => r.id)).toEqual([100n, 101n, 102n, 103n]);
    expect(back.idle).toBe(true);
    // One disk serves them in turn: 4 × (10 µs + 8 sectors × 2 µs).
    expect(w.clock.now() - t0).toBe(4 * 26_000);
    pages.forEach((gfn, i) => expect(g.mem.peek(gfn * PAGE, 4096)).toEqual(disk.data.slice(i * 4096, (i + 1) * 4096)));
  });

  it('answers land at the same guest times whatever the host speed', async () => {
    const run = async (hostDelayMs: number) => {
      const { w, front, disk } = setup();
      front.connect();
      const plain = disk.write.bind(disk);
      disk.write = async (sector, src) => {
        await new Promise((r) => setTimeout(r, hostDelayMs));
        return plain(sector, src);
      };
      const times: number[] = [];
      const t0 = w.clock.now();
      const page = () => front.g.grant(front.g.allocPage(), true);
      for (let i = 0; i < 3; i++) front.put(1, BigInt(i), i * 16, [{ gref: page(), first: 0, last: 7 }, { gref: page(), first: 0, last: 3 }]);
      front.push();
      // Like the run loop: let the host work, and when nothing is due yet, jump to the next deadline.
      const record = () => times.push(...front.collect().map(() => w.clock.now() - t0));
      for (let spins = 0; times.length < 3 && spins < 10_000; spins++) {
        await new Promise((r) => setImmediate(r));
        record();
        const next = w.clock.nextDeadline();
        if (next !== Infinity) {
          w.clock.setNow(Math.max(next, w.clock.now()));
          w.clock.runDue();
          record();
        }
      }
      return times;
    };
    const fast = await run(0), slow = await run(15);
    expect(fast).toEqual([34_000, 68_000, 102_000]); // 10 µs + 12 sectors × 2 µs each, served in turn
    expect(slow).toEqual(fast);
  });

  it('a write barrier waits for earlier requests and holds back later ones', async () => {
    const { front, disk, g } = setup();
    front.connect();
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    const plainWrite = disk.write.bind(disk), plainRead = disk.read.bind(disk);
    disk.write = async (sector, src) => {
      if (sector === 0) await gate;
      order.push(`write ${sector}`);
      return plainWrite(sector, src);
    };
    disk.read = async (sector, dst) => {
      order.push(`read ${sector}`);
      return plainRead(sector, dst);
    };
    const page = (fill: number, ro: boolean) => {
      const gfn = g.allocPage();
      g.mem.peek(gfn * PAGE, PAGE).fill(fill);
      return { gfn, gref: g.grant(gfn, ro) };
    };
    const a = page(0xaa, true), b = page(0xbb, true), c = page(0, false);
    front.put(1, 1n, 0, [{ gref: a.gref, first: 0, last: 7 }]);
    front.put(2, 2n, 8, [{ gref: b.gref, first: 0, last: 7 }]); // WRITE_BARRIER
    front.put(0, 3n, 8, [{ gref: c.gref, first: 0, last: 7 }]);
    front.push();
    await settle(() => false, 20);
    expect(order).toEqual([]); // nothing passes the held write
    release();
    const rsps = await front.waitFor(3);
    expect(rsps.map((r) => [Number(r.id), r.status])).toEqual([[1, 0], [2, 0], [3, 0]]);
    expect(order).toEqual(['write 0', 'write 8', 'read 8']);
    expect(g.mem.peek(c.gfn * PAGE, PAGE).every((x) => x === 0xbb)).toBe(true);
  });

  it('x86_64-abi layout is honoured when the frontend asks for it', async () => {
    const { front, disk, g } = setup();
    front.connect('x86_64-abi');
    const gfn = g.allocPage();
    const gref = g.grant(gfn, false);
    // x86_64: id @8, sector @16, segments @24; 112-byte slots.
    const o = front.ring + 64;
    g.mem.peek(o, 112).fill(0);
    g.mem.peek(o, 2).set([0, 1]);
    g.mem.setU32(o + 8, 0xabc);
    g.mem.setU32(o + 16, 3);
    g.mem.setU32(o + 24, gref);
    g.mem.peek(o + 28, 2).set([0, 0]);
    front.req_prod_pvt = 1;
    front.push();
    await settle(() => g.mem.u32(front.ring + 8) === 1, 200, front.g.t.clock);
    expect(g.mem.u32(o)).toBe(0xabc);
    expect(g.mem.peek(o + 10, 2)[0]).toBe(0);
    expect(g.mem.peek(gfn * PAGE, 512)).toEqual(disk.data.slice(3 * 512, 4 * 512));
  });
});

// Adversarial guests, seeded so every run is the same. Three guests share one hypervisor:
//   d1: a disk (blkback), a NIC, the console  — its rings get random and hostile contents;
//   d2: a NIC                                — receives d1's fuzzed traffic, posts hostile RX buffers;
//   d3: nothing                              — throws garbage at xenstore and at every hypercall.
// Throughout, every page a backend or the hypervisor touches in d1/d2 is checked against the
// guest's own grant table at that moment (granted to dom0) or the hypervisor's own pages, pages
// granted read-only must never change, no exception may escape or be swallowed, and at regular
// checkpoints a well-behaved frontend must still get correct service.

import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { ARG, PAGE, poke, prng } from './fake-guest';
import { BAR1_GFN, CONSOLE_GFN, ethFrame, MemDisk, settle, SHINFO_GFN, SimBlkFront, SimGuest, SimNetFront, STORE_GFN, World } from './sim-guest';
import { GuestXsRing } from './xs-guest';

const SEED = 0x5eed_0001;
const CASES = { blk: 24_000, net: 24_000, console: 16_000, xenstore: 20_000, hypercall: 20_000 };
const CHECK_EVERY = 500;

const MAC1 = '00:16:3e:00:00:01';
const MAC2 = '00:16:3e:00:00:02';
const DISK_SECTORS = 8192; // 4 MiB
const GOOD_SECTOR = 6000; // where the well-behaved frontend checks its data

// Pages the fuzzer may name in grant entries. Nothing else in the guest lives there.
const RO_POOL = 0x800; // 16 pages, only ever granted read-only, filled with a known pattern
const RW_POOL = 0x810; // 16 pages, granted any way
const JUNK = 0x900; // 256 pages of nothing in particular
const FUZZ_REF0 = 300; // grant refs 300..511 belong to the fuzzer

type Rnd = () => number;
const int = (r: Rnd, n: number) => Math.floor(r() * n);
const pick = <T,>(r: Rnd, xs: readonly T[]): T => xs[int(r, xs.length)];
const u32r = (r: Rnd) => (r() * 2 ** 32) >>> 0;

/** Checks each page touch against the guest's grant table (by frame index, rescanned on a miss). */
class GrantAudit {
  private index = new Map<number, number[]>();
  readonly violations: string[] = [];
  constructor(
    private readonly g: SimGuest,
    private readonly hvPages: () => Set<number>,
  ) {
    g.mem.audit = (gfn) => {
      if (!this.allowed(gfn) && this.violations.length < 20) this.violations.push(`d${g.domid} touched gfn 0x${gfn.toString(16)}`);
    };
  }
  private valid(ref: number, gfn: number): boolean {
    const e = BAR1_GFN * PAGE + ref * 8;
    const flags = this.g.mem.u16(e);
    return (flags & 3) === X.GTF_permit_access && this.g.mem.u16(e + 2) === 0 && this.g.mem.u32(e + 4) === gfn;
  }
  private rescan(): void {
    this.index.clear();
    for (let ref = 0; ref < 512; ref++) {
      const e = BAR1_GFN * PAGE + ref * 8;
      if ((this.g.mem.u16(e) & 3) !== X.GTF_permit_access || this.g.mem.u16(e + 2) !== 0) continue;
      const f = this.g.mem.u32(e + 4);
      const l = this.index.get(f);
      if (l) l.push(ref);
      else this.index.set(f, [ref]);
    }
  }
  private allowed(gfn: number): boolean {
    if (this.hvPages().has(gfn)) return true;
    if (this.index.get(gfn)?.some((r) => this.valid(r, gfn))) return true;
    this.rescan();
    return this.index.get(gfn)?.some((r) => this.valid(r, gfn)) ?? false;
  }
}

/** Random grant entries in the fuzzer's refs: frames from the pools, junk, or nowhere. */
function fuzzGrants(r: Rnd, g: SimGuest, count: number): void {
  for (let i = 0; i < count; i++) {
    const ref = FUZZ_REF0 + int(r, 512 - FUZZ_REF0);
    const kind = r();
    const frame =
      kind < 0.3 ? RO_POOL + int(r, 16) : kind < 0.6 ? RW_POOL + int(r, 16) : kind < 0.8 ? JUNK + int(r, 256) : kind < 0.9 ? 0x100000 + int(r, 1000) : u32r(r);
    let flags = pick(r, [X.GTF_permit_access, X.GTF_permit_access | X.GTF_readonly, 0, 2, 3, u32r(r) & 0xffff]);
    // The read-only pool is never granted writable (that is what its contents check relies on).
    if (frame >= RO_POOL && frame < RO_POOL + 16) flags |= X.GTF_readonly;
    const domid = pick(r, [0, 0, 0, 0, 7]);
    const e = BAR1_GFN * PAGE + ref * 8;
    g.mem.setU16(e + 2, domid);
    g.mem.setU32(e + 4, frame);
    g.mem.setU16(e, flags);
  }
}

function fuzzRef(r: Rnd, ringRef: number): number {
  return pick(r, [FUZZ_REF0 + int(r, 212), FUZZ_REF0 + int(r, 212), ringRef, int(r, 8), u32r(r), 511, 512, 100000]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function roPoolSum(g: SimGuest): number {
  let s = 0;
  const b = g.mem.peek(RO_POOL * PAGE, 16 * PAGE);
  for (let i = 0; i < b.length; i++) s = (s * 31 + b[i]) >>> 0;
  return s;
}

describe('fuzz: hostile guests against the PV layer', () => {
  it(`survives ${Object.values(CASES).reduce((a, b) => a + b)} seeded adversarial cases with service intact`, async () => {
    const r = prng(SEED);
    const w = new World();
    const g1 = w.addGuest(1);
    const g2 = w.addGuest(2);
    const g3 = w.addGuest(3);
    const disk = new MemDisk(DISK_SECTORS * 512);
    const blk = w.ts.addDisk(1, 0, disk);
    const nic1 = w.ts.addNic(1, 0, MAC1);
    const nic2 = w.ts.addNic(2, 0, MAC2);
    let hostFrames = 0;
    const host = w.ts.switch.attach({ deliver: () => hostFrames++ }, 'host');

    for (const g of [g1, g2]) g.mem.peek(RO_POOL * PAGE, 16 * PAGE).forEach((_, i, a) => (a[i] = (i * 7) & 0xff));
    const roSums = [roPoolSum(g1), roPoolSum(g2)];
    // d1 and d2 never move their shared_info or grant frames, so this set is fixed.
    const hvPages = (g: SimGuest) => {
      const set = new Set([...g.t.dom.hypervisorPages(), STORE_GFN, CONSOLE_GFN]);
      return () => set;
    };
    const audits = [new GrantAudit(g1, hvPages(g1)), new GrantAudit(g2, hvPages(g2))];

    let bf = new SimBlkFront(g1);
    bf.connect();
    let nf1 = new SimNetFront(g1);
    let nf2 = new SimNetFront(g2);
    nf1.connect();
    nf2.connect();
    let checks = 0;

    // ---- well-behaved service checks -------------------------------------------------------

    const reconnect = (g: SimGuest, node: string, back: { state: number }) => {
      g.switchState(node, X.XenbusState.Closing);
      g.switchState(node, X.XenbusState.Closed);
      g.switchState(node, X.XenbusState.Initialising);
      expect(back.state).toBe(X.XenbusState.InitWait);
    };

    const checkBlk = async (n: number) => {
      await settle(() => blk.idle, 200, w.clock);
      if (blk.state === X.XenbusState.Connected) {
        // Resynchronise with whatever the fuzzer left in the shared indexes.
        bf.req_prod_pvt = g1.mem.u32(bf.ring);
        bf.rsp_cons = g1.mem.u32(bf.ring + 8);
      } else {
        reconnect(g1, bf.nodename, blk);
        bf.release();
        bf = new SimBlkFront(g1);
        bf.connect();
      }
      const data = new Uint8Array(16 * 512).map((_, i) => (i + n) & 0xff);
      expect((await bf.write(GOOD_SECTOR, data)).status).toBe(0);
      const back = await bf.read(GOOD_SECTOR, 16);
      expect(back.rsp.status).toBe(0);
      expect(sameBytes(back.data, data)).toBe(true);
      expect((await bf.flush()).status).toBe(0);
      checks++;
    };

    const checkNet = (n: number) => {
      for (const [g, nf, back] of [
        [g1, nf1, nic1],
        [g2, nf2, nic2],
      ] as const) {
        if (back.state === X.XenbusState.Connected) g.switchState(nf.nodename, X.XenbusState.Closing);
        reconnect(g, nf.nodename, back);
        nf.release();
      }
      nf1 = new SimNetFront(g1);
      nf2 = new SimNetFront(g2);
      nf1.connect();
      nf2.connect();
      nf1.send(ethFrame(MAC2, MAC1, `ping ${n}`));
      nf2.poll();
      nf2.send(ethFrame(MAC1, MAC2, `pong ${n}`));
      nf1.poll();
      expect(nf2.received.map((f) => String.fromCharCode(...f.subarray(14)))).toContain(`ping ${n}`);
      expect(nf1.received.map((f) => String.fromCharCode(...f.subarray(14)))).toContain(`pong ${n}`);
      checks++;
    };

    const con = w.ts.guest(1)!.console;
    const conOut = w.consoles.get(1)!;
    const cpage = CONSOLE_GFN * PAGE;
    const checkConsole = (n: number) => {
      // Take all pending input (the backend may hold up to 4 KiB more), then resync output.
      for (let i = 0; i < 10; i++) {
        g1.mem.setU32(cpage + 3072, g1.mem.u32(cpage + 3076));
        g1.send(g1.consolePort);
        if (con.pendingInput === 0) break;
      }
      expect(con.pendingInput).toBe(0);
      g1.mem.setU32(cpage + 3072, g1.mem.u32(cpage + 3076));
      const prod = g1.mem.u32(cpage + 3084);
      g1.mem.setU32(cpage + 3080, prod);
      const msg = `ok ${n}\n`;
      for (let i = 0; i < msg.length; i++) g1.mem.peek(cpage + 1024 + ((prod + i) & 2047), 1)[0] = msg.charCodeAt(i);
      g1.mem.setU32(cpage + 3084, (prod + msg.length) >>> 0);
      conOut.length = 0;
      g1.send(g1.consolePort);
      expect(String.fromCharCode(...conOut)).toBe(msg);
      con.input(Uint8Array.from('y', (c) => c.charCodeAt(0)));
      expect(g1.mem.peek(cpage + (g1.mem.u32(cpage + 3072) & 1023), 1)[0]).toBe(0x79);
      checks++;
    };

    const store3 = w.ts.guest(3)!.store;
    const spage = STORE_GFN * PAGE;
    /** The toolstack resynchronises the stream; the guest restarts from the current indexes. */
    const resyncStore = () => {
      store3.reset();
      g3.mem.setU32(spage + 2052, g3.mem.u32(spage + 2048));
      g3.mem.setU32(spage + 2056, g3.mem.u32(spage + 2060));
    };
    const checkStore = (n: number) => {
      resyncStore();
      // d3 may have removed its own data/ directory (it owns it); the toolstack puts it back.
      w.ts.xs.write('/local/domain/3/data/check', '');
      w.ts.xs.setPerms('/local/domain/3/data', [{ id: 3, kind: 'n' }]);
      w.ts.xs.setPerms('/local/domain/3/data/check', [{ id: 3, kind: 'n' }]);
      const ring = new GuestXsRing(() => g3.mem.peek(spage, PAGE), () => g3.send(g3.storePort));
      const wr = ring.request(11, `data/check\0${n}`);
      expect([wr.type, wr.text]).toEqual([11, 'OK|']);
      const rd = ring.request(2, 'data/check\0');
      expect(rd.text).toBe(String(n));
      checks++;
    };

    // ---- blkback ---------------------------------------------------------------------------

    for (let c = 0; c < CASES.blk; c++) {
      if (blk.state !== X.XenbusState.Connected) await checkBlk(c);
      if (r() < 0.3) fuzzGrants(r, g1, 1 + int(r, 8));
      const prod0 = g1.mem.u32(bf.ring);
      const k = 1 + int(r, 5);
      for (let i = 0; i < k; i++) {
        const off = bf.ring + 64 + ((prod0 + i) & 31) * 108;
        const slot = g1.mem.peek(off, 108);
        if (r() < 0.25) {
          for (let j = 0; j < 108; j++) slot[j] = int(r, 256);
          continue;
        }
        slot.fill(0);
        slot[0] = pick(r, [0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 255]);
        slot[1] = pick(r, [0, 1, 2, 11, 12, 255, int(r, 12)]);
        g1.mem.setU32(off + 4, u32r(r));
        g1.mem.setU32(off + 8, u32r(r));
        const sector = pick(r, [0, 1, DISK_SECTORS - 1, DISK_SECTORS, DISK_SECTORS + 7, int(r, DISK_SECTORS), 0xffffffff]);
        g1.mem.setU32(off + 12, sector);
        g1.mem.setU32(off + 16, pick(r, [0, 0, 0, 1, u32r(r)]));
        for (let s = 0; s < 11; s++) {
          g1.mem.setU32(off + 20 + s * 8, fuzzRef(r, bf.ringRef));
          const first = pick(r, [0, 0, int(r, 8), int(r, 10)]);
          slot[20 + s * 8 + 4] = first;
          slot[20 + s * 8 + 5] = pick(r, [7, first, first + int(r, 8 - first), int(r, 256)]);
        }
        if (slot[0] === 6) {
          // INDIRECT: u16 nr_segments @2, indirect_grefs[8] @24 (descriptor pages: granted, junk or not).
          const nr = pick(r, [1, 11, 32, 256, 257, 512, 4096, 65535, int(r, 300)]);
          slot[2] = nr & 0xff;
          slot[3] = nr >> 8;
          for (let p = 0; p < 8; p++) g1.mem.setU32(off + 24 + p * 4, fuzzRef(r, bf.ringRef));
        }
      }
      const mode = r();
      const prod = mode < 0.05 ? u32r(r) : mode < 0.08 ? (prod0 - 1) >>> 0 : mode < 0.1 ? (prod0 + 33) >>> 0 : (prod0 + k) >>> 0;
      g1.mem.setU32(bf.ring, prod);
      if (r() < 0.05) g1.mem.setU32(bf.ring + 12, u32r(r)); // rsp_event
      g1.send(bf.port);
      if (r() < 0.02) g1.send(bf.port); // spurious extra kick
      await settle(() => blk.idle, 200, w.clock);
      if ((c + 1) % CHECK_EVERY === 0) await checkBlk(c);
    }
    await checkBlk(-1);

    // ---- netback ----------------------------------------------------------------------------

    for (let c = 0; c < CASES.net; c++) {
      if (nic1.state !== X.XenbusState.Connected || nic2.state !== X.XenbusState.Connected) checkNet(c);
      if (r() < 0.3) fuzzGrants(r, g1, 1 + int(r, 8));
      if (r() < 0.3) fuzzGrants(r, g2, 1 + int(r, 8));
      // TX from d1.
      const tx0 = g1.mem.u32(nf1.txRing);
      const k = 1 + int(r, 6);
      for (let i = 0; i < k; i++) {
        const off = nf1.txRing + 64 + ((tx0 + i) & 255) * 12;
        if (r() < 0.2) {
          g1.mem.peek(off, 12).forEach((_, j, a) => (a[j] = int(r, 256)));
          continue;
        }
        // csum_blank 1, more_data 4, extra_info 8, and combinations or junk.
        const flags = pick(r, [0, 0, 1, 2, 4, 4, 8, 5, 12, u32r(r) & 0xffff]);
        const size = pick(r, [0, 13, 14, 60, 1514, 3000, 4096, 4097, 0xffff, int(r, 0x10000)]);
        poke(g1.mem, off, [[0, 4, fuzzRef(r, -1)], [4, 2, pick(r, [0, 0, 100, 4000, 4095, int(r, 0x10000)])], [6, 2, flags], [8, 2, int(r, 0x10000)], [10, 2, size]]);
        if (flags & 8 && i + 1 < k && r() < 0.7) {
          // An extra-info slot: a type and a MORE flag.
          i++;
          const e = nf1.txRing + 64 + ((tx0 + i) & 255) * 12;
          poke(g1.mem, e, [[0, 1, pick(r, [0, 1, 2, 3, 4, 255])], [1, 1, pick(r, [0, 1])]]);
        }
      }
      // Usually end the batch on a complete packet (a dangling more_data/extra_info is fatal).
      if (r() < 0.9) {
        const last = nf1.txRing + 64 + ((tx0 + k - 1) & 255) * 12;
        g1.mem.setU16(last + 6, g1.mem.u16(last + 6) & ~(4 | 8));
      }
      const m = r();
      g1.mem.setU32(nf1.txRing, m < 0.02 ? u32r(r) : m < 0.03 ? (tx0 + 300) >>> 0 : (tx0 + k) >>> 0);
      // Hostile RX buffers in d2.
      if (r() < 0.5) {
        const rx0 = g2.mem.u32(nf2.rxRing);
        const n = int(r, 8);
        for (let i = 0; i < n; i++) poke(g2.mem, nf2.rxRing + 64 + ((rx0 + i) & 255) * 8, [[0, 2, int(r, 0x10000)], [4, 4, fuzzRef(r, -1)]]);
        const m2 = r();
        g2.mem.setU32(nf2.rxRing, m2 < 0.04 ? u32r(r) : (rx0 + n) >>> 0);
        g2.send(nf2.port);
      }
      // Frames from the host side too.
      if (r() < 0.2) {
        const len = pick(r, [0, 5, 14, 60, 1514, 5000, 70000]);
        const f = new Uint8Array(len).map(() => int(r, 256));
        if (len >= 12) f.set(pick(r, [[0, 0x16, 0x3e, 0, 0, 1], [0, 0x16, 0x3e, 0, 0, 2], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]), 0);
        host.send(f);
      }
      g1.send(nf1.port);
      if ((c + 1) % CHECK_EVERY === 0) checkNet(c);
    }
    checkNet(-1);

    // ---- console ----------------------------------------------------------------------------

    for (let c = 0; c < CASES.console; c++) {
      const m = r();
      if (m < 0.3) {
        const prod = g1.mem.u32(cpage + 3084);
        const n = int(r, 3000);
        for (let i = 0; i < Math.min(n, 2048); i++) g1.mem.peek(cpage + 1024 + ((prod + i) & 2047), 1)[0] = int(r, 256);
        g1.mem.setU32(cpage + 3084, (prod + n) >>> 0);
      } else if (m < 0.45) {
        g1.mem.setU32(cpage + pick(r, [3072, 3076, 3080, 3084]), u32r(r));
      } else if (m < 0.7) {
        con.input(new Uint8Array(int(r, 2500)).map(() => int(r, 256)));
      } else {
        g1.mem.setU32(cpage + 3072, g1.mem.u32(cpage + 3076)); // the guest reads its input
      }
      g1.send(g1.consolePort);
      if ((c + 1) % CHECK_EVERY === 0) checkConsole(c);
    }
    checkConsole(-1);

    // ---- xenstore (d3) -----------------------------------------------------------------------

    const before = w.ts.store.dump().filter((e) => !e.path.startsWith('/local/domain/3') && !e.path.startsWith('/local/domain/0/error'));
    const words = ['device', 'data', 'data/x', 'control/shutdown', 'name', '/local/domain/1/device/vbd/51712/state', '/local/domain/0/backend/vbd/1/51712', '/local/domain/2', '/', '@releaseDomain', '@introduceDomain', 'a//b', 'x/', '', '..', 'data/' + 'z'.repeat(3000), 'data/ünicode'];
    const junkString = () => (r() < 0.7 ? pick(r, words) : String.fromCharCode(...new Uint8Array(int(r, 40)).map(() => int(r, 256))));
    let storeBreaks = 0;
    for (let c = 0; c < CASES.xenstore; c++) {
      if (store3.broken) {
        storeBreaks++;
        resyncStore();
      }
      const m = r();
      const req0 = g3.mem.u32(spage + 2052);
      let bytes: number[] = [];
      if (m < 0.5) {
        const type = pick(r, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 26, 999]);
        const parts = Array.from({ length: int(r, 4) }, junkString);
        let payload = parts.join('\0') + (r() < 0.8 ? '\0' : '');
        if (type === 11) payload = junkString() + '\0' + junkString();
        const body = Array.from(payload, (ch) => ch.charCodeAt(0) & 0xff).slice(0, 4096);
        const len = r() < 0.03 ? pick(r, [4097, 100000, u32r(r)]) : body.length;
        const hdr = new Uint8Array(16);
        const put32 = (o: number, v: number) => hdr.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24], o);
        put32(0, type);
        put32(4, u32r(r));
        put32(8, pick(r, [0, 0, 0, 1, 2, u32r(r)]));
        put32(12, len);
        bytes = [...hdr, ...body];
      } else if (m < 0.7) {
        bytes = Array.from({ length: int(r, 200) }, () => int(r, 256));
      } else if (m < 0.75) {
        g3.mem.setU32(spage + pick(r, [2048, 2052, 2056, 2060]), u32r(r));
      }
      // Write what fits into req[] (as a guest would), then maybe drain rsp[].
      const cons = g3.mem.u32(spage + 2048);
      const space = 1024 - ((req0 - cons) >>> 0);
      const n = space >= 0 && space <= 1024 ? Math.min(space, bytes.length) : 0;
      for (let i = 0; i < n; i++) g3.mem.peek(spage + ((req0 + i) & 1023), 1)[0] = bytes[i];
      if (n > 0) g3.mem.setU32(spage + 2052, (req0 + n) >>> 0);
      if (r() < 0.5) g3.mem.setU32(spage + 2056, g3.mem.u32(spage + 2060));
      g3.send(g3.storePort);
      if ((c + 1) % CHECK_EVERY === 0) checkStore(c);
    }
    checkStore(-1);
    const after = w.ts.store.dump().filter((e) => !e.path.startsWith('/local/domain/3') && !e.path.startsWith('/local/domain/0/error'));
    expect(after).toEqual(before); // d3 changed nothing outside its own directory

    // ---- hypercalls (d3) ---------------------------------------------------------------------

    const knownErrno = new Set([X.EPERM, X.ENOENT, X.ESRCH, X.EAGAIN, X.ENOMEM, X.EFAULT, X.EBUSY, X.EEXIST, X.EINVAL, X.ENOSPC, X.ENOSYS, X.ETIME]);
    const scratch = 0x3000;
    for (let c = 0; c < CASES.hypercall; c++) {
      const op = pick(r, [12, 12, 17, 18, 20, 20, 24, 24, 29, 32, 32, 32, 33, 34, 34, int(r, 64)]);
      const cmd = r() < 0.85 ? int(r, 16) : u32r(r);
      const sc = g3.mem.peek(scratch, 256);
      for (let i = 0; i < 256; i++) sc[i] = r() < 0.5 ? 0 : int(r, 256);
      if (r() < 0.5) poke(g3.mem, scratch, [[0, 2, X.DOMID_SELF]]);
      if (r() < 0.3) poke(g3.mem, scratch, [[4, 4, int(r, 40)], [8, 4, int(r, 0x1100)], [12, 4, pick(r, [0x10, 0x20, BAR1_GFN + int(r, 40), 0xfffff, u32r(r)])]]);
      const ptr = () => pick(r, [scratch, scratch, scratch + 4, 0, 0xfffff000, u32r(r), ARG]);
      const args = [cmd, ptr(), pick(r, [0, 1, 2, 16, 1025, u32r(r), ptr()]), ptr(), ptr()];
      const rc = g3.t.hypercall(op, args, { cpl: r() < 0.05 ? 3 : 0, vcpu: r() < 0.02 ? 5 : 0 });
      if (!(rc >= 0 || knownErrno.has(-rc))) throw new Error(`hypercall ${op}/${cmd} returned ${rc}`);
      if (r() < 0.3) {
        w.clock.advance(int(r, 5_000_000));
        w.clock.runDue();
      }
    }

    // ---- the verdict ----------------------------------------------------------------------------

    await checkBlk(-2);
    checkNet(-2);
    checkConsole(-2);
    expect(audits.flatMap((a) => a.violations)).toEqual([]);
    expect([roPoolSum(g1), roPoolSum(g2)]).toEqual(roSums);
    expect(w.logs.filter((l) => /handler failed|raised|internal error|sink of .* failed/.test(l))).toEqual([]);
    // The fuzz did reach the interesting paths.
    expect(blk.stats.requests).toBeGreaterThan(1000);
    expect(blk.stats.indirect).toBeGreaterThan(100); // INDIRECT requests whose descriptor pages were granted
    expect(w.logs.some((l) => /bogus ring requests/.test(l))).toBe(true);
    expect(nic1.stats.txErrors).toBeGreaterThan(100);
    expect(nic2.stats.rxPackets).toBeGreaterThan(100);
    expect(hostFrames).toBeGreaterThan(100);
    expect(con.ringErrors).toBeGreaterThan(10);
    expect(storeBreaks).toBeGreaterThan(100);
    expect(store3.messages).toBeGreaterThan(5000);
    expect(checks).toBeGreaterThan(150);
    expect(disk.data.length).toBe(DISK_SECTORS * 512);
  });
});

// A simulated PV guest for the tests: the Xen bits of a Linux-like HVM kernel (shared_info,
// vector callback, grant table, event channels, xenbus over the store ring) and simple
// blkfront / netfront drivers. Everything here is written from the protocol, independently of
// the backends: it only uses hypercalls and its own memory, as a real guest would.

import type { BlockDevice } from '../../engine-ts/disk/block-device';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { Hypervisor } from '../../engine-ts/pv/hypervisor';
import { Toolstack, type GuestRecord } from '../../engine-ts/pv/toolstack';
import * as X from '../../engine-ts/pv/xen-public';
import { ARG, makeGuest, PAGE, poke, type TestGuest } from './fake-guest';
import { GuestXsRing } from './xs-guest';

// ---- an in-memory disk ------------------------------------------------------------------------

export class MemDisk implements BlockDevice {
  readonly data: Uint8Array;
  flushes = 0;
  writes = 0;
  discards: [number, number][] = [];
  /** Make the next read or write reject (an I/O error). */
  failNext = false;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.data = new Uint8Array(size);
  }
  private check(sector: number, len: number): void {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('injected I/O error');
    }
    if (sector < 0 || len % 512 !== 0 || sector * 512 + len > this.size) throw new Error(`out of range: sector ${sector} + ${len} bytes`);
  }
  async read(sector: number, dst: Uint8Array): Promise<void> {
    this.check(sector, dst.length);
    dst.set(this.data.subarray(sector * 512, sector * 512 + dst.length));
  }
  async write(sector: number, src: Uint8Array): Promise<void> {
    if (this.readOnly) throw new Error('read-only');
    this.check(sector, src.length);
    this.data.set(src, sector * 512);
    this.writes++;
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  async discard(sector: number, count: number): Promise<void> {
    this.discards.push([sector, count]);
    this.data.fill(0, sector * 512, (sector + count) * 512);
  }
}

/**
 * Let pending promises (disk I/O) run until `cond` holds. With `clock`, each round also moves
 * guest time to the next timer deadline and fires it, as the run loop does for an idle guest
 * (blkback's answers are due at guest times).
 */
export async function settle(cond: () => boolean = () => false, rounds = 200, clock?: VirtualClock): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    if (cond()) return true;
    await new Promise<void>((r) => setImmediate(r));
    if (clock) {
      const next = clock.nextDeadline();
      if (next !== Infinity && next > clock.now()) clock.setNow(next);
      clock.runDue();
    }
  }
  return cond();
}

// ---- the world: hypervisor, toolstack, guests ---------------------------------------------------

export const STORE_GFN = 0xfeffc;
export const CONSOLE_GFN = 0xfefff;
export const BAR1_GFN = 0xf0000;
export const SHINFO_GFN = 0x10;

export class World {
  readonly clock = new VirtualClock();
  readonly logs: string[] = [];
  readonly hv = new Hypervisor((m) => this.logs.push(m));
  readonly ts = new Toolstack(this.hv);
  readonly consoles = new Map<number, number[]>();

  addGuest(domid: number): SimGuest {
    const t = makeGuest({ hv: this.hv, clock: this.clock, domid, nrVcpus: 1 });
    const out: number[] = [];
    this.consoles.set(domid, out);
    const rec = this.ts.buildDomain(t.dom, { storeGfn: STORE_GFN, consoleGfn: CONSOLE_GFN, console: { write: (b) => out.push(...b) }, memoryKiB: t.mem.size / 1024 });
    return new SimGuest(t, rec);
  }
}

// ---- the guest kernel's Xen support --------------------------------------------------------------

export class SimGuest {
  readonly domid: number;
  readonly xs: GuestXsRing;
  readonly storePort: number;
  readonly consolePort: number;
  private nextGfn = 0x200;
  private readonly freePages: number[] = [];
  private nextRef = 8; // refs 0..7 are reserved
  private readonly freeRefs: number[] = [];

  constructor(
    readonly t: TestGuest,
    readonly rec: GuestRecord,
  ) {
    this.domid = t.dom.domid;
    // Boot steps Linux takes (spec §1): shared_info, callback vector, grant table v1 frame 0.
    poke(t.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.XENMAPSPACE_shared_info], [8, 4, 0], [12, 4, SHINFO_GFN]]);
    this.check(t.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG]), 'map shared_info');
    poke(t.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.HVM_PARAM_CALLBACK_IRQ], [8, 8, (2n << 56n) | 0xf3n]]);
    this.check(t.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG]), 'callback vector');
    poke(t.mem, ARG, [[0, 4, 1]]);
    this.check(t.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_set_version, ARG, 1]), 'gnttab v1');
    poke(t.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.XENMAPSPACE_grant_table], [8, 4, 0], [12, 4, BAR1_GFN]]);
    this.check(t.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG]), 'map grant frame 0');
    const storePfn = this.getParam(X.HVM_PARAM_STORE_PFN);
    this.storePort = this.getParam(X.HVM_PARAM_STORE_EVTCHN);
    this.consolePort = this.getParam(X.HVM_PARAM_CONSOLE_EVTCHN);
    this.xs = new GuestXsRing(() => t.mem.peek(storePfn * PAGE, PAGE), () => this.send(this.storePort));
  }

  private check(rc: number, what: string): void {
    if (rc !== 0) throw new Error(`${what} failed: ${rc}`);
  }

  get mem() {
    return this.t.mem;
  }

  getParam(index: number): number {
    poke(this.t.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, index], [8, 8, 0]]);
    this.check(this.t.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_get_param, ARG]), `get_param ${index}`);
    return this.t.mem.u32(ARG + 8);
  }

  allocPage(): number {
    const gfn = this.freePages.pop() ?? this.nextGfn++;
    this.t.mem.peek(gfn * PAGE, PAGE).fill(0);
    return gfn;
  }
  freePage(gfn: number): void {
    this.freePages.push(gfn);
  }

  private entryAddr(ref: number): number {
    return BAR1_GFN * PAGE + ref * 8;
  }

  /** Grant `gfn` to dom0: frame and domid first, flags last. */
  grant(gfn: number, readonly: boolean, ref?: number): number {
    const r = ref ?? this.freeRefs.pop() ?? this.nextRef++;
    if (r >= 512) throw new Error('out of grant refs');
    const e = this.entryAddr(r);
    this.t.mem.setU16(e + 2, 0);
    this.t.mem.setU32(e + 4, gfn);
    this.t.mem.setU16(e, X.GTF_permit_access | (readonly ? X.GTF_readonly : 0));
    return r;
  }

  /** gnttab_end_foreign_access: only if the backend is not using it. */
  endGrant(ref: number): boolean {
    const e = this.entryAddr(ref);
    if (this.t.mem.u16(e) & (X.GTF_reading | X.GTF_writing)) return false;
    this.t.mem.setU16(e, 0);
    this.freeRefs.push(ref);
    return true;
  }

  grantFlags(ref: number): number {
    return this.t.mem.u16(this.entryAddr(ref));
  }

  allocUnbound(): number {
    poke(this.t.mem, ARG, [[0, 2, X.DOMID_SELF], [2, 2, 0], [4, 4, 0]]);
    this.check(this.t.hypercall(X.__HYPERVISOR_event_channel_op, [X.EVTCHNOP_alloc_unbound, ARG]), 'alloc_unbound');
    return this.t.mem.u32(ARG + 4);
  }

  closePort(port: number): void {
    poke(this.t.mem, ARG, [[0, 4, port]]);
    this.t.hypercall(X.__HYPERVISOR_event_channel_op, [X.EVTCHNOP_close, ARG]);
  }

  send(port: number): void {
    poke(this.t.mem, ARG, [[0, 4, port]]);
    this.t.hypercall(X.__HYPERVISOR_event_channel_op, [X.EVTCHNOP_send, ARG]);
  }

  /** Test and clear the pending bit of `port` (what the upcall handler does). */
  takePending(port: number): boolean {
    const a = SHINFO_GFN * PAGE + X.SHINFO_evtchn_pending + 4 * (port >> 5);
    const v = this.t.mem.u32(a);
    const bit = 1 << (port & 31);
    if (!(v & bit)) return false;
    this.t.mem.setU32(a, v & ~bit);
    return true;
  }

  // xenbus helpers (Linux's xenbus_read / xenbus_write / xenbus_switch_state)
  xsRead(path: string, tx = 0): string | null {
    const r = this.xs.request(2, `${path}\0`, tx);
    return r.type === 16 ? null : String.fromCharCode(...r.payload);
  }
  xsWrite(path: string, value: string, tx = 0): string | null {
    const r = this.xs.request(11, `${path}\0${value}`, tx);
    return r.type === 16 ? r.text : null;
  }
  xsTransaction(body: (tx: number) => void): string | null {
    for (let i = 0; i < 10; i++) {
      const tx = Number(this.xs.request(6, '\0').text.replace('|', ''));
      body(tx);
      const r = this.xs.request(7, 'T\0', tx);
      if (r.type !== 16) return null;
      if (r.text !== 'EAGAIN|') return r.text;
    }
    return 'EAGAIN';
  }
  switchState(nodename: string, state: number): void {
    const err = this.xsTransaction((tx) => {
      if (this.xsRead(`${nodename}/state`, tx) === null) return; // xenbus_switch_state gives up silently
      this.xsWrite(`${nodename}/state`, String(state), tx);
    });
    if (err) throw new Error(`switch state: ${err}`);
  }
}

// ---- a blkfront ---------------------------------------------------------------------------------

export const BLK_REQ = 108; // i386 blkif_request
export const BLK_RING = 32;

export interface BlkResponse {
  id: bigint;
  operation: number;
  status: number;
}

export class SimBlkFront {
  readonly nodename: string;
  backend = '';
  ringGfn = -1;
  ringRef = -1;
  port = -1;
  sectors = 0;
  info = -1;
  req_prod_pvt = 0;
  rsp_cons = 0;
  readonly responses: BlkResponse[] = [];

  constructor(
    readonly g: SimGuest,
    readonly devid = 51712,
  ) {
    this.nodename = `device/vbd/${devid}`;
  }

  get ring(): number {
    return this.ringGfn * PAGE;
  }

  backendState(): number {
    return Number(this.g.xsRead(`${this.backend}/state`));
  }

  /** The handshake as Linux blkfront does it (spec §11). */
  connect(protocol = 'x86_32-abi'): void {
    const g = this.g;
    if (g.xsRead(`${this.nodename}/device-type`) !== 'disk') throw new Error('not a disk');
    this.backend = g.xsRead(`${this.nodename}/backend`)!;
    if (this.backendState() !== X.XenbusState.InitWait) throw new Error(`backend in state ${this.backendState()}`);
    this.setupRing();
    const err = g.xsTransaction((tx) => {
      g.xsWrite(`${this.nodename}/ring-ref`, String(this.ringRef), tx);
      g.xsWrite(`${this.nodename}/event-channel`, String(this.port), tx);
      g.xsWrite(`${this.nodename}/protocol`, protocol, tx);
      g.xsWrite(`${this.nodename}/feature-persistent`, '1', tx);
    });
    if (err) throw new Error(`publishing ring: ${err}`);
    g.switchState(this.nodename, X.XenbusState.Initialised);
    if (this.backendState() !== X.XenbusState.Connected) throw new Error(`backend did not connect (state ${this.backendState()})`);
    this.sectors = Number(g.xsRead(`${this.backend}/sectors`));
    this.info = Number(g.xsRead(`${this.backend}/info`));
    if (g.xsRead(`${this.backend}/sector-size`) !== '512') throw new Error('sector-size missing');
    g.switchState(this.nodename, X.XenbusState.Connected);
  }

  setupRing(): void {
    const g = this.g;
    this.ringGfn = g.allocPage();
    // SHARED_RING_INIT: producers 0, events 1.
    poke(g.mem, this.ring, [[0, 4, 0], [4, 4, 1], [8, 4, 0], [12, 4, 1]]);
    this.req_prod_pvt = 0;
    this.rsp_cons = 0;
    this.ringRef = g.grant(this.ringGfn, false);
    this.port = g.allocUnbound();
  }

  /** Lay a request into the next slot (not yet pushed). */
  put(op: number, id: bigint, sector: number, segs: { gref: number; first: number; last: number }[], nrSegsField = segs.length): void {
    const off = this.ring + 64 + (this.req_prod_pvt % BLK_RING) * BLK_REQ;
    this.g.mem.peek(off, BLK_REQ).fill(0);
    poke(this.g.mem, off, [[0, 1, op], [1, 1, nrSegsField], [2, 2, 0], [4, 8, id], [12, 8, sector]]);
    segs.forEach((s, i) => poke(this.g.mem, off + 20 + i * 8, [[0, 4, s.gref], [4, 1, s.first], [5, 1, s.last]]));
    this.req_prod_pvt = (this.req_prod_pvt + 1) >>> 0;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, then notify if needed. */
  push(): boolean {
    const old = this.g.mem.u32(this.ring);
    const now = this.req_prod_pvt;
    this.g.mem.setU32(this.ring, now);
    const event = this.g.mem.u32(this.ring + 4);
    const notify = ((now - event) >>> 0) < ((now - old) >>> 0);
    if (notify) this.g.send(this.port);
    return notify;
  }

  /** Consume new responses (and re-arm rsp_event like RING_FINAL_CHECK_FOR_RESPONSES). */
  collect(): BlkResponse[] {
    const rp = this.g.mem.u32(this.ring + 8);
    const got: BlkResponse[] = [];
    for (; this.rsp_cons !== rp; this.rsp_cons = (this.rsp_cons + 1) >>> 0) {
      const off = this.ring + 64 + (this.rsp_cons % BLK_RING) * BLK_REQ;
      const b = this.g.mem.peek(off, 12);
      const id = BigInt(this.g.mem.u32(off)) | (BigInt(this.g.mem.u32(off + 4)) << 32n);
      got.push({ id, operation: b[8], status: ((b[10] | (b[11] << 8)) << 16) >> 16 });
    }
    this.g.mem.setU32(this.ring + 12, (this.rsp_cons + 1) >>> 0);
    this.responses.push(...got);
    return got;
  }

  async waitFor(n: number): Promise<BlkResponse[]> {
    const start = this.responses.length;
    await settle(() => (this.collect(), this.responses.length - start >= n), 200, this.g.t.clock);
    return this.responses.slice(start);
  }

  private nextId = 1n;

  /** Read `count` sectors (≤ 88) into fresh pages; returns the data and the response. */
  async read(sector: number, count: number): Promise<{ data: Uint8Array; rsp: BlkResponse }> {
    const g = this.g;
    const segs: { gref: number; first: number; last: number; gfn: number }[] = [];
    for (let left = count, i = 0; left > 0; i++) {
      const n = Math.min(8, left);
      const gfn = g.allocPage();
      segs.push({ gfn, gref: g.grant(gfn, false), first: 0, last: n - 1 });
      left -= n;
    }
    const id = this.nextId++;
    this.put(0, id, sector, segs);
    this.push();
    const [rsp] = await this.waitFor(1);
    const data = new Uint8Array(count * 512);
    segs.forEach((s, i) => {
      data.set(g.mem.peek(s.gfn * PAGE, (s.last + 1) * 512), i * 4096);
      g.endGrant(s.gref);
      g.freePage(s.gfn);
    });
    if (rsp.id !== id) throw new Error(`response id ${rsp.id} for request ${id}`);
    return { data, rsp };
  }

  async write(sector: number, data: Uint8Array, op = 1): Promise<BlkResponse> {
    const g = this.g;
    const segs: { gref: number; first: number; last: number; gfn: number }[] = [];
    for (let pos = 0; pos < data.length; pos += 4096) {
      const chunk = data.subarray(pos, pos + 4096);
      const gfn = g.allocPage();
      g.mem.peek(gfn * PAGE, chunk.length).set(chunk);
      segs.push({ gfn, gref: g.grant(gfn, true), first: 0, last: chunk.length / 512 - 1 });
    }
    const id = this.nextId++;
    this.put(op, id, sector, segs);
    this.push();
    return this.answer(id, segs);
  }

  /** Wait for the answer to request `id`, then revoke and free the pages it used. */
  private async answer(id: bigint, pages: { gref: number; gfn: number }[]): Promise<BlkResponse> {
    const [rsp] = await this.waitFor(1);
    for (const p of pages) {
      this.g.endGrant(p.gref);
      this.g.freePage(p.gfn);
    }
    if (rsp.id !== id) throw new Error(`response id ${rsp.id} for request ${id}`);
    return rsp;
  }

  /**
   * One BLKIF_OP_INDIRECT request (i386 layout): the segment descriptors go into granted pages
   * (512 per page). `nr` overrides the segment count field, `descGref` the descriptor grant.
   */
  async indirect(op: number, id: bigint, sector: number, segs: { gref: number; first: number; last: number }[], opts: { nr?: number; descGref?: number } = {}): Promise<BlkResponse> {
    const g = this.g;
    const descs: { gfn: number; gref: number }[] = [];
    for (let p = 0; p * 512 < segs.length; p++) {
      const gfn = g.allocPage();
      g.mem.peek(gfn * PAGE, PAGE).fill(0);
      segs.slice(p * 512, (p + 1) * 512).forEach((s, i) => poke(g.mem, gfn * PAGE + i * 8, [[0, 4, s.gref], [4, 1, s.first], [5, 1, s.last]]));
      descs.push({ gfn, gref: g.grant(gfn, true) });
    }
    const off = this.ring + 64 + (this.req_prod_pvt % BLK_RING) * BLK_REQ;
    g.mem.peek(off, BLK_REQ).fill(0);
    // blkif_request_indirect: op @0, indirect_op @1, nr_segments @2, id @4, sector @12, handle @20, grefs @24
    poke(g.mem, off, [[0, 1, 6], [1, 1, op], [2, 2, opts.nr ?? segs.length], [4, 8, id], [12, 8, sector]]);
    descs.forEach((d, i) => poke(g.mem, off + 24 + i * 4, [[0, 4, opts.descGref ?? d.gref]]));
    this.req_prod_pvt = (this.req_prod_pvt + 1) >>> 0;
    this.push();
    return this.answer(id, descs);
  }

  /** Give back the ring page, its grant and the event channel (after the backend let go). */
  release(): void {
    if (this.ringRef >= 0 && this.g.endGrant(this.ringRef)) this.g.freePage(this.ringGfn);
    if (this.port > 0) this.g.closePort(this.port);
    this.ringRef = -1;
    this.port = -1;
  }

  async flush(): Promise<BlkResponse> {
    const id = this.nextId++;
    this.put(3, id, 0, []);
    this.push();
    const [rsp] = await this.waitFor(1);
    return rsp;
  }
}

// ---- a netfront ---------------------------------------------------------------------------------

export const NET_RING = 256;

export class SimNetFront {
  readonly nodename: string;
  backend = '';
  mac = '';
  txGfn = -1;
  rxGfn = -1;
  port = -1;
  tx_prod = 0;
  tx_rsp_cons = 0;
  rx_prod = 0;
  rx_rsp_cons = 0;
  /** rx buffer id -> (gfn, gref) */
  private readonly rxBufs = new Map<number, { gfn: number; gref: number }>();
  private readonly txBufs = new Map<number, { gfn: number; gref: number }>();
  private nextTxId = 0;
  readonly received: Uint8Array[] = [];
  readonly txStatus: number[] = [];
  private partial: number[] = [];
  private ringRefs: [number, number][] = [];

  constructor(
    readonly g: SimGuest,
    readonly devid = 0,
  ) {
    this.nodename = `device/vif/${devid}`;
  }

  get txRing(): number {
    return this.txGfn * PAGE;
  }
  get rxRing(): number {
    return this.rxGfn * PAGE;
  }

  backendState(): number {
    return Number(this.g.xsRead(`${this.backend}/state`));
  }

  connect(rxBuffers = 16): void {
    const g = this.g;
    this.backend = g.xsRead(`${this.nodename}/backend`)!;
    this.mac = g.xsRead(`${this.nodename}/mac`)!;
    if (g.xsRead(`${this.backend}/feature-rx-copy`) !== '1') throw new Error('no rx-copy');
    this.txGfn = g.allocPage();
    this.rxGfn = g.allocPage();
    for (const r of [this.txRing, this.rxRing]) poke(g.mem, r, [[0, 4, 0], [4, 4, 1], [8, 4, 0], [12, 4, 1]]);
    const txRef = g.grant(this.txGfn, false);
    const rxRef = g.grant(this.rxGfn, false);
    this.ringRefs = [
      [txRef, this.txGfn],
      [rxRef, this.rxGfn],
    ];
    this.port = g.allocUnbound();
    const err = g.xsTransaction((tx) => {
      g.xsWrite(`${this.nodename}/tx-ring-ref`, String(txRef), tx);
      g.xsWrite(`${this.nodename}/rx-ring-ref`, String(rxRef), tx);
      g.xsWrite(`${this.nodename}/event-channel`, String(this.port), tx);
      g.xsWrite(`${this.nodename}/request-rx-copy`, '1', tx);
      g.xsWrite(`${this.nodename}/feature-rx-notify`, '1', tx);
      g.xsWrite(`${this.nodename}/feature-sg`, '1', tx);
    });
    if (err) throw new Error(`publishing rings: ${err}`);
    this.postRx(rxBuffers);
    g.switchState(this.nodename, X.XenbusState.Connected);
    if (this.backendState() !== X.XenbusState.Connected) throw new Error(`backend did not connect (state ${this.backendState()})`);
    this.kick();
  }

  private pushIdx(ring: number, prod: number): void {
    const old = this.g.mem.u32(ring);
    this.g.mem.setU32(ring, prod);
    const event = this.g.mem.u32(ring + 4);
    if (((prod - event) >>> 0) < ((prod - old) >>> 0)) this.g.send(this.port);
  }

  kick(): void {
    this.g.send(this.port);
  }

  postRx(n: number): void {
    for (let i = 0; i < n; i++) {
      let id = 0;
      while (this.rxBufs.has(id)) id++;
      const gfn = this.g.allocPage();
      const gref = this.g.grant(gfn, false);
      this.rxBufs.set(id, { gfn, gref });
      poke(this.g.mem, this.rxRing + 64 + (this.rx_prod % NET_RING) * 8, [[0, 2, id], [2, 2, 0], [4, 4, gref]]);
      this.rx_prod = (this.rx_prod + 1) >>> 0;
    }
    this.pushIdx(this.rxRing, this.rx_prod);
  }

  /** Give back rings, buffers, grants and the event channel (after the backend let go). */
  release(): void {
    const g = this.g;
    for (const b of [...this.rxBufs.values(), ...this.txBufs.values()]) if (g.endGrant(b.gref)) g.freePage(b.gfn);
    this.rxBufs.clear();
    this.txBufs.clear();
    for (const [ref, gfn] of this.ringRefs) if (g.endGrant(ref)) g.freePage(gfn);
    this.ringRefs = [];
    if (this.port > 0) g.closePort(this.port);
    this.port = -1;
  }

  /** Transmit one frame (≤ 4096 bytes) from a page granted read-only. */
  send(frame: Uint8Array, flags = 0): number {
    const g = this.g;
    const gfn = g.allocPage();
    g.mem.peek(gfn * PAGE, frame.length).set(frame);
    const gref = g.grant(gfn, true);
    const id = this.nextTxId++ & 0xff;
    this.txBufs.set(id, { gfn, gref });
    poke(g.mem, this.txRing + 64 + (this.tx_prod % NET_RING) * 12, [[0, 4, gref], [4, 2, 0], [6, 2, flags], [8, 2, id], [10, 2, frame.length]]);
    this.tx_prod = (this.tx_prod + 1) >>> 0;
    this.pushIdx(this.txRing, this.tx_prod);
    return id;
  }

  /** Reap TX completions and received frames; re-post the used RX buffers. */
  poll(): void {
    const g = this.g;
    const trp = g.mem.u32(this.txRing + 8);
    for (; this.tx_rsp_cons !== trp; this.tx_rsp_cons = (this.tx_rsp_cons + 1) >>> 0) {
      const off = this.txRing + 64 + (this.tx_rsp_cons % NET_RING) * 12;
      const status = (g.mem.u16(off + 2) << 16) >> 16;
      if (status === 1) continue; // NULL slot
      const id = g.mem.u16(off);
      const b = this.txBufs.get(id);
      if (b) {
        g.endGrant(b.gref);
        g.freePage(b.gfn);
        this.txBufs.delete(id);
      }
      this.txStatus.push(status);
    }
    g.mem.setU32(this.txRing + 12, (this.tx_rsp_cons + 1) >>> 0);
    const rrp = g.mem.u32(this.rxRing + 8);
    let used = 0;
    for (; this.rx_rsp_cons !== rrp; this.rx_rsp_cons = (this.rx_rsp_cons + 1) >>> 0) {
      const off = this.rxRing + 64 + (this.rx_rsp_cons % NET_RING) * 8;
      const id = g.mem.u16(off);
      const offset = g.mem.u16(off + 2);
      const flags = g.mem.u16(off + 4);
      const status = (g.mem.u16(off + 6) << 16) >> 16;
      const b = this.rxBufs.get(id);
      if (!b) throw new Error(`rx response for unknown id ${id}`);
      if (status > 0) this.partial.push(...g.mem.peek(b.gfn * PAGE + offset, status));
      if (!(flags & 4)) {
        if (status >= 0) this.received.push(Uint8Array.from(this.partial));
        this.partial = [];
      }
      g.endGrant(b.gref);
      g.freePage(b.gfn);
      this.rxBufs.delete(id);
      used++;
    }
    g.mem.setU32(this.rxRing + 12, (this.rx_rsp_cons + 1) >>> 0);
    if (used) this.postRx(used);
  }
}

/** An Ethernet frame from `src` to `dst` (6-byte arrays or "aa:bb:.." strings). */
export function ethFrame(dst: string, src: string, payload: Uint8Array | string, ethertype = 0x88b5): Uint8Array {
  const mac = (s: string) => s.split(':').map((h) => parseInt(h, 16));
  const body = typeof payload === 'string' ? Uint8Array.from(payload, (c) => c.charCodeAt(0)) : payload;
  const f = new Uint8Array(14 + body.length);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = ethertype >> 8;
  f[13] = ethertype & 0xff;
  f.set(body, 14);
  return f;
}

// netback: the network backend for xen-netfront (io/netif.h, spec §13), one port of an
// EthernetSwitch.
//
// Negotiation: we offer rx-copy (the only receive mode Linux uses), scatter-gather, no GSO,
// no multi-queue; split event channels are accepted if the frontend uses them.
//
// TX ring (guest -> us), 12-byte slots: netif_tx_request {u32 gref @0, u16 offset @4,
// u16 flags @6, u16 id @8, u16 size @10}; a packet is its first request (size = whole
// packet), optional extra-info slots, then one request per further fragment. Every consumed
// slot gets a netif_tx_response {u16 id @0, i16 status @2} in the same order.
// RX ring (us -> guest), 8-byte slots: netif_rx_request {u16 id @0, u32 gref @4} posts an
// empty page; we fill it and answer netif_rx_response {u16 id @0, u16 offset @2,
// u16 flags @4, i16 status @6 (bytes, or < 0 error)} in the same slot order.

import { type GrantMapping } from '../hypervisor';
import type { FramePort, FrameUplink } from '../../network/net-switch';
import { BACK_RING, BackRing } from '../ring';
import type { StateRecord, Stateful } from '../../platform/bus';
import { bool, bytes, count, declareState, fields, int, list, optional } from '../../platform/state';
import { put16, u16, u32 } from '../bytes';
import { PAGE_SIZE } from '../xen-public';
import { GRANT_MAPPING, XENBUS_FIELDS, XenbusBackend, type BackendContext } from './xenbus-backend';
import { completeChecksum } from '../../network/net-checksum';

export const NETTXF_csum_blank = 1 << 0;
export const NETTXF_data_validated = 1 << 1;
export const NETTXF_more_data = 1 << 2;
export const NETTXF_extra_info = 1 << 3;
export const NETRXF_data_validated = 1 << 0;
export const NETRXF_csum_blank = 1 << 1;
export const NETRXF_more_data = 1 << 2;

export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << 0;

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
export const NETIF_RSP_NULL = 1;

export const XEN_NETIF_NR_SLOTS_MIN = 18;
export const XEN_NETIF_MAX_TX_SIZE = 0xffff;
const TX_SLOT = 12;
const RX_SLOT = 8;
const ETH_HLEN = 14;
/** Extra-info slots accepted per packet (GSO + multicast add/del is already more than Linux sends). */
const MAX_EXTRAS = 4;
/** Frames waiting for the guest to post receive buffers. */
const RX_QUEUE_MAX = 256;

interface TxSlot {
  raw: Uint8Array;
  extra: boolean;
}

export class NetBack extends XenbusBackend implements FramePort, Stateful {
  private tx: { ring: BackRing; map: GrantMapping } | null = null;
  private rx: { ring: BackRing; map: GrantMapping } | null = null;
  private txPort = -1;
  private rxPort = -1;
  private rxSg = false;
  private readonly rxQueue: Uint8Array[] = [];
  private uplink: FrameUplink | null = null;
  private busy = false;
  stats = { txPackets: 0, txErrors: 0, rxPackets: 0, rxDropped: 0 };

  constructor(
    ctx: BackendContext,
    frontendId: number,
    devid: number,
    /** Attach to the switch (called at connect); the returned uplink sends our guest's frames. */
    private readonly attach: (port: FramePort) => FrameUplink,
  ) {
    super(ctx, 'vif', frontendId, devid);
  }

  get connected(): boolean {
    return this.tx !== null;
  }

  // ---- negotiation ----------------------------------------------------------------------

  protected publishFeatures(): void {
    const xs = this.ctx.xs;
    const p = this.backendPath;
    xs.write(`${p}/feature-rx-copy`, '1');
    xs.write(`${p}/feature-rx-flip`, '0');
    xs.write(`${p}/feature-sg`, '1');
    xs.write(`${p}/feature-split-event-channels`, '1');
    // Not offered: feature-gso-tcpv4/6, multi-queue-max-queues, feature-multicast-control.
  }

  protected connect(): boolean {
    const xs = this.ctx.xs;
    const hv = this.ctx.hv;
    const fe = this.frontendPath;
    const queues = xs.readInt(`${fe}/multi-queue-num-queues`) ?? 1;
    if (queues !== 1) return this.fail(`${queues} queues requested but not offered`);
    if (xs.read(`${fe}/request-rx-copy`) !== '1') return this.fail('frontend does not request rx-copy (rx-flip is not supported)');
    const txRef = xs.readInt(`${fe}/tx-ring-ref`);
    const rxRef = xs.readInt(`${fe}/rx-ring-ref`);
    const one = xs.readInt(`${fe}/event-channel`);
    const txEv = xs.readInt(`${fe}/event-channel-tx`) ?? one;
    const rxEv = xs.readInt(`${fe}/event-channel-rx`) ?? one;
    if (txRef === undefined || rxRef === undefined || txEv === undefined || rxEv === undefined) {
      return this.fail('frontend did not publish tx-ring-ref, rx-ring-ref and its event channel(s)');
    }
    this.rxSg = xs.read(`${fe}/feature-sg`) === '1';

    const txMap = hv.mapGrant(this.frontendId, txRef, true);
    if (typeof txMap === 'number') return this.fail(`mapping tx-ring-ref ${txRef} failed (grant status ${txMap})`);
    const rxMap = hv.mapGrant(this.frontendId, rxRef, true);
    if (typeof rxMap === 'number') {
      this.ctx.hv.unmapGrant(txMap);
      return this.fail(`mapping rx-ring-ref ${rxRef} failed (grant status ${rxMap})`);
    }
    this.tx = { ring: new BackRing(TX_SLOT), map: txMap };
    this.rx = { ring: new BackRing(RX_SLOT), map: rxMap };
    this.txPort = hv.dom0.bindInterdomain(this.frontendId, txEv, () => this.onEvent());
    if (this.txPort < 0) return this.fail(`binding event channel ${txEv} failed (${this.txPort})`);
    this.rxPort = txEv === rxEv ? this.txPort : hv.dom0.bindInterdomain(this.frontendId, rxEv, () => this.onEvent());
    if (this.rxPort < 0) return this.fail(`binding event channel ${rxEv} failed (${this.rxPort})`);
    this.uplink = this.attach(this);
    return true;
  }

  private fail(msg: string): false {
    this.fatal(msg);
    return false;
  }

  protected disconnect(): void {
    this.uplink?.detach();
    this.uplink = null;
    if (this.rxPort > 0 && this.rxPort !== this.txPort) this.ctx.hv.dom0.close(this.rxPort);
    if (this.txPort > 0) this.ctx.hv.dom0.close(this.txPort);
    this.txPort = this.rxPort = -1;
    if (this.tx) this.ctx.hv.unmapGrant(this.tx.map);
    if (this.rx) this.ctx.hv.unmapGrant(this.rx.map);
    this.tx = this.rx = null;
    this.rxQueue.length = 0;
  }

  // ---- state ------------------------------------------------------------------------------

  get stateName(): string {
    return `netback-${this.frontendId}-${this.devid}`;
  }

  readonly stateVersion = NETBACK_STATE.version;

  saveState(): StateRecord {
    return NETBACK_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    NETBACK_STATE.load(this, rec, version);
    const hv = this.ctx.hv;
    for (const r of [this.tx, this.rx]) if (r) hv.checkMapping(r.map, this.backendPath);
    if (this.txPort > 0) hv.dom0.attach(this.txPort, () => this.onEvent());
    if (this.rxPort > 0 && this.rxPort !== this.txPort) hv.dom0.attach(this.rxPort, () => this.onEvent());
    this.uplink?.detach();
    this.uplink = this.tx ? this.attach(this) : null;
  }

  // ---- data path --------------------------------------------------------------------------

  /** The frontend kicked us (new TX packets or new RX buffers). */
  onEvent(): void {
    if (this.busy) return;
    this.busy = true;
    try {
      this.processTx();
      this.processRx();
    } finally {
      this.busy = false;
    }
  }

  /** A frame from the switch for our guest. */
  deliver(frame: Uint8Array): void {
    if (!this.rx) return;
    if (this.rxQueue.length >= RX_QUEUE_MAX) {
      this.stats.rxDropped++;
      return;
    }
    this.rxQueue.push(frame);
    if (!this.busy) {
      this.busy = true;
      try {
        this.processRx();
      } finally {
        this.busy = false;
      }
    }
  }

  private processTx(): void {
    let notify = false;
    for (;;) {
      const t = this.tx;
      if (!t) return;
      const shared = this.ctx.hv.mappedPage(t.map);
      const page = shared?.bytes, w = shared?.words;
      if (!page || !w) return this.fatal('tx ring page is gone');
      const ring = t.ring;
      const n = ring.unconsumedRequests(w);
      if (n < 0) return this.fatal(`frontend provided bogus tx ring requests (req_prod ${ring.req_prod(w)}); halting`);
      if (n === 0) {
        if (ring.finalCheckForRequests(w)) continue;
        break;
      }
      const slots = this.takePacket(page, ring, n);
      if (typeof slots === 'string') return this.fatal(slots);
      const status = this.transmit(slots);
      for (const s of slots) {
        const off = ring.slot(ring.rsp_prod_pvt);
        put16(page, off, s.extra ? 0 : u16(s.raw, 8));
        put16(page, off + 2, (s.extra ? NETIF_RSP_NULL : status) & 0xffff);
        ring.rsp_prod_pvt = (ring.rsp_prod_pvt + 1) >>> 0;
      }
      if (ring.pushResponsesAndCheckNotify(w)) notify = true;
    }
    if (notify) this.ctx.hv.dom0.notify(this.txPort);
  }

  /**
   * Copy out every slot of the packet at req_cons and consume them. A packet whose slots are
   * not all published, or that uses more slots than any frontend may, is a protocol error.
   */
  private takePacket(page: Uint8Array, ring: BackRing, avail: number): TxSlot[] | string {
    const slots: TxSlot[] = [];
    const take = (extra: boolean): Uint8Array | null => {
      if (slots.length >= avail) return null;
      const off = ring.slot(ring.req_cons + slots.length);
      const raw = page.slice(off, off + TX_SLOT);
      slots.push({ raw, extra });
      return raw;
    };
    const first = take(false)!;
    let flags = u16(first, 6);
    if (flags & NETTXF_extra_info) {
      for (let i = 0; ; i++) {
        const e = take(true);
        if (!e) return 'tx packet: extra-info slots not published';
        if (i >= MAX_EXTRAS) return 'tx packet: too many extra-info slots';
        if (!(e[1] & XEN_NETIF_EXTRA_FLAG_MORE)) break;
      }
    }
    let frags = 1;
    while (flags & NETTXF_more_data) {
      if (++frags > XEN_NETIF_NR_SLOTS_MIN) return `tx packet: more than ${XEN_NETIF_NR_SLOTS_MIN} slots`;
      const f = take(false);
      if (!f) return 'tx packet: fragments not published';
      flags = u16(f, 6);
    }
    ring.req_cons = (ring.req_cons + slots.length) >>> 0;
    return slots;
  }

  /** Validate, gather and send one packet; returns the status for its request slots. */
  private transmit(slots: TxSlot[]): number {
    const reqs = slots.filter((s) => !s.extra).map((s) => s.raw);
    for (const s of slots) {
      if (!s.extra) continue;
      const type = s.raw[0];
      // GSO was not offered; multicast control was not offered but is harmless to ignore.
      if (type !== XEN_NETIF_EXTRA_TYPE_MCAST_ADD && type !== XEN_NETIF_EXTRA_TYPE_MCAST_DEL) return this.txError();
    }
    const total = u16(reqs[0], 10);
    let rest = 0;
    for (let i = 1; i < reqs.length; i++) rest += u16(reqs[i], 10);
    if (total < ETH_HLEN || rest > total) return this.txError();
    const frame = new Uint8Array(total);
    let pos = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i];
      const gref = u32(r, 0);
      const offset = u16(r, 4);
      const len = i === 0 ? total - rest : u16(r, 10);
      if (offset + len > PAGE_SIZE) return this.txError();
      if (len === 0) continue;
      const at = pos;
      const got = this.ctx.hv.withGrant(this.frontendId, gref, false, (page) => frame.set(page.subarray(offset, offset + len), at));
      if (!got.ok) return this.txError();
      pos += len;
    }
    if (u16(reqs[0], 6) & NETTXF_csum_blank) completeChecksum(frame);
    this.stats.txPackets++;
    this.uplink?.send(frame);
    return NETIF_RSP_OKAY;
  }

  private txError(): number {
    this.stats.txErrors++;
    return NETIF_RSP_ERROR;
  }

  private processRx(): void {
    const r = this.rx;
    if (!r) return;
    const shared = this.ctx.hv.mappedPage(r.map);
    const page = shared?.bytes, w = shared?.words;
    if (!page || !w) return this.fatal('rx ring page is gone');
    const ring = r.ring;
    let notify = false;
    while (this.rxQueue.length > 0) {
      const frame = this.rxQueue[0];
      const need = Math.max(1, Math.ceil(frame.length / PAGE_SIZE));
      if (need > 1 && !this.rxSg) {
        this.rxQueue.shift();
        this.stats.rxDropped++;
        continue;
      }
      let n = ring.unconsumedRequests(w);
      if (n < 0) return this.fatal(`frontend provided bogus rx ring requests (req_prod ${ring.req_prod(w)}); halting`);
      if (n < need) {
        // Ask to be kicked when buffers arrive, then look once more.
        ring.finalCheckForRequests(w);
        n = ring.unconsumedRequests(w);
        if (n < 0) return this.fatal('frontend provided bogus rx ring requests; halting');
        if (n < need) break;
      }
      this.rxQueue.shift();
      for (let k = 0; k < need; k++) {
        const off = ring.slot(ring.req_cons);
        const req = page.slice(off, off + RX_SLOT); // copy out: u16 id @0, u32 gref @4
        ring.req_cons = (ring.req_cons + 1) >>> 0;
        const chunk = frame.subarray(k * PAGE_SIZE, Math.min(frame.length, (k + 1) * PAGE_SIZE));
        const got = this.ctx.hv.withGrant(this.frontendId, u32(req, 4), true, (dst) => dst.set(chunk, 0));
        const roff = ring.slot(ring.rsp_prod_pvt);
        put16(page, roff, u16(req, 0));
        put16(page, roff + 2, 0);
        put16(page, roff + 4, k < need - 1 ? NETRXF_more_data : 0);
        put16(page, roff + 6, (got.ok ? chunk.length : NETIF_RSP_ERROR) & 0xffff);
        ring.rsp_prod_pvt = (ring.rsp_prod_pvt + 1) >>> 0;
      }
      this.stats.rxPackets++;
      if (ring.pushResponsesAndCheckNotify(w)) notify = true;
    }
    if (notify) this.ctx.hv.dom0.notify(this.rxPort);
  }
}

const RING_AND_MAP = fields({ ring: BACK_RING, map: GRANT_MAPPING }, 'ring');

export const NETBACK_STATE = declareState('netback', {
  ...XENBUS_FIELDS,
  tx: optional(RING_AND_MAP),
  rx: optional(RING_AND_MAP),
  txPort: int(-1, 0xffff),
  rxPort: int(-1, 0xffff),
  rxSg: bool,
  /** Frames from the switch waiting for rx buffers. */
  rxQueue: list(bytes({ max: 0x10000 }), RX_QUEUE_MAX),
  stats: fields({ txPackets: count, txErrors: count, rxPackets: count, rxDropped: count }, 'netback stats'),
});

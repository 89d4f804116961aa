// xenstored's end of a guest's xenstore ring (struct xenstore_domain_interface, spec §10.1):
//   req[1024] @0 (guest -> us), rsp[1024] @1024 (us -> guest),
//   u32 req_cons @2048, req_prod @2052, rsp_cons @2056, rsp_prod @2060,
//   u32 server_features @2064, connection @2068, error @2072.
// Indexes are free-running u32; byte x of a stream lives at x & 1023.
//
// Requests are copied out of the ring into a private buffer before they are parsed. A bad
// index or an oversized message marks the connection broken (the guest's problem; xenstored
// stops talking to it) until the toolstack resets it. Replies wait in a bounded queue when
// the guest does not drain its response ring, and no new request is read meanwhile.

import type { StateRecord, Stateful } from '../../platform/bus';
import { str } from '../../platform/state';
import { fromLatin1, latin1, u32 } from '../bytes';
import type { AtomicWords, SharedPage } from '../../platform/bus';
import { encodeMessage, handleXsRequest, XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE, XS_WATCH_EVENT } from './wire';
import { isXsError, type XenStore, type XsConnection } from './store';

export const XENSTORE_RING_SIZE = 1024;
const REQ = 0;
const RSP = 1024;
const REQ_CONS = 2048;
const REQ_PROD = 2052;
const RSP_CONS = 2056;
const RSP_PROD = 2060;
const ERROR = 2072;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

/** Messages (replies + watch events) held for a guest that does not read its ring. */
const MAX_QUEUED_BYTES = 64 * 1024;

export interface XenstoreRingTransport {
  /** The ring page (4 KiB) with atomic access to its words, or null if it is gone. */
  page(): SharedPage | null;
  /** Kick the guest's end of the store event channel. */
  notify(): void;
  log(msg: string): void;
}

export class XenstoreRingServer implements Stateful {
  readonly stateVersion = 1;
  readonly conn: XsConnection;
  private readonly inBuf = new Uint8Array(XSD_SOCKMSG_SIZE + XENSTORE_PAYLOAD_MAX);
  private inLen = 0;
  private readonly out: Uint8Array[] = [];
  private outOff = 0;
  private outBytes = 0;
  private busy = false;
  /** Why the connection stopped, or null while healthy. */
  broken: string | null = null;
  droppedEvents = 0;
  /** Messages handled since creation (for the inspector). */
  messages = 0;

  constructor(
    private readonly store: XenStore,
    readonly domid: number,
    private readonly transport: XenstoreRingTransport,
  ) {
    this.conn = store.connect(domid, false, (path, token) => this.queueWatchEvent(path, token), `domain ${domid} ring`);
  }

  close(): void {
    this.store.disconnect(this.conn);
  }

  /** The guest notified the store port (or the toolstack wants us to look). */
  onEvent(): void {
    if (this.busy || this.broken) return;
    this.busy = true;
    let moved = false;
    try {
      for (let rounds = 0; rounds < 4096; rounds++) {
        const shared = this.transport.page();
        const page = shared?.bytes, w = shared?.words;
        if (!page || !w) return this.fail('ring page unavailable', XENSTORE_ERROR_COMM);
        moved = this.flush(page, w) || moved;
        if (this.broken) return;
        // Backpressure: only read the next request once every reply has gone out.
        if (this.out.length > 0) break;
        const got = this.readRequest(page, w);
        if (got < 0) return;
        if (got === 0) break;
        moved = true;
      }
      const shared = this.transport.page();
      const page = shared?.bytes, w = shared?.words;
      if (page && w) moved = this.flush(page, w) || moved;
    } finally {
      this.busy = false;
      if (moved && !this.broken) this.transport.notify();
    }
  }

  /**
   * Copy request bytes into the private buffer; dispatch when a message is complete.
   * Returns bytes consumed (0 = nothing available), or -1 if the connection broke.
   */
  private readRequest(page: Uint8Array, w: AtomicWords): number {
    const cons = w.load(REQ_CONS >> 2) >>> 0;
    const prod = w.load(REQ_PROD >> 2) >>> 0;
    const avail = (prod - cons) >>> 0;
    if (avail > XENSTORE_RING_SIZE) {
      this.fail(`bad request ring indexes (prod ${prod}, cons ${cons})`, XENSTORE_ERROR_RINGIDX);
      return -1;
    }
    if (avail === 0) return 0;
    const need = this.inLen < XSD_SOCKMSG_SIZE ? XSD_SOCKMSG_SIZE - this.inLen : XSD_SOCKMSG_SIZE + u32(this.inBuf, 12) - this.inLen;
    const n = Math.min(need, avail);
    for (let i = 0; i < n; i++) this.inBuf[this.inLen + i] = page[REQ + ((cons + i) & (XENSTORE_RING_SIZE - 1))];
    this.inLen += n;
    w.store(REQ_CONS >> 2, (cons + n) | 0);
    if (this.inLen === XSD_SOCKMSG_SIZE) {
      const len = u32(this.inBuf, 12);
      if (len > XENSTORE_PAYLOAD_MAX) {
        this.fail(`message of ${len} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`, XENSTORE_ERROR_PROTO);
        return -1;
      }
    }
    if (this.inLen >= XSD_SOCKMSG_SIZE && this.inLen === XSD_SOCKMSG_SIZE + u32(this.inBuf, 12)) {
      const h = { type: u32(this.inBuf, 0), req_id: u32(this.inBuf, 4), tx_id: u32(this.inBuf, 8), len: u32(this.inBuf, 12) };
      const payload = this.inBuf.slice(XSD_SOCKMSG_SIZE, XSD_SOCKMSG_SIZE + h.len);
      this.inLen = 0;
      this.messages++;
      handleXsRequest(this.store, this.conn, h, payload, (type, req, tx, p) => this.enqueue(encodeMessage(type, req, tx, p), true));
    }
    return n;
  }

  /** Write queued messages into the response ring. Returns whether anything was written. */
  private flush(page: Uint8Array, w: AtomicWords): boolean {
    let wrote = false;
    while (this.out.length > 0) {
      const cons = w.load(RSP_CONS >> 2) >>> 0;
      const prod = w.load(RSP_PROD >> 2) >>> 0;
      const used = (prod - cons) >>> 0;
      if (used > XENSTORE_RING_SIZE) {
        this.fail(`bad response ring indexes (prod ${prod}, cons ${cons})`, XENSTORE_ERROR_RINGIDX);
        return wrote;
      }
      const space = XENSTORE_RING_SIZE - used;
      if (space === 0) break;
      const m = this.out[0];
      const n = Math.min(space, m.length - this.outOff);
      for (let i = 0; i < n; i++) page[RSP + ((prod + i) & (XENSTORE_RING_SIZE - 1))] = m[this.outOff + i];
      w.store(RSP_PROD >> 2, (prod + n) | 0);
      wrote = true;
      this.outOff += n;
      if (this.outOff === m.length) {
        this.out.shift();
        this.outBytes -= m.length;
        this.outOff = 0;
      }
    }
    return wrote;
  }

  private enqueue(m: Uint8Array, reply: boolean): void {
    if (!reply && this.outBytes + m.length > MAX_QUEUED_BYTES) {
      this.droppedEvents++;
      return;
    }
    this.out.push(m);
    this.outBytes += m.length;
  }

  private queueWatchEvent(path: string, token: string): void {
    if (this.broken) return;
    this.enqueue(encodeMessage(XS_WATCH_EVENT, 0, 0, fromLatin1(`${path}\0${token}\0`)), false);
    // Outside our own request processing (e.g. dom0 wrote a watched node): send it now.
    if (!this.busy) this.onEvent();
  }

  private fail(why: string, code: number): void {
    this.broken = why;
    const shared = this.transport.page();
    const page = shared?.bytes, w = shared?.words;
    if (w) w.store(ERROR >> 2, code);
    this.transport.log(`xenstore ring of domain ${this.domid}: ${why}; connection stopped`);
  }

  /** Toolstack recovery: forget partial messages and queued output, resume from the current indexes. */
  reset(): void {
    this.inLen = 0;
    this.out.length = 0;
    this.outOff = 0;
    this.outBytes = 0;
    this.broken = null;
    const shared = this.transport.page();
    const page = shared?.bytes, w = shared?.words;
    if (w) w.store(ERROR >> 2, XENSTORE_ERROR_NONE);
  }

  get stateName(): string {
    return `xenstore-ring-d${this.domid}`;
  }

  /** Partial request, unsent output and the guest's watches (the ring indexes live in guest memory). */
  saveState(): StateRecord {
    const pending: number[] = [];
    this.out.forEach((m, i) => pending.push(...(i === 0 ? m.subarray(this.outOff) : m)));
    return {
      partial: this.inBuf.slice(0, this.inLen),
      output: Uint8Array.from(pending),
      watches: this.conn.watches.map((w) => ({ path: w.path, token: w.token })),
      broken: this.broken ?? '',
    };
  }

  loadState(state: StateRecord, version: number): void {
    const dev = this.stateName;
    if (version !== this.stateVersion) throw new Error(`${dev} state: version ${version}, this build reads ${this.stateVersion}`);
    const partial = state.partial;
    const output = state.output;
    if (!(partial instanceof Uint8Array) || partial.length > this.inBuf.length) throw new Error(`${dev} state: bad partial request`);
    if (!(output instanceof Uint8Array) || output.length > MAX_QUEUED_BYTES + XSD_SOCKMSG_SIZE + XENSTORE_PAYLOAD_MAX) throw new Error(`${dev} state: bad output queue`);
    this.inBuf.set(partial);
    this.inLen = partial.length;
    this.out.length = 0;
    this.outOff = 0;
    this.outBytes = output.length;
    if (output.length > 0) this.out.push(output.slice());
    this.store.resetWatches(this.conn);
    const watches = state.watches;
    if (!Array.isArray(watches)) throw new Error(`${dev} state: field "watches" is not a list`);
    for (const w of watches) {
      const path = typeof w === 'object' && w !== null && !Array.isArray(w) && !(w instanceof Uint8Array) ? (w as StateRecord).path : undefined;
      const token = typeof w === 'object' && w !== null && !Array.isArray(w) && !(w instanceof Uint8Array) ? (w as StateRecord).token : undefined;
      if (typeof path !== 'string' || typeof token !== 'string' || isXsError(this.store.watch(this.conn, path, token)))
        throw new Error(`${dev} state: bad watch ${JSON.stringify(w)}`);
    }
    const broken = str(4096).load(state.broken, `${dev}.broken`);
    this.broken = broken === '' ? null : broken;
  }

  /** For the inspector: pending partial request and queued output. */
  describe(): string {
    return `${this.messages} messages, ${this.inLen} bytes of partial request, ${this.out.length} queued replies/events${this.broken ? `, broken: ${this.broken}` : ''}; last request ${latin1(this.inBuf.subarray(0, Math.min(this.inLen, 32)))}`;
  }
}

// The guest's side of a xenstore ring, written independently of the server for the tests:
// it lays request bytes into req[] at req_prod (wrapping at 1024) and parses whatever the
// server put into rsp[], like Linux's xenbus_comms does.

const REQ = 0;
const RSP = 1024;
const REQ_CONS = 2048;
const REQ_PROD = 2052;
const RSP_CONS = 2056;
const RSP_PROD = 2060;
const RING = 1024;

export interface XsMsg {
  type: number;
  req_id: number;
  tx_id: number;
  payload: Uint8Array;
  /** Payload as text with NULs shown as '|'. */
  text: string;
}

function rd32(p: Uint8Array, o: number): number {
  return (p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | (p[o + 3] << 24)) >>> 0;
}
function wr32(p: Uint8Array, o: number, v: number): void {
  p[o] = v & 0xff;
  p[o + 1] = (v >>> 8) & 0xff;
  p[o + 2] = (v >>> 16) & 0xff;
  p[o + 3] = (v >>> 24) & 0xff;
}

export function xsMessage(type: number, req_id: number, tx_id: number, payload: string | Uint8Array): Uint8Array {
  const len = payload.length;
  const m = new Uint8Array(16 + len);
  wr32(m, 0, type);
  wr32(m, 4, req_id);
  wr32(m, 8, tx_id);
  wr32(m, 12, len);
  if (typeof payload === 'string') for (let i = 0; i < len; i++) m[16 + i] = payload.charCodeAt(i);
  else m.set(payload, 16);
  return m;
}

/** A growable byte queue. */
class ByteQueue {
  private buf = new Uint8Array(256);
  private head = 0;
  private tail = 0;
  get length(): number {
    return this.tail - this.head;
  }
  push(b: Uint8Array): void {
    if (this.tail + b.length > this.buf.length) {
      const n = new Uint8Array(Math.max(this.buf.length * 2, this.length + b.length + 256));
      n.set(this.buf.subarray(this.head, this.tail));
      this.tail -= this.head;
      this.head = 0;
      this.buf = n;
    }
    this.buf.set(b, this.tail);
    this.tail += b.length;
  }
  peek(n: number): Uint8Array {
    return this.buf.subarray(this.head, this.head + n);
  }
  at(i: number): number {
    return this.buf[this.head + i];
  }
  drop(n: number): void {
    this.head += n;
    if (this.head === this.tail) this.head = this.tail = 0;
  }
}

export class GuestXsRing {
  private readonly pendingOut = new ByteQueue();
  private readonly inBytes = new ByteQueue();
  readonly received: XsMsg[] = [];
  private nextReq = 1;

  constructor(
    private readonly page: () => Uint8Array,
    private readonly kick: () => void,
  ) {}

  /** Start both streams at `idx` (guests must not assume 0). */
  setIndexes(idx: number): void {
    const p = this.page();
    for (const o of [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD]) wr32(p, o, idx);
  }

  /** Queue raw bytes; push() moves as many as fit into the ring. */
  queue(bytes: Uint8Array): void {
    this.pendingOut.push(bytes);
  }

  /** Move up to `max` queued bytes into the ring, then kick. Returns bytes moved. */
  push(max = Infinity): number {
    const p = this.page();
    const cons = rd32(p, REQ_CONS);
    const prod = rd32(p, REQ_PROD);
    const space = RING - ((prod - cons) >>> 0);
    const n = Math.min(space, max, this.pendingOut.length);
    for (let i = 0; i < n; i++) p[REQ + ((prod + i) & (RING - 1))] = this.pendingOut.at(i);
    this.pendingOut.drop(n);
    wr32(p, REQ_PROD, (prod + n) >>> 0);
    if (n > 0) this.kick();
    return n;
  }

  /** Consume response bytes and parse complete messages. */
  pull(): XsMsg[] {
    const p = this.page();
    const cons = rd32(p, RSP_CONS);
    const prod = rd32(p, RSP_PROD);
    const n = (prod - cons) >>> 0;
    const chunk = new Uint8Array(n);
    for (let i = 0; i < n; i++) chunk[i] = p[RSP + ((cons + i) & (RING - 1))];
    this.inBytes.push(chunk);
    wr32(p, RSP_CONS, prod);
    const out: XsMsg[] = [];
    while (this.inBytes.length >= 16) {
      const h = this.inBytes.peek(16);
      const len = rd32(h, 12);
      if (this.inBytes.length < 16 + len) break;
      const payload = this.inBytes.peek(16 + len).slice(16);
      out.push({ type: rd32(h, 0), req_id: rd32(h, 4), tx_id: rd32(h, 8), payload, text: String.fromCharCode(...payload).replace(/\0/g, '|') });
      this.inBytes.drop(16 + len);
    }
    if (n > 0) this.kick();
    this.received.push(...out);
    return out;
  }

  /** Send one request, pump until its reply arrives (watch events are kept in `received`). */
  request(type: number, payload: string | Uint8Array, tx_id = 0): XsMsg {
    const id = this.nextReq++;
    this.queue(xsMessage(type, id, tx_id, payload));
    for (let i = 0; i < 100; i++) {
      this.push();
      this.pull();
      const at = this.received.findIndex((m) => m.req_id === id && m.type !== 15);
      if (at >= 0) return this.received.splice(at, 1)[0];
    }
    throw new Error(`no reply to request ${id} (type ${type})`);
  }

  /** Watch events received so far (and forget them). */
  takeEvents(): string[] {
    this.pull();
    const ev = this.received.filter((m) => m.type === 15).map((m) => m.text);
    for (let i = this.received.length - 1; i >= 0; i--) if (this.received[i].type === 15) this.received.splice(i, 1);
    return ev;
  }

  /** Forget watch events (a driver that does not care about them). */
  dropEvents(): void {
    for (let i = this.received.length - 1; i >= 0; i--) if (this.received[i].type === 15) this.received.splice(i, 1);
  }
}

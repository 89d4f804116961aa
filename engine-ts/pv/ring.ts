// Xen shared rings (io/ring.h, spec §12.1), backend side. One page:
//   u32 req_prod @0, u32 req_event @4, u32 rsp_prod @8, u32 rsp_event @12, padding to 64,
//   then ring[] of entries (each the larger of request and response).
// Indexes are free-running u32; slot = idx & (RING_SIZE - 1). The backend's private counters
// are req_cons and rsp_prod_pvt. Everything the frontend wrote is untrusted: a producer
// index more than RING_SIZE ahead of our responses is an overflow, reported as -1.

import type { AtomicWords } from '../platform/bus';
import { fields, int, u32, type Codec } from '../platform/state';
import { PAGE_SIZE } from './xen-public';

export const RING_HEADER_SIZE = 64;
const REQ_PROD = 0;
const REQ_EVENT = 1;
const RSP_PROD = 2;
const RSP_EVENT = 3;

/** __RING_SIZE: entries that fit after the header, rounded down to a power of two. */
export function ringSize(entrySize: number, pageBytes = PAGE_SIZE): number {
  const fit = Math.floor((pageBytes - RING_HEADER_SIZE) / entrySize);
  if (fit < 1) throw new RangeError(`ring entry of ${entrySize} bytes does not fit a ${pageBytes}-byte page`);
  return 2 ** Math.floor(Math.log2(fit));
}

/** BACK_RING: the backend's view of one shared ring page. */
export class BackRing {
  readonly size: number;
  req_cons = 0;
  rsp_prod_pvt = 0;

  constructor(readonly entrySize: number) {
    this.size = ringSize(entrySize);
  }

  /** Byte offset of the entry for ring index `idx`. */
  slot(idx: number): number {
    return RING_HEADER_SIZE + (idx & (this.size - 1)) * this.entrySize;
  }

  req_prod(w: AtomicWords): number {
    return w.load(REQ_PROD) >>> 0;
  }

  /**
   * Requests the backend may consume now: min(req_prod - req_cons, free response slots).
   * -1 when req_prod is further ahead than the ring can hold (RING_REQUEST_PROD_OVERFLOW).
   */
  unconsumedRequests(w: AtomicWords): number {
    const prod = this.req_prod(w);
    if (((prod - this.rsp_prod_pvt) >>> 0) > this.size) return -1;
    const req = (prod - this.req_cons) >>> 0;
    const rsp = this.size - ((this.req_cons - this.rsp_prod_pvt) >>> 0);
    return Math.min(req, rsp);
  }

  /**
   * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish rsp_prod_pvt; notify only if the frontend's
   * rsp_event lies in (old, new].
   */
  pushResponsesAndCheckNotify(w: AtomicWords): boolean {
    const old = w.load(RSP_PROD) >>> 0;
    const now = this.rsp_prod_pvt >>> 0;
    w.store(RSP_PROD, now | 0);
    const event = w.load(RSP_EVENT) >>> 0;
    return ((now - event) >>> 0) < ((now - old) >>> 0);
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: if nothing is left, ask to be notified at the next request
   * (req_event = req_cons + 1) and look once more to close the race. True if work remains
   * (or the ring overflowed: the caller's next unconsumedRequests() reports that).
   */
  finalCheckForRequests(w: AtomicWords): boolean {
    if (this.unconsumedRequests(w) !== 0) return true;
    w.store(REQ_EVENT, (this.req_cons + 1) | 0);
    return this.unconsumedRequests(w) !== 0;
  }

  /** BACK_RING_ATTACH-style start at the frontend's current indexes (or 0 for a fresh ring). */
  reset(start = 0): void {
    this.req_cons = start >>> 0;
    this.rsp_prod_pvt = start >>> 0;
  }
}

const RING_INDEXES = fields({ entrySize: int(1, PAGE_SIZE - RING_HEADER_SIZE), req_cons: u32, rsp_prod_pvt: u32 }, 'back ring');

/** A back ring's private indexes (the shared ones live in the guest's page). */
export const BACK_RING: Codec<BackRing> = {
  describe: 'back ring',
  save: (r) => RING_INDEXES.save(r as unknown as Record<string, unknown>),
  load: (v, path) => {
    const x = RING_INDEXES.load(v, path) as { entrySize: number; req_cons: number; rsp_prod_pvt: number };
    const r = new BackRing(x.entrySize);
    r.req_cons = x.req_cons;
    r.rsp_prod_pvt = x.rsp_prod_pvt;
    return r;
  },
};

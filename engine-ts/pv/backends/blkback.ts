// blkback: the block backend for xen-blkfront (io/blkif.h, spec §11-§12).
//
// Negotiation (all in publishFeatures / connect): we offer flush-cache and barrier, discard
// when the disk can, indirect segments (up to MAX_INDIRECT_SEGMENTS per request), no
// persistent grants, one ring page, one queue. The frontend's `protocol` picks the request
// layout (x86_32-abi by default).
//
// Data path: every request on the ring is copied out, validated (operation, segment count,
// first/last sector, disk range; for INDIRECT the segment pages are copied out too) and
// started at once, so the disk sees the whole queue (up to the 32 ring slots) without a round
// trip through the guest between requests. The disk runs them in the order they were issued
// (BlockDevice contract); a WRITE_BARRIER waits for everything before it and holds back
// everything after it. Guest data moves only through hv.withGrant, which hands over exactly
// the granted page.
//
// Guest time: like the emulated IDE disk, requests go through a HostIoQueue. Each one is
// due a modelled service time after the one before it (one disk, DEFAULT_HOST_IO_TIMING),
// and its response {id, operation, status} lands at that guest time once the host I/O has
// finished, in ring order. Write data is gathered from the guest's pages when the request
// is taken and read data is scattered into them when it is answered, so what the guest
// sees, and when, does not depend on how fast the host's disk is.

import type { BlockDevice } from '../../disk/block-device';
import { SECTOR_SIZE } from '../../disk/block-device';
import type { VirtualClock } from '../../platform/clock';
import { DEFAULT_HOST_IO_TIMING, HostIoQueue, ioCostNs, type HostIoTiming } from '../../platform/host-io-queue';
import { type GrantMapping } from '../hypervisor';
import { BACK_RING, BackRing } from '../ring';
import type { StateRecord, Stateful } from '../../platform/bus';
import { count, declareState, fields, int, oneOf, optional, type Codec } from '../../platform/state';
import { put16, put8, u32, u64 } from '../bytes';
import { PAGE_SIZE } from '../xen-public';
import { GRANT_MAPPING, XENBUS_FIELDS, XenbusBackend, type BackendContext } from './xenbus-backend';

export const BLKIF_OP_READ = 0;
export const BLKIF_OP_WRITE = 1;
export const BLKIF_OP_WRITE_BARRIER = 2;
export const BLKIF_OP_FLUSH_DISKCACHE = 3;
export const BLKIF_OP_DISCARD = 5;
export const BLKIF_OP_INDIRECT = 6;

export const BLKIF_RSP_EOPNOTSUPP = -2;
export const BLKIF_RSP_ERROR = -1;
export const BLKIF_RSP_OKAY = 0;

export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** Segments we accept in one INDIRECT request (feature-max-indirect-segments; Linux blkback offers 256). */
export const MAX_INDIRECT_SEGMENTS = 256;
/**
 * Linux kernel parameter that lets xen-blkfront use all of them (its default is 32, which
 * splits a 1 MiB transfer into eight requests). The lab passes it when it boots Linux with PV devices.
 */
export const BLKFRONT_CMDLINE = `xen_blkfront.max_indirect_segments=${MAX_INDIRECT_SEGMENTS}`;
/** blkif_request_segment structs per indirect page (8 bytes each). */
const SEGMENTS_PER_INDIRECT_PAGE = PAGE_SIZE / 8;
/** BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: indirect_grefs[] slots in the request. */
const MAX_INDIRECT_PAGES = 8;
/** Sectors per 4 KiB segment page: first_sect/last_sect run 0..7. */
const SECTORS_PER_PAGE = PAGE_SIZE / SECTOR_SIZE;

export const VDISK_CDROM = 1;
export const VDISK_REMOVABLE = 2;
export const VDISK_READONLY = 4;

/** Request layouts by protocol (offsets in bytes). */
interface BlkifAbi {
  name: string;
  requestSize: number;
  idOff: number;
  sectorOff: number;
  segOff: number;
  discardNrOff: number;
  /** blkif_request_indirect: indirect_grefs[8] (indirect_op @1 and u16 nr_segments @2 in both). */
  indirectGrefsOff: number;
}
const ABI_X86_32: BlkifAbi = { name: 'x86_32-abi', requestSize: 108, idOff: 4, sectorOff: 12, segOff: 20, discardNrOff: 20, indirectGrefsOff: 24 };
const ABI_X86_64: BlkifAbi = { name: 'x86_64-abi', requestSize: 112, idOff: 8, sectorOff: 16, segOff: 24, discardNrOff: 24, indirectGrefsOff: 28 };
/** blkif_response: u64 id @0, u8 operation @8, i16 status @10. */
const RSP_OP = 8;
const RSP_STATUS = 10;

/** A request copied out of the ring and checked. */
interface Segment {
  gref: number;
  first_sect: number;
  last_sect: number;
}
interface BlkRequest {
  operation: number;
  /** The 8 id bytes, echoed unchanged. */
  id: Uint8Array;
  sector_number: number;
  segments: Segment[];
  nr_sectors: number;
}

export interface BlkbackOptions {
  /** Export read-only even if the disk is writable (xenstore mode "r"). */
  readOnly?: boolean;
  /** Guest-time cost of disk I/O (default DEFAULT_HOST_IO_TIMING, as the IDE disk). */
  timing?: HostIoTiming;
  /** The host finished an operation (the board wakes an idle vCPU). */
  onHostDone?: () => void;
}

export class BlkBack extends XenbusBackend implements Stateful {
  private mapping: GrantMapping | null = null;
  private port = -1;
  private ring: BackRing | null = null;
  private abi: BlkifAbi = ABI_X86_32;
  /** Bumped on every disconnect so late I/O completions of an old connection are dropped. */
  private generation = 0;
  /** Requests consumed from the ring and not yet answered. */
  private inFlight = 0;
  /** The same requests as the inspector shows them: ring index, operation, first sector, sectors. */
  readonly requestsInFlight = new Set<{ index: number; op: number; sector: number; sectors: number }>();
  /** Settles when the latest WRITE_BARRIER's host I/O has finished; later requests start after it. */
  private barrier: Promise<unknown> | null = null;
  /** Host I/O of the requests in flight (a barrier waits for all of it). */
  private readonly pending = new Set<Promise<unknown>>();
  private consuming = false;
  private readonly readOnly: boolean;
  private readonly timing: HostIoTiming;
  /** Places every answer in guest time (see the file comment). */
  private readonly queue: HostIoQueue;
  stats = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0, flushes: 0, discards: 0, indirect: 0, maxInFlight: 0 };

  constructor(
    ctx: BackendContext,
    frontendId: number,
    devid: number,
    private readonly disk: BlockDevice,
    clock: VirtualClock,
    opts: BlkbackOptions = {},
  ) {
    super(ctx, 'vbd', frontendId, devid);
    this.readOnly = opts.readOnly === true || disk.readOnly;
    this.timing = opts.timing ?? DEFAULT_HOST_IO_TIMING;
    this.queue = new HostIoQueue(clock, `blkback d${frontendId} ${devid}`, opts.onHostDone, true);
    if (disk.size % SECTOR_SIZE !== 0) throw new Error(`disk size ${disk.size} is not a multiple of ${SECTOR_SIZE}`);
  }

  private get sectors(): number {
    return this.disk.size / SECTOR_SIZE;
  }

  get connected(): boolean {
    return this.ring !== null;
  }

  /** No request is being processed (all consumed requests have been answered). */
  get idle(): boolean {
    return this.inFlight === 0 && this.queue.idle;
  }

  /** Guest time reached an answer's due time before the host finished its I/O (see HostIoQueue). */
  get waitingForHost(): boolean {
    return this.queue.waitingForHost;
  }

  /** Resolves once `waitingForHost` no longer holds. */
  hostReady(): Promise<void> {
    return this.queue.hostReady();
  }

  /** Answer every request taken from the ring now (before a snapshot; see HostIoQueue.drainNow). */
  async quiesce(): Promise<void> {
    for (let n = 0; !this.idle; n++) {
      if (n > 10_000) throw new Error(`${this.backendPath}: requests keep coming while it drains`);
      await Promise.all([...this.pending]);
      await this.queue.drainNow();
    }
  }

  // ---- negotiation ----------------------------------------------------------------------

  protected publishFeatures(): void {
    const xs = this.ctx.xs;
    const p = this.backendPath;
    xs.write(`${p}/feature-flush-cache`, '1');
    xs.write(`${p}/feature-barrier`, '1');
    xs.write(`${p}/feature-persistent`, '0');
    xs.write(`${p}/feature-max-indirect-segments`, String(MAX_INDIRECT_SEGMENTS));
    if (this.disk.discard && !this.readOnly) {
      xs.write(`${p}/feature-discard`, '1');
      xs.write(`${p}/discard-granularity`, String(SECTOR_SIZE));
      xs.write(`${p}/discard-alignment`, '0');
      xs.write(`${p}/discard-secure`, '0');
    } else {
      xs.write(`${p}/feature-discard`, '0');
    }
    // Left out on purpose: max-ring-page-order and multi-queue-max-queues (one page, one queue:
    // 32 requests of up to MAX_INDIRECT_SEGMENTS pages keep the disk busy).
  }

  protected connect(): boolean {
    const xs = this.ctx.xs;
    const fe = this.frontendPath;
    const order = xs.readInt(`${fe}/ring-page-order`) ?? 0;
    if (order !== 0) return this.fail(`ring-page-order ${order} requested but not offered`);
    const queues = xs.readInt(`${fe}/multi-queue-num-queues`) ?? 1;
    if (queues !== 1) return this.fail(`${queues} queues requested but not offered`);
    const ref = xs.readInt(`${fe}/ring-ref`) ?? xs.readInt(`${fe}/ring-ref0`);
    const evtchn = xs.readInt(`${fe}/event-channel`);
    if (ref === undefined || evtchn === undefined) return this.fail('frontend did not publish ring-ref and event-channel');
    const protocol = xs.read(`${fe}/protocol`) ?? ABI_X86_32.name;
    if (protocol === ABI_X86_32.name) this.abi = ABI_X86_32;
    else if (protocol === ABI_X86_64.name) this.abi = ABI_X86_64;
    else return this.fail(`unknown protocol ${JSON.stringify(protocol)}`);

    const m = this.ctx.hv.mapGrant(this.frontendId, ref, true);
    if (typeof m === 'number') return this.fail(`mapping ring-ref ${ref} failed (grant status ${m})`);
    this.mapping = m;
    const gen = this.generation;
    const port = this.ctx.hv.dom0.bindInterdomain(this.frontendId, evtchn, () => {
      if (gen === this.generation) this.kick();
    });
    if (port < 0) return this.fail(`binding event-channel ${evtchn} failed (${port})`);
    this.port = port;
    this.ring = new BackRing(this.abi.requestSize);

    const be = this.backendPath;
    xs.write(`${be}/sectors`, String(this.sectors));
    xs.write(`${be}/info`, String(this.readOnly ? VDISK_READONLY : 0));
    xs.write(`${be}/sector-size`, String(SECTOR_SIZE));
    xs.write(`${be}/physical-sector-size`, String(SECTOR_SIZE));
    return true;
  }

  private fail(msg: string): false {
    this.fatal(msg);
    return false;
  }

  protected disconnect(): void {
    this.generation++;
    this.inFlight = 0;
    this.requestsInFlight.clear();
    this.barrier = null;
    this.pending.clear();
    this.ring = null;
    if (this.port > 0) this.ctx.hv.dom0.close(this.port);
    this.port = -1;
    if (this.mapping) this.ctx.hv.unmapGrant(this.mapping);
    this.mapping = null;
  }

  // ---- state ------------------------------------------------------------------------------
  // Saved between requests: the machine is quiesced first (every answer delivered), so only
  // the connection is state — its ring mapping, port, private ring indexes and generation.

  get stateName(): string {
    return `blkback-${this.frontendId}-${this.devid}`;
  }

  readonly stateVersion = BLKBACK_STATE.version;

  saveState(): StateRecord {
    if (!this.idle) throw new Error(`${this.backendPath}: requests in flight (quiesce first)`);
    return BLKBACK_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    BLKBACK_STATE.load(this, rec, version);
    this.inFlight = 0;
    this.requestsInFlight.clear();
    this.barrier = null;
    this.pending.clear();
    if (this.mapping) this.ctx.hv.checkMapping(this.mapping, this.backendPath);
    if (this.port > 0) {
      const gen = this.generation;
      this.ctx.hv.dom0.attach(this.port, () => {
        if (gen === this.generation) this.kick();
      });
    }
  }

  // ---- data path --------------------------------------------------------------------------

  /** The frontend notified us (or a slot came free): start every request on the ring. */
  kick(): void {
    if (this.consuming || !this.ring) return;
    this.consuming = true;
    try {
      this.consume(this.generation);
    } catch (e) {
      this.ctx.log(`${this.backendPath}: ${(e as Error).message}`);
      this.fatal(`internal error: ${(e as Error).message}`);
    } finally {
      this.consuming = false;
    }
  }

  private consume(gen: number): void {
    for (;;) {
      if (gen !== this.generation || !this.ring || !this.mapping) return;
      const shared = this.ctx.hv.mappedPage(this.mapping);
      const page = shared?.bytes, w = shared?.words;
      if (!page || !w) return this.fatal('ring page is gone');
      const ring = this.ring;
      const n = ring.unconsumedRequests(w);
      if (n < 0) {
        return this.fatal(`frontend provided bogus ring requests (req_prod ${ring.req_prod(w)}, rsp_prod_pvt ${ring.rsp_prod_pvt}); halting`);
      }
      if (n === 0) {
        if (ring.finalCheckForRequests(w)) continue;
        return;
      }
      for (let i = 0; i < n; i++) {
        // Copy the request out before looking at it: the guest may rewrite the slot.
        const off = ring.slot(ring.req_cons);
        const raw = page.slice(off, off + this.abi.requestSize);
        const index = ring.req_cons;
        ring.req_cons = (ring.req_cons + 1) >>> 0;
        this.startRequest(raw, gen, index);
      }
    }
  }

  /** Validate one request and start its host I/O; it is answered at its due guest time. */
  private startRequest(raw: Uint8Array, gen: number, index: number): void {
    // The response names the request's operation (for INDIRECT, the operation inside it).
    const op = raw[0] === BLKIF_OP_INDIRECT ? raw[1] : raw[0];
    const req = this.parse(raw);
    if (typeof req === 'number') {
      this.respond(raw, op, req);
      return;
    }
    let data: Uint8Array | null = null;
    if (req.operation !== BLKIF_OP_READ && req.operation !== BLKIF_OP_DISCARD && req.nr_sectors > 0) {
      // Take the data now: later changes to the pages are not part of this write, and a grant
      // the guest did not give fails the request before the disk changes.
      const gathered = this.gather(req);
      if (typeof gathered === 'number') {
        this.respond(raw, op, gathered);
        return;
      }
      data = gathered;
    } else if (req.operation === BLKIF_OP_READ) {
      data = new Uint8Array(req.nr_sectors * SECTOR_SIZE);
    }
    this.inFlight++;
    const shown = { index, op: req.operation, sector: req.sector_number, sectors: req.nr_sectors };
    this.requestsInFlight.add(shown);
    this.stats.requests++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    let done: Promise<number>;
    if (req.operation === BLKIF_OP_WRITE_BARRIER) {
      done = Promise.all(this.pending).then(() => this.execute(req, data));
      this.barrier = done;
    } else if (this.barrier) {
      done = this.barrier.then(() => this.execute(req, data));
    } else {
      done = this.execute(req, data); // issues its disk operations now, in ring order
    }
    let status = BLKIF_RSP_ERROR;
    // Never rejects (a barrier's Promise.all must see every request through).
    const hostDone = done.then(
      (s) => {
        status = s;
      },
      (e: unknown) => {
        status = this.error(`internal error: ${(e as Error).message}`);
      },
    );
    this.pending.add(hostDone);
    void hostDone.then(() => {
      this.pending.delete(hostDone);
      if (this.barrier === done && gen === this.generation) this.barrier = null;
    });
    this.queue.submit(ioCostNs(this.timing, data ? data.length / SECTOR_SIZE : 0), () => hostDone, (error) => {
      if (error !== null) status = this.error(`internal error: ${error}`);
      this.requestsInFlight.delete(shown);
      this.complete(gen, raw, op, req, data, status);
    });
  }

  /** The request is due: put read data into the guest's pages and answer. */
  private complete(gen: number, raw: Uint8Array, op: number, req: BlkRequest, data: Uint8Array | null, status: number): void {
    if (gen !== this.generation) return; // disconnected since
    this.inFlight--;
    if (status === BLKIF_RSP_OKAY && req.operation === BLKIF_OP_READ && data) status = this.scatter(req, data);
    this.respond(raw, op, status);
    // A full ring may have left requests unconsumed: the freed slot lets us take them.
    this.kick();
  }

  /** Copy a write's data out of its granted pages, or the status to fail it with. */
  private gather(req: BlkRequest): Uint8Array | number {
    const buf = new Uint8Array(req.nr_sectors * SECTOR_SIZE);
    const status = this.eachSegment(req, false, 'write', (page, off, at, len) => buf.set(page.subarray(off, off + len), at));
    return status === BLKIF_RSP_OKAY ? buf : status;
  }

  /** Copy read data into the request's granted pages; the status to answer with. */
  private scatter(req: BlkRequest, data: Uint8Array): number {
    const status = this.eachSegment(req, true, 'read', (page, off, at, len) => page.set(data.subarray(at, at + len), off));
    if (status === BLKIF_RSP_OKAY) this.stats.bytesRead += data.length;
    return status;
  }

  /**
   * Hand each segment's granted page to `copy` with the segment's byte offset in the page, its
   * offset in the request's data and its length. Stops at a grant the guest did not give.
   */
  private eachSegment(req: BlkRequest, writable: boolean, what: string, copy: (page: Uint8Array, off: number, at: number, len: number) => void): number {
    let at = 0;
    for (const s of req.segments) {
      const len = (s.last_sect - s.first_sect + 1) * SECTOR_SIZE;
      const from = at;
      const r = this.ctx.hv.withGrant(this.frontendId, s.gref, writable, (page) => copy(page, s.first_sect * SECTOR_SIZE, from, len));
      if (!r.ok) return this.error(`${what}: grant ${s.gref} refused (status ${r.status})`);
      at += len;
    }
    return BLKIF_RSP_OKAY;
  }

  /** Decode and validate; a number is the status to answer with at once. */
  private parse(raw: Uint8Array): BlkRequest | number {
    const a = this.abi;
    const operation = raw[0];
    const id = raw.slice(a.idOff, a.idOff + 8);
    const sector_number = u64(raw, a.sectorOff);
    switch (operation) {
      case BLKIF_OP_READ:
      case BLKIF_OP_WRITE:
      case BLKIF_OP_WRITE_BARRIER:
      case BLKIF_OP_FLUSH_DISKCACHE: {
        const nr = raw[1];
        const dataless = operation === BLKIF_OP_FLUSH_DISKCACHE || operation === BLKIF_OP_WRITE_BARRIER;
        if (nr > BLKIF_MAX_SEGMENTS_PER_REQUEST || (nr === 0 && !dataless)) return BLKIF_RSP_ERROR;
        if (operation !== BLKIF_OP_READ && nr > 0 && this.readOnly) return BLKIF_RSP_ERROR;
        return this.segmentsOf(operation, id, sector_number, raw, a.segOff, nr);
      }
      case BLKIF_OP_DISCARD: {
        if (!this.disk.discard || this.readOnly) return BLKIF_RSP_EOPNOTSUPP;
        const nr_sectors = u64(raw, a.discardNrOff);
        if (nr_sectors === 0 || sector_number > this.sectors || nr_sectors > this.sectors - sector_number) return BLKIF_RSP_ERROR;
        return { operation, id, sector_number, segments: [], nr_sectors };
      }
      case BLKIF_OP_INDIRECT:
        return this.parseIndirect(raw, id, sector_number);
      default:
        // RESERVED_1 and anything else.
        return BLKIF_RSP_EOPNOTSUPP;
    }
  }

  /**
   * blkif_request_indirect: the segments live in up to 8 granted pages (512 per page). They
   * are copied out of those pages now, so the guest cannot change them under us.
   */
  private parseIndirect(raw: Uint8Array, id: Uint8Array, sector_number: number): BlkRequest | number {
    const operation = raw[1];
    if (operation !== BLKIF_OP_READ && operation !== BLKIF_OP_WRITE) return BLKIF_RSP_EOPNOTSUPP;
    if (operation === BLKIF_OP_WRITE && this.readOnly) return BLKIF_RSP_ERROR;
    const nr = raw[2] | (raw[3] << 8);
    if (nr === 0 || nr > MAX_INDIRECT_SEGMENTS) return BLKIF_RSP_ERROR;
    const pages = Math.ceil(nr / SEGMENTS_PER_INDIRECT_PAGE);
    if (pages > MAX_INDIRECT_PAGES) return BLKIF_RSP_ERROR;
    const descs = new Uint8Array(nr * 8);
    for (let p = 0; p < pages; p++) {
      const gref = u32(raw, this.abi.indirectGrefsOff + p * 4);
      const count = Math.min(SEGMENTS_PER_INDIRECT_PAGE, nr - p * SEGMENTS_PER_INDIRECT_PAGE);
      const r = this.ctx.hv.withGrant(this.frontendId, gref, false, (page) => descs.set(page.subarray(0, count * 8), p * SEGMENTS_PER_INDIRECT_PAGE * 8));
      if (!r.ok) return this.error(`indirect: grant ${gref} of the segment page refused (status ${r.status})`);
    }
    this.stats.indirect++;
    return this.segmentsOf(operation, id, sector_number, descs, 0, nr);
  }

  /** Decode `nr` blkif_request_segment structs at `off` and check them against the disk. */
  private segmentsOf(operation: number, id: Uint8Array, sector_number: number, b: Uint8Array, off: number, nr: number): BlkRequest | number {
    const segments: Segment[] = [];
    let nr_sectors = 0;
    for (let i = 0; i < nr; i++) {
      const s = off + i * 8; // u32 gref @0, u8 first_sect @4, u8 last_sect @5
      const seg = { gref: u32(b, s), first_sect: b[s + 4], last_sect: b[s + 5] };
      if (seg.last_sect >= SECTORS_PER_PAGE || seg.first_sect > seg.last_sect) return BLKIF_RSP_ERROR;
      segments.push(seg);
      nr_sectors += seg.last_sect - seg.first_sect + 1;
    }
    if (nr > 0 && (sector_number > this.sectors || nr_sectors > this.sectors - sector_number)) return BLKIF_RSP_ERROR;
    return { operation, id, sector_number, segments, nr_sectors };
  }

  /** The host side of a request: the disk operations. Guest pages are not touched here. */
  private async execute(req: BlkRequest, data: Uint8Array | null): Promise<number> {
    try {
      switch (req.operation) {
        case BLKIF_OP_READ:
          await this.disk.read(req.sector_number, data!);
          return BLKIF_RSP_OKAY;
        case BLKIF_OP_WRITE:
        case BLKIF_OP_WRITE_BARRIER:
        case BLKIF_OP_FLUSH_DISKCACHE: {
          // Barrier / flush-with-data: earlier writes are durable before this one, and it after.
          // All of the request's disk operations are issued now, so they queue in ring order.
          const flushing = req.operation !== BLKIF_OP_WRITE;
          const ops: Promise<void>[] = [];
          if (flushing) ops.push(this.flush());
          if (data) {
            ops.push(this.disk.write(req.sector_number, data));
            if (flushing) ops.push(this.flush());
          }
          await Promise.all(ops);
          this.stats.bytesWritten += data?.length ?? 0;
          return BLKIF_RSP_OKAY;
        }
        case BLKIF_OP_DISCARD:
          await this.disk.discard!(req.sector_number, req.nr_sectors);
          this.stats.discards++;
          return BLKIF_RSP_OKAY;
        default:
          return BLKIF_RSP_EOPNOTSUPP;
      }
    } catch (e) {
      return this.error(`I/O error: ${(e as Error).message}`);
    }
  }

  private async flush(): Promise<void> {
    this.stats.flushes++;
    await this.disk.flush();
  }

  private error(msg: string): number {
    this.stats.errors++;
    this.ctx.log(`${this.backendPath}: ${msg}`);
    return BLKIF_RSP_ERROR;
  }

  /** Write {id, operation, status} at rsp_prod_pvt, push, notify if the frontend asked. */
  private respond(raw: Uint8Array, operation: number, status: number): void {
    const ring = this.ring;
    const shared = this.mapping ? this.ctx.hv.mappedPage(this.mapping) : null;
    const page = shared?.bytes, w = shared?.words;
    if (!ring || !page || !w) return;
    const off = ring.slot(ring.rsp_prod_pvt);
    page.set(raw.subarray(this.abi.idOff, this.abi.idOff + 8), off);
    put8(page, off + RSP_OP, operation);
    page[off + RSP_OP + 1] = 0;
    put16(page, off + RSP_STATUS, status & 0xffff);
    ring.rsp_prod_pvt = (ring.rsp_prod_pvt + 1) >>> 0;
    if (ring.pushResponsesAndCheckNotify(w)) this.ctx.hv.dom0.notify(this.port);
  }
}

const ABI: Codec<BlkifAbi> = {
  describe: `${ABI_X86_32.name} | ${ABI_X86_64.name}`,
  save: (a) => a.name,
  load: (v, path) => (oneOf([ABI_X86_32.name, ABI_X86_64.name]).load(v, path) === ABI_X86_32.name ? ABI_X86_32 : ABI_X86_64),
};

export const BLKBACK_STATE = declareState('blkback', {
  ...XENBUS_FIELDS,
  mapping: optional(GRANT_MAPPING),
  port: int(-1, 0xffff),
  ring: optional(BACK_RING),
  abi: ABI,
  generation: count,
  stats: fields({ requests: count, errors: count, bytesRead: count, bytesWritten: count, flushes: count, discards: count, indirect: count, maxInFlight: count }, 'blkback stats'),
});

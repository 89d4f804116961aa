// One HVM guest domain as the hypervisor sees it: where shared_info, vcpu_info and the
// grant-table frames live in its memory, its HVM params, its event-channel ports and
// per-vCPU timers, and how an upcall reaches it (spec §5, §6, §8).

import type { GuestMemory, StateRecord, Stateful } from '../platform/bus';
import type { Timer } from '../platform/clock';
import { bytes, count, declareState, fields, int, list, objects, optional, u32, u64 } from '../platform/state';
import type { DomainHost, GuestTime, PhysmapHost, UpcallSink } from './interfaces';
import { fillHypercallPage, type CpuVendor } from './cpuid';
import { EVTCHN_TABLE, Evtchn2L, EvtchnTable } from './event-channels';
import { GRANT_TABLE, GrantTable } from './grant-table';
import { put32, put64, put64big } from './bytes';
import type { EventTrace } from '../platform/event-trace';
import { TRACE } from '../config/inspect';
import {
  EINVAL,
  EBUSY,
  ENOMEM,
  EVTCHN_2L_NR_CHANNELS,
  HVM_NR_PARAMS,
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CALLBACK_TYPE_GSI,
  HVM_PARAM_CALLBACK_TYPE_PCI_INTX,
  HVM_PARAM_CALLBACK_TYPE_VECTOR,
  PAGE_SIZE,
  SHINFO_wc_nsec,
  SHINFO_wc_sec,
  SHINFO_wc_sec_hi,
  SHINFO_wc_version,
  VCPUINFO_time,
  VCPU_INFO_SIZE,
  VIRQ_TIMER,
  VTI_flags,
  VTI_system_time,
  VTI_tsc_shift,
  VTI_tsc_timestamp,
  VTI_tsc_to_system_mul,
  VTI_version,
  XEN_LEGACY_MAX_VCPUS,
  XEN_PVCLOCK_TSC_STABLE_BIT,
} from './xen-public';

export interface HvmDomainConfig {
  domid: number;
  name: string;
  /** Guest-physical memory (RAM plus whatever the board backs through PhysmapHost). */
  memory: GuestMemory;
  nrVcpus: number;
  upcalls: UpcallSink;
  physmap: PhysmapHost;
  time: GuestTime;
  host: DomainHost;
  /** Grant-table frames the guest may place (query_size max_nr_frames). Default 32 (128 KiB of BAR1). */
  maxGrantFrames?: number;
  /** Which instruction the hypercall page uses. Default 'intel' (VMCALL). */
  vendor?: CpuVendor;
}

/** Xen's system-time scale: ns = ((tsc_delta << shift) * mul) >> 32, shift may be negative. */
export function tscScale(hz: number): { mul: number; shift: number } {
  if (!Number.isFinite(hz) || hz < 1000 || hz > 1e12) throw new RangeError(`TSC frequency ${hz} Hz out of range`);
  let shift = 0;
  let scaled = BigInt(Math.round(hz));
  // Bring the scaled frequency into (1e9, 2e9] so that mul fits 32 bits with full precision.
  while (scaled > 2_000_000_000n) {
    scaled >>= 1n;
    shift--;
  }
  while (scaled <= 1_000_000_000n) {
    scaled <<= 1n;
    shift++;
  }
  const mul = Number((1_000_000_000n << 32n) / scaled);
  return { mul, shift };
}

interface VcpuPv {
  /** Guest-physical address of the registered vcpu_info, or -1 (still inside shared_info). */
  infoGpa: number;
  singleshot: Timer;
  periodic: Timer;
  periodNs: number;
  timeVersion: number;
  /** Ports a SCHEDOP_poll is waiting on, or null. */
  pollPorts: Set<number> | null;
  pollTimer: Timer;
}

const STATE_NAME_PREFIX = 'xen-domain-';

export class HvmDomain implements Stateful {
  readonly stateVersion = DOMAIN_STATE.version;
  readonly domid: number;
  readonly name: string;
  readonly mem: GuestMemory;
  readonly nrVcpus: number;
  readonly evtchn = new EvtchnTable(EVTCHN_2L_NR_CHANNELS);
  readonly evtchn2l: Evtchn2L;
  readonly grants: GrantTable;
  readonly params: bigint[] = new Array<bigint>(HVM_NR_PARAMS).fill(0n);
  /** SCHEDOP_shutdown_code, reported to the toolstack. */
  shutdownCode = -1;
  /** Notifications the guest sent on each port, and those raised on each port, since power-on (the inspector's). */
  readonly portSent = new Float64Array(EVTCHN_2L_NR_CHANNELS);
  readonly portRaised = new Float64Array(EVTCHN_2L_NR_CHANNELS);
  /** The hypervisor's timeline (upcalls are recorded here). */
  trace: EventTrace | null = null;
  /** Hypercall page MSR: last value written (reads return 0 as in Xen). */
  private hypercallMsr = 0n;

  private shinfoGfn = -1;
  private shinfoPriv: Uint8Array | null = new Uint8Array(PAGE_SIZE);
  private wcVersion = 0;
  private readonly vcpus: VcpuPv[] = [];
  private readonly scale: { mul: number; shift: number };
  readonly vendor: CpuVendor;

  constructor(
    readonly config: HvmDomainConfig,
    /** Called when a VIRQ fires on this domain (the hypervisor looks up the port). */
    private readonly virqFired: (domain: HvmDomain, virq: number, vcpu: number) => void,
  ) {
    if (!Number.isInteger(config.domid) || config.domid < 1 || config.domid >= 0x7ff0) throw new RangeError(`domid ${config.domid} out of range`);
    if (!Number.isInteger(config.nrVcpus) || config.nrVcpus < 1 || config.nrVcpus > XEN_LEGACY_MAX_VCPUS) throw new RangeError(`nrVcpus ${config.nrVcpus} out of range`);
    this.domid = config.domid;
    this.name = config.name;
    this.mem = config.memory;
    this.nrVcpus = config.nrVcpus;
    this.vendor = config.vendor ?? 'intel';
    this.scale = tscScale(config.time.tscHz);
    this.grants = new GrantTable(config.memory, config.maxGrantFrames ?? 32);
    this.evtchn2l = new Evtchn2L(
      () => this.sharedInfo(),
      (v) => this.vcpuInfo(v),
      (v) => this.deliverUpcall(v),
      (view) => this.mem.words(view),
    );
    const clock = config.time.clock;
    for (let v = 0; v < config.nrVcpus; v++) {
      const pv: VcpuPv = {
        infoGpa: -1,
        singleshot: clock.createTimer(`xen-d${this.domid}v${v}-singleshot`, () => this.virqFired(this, VIRQ_TIMER, v)),
        periodic: clock.createTimer(`xen-d${this.domid}v${v}-periodic`, (now) => {
          this.virqFired(this, VIRQ_TIMER, v);
          if (pv.periodNs > 0) pv.periodic.setDeadline(now + pv.periodNs);
        }),
        periodNs: 0,
        timeVersion: 0,
        pollPorts: null,
        pollTimer: clock.createTimer(`xen-d${this.domid}v${v}-poll`, () => this.endPoll(v)),
      };
      this.vcpus.push(pv);
    }
    this.writeWallClock();
  }

  get stateName(): string {
    return STATE_NAME_PREFIX + this.domid;
  }

  log(msg: string): void {
    this.config.host.log?.(`d${this.domid}: ${msg}`);
  }

  // ---- shared_info and vcpu_info ----------------------------------------------------

  /** The shared_info page: the guest frame once placed, the private page before. */
  sharedInfo(): Uint8Array {
    if (this.shinfoGfn >= 0) {
      const v = this.mem.view(this.shinfoGfn * PAGE_SIZE, PAGE_SIZE);
      if (v) return v;
    }
    if (!this.shinfoPriv) this.shinfoPriv = new Uint8Array(PAGE_SIZE);
    return this.shinfoPriv;
  }

  get sharedInfoGfn(): number {
    return this.shinfoGfn;
  }

  /** XENMEM_add_to_physmap(shared_info, 0, gfn). Returns 0 or -errno. */
  placeSharedInfo(gfn: number): number {
    if (!this.config.physmap.place(gfn, 'shared_info')) return -EINVAL;
    const dst = this.mem.view(gfn * PAGE_SIZE, PAGE_SIZE);
    if (!dst) return -EINVAL;
    if (gfn === this.shinfoGfn) return 0;
    const src = this.sharedInfo();
    dst.set(src);
    const old = this.shinfoGfn;
    this.shinfoGfn = gfn;
    this.shinfoPriv = null;
    if (old >= 0) this.config.physmap.release(old);
    return 0;
  }

  /** XENMEM_add_to_physmap(grant_table, idx, gfn). Returns 0 or -errno. */
  placeGrantFrame(idx: number, gfn: number): number {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.grants.maxFrames) return -EINVAL;
    if (idx >= this.grants.nrFrames && !this.grants.grow(idx + 1)) return -ENOMEM;
    if (this.grants.frameGfn(idx) === gfn) return 0;
    if (!this.config.physmap.place(gfn, `grant-table frame ${idx}`)) return -EINVAL;
    if (!this.mem.view(gfn * PAGE_SIZE, PAGE_SIZE)) return -EINVAL;
    const old = this.grants.place(idx, gfn);
    if (old >= 0) this.config.physmap.release(old);
    return 0;
  }

  /** This vCPU's vcpu_info (64 bytes), wherever it lives now. */
  vcpuInfo(vcpu: number): Uint8Array | null {
    const pv = this.vcpus[vcpu];
    if (!pv) return null;
    if (pv.infoGpa >= 0) return this.mem.view(pv.infoGpa, VCPU_INFO_SIZE);
    if (vcpu >= XEN_LEGACY_MAX_VCPUS) return null;
    return this.sharedInfo().subarray(vcpu * VCPU_INFO_SIZE, (vcpu + 1) * VCPU_INFO_SIZE);
  }

  /** VCPUOP_register_vcpu_info(vcpu, {mfn, offset}). Returns 0 or -errno. */
  registerVcpuInfo(vcpu: number, gfn: number, offset: number): number {
    const pv = this.vcpus[vcpu];
    if (!pv) return -EINVAL;
    if (!Number.isInteger(gfn) || gfn < 0 || gfn >= 0x100000) return -EINVAL;
    if (offset < 0 || offset + VCPU_INFO_SIZE > PAGE_SIZE || offset % 4 !== 0) return -EINVAL;
    if (pv.infoGpa >= 0) return -EBUSY;
    const gpa = gfn * PAGE_SIZE + offset;
    const dst = this.mem.view(gpa, VCPU_INFO_SIZE);
    if (!dst) return -EINVAL;
    const src = this.vcpuInfo(vcpu);
    if (src) dst.set(src);
    else dst.fill(0);
    pv.infoGpa = gpa;
    this.updateVcpuTime(vcpu);
    // Xen then sets upcall_pending and every selector bit so no event is lost in the move.
    this.evtchn2l.markAllPending(vcpu);
    return 0;
  }

  /** Guest-physical pages the hypervisor itself reads and writes (for access audits). */
  hypervisorPages(): number[] {
    const pages: number[] = [];
    if (this.shinfoGfn >= 0) pages.push(this.shinfoGfn);
    for (const pv of this.vcpus) if (pv.infoGpa >= 0) pages.push(Math.floor(pv.infoGpa / PAGE_SIZE));
    pages.push(...this.grants.placedGfns());
    return pages;
  }

  // ---- time -------------------------------------------------------------------------------

  get timeScale(): { mul: number; shift: number } {
    return this.scale;
  }

  /** Refresh vcpu_time_info (seqlock: version odd while updating). */
  updateVcpuTime(vcpu: number): void {
    const vi = this.vcpuInfo(vcpu);
    const pv = this.vcpus[vcpu];
    if (!vi || !pv) return;
    const t = vi.subarray(VCPUINFO_time, VCPUINFO_time + 32);
    pv.timeVersion = (pv.timeVersion + 1) >>> 0;
    put32(t, VTI_version, pv.timeVersion | 1);
    put64big(t, VTI_tsc_timestamp, this.config.time.tsc());
    put64(t, VTI_system_time, Math.max(0, Math.floor(this.config.time.clock.now())));
    put32(t, VTI_tsc_to_system_mul, this.scale.mul);
    t[VTI_tsc_shift] = this.scale.shift & 0xff;
    t[VTI_flags] = XEN_PVCLOCK_TSC_STABLE_BIT;
    pv.timeVersion = ((pv.timeVersion | 1) + 1) >>> 0;
    put32(t, VTI_version, pv.timeVersion);
  }

  /** shared_info wall clock: Unix time at system time 0 (seqlock on wc_version). */
  writeWallClock(): void {
    const s = this.sharedInfo();
    const sec = this.config.time.wallClockSec;
    this.wcVersion = (this.wcVersion | 1) >>> 0;
    put32(s, SHINFO_wc_version, this.wcVersion);
    put32(s, SHINFO_wc_sec, sec % 0x1_0000_0000);
    put32(s, SHINFO_wc_nsec, this.config.time.wallClockNsec);
    put32(s, SHINFO_wc_sec_hi, Math.floor(sec / 0x1_0000_0000));
    this.wcVersion = (this.wcVersion + 1) >>> 0;
    put32(s, SHINFO_wc_version, this.wcVersion);
  }

  /** VCPUOP_set_singleshot_timer: fire VIRQ_TIMER at system time `deadline` ns. */
  setSingleshot(vcpu: number, deadlineNs: number): void {
    this.vcpus[vcpu]?.singleshot.setDeadline(deadlineNs);
  }
  stopSingleshot(vcpu: number): void {
    this.vcpus[vcpu]?.singleshot.cancel();
  }
  setPeriodic(vcpu: number, periodNs: number): void {
    const pv = this.vcpus[vcpu];
    if (!pv) return;
    pv.periodNs = periodNs;
    pv.periodic.setDeadline(this.config.time.clock.now() + periodNs);
  }
  stopPeriodic(vcpu: number): void {
    const pv = this.vcpus[vcpu];
    if (!pv) return;
    pv.periodNs = 0;
    pv.periodic.cancel();
  }

  // ---- event delivery ---------------------------------------------------------------------

  /** Raise local port `port` (already known to be bound) on the vCPU it notifies. */
  raisePort(port: number): void {
    const e = this.evtchn.get(port);
    if (!e) return;
    this.evtchn2l.setPending(port, e.notifyVcpu);
    // A vCPU polling this port wakes even if the port is masked (Xen's evtchn poll rule).
    for (let v = 0; v < this.vcpus.length; v++) {
      const pv = this.vcpus[v];
      if (pv.pollPorts?.has(port)) this.endPoll(v);
    }
  }

  /** SCHEDOP_poll with nothing pending: remember the ports, wake on one of them or at `timeoutNs` (0 = none). */
  startPoll(vcpu: number, ports: number[], timeoutNs: number): void {
    const pv = this.vcpus[vcpu];
    if (!pv) return;
    pv.pollPorts = new Set(ports);
    if (timeoutNs > 0) pv.pollTimer.setDeadline(timeoutNs);
    else pv.pollTimer.cancel();
  }

  private endPoll(vcpu: number): void {
    const pv = this.vcpus[vcpu];
    if (!pv || !pv.pollPorts) return;
    pv.pollPorts = null;
    pv.pollTimer.cancel();
    if (this.config.upcalls.unblock) this.config.upcalls.unblock(vcpu);
    else this.config.upcalls.kick(vcpu);
  }

  /** The callback "via" from HVM_PARAM_CALLBACK_IRQ. */
  callbackVia(): { type: number; value: number } | null {
    const p = this.params[HVM_PARAM_CALLBACK_IRQ];
    if (p === 0n) return null;
    return { type: Number(p >> 56n), value: Number(p & 0xffff_ffffn) };
  }

  /** evtchn_upcall_pending went 0 -> 1 on `vcpu`. */
  private deliverUpcall(vcpu: number): void {
    const via = this.callbackVia();
    this.trace?.record(TRACE.upcall, this.domid, vcpu, via?.type === HVM_PARAM_CALLBACK_TYPE_VECTOR ? via.value & 0xff : -1);
    if (via?.type === HVM_PARAM_CALLBACK_TYPE_VECTOR) this.config.upcalls.injectVector(vcpu, via.value & 0xff);
    else this.refreshCallbackLevel();
    this.config.upcalls.kick(vcpu);
  }

  /**
   * GSI / INTx callback: the line is held high while vCPU 0's evtchn_upcall_pending is set.
   * The guest clears that byte in memory, so the board calls this when it samples the line
   * (e.g. on interrupt acknowledge / EOI) to let it drop.
   */
  refreshCallbackLevel(): void {
    const via = this.callbackVia();
    const lineVia = via !== null && via.type !== HVM_PARAM_CALLBACK_TYPE_VECTOR ? via : null;
    const level = lineVia !== null && this.evtchn2l.upcallPending(0);
    const held = this.heldLine;
    if (held && (!level || !lineVia || held.type !== lineVia.type || held.value !== lineVia.value)) {
      this.driveLine(held, false);
      this.heldLine = null;
    }
    if (level && lineVia && !this.heldLine) {
      this.driveLine(lineVia, true);
      this.heldLine = lineVia;
    }
  }

  private driveLine(via: { type: number; value: number }, level: boolean): void {
    if (via.type === HVM_PARAM_CALLBACK_TYPE_GSI) this.config.upcalls.setGsiLevel(via.value, level);
    else this.config.upcalls.setPciIntxLevel(level);
  }

  /** The GSI/INTx line we hold high, if any. */
  private heldLine: { type: number; value: number } | null = null;

  /** HVMOP_set_param(CALLBACK_IRQ): validate the via; returns 0 or -errno. */
  setCallbackIrq(value: bigint): number {
    const type = Number(value >> 56n);
    const low = value & 0x00ff_ffff_ffff_ffffn;
    if (value !== 0n) {
      if (type === HVM_PARAM_CALLBACK_TYPE_GSI) {
        if (low === 0n || low > 255n) return -EINVAL;
      } else if (type === HVM_PARAM_CALLBACK_TYPE_VECTOR) {
        const vector = Number(low & 0xffn);
        if (low > 0xffn || vector < 0x10) return -EINVAL;
      } else if (type !== HVM_PARAM_CALLBACK_TYPE_PCI_INTX) {
        return -EINVAL;
      }
    }
    this.params[HVM_PARAM_CALLBACK_IRQ] = value;
    // Something may already be pending (e.g. events raised before the guest chose a via).
    if (value !== 0n) {
      if (type === HVM_PARAM_CALLBACK_TYPE_VECTOR) {
        for (let v = 0; v < this.nrVcpus; v++) if (this.evtchn2l.upcallPending(v)) this.config.upcalls.injectVector(v, Number(low & 0xffn));
      }
    }
    // Drops a line held through the old via; raises the new one if an upcall is pending.
    this.refreshCallbackLevel();
    return 0;
  }

  // ---- hypercall page ---------------------------------------------------------------------

  /** WRMSR 0x40000000: fill the page at the given guest-physical address. False means #GP. */
  writeHypercallMsr(value: bigint): boolean {
    const v = BigInt.asUintN(64, value);
    if ((v & 0xfffn) !== 0n) return false; // page index: only 0 is valid
    const gpa = v & ~0xfffn;
    if (gpa >= 1n << 32n) return false;
    const page = this.mem.view(Number(gpa), PAGE_SIZE);
    if (!page) return false;
    fillHypercallPage(page, this.vendor);
    this.hypercallMsr = v;
    return true;
  }

  get lastHypercallMsr(): bigint {
    return this.hypercallMsr;
  }

  // ---- state --------------------------------------------------------------------------------

  saveState(): StateRecord {
    return DOMAIN_STATE.save(this);
  }

  /** Restore; the domain's timers (singleshot, periodic, poll) come back with the clock's state. */
  loadState(rec: StateRecord, version: number): void {
    DOMAIN_STATE.load(this, rec, version);
    if (this.shinfoGfn >= 0) this.shinfoPriv = null;
    else this.shinfoPriv ??= new Uint8Array(PAGE_SIZE);
  }
}

const VCPU_PV = fields({
  /** Guest-physical address of the registered vcpu_info, or -1 (still inside shared_info). */
  infoGpa: int(-1, 0xffffffff),
  periodNs: count,
  timeVersion: u32,
  /** Ports a SCHEDOP_poll is waiting on. */
  pollPorts: optional({
    describe: 'set of ports',
    save: (ports: Set<number>) => [...ports],
    load: (v, path) => new Set(list(int(1, EVTCHN_2L_NR_CHANNELS - 1), EVTCHN_2L_NR_CHANNELS).load(v, path)),
  }),
}, 'vcpu');

const DOMAIN_STATE = declareState('xen-domain', {
  shinfoGfn: int(-1, 0xfffff),
  /** The shared_info page while it is the hypervisor's own (before the guest places it). */
  shinfoPriv: optional(bytes(PAGE_SIZE)),
  wcVersion: u32,
  params: list(u64, HVM_NR_PARAMS, { exact: true }),
  shutdownCode: int(-1, 255),
  hypercallMsr: u64,
  /** The callback line the domain holds asserted (GSI or PCI INTx), if any. */
  heldLine: optional(fields({ type: int(0, 1), value: u32 }, 'line')),
  vcpus: objects(VCPU_PV),
  evtchn: EVTCHN_TABLE,
  grants: GRANT_TABLE,
});

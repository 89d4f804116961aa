// The mini Xen: every domain's event-channel table and grant table, the operations that
// cross domains (interdomain channels, sends, grant use), and dom0 — the TypeScript side
// where xenstored, the toolstack and the backends live. Dom0 has no memory of its own: its
// ports call handlers, and it reaches guest pages only through grants (or, for the
// xenstore and console rings, the privileged foreign mapping the toolstack set up).
//
// Dom0 handlers never run nested inside each other: they are queued and drained in order
// (a "softirq"), so a guest's send inside a hypercall runs the backend after the current
// handler finishes, never recursively, and an exception in a backend is caught and logged.

import { HvmDomain, type HvmDomainConfig } from './domain';
import { ECS_INTERDOMAIN, ECS_IPI, ECS_UNBOUND, ECS_VIRQ, EVTCHN_TABLE, EvtchnTable, type EvtchnPort } from './event-channels';
import { declareState } from '../platform/state';
import {
  DOMID_DOM0,
  DOMID_FIRST_RESERVED,
  DOMID_SELF,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSPC,
  EPERM,
  ESRCH,
  GNTST_bad_domain,
  GNTST_bad_page,
  GNTST_okay,
  NR_VIRQS,
  PAGE_SIZE,
  VIRQ_IS_PER_VCPU,
} from './xen-public';
import { dispatchHypercall } from './hypercalls';
import { HypercallExit, type HypercallContext } from './interfaces';
import type { SharedPage, StateRecord, Stateful } from '../platform/bus';
import { EventTrace } from '../platform/event-trace';
import { TRACE } from '../config/inspect';

export type Dom0PortHandler = (port: number) => void;

export type GrantResult<T> = { ok: true; value: T } | { ok: false; status: number };

/**
 * A grant a backend keeps pinned (e.g. a ring page) until Hypervisor.unmapGrant. Plain data
 * (a snapshot saves it as is); the pin itself is in the granting domain's table.
 */
export interface GrantMapping {
  readonly domid: number;
  readonly gref: number;
  readonly frame: number;
  readonly writable: boolean;
  /** False once unmapped (unmapping twice is harmless). */
  mapped: boolean;
}

/** dom0's event-channel API (what a backend or xenstored uses). */
export interface Dom0Events {
  /** Bind to guest port `remotePort` of `remoteDom` (which must be unbound for dom0). */
  bindInterdomain(remoteDom: number, remotePort: number, handler: Dom0PortHandler): number;
  /** A fresh dom0 port a guest may bind to. */
  allocUnbound(remoteDom: number, handler: Dom0PortHandler): number;
  notify(port: number): void;
  close(port: number): void;
  /** After a restore: hand `port` (bound in the restored table) to its backend again. */
  attach(port: number, handler: Dom0PortHandler): void;
}

const DOM0_NR_PORTS = 4096;

export class Hypervisor implements Stateful {
  readonly stateName = 'hypervisor';
  readonly stateVersion = HV_STATE.version;
  private readonly domains = new Map<number, HvmDomain>();
  private readonly dom0Table = new EvtchnTable(DOM0_NR_PORTS);
  private readonly dom0Handlers = new Map<number, Dom0PortHandler>();
  private readonly work: (() => void)[] = [];
  private readonly queuedPorts = new Set<number>();
  private draining = false;
  readonly dom0: Dom0Events;
  /** Hypercalls by operation number since power-on, for the inspector (Xen's ops are below 64). */
  readonly hypercallCounts = new Float64Array(64);
  /** Grants dom0 mapped and unmapped since power-on (each copy through withGrant is one of each). */
  grantMaps = 0;
  grantUnmaps = 0;

  constructor(
    private readonly logger: (msg: string) => void = () => {},
    /** The inspector's timeline (recording only while someone looks). */
    readonly trace: EventTrace = new EventTrace(() => 0, 1),
  ) {
    this.dom0 = {
      bindInterdomain: (rd, rp, h) => this.bindInterdomain(DOMID_DOM0, rd, rp, (p) => this.dom0Handlers.set(p, h)),
      allocUnbound: (rd, h) => {
        const p = this.allocUnbound(DOMID_DOM0, rd);
        if (p > 0) this.dom0Handlers.set(p, h);
        return p;
      },
      notify: (p) => {
        this.send(DOMID_DOM0, p);
      },
      close: (p) => {
        this.close(DOMID_DOM0, p);
      },
      attach: (p, h) => {
        const e = this.dom0Table.get(p);
        if (!e || e.state !== ECS_INTERDOMAIN) throw new Error(`dom0 port ${p} is not bound in the restored table`);
        if (this.dom0Handlers.has(p)) throw new Error(`dom0 port ${p} is claimed twice`);
        this.dom0Handlers.set(p, h);
      },
    };
  }

  // ---- state --------------------------------------------------------------------------------
  // dom0's ports are saved as a table; the backends that own them attach their handlers again
  // after a restore (each knows its port: it is part of its own saved state).

  saveState(): StateRecord {
    if (this.work.length || this.queuedPorts.size) throw new Error('hypervisor: dom0 work is queued (save between instructions)');
    return HV_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    HV_STATE.load(this, rec, version);
    this.dom0Handlers.clear();
    this.queuedPorts.clear();
    this.work.length = 0;
  }

  /** After every owner attached: each interdomain dom0 port must have its backend again. */
  checkRestored(): void {
    for (const [p, e] of this.dom0Table.entries()) {
      if (e.state === ECS_INTERDOMAIN && !this.dom0Handlers.has(p)) throw new Error(`dom0 port ${p} (to domain ${e.remoteDom} port ${e.remotePort}) has no backend after the restore`);
    }
  }

  log(msg: string): void {
    this.logger(msg);
  }

  // ---- domains ----------------------------------------------------------------------------

  createDomain(config: HvmDomainConfig): HvmDomain {
    if (this.domains.has(config.domid)) throw new Error(`domain ${config.domid} already exists`);
    const d = new HvmDomain(config, (dom, virq, vcpu) => this.sendVirq(dom.domid, virq, vcpu));
    d.trace = this.trace;
    this.domains.set(d.domid, d);
    return d;
  }

  domain(domid: number): HvmDomain | undefined {
    return this.domains.get(domid);
  }

  domainIds(): number[] {
    return [...this.domains.keys()];
  }

  /** Tear a domain down: its ports close (peers see them unbound), timers stop, grants vanish. */
  destroyDomain(domid: number): void {
    const d = this.domains.get(domid);
    if (!d) return;
    for (const [p] of [...d.evtchn.entries()]) this.close(domid, p);
    for (let v = 0; v < d.nrVcpus; v++) {
      d.stopPeriodic(v);
      d.stopSingleshot(v);
    }
    this.domains.delete(domid);
  }

  /** The hypercall entry point for the x86 core (VMCALL / VMMCALL at CPL 0). */
  hypercall(domid: number, ctx: HypercallContext): HypercallExit {
    const d = this.domains.get(domid);
    if (!d) {
      ctx.regs.eax = -ESRCH >>> 0;
      return HypercallExit.Continue;
    }
    let exit: HypercallExit = HypercallExit.Continue;
    const op = ctx.regs.eax >>> 0;
    const cmd = ctx.regs.ebx | 0;
    this.hypercallCounts[op & 63]++;
    try {
      exit = dispatchHypercall(this, d, ctx);
    } catch (e) {
      // A bug here must not take the machine down; the guest sees a failed hypercall.
      this.log(`d${domid}: hypercall ${ctx.regs.eax} raised ${(e as Error).message}`);
      ctx.regs.eax = -EINVAL >>> 0;
    }
    this.trace.record(TRACE.hypercall, domid, op, cmd, ctx.regs.eax | 0);
    this.drain();
    return exit;
  }

  // ---- work queue -----------------------------------------------------------------------

  /** Run `fn` after whatever dom0 work is running now (or at once if none). */
  post(fn: () => void): void {
    this.work.push(fn);
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let n = 0; this.work.length > 0; n++) {
        const fn = this.work.shift()!;
        try {
          fn();
        } catch (e) {
          this.log(`dom0 handler failed: ${(e as Error).stack ?? e}`);
        }
        if (n > 1_000_000) {
          this.log('dom0 work queue: event storm, dropping queued work');
          this.work.length = 0;
          this.queuedPorts.clear();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ---- event channels ---------------------------------------------------------------------

  private table(domid: number): EvtchnTable | undefined {
    return domid === DOMID_DOM0 ? this.dom0Table : this.domains.get(domid)?.evtchn;
  }

  private nrVcpus(domid: number): number {
    return domid === DOMID_DOM0 ? 1 : (this.domains.get(domid)?.nrVcpus ?? 0);
  }

  /** Make `port` of `domid` pending on the vCPU it notifies. */
  private raise(domid: number, port: number): void {
    if (domid === DOMID_DOM0) {
      const h = this.dom0Handlers.get(port);
      if (!h || this.queuedPorts.has(port)) return;
      this.queuedPorts.add(port);
      this.post(() => {
        this.queuedPorts.delete(port);
        // The port may have been closed while queued.
        if (this.dom0Handlers.get(port) === h) h(port);
      });
      return;
    }
    const d = this.domains.get(domid);
    if (!d) return;
    if (port > 0 && port < d.portRaised.length) d.portRaised[port]++;
    d.raisePort(port);
  }

  /** Resolve DOMID_SELF; -EPERM if an unprivileged caller names another domain. */
  private resolveTarget(caller: number, dom: number): number {
    if (dom === DOMID_SELF || dom === caller) return caller;
    return caller === DOMID_DOM0 ? dom : -EPERM;
  }

  allocUnbound(caller: number, remoteDom: number, dom = DOMID_SELF): number {
    const ld = this.resolveTarget(caller, dom);
    if (ld < 0) return ld;
    const t = this.table(ld);
    if (!t) return -ESRCH;
    const rd = remoteDom === DOMID_SELF ? ld : remoteDom;
    if (!Number.isInteger(rd) || rd < 0 || rd >= DOMID_FIRST_RESERVED) return -EINVAL;
    const p = t.allocate({ state: ECS_UNBOUND, notifyVcpu: 0, remoteDom: rd, remotePort: 0, virq: 0 });
    return p < 0 ? -ENOSPC : p;
  }

  bindInterdomain(caller: number, remoteDom: number, remotePort: number, onBound?: (port: number) => void): number {
    const ld = caller;
    const rd = remoteDom === DOMID_SELF ? ld : remoteDom;
    const lt = this.table(ld);
    const rt = this.table(rd);
    if (!lt || !rt) return -ESRCH;
    const r = rt.get(remotePort);
    if (!r || r.state !== ECS_UNBOUND || r.remoteDom !== ld) return -EINVAL;
    const lp = lt.allocate({ state: ECS_INTERDOMAIN, notifyVcpu: 0, remoteDom: rd, remotePort, virq: 0 });
    if (lp < 0) return -ENOSPC;
    r.state = ECS_INTERDOMAIN;
    r.remoteDom = ld;
    r.remotePort = lp;
    onBound?.(lp);
    // Notifications sent on the unbound remote port were dropped: raise ours once (as Xen does).
    this.raise(ld, lp);
    return lp;
  }

  bindVirq(caller: number, virq: number, vcpu: number): number {
    const t = this.table(caller);
    if (!t) return -ESRCH;
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return -EINVAL;
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.nrVcpus(caller)) return -ENOENT;
    if (!VIRQ_IS_PER_VCPU(virq) && vcpu !== 0) return -EINVAL;
    if (t.findVirq(virq, vcpu)) return -EEXIST;
    const p = t.allocate({ state: ECS_VIRQ, notifyVcpu: vcpu, remoteDom: 0, remotePort: 0, virq });
    return p < 0 ? -ENOSPC : p;
  }

  bindIpi(caller: number, vcpu: number): number {
    const t = this.table(caller);
    if (!t) return -ESRCH;
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.nrVcpus(caller)) return -ENOENT;
    const p = t.allocate({ state: ECS_IPI, notifyVcpu: vcpu, remoteDom: 0, remotePort: 0, virq: 0 });
    return p < 0 ? -ENOSPC : p;
  }

  close(caller: number, port: number): number {
    const t = this.table(caller);
    if (!t) return -ESRCH;
    const e = t.get(port);
    if (!e) return -EINVAL;
    if (e.state === ECS_INTERDOMAIN) {
      const r = this.table(e.remoteDom)?.get(e.remotePort);
      if (r && r.state === ECS_INTERDOMAIN && r.remoteDom === caller && r.remotePort === port) {
        r.state = ECS_UNBOUND;
        r.remoteDom = caller;
        r.remotePort = 0;
      }
    }
    t.free(port);
    if (caller === DOMID_DOM0) this.dom0Handlers.delete(port);
    else this.domains.get(caller)?.evtchn2l.clearPending(port);
    return 0;
  }

  send(caller: number, port: number): number {
    const e = this.table(caller)?.get(port);
    if (!e) return -EINVAL;
    if (caller !== DOMID_DOM0) {
      const d = this.domains.get(caller);
      if (d && port < d.portSent.length) d.portSent[port]++;
    }
    switch (e.state) {
      case ECS_INTERDOMAIN:
        this.trace.record(TRACE['evtchn-send'], caller, port, e.remoteDom, e.remotePort);
        this.raise(e.remoteDom, e.remotePort);
        return 0;
      case ECS_IPI:
        this.raise(caller, port);
        return 0;
      case ECS_UNBOUND:
        return 0; // nobody to tell yet; the binder raises its own port when it binds
      default:
        return -EINVAL;
    }
  }

  /** Fire `virq` on `vcpu` of `domid` if the guest bound it. */
  sendVirq(domid: number, virq: number, vcpu: number): void {
    const t = this.table(domid);
    if (!t) return;
    const p = t.findVirq(virq, VIRQ_IS_PER_VCPU(virq) ? vcpu : 0);
    if (!p) return;
    this.trace.record(TRACE.virq, domid, virq, p, vcpu);
    this.raise(domid, p);
  }

  bindVcpu(caller: number, port: number, vcpu: number): number {
    const e = this.table(caller)?.get(port);
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.nrVcpus(caller)) return -ENOENT;
    if (!e) return -EINVAL;
    if (e.state === ECS_IPI || (e.state === ECS_VIRQ && VIRQ_IS_PER_VCPU(e.virq))) return -EINVAL;
    e.notifyVcpu = vcpu;
    return 0;
  }

  unmask(caller: number, port: number): number {
    const d = this.domains.get(caller);
    const e = d?.evtchn.get(port);
    if (!d || !e) return -EINVAL;
    d.evtchn2l.unmask(port, e.notifyVcpu);
    return 0;
  }

  /** EVTCHNOP_status for port `port` of domain `dom` (as seen by `caller`). */
  status(caller: number, dom: number, port: number): EvtchnPort | number | null {
    const d = this.resolveTarget(caller, dom);
    if (d < 0) return d;
    const t = this.table(d);
    if (!t) return -ESRCH;
    if (!Number.isInteger(port) || port < 0 || port >= t.nrPorts) return -EINVAL;
    return t.get(port) ?? null;
  }

  /** EVTCHNOP_reset: close every port of the domain. */
  reset(caller: number, dom: number): number {
    const d = this.resolveTarget(caller, dom);
    if (d < 0) return d;
    const t = this.table(d);
    if (!t) return -ESRCH;
    for (const [p] of [...t.entries()]) this.close(d, p);
    return 0;
  }

  /** Port state of `domid` for inspectors and tests. */
  portInfo(domid: number, port: number): EvtchnPort | undefined {
    return this.table(domid)?.get(port);
  }

  // ---- grants (dom0 side) -------------------------------------------------------------------

  /**
   * Use grant `gref` of `domid` for one synchronous access: `fn` gets the granted page (4 KiB,
   * nothing else) while GTF_reading/GTF_writing are set. The view must not escape `fn`.
   */
  withGrant<T>(domid: number, gref: number, write: boolean, fn: (page: Uint8Array) => T): GrantResult<T> {
    const d = this.domains.get(domid);
    if (!d) return { ok: false, status: GNTST_bad_domain };
    const a = d.grants.acquire(gref, DOMID_DOM0, write);
    if (a.status !== GNTST_okay) return { ok: false, status: a.status };
    this.grantMaps++;
    this.trace.record(TRACE['grant-map'], domid, gref, a.frame, write ? 1 : 0);
    try {
      const page = d.mem.view(a.frame * PAGE_SIZE, PAGE_SIZE);
      if (!page) return { ok: false, status: GNTST_bad_page };
      return { ok: true, value: fn(page) };
    } finally {
      d.grants.release(gref, write);
      this.grantUnmaps++;
      this.trace.record(TRACE['grant-unmap'], domid, gref, a.frame, write ? 1 : 0);
    }
  }

  /** Keep grant `gref` pinned (for a ring page) until unmapGrant(). */
  mapGrant(domid: number, gref: number, write: boolean): GrantMapping | number {
    const d = this.domains.get(domid);
    if (!d) return GNTST_bad_domain;
    const a = d.grants.acquire(gref, DOMID_DOM0, write);
    if (a.status !== GNTST_okay) return a.status;
    this.grantMaps++;
    this.trace.record(TRACE['grant-map'], domid, gref, a.frame, (write ? 1 : 0) | 2);
    return { domid, gref, frame: a.frame, writable: write, mapped: true };
  }

  /** The mapped page, bounded to 4 KiB, with atomic access to its words; null once unmapped or the domain is gone. Do not keep it. */
  mappedPage(m: GrantMapping): SharedPage | null {
    const d = this.domains.get(m.domid);
    const bytes = m.mapped && d ? d.mem.view(m.frame * PAGE_SIZE, PAGE_SIZE) : null;
    return bytes && { bytes, words: d!.mem.words(bytes) };
  }

  unmapGrant(m: GrantMapping): void {
    if (!m.mapped) return;
    m.mapped = false;
    this.domains.get(m.domid)?.grants.release(m.gref, m.writable);
    this.grantUnmaps++;
    this.trace.record(TRACE['grant-unmap'], m.domid, m.gref, m.frame, (m.writable ? 1 : 0) | 2);
  }

  /** A restored mapping must name a grant its domain's table holds pinned (the table came back with the snapshot). */
  checkMapping(m: GrantMapping, where: string): void {
    const d = this.domains.get(m.domid);
    if (!m.mapped || !d || !d.grants.isPinned(m.gref, m.frame, m.writable)) throw new Error(`${where}: the snapshot maps grant ${m.gref} of domain ${m.domid}, which its grant table does not hold`);
  }

  /**
   * dom0's privileged mapping of a guest frame it set up itself (the xenstore and console
   * rings, which the toolstack places before boot). Null if the frame is not guest memory.
   */
  foreignPage(domid: number, gfn: number): SharedPage | null {
    const d = this.domains.get(domid);
    if (!d || !Number.isInteger(gfn) || gfn < 0 || gfn >= 0x100000) return null;
    const bytes = d.mem.view(gfn * PAGE_SIZE, PAGE_SIZE);
    return bytes && { bytes, words: d.mem.words(bytes) };
  }
}

const HV_STATE = declareState('hypervisor', { dom0Table: EVTCHN_TABLE });

// Event channels: the per-domain port table (what each port is bound to) and the 2-level
// ABI bitmaps in a guest's shared_info (spec §6). Cross-domain operations (interdomain
// binding, send to the remote end) live in hypervisor.ts, which owns every table.

import { StateError, fields, int, list, u16, u8, type Codec } from '../platform/state';
import {
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  SHINFO_evtchn_mask,
  SHINFO_evtchn_pending,
  VCPUINFO_evtchn_pending_sel,
  VCPUINFO_evtchn_upcall_pending,
} from './xen-public';
import type { AtomicWords, StateValue } from '../platform/bus';

/** Port states (Xen's ECS_*); the numbers are the EVTCHNOP_status values. */
export const ECS_FREE = EVTCHNSTAT_closed;
export const ECS_UNBOUND = EVTCHNSTAT_unbound;
export const ECS_INTERDOMAIN = EVTCHNSTAT_interdomain;
export const ECS_VIRQ = EVTCHNSTAT_virq;
export const ECS_IPI = EVTCHNSTAT_ipi;

export interface EvtchnPort {
  state: number;
  /** vCPU that is notified when the port becomes pending. */
  notifyVcpu: number;
  /** UNBOUND: the domain allowed to bind; INTERDOMAIN: the peer domain. */
  remoteDom: number;
  /** INTERDOMAIN: the peer's port. */
  remotePort: number;
  /** VIRQ: the virq number. */
  virq: number;
}

/** One domain's ports. Port 0 is never handed out. */
export class EvtchnTable {
  private readonly ports: (EvtchnPort | undefined)[] = [];

  constructor(readonly nrPorts: number) {}

  get(port: number): EvtchnPort | undefined {
    if (!Number.isInteger(port) || port <= 0 || port >= this.nrPorts) return undefined;
    return this.ports[port];
  }

  /** Valid port number and in use. */
  isBound(port: number): boolean {
    return this.get(port) !== undefined;
  }

  /** Lowest free port, or -1 when the table is full. */
  allocate(init: EvtchnPort): number {
    for (let p = 1; p < this.nrPorts; p++) {
      if (this.ports[p] === undefined) {
        this.ports[p] = init;
        return p;
      }
    }
    return -1;
  }

  free(port: number): void {
    if (port > 0 && port < this.nrPorts) this.ports[port] = undefined;
  }

  /** The port bound to (virq, vcpu), or 0. */
  findVirq(virq: number, vcpu: number): number {
    for (let p = 1; p < this.ports.length; p++) {
      const e = this.ports[p];
      if (e && e.state === ECS_VIRQ && e.virq === virq && e.notifyVcpu === vcpu) return p;
    }
    return 0;
  }

  *entries(): IterableIterator<[number, EvtchnPort]> {
    for (let p = 1; p < this.ports.length; p++) {
      const e = this.ports[p];
      if (e) yield [p, e];
    }
  }

  clear(): void {
    this.ports.length = 0;
  }

  /** Replace every port (a snapshot's table, already checked). */
  restore(ports: Array<{ port: number } & EvtchnPort>): void {
    this.clear();
    for (const { port, ...e } of ports) this.ports[port] = e;
  }
}

const PORT = fields({
  port: int(1, 0xffff), state: int(ECS_UNBOUND, ECS_IPI), notifyVcpu: u8, remoteDom: u16, remotePort: u16, virq: u8,
}, 'event channel');

/** A domain's bound ports, saved as a list and loaded into the live table. */
export const EVTCHN_TABLE: Codec<EvtchnTable> = {
  describe: 'event-channel ports',
  save: (t) => [...t.entries()].map(([port, e]) => PORT.save({ port, ...e })) as StateValue,
  load: () => { throw new Error('event-channel tables load in place'); },
  loadInto: (t, v, path) => {
    const ports = list(PORT, t.nrPorts).load(v, path) as unknown as Array<{ port: number } & EvtchnPort>;
    const seen = new Set<number>();
    for (const p of ports) {
      if (p.port >= t.nrPorts) throw new StateError(`${path}`, `names port ${p.port}; the table has ${t.nrPorts}`);
      if (seen.has(p.port)) throw new StateError(`${path}`, `lists port ${p.port} twice`);
      seen.add(p.port);
    }
    return () => t.restore(ports);
  },
};

/** Where a vCPU's vcpu_info lives right now (a bounded 64-byte view), or null. */
export type VcpuInfoLocator = (vcpu: number) => Uint8Array | null;

/**
 * The 2-level ABI over a guest's shared_info page (i386: 32 words of 32 bits). All bit
 * updates are atomic: the guest's vCPUs may run concurrently on a SharedArrayBuffer.
 */
export class Evtchn2L {
  constructor(
    /** The shared_info page (guest frame or the hypervisor's private copy before it is mapped). */
    private readonly shinfo: () => Uint8Array,
    private readonly vcpuInfo: VcpuInfoLocator,
    /** upcall_pending went 0 -> 1 on `vcpu`: inject the callback. */
    private readonly upcall: (vcpu: number) => void,
    /** Atomic access to a view of guest memory (the guest's vCPUs may write it concurrently). */
    private readonly wordsOf: (view: Uint8Array) => AtomicWords,
  ) {}

  private words(): AtomicWords {
    return this.wordsOf(this.shinfo());
  }

  private testBit(base: number, port: number): boolean {
    return (this.words().load((base >> 2) + (port >>> 5)) & (1 << (port & 31))) !== 0;
  }

  isPending(port: number): boolean {
    return this.testBit(SHINFO_evtchn_pending, port);
  }

  isMasked(port: number): boolean {
    return this.testBit(SHINFO_evtchn_mask, port);
  }

  clearPending(port: number): void {
    this.words().and((SHINFO_evtchn_pending >> 2) + (port >>> 5), ~(1 << (port & 31)));
  }

  /** Xen's evtchn_2l_set_pending: pending bit, then (if unmasked) selector and upcall. */
  setPending(port: number, vcpu: number): void {
    const w = this.words();
    const word = port >>> 5;
    const bit = 1 << (port & 31);
    const old = w.or((SHINFO_evtchn_pending >> 2) + word, bit);
    if (old & bit) return;
    if (w.load((SHINFO_evtchn_mask >> 2) + word) & bit) return;
    this.markSelector(vcpu, word);
  }

  /** EVTCHNOP_unmask: clear the mask; if it was set and the port is pending, redo the upcall. */
  unmask(port: number, vcpu: number): void {
    const w = this.words();
    const word = port >>> 5;
    const bit = 1 << (port & 31);
    const old = w.and((SHINFO_evtchn_mask >> 2) + word, ~bit);
    if (!(old & bit)) return;
    if (w.load((SHINFO_evtchn_pending >> 2) + word) & bit) this.markSelector(vcpu, word);
  }

  private markSelector(vcpu: number, word: number): void {
    const vi = this.vcpuInfo(vcpu);
    if (!vi) return;
    const old = this.wordsOf(vi).or(VCPUINFO_evtchn_pending_sel >> 2, 1 << word);
    if (old & (1 << word)) return;
    this.markUpcall(vcpu);
  }

  /** vcpu_mark_events_pending: set evtchn_upcall_pending; inject only on the 0 -> 1 edge. */
  markUpcall(vcpu: number): void {
    const vi = this.vcpuInfo(vcpu);
    if (!vi) return;
    if (this.wordsOf(vi).exchangeByte(VCPUINFO_evtchn_upcall_pending, 1) === 0) this.upcall(vcpu);
  }

  /** After vcpu_info moved: Xen marks every selector bit and the upcall so nothing is lost. */
  markAllPending(vcpu: number): void {
    const vi = this.vcpuInfo(vcpu);
    if (!vi) return;
    this.wordsOf(vi).store(VCPUINFO_evtchn_pending_sel >> 2, -1);
    this.markUpcall(vcpu);
  }

  upcallPending(vcpu: number): boolean {
    const vi = this.vcpuInfo(vcpu);
    return vi ? this.wordsOf(vi).loadByte(VCPUINFO_evtchn_upcall_pending) !== 0 : false;
  }
}

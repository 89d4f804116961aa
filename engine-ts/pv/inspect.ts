// The inspector's view of the PV side: a plain-data sample of one guest's xenstore tree and
// watches, event-channel ports, grant table, shared rings and xenbus devices. It reads the
// structures a snapshot saves, through the same declarations (EVTCHN_TABLE, GRANT_TABLE,
// BLKBACK_STATE, NETBACK_STATE), and peeks at the shared pages the way a backend does (the
// ring indexes, the grant entries); it changes nothing. Names are Xen's own.

import type { GrantEntryInfo, PortInfo, PvDeviceInfo, RingInfo, XenSample } from '../config/inspect';
import type { StateRecord } from '../platform/bus';
import type { Hypervisor } from './hypervisor';
import { xvdName, type GuestRecord, type Toolstack } from './toolstack';
import { ECS_INTERDOMAIN, ECS_IPI, ECS_UNBOUND, ECS_VIRQ, EVTCHN_TABLE } from './event-channels';
import { GRANT_TABLE } from './grant-table';
import { ringSize } from './ring';
import { BLKBACK_STATE, BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER } from './backends/blkback';
import { NETBACK_STATE } from './backends/netback';
import { XENSTORE_RING_SIZE } from './xenstore/ring-server';
import { backendPathFor, frontendPathFor } from './backends/xenbus-backend';
import * as X from './xen-public';
import { hypercallName } from './names';

const VIRQS: Record<number, string> = { [X.VIRQ_TIMER]: 'timer', [X.VIRQ_DEBUG]: 'debug', [X.VIRQ_CONSOLE]: 'console' };
export const BLKIF_OPS: Record<number, string> = {
  [BLKIF_OP_READ]: 'read', [BLKIF_OP_WRITE]: 'write', [BLKIF_OP_WRITE_BARRIER]: 'barrier',
  [BLKIF_OP_FLUSH_DISKCACHE]: 'flush', [BLKIF_OP_DISCARD]: 'discard', [BLKIF_OP_INDIRECT]: 'indirect',
};

type Mapping = { gref: number; frame: number; writable: boolean; mapped: boolean } | null;
type RingState = { entrySize: number; req_cons: number; rsp_prod_pvt: number } | null;

/** xvd unit of a virtual-device number (51712 → 0). */
export function xvdUnit(devid: number): number {
  return devid >= 1 << 28 ? (devid >> 8) & 0xfffff : (devid >> 4) & 15;
}

/** Build the PV part of an inspector sample for `g`'s domain. */
export function inspectXen(hv: Hypervisor, ts: Toolstack, g: GuestRecord): XenSample {
  const d = g.domain;
  const D = d.domid;
  const xs = ts.xs;

  // Who is at the dom0 end of each port (and which grants backends hold mapped), from the
  // backends' declared state.
  const peers = new Map<number, string>([[g.storePort, 'xenstore'], [g.console.port, 'console']]);
  const mappedBy = new Map<number, string>();
  const rings: RingInfo[] = [];
  const devices: PvDeviceInfo[] = [];
  const shared = (m: Mapping) => (m && m.mapped ? hv.mappedPage({ domid: D, gref: m.gref, frame: m.frame, writable: m.writable, mapped: true })?.words ?? null : null);
  const frontState = (type: string, devid: number) => xs.readInt(`${frontendPathFor(type, D, devid)}/state`) ?? 0;

  for (const [devid, b] of g.disks) {
    const s = BLKBACK_STATE.save(b) as StateRecord;
    const name = `vbd ${devid}`;
    if ((s.port as number) > 0) peers.set(s.port as number, name);
    const m = (s.mapping as { value?: Mapping }).value ?? null;
    if (m?.mapped) mappedBy.set(m.gref, `${name} ring`);
    const ring = (s.ring as { value?: RingState }).value ?? null;
    const w = shared(m);
    if (ring && w) {
      rings.push(sharedRing(name, 'blkif', ring, w, [...b.requestsInFlight].map((r) => ({ index: r.index, op: BLKIF_OPS[r.op] ?? String(r.op), sector: r.sector, sectors: r.sectors }))));
    }
    const unit = xvdUnit(devid);
    devices.push({ type: 'vbd', devid, unit, name: xvdName(unit), backendState: s._state as number, frontendState: frontState('vbd', devid), backendPath: b.backendPath, frontendPath: b.frontendPath });
  }
  for (const [devid, n] of g.nics) {
    const s = NETBACK_STATE.save(n) as StateRecord;
    const name = `vif ${devid}`;
    if ((s.txPort as number) > 0) peers.set(s.txPort as number, name);
    if ((s.rxPort as number) > 0) peers.set(s.rxPort as number, name);
    for (const dir of ['tx', 'rx'] as const) {
      const r = (s[dir] as { value?: { ring: RingState; map: Mapping } }).value;
      if (!r) continue;
      if (r.map?.mapped) mappedBy.set(r.map.gref, `${name} ${dir} ring`);
      const w = shared(r.map);
      if (r.ring && w) rings.push(sharedRing(`${name} ${dir}`, dir === 'tx' ? 'netif-tx' : 'netif-rx', r.ring, w, []));
    }
    devices.push({ type: 'vif', devid, unit: devid, name: `vif${devid}`, backendState: s._state as number, frontendState: frontState('vif', devid), backendPath: backendPathFor('vif', D, devid), frontendPath: frontendPathFor('vif', D, devid) });
  }

  // Byte rings on the special pages the toolstack placed: the console and xenstore.
  const byteRing = (name: string, protocol: RingInfo['protocol'], size: number, prod: number, cons: number): RingInfo => ({
    name, protocol, size, unit: 'bytes', req_prod: prod >>> 0, req_cons: cons >>> 0, rsp_prod: -1, rsp_cons: -1, req_event: -1, rsp_event: -1,
    free: Math.max(0, size - ((prod - cons) >>> 0)), inFlight: [],
  });
  const con = hv.foreignPage(D, g.console.gfn)?.words;
  if (con) {
    rings.push(byteRing('console in', 'console', 1024, con.load(3076 >> 2), con.load(3072 >> 2)));
    rings.push(byteRing('console out', 'console', 2048, con.load(3084 >> 2), con.load(3080 >> 2)));
  }
  const store = hv.foreignPage(D, Number(d.params[X.HVM_PARAM_STORE_PFN]))?.words;
  if (store) {
    rings.push(byteRing('xenstore req', 'xenstore', XENSTORE_RING_SIZE, store.load(2052 >> 2), store.load(2048 >> 2)));
    rings.push(byteRing('xenstore rsp', 'xenstore', XENSTORE_RING_SIZE, store.load(2060 >> 2), store.load(2056 >> 2)));
  }

  // Event channels: the guest's port table as a snapshot saves it, with the 2-level bits.
  const ports: PortInfo[] = [];
  for (const p of EVTCHN_TABLE.save(d.evtchn) as unknown as Array<{ port: number; state: number; notifyVcpu: number; remoteDom: number; remotePort: number; virq: number }>) {
    const type = p.state === ECS_INTERDOMAIN ? 'interdomain' : p.state === ECS_VIRQ ? 'virq' : p.state === ECS_IPI ? 'ipi' : p.state === ECS_UNBOUND ? 'unbound' : null;
    if (!type) continue;
    let peer: string | null = null;
    if (type === 'interdomain' && p.remoteDom === X.DOMID_DOM0) peer = peers.get(p.remotePort) ?? null;
    else if (type === 'virq') peer = VIRQS[p.virq] ?? `virq ${p.virq}`;
    ports.push({
      port: p.port, type, vcpu: p.notifyVcpu, remoteDom: p.remoteDom, remotePort: p.remotePort, virq: p.virq,
      masked: d.evtchn2l.isMasked(p.port), pending: d.evtchn2l.isPending(p.port), sent: d.portSent[p.port], received: d.portRaised[p.port], peer,
    });
  }

  // Grants: every entry the guest has made (GTF_permit_access) in the frames it placed.
  const { gfns } = GRANT_TABLE.save(d.grants) as unknown as { gfns: number[] };
  const entries: GrantEntryInfo[] = [];
  gfns.forEach((gfn, f) => {
    const page = gfn >= 0 ? d.mem.view(gfn * X.PAGE_SIZE, X.PAGE_SIZE) : null;
    if (!page) return;
    for (let i = 0; i < X.GRANT_ENTRIES_PER_FRAME; i++) {
      const o = i * X.GRANT_ENTRY_V1_SIZE;
      const flags = page[o] | (page[o + 1] << 8);
      if ((flags & X.GTF_type_mask) !== X.GTF_permit_access) continue;
      const ref = f * X.GRANT_ENTRIES_PER_FRAME + i;
      entries.push({
        ref, domid: page[o + 2] | (page[o + 3] << 8), frame: (page[o + 4] | (page[o + 5] << 8) | (page[o + 6] << 16) | (page[o + 7] << 24)) >>> 0,
        readOnly: (flags & X.GTF_readonly) !== 0, reading: (flags & X.GTF_reading) !== 0, writing: (flags & X.GTF_writing) !== 0,
        mappedBy: mappedBy.get(ref) ?? null,
      });
    }
  });

  const hypercalls: XenSample['hypercalls'] = [];
  hv.hypercallCounts.forEach((count, op) => { if (count > 0) hypercalls.push({ op, name: hypercallName(op), count }); });

  return {
    domid: D,
    hypercalls,
    xenstore: ts.store.inspect(),
    ports,
    grants: { frames: gfns.filter((g) => g >= 0).length, entries, maps: hv.grantMaps, unmaps: hv.grantUnmaps },
    rings,
    devices,
  };
}

/** A request/response ring (io/ring.h): shared indexes from the page, the backend's private ones. */
function sharedRing(
  name: string, protocol: RingInfo['protocol'], ring: NonNullable<RingState>, w: { load(i: number): number }, inFlight: RingInfo['inFlight'],
): RingInfo {
  const size = ringSize(ring.entrySize);
  const req_prod = w.load(0) >>> 0;
  const rsp_prod = w.load(2) >>> 0;
  return {
    name, protocol, size, unit: 'slots',
    req_prod, req_event: w.load(1) >>> 0, rsp_prod, rsp_event: w.load(3) >>> 0,
    req_cons: ring.req_cons >>> 0, rsp_cons: -1,
    free: Math.max(0, size - Math.min(size, (req_prod - rsp_prod) >>> 0)),
    inFlight,
  };
}

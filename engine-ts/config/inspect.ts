// What the inspector sees of a running machine: a plain-data sample the worker builds on
// request (MachineHandle.inspect, at most a few times a second), read from the same declared
// structures a snapshot saves (event-channel and grant tables, backends, the xenstore tree)
// plus counters and a bounded timeline of PV events in guest time. The page only draws it.
// A leaf like machine.ts: every layer may import it.

/** Timeline event kinds (the numbers travel in TimelineChunk.kind). */
export const TRACE_KINDS = ['hypercall', 'evtchn-send', 'virq', 'upcall', 'grant-map', 'grant-unmap', 'xs-write', 'xs-rm', 'watch'] as const;
export type TraceKindName = (typeof TRACE_KINDS)[number];
/** Kind number of each name: TRACE.hypercall === 1 (0 is never recorded). */
export const TRACE = Object.fromEntries(TRACE_KINDS.map((k, i) => [k, i + 1])) as Record<TraceKindName, number>;

/**
 * Timeline events as columns (cheap to send between threads). Event k has sequence number
 * `first + k`, guest time `time[k]` (ns), kind `kind[k]` (TRACE), domain `dom[k]`, numbers
 * `args[3k..3k+2]` and strings `text[k]`, `text2[k]`; what they mean depends on the kind:
 *   hypercall    a = op, b = sub-command (EBX), c = result;
 *   evtchn-send  dom sends on port a to domain b, port c;
 *   virq         Xen fires VIRQ a on dom's port b (vCPU c);
 *   upcall       the callback (vector b) is injected into dom's vCPU a;
 *   grant-map    dom0 maps dom's grant a (frame b); c bit 0 = writable, bit 1 = held (a ring), else one copy;
 *   grant-unmap  the same, released;
 *   xs-write     domain dom wrote xenstore path `text` = `text2`;
 *   xs-rm        domain dom removed `text`;
 *   watch        a watch of domain dom fired for path `text` (token `text2`).
 */
export interface TimelineChunk {
  first: number;
  /** Events the ring overwrote before they were read (the inspector asked too rarely). */
  lost: number;
  time: Float64Array;
  kind: Uint8Array;
  dom: Uint16Array;
  args: Int32Array;
  text: Array<string | null>;
  text2: Array<string | null>;
}

export interface TimelineEvent {
  seq: number;
  /** Guest time, ns. */
  time: number;
  kind: TraceKindName;
  dom: number;
  a: number;
  b: number;
  c: number;
  text: string | null;
  text2: string | null;
}

/** The events of a chunk as objects. */
export function timelineEvents(chunk: TimelineChunk): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (let k = 0; k < chunk.time.length; k++) {
    const kind = TRACE_KINDS[chunk.kind[k] - 1];
    if (!kind) continue;
    out.push({
      seq: chunk.first + k, time: chunk.time[k], kind, dom: chunk.dom[k],
      a: chunk.args[3 * k], b: chunk.args[3 * k + 1], c: chunk.args[3 * k + 2], text: chunk.text[k], text2: chunk.text2[k],
    });
  }
  return out;
}

export interface InspectOptions {
  /** Return timeline events from this sequence number on (the previous sample's `timeline.first + length`). */
  eventsFrom?: number;
  /** Keep recording the timeline (default true); false stops it (the inspector closed). */
  timeline?: boolean;
}

/** xenbus device states (io/xenbus.h), by number. */
export const XENBUS_STATES = ['Unknown', 'Initialising', 'InitWait', 'Initialised', 'Connected', 'Closing', 'Closed', 'Reconfiguring', 'Reconfigured'] as const;

export interface XsNodeInfo {
  path: string;
  value: string;
  /** xenstore-ls style: "n0" owner with no access for others, "r1" domain 1 may read, ... */
  perms: string[];
  /** Generation of the node's last change (grows with every change in the store). */
  gen: number;
}

export interface XsWatchInfo {
  /** The connection: "d1" (the guest's ring), "toolstack" (dom0's backends and toolstack). */
  owner: string;
  domid: number;
  path: string;
  token: string;
}

export interface PortInfo {
  port: number;
  type: 'unbound' | 'interdomain' | 'virq' | 'ipi';
  vcpu: number;
  remoteDom: number;
  remotePort: number;
  virq: number;
  masked: boolean;
  pending: boolean;
  /** Notifications the guest sent on this port, and those raised on it, since power-on. */
  sent: number;
  received: number;
  /** What sits at the other end, when Xen knows ("xenstore", "console", "vbd 51712", "vif 0", "timer"). */
  peer: string | null;
}

export interface GrantEntryInfo {
  ref: number;
  /** The guest frame the entry grants. */
  frame: number;
  /** The domain the guest grants it to. */
  domid: number;
  readOnly: boolean;
  /** GTF_reading / GTF_writing: a backend is using it right now. */
  reading: boolean;
  writing: boolean;
  /** The backend that holds it mapped (a ring page), or null. */
  mappedBy: string | null;
}

export interface RingRequestInfo {
  /** Free-running ring index of the request. */
  index: number;
  op: string;
  sector: number;
  sectors: number;
}

export interface RingInfo {
  /** "vbd 51712", "vif 0 tx", "console out", "xenstore req" ... */
  name: string;
  protocol: 'blkif' | 'netif-tx' | 'netif-rx' | 'console' | 'xenstore';
  /** Slots (request/response rings) or bytes (console and xenstore byte rings). */
  size: number;
  unit: 'slots' | 'bytes';
  /** Shared indexes as the page holds them, and the backend's private ones (-1 where none). */
  req_prod: number;
  req_cons: number;
  rsp_prod: number;
  rsp_cons: number;
  req_event: number;
  rsp_event: number;
  /** Slots the frontend may still fill (size − requests not yet answered). */
  free: number;
  /** Requests the backend took and has not answered yet. */
  inFlight: RingRequestInfo[];
}

export interface PvDeviceInfo {
  type: 'vbd' | 'vif';
  devid: number;
  /** xvda, xvdb (disks: the unit number is the xvd letter) or vif0, vif1. */
  name: string;
  unit: number;
  backendState: number;
  frontendState: number;
  backendPath: string;
  frontendPath: string;
}

export interface XenSample {
  domid: number;
  /** Hypercalls by operation since power-on. */
  hypercalls: Array<{ op: number; name: string; count: number }>;
  xenstore: { nodes: XsNodeInfo[]; watches: XsWatchInfo[] };
  ports: PortInfo[];
  grants: { frames: number; entries: GrantEntryInfo[]; maps: number; unmaps: number };
  rings: RingInfo[];
  devices: PvDeviceInfo[];
}

export interface InspectorSample {
  /** Guest time of the sample, ns. */
  guestNs: number;
  /** VM exits by device (port I/O and MMIO accesses per device) since power-on. */
  devices: Array<{ name: string; io: number; mmio: number }>;
  /** The PV side (Xen mode only). */
  xen: XenSample | null;
  /** Timeline events since InspectOptions.eventsFrom (empty while not recording). */
  timeline: TimelineChunk;
  recording: boolean;
}

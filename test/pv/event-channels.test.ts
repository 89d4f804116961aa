import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { ARG, makeGuest, PAGE, poke, type TestGuest } from './fake-guest';

const SHINFO_GFN = 0x10;
const shinfo = (off: number) => SHINFO_GFN * PAGE + off;

function mapSharedInfo(g: TestGuest): void {
  poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.XENMAPSPACE_shared_info], [8, 4, 0], [12, 4, SHINFO_GFN]]);
  expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
}

function setVectorCallback(g: TestGuest): void {
  poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.HVM_PARAM_CALLBACK_IRQ], [8, 8, (2n << 56n) | 0xf3n]]);
  expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG])).toBe(0);
}

function evtchnOp(g: TestGuest, cmd: number, fields: [number, 1 | 2 | 4 | 8, number][], size: number): { rc: number; out: (off: number) => number } {
  g.mem.peek(ARG, size).fill(0);
  poke(g.mem, ARG, fields);
  const rc = g.hypercall(X.__HYPERVISOR_event_channel_op, [cmd, ARG]);
  return { rc, out: (off) => g.mem.u32(ARG + off) };
}

function isPending(g: TestGuest, port: number): boolean {
  return (g.mem.u32(shinfo(X.SHINFO_evtchn_pending + 4 * (port >> 5))) & (1 << (port & 31))) !== 0;
}
function setMask(g: TestGuest, port: number, masked: boolean): void {
  const a = shinfo(X.SHINFO_evtchn_mask + 4 * (port >> 5));
  const v = g.mem.u32(a);
  g.mem.setU32(a, masked ? v | (1 << (port & 31)) : v & ~(1 << (port & 31)));
}
/** What Linux's upcall handler does: clear upcall_pending, take the selector. */
function ackUpcall(g: TestGuest, vcpu: number): number {
  const vi = shinfo(vcpu * 64);
  g.mem.peek(vi, 1)[0] = 0;
  const sel = g.mem.u32(vi + 4);
  g.mem.setU32(vi + 4, 0);
  return sel;
}

describe('event channels (2-level ABI)', () => {
  it('interdomain: guest alloc_unbound, dom0 binds, sends reach the other side', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    setVectorCallback(g);
    const alloc = evtchnOp(g, X.EVTCHNOP_alloc_unbound, [[0, 2, X.DOMID_SELF], [2, 2, 0]], 8);
    expect(alloc.rc).toBe(0);
    const guestPort = alloc.out(4);
    expect(guestPort).toBeGreaterThan(0);

    const got: number[] = [];
    const dom0Port = g.hv.dom0.bindInterdomain(1, guestPort, (p) => got.push(p));
    expect(dom0Port).toBeGreaterThan(0);
    // Binding raises the binder's own port once (lost notifications on the unbound end).
    expect(got).toEqual([dom0Port]);

    expect(evtchnOp(g, X.EVTCHNOP_send, [[0, 4, guestPort]], 4).rc).toBe(0);
    expect(got).toEqual([dom0Port, dom0Port]);

    g.upcalls.vectors = [];
    g.hv.dom0.notify(dom0Port);
    expect(isPending(g, guestPort)).toBe(true);
    expect(g.upcalls.vectors).toEqual([{ vcpu: 0, vector: 0xf3 }]);
    expect(ackUpcall(g, 0)).toBe(1 << (guestPort >> 5));

    const st = evtchnOp(g, X.EVTCHNOP_status, [[0, 2, X.DOMID_SELF], [4, 4, guestPort]], 24);
    expect(st.rc).toBe(0);
    expect(st.out(8)).toBe(X.EVTCHNSTAT_interdomain);
    expect(g.mem.u16(ARG + 16)).toBe(0);
    expect(st.out(20)).toBe(dom0Port);
  });

  it('a second notification while pending does not inject again; a masked port waits for unmask', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    setVectorCallback(g);
    const port = evtchnOp(g, X.EVTCHNOP_bind_ipi, [[0, 4, 1]], 8).out(4);
    g.upcalls.vectors = [];
    evtchnOp(g, X.EVTCHNOP_send, [[0, 4, port]], 4);
    evtchnOp(g, X.EVTCHNOP_send, [[0, 4, port]], 4);
    expect(g.upcalls.vectors).toEqual([{ vcpu: 1, vector: 0xf3 }]);

    // Guest handles it, then masks the port; the next send sets pending but no upcall.
    ackUpcall(g, 1);
    g.mem.setU32(shinfo(X.SHINFO_evtchn_pending), 0);
    setMask(g, port, true);
    g.upcalls.vectors = [];
    evtchnOp(g, X.EVTCHNOP_send, [[0, 4, port]], 4);
    expect(isPending(g, port)).toBe(true);
    expect(g.upcalls.vectors).toEqual([]);
    // Unmask (as Linux does: mask bit set when the hypercall runs) delivers it.
    expect(evtchnOp(g, X.EVTCHNOP_unmask, [[0, 4, port]], 4).rc).toBe(0);
    expect(g.upcalls.vectors).toEqual([{ vcpu: 1, vector: 0xf3 }]);
    expect(g.mem.u32(shinfo(X.SHINFO_evtchn_mask))).toBe(0);
  });

  it('VIRQ_TIMER fires from the singleshot timer on the bound vCPU; double binding is refused', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    setVectorCallback(g);
    const b = evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, X.VIRQ_TIMER], [4, 4, 1]], 12);
    expect(b.rc).toBe(0);
    const port = b.out(8);
    expect(evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, X.VIRQ_TIMER], [4, 4, 1]], 12).rc).toBe(-X.EEXIST);
    expect(evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, X.VIRQ_CONSOLE], [4, 4, 1]], 12).rc).toBe(-X.EINVAL); // global virq on vCPU 1
    expect(evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, 99], [4, 4, 0]], 12).rc).toBe(-X.EINVAL);
    expect(evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, X.VIRQ_DEBUG], [4, 4, 7]], 12).rc).toBe(-X.ENOENT);

    poke(g.mem, ARG, [[0, 8, 3_000_000], [8, 4, 0]]);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_set_singleshot_timer, 1, ARG], { vcpu: 1 })).toBe(0);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_set_singleshot_timer, 0, ARG], { vcpu: 1 })).toBe(-X.EINVAL);
    g.clock.advance(2_999_999);
    g.clock.runDue();
    expect(isPending(g, port)).toBe(false);
    g.clock.advance(1);
    g.clock.runDue();
    expect(isPending(g, port)).toBe(true);
    expect(g.upcalls.vectors.at(-1)).toEqual({ vcpu: 1, vector: 0xf3 });
    // A deadline in the past with VCPU_SSHOTTMR_future fails.
    poke(g.mem, ARG, [[0, 8, 10], [8, 4, X.VCPU_SSHOTTMR_future]]);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_set_singleshot_timer, 1, ARG], { vcpu: 1 })).toBe(-X.ETIME);
  });

  it('periodic timer keeps firing until stopped and refuses periods under 1 ms', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    const port = evtchnOp(g, X.EVTCHNOP_bind_virq, [[0, 4, X.VIRQ_TIMER], [4, 4, 0]], 12).out(8);
    poke(g.mem, ARG, [[0, 8, 999_999]]);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_set_periodic_timer, 0, ARG])).toBe(-X.EINVAL);
    poke(g.mem, ARG, [[0, 8, 1_000_000]]);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_set_periodic_timer, 0, ARG])).toBe(0);
    let fires = 0;
    for (let i = 0; i < 5; i++) {
      g.clock.advance(1_000_000);
      g.clock.runDue();
      if (isPending(g, port)) fires++;
      g.mem.setU32(shinfo(X.SHINFO_evtchn_pending), 0);
    }
    expect(fires).toBe(5);
    g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_stop_periodic_timer, 0, 0]);
    g.clock.advance(5_000_000);
    g.clock.runDue();
    expect(isPending(g, port)).toBe(false);
  });

  it('close turns the peer unbound; send on a closed or bogus port is -EINVAL', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    const guestPort = evtchnOp(g, X.EVTCHNOP_alloc_unbound, [[0, 2, X.DOMID_SELF], [2, 2, 0]], 8).out(4);
    const got: number[] = [];
    const p0 = g.hv.dom0.bindInterdomain(1, guestPort, (p) => got.push(p));
    // dom0 cannot bind the same port twice (it is no longer unbound).
    expect(g.hv.dom0.bindInterdomain(1, guestPort, () => {})).toBe(-X.EINVAL);
    expect(evtchnOp(g, X.EVTCHNOP_close, [[0, 4, guestPort]], 4).rc).toBe(0);
    expect(g.hv.portInfo(0, p0)?.state).toBe(X.EVTCHNSTAT_unbound);
    got.length = 0;
    g.hv.dom0.notify(p0); // dropped: the peer is gone
    expect(evtchnOp(g, X.EVTCHNOP_send, [[0, 4, guestPort]], 4).rc).toBe(-X.EINVAL);
    expect(evtchnOp(g, X.EVTCHNOP_send, [[0, 4, 5000]], 4).rc).toBe(-X.EINVAL);
    expect(evtchnOp(g, X.EVTCHNOP_close, [[0, 4, 0]], 4).rc).toBe(-X.EINVAL);
    expect(got).toEqual([]);
  });

  it('FIFO ABI is refused so Linux stays on 2-level; a guest cannot act for another domain', () => {
    const g = makeGuest();
    expect(evtchnOp(g, X.EVTCHNOP_init_control, [], 24).rc).toBe(-X.ENOSYS);
    expect(evtchnOp(g, X.EVTCHNOP_alloc_unbound, [[0, 2, 2], [2, 2, 0]], 8).rc).toBe(-X.EPERM);
    expect(evtchnOp(g, X.EVTCHNOP_status, [[0, 2, 3], [4, 4, 1]], 24).rc).toBe(-X.EPERM);
  });

  it('guest to guest: a port of domain 2 bound by domain 1', () => {
    const a = makeGuest({ domid: 1 });
    const b = makeGuest({ domid: 2, hv: a.hv, clock: a.clock });
    mapSharedInfo(a);
    mapSharedInfo(b);
    const pb = evtchnOp(b, X.EVTCHNOP_alloc_unbound, [[0, 2, X.DOMID_SELF], [2, 2, 1]], 8).out(4);
    const bind = evtchnOp(a, X.EVTCHNOP_bind_interdomain, [[0, 2, 2], [4, 4, pb]], 12);
    expect(bind.rc).toBe(0);
    const pa = bind.out(8);
    b.mem.setU32(shinfo(X.SHINFO_evtchn_pending), 0);
    evtchnOp(a, X.EVTCHNOP_send, [[0, 4, pa]], 4);
    expect(isPending(b, pb)).toBe(true);
  });

  it('GSI callback holds the line while vCPU 0 has upcall_pending and drops it after the guest clears it', () => {
    const g = makeGuest();
    mapSharedInfo(g);
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.HVM_PARAM_CALLBACK_IRQ], [8, 8, 11]]);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG])).toBe(0);
    const port = evtchnOp(g, X.EVTCHNOP_bind_ipi, [[0, 4, 0]], 8).out(4);
    evtchnOp(g, X.EVTCHNOP_send, [[0, 4, port]], 4);
    expect(g.upcalls.gsi.get(11)).toBe(true);
    ackUpcall(g, 0);
    g.dom.refreshCallbackLevel();
    expect(g.upcalls.gsi.get(11)).toBe(false);
  });
});

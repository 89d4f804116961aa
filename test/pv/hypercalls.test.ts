import { describe, expect, it } from 'vitest';
import { fillHypercallPage, xenCpuid } from '../../engine-ts/pv/cpuid';
import { tscScale } from '../../engine-ts/pv/domain';
import { HypercallExit } from '../../engine-ts/pv/interfaces';
import * as X from '../../engine-ts/pv/xen-public';
import { ARG, makeGuest, PAGE, poke } from './fake-guest';

describe('CPUID leaves', () => {
  it('spell XenVMMXenVMM at 0x40000000 and reach at least base+4', () => {
    const r = xenCpuid(0x40000000, 0, 0, 1)!;
    const sig = [r.ebx, r.ecx, r.edx].map((v) => String.fromCharCode(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24)).join('');
    expect(sig).toBe('XenVMMXenVMM');
    expect(r.eax - 0x40000000).toBeGreaterThanOrEqual(4);
  });
  it('report a 4.x version, the hypercall MSR and the vCPU id without the upcall-vector bit', () => {
    expect(xenCpuid(0x40000001, 0, 0, 1)!.eax >>> 16).toBe(4);
    expect(xenCpuid(0x40000002, 0, 0, 1)).toEqual({ eax: 1, ebx: 0x40000000, ecx: 0, edx: 0 });
    const l4 = xenCpuid(0x40000004, 0, 3, 7)!;
    expect(l4.eax & (1 << 3)).not.toBe(0);
    expect(l4.eax & (1 << 6)).toBe(0);
    expect(l4.ebx).toBe(3);
    expect(l4.ecx).toBe(7);
  });
  it('leave other leaves to the core', () => {
    expect(xenCpuid(0x3fffffff, 0, 0, 1)).toBeNull();
    expect(xenCpuid(0x40000100, 0, 0, 1)).toBeNull();
    expect(xenCpuid(0, 0, 0, 1)).toBeNull();
  });
});

describe('hypercall page', () => {
  it('holds mov eax,i; vmcall; ret stubs every 32 bytes with ud2 at iret', () => {
    const p = new Uint8Array(PAGE);
    fillHypercallPage(p, 'intel');
    expect([...p.subarray(17 * 32, 17 * 32 + 10)]).toEqual([0xb8, 17, 0, 0, 0, 0x0f, 0x01, 0xc1, 0xc3, 0xcc]);
    expect([...p.subarray(23 * 32, 23 * 32 + 3)]).toEqual([0x0f, 0x0b, 0xcc]);
    fillHypercallPage(p, 'amd');
    expect([...p.subarray(34 * 32 + 5, 34 * 32 + 8)]).toEqual([0x0f, 0x01, 0xd9]);
  });
  it('is written by the MSR at a page-aligned address and refuses a non-zero page index', () => {
    const g = makeGuest();
    expect(g.dom.writeHypercallMsr(0x5000n)).toBe(true);
    expect(g.mem.peek(0x5000 + 12 * 32, 2)[1]).toBe(12);
    expect(g.dom.writeHypercallMsr(0x6001n)).toBe(false);
    expect(g.dom.writeHypercallMsr(0xf000_0000n)).toBe(false); // not memory
  });
});

describe('hypercall dispatch', () => {
  it('refuses calls from user mode and answers -ENOSYS to unknown ops', () => {
    const g = makeGuest();
    expect(g.hypercall(X.__HYPERVISOR_xen_version, [0], { cpl: 3 })).toBe(-X.EPERM);
    expect(g.hypercall(X.__HYPERVISOR_physdev_op, [0, 0])).toBe(-X.ENOSYS);
    expect(g.hypercall(1000, [])).toBe(-X.ENOSYS);
  });

  it('xen_version: version, the HVM feature map, page size, and -EFAULT on a bad pointer', () => {
    const g = makeGuest();
    expect(g.hypercall(X.__HYPERVISOR_xen_version, [X.XENVER_version, 0])).toBe(0x00040011);
    poke(g.mem, ARG, [[0, 4, 0], [4, 4, 0xdead]]);
    expect(g.hypercall(X.__HYPERVISOR_xen_version, [X.XENVER_get_features, ARG])).toBe(0);
    expect(g.mem.u32(ARG + 4)).toBe(0x105);
    poke(g.mem, ARG, [[0, 4, 1]]);
    g.hypercall(X.__HYPERVISOR_xen_version, [X.XENVER_get_features, ARG]);
    expect(g.mem.u32(ARG + 4)).toBe(0);
    expect(g.hypercall(X.__HYPERVISOR_xen_version, [X.XENVER_pagesize, 0])).toBe(4096);
    expect(g.hypercall(X.__HYPERVISOR_xen_version, [X.XENVER_get_features, 0xffff_f000])).toBe(-X.EFAULT);
  });

  it('memory_op add_to_physmap places shared_info and grant frames; bad spaces and idx are refused', () => {
    const g = makeGuest();
    // Wall clock was written into the private page before the guest mapped it.
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.XENMAPSPACE_shared_info], [8, 4, 0], [12, 4, 0x10]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
    expect(g.mem.u32(0x10 * PAGE + X.SHINFO_wc_sec)).toBe(1_700_000_000);
    expect(g.mem.u32(0x10 * PAGE + X.SHINFO_wc_version) % 2).toBe(0);
    poke(g.mem, ARG, [[8, 4, 1]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(-X.EINVAL);

    const bar1 = 0xf0000; // gfn of BAR1 at 0xF0000000
    poke(g.mem, ARG, [[4, 4, X.XENMAPSPACE_grant_table], [8, 4, 0], [12, 4, bar1]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
    expect(g.physmap.placed.some((p) => p.gfn === bar1)).toBe(true);
    expect(g.dom.grants.frameGfn(0)).toBe(bar1);
    // Later frames are added top-down; the table grows to cover them.
    poke(g.mem, ARG, [[8, 4, 3], [12, 4, bar1 + 3]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
    expect(g.dom.grants.nrFrames).toBe(4);
    poke(g.mem, ARG, [[8, 4, 32]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(-X.EINVAL);
    poke(g.mem, ARG, [[8, 4, 0x80000000]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(-X.EINVAL);
    poke(g.mem, ARG, [[4, 4, X.XENMAPSPACE_gmfn]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(-X.ENOSYS);
    poke(g.mem, ARG, [[0, 2, 5], [4, 4, X.XENMAPSPACE_shared_info], [8, 4, 0]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(-X.EPERM);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_memory_map, ARG])).toBe(-X.ENOSYS);
  });

  it('moving shared_info keeps its contents', () => {
    const g = makeGuest();
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, 0], [8, 4, 0], [12, 4, 0x10]]);
    g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG]);
    g.mem.setU32(0x10 * PAGE + X.SHINFO_evtchn_mask, 0xabcd);
    poke(g.mem, ARG, [[12, 4, 0x20]]);
    expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
    expect(g.mem.u32(0x20 * PAGE + X.SHINFO_evtchn_mask)).toBe(0xabcd);
  });

  it('hvm_op: the guest sets CALLBACK_IRQ but not the toolstack params; get_param reads any', () => {
    const g = makeGuest();
    g.dom.params[X.HVM_PARAM_STORE_PFN] = 0xfeffcn;
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.HVM_PARAM_CALLBACK_IRQ], [8, 8, (2n << 56n) | 0xf3n]]);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG])).toBe(0);
    expect(g.dom.callbackVia()).toEqual({ type: 2, value: 0xf3 });
    poke(g.mem, ARG, [[8, 8, (2n << 56n) | 0x05n]]);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG])).toBe(-X.EINVAL); // vector < 16
    poke(g.mem, ARG, [[4, 4, X.HVM_PARAM_STORE_PFN], [8, 8, 5]]);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_set_param, ARG])).toBe(-X.EPERM);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_get_param, ARG])).toBe(0);
    expect(g.mem.u32(ARG + 8)).toBe(0xfeffc);
    poke(g.mem, ARG, [[4, 4, 39]]);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_get_param, ARG])).toBe(-X.EINVAL);
    expect(g.hypercall(X.__HYPERVISOR_hvm_op, [X.HVMOP_pagetable_dying, ARG])).toBe(-X.ENOSYS);
  });

  it('vcpu_op register_vcpu_info moves vcpu_info, marks everything pending, and refuses a second time', () => {
    const g = makeGuest();
    g.clock.advance(5_000_000);
    poke(g.mem, ARG, [[0, 8, 0x30], [8, 4, 0x40], [12, 4, 0]]);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_register_vcpu_info, 1, ARG])).toBe(0);
    const vi = 0x30 * PAGE + 0x40;
    expect(g.mem.peek(vi, 1)[0]).toBe(1); // evtchn_upcall_pending
    expect(g.mem.u32(vi + X.VCPUINFO_evtchn_pending_sel)).toBe(0xffffffff);
    // vcpu_time_info: even version, system time in ns, our TSC scale.
    const t = vi + X.VCPUINFO_time;
    expect(g.mem.u32(t) % 2).toBe(0);
    expect(g.mem.u32(t + X.VTI_system_time)).toBe(5_000_000);
    expect(g.mem.u32(t + X.VTI_tsc_timestamp)).toBe(10_000_000);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_register_vcpu_info, 1, ARG])).toBe(-X.EBUSY);
    poke(g.mem, ARG, [[8, 4, 4064]]); // would cross the page
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_register_vcpu_info, 0, ARG])).toBe(-X.EINVAL);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_register_vcpu_info, 9, ARG])).toBe(-X.ENOENT);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_is_up, 0, 0])).toBe(1);
    expect(g.hypercall(X.__HYPERVISOR_vcpu_op, [X.VCPUOP_up, 1, 0])).toBe(-X.ENOSYS);
  });

  it('tsc scale converts ticks to ns', () => {
    for (const hz of [1_000_000_000, 2_000_000_000, 2_400_000_000, 33_000_000, 3_999_999_999]) {
      const { mul, shift } = tscScale(hz);
      const ticks = BigInt(hz); // one second of ticks
      const shifted = shift >= 0 ? ticks << BigInt(shift) : ticks >> BigInt(-shift);
      const ns = Number((shifted * BigInt(mul)) >> 32n);
      expect(Math.abs(ns - 1e9)).toBeLessThan(2);
    }
  });

  it('sched_op: shutdown goes to the host, bad reasons fail, block halts only with nothing pending', () => {
    const g = makeGuest();
    poke(g.mem, ARG, [[0, 4, X.SHUTDOWN_reboot]]);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_shutdown, ARG])).toBe(0);
    expect(g.shutdowns).toEqual([X.SHUTDOWN_reboot]);
    poke(g.mem, ARG, [[0, 4, 9]]);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_shutdown, ARG])).toBe(-X.EINVAL);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_yield, 0])).toBe(0);
    expect(g.lastExit).toBe(HypercallExit.Yield);
    g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_block, 0]);
    expect(g.lastExit).toBe(HypercallExit.Block);
    g.dom.evtchn2l.markUpcall(0);
    g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_block, 0]);
    expect(g.lastExit).toBe(HypercallExit.Continue);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_remote_shutdown, ARG])).toBe(-X.EPERM);
  });

  it('sched_op poll returns at once for a pending port and otherwise wakes on the port or the timeout', () => {
    const g = makeGuest();
    poke(g.mem, ARG, [[0, 4, 0]]); // bind_ipi {vcpu 0}
    expect(g.hypercall(X.__HYPERVISOR_event_channel_op, [X.EVTCHNOP_bind_ipi, ARG])).toBe(0);
    const port = g.mem.u32(ARG + 4);
    expect(port).toBeGreaterThan(0);
    poke(g.mem, 0x3000, [[0, 4, port]]);
    poke(g.mem, ARG, [[0, 4, 0x3000], [4, 4, 1], [8, 8, 1_000_000]]);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_poll, ARG])).toBe(0);
    expect(g.lastExit).toBe(HypercallExit.Block);
    g.upcalls.kicks = [];
    g.hv.send(g.dom.domid, port);
    expect(g.upcalls.kicks).toContain(0);
    // Now pending: poll returns immediately.
    g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_poll, ARG]);
    expect(g.lastExit).toBe(HypercallExit.Continue);
    // Timeout wake-up.
    g.dom.evtchn2l.clearPending(port);
    poke(g.mem, ARG, [[8, 8, 2_000_000]]);
    g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_poll, ARG]);
    expect(g.lastExit).toBe(HypercallExit.Block);
    g.upcalls.kicks = [];
    g.clock.advance(2_000_000);
    g.clock.runDue();
    expect(g.upcalls.kicks).toEqual([0]);
    poke(g.mem, ARG, [[4, 4, 129]]);
    expect(g.hypercall(X.__HYPERVISOR_sched_op, [X.SCHEDOP_poll, ARG])).toBe(-X.EINVAL);
  });

  it('console_io writes to the debug sink', () => {
    const g = makeGuest();
    g.mem.peek(ARG, 3).set([0x68, 0x69, 0x0a]);
    expect(g.hypercall(X.__HYPERVISOR_console_io, [X.CONSOLEIO_write, 3, ARG])).toBe(0);
    expect(String.fromCharCode(...g.debug)).toBe('hi\n');
  });
});

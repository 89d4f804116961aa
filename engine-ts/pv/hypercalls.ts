// The hypercall dispatcher for a 32-bit HVM guest (spec §3-§8): EAX = op, EBX..EDI = args,
// result (0, positive, or -errno) in EAX. Argument structs are copied in from guest-virtual
// memory with their i386 layout, validated, acted on, and copied back. Anything we do not
// implement answers -ENOSYS; a pointer that does not translate answers -EFAULT.

import type { HvmDomain } from './domain';
import type { Hypervisor } from './hypervisor';
import { HypercallExit, type HypercallContext } from './interfaces';
import { XEN_VERSION } from './cpuid';
import { ECS_INTERDOMAIN, ECS_UNBOUND, ECS_VIRQ } from './event-channels';
import { put16, put32, put64, put64big, putCString, u16, u32, u64, u64big } from './bytes';
import * as X from './xen-public';

const ret = (n: number): number => n | 0;

function readIn(ctx: HypercallContext, va: number, size: number): Uint8Array | null {
  const b = new Uint8Array(size);
  return ctx.mem.read(va >>> 0, b) ? b : null;
}

function writeOut(ctx: HypercallContext, va: number, b: Uint8Array): boolean {
  return ctx.mem.write(va >>> 0, b);
}

/** Features an HVM guest with a vector callback sees (spec §4): 0, 2 and 8. */
export const XEN_FEATURES_SUBMAP0 =
  (1 << X.XENFEAT_writable_page_tables) | (1 << X.XENFEAT_auto_translated_physmap) | (1 << X.XENFEAT_hvm_callback_vector);

export function dispatchHypercall(hv: Hypervisor, d: HvmDomain, ctx: HypercallContext): HypercallExit {
  const r = ctx.regs;
  const op = r.eax >>> 0;
  let result: number;
  let exit = HypercallExit.Continue;
  if (ctx.cpl !== 0) {
    r.eax = -X.EPERM >>> 0;
    return exit;
  }
  if (!Number.isInteger(ctx.vcpu) || ctx.vcpu < 0 || ctx.vcpu >= d.nrVcpus) {
    r.eax = -X.EINVAL >>> 0;
    return exit;
  }
  switch (op) {
    case X.__HYPERVISOR_memory_op:
      result = memoryOp(d, ctx, r.ebx >>> 0, r.ecx);
      break;
    case X.__HYPERVISOR_xen_version:
      result = xenVersion(ctx, r.ebx >>> 0, r.ecx);
      break;
    case X.__HYPERVISOR_console_io:
      result = consoleIo(d, ctx, r.ebx >>> 0, r.ecx >>> 0, r.edx);
      break;
    case X.__HYPERVISOR_grant_table_op:
      result = grantTableOp(hv, d, ctx, r.ebx >>> 0, r.ecx, r.edx >>> 0);
      break;
    case X.__HYPERVISOR_vcpu_op:
      result = vcpuOp(d, ctx, r.ebx >>> 0, r.ecx >>> 0, r.edx);
      break;
    case X.__HYPERVISOR_sched_op: {
      const s = schedOp(d, ctx, r.ebx >>> 0, r.ecx);
      result = s.result;
      exit = s.exit;
      break;
    }
    case X.__HYPERVISOR_event_channel_op:
      result = eventChannelOp(hv, d, ctx, r.ebx >>> 0, r.ecx);
      break;
    case X.__HYPERVISOR_hvm_op:
      result = hvmOp(d, ctx, r.ebx >>> 0, r.ecx);
      break;
    default:
      result = -X.ENOSYS;
  }
  r.eax = result >>> 0;
  return exit;
}

/** DOMID_SELF or our own id → ok; another real domain → -EPERM (only dom0 may); else -ESRCH. */
function selfOnly(d: HvmDomain, dom: number): number {
  if (dom === X.DOMID_SELF || dom === d.domid) return 0;
  return dom < X.DOMID_FIRST_RESERVED ? -X.EPERM : -X.ESRCH;
}

// ---- memory_op ------------------------------------------------------------------------------

function memoryOp(d: HvmDomain, ctx: HypercallContext, cmd: number, arg: number): number {
  const ramPages = Math.floor(d.mem.size / X.PAGE_SIZE);
  switch (cmd & 0x3f) {
    case X.XENMEM_add_to_physmap: {
      // xen_add_to_physmap (i386): u16 domid @0, u16 size @2, u32 space @4, u32 idx @8, u32 gpfn @12.
      const a = readIn(ctx, arg, 16);
      if (!a) return -X.EFAULT;
      const bad = selfOnly(d, u16(a, 0));
      if (bad) return bad;
      const space = u32(a, 4);
      const idx = u32(a, 8);
      const gpfn = u32(a, 12);
      if (gpfn >= 0x100000) return -X.EINVAL;
      switch (space) {
        case X.XENMAPSPACE_shared_info:
          return idx === 0 ? d.placeSharedInfo(gpfn) : -X.EINVAL;
        case X.XENMAPSPACE_grant_table:
          if (idx & X.XENMAPIDX_grant_table_status) return -X.EINVAL; // v1 has no status frames
          return d.placeGrantFrame(idx, gpfn);
        default:
          return -X.ENOSYS;
      }
    }
    case X.XENMEM_maximum_ram_page:
      return ramPages - 1;
    case X.XENMEM_current_reservation:
    case X.XENMEM_maximum_reservation:
    case X.XENMEM_maximum_gpfn: {
      const a = readIn(ctx, arg, 2);
      if (!a) return -X.EFAULT;
      const bad = selfOnly(d, u16(a, 0));
      if (bad) return bad;
      return (cmd & 0x3f) === X.XENMEM_maximum_gpfn ? ramPages - 1 : ramPages;
    }
    default:
      // memory_map, decrease/increase_reservation, populate_physmap, exchange ...: not offered.
      return -X.ENOSYS;
  }
}

// ---- xen_version ----------------------------------------------------------------------------

function xenVersion(ctx: HypercallContext, cmd: number, arg: number): number {
  const str = (size: number, s: string): number => {
    const b = new Uint8Array(size);
    putCString(b, 0, size, s);
    return writeOut(ctx, arg, b) ? 0 : -X.EFAULT;
  };
  switch (cmd) {
    case X.XENVER_version:
      return XEN_VERSION;
    case X.XENVER_extraversion:
      return str(16, '.0');
    case X.XENVER_compile_info: {
      // compiler[64], compile_by[16], compile_domain[32], compile_date[32]
      const b = new Uint8Array(144);
      putCString(b, 0, 64, 'pvlab');
      putCString(b, 64, 16, 'pvlab');
      return writeOut(ctx, arg, b) ? 0 : -X.EFAULT;
    }
    case X.XENVER_capabilities:
      return str(1024, 'hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64');
    case X.XENVER_changeset:
      return str(64, 'pvlab mini-xen');
    case X.XENVER_get_features: {
      // xen_feature_info: u32 submap_idx @0 (in), u32 submap @4 (out).
      const a = readIn(ctx, arg, 8);
      if (!a) return -X.EFAULT;
      put32(a, 4, u32(a, 0) === 0 ? XEN_FEATURES_SUBMAP0 : 0);
      return writeOut(ctx, arg, a) ? 0 : -X.EFAULT;
    }
    case X.XENVER_pagesize:
      return X.PAGE_SIZE;
    case X.XENVER_guest_handle:
      return writeOut(ctx, arg, new Uint8Array(16)) ? 0 : -X.EFAULT;
    case X.XENVER_commandline:
      return str(1024, '');
    default:
      return -X.ENOSYS;
  }
}

// ---- console_io (debug console) -------------------------------------------------------------

const CONSOLEIO_MAX = 64 * 1024;

function consoleIo(d: HvmDomain, ctx: HypercallContext, cmd: number, count: number, buf: number): number {
  if (cmd === X.CONSOLEIO_read) return 0;
  if (cmd !== X.CONSOLEIO_write) return -X.ENOSYS;
  if (count > CONSOLEIO_MAX) return -X.EINVAL;
  const b = readIn(ctx, buf, count);
  if (!b) return -X.EFAULT;
  d.config.host.debugOutput?.(b);
  return 0;
}

// ---- hvm_op ---------------------------------------------------------------------------------

/** Params a guest may set itself; the toolstack's (store/console pages and ports) are not among them. */
const GUEST_SETTABLE = new Set([X.HVM_PARAM_CALLBACK_IRQ]);

function hvmOp(d: HvmDomain, ctx: HypercallContext, op: number, arg: number): number {
  switch (op) {
    case X.HVMOP_set_param:
    case X.HVMOP_get_param: {
      // xen_hvm_param: u16 domid @0, u32 index @4, u64 value @8.
      const a = readIn(ctx, arg, 16);
      if (!a) return -X.EFAULT;
      const bad = selfOnly(d, u16(a, 0));
      if (bad) return bad;
      const index = u32(a, 4);
      if (index >= X.HVM_NR_PARAMS) return -X.EINVAL;
      if (op === X.HVMOP_get_param) {
        put64big(a, 8, d.params[index]);
        return writeOut(ctx, arg, a) ? 0 : -X.EFAULT;
      }
      if (!GUEST_SETTABLE.has(index)) return -X.EPERM;
      return d.setCallbackIrq(u64big(a, 8));
    }
    case X.HVMOP_get_time: {
      const a = new Uint8Array(8);
      put64(a, 0, Math.max(0, Math.floor(d.config.time.clock.now())));
      return writeOut(ctx, arg, a) ? 0 : -X.EFAULT;
    }
    default:
      // pagetable_dying, flush_tlbs, set_evtchn_upcall_vector, ...: Linux copes with -ENOSYS.
      return -X.ENOSYS;
  }
}

// ---- event_channel_op -----------------------------------------------------------------------

function eventChannelOp(hv: Hypervisor, d: HvmDomain, ctx: HypercallContext, cmd: number, arg: number): number {
  const me = d.domid;
  // Copy-in / copy-out helpers for the fixed-size argument structs.
  const io = (size: number): Uint8Array | null => readIn(ctx, arg, size);
  /** Write the new port back; if that faults, close it again so nothing leaks. */
  const giveBack = (a: Uint8Array, off: number, port: number): number => {
    if (port < 0) return port;
    put32(a, off, port);
    if (writeOut(ctx, arg, a)) return 0;
    hv.close(me, port);
    return -X.EFAULT;
  };
  switch (cmd) {
    case X.EVTCHNOP_bind_interdomain: {
      const a = io(12); // u16 remote_dom @0, u32 remote_port @4, u32 local_port @8 (out)
      if (!a) return -X.EFAULT;
      return giveBack(a, 8, hv.bindInterdomain(me, u16(a, 0), u32(a, 4)));
    }
    case X.EVTCHNOP_bind_virq: {
      const a = io(12); // u32 virq @0, u32 vcpu @4, u32 port @8 (out)
      if (!a) return -X.EFAULT;
      return giveBack(a, 8, hv.bindVirq(me, u32(a, 0), u32(a, 4)));
    }
    case X.EVTCHNOP_close: {
      const a = io(4);
      if (!a) return -X.EFAULT;
      return hv.close(me, u32(a, 0));
    }
    case X.EVTCHNOP_send: {
      const a = io(4);
      if (!a) return -X.EFAULT;
      return hv.send(me, u32(a, 0));
    }
    case X.EVTCHNOP_status: {
      // u16 dom @0, u32 port @4 (in); u32 status @8, u32 vcpu @12, union @16 (out)
      const a = io(24);
      if (!a) return -X.EFAULT;
      const s = hv.status(me, u16(a, 0), u32(a, 4));
      if (typeof s === 'number') return s;
      a.fill(0, 8);
      if (s) {
        put32(a, 8, s.state);
        put32(a, 12, s.notifyVcpu);
        if (s.state === ECS_UNBOUND) put16(a, 16, s.remoteDom);
        else if (s.state === ECS_INTERDOMAIN) {
          put16(a, 16, s.remoteDom);
          put32(a, 20, s.remotePort);
        } else if (s.state === ECS_VIRQ) put32(a, 16, s.virq);
      }
      return writeOut(ctx, arg, a) ? 0 : -X.EFAULT;
    }
    case X.EVTCHNOP_alloc_unbound: {
      const a = io(8); // u16 dom @0, u16 remote_dom @2, u32 port @4 (out)
      if (!a) return -X.EFAULT;
      return giveBack(a, 4, hv.allocUnbound(me, u16(a, 2), u16(a, 0)));
    }
    case X.EVTCHNOP_bind_ipi: {
      const a = io(8); // u32 vcpu @0, u32 port @4 (out)
      if (!a) return -X.EFAULT;
      return giveBack(a, 4, hv.bindIpi(me, u32(a, 0)));
    }
    case X.EVTCHNOP_bind_vcpu: {
      const a = io(8); // u32 port @0, u32 vcpu @4
      if (!a) return -X.EFAULT;
      return hv.bindVcpu(me, u32(a, 0), u32(a, 4));
    }
    case X.EVTCHNOP_unmask: {
      const a = io(4);
      if (!a) return -X.EFAULT;
      return hv.unmask(me, u32(a, 0));
    }
    case X.EVTCHNOP_reset: {
      const a = io(2);
      if (!a) return -X.EFAULT;
      return hv.reset(me, u16(a, 0));
    }
    default:
      // bind_pirq, and the FIFO ABI (init_control, expand_array, set_priority): Linux then
      // stays on the 2-level ABI.
      return -X.ENOSYS;
  }
}

// ---- grant_table_op -------------------------------------------------------------------------

const GNTTAB_MAX_BATCH = 1024;

function grantTableOp(hv: Hypervisor, d: HvmDomain, ctx: HypercallContext, cmd: number, uop: number, count: number): number {
  if (count > GNTTAB_MAX_BATCH) return -X.EINVAL;
  switch (cmd) {
    case X.GNTTABOP_query_size: {
      // u16 dom @0, u32 nr_frames @4, u32 max_nr_frames @8, i16 status @12 (16 bytes)
      for (let i = 0; i < count; i++) {
        const va = uop + i * 16;
        const a = readIn(ctx, va, 16);
        if (!a) return -X.EFAULT;
        const bad = selfOnly(d, u16(a, 0));
        if (bad) put16(a, 12, bad === -X.EPERM ? X.GNTST_permission_denied : X.GNTST_bad_domain);
        else {
          put32(a, 4, d.grants.nrFrames);
          put32(a, 8, d.grants.maxFrames);
          put16(a, 12, X.GNTST_okay);
        }
        if (!writeOut(ctx, va, a)) return -X.EFAULT;
      }
      return 0;
    }
    case X.GNTTABOP_set_version: {
      if (count !== 1) return -X.EINVAL;
      const a = readIn(ctx, uop, 4);
      if (!a) return -X.EFAULT;
      if (u32(a, 0) !== 1) return -X.EINVAL; // only v1 here
      return 0;
    }
    case X.GNTTABOP_get_version: {
      if (count !== 1) return -X.EINVAL;
      const a = readIn(ctx, uop, 8); // u16 dom @0, u32 version @4
      if (!a) return -X.EFAULT;
      const bad = selfOnly(d, u16(a, 0));
      if (bad) return bad;
      put32(a, 4, 1);
      return writeOut(ctx, uop, a) ? 0 : -X.EFAULT;
    }
    case X.GNTTABOP_setup_table: {
      // u16 dom @0, u32 nr_frames @4, i16 status @8, u32 frame_list (guest handle) @12
      for (let i = 0; i < count; i++) {
        const va = uop + i * 16;
        const a = readIn(ctx, va, 16);
        if (!a) return -X.EFAULT;
        const n = u32(a, 4);
        let status: number = X.GNTST_okay;
        if (selfOnly(d, u16(a, 0))) status = X.GNTST_bad_domain;
        else if (n > d.grants.maxFrames || !d.grants.grow(n)) status = X.GNTST_general_error;
        else {
          // HVM: report where each frame is placed (INVALID_GFN, truncated, if not yet).
          const list = new Uint8Array(n * 4);
          for (let f = 0; f < n; f++) put32(list, f * 4, d.grants.frameGfn(f) >>> 0);
          if (n > 0 && !writeOut(ctx, u32(a, 12), list)) return -X.EFAULT;
        }
        put16(a, 8, status);
        if (!writeOut(ctx, va, a)) return -X.EFAULT;
      }
      return 0;
    }
    case X.GNTTABOP_copy: {
      for (let i = 0; i < count; i++) {
        const va = uop + i * 24;
        const a = readIn(ctx, va, 24);
        if (!a) return -X.EFAULT;
        put16(a, 20, grantCopyOne(hv, d, a));
        if (!writeOut(ctx, va, a)) return -X.EFAULT;
      }
      return 0;
    }
    default:
      // map/unmap into an HVM physmap would alias memory; our guests are frontends only.
      return -X.ENOSYS;
  }
}

/**
 * One gnttab_copy (i386): source {u32 gref|gmfn @0, u16 domid @4, u16 offset @6} @0,
 * dest (same) @8, u16 len @16, u16 flags @18, i16 status @20 (written by us).
 */
function grantCopyOne(hv: Hypervisor, d: HvmDomain, a: Uint8Array): number {
  const len = u16(a, 16);
  const flags = u16(a, 18);
  const sOff = u16(a, 6);
  const dOff = u16(a, 14);
  if (sOff + len > X.PAGE_SIZE || dOff + len > X.PAGE_SIZE) return X.GNTST_bad_copy_arg;
  type Side = { page: Uint8Array; release: () => void } | number;
  const side = (base: number, isGref: boolean, write: boolean): Side => {
    const ptr = u32(a, base);
    const dom = u16(a, base + 4);
    if (!isGref) {
      // Our own frame: the domid must be us.
      if (dom !== X.DOMID_SELF && dom !== d.domid) return X.GNTST_permission_denied;
      const page = ptr < 0x100000 ? d.mem.view(ptr * X.PAGE_SIZE, X.PAGE_SIZE) : null;
      return page ? { page, release: () => {} } : X.GNTST_bad_page;
    }
    const owner = hv.domain(dom === X.DOMID_SELF ? d.domid : dom);
    if (!owner) return X.GNTST_bad_domain;
    const acq = owner.grants.acquire(ptr, d.domid, write);
    if (acq.status !== X.GNTST_okay) return acq.status;
    const page = owner.mem.view(acq.frame * X.PAGE_SIZE, X.PAGE_SIZE);
    if (!page) {
      owner.grants.release(ptr, write);
      return X.GNTST_bad_page;
    }
    return { page, release: () => owner.grants.release(ptr, write) };
  };
  const src = side(0, (flags & X.GNTCOPY_source_gref) !== 0, false);
  if (typeof src === 'number') return src;
  const dst = side(8, (flags & X.GNTCOPY_dest_gref) !== 0, true);
  if (typeof dst === 'number') {
    src.release();
    return dst;
  }
  dst.page.set(src.page.subarray(sOff, sOff + len), dOff);
  src.release();
  dst.release();
  return X.GNTST_okay;
}

// ---- vcpu_op --------------------------------------------------------------------------------

/** Xen rejects periodic timers faster than 1 ms. */
const MIN_PERIOD_NS = 1_000_000;

function vcpuOp(d: HvmDomain, ctx: HypercallContext, cmd: number, vcpu: number, arg: number): number {
  if (vcpu >= d.nrVcpus) return -X.ENOENT;
  switch (cmd) {
    case X.VCPUOP_is_up:
      return 1;
    case X.VCPUOP_register_vcpu_info: {
      // vcpu_register_vcpu_info: u64 mfn @0, u32 offset @8, u32 rsvd @12.
      const a = readIn(ctx, arg, 16);
      if (!a) return -X.EFAULT;
      if (u32(a, 4) !== 0) return -X.EINVAL;
      return d.registerVcpuInfo(vcpu, u32(a, 0), u32(a, 8));
    }
    case X.VCPUOP_set_periodic_timer: {
      const a = readIn(ctx, arg, 8); // u64 period_ns
      if (!a) return -X.EFAULT;
      const period = u64(a, 0);
      if (period < MIN_PERIOD_NS || period > Number.MAX_SAFE_INTEGER / 2) return -X.EINVAL;
      d.setPeriodic(vcpu, period);
      return 0;
    }
    case X.VCPUOP_stop_periodic_timer:
      d.stopPeriodic(vcpu);
      return 0;
    case X.VCPUOP_set_singleshot_timer: {
      if (vcpu !== ctx.vcpu) return -X.EINVAL; // only for the calling vCPU
      const a = readIn(ctx, arg, 12); // u64 timeout_abs_ns @0, u32 flags @8
      if (!a) return -X.EFAULT;
      const deadline = Math.min(u64(a, 0), Number.MAX_SAFE_INTEGER);
      if (u32(a, 8) & X.VCPU_SSHOTTMR_future && deadline < d.config.time.clock.now()) return -X.ETIME;
      d.setSingleshot(vcpu, deadline);
      return 0;
    }
    case X.VCPUOP_stop_singleshot_timer:
      if (vcpu !== ctx.vcpu) return -X.EINVAL;
      d.stopSingleshot(vcpu);
      return 0;
    default:
      return -X.ENOSYS;
  }
}

// ---- sched_op -------------------------------------------------------------------------------

const SCHED_POLL_MAX_PORTS = 128;

function schedOp(d: HvmDomain, ctx: HypercallContext, cmd: number, arg: number): { result: number; exit: HypercallExit } {
  const done = (result: number, exit = HypercallExit.Continue) => ({ result: ret(result), exit });
  switch (cmd) {
    case X.SCHEDOP_yield:
      return done(0, HypercallExit.Yield);
    case X.SCHEDOP_block:
      return done(0, d.evtchn2l.upcallPending(ctx.vcpu) ? HypercallExit.Continue : HypercallExit.Block);
    case X.SCHEDOP_shutdown: {
      const a = readIn(ctx, arg, 4);
      if (!a) return done(-X.EFAULT);
      const reason = u32(a, 0);
      if (reason > X.SHUTDOWN_MAX) return done(-X.EINVAL);
      d.config.host.shutdown(reason);
      return done(0, HypercallExit.Block);
    }
    case X.SCHEDOP_shutdown_code: {
      const a = readIn(ctx, arg, 4);
      if (!a) return done(-X.EFAULT);
      const reason = u32(a, 0);
      if (reason > X.SHUTDOWN_MAX) return done(-X.EINVAL);
      d.shutdownCode = reason;
      return done(0);
    }
    case X.SCHEDOP_poll: {
      // sched_poll (i386): u32 ports (guest handle) @0, u32 nr_ports @4, u64 timeout @8.
      const a = readIn(ctx, arg, 16);
      if (!a) return done(-X.EFAULT);
      const n = u32(a, 4);
      if (n > SCHED_POLL_MAX_PORTS) return done(-X.EINVAL);
      const list = readIn(ctx, u32(a, 0), n * 4);
      if (!list) return done(-X.EFAULT);
      const ports: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = u32(list, i * 4);
        if (p >= d.evtchn.nrPorts) return done(-X.EINVAL);
        if (d.evtchn2l.isPending(p)) return done(0);
        ports.push(p);
      }
      const timeout = Math.min(u64(a, 8), Number.MAX_SAFE_INTEGER);
      if (timeout !== 0 && timeout <= d.config.time.clock.now()) return done(0);
      d.startPoll(ctx.vcpu, ports, timeout);
      return done(0, HypercallExit.Block);
    }
    case X.SCHEDOP_remote_shutdown:
    case X.SCHEDOP_pin_override:
      return done(-X.EPERM);
    default:
      return done(-X.ENOSYS);
  }
}


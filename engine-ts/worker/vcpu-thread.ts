// The thread of one application processor (vCPU 1..N-1): its own instance of the core over
// the machine's shared memory, and nothing else. Every exit that needs a device (port and
// MMIO I/O, interrupt acknowledge, MSRs, host CPUID leaves, hypercalls, its timers) is a
// request to the board's thread (vCPU 0's, which owns every device, the local APICs
// included), answered through the vCPU's slot in the control block (memory-map.ts SLOT_*):
// the request is posted, vCPU 0's run ends its slice (PEND_EXIT) and serves it, and this
// thread sleeps on the slot until the answer is there.
//
// Time: the vCPU counts its own cycles. It runs at most MAX_SKEW ns ahead of the slowest
// other running vCPU; halted (or before its start-up IPI) it follows the running ones, and
// when every vCPU is halted each jumps to the earliest timer deadline of all (in realtime
// pacing not past wall time). See engine-ts/worker/smp-hub.ts for vCPU 0's side.
//
// `vcpuThreadMain` is self-contained (no imports, constants come in `init.C`): Node runs its
// source text in a worker thread, the browser's vcpu.worker.ts calls it.

import * as MM from '../../engine-wasm/memory-map';

/** Guest ns a running vCPU may be ahead of the slowest other running vCPU. */
export const MAX_SKEW_NS = 2_000_000;
/** Instructions per slice of a vCPU of a multi-vCPU machine. */
export const SMP_SLICE = 200_000;

/** The memory-map constants the thread needs (it cannot import them). */
export const VCPU_THREAD_CONSTANTS = {
  CTRL_BASE: MM.CTRL_BASE, CTRL_SIZE: MM.CTRL_SIZE, CTRL_WAKE: MM.CTRL_WAKE, CTRL_NR_VCPUS: MM.CTRL_NR_VCPUS,
  CTRL_SMP_RUN: MM.CTRL_SMP_RUN, CTRL_SMP_PACING: MM.CTRL_SMP_PACING, CTRL_SMP_GUEST0: MM.CTRL_SMP_GUEST0, CTRL_SMP_WALL0: MM.CTRL_SMP_WALL0,
  CTRL_SMP_SLOTS: MM.CTRL_SMP_SLOTS, SMP_SLOT_SIZE: MM.SMP_SLOT_SIZE,
  SLOT_WAKE: MM.SLOT_WAKE, SLOT_RUNSTATE: MM.SLOT_RUNSTATE, SLOT_REQ: MM.SLOT_REQ, SLOT_KIND: MM.SLOT_KIND, SLOT_ARGS: MM.SLOT_ARGS,
  SLOT_RESULT: MM.SLOT_RESULT, SLOT_UNBLOCK: MM.SLOT_UNBLOCK, SLOT_PARKED: MM.SLOT_PARKED, SLOT_FLAGS: MM.SLOT_FLAGS, SLOT_DEADLINE: MM.SLOT_DEADLINE,
  RS_RUNNING: MM.RS_RUNNING, RS_HALTED: MM.RS_HALTED, RS_WAIT_SIPI: MM.RS_WAIT_SIPI, SF_RESET: MM.SF_RESET,
  RQ_IO_READ: MM.RQ_IO_READ, RQ_IO_WRITE: MM.RQ_IO_WRITE, RQ_MMIO_READ: MM.RQ_MMIO_READ, RQ_MMIO_WRITE: MM.RQ_MMIO_WRITE,
  RQ_INT_ACK: MM.RQ_INT_ACK, RQ_MSR: MM.RQ_MSR, RQ_CPUID: MM.RQ_CPUID, RQ_HYPERCALL: MM.RQ_HYPERCALL, RQ_TIMERS: MM.RQ_TIMERS,
  RQ_TRIPLE_FAULT: MM.RQ_TRIPLE_FAULT,
  PORT_CLAIMS: MM.PORT_CLAIMS, VCPU_BASE: MM.VCPU_BASE, VCPU_STRIDE: MM.VCPU_STRIDE, VCPU_STATE_SIZE: MM.VCPU_STATE_SIZE,
  R_PENDING: MM.R_PENDING, R_NOW: MM.R_NOW, R_ICOUNT: MM.R_ICOUNT, R_EFLAGS: MM.R_EFLAGS, R_HALTED: MM.R_HALTED,
  R_SIPI_VECTOR: MM.R_SIPI_VECTOR, R_SEG_SEL: MM.R_SEG_SEL, R_SEG_BASE: MM.R_SEG_BASE, R_SEG_LIMIT: MM.R_SEG_LIMIT,
  R_SEG_ACC: MM.R_SEG_ACC, R_EIP: MM.R_EIP,
  PEND_INTR: MM.PEND_INTR, PEND_NMI: MM.PEND_NMI, PEND_EXIT: MM.PEND_EXIT, PEND_INIT: MM.PEND_INIT, PEND_SIPI: MM.PEND_SIPI,
  EXIT_HALT: MM.EXIT_HALT, EXIT_STOPPED: MM.EXIT_STOPPED, EXIT_TRIPLE_FAULT: MM.EXIT_TRIPLE_FAULT,
  MAX_SKEW_NS, SMP_SLICE, PORT_IO_NS: 1000,
};

export interface VcpuThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  id: number;
  /**
   * The machine's vCPU count. It comes with the message, not from the control block: the
   * thread may start before the board has written CTRL_NR_VCPUS (a Web Worker often does).
   */
  vcpus: number;
  C: typeof VCPU_THREAD_CONSTANTS;
}

export function vcpuThreadMain(init: VcpuThreadInit): void {
  const { module, memory, id, vcpus: n, C } = init;
  if (!(Number.isInteger(n) && id > 0 && id < n)) throw new Error(`vCPU ${id} of ${n}: no such vCPU`);
  const buf = memory.buffer;
  const ctrl = new Int32Array(buf, C.CTRL_BASE, C.CTRL_SIZE >> 2);
  const ctrlF = new Float64Array(buf, C.CTRL_BASE, C.CTRL_SIZE >> 3);
  const slot = (k: number, off: number) => (C.CTRL_SMP_SLOTS + k * C.SMP_SLOT_SIZE + off) >> 2;
  const slotF = (k: number, off: number) => (C.CTRL_SMP_SLOTS + k * C.SMP_SLOT_SIZE + off) >> 3;
  const vbase = (k: number) => C.VCPU_BASE + k * C.VCPU_STRIDE;
  const nows = Array.from({ length: n }, (_, k) => new Float64Array(buf, vbase(k) + C.R_NOW, 1));
  const me = new Int32Array(buf, vbase(id), C.VCPU_STATE_SIZE >> 2);
  const icount = new BigUint64Array(buf, vbase(id) + C.R_ICOUNT, 1);
  const pend0 = new Int32Array(buf, vbase(0) + C.R_PENDING, 1);
  const PENDING = C.R_PENDING >> 2;
  const claims = new Uint8Array(buf, C.PORT_CLAIMS, 0x10000);
  const REQ = slot(id, C.SLOT_REQ);
  const WAKE = slot(id, C.SLOT_WAKE);
  const RUNSTATE = slot(id, C.SLOT_RUNSTATE);
  const DEADLINE = slotF(id, C.SLOT_DEADLINE);
  const UNBLOCK = slot(id, C.SLOT_UNBLOCK);
  const FLAGS = slot(id, C.SLOT_FLAGS);
  /** The unblock count when the last hypercall was made: a later bump ended that hypercall's block. */
  let unblockSeen = 0;

  /** Ask vCPU 0's thread to serve an exit; sleeps until the answer is there. */
  function call(kind: number, a = 0, b = 0, c = 0, d = 0): number {
    ctrl[slot(id, C.SLOT_KIND)] = kind;
    const args = slot(id, C.SLOT_ARGS);
    ctrl[args] = a; ctrl[args + 1] = b; ctrl[args + 2] = c; ctrl[args + 3] = d;
    Atomics.store(ctrl, REQ, 1);
    Atomics.or(pend0, 0, C.PEND_EXIT);
    Atomics.add(ctrl, C.CTRL_WAKE >> 2, 1);
    Atomics.notify(ctrl, C.CTRL_WAKE >> 2);
    while (Atomics.load(ctrl, REQ) === 1) Atomics.wait(ctrl, REQ, 1, 50);
    Atomics.store(ctrl, REQ, 0);
    return ctrl[slot(id, C.SLOT_RESULT)];
  }

  /**
   * A port access takes guest time, as on a PC's I/O bus (about a microsecond): loops that
   * poll a port while a device's time passes (inb_p's port 0x80 delays, the PIT gate on port
   * 0x61) then end after as many polls as on hardware, not after millions of requests.
   */
  function portTime(): void {
    icount[0] += BigInt(C.PORT_IO_NS);
    if (Number(icount[0]) >= ctrlF[DEADLINE]) Atomics.or(me, PENDING, C.PEND_EXIT); // end the slice: a timer is due
  }

  const env = {
    memory,
    // The core's function table for translated code. A machine with several vCPUs does not
    // translate (MachineConfig.jit): the table stays empty and jitCompile is never called.
    table: new WebAssembly.Table({ element: 'anyfunc', initial: 1 }),
    jitCompile: () => 0,
    jitFind: () => 0,
    jitReset: () => {},
    abort: () => { throw new Error(`x86 core aborted (vCPU ${id})`); },
    ioRead: (p: number, s: number) => {
      portTime();
      if (!claims[p & 0xffff]) return s === 1 ? 0xff : s === 2 ? 0xffff : 0xffffffff; // no device there
      return call(C.RQ_IO_READ, p, s) >>> 0;
    },
    ioWrite: (p: number, s: number, v: number) => { portTime(); if (claims[p & 0xffff]) call(C.RQ_IO_WRITE, p, s, v); },
    mmioRead: (a: number, s: number) => call(C.RQ_MMIO_READ, a, s) >>> 0,
    mmioWrite: (a: number, s: number, v: number) => { call(C.RQ_MMIO_WRITE, a, s, v); },
    intAck: () => call(C.RQ_INT_ACK),
    msrHost: (w: number, i: number, lo: number, hi: number) => call(C.RQ_MSR, w, i, lo, hi),
    cpuidHost: (l: number, s: number) => call(C.RQ_CPUID, l, s),
    crWrite: () => {},
    hypercall: () => { unblockSeen = Atomics.load(ctrl, UNBLOCK); return call(C.RQ_HYPERCALL); },
  };
  const core = new WebAssembly.Instance(module, { env }).exports as unknown as {
    init(id: number): number; reset(): void; run(budget: number): number; refresh(): void;
  };
  if (core.init(id) !== 0) throw new Error(`vCPU ${id}: the core's memory map differs from the host's`);

  const now = () => Number(icount[0]);
  const setNow = (t: number) => {
    icount[0] = BigInt(Math.ceil(t));
    nows[id][0] = Number(icount[0]);
  };
  const runstate = (k: number) => Atomics.load(ctrl, slot(k, C.SLOT_RUNSTATE));
  const wallMs = () => performance.timeOrigin + performance.now();

  /** Sleep until this vCPU has news (an interrupt, a request, time moved) or `ms` pass. */
  function sleep(ms: number): void {
    const v = Atomics.load(ctrl, WAKE);
    Atomics.wait(ctrl, WAKE, v, ms);
  }

  /**
   * Our time moved: wake the others, since a vCPU held at the skew bound, or halted and past
   * its deadline now, waits for exactly that.
   */
  function kickOthers(): void {
    for (let k = 0; k < n; k++) {
      if (k === id) continue;
      const w = k === 0 ? C.CTRL_WAKE >> 2 : slot(k, C.SLOT_WAKE);
      Atomics.add(ctrl, w, 1);
      Atomics.notify(ctrl, w);
    }
  }

  /** Guest time of the slowest other running vCPU (Infinity if none runs). */
  function slowestRunning(): number {
    let t = Infinity;
    for (let k = 0; k < n; k++) if (k !== id && runstate(k) === C.RS_RUNNING && nows[k][0] < t) t = nows[k][0];
    return t;
  }

  /** Halted or not yet started: let guest time follow the others (or jump when all idle). */
  function follow(ownDeadline: number): void {
    const t = now();
    let target = slowestRunning();
    if (target === Infinity) {
      // Every vCPU waits: the earliest deadline of all is the next thing to happen (with no
      // timer armed anywhere, nothing is: time stands still until a vCPU is woken from outside).
      for (let k = 0; k < n; k++) target = Math.min(target, ctrlF[slotF(k, C.SLOT_DEADLINE)]);
      if (target !== Infinity && Atomics.load(ctrl, C.CTRL_SMP_PACING >> 2) === 1) {
        const allowed = ctrlF[C.CTRL_SMP_GUEST0 >> 3] + (wallMs() - ctrlF[C.CTRL_SMP_WALL0 >> 3]) * 1e6;
        target = Math.min(target, allowed);
      }
    }
    const to = Math.min(target, ownDeadline);
    if (to > t && to !== Infinity) {
      setNow(to);
      if (to >= ownDeadline) { call(C.RQ_TIMERS); return; }
    }
    // The running vCPUs wake us when they pass our deadline; else look again in a while.
    sleep(1);
  }

  /** INIT: the core's power-on state, keeping the vCPU's clock; then wait for a start-up IPI. */
  function initReset(): void {
    const t = icount[0];
    core.reset();
    icount[0] = t;
    nows[id][0] = Number(t); // the reset cleared the published time too: the others read it
    Atomics.store(ctrl, RUNSTATE, C.RS_WAIT_SIPI);
  }

  /** Start-up IPI with vector V: real mode at V000:0000 (CS = V << 8, base V << 12). */
  function startAt(vector: number): void {
    const cs = 1;
    me[(C.R_SEG_SEL >> 2) + cs] = vector << 8;
    me[(C.R_SEG_BASE >> 2) + cs] = vector << 12;
    me[(C.R_SEG_LIMIT >> 2) + cs] = 0xffff;
    me[(C.R_SEG_ACC >> 2) + cs] = 0x9b;
    me[C.R_EIP >> 2] = 0;
    me[C.R_HALTED >> 2] = 0;
    core.refresh();
    Atomics.store(ctrl, RUNSTATE, C.RS_RUNNING);
  }

  /** Set while the vCPU waits (halted, or before its start-up IPI): its time follows the others'. */
  let idle = true;
  for (;;) {
    if (Atomics.load(ctrl, C.CTRL_SMP_RUN >> 2) !== 1) {
      // Parked: the machine is stopped, saving, or being reset. The host may change this
      // vCPU's state meanwhile: take it up again (refresh) when let go.
      Atomics.store(ctrl, slot(id, C.SLOT_PARKED), 1);
      Atomics.notify(ctrl, slot(id, C.SLOT_PARKED));
      while (Atomics.load(ctrl, C.CTRL_SMP_RUN >> 2) !== 1) Atomics.wait(ctrl, C.CTRL_SMP_RUN >> 2, Atomics.load(ctrl, C.CTRL_SMP_RUN >> 2), 100);
      Atomics.store(ctrl, slot(id, C.SLOT_PARKED), 0);
      if (Atomics.and(ctrl, FLAGS, ~C.SF_RESET) & C.SF_RESET) initReset();
      else core.refresh();
      continue;
    }
    // A thread that started after the machine was let go never parked: power-on reset here.
    if ((Atomics.load(ctrl, FLAGS) & C.SF_RESET) && (Atomics.and(ctrl, FLAGS, ~C.SF_RESET) & C.SF_RESET)) initReset();
    const p = Atomics.load(me, PENDING);
    if (p & (C.PEND_INIT | C.PEND_SIPI)) {
      // Take exactly the IPIs latched now (one may arrive meanwhile: it stays for the next look).
      const ipis = Atomics.and(me, PENDING, ~(C.PEND_INIT | C.PEND_SIPI));
      if (ipis & C.PEND_INIT) initReset();
      // (The reset keeps the vector: the board may have latched INIT and start-up IPI together.)
      if ((ipis & C.PEND_SIPI) && runstate(id) === C.RS_WAIT_SIPI) startAt(me[C.R_SIPI_VECTOR >> 2] & 0xff);
      continue;
    }
    const deadline = ctrlF[DEADLINE];
    if (runstate(id) === C.RS_WAIT_SIPI) { idle = true; follow(Infinity); continue; }
    if (me[C.R_HALTED >> 2] !== 0 && Atomics.load(ctrl, UNBLOCK) !== unblockSeen) {
      // A poll ended between the hypercall's answer and the core marking the vCPU halted for it.
      unblockSeen = Atomics.load(ctrl, UNBLOCK);
      me[C.R_HALTED >> 2] = 0;
    }
    const halted = me[C.R_HALTED >> 2] !== 0;
    if (halted) {
      // An NMI always wakes HLT; INTR only with interrupts enabled.
      const ifSet = (me[C.R_EFLAGS >> 2] & 0x200) !== 0;
      if (!(p & C.PEND_NMI) && !((p & C.PEND_INTR) && ifSet)) {
        Atomics.store(ctrl, RUNSTATE, C.RS_HALTED);
        idle = true;
        follow(deadline);
        continue;
      }
    }
    if (idle) {
      // Woken: the time it followed while waiting is the others' time now, not of its last look.
      idle = false;
      const s = slowestRunning();
      if (s !== Infinity && s > now()) setNow(Math.min(s, deadline));
    }
    const t = now();
    if (deadline <= t) { call(C.RQ_TIMERS); continue; }
    let budget = Math.min(C.SMP_SLICE, Math.ceil(deadline - t));
    const slowest = slowestRunning();
    if (slowest !== Infinity) {
      const room = slowest + C.MAX_SKEW_NS - t;
      if (room < 1) { sleep(1); continue; } // the slowest one wakes us when it moves on
      budget = Math.min(budget, Math.floor(room));
    }
    Atomics.store(ctrl, RUNSTATE, C.RS_RUNNING);
    const exit = core.run(budget);
    kickOthers();
    if (now() >= ctrlF[DEADLINE]) call(C.RQ_TIMERS);
    if (exit === C.EXIT_HALT || exit === C.EXIT_STOPPED) Atomics.store(ctrl, RUNSTATE, C.RS_HALTED);
    else if (exit === C.EXIT_TRIPLE_FAULT) {
      call(C.RQ_TRIPLE_FAULT);
      initReset();
    }
  }
}

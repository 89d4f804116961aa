// vCPU 0's side of a multi-vCPU machine (the board's thread): serve the other vCPUs' exits
// with the board's devices, publish each vCPU's next timer deadline, hold vCPU 0 within the
// time skew of the others, let guest time follow (or jump, when every vCPU is idle), and park
// or release the vCPU threads. The other side is vcpu-thread.ts; both talk through the
// control block's SMP area (memory-map.ts SLOT_*).

import * as MM from '../../engine-wasm/memory-map';
import type { Board } from '../board/board';
import { MAX_SKEW_NS } from './vcpu-thread';

export class SmpHub {
  private readonly ctrl: Int32Array;
  private readonly ctrlF: Float64Array;
  private readonly nows: Float64Array[];
  private readonly pendings: Int32Array[];
  private board: Board | null = null;

  constructor(buffer: ArrayBufferLike, readonly count: number) {
    this.ctrl = new Int32Array(buffer, MM.CTRL_BASE, MM.CTRL_SIZE >> 2);
    this.ctrlF = new Float64Array(buffer, MM.CTRL_BASE, MM.CTRL_SIZE >> 3);
    this.nows = Array.from({ length: count }, (_, k) => new Float64Array(buffer, MM.VCPU_BASE + k * MM.VCPU_STRIDE + MM.R_NOW, 1));
    this.pendings = Array.from({ length: count }, (_, k) => new Int32Array(buffer, MM.VCPU_BASE + k * MM.VCPU_STRIDE + MM.R_PENDING, 1));
  }

  private slot(k: number, off: number): number { return (MM.CTRL_SMP_SLOTS + k * MM.SMP_SLOT_SIZE + off) >> 2; }
  private slotF(k: number, off: number): number { return (MM.CTRL_SMP_SLOTS + k * MM.SMP_SLOT_SIZE + off) >> 3; }

  /** Serve this board from now on (a guest reboot builds a new one); it wakes the vCPU threads it signals. */
  attach(board: Board): void {
    this.board = board;
    board.onWakeVcpu = (k) => this.wake(k);
  }

  /**
   * Power-on: every other vCPU waits for its start-up IPI and resets its core first; guest
   * time starts at 0 for all. Call with the threads parked.
   */
  powerOn(): void {
    for (let k = 1; k < this.count; k++) {
      Atomics.store(this.ctrl, this.slot(k, MM.SLOT_RUNSTATE), MM.RS_WAIT_SIPI);
      Atomics.or(this.ctrl, this.slot(k, MM.SLOT_FLAGS), MM.SF_RESET);
      // IPIs latched before the machine was built again are not for it (the core's reset keeps them).
      Atomics.and(this.pendings[k], 0, ~(MM.PEND_INIT | MM.PEND_SIPI));
      this.ctrlF[this.slotF(k, MM.SLOT_DEADLINE)] = Infinity;
    }
  }

  /** Let the vCPU threads run; `pacing` realtime keeps all-idle jumps behind wall time from now on. */
  start(pacing: 'realtime' | 'fast', guestNow: number, wallEpochMs: number): void {
    this.setRunstate(0, MM.RS_RUNNING);
    this.publishDeadlines();
    Atomics.store(this.ctrl, MM.CTRL_SMP_PACING >> 2, pacing === 'realtime' ? 1 : 0);
    this.ctrlF[MM.CTRL_SMP_GUEST0 >> 3] = guestNow;
    this.ctrlF[MM.CTRL_SMP_WALL0 >> 3] = wallEpochMs;
    Atomics.store(this.ctrl, MM.CTRL_SMP_RUN >> 2, 1);
    Atomics.notify(this.ctrl, MM.CTRL_SMP_RUN >> 2);
  }

  /** Ask the vCPU threads to park (they finish their slice); `parked()` says when all have. */
  requestPark(): void {
    Atomics.store(this.ctrl, MM.CTRL_SMP_RUN >> 2, 0);
    for (let k = 1; k < this.count; k++) {
      Atomics.or(this.pendings[k], 0, MM.PEND_EXIT);
      this.wake(k);
    }
  }

  parked(): boolean {
    for (let k = 1; k < this.count; k++) if (Atomics.load(this.ctrl, this.slot(k, MM.SLOT_PARKED)) !== 1) return false;
    return true;
  }

  /** Bump vCPU k's wake word (vCPU 0: the control block's). */
  wake(k: number): void {
    const w = k === 0 ? MM.CTRL_WAKE >> 2 : this.slot(k, MM.SLOT_WAKE);
    Atomics.add(this.ctrl, w, 1);
    Atomics.notify(this.ctrl, w);
  }

  setRunstate(k: number, rs: number): void {
    Atomics.store(this.ctrl, this.slot(k, MM.SLOT_RUNSTATE), rs);
  }

  /** Write every vCPU's next timer deadline where the threads read it. */
  publishDeadlines(): void {
    const b = this.board;
    if (!b) return;
    for (let k = 0; k < this.count; k++) this.ctrlF[this.slotF(k, MM.SLOT_DEADLINE)] = b.clocks[k].nextDeadline();
  }

  /** Serve every request the other vCPUs have posted. Returns how many. */
  service(): number {
    const b = this.board;
    if (!b) return 0;
    let served = 0;
    for (let k = 1; k < this.count; k++) {
      const req = this.slot(k, MM.SLOT_REQ);
      if (Atomics.load(this.ctrl, req) !== 1) continue;
      const a = this.slot(k, MM.SLOT_ARGS);
      const [x, y, z, w] = [this.ctrl[a], this.ctrl[a + 1], this.ctrl[a + 2], this.ctrl[a + 3]];
      let result = 0;
      try {
        const h = b.coreHostFor(k);
        switch (this.ctrl[this.slot(k, MM.SLOT_KIND)]) {
          case MM.RQ_IO_READ: result = h.ioRead(x >>> 0, y); break;
          case MM.RQ_IO_WRITE: h.ioWrite(x >>> 0, y, z >>> 0); break;
          case MM.RQ_MMIO_READ: result = h.mmioRead(x >>> 0, y); break;
          case MM.RQ_MMIO_WRITE: h.mmioWrite(x >>> 0, y, z >>> 0); break;
          case MM.RQ_INT_ACK: result = h.intAck(); break;
          case MM.RQ_MSR: result = h.msrHost(x, y >>> 0, z >>> 0, w >>> 0); break;
          case MM.RQ_CPUID: result = h.cpuidHost(x >>> 0, y >>> 0); break;
          case MM.RQ_HYPERCALL: result = h.hypercall(); break;
          case MM.RQ_TIMERS: b.runTimers(k); break;
          case MM.RQ_TRIPLE_FAULT: b.tripleFault(); break;
          default: result = -1; break; // a damaged slot: answer, do nothing
        }
      } finally {
        this.ctrl[this.slot(k, MM.SLOT_RESULT)] = result | 0;
        this.ctrlF[this.slotF(k, MM.SLOT_DEADLINE)] = b.clocks[k].nextDeadline();
        Atomics.store(this.ctrl, req, 2);
        Atomics.notify(this.ctrl, req);
      }
      served++;
    }
    if (served) this.ctrlF[this.slotF(0, MM.SLOT_DEADLINE)] = b.clocks[0].nextDeadline();
    return served;
  }

  /**
   * Guest time of the slowest running vCPU other than 0 (Infinity if none runs): where vCPU 0,
   * woken from a halt, catches up to. With none running it does not move: the jumps of an idle
   * machine happen while every vCPU waits, and one woken by an interrupt runs from where it is.
   */
  slowestOther(): number {
    let t = Infinity;
    for (let k = 1; k < this.count; k++) {
      if (Atomics.load(this.ctrl, this.slot(k, MM.SLOT_RUNSTATE)) === MM.RS_RUNNING && this.nows[k][0] < t) t = this.nows[k][0];
    }
    return t;
  }

  /** Instructions vCPU 0 may run from `now` before it is MAX_SKEW_NS ahead of another running vCPU. */
  room(now: number): number {
    const slowest = this.slowestOther();
    return slowest === Infinity ? Infinity : Math.floor(slowest + MAX_SKEW_NS - now);
  }

  /**
   * vCPU 0 is halted: the guest time it may move to. Other vCPUs running: theirs (it follows
   * them). All idle: the earliest deadline of all, in realtime pacing not past wall time; with
   * no timer armed on any vCPU, none (Infinity): time stands still until something from
   * outside (input, a disk's completion) wakes a vCPU, as it does for a single vCPU.
   */
  followTarget(wallEpochMs: number): number {
    const slowest = this.slowestOther();
    if (slowest !== Infinity) return slowest;
    let t = Infinity;
    for (let k = 0; k < this.count; k++) t = Math.min(t, this.ctrlF[this.slotF(k, MM.SLOT_DEADLINE)]);
    if (t === Infinity) return t;
    if (Atomics.load(this.ctrl, MM.CTRL_SMP_PACING >> 2) === 1) {
      t = Math.min(t, this.ctrlF[MM.CTRL_SMP_GUEST0 >> 3] + (wallEpochMs - this.ctrlF[MM.CTRL_SMP_WALL0 >> 3]) * 1e6);
    }
    return t;
  }

  /** vCPU 0's time moved: wake the others (held at the skew bound, or halted and following it). */
  kickOthers(): void {
    for (let k = 1; k < this.count; k++) this.wake(k);
  }
}

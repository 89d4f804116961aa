// Local APIC (xAPIC, as on P6/Pentium 4 class parts), one per vCPU.
//
// MMIO page at the IA32_APIC_BASE address (default 0xFEE00000). Registers follow the
// Intel SDM vol. 3A, chapter 10 (register offsets in its table 10-1).
//
// The CPU asks `hasInterrupt()` when it can take an interrupt and then `acknowledge()`;
// the APIC tells it through `setIntr(level)` whenever that answer may have changed.
// `acknowledge()` returns LAPIC_EXTINT when the 8259 must supply the vector (virtual
// wire mode: LINT0 programmed ExtINT, or the APIC hardware-disabled).
//
// Timer: the APIC bus clock is taken as 1 GHz, i.e. one timer tick per guest
// nanosecond before the divider. Counts are computed from guest time; the only clock
// timer is the next expiry.

import type { AccessSize, MmioSpace, Stateful, StateRecord } from '../../platform/bus';
import type { Timer, VirtualClock } from '../../platform/clock';
import {
  APIC_DM_EXTINT,
  APIC_DM_FIXED,
  APIC_DM_INIT,
  APIC_DM_LOWEST,
  APIC_DM_NMI,
  APIC_DM_SMI,
  APIC_DM_STARTUP,
  type ApicMessage,
  type IpiShorthand,
} from '../common/apic-message';
import { bool, declareState, fields, int, list, time, u32, u32Array, u8 } from '../../platform/state';

export const LAPIC_DEFAULT_BASE = 0xfee00000;
/** Returned by acknowledge(): take the vector from the 8259 (INTA cycle). */
export const LAPIC_EXTINT = -1;
/** Timer input clock in ticks per guest second (before the divide configuration). */
export const LAPIC_BUS_HZ = 1_000_000_000;

/** Version register: version 0x14 (integrated xAPIC), max LVT entry 5 (six LVTs). */
const LAPIC_VERSION = 0x00050014;

// Register offsets.
const REG_ID = 0x020;
const REG_VERSION = 0x030;
const REG_TPR = 0x080;
const REG_APR = 0x090;
const REG_PPR = 0x0a0;
const REG_EOI = 0x0b0;
const REG_RRD = 0x0c0;
const REG_LDR = 0x0d0;
const REG_DFR = 0x0e0;
const REG_SVR = 0x0f0;
const REG_ISR = 0x100;
const REG_TMR = 0x180;
const REG_IRR = 0x200;
const REG_ESR = 0x280;
const REG_ICR_LOW = 0x300;
const REG_ICR_HIGH = 0x310;
const REG_LVT_TIMER = 0x320;
const REG_LVT_THERMAL = 0x330;
const REG_LVT_PERF = 0x340;
const REG_LVT_LINT0 = 0x350;
const REG_LVT_LINT1 = 0x360;
const REG_LVT_ERROR = 0x370;
const REG_TIMER_INITIAL = 0x380;
const REG_TIMER_CURRENT = 0x390;
const REG_TIMER_DIVIDE = 0x3e0;

// LVT indexes (also the order they are saved in, by name).
const LVT_TIMER = 0;
const LVT_THERMAL = 1;
const LVT_PERF = 2;
const LVT_LINT0 = 3;
const LVT_LINT1 = 4;
const LVT_ERROR = 5;
const LVT_NAMES = ['timer', 'thermal', 'perf', 'lint0', 'lint1', 'error'];
const LVT_WRITABLE = [0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff];

const LVT_MASKED = 1 << 16;
const LVT_REMOTE_IRR = 1 << 14;
const LVT_LEVEL = 1 << 15;
const TIMER_PERIODIC = 1 << 17;
const TIMER_TSC_DEADLINE = 2 << 17;
const TIMER_MODE_MASK = 3 << 17;

const SVR_ENABLE = 1 << 8;
const SVR_WRITABLE = 0x3ff;

// ESR bits.
const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
const ESR_ILLEGAL_REGISTER = 1 << 7;

const ICR_LOW_WRITABLE = 0xff | (7 << 8) | (1 << 11) | (1 << 14) | (1 << 15) | (3 << 18);
const ICR_LEVEL_ASSERT = 1 << 14;
const ICR_TRIGGER_LEVEL = 1 << 15;

const MSR_BSP = 1 << 8;
const MSR_ENABLE = 1 << 11;

/** What the local APIC drives on its CPU. */
export interface LapicCpuSignals {
  /** INTR-equivalent: `hasInterrupt()` may have changed. */
  setIntr(level: boolean): void;
  nmi(): void;
  smi?(): void;
  /** INIT message received (the APIC has already reset itself). */
  init(): void;
  /** Start-up IPI with its vector (the real-mode start page number). */
  startup(vector: number): void;
}

export interface LapicOptions {
  /** Initial APIC ID (0..254). */
  id: number;
  /** Bootstrap processor: BSP flag in IA32_APIC_BASE and LINT0 starts as ExtINT. */
  bsp: boolean;
  cpu: LapicCpuSignals;
  /** Sends an IPI on the APIC bus; the board delivers it to every matching local APIC (this one included). */
  sendIpi(message: ApicMessage, shorthand: IpiShorthand, sourceId: number): void;
  /** EOI of a level-triggered vector: the board forwards it to the I/O APIC(s). */
  eoiBroadcast(vector: number): void;
  /** IA32_APIC_BASE moved the MMIO page (the board re-registers it). */
  onBaseChange?(base: number): void;
}

class VectorSet {
  readonly words = new Uint32Array(8);
  set(v: number): void {
    this.words[v >> 5] |= 1 << (v & 31);
  }
  clear(v: number): void {
    this.words[v >> 5] &= ~(1 << (v & 31));
  }
  has(v: number): boolean {
    return (this.words[v >> 5] & (1 << (v & 31))) !== 0;
  }
  /** Highest set vector, or -1. */
  highest(): number {
    for (let w = 7; w >= 0; w--) {
      const x = this.words[w];
      if (x !== 0) return w * 32 + 31 - Math.clz32(x);
    }
    return -1;
  }
}

export class Lapic implements Stateful {
  readonly stateName: string;
  readonly stateVersion = LAPIC_STATE.version;

  private id: number;
  private apicBase: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly irr = new VectorSet();
  private readonly isr = new VectorSet();
  private readonly tmr = new VectorSet();
  private esr = 0;
  private errorsPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Uint32Array(6);
  private divideConfig = 0;
  private timerInitial = 0;
  /** Count loaded at `timerStart` (ns); the count falls one per divider period from there. */
  private timerCountAtStart = 0;
  private timerStart = 0;
  private timerFiredOneShot = false;
  private tscDeadline = 0; // guest ns; 0 = disarmed
  private lint = [false, false];
  /** An ExtINT message (from the I/O APIC) waits for acknowledge(). */
  private extIntLatched = false;
  private intrLevel = false;

  private readonly timer: Timer;
  private readonly opts: LapicOptions;

  constructor(private readonly clock: VirtualClock, options: LapicOptions) {
    if (!Number.isInteger(options.id) || options.id < 0 || options.id > 254) throw new RangeError(`lapic: ID ${options.id} not in 0..254`);
    this.opts = options;
    this.id = options.id;
    this.stateName = `lapic-${options.id}`;
    this.apicBase = (LAPIC_DEFAULT_BASE | MSR_ENABLE | (options.bsp ? MSR_BSP : 0)) >>> 0;
    this.timer = clock.createTimer(`lapic ${options.id} timer`, (now) => this.onTimer(now));
    this.resetRegisters();
  }

  /** Power-on / INIT state (SDM 10.4.7.1); the ID and IA32_APIC_BASE survive INIT. */
  private resetRegisters(): void {
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.irr.words.fill(0);
    this.isr.words.fill(0);
    this.tmr.words.fill(0);
    this.esr = 0;
    this.errorsPending = 0;
    this.icrLow = this.icrHigh = 0;
    this.lvt.fill(LVT_MASKED);
    // As QEMU does for the BSP: LINT0 in ExtINT so the 8259 reaches the CPU without firmware.
    if (this.apicBase & MSR_BSP) this.lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
    this.divideConfig = 0;
    this.timerInitial = 0;
    this.timerCountAtStart = 0;
    this.timerFiredOneShot = false;
    this.tscDeadline = 0;
    this.extIntLatched = false;
    this.timer?.cancel();
  }

  register(mmio: MmioSpace): void {
    mmio.register(this.base, 0x1000, { read: (o, s) => this.read(o, s), write: (o, s, v) => this.write(o, s, v) }, this.stateName);
  }

  get base(): number {
    return (this.apicBase & 0xfffff000) >>> 0;
  }

  get apicId(): number {
    return this.id;
  }

  // ---- IA32_APIC_BASE (MSR 0x1B) -----------------------------------------------------

  readApicBaseMsr(): number {
    return this.apicBase >>> 0;
  }

  writeApicBaseMsr(value: number): void {
    const oldBase = this.base;
    const wasEnabled = (this.apicBase & MSR_ENABLE) !== 0;
    // The BSP flag is read-only; keep base bits below 4 GiB.
    this.apicBase = ((value & (0xfffff000 | MSR_ENABLE)) | (this.apicBase & MSR_BSP)) >>> 0;
    if (wasEnabled && !(this.apicBase & MSR_ENABLE)) this.resetRegisters(); // hardware disable loses state
    if (this.base !== oldBase) this.opts.onBaseChange?.(this.base);
    this.updateIntr();
  }

  private get hardwareEnabled(): boolean {
    return (this.apicBase & MSR_ENABLE) !== 0;
  }

  private get softwareEnabled(): boolean {
    return (this.svr & SVR_ENABLE) !== 0;
  }

  // ---- interrupt acceptance ---------------------------------------------------------------

  /** Whether `message` is addressed to this APIC (physical ID, or logical flat/cluster model). */
  matchesDestination(destination: number, logical: boolean): boolean {
    destination &= 0xff;
    if (!logical) return destination === 0xff || destination === this.id;
    if (destination === 0xff) return true;
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (logicalId & destination) !== 0; // flat
    return destination >> 4 === logicalId >> 4 && (destination & logicalId & 0x0f) !== 0; // cluster
  }

  /** For lowest-priority arbitration by the board. */
  get processorPriority(): number {
    return this.ppr();
  }

  /** An APIC message for this CPU (from the I/O APIC or an IPI the board matched). */
  receive(m: ApicMessage): void {
    if (!this.hardwareEnabled) return;
    switch (m.deliveryMode) {
      case APIC_DM_FIXED:
      case APIC_DM_LOWEST:
        this.acceptVector(m.vector & 0xff, m.levelTriggered);
        break;
      case APIC_DM_NMI:
        this.opts.cpu.nmi();
        break;
      case APIC_DM_SMI:
        this.opts.cpu.smi?.();
        break;
      case APIC_DM_INIT:
        this.resetRegisters();
        this.updateIntr();
        this.opts.cpu.init();
        break;
      case APIC_DM_STARTUP:
        this.opts.cpu.startup(m.vector & 0xff);
        break;
      case APIC_DM_EXTINT:
        this.extIntLatched = true;
        this.updateIntr();
        break;
      default:
        break; // reserved modes are ignored
    }
  }

  private acceptVector(vector: number, level: boolean): void {
    if (vector < 16) {
      this.signalError(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    this.irr.set(vector);
    if (level) this.tmr.set(vector);
    else this.tmr.clear(vector);
    this.updateIntr();
  }

  private signalError(bits: number): void {
    this.errorsPending |= bits;
    const e = this.lvt[LVT_ERROR];
    if (!(e & LVT_MASKED)) {
      const v = e & 0xff;
      if (v >= 16) {
        this.irr.set(v);
        this.tmr.clear(v);
        this.updateIntr();
      }
    }
  }

  /** Level of the LINT0/LINT1 input pin (LINT0: the 8259's INT output; LINT1: NMI). */
  setLint(pin: 0 | 1, level: boolean): void {
    const was = this.lint[pin];
    this.lint[pin] = level;
    const entry = this.lvt[pin === 0 ? LVT_LINT0 : LVT_LINT1];
    if (!this.hardwareEnabled) {
      // Bypassed APIC: LINT0 is INTR and LINT1 is NMI.
      if (pin === 1 && level && !was) this.opts.cpu.nmi();
      this.updateIntr();
      return;
    }
    if (entry & LVT_MASKED) {
      this.updateIntr();
      return;
    }
    const mode = (entry >> 8) & 7;
    if (mode === APIC_DM_EXTINT) {
      this.updateIntr();
    } else if (mode === APIC_DM_NMI) {
      if (level && !was) this.opts.cpu.nmi();
    } else if (mode === APIC_DM_FIXED) {
      const lvl = (entry & LVT_LEVEL) !== 0;
      if (lvl) {
        if (level && !(entry & LVT_REMOTE_IRR)) {
          this.lvt[pin === 0 ? LVT_LINT0 : LVT_LINT1] |= LVT_REMOTE_IRR;
          this.acceptVector(entry & 0xff, true);
        }
      } else if (level && !was) {
        this.acceptVector(entry & 0xff, false);
      }
    }
  }

  // ---- CPU interface -----------------------------------------------------------------

  private extIntPending(): boolean {
    if (this.extIntLatched) return true;
    if (!this.lint[0]) return false;
    if (!this.hardwareEnabled) return true;
    const e = this.lvt[LVT_LINT0];
    return !(e & LVT_MASKED) && ((e >> 8) & 7) === APIC_DM_EXTINT;
  }

  private ppr(): number {
    const isrv = this.isr.highest();
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  /** A vector (or an ExtINT) is ready for the CPU. */
  hasInterrupt(): boolean {
    if (this.extIntPending()) return true;
    if (!this.hardwareEnabled || !this.softwareEnabled) return false;
    const v = this.irr.highest();
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0);
  }

  /** INTA: moves the highest deliverable IRR vector to ISR and returns it (see LAPIC_EXTINT). */
  acknowledge(): number {
    if (this.extIntPending()) {
      this.extIntLatched = false;
      this.updateIntr();
      return LAPIC_EXTINT;
    }
    const v = this.irr.highest();
    if (!this.hardwareEnabled || !this.softwareEnabled || v < 0 || (v & 0xf0) <= (this.ppr() & 0xf0)) {
      this.updateIntr();
      return this.svr & 0xff; // spurious
    }
    this.irr.clear(v);
    this.isr.set(v);
    this.updateIntr();
    return v;
  }

  private updateIntr(): void {
    const level = this.hasInterrupt();
    if (level !== this.intrLevel) {
      this.intrLevel = level;
      this.opts.cpu.setIntr(level);
    }
  }

  private eoi(): void {
    const v = this.isr.highest();
    if (v < 0) return;
    this.isr.clear(v);
    if (this.tmr.has(v)) {
      this.tmr.clear(v);
      this.opts.eoiBroadcast(v);
      // A level-triggered LINT input shares this handshake.
      for (const i of [LVT_LINT0, LVT_LINT1]) if ((this.lvt[i] & 0xff) === v) this.lvt[i] &= ~LVT_REMOTE_IRR;
    }
    this.updateIntr();
  }

  // ---- timer --------------------------------------------------------------------------

  /** Divider from the divide configuration register (bits 0, 1, 3). */
  private divider(): number {
    const code = (this.divideConfig & 3) | ((this.divideConfig >> 1) & 4);
    return code === 7 ? 1 : 2 << code;
  }

  private timerMode(): number {
    return this.lvt[LVT_TIMER] & TIMER_MODE_MASK;
  }

  private currentCount(now: number): number {
    if (this.timerInitial === 0 || this.timerMode() === TIMER_TSC_DEADLINE) return 0;
    const elapsed = Math.floor(((now - this.timerStart) * LAPIC_BUS_HZ) / 1e9 / this.divider());
    if (elapsed < this.timerCountAtStart) return this.timerCountAtStart - elapsed;
    if (this.timerMode() !== TIMER_PERIODIC) return 0;
    return this.timerInitial - ((elapsed - this.timerCountAtStart) % this.timerInitial);
  }

  /** Guest time of the first expiry strictly after `now`, or Infinity. */
  private nextExpiry(now: number): number {
    const mode = this.timerMode();
    if (mode === TIMER_TSC_DEADLINE) return this.tscDeadline > 0 ? this.tscDeadline : Infinity;
    if (this.timerInitial === 0) return Infinity;
    const tickNs = (this.divider() * 1e9) / LAPIC_BUS_HZ;
    const first = this.timerStart + this.timerCountAtStart * tickNs;
    if (mode !== TIMER_PERIODIC) return this.timerFiredOneShot ? Infinity : first;
    if (now < first) return first;
    const period = this.timerInitial * tickNs;
    return first + (Math.floor((now - first) / period) + 1) * period;
  }

  private scheduleTimer(now: number): void {
    const next = this.nextExpiry(now);
    if (next === Infinity) this.timer.cancel();
    else this.timer.setDeadline(Math.ceil(next));
  }

  private onTimer(now: number): void {
    const mode = this.timerMode();
    if (mode === TIMER_TSC_DEADLINE) {
      this.tscDeadline = 0;
    } else if (mode !== TIMER_PERIODIC) {
      this.timerFiredOneShot = true;
    }
    const e = this.lvt[LVT_TIMER];
    if (!(e & LVT_MASKED)) this.acceptVector(e & 0xff, false);
    this.scheduleTimer(now);
  }

  /** Restarts counting from the current count (the divider or the mode changed mid-count). */
  private rebaseTimer(now: number): void {
    const count = this.currentCount(now);
    this.timerStart = now;
    this.timerCountAtStart = count;
  }

  /** IA32_TSC_DEADLINE write, already converted by the CPU to guest ns (0 disarms). */
  writeTscDeadline(guestNs: number): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return;
    this.tscDeadline = Number.isFinite(guestNs) && guestNs > 0 ? guestNs : 0;
    this.scheduleTimer(this.clock.now());
  }

  // ---- MMIO --------------------------------------------------------------------------------

  read(offset: number, size: AccessSize): number {
    const reg = offset & 0xff0;
    const within = offset & 0xf;
    if (within + size > 4) return 0; // only the first dword of each 16-byte slot exists
    const v = this.readRegister(reg);
    return (v >>> (8 * within)) & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (size !== 4 || (offset & 0xf) !== 0) return; // the SDM requires aligned 32-bit accesses
    this.writeRegister(offset & 0xff0, value >>> 0);
  }

  private readRegister(reg: number): number {
    const now = this.clock.now();
    if (reg >= REG_ISR && reg < REG_ISR + 0x80) return this.isr.words[(reg - REG_ISR) >> 4];
    if (reg >= REG_TMR && reg < REG_TMR + 0x80) return this.tmr.words[(reg - REG_TMR) >> 4];
    if (reg >= REG_IRR && reg < REG_IRR + 0x80) return this.irr.words[(reg - REG_IRR) >> 4];
    switch (reg) {
      case REG_ID:
        return (this.id << 24) >>> 0;
      case REG_VERSION:
        return LAPIC_VERSION;
      case REG_TPR:
        return this.tpr;
      case REG_APR:
        return 0;
      case REG_PPR:
        return this.ppr();
      case REG_LDR:
        return this.ldr;
      case REG_DFR:
        return this.dfr;
      case REG_SVR:
        return this.svr;
      case REG_ESR:
        return this.esr;
      case REG_ICR_LOW:
        return this.icrLow; // delivery status always idle: IPIs are delivered at once
      case REG_ICR_HIGH:
        return this.icrHigh;
      case REG_LVT_TIMER:
      case REG_LVT_THERMAL:
      case REG_LVT_PERF:
      case REG_LVT_LINT0:
      case REG_LVT_LINT1:
      case REG_LVT_ERROR:
        return this.lvt[(reg - REG_LVT_TIMER) >> 4];
      case REG_TIMER_INITIAL:
        return this.timerInitial;
      case REG_TIMER_CURRENT:
        return this.currentCount(now);
      case REG_TIMER_DIVIDE:
        return this.divideConfig;
      case REG_EOI:
      case REG_RRD:
        return 0;
      default:
        return 0;
    }
  }

  private writeRegister(reg: number, v: number): void {
    const now = this.clock.now();
    switch (reg) {
      case REG_ID:
        this.id = v >>> 24;
        return;
      case REG_TPR:
        this.tpr = v & 0xff;
        this.updateIntr();
        return;
      case REG_EOI:
        this.eoi();
        return;
      case REG_LDR:
        this.ldr = (v & 0xff000000) >>> 0;
        return;
      case REG_DFR:
        this.dfr = (v | 0x0fffffff) >>> 0;
        return;
      case REG_SVR:
        this.svr = v & SVR_WRITABLE;
        if (!this.softwareEnabled) for (let i = 0; i < 6; i++) this.lvt[i] |= LVT_MASKED;
        this.updateIntr();
        return;
      case REG_ESR:
        // Writing latches the errors seen since the last write.
        this.esr = this.errorsPending;
        this.errorsPending = 0;
        return;
      case REG_ICR_HIGH:
        this.icrHigh = (v & 0xff000000) >>> 0;
        return;
      case REG_ICR_LOW:
        this.icrLow = v & ICR_LOW_WRITABLE;
        this.sendIcr();
        return;
      case REG_LVT_TIMER:
      case REG_LVT_THERMAL:
      case REG_LVT_PERF:
      case REG_LVT_LINT0:
      case REG_LVT_LINT1:
      case REG_LVT_ERROR: {
        const i = (reg - REG_LVT_TIMER) >> 4;
        const oldMode = this.timerMode();
        let n = (this.lvt[i] & LVT_REMOTE_IRR) | (v & LVT_WRITABLE[i]);
        if (!this.softwareEnabled) n |= LVT_MASKED;
        if ((n & TIMER_MODE_MASK) === TIMER_MODE_MASK && i === LVT_TIMER) n &= ~TIMER_MODE_MASK; // reserved mode
        if (i === LVT_TIMER && (n & TIMER_MODE_MASK) !== oldMode) this.rebaseTimer(now);
        this.lvt[i] = n >>> 0;
        if (i === LVT_TIMER) {
          if ((n & TIMER_MODE_MASK) !== oldMode) {
            // Switching to or from TSC-deadline mode disarms the timer (SDM 10.5.4.1).
            if (oldMode === TIMER_TSC_DEADLINE || (n & TIMER_MODE_MASK) === TIMER_TSC_DEADLINE) {
              this.timerInitial = this.timerCountAtStart = 0;
              this.tscDeadline = 0;
            }
          }
          this.scheduleTimer(now);
        }
        if (i === LVT_LINT0) this.updateIntr();
        return;
      }
      case REG_TIMER_INITIAL:
        if (this.timerMode() === TIMER_TSC_DEADLINE) return;
        this.timerInitial = v;
        this.timerCountAtStart = v;
        this.timerStart = now;
        this.timerFiredOneShot = false;
        this.scheduleTimer(now);
        return;
      case REG_TIMER_DIVIDE:
        this.rebaseTimer(now);
        this.divideConfig = v & 0xb;
        this.scheduleTimer(now);
        return;
      case REG_VERSION:
      case REG_APR:
      case REG_PPR:
      case REG_RRD:
      case REG_TIMER_CURRENT:
        return; // read-only
      default:
        if ((reg >= REG_ISR && reg < REG_IRR + 0x80) || reg === 0x2f0) return; // read-only / absent CMCI
        this.signalError(ESR_ILLEGAL_REGISTER);
        return;
    }
  }

  private sendIcr(): void {
    const lo = this.icrLow;
    const mode = (lo >> 8) & 7;
    const vector = lo & 0xff;
    const shorthand = (lo >> 18) & 3;
    const levelTriggered = (lo & ICR_TRIGGER_LEVEL) !== 0;
    // INIT level de-assert (an 82489DX leftover Linux still sends) goes nowhere.
    if (mode === APIC_DM_INIT && levelTriggered && !(lo & ICR_LEVEL_ASSERT)) return;
    if ((mode === APIC_DM_FIXED || mode === APIC_DM_LOWEST) && vector < 16) {
      this.signalError(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    const message: ApicMessage = {
      destination: this.icrHigh >>> 24,
      logical: (lo & (1 << 11)) !== 0,
      deliveryMode: mode,
      vector,
      levelTriggered: mode === APIC_DM_FIXED && levelTriggered,
    };
    if (shorthand === 1) this.receive(message);
    else this.opts.sendIpi(message, shorthand as IpiShorthand, this.id);
  }

  // ---- state -------------------------------------------------------------------------------

  saveState(): StateRecord {
    return LAPIC_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    const oldBase = this.base;
    const bsp = this.apicBase & MSR_BSP; // the board's wiring, not the file's
    LAPIC_STATE.load(this, state, version);
    this.apicBase = ((this.apicBase & (0xfffff000 | MSR_ENABLE)) | bsp) >>> 0;
    this.ldr = (this.ldr & 0xff000000) >>> 0;
    this.dfr = (this.dfr | 0x0fffffff) >>> 0;
    this.icrLow &= ICR_LOW_WRITABLE;
    this.icrHigh = (this.icrHigh & 0xff000000) >>> 0;
    LVT_WRITABLE.forEach((w, i) => (this.lvt[i] &= w | LVT_REMOTE_IRR));
    if (this.base !== oldBase) this.opts.onBaseChange?.(this.base);
    this.scheduleTimer(this.clock.now());
    this.intrLevel = !this.hasInterrupt(); // force the CPU line to the restored level
    this.updateIntr();
  }
}

const VECTORS = fields({ words: u32Array(8) }, '256 vector bits');

const LAPIC_STATE = declareState('lapic', {
  id: u8, apicBase: u32, tpr: u8, ldr: u32, dfr: u32, svr: int(0, SVR_WRITABLE),
  irr: VECTORS, isr: VECTORS, tmr: VECTORS,
  esr: u8, errorsPending: u8, icrLow: u32, icrHigh: u32,
  /** LVT entries: timer, thermal, performance, LINT0, LINT1, error. */
  lvt: u32Array(6),
  divideConfig: int(0, 0xb), timerInitial: u32, timerCountAtStart: u32, timerStart: time, timerFiredOneShot: bool,
  /** Guest ns; 0 = disarmed. */
  tscDeadline: time,
  lint: list(bool, 2, { exact: true }),
  extIntLatched: bool,
});

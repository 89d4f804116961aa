// Intel 8254 programmable interval timer plus the PC's "system control port B" (0x61).
//
// Ports: 0x40-0x42 counters 0-2, 0x43 control word; 0x61 port B (gate of counter 2,
// speaker enable, refresh toggle, counter 2 output). Counter 0's output drives IRQ0.
//
// Counting is never simulated tick by tick: each counter remembers the guest time at
// which it started and derives its count and output from the elapsed guest time at
// 1.193182 MHz. Output transitions of counter 0 are scheduled as clock timers.

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import type { Timer, VirtualClock } from '../../platform/clock';
import { bool, count, declareState, fields, int, objects, time, u16, u8 } from '../../platform/state';
import { nsForTicks, ticksIn } from '../common/ticks';

/** The 8254's input clock on a PC (14.31818 MHz / 12). */
export const PIT_HZ = 1_193_182;

/** Port B refresh request toggles every 15.085 us (Linux's calibration loops watch bit 4). */
const REFRESH_HALF_PERIOD_NS = 15_085;

// Read/write access modes (control word bits 5:4).
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_WORD = 3;

// Byte sequencing state for RW_WORD accesses.
const BYTE_LSB = 0;
const BYTE_MSB = 1;

class Counter {
  // Programming.
  mode = 3;
  bcd = false;
  rw = RW_WORD;
  /** Initial count N as a tick count: 1..65536 (binary) or 1..10000 (BCD); 0 = never written. */
  count = 0;
  /** The count was written since the last control word and has been (or will be) loaded. */
  loaded = false;
  /** Mode 1/5: the gate has triggered since the count was loaded. */
  triggered = false;
  nullCount = true;

  // Counting: d = ticks elapsed in the current run.
  running = false;
  startTime = 0; // guest ns at which d was startD
  startD = 0;
  heldD = 0; // d while not running

  gate: boolean;

  // Host-side byte sequencing.
  writeByte = BYTE_LSB;
  writeLsb = 0;
  readByte = BYTE_LSB;
  countLatched = false;
  latchValue = 0;
  latchByte = BYTE_LSB;
  statusLatched = false;
  statusValue = 0;

  // Output tracking for counters that drive a line.
  outLevel = false;
  /** d up to which output edges have been delivered. */
  syncedD = 0;

  constructor(readonly index: number, gate: boolean) {
    this.gate = gate;
  }

  modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Ticks elapsed in the current run at guest time `now`. */
  elapsed(now: number): number {
    return this.running ? this.startD + ticksIn(now - this.startTime, PIT_HZ) : this.heldD;
  }

  /** Period used by the periodic modes; a count of 1 is illegal there, treat it as 2. */
  period(): number {
    return this.mode === 2 || this.mode === 3 ? Math.max(this.count, 2) : this.count;
  }

  /** Current counting element value (binary, before BCD encoding). */
  value(d: number): number {
    if (!this.loaded) return this.count % this.modulus();
    const m = this.modulus();
    const n = this.period();
    switch (this.mode) {
      case 2:
        return (n - (d % n)) % m;
      case 3:
        return (n - ((2 * d) % n)) % m;
      case 1:
      case 5:
        if (!this.triggered) return n % m;
        return (((n - d) % m) + m) % m;
      default:
        return (((n - d) % m) + m) % m;
    }
  }

  /** Output level after d ticks of the current run. */
  out(d: number): boolean {
    const n = this.period();
    switch (this.mode) {
      case 0:
        return this.loaded && d >= n;
      case 1:
        return !this.triggered || d >= n;
      case 2:
        if (!this.loaded || !this.gate) return true;
        return d % n !== n - 1;
      case 3:
        if (!this.loaded || !this.gate) return true;
        return d % n < Math.ceil(n / 2);
      case 4:
        return !this.loaded || d !== n;
      case 5:
        return !this.triggered || d !== n;
      default:
        return true;
    }
  }

  /** The first d > `d` at which the output changes in the current run, or Infinity. */
  nextTransition(d: number): number {
    if (!this.running) return Infinity;
    const n = this.period();
    switch (this.mode) {
      case 0:
      case 1:
        return d < n ? n : Infinity;
      case 2: {
        const r = d % n;
        return r < n - 1 ? d + (n - 1 - r) : d + 1;
      }
      case 3: {
        const r = d % n;
        const high = Math.ceil(n / 2);
        return r < high ? d + (high - r) : d + (n - r);
      }
      case 4:
      case 5:
        return d < n ? n : d === n ? n + 1 : Infinity;
      default:
        return Infinity;
    }
  }

  /** Whether the output rose at some tick in (a, b] of the current run. */
  roseBetween(a: number, b: number): boolean {
    if (!this.running || b <= a) return false;
    const n = this.period();
    switch (this.mode) {
      case 0:
      case 1:
        return a < n && n <= b;
      case 2:
      case 3:
        return Math.floor(b / n) > Math.floor(a / n);
      case 4:
      case 5:
        return a < n + 1 && n + 1 <= b;
      default:
        return false;
    }
  }

  status(now: number): number {
    const out = this.out(this.elapsed(now));
    return (out ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) | (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }
}

function toBcd(v: number): number {
  return ((Math.floor(v / 1000) % 10) << 12) | ((Math.floor(v / 100) % 10) << 8) | ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}

/** Decodes a BCD count; invalid digits are taken modulo 10 as a real counter would mis-count. */
function fromBcd(v: number): number {
  return ((v >> 12) & 0xf) % 10 * 1000 + ((v >> 8) & 0xf) % 10 * 100 + ((v >> 4) & 0xf) % 10 * 10 + (v & 0xf) % 10;
}

export interface Pit8254Options {
  /** Line driven by counter 0's output (IRQ0 on a PC). */
  irq0: IrqLine;
}

export class Pit8254 implements Stateful {
  readonly stateName = 'pit-8254';
  readonly stateVersion = PIT_STATE.version;

  private readonly counters: [Counter, Counter, Counter];
  private readonly timer: Timer;
  private readonly irq0: IrqLine;
  /** Port B bits 3:0 as last written (bit 0 = counter 2 gate, bit 1 = speaker data enable). */
  private portB = 0;

  constructor(private readonly clock: VirtualClock, options: Pit8254Options) {
    this.irq0 = options.irq0;
    this.counters = [new Counter(0, true), new Counter(1, true), new Counter(2, false)];
    this.timer = clock.createTimer('pit-8254 counter 0', (now) => this.syncCounter0(now));
    this.reset();
  }

  /**
   * Power-on state: counters 0 and 1 run in mode 3 with the maximum count (as a PC's
   * firmware leaves them, 18.2 Hz on IRQ0); counter 2 is programmed but its gate is low.
   */
  reset(): void {
    const now = this.clock.now();
    this.portB = 0;
    for (const c of this.counters) {
      c.gate = c.index !== 2;
      c.mode = 3;
      c.bcd = false;
      c.rw = RW_WORD;
      c.writeByte = c.readByte = c.latchByte = BYTE_LSB;
      c.countLatched = c.statusLatched = false;
      c.count = 0x10000;
      c.loaded = true;
      c.triggered = false;
      c.nullCount = false;
      c.running = c.gate;
      c.startTime = now;
      c.startD = c.heldD = 0;
      c.syncedD = 0;
    }
    const c0 = this.counters[0];
    c0.outLevel = c0.out(0);
    this.irq0.set(c0.outLevel);
    this.schedule();
  }

  register(io: IoPorts): void {
    const counters: PortHandler = {
      read: (port, size) => this.readPort(port, size),
      write: (port, size, value) => this.writePort(port, size, value),
    };
    io.register(0x40, 4, counters, this.stateName);
    io.register(0x61, 1, counters, this.stateName);
  }

  // ---- port handlers ---------------------------------------------------------

  readPort(port: number, _size: AccessSize): number {
    const now = this.clock.now();
    if (port === 0x61) return this.readPortB(now);
    if (port >= 0x40 && port <= 0x42) return this.readCounter(this.counters[port - 0x40], now);
    return 0xff; // the control word register is write-only
  }

  writePort(port: number, _size: AccessSize, value: number): void {
    const now = this.clock.now();
    value &= 0xff;
    if (port === 0x61) this.writePortB(value, now);
    else if (port === 0x43) this.writeControl(value, now);
    else if (port >= 0x40 && port <= 0x42) this.writeCounter(this.counters[port - 0x40], value, now);
  }

  private readPortB(now: number): number {
    const c2 = this.counters[2];
    const refresh = Math.floor(now / REFRESH_HALF_PERIOD_NS) & 1;
    const out2 = c2.out(c2.elapsed(now));
    return (this.portB & 0x0f) | (refresh << 4) | (out2 ? 0x20 : 0);
  }

  private writePortB(value: number, now: number): void {
    this.portB = value & 0x0f;
    this.setGate(this.counters[2], (value & 1) !== 0, now);
  }

  private writeControl(value: number, now: number): void {
    const sc = value >> 6;
    if (sc === 3) {
      this.readBack(value, now);
      return;
    }
    const c = this.counters[sc];
    const rw = (value >> 4) & 3;
    if (rw === RW_LATCH) {
      // Counter latch: ignored while an earlier latch is still unread.
      if (!c.countLatched) {
        c.countLatched = true;
        c.latchValue = this.encoded(c, now);
        c.latchByte = BYTE_LSB;
      }
      return;
    }
    if (c.index === 0) this.syncCounter0(now, false);
    let mode = (value >> 1) & 7;
    if (mode > 5) mode -= 4; // 110 and 111 are aliases of modes 2 and 3
    c.mode = mode;
    c.bcd = (value & 1) !== 0;
    c.rw = rw;
    c.writeByte = BYTE_LSB;
    c.readByte = BYTE_LSB;
    c.countLatched = false;
    c.statusLatched = false;
    c.nullCount = true;
    // A control word stops the counter until a new count arrives; mode 0 drives OUT low.
    c.heldD = 0;
    c.running = false;
    c.loaded = false;
    c.triggered = false;
    if (c.index === 0) this.restartOutput(now);
  }

  private readBack(value: number, now: number): void {
    const latchCount = (value & 0x20) === 0;
    const latchStatus = (value & 0x10) === 0;
    for (const c of this.counters) {
      if ((value & (2 << c.index)) === 0) continue;
      if (latchStatus && !c.statusLatched) {
        c.statusLatched = true;
        c.statusValue = c.status(now);
      }
      if (latchCount && !c.countLatched) {
        c.countLatched = true;
        c.latchValue = this.encoded(c, now);
        c.latchByte = BYTE_LSB;
      }
    }
  }

  private encoded(c: Counter, now: number): number {
    const v = c.value(c.elapsed(now));
    return c.bcd ? toBcd(v) : v & 0xffff;
  }

  private readCounter(c: Counter, now: number): number {
    if (c.statusLatched) {
      c.statusLatched = false;
      return c.statusValue;
    }
    if (c.countLatched) {
      const v = c.latchValue;
      switch (c.rw) {
        case RW_MSB:
          c.countLatched = false;
          return (v >> 8) & 0xff;
        case RW_WORD:
          if (c.latchByte === BYTE_LSB) {
            c.latchByte = BYTE_MSB;
            return v & 0xff;
          }
          c.latchByte = BYTE_LSB;
          c.countLatched = false;
          return (v >> 8) & 0xff;
        default:
          c.countLatched = false;
          return v & 0xff;
      }
    }
    const v = this.encoded(c, now);
    switch (c.rw) {
      case RW_MSB:
        return (v >> 8) & 0xff;
      case RW_WORD:
        if (c.readByte === BYTE_LSB) {
          c.readByte = BYTE_MSB;
          return v & 0xff;
        }
        c.readByte = BYTE_LSB;
        return (v >> 8) & 0xff;
      default:
        return v & 0xff;
    }
  }

  private writeCounter(c: Counter, value: number, now: number): void {
    let raw: number;
    switch (c.rw) {
      case RW_LSB:
        raw = value;
        break;
      case RW_MSB:
        raw = value << 8;
        break;
      case RW_WORD:
        if (c.writeByte === BYTE_LSB) {
          c.writeLsb = value;
          c.writeByte = BYTE_MSB;
          return;
        }
        c.writeByte = BYTE_LSB;
        raw = c.writeLsb | (value << 8);
        break;
      default:
        return; // no access mode programmed yet
    }
    this.loadCount(c, raw, now);
  }

  private loadCount(c: Counter, raw: number, now: number): void {
    if (c.index === 0) this.syncCounter0(now, false);
    let n = c.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = c.modulus();
    c.count = n;
    c.loaded = true;
    c.nullCount = false;
    if (c.mode === 1 || c.mode === 5) {
      // Hardware-triggered modes wait for a rising gate edge.
      c.triggered = false;
      c.running = false;
      c.heldD = 0;
    } else {
      c.startTime = now;
      c.startD = 0;
      c.heldD = 0;
      c.running = c.gate;
    }
    if (c.index === 0) this.restartOutput(now);
  }

  private setGate(c: Counter, level: boolean, now: number): void {
    if (c.gate === level) return;
    if (c.index === 0) this.syncCounter0(now, false);
    const d = c.elapsed(now);
    c.gate = level;
    switch (c.mode) {
      case 0:
      case 4:
        // Gate low suspends counting; high resumes where it stopped.
        if (!level) {
          c.heldD = d;
          c.running = false;
        } else if (c.loaded) {
          c.startD = c.heldD;
          c.startTime = now;
          c.running = true;
        }
        break;
      case 1:
      case 5:
        // A rising edge (re)triggers the count.
        if (level && c.loaded) {
          c.triggered = true;
          c.nullCount = false;
          c.startD = 0;
          c.startTime = now;
          c.running = true;
        }
        break;
      default:
        // Modes 2/3: gate low stops and forces OUT high; rising edge reloads.
        if (!level) {
          c.heldD = d;
          c.running = false;
        } else if (c.loaded) {
          c.startD = 0;
          c.startTime = now;
          c.running = true;
        }
        break;
    }
    if (c.index === 0) this.restartOutput(now);
  }

  // ---- counter 0 output → IRQ0 ----------------------------------------------

  /**
   * Brings IRQ0 up to date at `now`. A rising edge that happened between two syncs is
   * delivered even if the output has since fallen again, so a late timer never loses
   * an interrupt; several missed periods collapse into one edge, as the PIC would.
   */
  private syncCounter0(now: number, reschedule = true): void {
    const c = this.counters[0];
    const d = c.elapsed(now);
    if (c.roseBetween(c.syncedD, d)) {
      if (c.outLevel) this.irq0.set(false);
      this.irq0.set(true);
      c.outLevel = true;
    }
    const level = c.out(d);
    if (level !== c.outLevel) {
      c.outLevel = level;
      this.irq0.set(level);
    }
    c.syncedD = d;
    if (reschedule) this.schedule();
  }

  /** After counter 0 was reprogrammed: apply its new output level and schedule its next edge. */
  private restartOutput(now: number): void {
    const c = this.counters[0];
    const d = c.elapsed(now);
    c.syncedD = d;
    const level = c.out(d);
    if (level !== c.outLevel) {
      c.outLevel = level;
      this.irq0.set(level);
    }
    this.schedule();
  }

  private schedule(): void {
    const c = this.counters[0];
    const next = c.nextTransition(c.syncedD);
    if (!c.running || next === Infinity) {
      this.timer.cancel();
      return;
    }
    this.timer.setDeadline(c.startTime + nsForTicks(next - c.startD, PIT_HZ));
  }

  // ---- host-facing helpers ----------------------------------------------------

  /** Counter 2 output AND speaker enable: whether the PC speaker is being driven. */
  get speakerActive(): boolean {
    const c2 = this.counters[2];
    return (this.portB & 2) !== 0 && c2.gate && c2.mode === 3 && c2.loaded;
  }

  /** Speaker tone in Hz while `speakerActive`, else 0. */
  get speakerFrequency(): number {
    return this.speakerActive ? PIT_HZ / this.counters[2].period() : 0;
  }

  // ---- state --------------------------------------------------------------------

  saveState(): StateRecord {
    return PIT_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    PIT_STATE.load(this, state, version);
    for (const c of this.counters) if (c.loaded && c.count === 0) c.count = c.modulus();
    this.irq0.set(this.counters[0].outLevel);
    this.schedule();
  }
}

const COUNTER_STATE = fields({
  mode: int(0, 5), bcd: bool, rw: int(0, 3), count: int(0, 0x10000), loaded: bool, triggered: bool, nullCount: bool,
  running: bool, startTime: time, startD: count, heldD: count, gate: bool,
  writeByte: int(0, 1), writeLsb: u8, readByte: int(0, 1), countLatched: bool, latchValue: u16, latchByte: int(0, 1),
  statusLatched: bool, statusValue: u8, outLevel: bool, syncedD: count,
}, 'pit counter', (c) => (c.bcd && (c.count as number) > 10000 ? `holds BCD count ${c.count as number}, above 10000` : null));

const PIT_STATE = declareState('pit-8254', {
  /** Port B bits 3:0. */
  portB: int(0, 0x0f),
  counters: objects(COUNTER_STATE, 3),
});

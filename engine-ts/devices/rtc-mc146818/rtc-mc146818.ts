// Motorola MC146818 real-time clock and 128 bytes of CMOS RAM.
//
// Ports: 0x70 index (bit 7 = NMI mask, write-only), 0x71 data. IRQ8.
// Time = the host-supplied start time (Unix seconds) + guest time from the clock, so a
// run is deterministic. The time registers are regenerated from that count at every
// update (once a guest second); the guest may stop updates (SET) and write its own.
// Flags are brought up to date lazily whenever the guest looks; clock timers exist
// only while an interrupt that needs them (periodic, alarm, update-ended) is enabled.

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import type { Timer, VirtualClock } from '../../platform/clock';
import { bool, bytes, count, declareState, int, real } from '../../platform/state';
import { nsForTicks, ticksIn } from '../common/ticks';
import { civilFromDays, daysFromCivil, daysInMonth } from './calendar';

const NS_PER_S = 1_000_000_000;
/** The time base crystal. */
const RTC_HZ = 32768;
/** UIP is set this long before each update (datasheet t_BUC). */
const UIP_LEAD_NS = 244_000;
/** After the divider chain leaves reset, the first update comes half a second later. */
const FIRST_UPDATE_AFTER_RESET_NS = 500_000_000;
/** Bounded catch-up: any alarm pattern matches within one day. */
const MAX_CATCHUP_SECONDS = 86400;

// Register indexes.
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
/** Century byte used by PC firmware and named in the ACPI FADT. */
export const RTC_CENTURY = 0x32;

// Register A.
const REG_A_UIP = 0x80;
// Register B.
const REG_B_SET = 0x80;
const REG_B_PIE = 0x40;
const REG_B_AIE = 0x20;
const REG_B_UIE = 0x10;
const REG_B_DM_BINARY = 0x04;
const REG_B_24H = 0x02;
// Register C.
const REG_C_IRQF = 0x80;
const REG_C_PF = 0x40;
const REG_C_AF = 0x20;
const REG_C_UF = 0x10;
// Register D.
const REG_D_VRT = 0x80;

/** Alarm bytes with both top bits set match any value. */
const ALARM_DONT_CARE = 0xc0;

/** CMOS bytes the firmware reads for the memory size (QEMU/SeaBIOS layout). */
export const CMOS_MEM_BASE_LOW = 0x15; // base memory in KiB (640)
export const CMOS_MEM_EXTMEM_LOW = 0x17; // KiB above 1 MiB, max 65535 (copy at 0x30)
export const CMOS_MEM_EXTMEM_COPY_LOW = 0x30;
export const CMOS_MEM_EXTMEM2_LOW = 0x34; // 64 KiB units above 16 MiB, max 65535
export const CMOS_MEM_HIGHMEM_LOW = 0x5b; // 64 KiB units above 4 GiB, 3 bytes
export const CMOS_BIOS_SMP_COUNT = 0x5f; // number of CPUs - 1
const CMOS_CHECKSUM_HIGH = 0x2e;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}
function fromBcd(b: number): number {
  return (b >> 4) * 10 + (b & 0x0f);
}

export interface RtcOptions {
  irq: IrqLine;
  /** Wall-clock time in Unix seconds at the moment the machine is created (guest time now). */
  startTime: number;
}

export class RtcMc146818 implements Stateful {
  readonly stateName = 'rtc-mc146818';
  readonly stateVersion = RTC_STATE.version;

  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiMasked = false;
  /** While updates run, the time is baseSeconds + whole seconds since `baseNs` (the divider phase). */
  private baseSeconds = 0;
  private baseNs = 0;
  /** The seconds count the time registers currently show. */
  private shownSeconds = 0;
  /** Index of the last periodic-interrupt boundary accounted for. */
  private lastPeriodic = 0;
  private irqLevel = false;

  private readonly irq: IrqLine;
  private readonly updateTimer: Timer;
  private readonly periodicTimer: Timer;

  constructor(private readonly clock: VirtualClock, options: RtcOptions) {
    if (!Number.isSafeInteger(options.startTime)) throw new Error('rtc: startTime must be whole Unix seconds');
    this.irq = options.irq;
    this.updateTimer = clock.createTimer('rtc update', (now) => this.onTimer(now));
    this.periodicTimer = clock.createTimer('rtc periodic', (now) => this.onTimer(now));
    this.cmos[RTC_REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.cmos[RTC_REG_B] = REG_B_24H; // BCD, 24-hour
    this.cmos[RTC_REG_D] = REG_D_VRT;
    this.baseSeconds = options.startTime;
    this.baseNs = clock.now();
    this.showTime(options.startTime);
    this.lastPeriodic = this.periodicIndex(clock.now());
    this.setByte(CMOS_MEM_BASE_LOW, 640 & 0xff);
    this.setByte(CMOS_MEM_BASE_LOW + 1, 640 >> 8);
  }

  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port, size) => this.readPort(port, size),
      write: (port, size, value) => this.writePort(port, size, value),
    };
    io.register(0x70, 2, h, this.stateName);
  }

  /** Whether the guest has masked NMIs through bit 7 of port 0x70. */
  get nmiDisabled(): boolean {
    return this.nmiMasked;
  }

  // ---- board-facing CMOS setup -------------------------------------------------

  /** Sets a CMOS byte (0x0e..0x7f) and keeps the standard checksum over 0x10..0x2d valid. */
  setByte(index: number, value: number): void {
    if (!Number.isInteger(index) || index < 0x0e || index > 0x7f) throw new RangeError(`rtc: CMOS index ${index} is not general-purpose RAM`);
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`rtc: CMOS value ${value} is not a byte`);
    this.cmos[index] = value;
    if (index >= 0x10 && index <= 0x2d) this.updateChecksum();
  }

  getByte(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index > 0x7f) throw new RangeError(`rtc: CMOS index ${index} out of range`);
    return this.cmos[index];
  }

  /** Fills the memory-size fields firmware reads, from the RAM below and above 4 GiB. */
  setMemorySize(belowFourGiB: number, aboveFourGiB = 0): void {
    if (!Number.isSafeInteger(belowFourGiB) || belowFourGiB < 1 << 20 || belowFourGiB > 2 ** 32)
      throw new RangeError(`rtc: RAM size ${belowFourGiB} must be between 1 MiB and 4 GiB`);
    if (!Number.isSafeInteger(aboveFourGiB) || aboveFourGiB < 0) throw new RangeError(`rtc: high RAM size ${aboveFourGiB} is invalid`);
    const extKiB = Math.min(0xffff, Math.floor((belowFourGiB - (1 << 20)) / 1024));
    for (const at of [CMOS_MEM_EXTMEM_LOW, CMOS_MEM_EXTMEM_COPY_LOW]) {
      this.setByte(at, extKiB & 0xff);
      this.setByte(at + 1, extKiB >> 8);
    }
    const ext2 = belowFourGiB > 16 << 20 ? Math.min(0xffff, Math.floor((belowFourGiB - (16 << 20)) / 65536)) : 0;
    this.setByte(CMOS_MEM_EXTMEM2_LOW, ext2 & 0xff);
    this.setByte(CMOS_MEM_EXTMEM2_LOW + 1, ext2 >> 8);
    const high = Math.min(0xffffff, Math.floor(aboveFourGiB / 65536));
    this.setByte(CMOS_MEM_HIGHMEM_LOW, high & 0xff);
    this.setByte(CMOS_MEM_HIGHMEM_LOW + 1, (high >> 8) & 0xff);
    this.setByte(CMOS_MEM_HIGHMEM_LOW + 2, (high >> 16) & 0xff);
  }

  private updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i];
    this.cmos[CMOS_CHECKSUM_HIGH] = (sum >> 8) & 0xff;
    this.cmos[CMOS_CHECKSUM_HIGH + 1] = sum & 0xff;
  }

  // ---- ports --------------------------------------------------------------------

  readPort(port: number, _size: AccessSize): number {
    if (port === 0x70) return 0xff; // the index register is write-only
    return this.readRegister(this.index);
  }

  writePort(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (port === 0x70) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    this.writeRegister(this.index, value);
  }

  private readRegister(index: number): number {
    const now = this.clock.now();
    this.catchUp(now);
    switch (index) {
      case RTC_REG_A:
        return (this.cmos[RTC_REG_A] & 0x7f) | (this.updateInProgress(now) ? REG_A_UIP : 0);
      case RTC_REG_C: {
        const v = this.cmos[RTC_REG_C] | (this.irqLevel ? REG_C_IRQF : 0);
        this.cmos[RTC_REG_C] = 0;
        this.updateIrq();
        this.schedule(now);
        return v;
      }
      case RTC_REG_D:
        return REG_D_VRT;
      default:
        return this.cmos[index];
    }
  }

  private writeRegister(index: number, value: number): void {
    const now = this.clock.now();
    this.catchUp(now);
    switch (index) {
      case RTC_REG_A: {
        const wasRunning = this.dividerRunning();
        const oldRate = this.cmos[RTC_REG_A] & 0x0f;
        this.cmos[RTC_REG_A] = value & 0x7f;
        const running = this.dividerRunning();
        // While the divider is held in reset the time stops at the value shown.
        if (!wasRunning && running) {
          this.baseNs = now + FIRST_UPDATE_AFTER_RESET_NS - NS_PER_S;
          this.baseSeconds = this.shownSeconds;
          this.lastPeriodic = this.periodicIndex(now);
        }
        if ((value & 0x0f) !== oldRate) this.lastPeriodic = this.periodicIndex(now);
        break;
      }
      case RTC_REG_B: {
        const old = this.cmos[RTC_REG_B];
        if (value & REG_B_SET) value &= ~REG_B_UIE; // SET aborts updates and clears UIE
        this.cmos[RTC_REG_B] = value;
        if ((old & REG_B_SET) && !(value & REG_B_SET)) {
          this.adoptRegisters(now);
        } else if (!(value & REG_B_SET) && (old ^ value) & (REG_B_DM_BINARY | REG_B_24H)) {
          this.showTime(this.shownSeconds); // regenerate in the new format
        }
        this.updateIrq();
        break;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        this.cmos[index] = value;
        if (index <= RTC_YEAR && index !== RTC_SECONDS_ALARM && index !== RTC_MINUTES_ALARM && index !== RTC_HOURS_ALARM) {
          if (!(this.cmos[RTC_REG_B] & REG_B_SET)) this.adoptRegisters(now);
        } else if (index === RTC_CENTURY && !(this.cmos[RTC_REG_B] & REG_B_SET)) {
          this.adoptRegisters(now);
        }
        break;
    }
    this.schedule(now);
  }

  // ---- time keeping ------------------------------------------------------------------

  /** DV = 000/001/010 run the divider; 11x holds it in reset. */
  private dividerRunning(): boolean {
    return ((this.cmos[RTC_REG_A] >> 4) & 7) <= 2;
  }

  private updatesRunning(): boolean {
    return this.dividerRunning() && !(this.cmos[RTC_REG_B] & REG_B_SET);
  }

  /** Whole seconds since the divider phase origin `baseNs`. */
  private secondsSinceBase(now: number): number {
    return Math.floor((now - this.baseNs) / NS_PER_S);
  }

  private currentSeconds(now: number): number {
    if (!this.updatesRunning()) return this.shownSeconds;
    return this.baseSeconds + this.secondsSinceBase(now);
  }

  private nextUpdateAt(now: number): number {
    return this.baseNs + (this.secondsSinceBase(now) + 1) * NS_PER_S;
  }

  private updateInProgress(now: number): boolean {
    return this.updatesRunning() && this.nextUpdateAt(now) - now <= UIP_LEAD_NS;
  }

  private periodCycles(): number {
    let rs = this.cmos[RTC_REG_A] & 0x0f;
    if (rs === 0) return 0;
    if (rs <= 2) rs += 7; // rates 1 and 2 alias 8 and 9 with a 32.768 kHz time base
    return 1 << (rs - 1);
  }

  private periodicIndex(now: number): number {
    const cycles = this.periodCycles();
    if (cycles === 0 || now < this.baseNs) return 0;
    return Math.floor(ticksIn(now - this.baseNs, RTC_HZ) / cycles);
  }

  /** Processes every update and periodic boundary up to `now`: flags, time registers. */
  private catchUp(now: number): void {
    if (this.updatesRunning()) {
      const secs = this.currentSeconds(now);
      if (secs > this.shownSeconds) {
        const first = Math.max(this.shownSeconds + 1, secs - MAX_CATCHUP_SECONDS);
        let alarm = false;
        for (let s = first; s <= secs && !alarm; s++) alarm = this.alarmMatches(s);
        this.cmos[RTC_REG_C] |= REG_C_UF | (alarm ? REG_C_AF : 0);
        this.showTime(secs);
      }
    }
    if (this.dividerRunning() && this.periodCycles() !== 0) {
      const idx = this.periodicIndex(now);
      if (idx > this.lastPeriodic) {
        this.cmos[RTC_REG_C] |= REG_C_PF;
        this.lastPeriodic = idx;
      }
    }
    this.updateIrq();
  }

  private onTimer(now: number): void {
    this.catchUp(now);
    this.schedule(now);
  }

  private schedule(now: number): void {
    const b = this.cmos[RTC_REG_B];
    if ((b & (REG_B_UIE | REG_B_AIE)) && this.updatesRunning()) this.updateTimer.setDeadline(this.nextUpdateAt(now));
    else this.updateTimer.cancel();
    const cycles = this.periodCycles();
    if ((b & REG_B_PIE) && cycles !== 0 && this.dividerRunning()) {
      const next = Math.max(this.lastPeriodic, this.periodicIndex(now)) + 1;
      this.periodicTimer.setDeadline(this.baseNs + nsForTicks(next * cycles, RTC_HZ));
    } else {
      this.periodicTimer.cancel();
    }
  }

  private updateIrq(): void {
    const level = (this.cmos[RTC_REG_C] & this.cmos[RTC_REG_B] & (REG_C_PF | REG_C_AF | REG_C_UF)) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- register encoding ------------------------------------------------------------

  private binary(): boolean {
    return (this.cmos[RTC_REG_B] & REG_B_DM_BINARY) !== 0;
  }

  private enc(v: number): number {
    return this.binary() ? v : toBcd(v);
  }

  /** Decodes a register; NaN if it holds an impossible BCD digit. */
  private dec(b: number): number {
    if (this.binary()) return b;
    if ((b & 0x0f) > 9 || b >> 4 > 9) return NaN;
    return fromBcd(b);
  }

  private encHour(h: number): number {
    if (this.cmos[RTC_REG_B] & REG_B_24H) return this.enc(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.enc(h12) | (h >= 12 ? 0x80 : 0);
  }

  private decHour(b: number): number {
    if (this.cmos[RTC_REG_B] & REG_B_24H) return this.dec(b);
    const h12 = this.dec(b & 0x7f);
    if (!(h12 >= 1 && h12 <= 12)) return NaN;
    return (h12 % 12) + (b & 0x80 ? 12 : 0);
  }

  private showTime(secs: number): void {
    this.shownSeconds = secs;
    const days = Math.floor(secs / 86400);
    const sod = secs - days * 86400;
    const date = civilFromDays(days);
    this.cmos[RTC_SECONDS] = this.enc(sod % 60);
    this.cmos[RTC_MINUTES] = this.enc(Math.floor(sod / 60) % 60);
    this.cmos[RTC_HOURS] = this.encHour(Math.floor(sod / 3600));
    this.cmos[RTC_DAY_OF_WEEK] = ((((days + 4) % 7) + 7) % 7) + 1; // 1970-01-01 was a Thursday; Sunday = 1
    this.cmos[RTC_DAY_OF_MONTH] = this.enc(date.day);
    this.cmos[RTC_MONTH] = this.enc(date.month);
    this.cmos[RTC_YEAR] = this.enc(((date.year % 100) + 100) % 100);
    this.cmos[RTC_CENTURY] = this.enc(Math.floor(date.year / 100) % 100);
  }

  /** Takes the time the guest wrote into the registers as the new count, keeping the divider phase. */
  private adoptRegisters(now: number): void {
    const sec = this.dec(this.cmos[RTC_SECONDS]);
    const min = this.dec(this.cmos[RTC_MINUTES]);
    const hour = this.decHour(this.cmos[RTC_HOURS]);
    const day = this.dec(this.cmos[RTC_DAY_OF_MONTH]);
    const month = this.dec(this.cmos[RTC_MONTH]);
    const yy = this.dec(this.cmos[RTC_YEAR]);
    const cc = this.dec(this.cmos[RTC_CENTURY]);
    const year = cc >= 19 && cc <= 99 ? cc * 100 + yy : yy >= 70 ? 1900 + yy : 2000 + yy;
    const valid =
      sec < 60 && min < 60 && hour < 24 && yy < 100 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
    if (valid) this.shownSeconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    // else: nonsense time; keep counting from the old value, the bytes stay until the next update.
    // The divider phase is unchanged: the next update still comes at the next boundary.
    this.baseSeconds = this.shownSeconds - this.secondsSinceBase(now);
  }

  private alarmMatches(secs: number): boolean {
    const sod = ((secs % 86400) + 86400) % 86400;
    const want = (reg: number, actual: number) => {
      const a = this.cmos[reg];
      return (a & ALARM_DONT_CARE) === ALARM_DONT_CARE || a === actual;
    };
    return (
      want(RTC_SECONDS_ALARM, this.enc(sod % 60)) &&
      want(RTC_MINUTES_ALARM, this.enc(Math.floor(sod / 60) % 60)) &&
      want(RTC_HOURS_ALARM, this.encHour(Math.floor(sod / 3600)))
    );
  }

  // ---- state -----------------------------------------------------------------------

  saveState(): StateRecord {
    this.catchUp(this.clock.now());
    return RTC_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    RTC_STATE.load(this, state, version);
    this.irq.set(this.irqLevel);
    this.schedule(this.clock.now());
  }
}

const RTC_STATE = declareState('rtc-mc146818', {
  cmos: bytes(128),
  index: int(0, 0x7f),
  nmiMasked: bool,
  /** The clock read baseSeconds (Unix time) at guest time baseNs. */
  baseSeconds: int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  baseNs: real,
  shownSeconds: int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  lastPeriodic: count,
  irqLevel: bool,
});

// ACPI fixed hardware: the PM1a event block (status/enable), the PM1a control block
// and the 24-bit power management timer at 3.579545 MHz (ACPI 6.x, section 4.8).
//
// Ports, from `base` (the FADT built by acpi-tables.ts points here):
//   base+0  PM1a_STS  16-bit, write 1 to clear      base+2  PM1a_EN   16-bit
//   base+4  PM1a_CNT  16-bit (SCI_EN, SLP_TYP, SLP_EN) base+8  PM_TMR   32-bit, read-only
// The SCI is a level-triggered line (IRQ 9 on a PC). The machine starts in ACPI mode
// (SCI_EN set; the FADT has no SMI command port), as virtual machines usually do.

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import type { Timer, VirtualClock } from '../../platform/clock';
import { count, declareState, real, u16 } from '../../platform/state';
import { nsForTicks, ticksIn } from '../common/ticks';

export const PM_TIMER_HZ = 3_579_545;
export const ACPI_PM_DEFAULT_BASE = 0xb000;
/** Length of the port block: event (4) + control (2) + pad (2) + timer (4). */
export const ACPI_PM_PORTS = 12;
/** SLP_TYP value the DSDT's \_S5 package names for soft-off. */
export const ACPI_SLP_TYP_S5 = 5;

// PM1 status / enable bits.
export const PM1_TMR = 1 << 0;
export const PM1_GBL = 1 << 5;
export const PM1_PWRBTN = 1 << 8;
export const PM1_SLPBTN = 1 << 9;
export const PM1_RTC = 1 << 10;
export const PM1_WAK_STS = 1 << 15;
const PM1_STS_MASK = PM1_TMR | (1 << 4) | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC | PM1_WAK_STS;
const PM1_EN_MASK = PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC;
// PM1 control bits.
const PM1_SCI_EN = 1 << 0;
const PM1_CNT_MASK = PM1_SCI_EN | (1 << 1) | (1 << 2) | (7 << 10);
const PM1_SLP_EN = 1 << 13;

/** The timer's carry out of bit 23 sets TMR_STS every 2^23 ticks (about 2.34 s). */
const TMR_STS_PERIOD = 1 << 23;

export interface AcpiPmOptions {
  /** The SCI line. */
  sci: IrqLine;
  /** SLP_EN written with this SLP_TYP (ACPI_SLP_TYP_S5 = power off). */
  onSleep?(slpTyp: number): void;
  /** First port; default 0xB000. */
  base?: number;
}

export class AcpiPm implements Stateful {
  readonly stateName = 'acpi-pm';
  readonly stateVersion = ACPI_PM_STATE.version;
  readonly base: number;

  private sts = 0;
  private en = 0;
  private cnt = PM1_SCI_EN;
  /** Guest time at which the PM timer read 0. */
  private epoch: number;
  /** Carry periods already accounted for in TMR_STS. */
  private carries = 0;
  private sciLevel = false;
  private readonly timer: Timer;

  constructor(private readonly clock: VirtualClock, private readonly options: AcpiPmOptions) {
    const base = options.base ?? ACPI_PM_DEFAULT_BASE;
    if (!Number.isInteger(base) || base < 0 || base + ACPI_PM_PORTS > 0x10000 || base % 4 !== 0)
      throw new RangeError(`acpi-pm: base port ${base} must be 4-aligned and leave room for ${ACPI_PM_PORTS} ports`);
    this.base = base;
    this.epoch = clock.now();
    this.timer = clock.createTimer('acpi pm timer carry', (now) => this.onCarry(now));
  }

  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port, size) => this.read(port - this.base, size),
      write: (port, size, value) => this.write(port - this.base, size, value),
    };
    io.register(this.base, ACPI_PM_PORTS, h, this.stateName);
  }

  /** The 24-bit PM timer value now. */
  timerValue(now = this.clock.now()): number {
    return ticksIn(now - this.epoch, PM_TIMER_HZ) & 0xffffff;
  }

  /** Host "power button": the guest's ACPI driver sees PWRBTN_STS and shuts down (if it listens). */
  pressPowerButton(): void {
    this.sts |= PM1_PWRBTN;
    this.updateSci();
  }

  get sciEnabled(): boolean {
    return (this.cnt & PM1_SCI_EN) !== 0;
  }

  // ---- ports ---------------------------------------------------------------------------

  read(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    // Registers are 16 bits: apply each touched register once, with its bytes merged.
    for (let i = 0; i < size; ) {
      const o = offset + i;
      const reg = o & ~1;
      const lane = o & 1;
      const width = lane === 0 && i + 1 < size ? 2 : 1;
      const bits = ((value >>> (8 * i)) & (width === 2 ? 0xffff : 0xff)) << (8 * lane);
      const touched = (width === 2 ? 0xffff : 0xff) << (8 * lane);
      this.writeRegister(reg, bits, touched);
      i += width;
    }
  }

  private readByte(offset: number): number {
    const reg = offset & ~1;
    const shift = 8 * (offset & 1);
    if (offset >= 8 && offset < 12) return (this.timerValue() >>> (8 * (offset - 8))) & 0xff;
    switch (reg) {
      case 0:
        this.catchUpCarries(this.clock.now());
        return (this.sts >> shift) & 0xff;
      case 2:
        return (this.en >> shift) & 0xff;
      case 4:
        return (this.cnt >> shift) & 0xff;
      default:
        return 0;
    }
  }

  private writeRegister(reg: number, bits: number, touched: number): void {
    this.catchUpCarries(this.clock.now());
    switch (reg) {
      case 0:
        this.sts &= ~(bits & PM1_STS_MASK);
        break;
      case 2:
        this.en = ((this.en & ~touched) | (bits & touched)) & PM1_EN_MASK;
        this.scheduleCarry();
        break;
      case 4:
        this.cnt = ((this.cnt & ~touched) | (bits & touched)) & PM1_CNT_MASK;
        if (bits & PM1_SLP_EN) this.options.onSleep?.((this.cnt >> 10) & 7);
        break;
      default:
        return; // timer and padding are read-only
    }
    this.updateSci();
  }

  // ---- timer carry → TMR_STS ------------------------------------------------------------

  private carryIndex(now: number): number {
    return Math.floor(ticksIn(now - this.epoch, PM_TIMER_HZ) / TMR_STS_PERIOD);
  }

  private catchUpCarries(now: number): void {
    const idx = this.carryIndex(now);
    if (idx > this.carries) {
      this.carries = idx;
      this.sts |= PM1_TMR;
    }
  }

  private onCarry(now: number): void {
    this.catchUpCarries(now);
    this.updateSci();
    this.scheduleCarry();
  }

  private scheduleCarry(): void {
    if (this.en & PM1_TMR) this.timer.setDeadline(this.epoch + nsForTicks((this.carries + 1) * TMR_STS_PERIOD, PM_TIMER_HZ));
    else this.timer.cancel();
  }

  private updateSci(): void {
    const level = (this.cnt & PM1_SCI_EN) !== 0 && (this.sts & this.en) !== 0;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.options.sci.set(level);
    }
  }

  // ---- state ----------------------------------------------------------------------------

  saveState(): StateRecord {
    this.catchUpCarries(this.clock.now());
    return ACPI_PM_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    ACPI_PM_STATE.load(this, state, version);
    this.sts &= PM1_STS_MASK;
    this.en &= PM1_EN_MASK;
    this.cnt &= PM1_CNT_MASK;
    this.sciLevel = (this.cnt & PM1_SCI_EN) !== 0 && (this.sts & this.en) !== 0;
    this.options.sci.set(this.sciLevel);
    this.scheduleCarry();
  }
}

const ACPI_PM_STATE = declareState('acpi-pm', {
  /** PM1 status, enable and control registers. */
  sts: u16, en: u16, cnt: u16,
  /** Guest time (ns) at which the PM timer read 0. */
  epoch: real,
  /** Carry periods already accounted for in TMR_STS. */
  carries: count,
});

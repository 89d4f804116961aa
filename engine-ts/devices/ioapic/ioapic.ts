// Intel 82093AA I/O APIC: 24 interrupt inputs, each with a redirection entry that
// turns a level or an edge into an APIC message for the local APICs.
//
// MMIO (default 0xFEC00000): IOREGSEL at +0x00, IOWIN at +0x10. Registers: 0x00 ID,
// 0x01 version, 0x02 arbitration ID, 0x10 + 2n / 0x11 + 2n redirection entry n (low/high).
// Level-triggered entries set Remote IRR when delivered; the local APIC's EOI broadcast
// (`eoi(vector)`) clears it, and a still-asserted input is delivered again.
//
// Inputs are logical assertion levels (true = the device wants service), so the
// polarity bit is stored for the guest to read back but does not invert anything; the
// board never models electrical active-low wires (QEMU does the same).

import type { AccessSize, IrqLine, MmioSpace, Stateful, StateRecord } from '../../platform/bus';
import type { ApicMessage } from '../common/apic-message';
import { declareState, int, u32Array, u8 } from '../../platform/state';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
const IOAPIC_VERSION = 0x11;

const IOREGSEL = 0x00;
const IOWIN = 0x10;

const REG_ID = 0x00;
const REG_VERSION = 0x01;
const REG_ARB = 0x02;
const REG_REDTBL = 0x10;

// Redirection entry, low dword.
const RTE_DEST_LOGICAL = 1 << 11;
const RTE_DELIVERY_STATUS = 1 << 12; // read-only
const RTE_POLARITY_LOW = 1 << 13;
const RTE_REMOTE_IRR = 1 << 14; // read-only
const RTE_LEVEL = 1 << 15;
const RTE_MASKED = 1 << 16;
const RTE_LOW_WRITABLE = 0xff | (7 << 8) | RTE_DEST_LOGICAL | RTE_POLARITY_LOW | RTE_LEVEL | RTE_MASKED;
const RTE_HIGH_WRITABLE = 0xff000000;

export interface IoApicOptions {
  /** Sends a message to the local APIC(s); the board resolves the destination. */
  deliver(message: ApicMessage): void;
  /** Initial I/O APIC ID (bits 27:24 of register 0). Default 0. */
  id?: number;
}

export class IoApic implements Stateful {
  readonly stateName = 'ioapic';
  readonly stateVersion = IOAPIC_STATE.version;

  private id: number;
  private ioregsel = 0;
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Current input levels, one bit per pin. */
  private levels = 0;
  /** Edges seen but not yet delivered (masked at the time). */
  private pendingEdges = 0;
  private readonly deliverCb: (m: ApicMessage) => void;
  private readonly lines: IrqLine[] = [];

  constructor(options: IoApicOptions) {
    this.deliverCb = options.deliver;
    const id = options.id ?? 0;
    if (!Number.isInteger(id) || id < 0 || id > 15) throw new RangeError(`ioapic: ID ${id} not in 0..15`);
    this.id = id;
    this.low.fill(RTE_MASKED);
    for (let pin = 0; pin < IOAPIC_PINS; pin++) this.lines.push({ set: (level) => this.setIrq(pin, level) });
  }

  register(mmio: MmioSpace, base = IOAPIC_DEFAULT_BASE): void {
    mmio.register(base, 0x1000, { read: (o, s) => this.read(o, s), write: (o, s, v) => this.write(o, s, v) }, this.stateName);
  }

  /** The IrqLine for input `pin` (what the board hands to devices and the PIT/PIC wiring). */
  line(pin: number): IrqLine {
    const l = this.lines[pin];
    if (!l) throw new RangeError(`ioapic: pin ${pin} not in 0..${IOAPIC_PINS - 1}`);
    return l;
  }

  setIrq(pin: number, level: boolean): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) throw new RangeError(`ioapic: pin ${pin} not in 0..${IOAPIC_PINS - 1}`);
    const bit = 1 << pin;
    const was = (this.levels & bit) !== 0;
    if (level) this.levels |= bit;
    else this.levels &= ~bit;
    if (!(this.low[pin] & RTE_LEVEL) && level && !was) this.pendingEdges |= bit;
    this.service(pin);
  }

  /** EOI broadcast from a local APIC for `vector`. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.low[pin];
      if ((lo & RTE_LEVEL) && (lo & RTE_REMOTE_IRR) && (lo & 0xff) === (vector & 0xff)) {
        this.low[pin] = lo & ~RTE_REMOTE_IRR;
        this.service(pin);
      }
    }
  }

  /** Redirection entry of `pin` as (high << 32 | low), for the inspector. */
  entry(pin: number): { low: number; high: number } {
    return { low: this.low[pin], high: this.high[pin] };
  }

  private service(pin: number): void {
    const lo = this.low[pin];
    if (lo & RTE_MASKED) return;
    const bit = 1 << pin;
    if (lo & RTE_LEVEL) {
      if (!(this.levels & bit) || (lo & RTE_REMOTE_IRR)) return;
      this.low[pin] = lo | RTE_REMOTE_IRR;
    } else {
      if (!(this.pendingEdges & bit)) return;
      this.pendingEdges &= ~bit;
    }
    this.deliverCb({
      destination: this.high[pin] >>> 24,
      logical: (lo & RTE_DEST_LOGICAL) !== 0,
      deliveryMode: (lo >> 8) & 7,
      vector: lo & 0xff,
      levelTriggered: (lo & RTE_LEVEL) !== 0,
    });
  }

  // ---- MMIO ----------------------------------------------------------------------------

  read(offset: number, size: AccessSize): number {
    if (offset >= IOREGSEL && offset < IOREGSEL + 4) return (this.ioregsel >>> (8 * (offset - IOREGSEL))) & sizeMask(size);
    if (offset >= IOWIN && offset < IOWIN + 4) return (this.readRegister(this.ioregsel) >>> (8 * (offset - IOWIN))) & sizeMask(size);
    return 0;
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset === IOREGSEL) this.ioregsel = value & 0xff;
    else if (offset === IOWIN && size === 4) this.writeRegister(this.ioregsel, value >>> 0);
  }

  private readRegister(reg: number): number {
    if (reg === REG_ID) return (this.id << 24) >>> 0;
    if (reg === REG_VERSION) return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    if (reg === REG_ARB) return (this.id << 24) >>> 0;
    const pin = (reg - REG_REDTBL) >> 1;
    if (reg >= REG_REDTBL && pin < IOAPIC_PINS) return reg & 1 ? this.high[pin] : this.low[pin];
    return 0;
  }

  private writeRegister(reg: number, value: number): void {
    if (reg === REG_ID) {
      this.id = (value >>> 24) & 0x0f;
      return;
    }
    const pin = (reg - REG_REDTBL) >> 1;
    if (reg < REG_REDTBL || pin >= IOAPIC_PINS) return;
    if (reg & 1) {
      this.high[pin] = (value & RTE_HIGH_WRITABLE) >>> 0;
      return;
    }
    const old = this.low[pin];
    let lo = (old & (RTE_DELIVERY_STATUS | RTE_REMOTE_IRR)) | (value & RTE_LOW_WRITABLE);
    if (!(lo & RTE_LEVEL)) lo &= ~RTE_REMOTE_IRR; // edge entries have no remote IRR
    this.low[pin] = lo >>> 0;
    this.service(pin); // unmasking delivers an asserted level or a held edge
  }

  // ---- state --------------------------------------------------------------------------

  saveState(): StateRecord {
    return IOAPIC_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    IOAPIC_STATE.load(this, state, version);
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      this.low[pin] &= RTE_LOW_WRITABLE | RTE_REMOTE_IRR;
      this.high[pin] &= RTE_HIGH_WRITABLE;
    }
  }
}

function sizeMask(size: AccessSize): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

const IOAPIC_STATE = declareState('ioapic', {
  id: int(0, 15),
  ioregsel: u8,
  /** Redirection table entries, low and high words per pin. */
  low: u32Array(IOAPIC_PINS),
  high: u32Array(IOAPIC_PINS),
  levels: int(0, 2 ** IOAPIC_PINS - 1),
  pendingEdges: int(0, 2 ** IOAPIC_PINS - 1),
});

// Intel 8259A programmable interrupt controllers, cascaded as on a PC/AT: the master at
// ports 0x20-0x21 (IRQ 0-7), the slave at 0xA0-0xA1 (IRQ 8-15) on the master's input 2.
//
// Implemented: ICW1-ICW4 initialisation, IMR (OCW1), EOI / specific EOI / rotations (OCW2),
// IRR/ISR reads, poll command and special mask mode (OCW3), auto-EOI, edge and level
// triggering (per-IRQ through the ELCR that the PIIX ISA bridge exposes at 0x4D0/0x4D1),
// and spurious IRQ 7/15 when a request vanishes before the acknowledge.

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import { bool, declareState, fields, int, u8 } from '../../platform/state';

class Chip {
  irr = 0; // interrupt request register
  isr = 0; // in-service register
  imr = 0xff; // interrupt mask register
  /** Input pin levels (for edge detection and level-triggered requests). */
  lines = 0;
  /** Inputs in level-triggered mode (ELCR). */
  elcr = 0;
  vectorBase = 0;
  /** Lowest-priority IRQ (rotation); priority starts at (lowest + 1) & 7. */
  lowest = 7;
  readIsr = false;
  poll = false;
  specialMask = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  initStep = 0; // 0 = operational, 2..4 = expecting ICW2..ICW4
  needIcw4 = false;
  single = false;
  specialFullyNested = false;

  /** Highest-priority bit set in `mask`, or -1. */
  priorityOf(mask: number): number {
    if (!mask) return -1;
    for (let i = 0; i < 8; i++) {
      const irq = (this.lowest + 1 + i) & 7;
      if (mask & (1 << irq)) return irq;
    }
    return -1;
  }

  /** The IRQ this chip would signal now, or -1. */
  pending(slaveCascade: number): number {
    const req = this.irr & ~this.imr;
    const irq = this.priorityOf(req);
    if (irq < 0) return -1;
    // In-service interrupts of equal or higher priority block it (unless special mask mode).
    let inService = this.specialMask ? this.isr & ~this.imr : this.isr;
    if (this.specialFullyNested && slaveCascade >= 0) inService &= ~(1 << slaveCascade);
    const cur = this.priorityOf(inService);
    if (cur >= 0 && this.rank(cur) <= this.rank(irq)) return -1;
    return irq;
  }

  rank(irq: number): number { return (irq - this.lowest - 1) & 7; }

  setLine(irq: number, level: boolean): void {
    const bit = 1 << irq;
    const was = (this.lines & bit) !== 0;
    if (level) {
      this.lines |= bit;
      if (!was || (this.elcr & bit)) this.irr |= bit; // rising edge, or level held
    } else {
      this.lines &= ~bit;
      if (this.elcr & bit) this.irr &= ~bit; // a level request disappears with its line
    }
  }

  eoi(irq: number): void {
    this.isr &= ~(1 << irq);
  }
}

const CHIP_STATE = fields({
  irr: u8, isr: u8, imr: u8, lines: u8, elcr: u8, vectorBase: u8, lowest: int(0, 7), readIsr: bool, poll: bool,
  specialMask: bool, autoEoi: bool, rotateOnAutoEoi: bool, initStep: int(0, 4), needIcw4: bool, single: bool, specialFullyNested: bool,
}, '8259 chip');

const PIC_STATE = declareState('pic-8259', { master: CHIP_STATE, slave: CHIP_STATE, intr: bool });

export class Pic8259 implements Stateful {
  readonly stateName = 'pic-8259';
  readonly stateVersion = PIC_STATE.version;
  private readonly master = new Chip();
  private readonly slave = new Chip();
  private intr = false;

  /** @param cpuIntr the master's INT output (the CPU's INTR pin). */
  constructor(private readonly cpuIntr: IrqLine) {}

  register(io: IoPorts): void {
    io.register(0x20, 2, this.ports(this.master, true), 'pic-8259 master');
    io.register(0xa0, 2, this.ports(this.slave, false), 'pic-8259 slave');
  }

  /** The input line for ISA IRQ `n` (0-15). */
  irq(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 0 || n > 15 || n === 2) throw new RangeError(`no PIC input for IRQ ${n}`);
    return { set: (level: boolean) => this.setIrq(n, level) };
  }

  setIrq(n: number, level: boolean): void {
    if (n < 8) this.master.setLine(n, level);
    else this.slave.setLine(n - 8, level);
    this.update();
  }

  /** ELCR bits for IRQ 0-15 (1 = level-triggered), as written to ports 0x4D0/0x4D1. */
  setElcr(mask: number): void {
    // IRQ 0, 1, 2, 8 and 13 are always edge-triggered on PIIX.
    const m = mask & ~0x2107;
    this.master.elcr = m & 0xff;
    this.slave.elcr = (m >> 8) & 0xff;
    this.update();
  }
  get elcr(): number { return this.master.elcr | (this.slave.elcr << 8); }

  /** INTA cycle: returns the vector to deliver (and moves the request to in-service). */
  acknowledge(): number {
    const irq = this.master.pending(this.master.single ? -1 : 2);
    if (irq < 0) {
      // The request went away between INTR and INTA: spurious IRQ 7.
      this.update();
      return this.master.vectorBase | 7;
    }
    let vector: number;
    if (irq === 2 && !this.master.single) {
      const sirq = this.slave.pending(-1);
      this.inService(this.master, 2);
      if (sirq < 0) {
        vector = this.slave.vectorBase | 7; // spurious IRQ 15 (master still gets its ISR bit)
      } else {
        this.inService(this.slave, sirq);
        vector = this.slave.vectorBase | sirq;
      }
      this.cascadeLine();
    } else {
      this.inService(this.master, irq);
      vector = this.master.vectorBase | irq;
    }
    this.update();
    return vector;
  }

  private inService(c: Chip, irq: number): void {
    const bit = 1 << irq;
    if (!(c.elcr & bit)) c.irr &= ~bit; // edge requests are consumed; level ones stay while asserted
    if (c.autoEoi) {
      if (c.rotateOnAutoEoi) c.lowest = irq;
    } else c.isr |= bit;
  }

  /** Drive the master's IRQ2 input from the slave's INT output. */
  private cascadeLine(): void {
    const level = this.slave.pending(-1) >= 0;
    const bit = 1 << 2;
    if (level) this.master.irr |= bit;
    else this.master.irr &= ~bit;
    if (level) this.master.lines |= bit; else this.master.lines &= ~bit;
  }

  private update(): void {
    this.cascadeLine();
    const level = this.master.pending(this.master.single ? -1 : 2) >= 0;
    if (level !== this.intr) {
      this.intr = level;
      this.cpuIntr.set(level);
    }
  }

  /** Whether INTR is asserted now. */
  get intrAsserted(): boolean { return this.intr; }

  private ports(c: Chip, isMaster: boolean): PortHandler {
    return {
      read: (port: number, _size: AccessSize) => {
        if (c.poll) {
          c.poll = false;
          const irq = c.pending(isMaster ? 2 : -1);
          if (irq < 0) return 0;
          if (isMaster && irq === 2) {
            // Polling the master for a cascaded request reports IRQ 2.
          }
          c.irr &= c.elcr | ~(1 << irq);
          c.isr |= 1 << irq;
          this.update();
          return 0x80 | irq;
        }
        if (port & 1) return c.imr;
        return c.readIsr ? c.isr : c.irr;
      },
      write: (port: number, _size: AccessSize, value: number) => {
        const v = value & 0xff;
        if (!(port & 1)) {
          if (v & 0x10) {
            // ICW1: start initialisation.
            c.initStep = 2;
            c.needIcw4 = (v & 1) !== 0;
            c.single = (v & 2) !== 0;
            c.imr = 0;
            c.isr = 0;
            c.irr &= c.elcr & c.lines; // edge memory is cleared; asserted level requests remain
            c.lowest = 7;
            c.specialMask = false;
            c.readIsr = false;
            c.autoEoi = false;
            c.rotateOnAutoEoi = false;
            c.specialFullyNested = false;
          } else if (v & 0x08) {
            // OCW3
            if (v & 0x04) c.poll = true;
            if (v & 0x02) c.readIsr = (v & 0x01) !== 0;
            if (v & 0x40) c.specialMask = (v & 0x20) !== 0;
          } else {
            // OCW2
            const cmd = v >> 5;
            switch (cmd) {
              case 0: c.rotateOnAutoEoi = false; break; // clear rotate in auto-EOI
              case 4: c.rotateOnAutoEoi = true; break; // set rotate in auto-EOI
              case 1: case 5: { // non-specific EOI (5: and rotate)
                const irq = c.priorityOf(c.isr);
                if (irq >= 0) { c.eoi(irq); if (cmd === 5) c.lowest = irq; }
                break;
              }
              case 3: c.eoi(v & 7); break; // specific EOI
              case 7: c.eoi(v & 7); c.lowest = v & 7; break; // rotate on specific EOI
              case 6: c.lowest = v & 7; break; // set priority
              default: break; // 2: no operation
            }
          }
        } else if (c.initStep === 2) {
          c.vectorBase = v & 0xf8;
          c.initStep = c.single ? (c.needIcw4 ? 4 : 0) : 3;
        } else if (c.initStep === 3) {
          c.initStep = c.needIcw4 ? 4 : 0; // ICW3 (cascade wiring is fixed on a PC)
        } else if (c.initStep === 4) {
          c.autoEoi = (v & 0x02) !== 0;
          c.specialFullyNested = (v & 0x10) !== 0;
          c.initStep = 0;
        } else {
          c.imr = v; // OCW1
        }
        this.update();
      },
    };
  }

  saveState(): StateRecord {
    return PIC_STATE.save(this);
  }
  loadState(s: StateRecord, version: number): void {
    PIC_STATE.load(this, s, version);
    this.cpuIntr.set(this.intr);
    this.update();
  }
}

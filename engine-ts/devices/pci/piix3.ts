// Intel 82371SB (PIIX3) PCI-to-ISA bridge, function 00:01.0 (8086:7000): the PIRQ
// router (config 0x60-0x63) and the edge/level control registers (ports 0x4D0/0x4D1)
// that tell the 8259 pair which ISA IRQs are level-triggered.

import type { AccessSize, IoPorts, PortHandler } from '../../platform/bus';
import { bool, declareState, list, u16, type DeclaredState } from '../../platform/state';
import { PCI_FUNCTION_FIELDS, PCI_HEADER_MULTIFUNCTION, PciConfigFunction } from '../../platform/pci-function';

export const PIIX3_PIRQRC = 0x60; // PIRQRC[A..D] at 0x60..0x63
const PIRQ_DISABLE = 0x80; // IRQEN# set: not routed
/** ISA IRQs a PIRQ may be steered to. */
const ROUTABLE = new Set([3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15]);
/** ELCR bits that exist (IRQ 0, 1, 2, 8 and 13 are always edge). */
const ELCR_MASK = 0xdef8;

export interface Piix3Options {
  /** Drive ISA IRQ `irq` from the PIRQ router (the board ORs it with any ISA device on that line). */
  routeIrq(irq: number, level: boolean): void;
  /** ELCR changed: bit n set = IRQ n level-triggered. */
  onElcrChange?(elcr: number): void;
}

export class Piix3IsaBridge extends PciConfigFunction {
  private elcrValue = 0;
  private readonly pirqLevels = [false, false, false, false];
  /** What each ISA IRQ is currently driven to by the router. */
  private readonly driven = new Array<boolean>(16).fill(false);
  private readonly opts: Piix3Options;

  constructor(options: Piix3Options) {
    super({
      name: 'piix3-isa',
      vendorId: 0x8086,
      deviceId: 0x7000,
      classCode: 0x060100,
      headerType: PCI_HEADER_MULTIFUNCTION, // IDE and USB are functions 1 and 2
    });
    this.opts = options;
    this.setU16(0x04, 0x0007); // I/O, memory, bus master: always on for the ISA bridge
    this.setU16(0x06, 0x0200);
    this.config[0x4c] = 0x4d; // ISA I/O recovery timer
    this.config[0x4e] = 0x03; // X-bus chip select
    this.config[0x69] = 0x02; // top of memory
    this.config[0x70] = 0x80; // motherboard IRQ routing: disabled
    this.config[0x71] = 0x80;
    this.config[0x76] = 0x0c; // motherboard DMA: disabled
    this.config[0x77] = 0x0c;
    for (const r of [0x4c, 0x4e, 0x4f, 0x69, 0x6a, 0x70, 0x71, 0x76, 0x77, 0x80, 0x82, 0xa0]) this.wmask[r] = 0xff;
    for (let i = 0; i < 4; i++) {
      this.config[PIIX3_PIRQRC + i] = PIRQ_DISABLE;
      this.wmask[PIIX3_PIRQRC + i] = 0x8f;
    }
  }

  /** Registers the ELCR ports. */
  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port) => (port === 0x4d0 ? this.elcrValue & 0xff : this.elcrValue >> 8),
      write: (port, _size, value) => {
        const v = port === 0x4d0 ? (this.elcrValue & 0xff00) | (value & 0xff) : (this.elcrValue & 0xff) | ((value & 0xff) << 8);
        this.setElcr(v);
      },
    };
    io.register(0x4d0, 2, h, this.stateName);
  }

  /** Edge/level control: bit n = 1 means IRQ n is level-triggered. */
  get elcr(): number {
    return this.elcrValue;
  }

  private setElcr(v: number): void {
    v &= ELCR_MASK;
    if (v === this.elcrValue) return;
    this.elcrValue = v;
    this.opts.onElcrChange?.(v);
  }

  /** The ISA IRQ PIRQ `pirq` is routed to, or -1. */
  pirqRoute(pirq: number): number {
    const r = this.config[PIIX3_PIRQRC + (pirq & 3)];
    const irq = r & 0x0f;
    return r & PIRQ_DISABLE || !ROUTABLE.has(irq) ? -1 : irq;
  }

  /** A PIRQ line (from the PCI bus) changed. */
  setPirq(pirq: number, level: boolean): void {
    if (!Number.isInteger(pirq) || pirq < 0 || pirq > 3) throw new RangeError(`piix3: PIRQ ${pirq} not in 0..3`);
    this.pirqLevels[pirq] = level;
    this.route();
  }

  private route(): void {
    const want = new Array<boolean>(16).fill(false);
    for (let p = 0; p < 4; p++) {
      const irq = this.pirqRoute(p);
      if (irq >= 0 && this.pirqLevels[p]) want[irq] = true;
    }
    for (let irq = 0; irq < 16; irq++) {
      if (want[irq] !== this.driven[irq]) {
        this.driven[irq] = want[irq];
        this.opts.routeIrq(irq, want[irq]);
      }
    }
  }

  protected override configWritten(offset: number, size: AccessSize): void {
    if (offset < PIIX3_PIRQRC + 4 && offset + size > PIIX3_PIRQRC) this.route();
  }

  protected override get declaredState(): DeclaredState {
    return PIIX3_STATE;
  }

  protected override afterLoad(): void {
    this.elcrValue &= ELCR_MASK;
    this.route();
  }
}

const PIIX3_STATE = declareState('piix3', {
  ...PCI_FUNCTION_FIELDS,
  /** Edge/level control register (ports 0x4D0-0x4D1). */
  elcrValue: u16,
  /** PIRQA-D input levels. */
  pirqLevels: list(bool, 4, { exact: true }),
});

// PCI bus 0 behind the host bridge's configuration mechanism #1.
//
// Ports 0xCF8-0xCFF: CONFIG_ADDRESS (0xCF8, dword), CONFIG_DATA (0xCFC-0xCFF, any size),
// and the PIIX reset control register at 0xCF9 (byte). The board plugs functions in at
// (device, function); the bus routes their INTx pins onto the four PIRQ lines.

import type { AccessSize, IoPorts, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import { declareState, u32, u8 } from '../../platform/state';
import type { PciBarMapper, PciFunction } from '../../platform/pci-function';
import { PCI_HEADER_MULTIFUNCTION, PCI_HEADER_TYPE } from '../../platform/pci-function';

const CONFIG_ENABLE = 0x80000000;
/** Bits of CONFIG_ADDRESS that hold something: enable, bus, device, function, register. */
const CONFIG_ADDRESS_MASK = 0x80fffffc;
const RCR_SYS_RESET = 0x02;
const RCR_RESET_CPU = 0x04;

/** QEMU/SeaBIOS i440FX wiring: slot s pin p (1 = INTA) drives PIRQ (s - 1 + p - 1) mod 4. */
export function i440fxSwizzle(device: number, pin: number): number {
  return (device + pin - 2 + 4) & 3;
}

export interface PciBusOptions {
  mapper: PciBarMapper;
  /** A PIRQ line (0..3 = PIRQA..PIRQD) changed level. */
  setPirq(pirq: number, level: boolean): void;
  /** Which PIRQ a device's INTx pin is wired to. Defaults to `i440fxSwizzle`. */
  swizzle?(device: number, pin: number): number;
  /** Write of RCR bit 2 at 0xCF9 (ACPI reset register on PIIX). */
  requestReset?(): void;
  /** A guest misprogrammed something (BAR overlap); for the log. */
  warn?(message: string): void;
}

interface Slot {
  fn: PciFunction;
  device: number;
  func: number;
  intx: boolean;
}

export class PciBus implements Stateful {
  readonly stateName = 'pci-bus';
  readonly stateVersion = PCI_BUS_STATE.version;

  private address = 0;
  private rcr = 0;
  private readonly slots = new Map<number, Slot>(); // key: devfn
  private readonly pirqCount = [0, 0, 0, 0];
  private readonly options: PciBusOptions;

  constructor(options: PciBusOptions) {
    this.options = options;
  }

  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port, size) => this.readPort(port, size),
      write: (port, size, value) => this.writePort(port, size, value),
    };
    io.register(0xcf8, 8, h, this.stateName);
  }

  /** Plugs a function in at bus 0, `device` 0..31, `func` 0..7. */
  addFunction(device: number, func: number, fn: PciFunction): void {
    if (!Number.isInteger(device) || device < 0 || device > 31) throw new RangeError(`pci: device number ${device} not in 0..31`);
    if (!Number.isInteger(func) || func < 0 || func > 7) throw new RangeError(`pci: function number ${func} not in 0..7`);
    const devfn = (device << 3) | func;
    if (this.slots.has(devfn)) throw new Error(`pci: ${device}.${func} already holds ${this.slots.get(devfn)!.fn.name}`);
    const slot: Slot = { fn, device, func, intx: false };
    this.slots.set(devfn, slot);
    fn.attach({
      device,
      func,
      mapper: this.options.mapper,
      setIntx: (level) => this.setIntx(slot, level),
      warn: (m) => this.options.warn?.(m),
    });
  }

  /** The function at device.func, if any (for the board and the inspector). */
  getFunction(device: number, func: number): PciFunction | undefined {
    return this.slots.get(((device & 31) << 3) | (func & 7))?.fn;
  }

  // ---- configuration mechanism #1 --------------------------------------------------

  readPort(port: number, size: AccessSize): number {
    if (port >= 0xcfc) return this.readData(port - 0xcfc, size);
    if (port === 0xcf8 && size === 4) return this.address >>> 0;
    if (port === 0xcf9 && size === 1) return this.rcr;
    // Other narrow accesses to 0xCF8-0xCFB: show the byte(s) of CONFIG_ADDRESS.
    return (this.address >>> (8 * (port - 0xcf8))) & (size === 1 ? 0xff : 0xffff);
  }

  writePort(port: number, size: AccessSize, value: number): void {
    if (port >= 0xcfc) {
      this.writeData(port - 0xcfc, size, value);
    } else if (port === 0xcf8 && size === 4) {
      this.address = (value & CONFIG_ADDRESS_MASK) >>> 0;
    } else if (port === 0xcf9 && size === 1) {
      const pulse = (value & RCR_RESET_CPU) !== 0 && (this.rcr & RCR_RESET_CPU) === 0;
      this.rcr = value & RCR_SYS_RESET; // the reset bit itself does not stick
      if (pulse) this.options.requestReset?.();
    }
    // Byte/word writes elsewhere in 0xCF8-0xCFB (Linux's type 1 probe pokes 0xCFB) are ignored.
  }

  /** The addressed function, honouring "function 0 must exist" and the multifunction bit. */
  private target(): Slot | undefined {
    if (!(this.address & CONFIG_ENABLE)) return undefined;
    if ((this.address >> 16) & 0xff) return undefined; // only bus 0 exists
    const devfn = (this.address >> 8) & 0xff;
    const slot = this.slots.get(devfn);
    if (!slot) return undefined;
    if (slot.func !== 0) {
      const f0 = this.slots.get(devfn & ~7);
      if (!f0 || !(f0.fn.readConfig(PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTIFUNCTION)) return undefined;
    }
    return slot;
  }

  private readData(byteInDword: number, size: AccessSize): number {
    const slot = this.target();
    const ones = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    if (!slot) return ones; // master abort
    const offset = (this.address & 0xfc) + byteInDword;
    return slot.fn.readConfig(offset, size) >>> 0;
  }

  private writeData(byteInDword: number, size: AccessSize, value: number): void {
    const slot = this.target();
    if (!slot) return;
    const offset = (this.address & 0xfc) + byteInDword;
    slot.fn.writeConfig(offset, size, value);
  }

  // ---- interrupts ----------------------------------------------------------------------

  private setIntx(slot: Slot, level: boolean): void {
    if (slot.intx === level) return;
    slot.intx = level;
    const pin = slot.fn.interruptPin;
    if (pin < 1 || pin > 4) return;
    const pirq = (this.options.swizzle ?? i440fxSwizzle)(slot.device, pin) & 3;
    const before = this.pirqCount[pirq] > 0;
    this.pirqCount[pirq] += level ? 1 : -1;
    const after = this.pirqCount[pirq] > 0;
    if (before !== after) this.options.setPirq(pirq, after);
  }

  /** Current level of PIRQA..PIRQD (wire-OR of every function routed there). */
  pirqLevel(pirq: number): boolean {
    return (this.pirqCount[pirq & 3] ?? 0) > 0;
  }

  // ---- state ---------------------------------------------------------------------------
  // Functions save their own configuration space; the bus only holds the address latch.

  saveState(): StateRecord {
    return PCI_BUS_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    PCI_BUS_STATE.load(this, state, version);
    this.address = (this.address & CONFIG_ADDRESS_MASK) >>> 0;
    this.rcr &= RCR_SYS_RESET;
  }
}

const PCI_BUS_STATE = declareState('pci-bus', {
  /** CONFIG_ADDRESS (port 0xCF8). */
  address: u32,
  /** Reset control register (port 0xCF9). */
  rcr: u8,
});

// Intel 82441FX (i440FX) PCI and memory controller, function 00:00.0 (8086:1237).
// Only what firmware touches: the PAM registers that make the BIOS areas below 1 MiB
// read from RAM or ROM and accept or drop writes, and the SMRAM register.

import type { AccessSize } from '../../platform/bus';
import { PciConfigFunction } from '../../platform/pci-function';

/** PAM0 (0x59) high nibble covers 0xF0000; PAM1..PAM6 cover 0xC0000..0xEFFFF in 16 KiB halves. */
export const I440FX_PAM0 = 0x59;
const PAM_COUNT = 7;
export const I440FX_SMRAM = 0x72;

/** One PAM-controlled region and how it behaves. */
export interface PamRegion {
  base: number;
  size: number;
  /** Reads come from RAM (else from ROM / the PCI bus). */
  readRam: boolean;
  /** Writes go to RAM (else they are dropped or go to the bus). */
  writeRam: boolean;
}

/** The 13 regions PAM0..PAM6 control, decoded from their register values. */
export function decodePam(pam: ArrayLike<number>): PamRegion[] {
  const out: PamRegion[] = [];
  const field = (reg: number, high: boolean) => (pam[reg] >> (high ? 4 : 0)) & 3;
  const f0 = field(0, true);
  out.push({ base: 0xf0000, size: 0x10000, readRam: (f0 & 1) !== 0, writeRam: (f0 & 2) !== 0 });
  for (let i = 1; i < PAM_COUNT; i++) {
    for (const high of [false, true]) {
      const f = field(i, high);
      const base = 0xc0000 + (i - 1) * 0x8000 + (high ? 0x4000 : 0);
      out.push({ base, size: 0x4000, readRam: (f & 1) !== 0, writeRam: (f & 2) !== 0 });
    }
  }
  return out;
}

export interface I440fxOptions {
  /** Called with every region after a PAM register changes, so the board can remap low memory. */
  onPamChange?(regions: PamRegion[]): void;
}

export class I440fxHostBridge extends PciConfigFunction {
  private readonly onPamChange?: (regions: PamRegion[]) => void;

  constructor(options: I440fxOptions = {}) {
    super({ name: 'i440fx', vendorId: 0x8086, deviceId: 0x1237, classCode: 0x060000, revision: 0x02 });
    this.onPamChange = options.onPamChange;
    // The host bridge always decodes memory and is a bus master.
    this.setU16(0x04, 0x0006);
    this.setU16(0x06, 0x0280); // fast back-to-back capable, medium DEVSEL
    for (let i = 0; i < PAM_COUNT; i++) this.wmask[I440FX_PAM0 + i] = i === 0 ? 0x30 : 0x33;
    this.config[I440FX_SMRAM] = 0x02;
    this.wmask[I440FX_SMRAM] = 0x78; // D_OPEN, D_CLS, D_LCK, G_SMRAME; C_BASE_SEG is fixed
  }

  /** PAM0..PAM6 register values. */
  get pam(): number[] {
    return Array.from(this.config.subarray(I440FX_PAM0, I440FX_PAM0 + PAM_COUNT));
  }

  get pamRegions(): PamRegion[] {
    return decodePam(this.pam);
  }

  protected override configWritten(offset: number, size: AccessSize): void {
    if (offset < I440FX_PAM0 + PAM_COUNT && offset + size > I440FX_PAM0) this.onPamChange?.(this.pamRegions);
  }
}

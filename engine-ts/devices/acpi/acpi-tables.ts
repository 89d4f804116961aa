// Builds the ACPI tables for a machine, laid out for a given guest-physical address:
// RSDP (ACPI 1.0 form, pointing at the RSDT), FACS, RSDT, FADT (revision 3), DSDT and
// MADT. A pure function: the board copies the bytes into RAM (for example at 0xE0000,
// where Linux's RSDP scan looks, or anywhere with boot_params.acpi_rsdp_addr).
//
// The DSDT holds \_S5 (soft-off through PM1a_CNT) and, if the board lists PCI interrupt
// routes, \_SB.PCI0 with _HID PNP0A03, bus/IO/memory windows and a static _PRT that
// names GSIs directly. Give those GSIs the same number in PIC and APIC mode (route PIRQs
// to ISA IRQs 5-15 and wire the same I/O APIC pins), so one _PRT serves both.

import * as aml from './aml';
import { ACPI_PM_DEFAULT_BASE, ACPI_SLP_TYP_S5 } from './acpi-pm';

export interface AcpiPciRoute {
  /** PCI device (slot) number on bus 0. */
  device: number;
  /** 0..3 = INTA..INTD */
  pin: number;
  gsi: number;
}

export interface AcpiConfig {
  /** Local APIC IDs, one per vCPU (ACPI processor UID = index). */
  apicIds: number[];
  ioapic: { id: number; address: number; gsiBase: number };
  lapicAddress?: number;
  /** SCI interrupt (ISA IRQ / GSI). Default 9. */
  sciIrq?: number;
  /** First port of the ACPI PM block (see acpi-pm.ts). Default 0xB000. */
  pmBase?: number;
  /** FADT RESET_REG: an I/O port and the value to write. Default 0xCF9 / 0x06 (PIIX). */
  reset?: { port: number; value: number } | null;
  /** PCI interrupt routes for the DSDT's _PRT; omit to leave PCI0 out of the DSDT. */
  pciRoutes?: AcpiPciRoute[];
  /** First address of the PCI memory window (top of RAM below 4 GiB). Needed with pciRoutes. */
  pciMemoryStart?: number;
  /** End (inclusive) of the PCI memory window. Default 0xFEBFFFFF (below the I/O APIC). */
  pciMemoryEnd?: number;
}

export interface AcpiTables {
  bytes: Uint8Array;
  /** Guest-physical address of each table, by signature ("RSD PTR ", "FACS", "RSDT", "FACP", "DSDT", "APIC"). */
  addresses: Record<string, number>;
}

const OEM_ID = 'PVLAB ';
const OEM_TABLE_ID = 'PVLABVM ';
const CREATOR_ID = 'PVLB';
const HEADER = 36;

// FADT flags (ACPI 6.x, table 5.10).
const FADT_WBINVD = 1 << 0;
const FADT_PROC_C1 = 1 << 2;
const FADT_SLP_BUTTON = 1 << 5; // no fixed sleep button
const FADT_RESET_REG_SUP = 1 << 10;
// IA-PC boot architecture flags.
const BOOT_LEGACY_DEVICES = 1 << 0;
const BOOT_8042 = 1 << 1;
const BOOT_MSI_NOT_SUPPORTED = 1 << 3;

// MADT interrupt source override flags.
const MPS_POLARITY_HIGH = 0x1;
const MPS_TRIGGER_LEVEL = 0xc;

class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(off: number, v: number) {
    this.view.setUint8(off, v);
  }
  u16(off: number, v: number) {
    this.view.setUint16(off, v, true);
  }
  u32(off: number, v: number) {
    this.view.setUint32(off, v >>> 0, true);
  }
  u64(off: number, v: number) {
    this.view.setUint32(off, v >>> 0, true);
    this.view.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
  }
  str(off: number, s: string) {
    for (let i = 0; i < s.length; i++) this.bytes[off + i] = s.charCodeAt(i);
  }
  raw(off: number, b: ArrayLike<number>) {
    this.bytes.set(b, off);
  }
  /** Generic Address Structure: system I/O space. */
  gasIo(off: number, port: number, bitWidth: number, accessSize: number) {
    this.u8(off, 1);
    this.u8(off + 1, bitWidth);
    this.u8(off + 2, 0);
    this.u8(off + 3, accessSize);
    this.u64(off + 4, port);
  }
  /** Sets the byte at `at` so bytes [off, off+len) sum to 0 mod 256. */
  checksum(off: number, len: number, at: number) {
    this.bytes[at] = 0;
    let sum = 0;
    for (let i = off; i < off + len; i++) sum += this.bytes[i];
    this.bytes[at] = (256 - (sum & 0xff)) & 0xff;
  }
  header(off: number, sig: string, length: number, revision: number) {
    this.str(off, sig);
    this.u32(off + 4, length);
    this.u8(off + 8, revision);
    this.str(off + 10, OEM_ID);
    this.str(off + 16, OEM_TABLE_ID);
    this.u32(off + 24, 1);
    this.str(off + 28, CREATOR_ID);
    this.u32(off + 32, 1);
  }
}

const align = (v: number, a: number) => Math.ceil(v / a) * a;

function checkConfig(address: number, cfg: AcpiConfig): void {
  if (!Number.isInteger(address) || address < 0 || address % 16 !== 0) throw new RangeError(`acpi: table address ${address} must be a 16-byte aligned integer`);
  if (!Array.isArray(cfg.apicIds) || cfg.apicIds.length < 1 || cfg.apicIds.length > 255) throw new RangeError('acpi: need 1..255 local APIC IDs');
  for (const id of cfg.apicIds) if (!Number.isInteger(id) || id < 0 || id > 254) throw new RangeError(`acpi: APIC ID ${id} not in 0..254`);
  if (new Set(cfg.apicIds).size !== cfg.apicIds.length) throw new RangeError('acpi: APIC IDs must be distinct');
  const io = cfg.ioapic;
  if (!Number.isInteger(io.id) || io.id < 0 || io.id > 15) throw new RangeError(`acpi: I/O APIC ID ${io.id} not in 0..15`);
  for (const r of cfg.pciRoutes ?? []) {
    if (!Number.isInteger(r.device) || r.device < 0 || r.device > 31) throw new RangeError(`acpi: PCI device ${r.device} not in 0..31`);
    if (!Number.isInteger(r.pin) || r.pin < 0 || r.pin > 3) throw new RangeError(`acpi: PCI pin ${r.pin} not in 0..3`);
    if (!Number.isInteger(r.gsi) || r.gsi < 0 || r.gsi > 255) throw new RangeError(`acpi: GSI ${r.gsi} out of range`);
  }
  if (cfg.pciRoutes && (cfg.pciMemoryStart === undefined || cfg.pciMemoryStart % 0x100000 !== 0))
    throw new RangeError('acpi: pciMemoryStart (MiB-aligned) is needed with pciRoutes');
}

function buildDsdtBody(cfg: AcpiConfig): number[] {
  const terms: number[][] = [];
  // \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved.
  terms.push(aml.name('_S5', aml.pkg([aml.integer(ACPI_SLP_TYP_S5), aml.integer(ACPI_SLP_TYP_S5), aml.integer(0), aml.integer(0)])));
  if (cfg.pciRoutes) {
    const memEnd = cfg.pciMemoryEnd ?? 0xfebfffff;
    const crs = [
      ...aml.wordBusNumber(0, 0xff),
      ...aml.ioPort(0xcf8, 8),
      ...aml.wordIo(0x0000, 0x0cf7),
      ...aml.wordIo(0x0d00, 0xffff),
      ...aml.dwordMemory(0x000a0000, 0x000bffff, false),
      ...aml.dwordMemory(cfg.pciMemoryStart!, memEnd, false),
      ...aml.endTag(),
    ];
    const prt = cfg.pciRoutes.map((r) => aml.pkg([aml.integer(((r.device << 16) | 0xffff) >>> 0), aml.integer(r.pin), aml.integer(0), aml.integer(r.gsi)]));
    terms.push(
      aml.scope('\\_SB', [
        aml.device('PCI0', [
          aml.name('_HID', aml.integer(aml.eisaId('PNP0A03'))),
          aml.name('_ADR', aml.integer(0)),
          aml.name('_UID', aml.integer(0)),
          aml.name('_CRS', aml.buffer(crs)),
          aml.name('_PRT', aml.pkg(prt)),
        ]),
      ]),
    );
  }
  return terms.flat();
}

/** Lays out every table starting at guest-physical `address`. */
export function buildAcpiTables(address: number, cfg: AcpiConfig): AcpiTables {
  checkConfig(address, cfg);
  const pmBase = cfg.pmBase ?? ACPI_PM_DEFAULT_BASE;
  const sci = cfg.sciIrq ?? 9;
  const reset = cfg.reset === undefined ? { port: 0xcf9, value: 0x06 } : cfg.reset;
  const dsdtBody = buildDsdtBody(cfg);

  const madtEntries = cfg.apicIds.length * 8 + 12 + 2 * 10 + 6;
  const sizes = { rsdp: 20, facs: 64, rsdt: HEADER + 2 * 4, fadt: 244, dsdt: HEADER + dsdtBody.length, madt: HEADER + 8 + madtEntries };
  const off = { rsdp: 0, facs: align(address + 20, 64) - address, rsdt: 0, fadt: 0, dsdt: 0, madt: 0 };
  off.rsdt = align(off.facs + sizes.facs, 16);
  off.fadt = align(off.rsdt + sizes.rsdt, 16);
  off.dsdt = align(off.fadt + sizes.fadt, 16);
  off.madt = align(off.dsdt + sizes.dsdt, 16);
  const total = align(off.madt + sizes.madt, 16);
  if (address + total > 2 ** 32) throw new RangeError('acpi: tables would cross 4 GiB');
  const at = (o: number) => address + o;
  const w = new Writer(total);

  // RSDP, ACPI 1.0 form (revision 0): checksum over its 20 bytes.
  w.str(off.rsdp, 'RSD PTR ');
  w.str(off.rsdp + 9, OEM_ID);
  w.u8(off.rsdp + 15, 0);
  w.u32(off.rsdp + 16, at(off.rsdt));
  w.checksum(off.rsdp, 20, off.rsdp + 8);

  // FACS: no checksum; 64-byte aligned.
  w.str(off.facs, 'FACS');
  w.u32(off.facs + 4, 64);
  w.u8(off.facs + 32, 1); // version

  // RSDT: FADT and MADT.
  w.header(off.rsdt, 'RSDT', sizes.rsdt, 1);
  w.u32(off.rsdt + HEADER, at(off.fadt));
  w.u32(off.rsdt + HEADER + 4, at(off.madt));
  w.checksum(off.rsdt, sizes.rsdt, off.rsdt + 9);

  // FADT revision 3 (ACPI 2.0 layout, 244 bytes).
  const f = off.fadt;
  w.header(f, 'FACP', sizes.fadt, 3);
  w.u32(f + 36, at(off.facs));
  w.u32(f + 40, at(off.dsdt));
  w.u16(f + 46, sci);
  w.u32(f + 48, 0); // SMI_CMD: none, the machine is always in ACPI mode
  w.u32(f + 56, pmBase); // PM1a_EVT_BLK
  w.u32(f + 64, pmBase + 4); // PM1a_CNT_BLK
  w.u32(f + 76, pmBase + 8); // PM_TMR_BLK
  w.u8(f + 88, 4); // PM1_EVT_LEN
  w.u8(f + 89, 2); // PM1_CNT_LEN
  w.u8(f + 91, 4); // PM_TMR_LEN
  w.u16(f + 96, 101); // P_LVL2_LAT > 100: no C2
  w.u16(f + 98, 1001); // P_LVL3_LAT > 1000: no C3
  w.u8(f + 108, 0x32); // CENTURY: CMOS index of the century byte
  w.u16(f + 109, BOOT_LEGACY_DEVICES | BOOT_8042 | BOOT_MSI_NOT_SUPPORTED);
  w.u32(f + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | (reset ? FADT_RESET_REG_SUP : 0));
  if (reset) {
    w.gasIo(f + 116, reset.port, 8, 1);
    w.u8(f + 128, reset.value);
  }
  w.u64(f + 132, at(off.facs)); // X_FIRMWARE_CTRL
  w.u64(f + 140, at(off.dsdt)); // X_DSDT
  w.gasIo(f + 148, pmBase, 32, 0); // X_PM1a_EVT_BLK
  w.gasIo(f + 172, pmBase + 4, 16, 0); // X_PM1a_CNT_BLK
  w.gasIo(f + 208, pmBase + 8, 32, 0); // X_PM_TMR_BLK
  w.checksum(f, sizes.fadt, f + 9);

  // DSDT.
  w.header(off.dsdt, 'DSDT', sizes.dsdt, 2);
  w.raw(off.dsdt + HEADER, dsdtBody);
  w.checksum(off.dsdt, sizes.dsdt, off.dsdt + 9);

  // MADT.
  const m = off.madt;
  w.header(m, 'APIC', sizes.madt, 1);
  w.u32(m + 36, cfg.lapicAddress ?? 0xfee00000);
  w.u32(m + 40, 1); // PCAT_COMPAT: dual 8259s present
  let e = m + 44;
  cfg.apicIds.forEach((id, uid) => {
    w.u8(e, 0); // processor local APIC
    w.u8(e + 1, 8);
    w.u8(e + 2, uid);
    w.u8(e + 3, id);
    w.u32(e + 4, 1); // enabled
    e += 8;
  });
  w.u8(e, 1); // I/O APIC
  w.u8(e + 1, 12);
  w.u8(e + 2, cfg.ioapic.id);
  w.u32(e + 4, cfg.ioapic.address);
  w.u32(e + 8, cfg.ioapic.gsiBase);
  e += 12;
  const override = (irq: number, gsi: number, flags: number) => {
    w.u8(e, 2);
    w.u8(e + 1, 10);
    w.u8(e + 2, 0); // ISA
    w.u8(e + 3, irq);
    w.u32(e + 4, gsi);
    w.u16(e + 8, flags);
    e += 10;
  };
  override(0, 2, 0); // the PIT's IRQ0 is wired to I/O APIC pin 2
  override(sci, sci, MPS_POLARITY_HIGH | MPS_TRIGGER_LEVEL);
  w.u8(e, 4); // local APIC NMI: LINT1 on every processor
  w.u8(e + 1, 6);
  w.u8(e + 2, 0xff);
  w.u16(e + 3, 0);
  w.u8(e + 5, 1);
  e += 6;
  w.checksum(m, sizes.madt, m + 9);

  return {
    bytes: w.bytes,
    addresses: { 'RSD PTR ': at(off.rsdp), FACS: at(off.facs), RSDT: at(off.rsdt), FACP: at(off.fadt), DSDT: at(off.dsdt), APIC: at(off.madt) },
  };
}

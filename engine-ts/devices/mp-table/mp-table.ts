// Builds an Intel MultiProcessor Specification 1.4 table: the MP floating pointer
// structure followed by the configuration table (processors, buses, I/O APIC, I/O and
// local interrupt assignments). The alternative to ACPI for finding CPUs and APICs
// (Linux with acpi=off). A pure function; the board copies the bytes to an address the
// OS scans: the first KiB of the EBDA, the last KiB of base memory, or 0xF0000-0xFFFFF.

export interface MpPciInterrupt {
  /** PCI device number on bus 0. */
  device: number;
  /** 0..3 = INTA..INTD */
  pin: number;
  /** I/O APIC input it is wired to. */
  ioapicPin: number;
}

export interface MpConfig {
  /** Local APIC IDs; the first is the bootstrap processor. */
  apicIds: number[];
  lapicAddress?: number;
  lapicVersion?: number;
  /** CPUID.1 EAX (family/model/stepping) and EDX (feature flags) for the processor entries. */
  cpuSignature: number;
  cpuFeatures: number;
  ioapic: { id: number; version?: number; address: number };
  /** ISA IRQs 0..15 are wired to the pins of the same number except IRQ0, which goes to pin 2. */
  pciInterrupts?: MpPciInterrupt[];
}

export interface MpTable {
  bytes: Uint8Array;
  /** Address of the floating pointer (the start) and of the configuration table. */
  floatingPointer: number;
  configTable: number;
}

const PCI_BUS = 0;
const ISA_BUS = 1;

// Entry types.
const MP_PROCESSOR = 0;
const MP_BUS = 1;
const MP_IOAPIC = 2;
const MP_INTSRC = 3;
const MP_LINTSRC = 4;
// Interrupt types.
const MP_INT = 0;
const MP_NMI = 1;
const MP_EXTINT = 3;

function validate(address: number, cfg: MpConfig): void {
  if (!Number.isInteger(address) || address < 0 || address % 16 !== 0) throw new RangeError(`mp-table: address ${address} must be 16-byte aligned`);
  if (!Array.isArray(cfg.apicIds) || cfg.apicIds.length < 1 || cfg.apicIds.length > 255) throw new RangeError('mp-table: need 1..255 local APIC IDs');
  for (const id of cfg.apicIds) if (!Number.isInteger(id) || id < 0 || id > 254) throw new RangeError(`mp-table: APIC ID ${id} not in 0..254`);
  if (!Number.isInteger(cfg.ioapic.id) || cfg.ioapic.id < 0 || cfg.ioapic.id > 254) throw new RangeError(`mp-table: I/O APIC ID ${cfg.ioapic.id} invalid`);
  for (const p of cfg.pciInterrupts ?? []) {
    if (!Number.isInteger(p.device) || p.device < 0 || p.device > 31) throw new RangeError(`mp-table: PCI device ${p.device} not in 0..31`);
    if (!Number.isInteger(p.pin) || p.pin < 0 || p.pin > 3) throw new RangeError(`mp-table: PCI pin ${p.pin} not in 0..3`);
    if (!Number.isInteger(p.ioapicPin) || p.ioapicPin < 0 || p.ioapicPin > 255) throw new RangeError(`mp-table: I/O APIC pin ${p.ioapicPin} invalid`);
  }
}

export function buildMpTable(address: number, cfg: MpConfig): MpTable {
  validate(address, cfg);
  const entries: number[][] = [];
  const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
  const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const ascii = (s: string, n: number) => Array.from(s.padEnd(n, ' ').slice(0, n), (c) => c.charCodeAt(0));

  cfg.apicIds.forEach((id, i) => {
    const flags = 1 | (i === 0 ? 2 : 0); // enabled, bootstrap processor
    entries.push([MP_PROCESSOR, id, cfg.lapicVersion ?? 0x14, flags, ...le32(cfg.cpuSignature), ...le32(cfg.cpuFeatures), ...new Array(8).fill(0)]);
  });
  entries.push([MP_BUS, PCI_BUS, ...ascii('PCI', 6)]);
  entries.push([MP_BUS, ISA_BUS, ...ascii('ISA', 6)]);
  entries.push([MP_IOAPIC, cfg.ioapic.id, cfg.ioapic.version ?? 0x11, 1, ...le32(cfg.ioapic.address)]);
  const intsrc = (type: number, bus: number, irq: number, pin: number) =>
    entries.push([MP_INTSRC, type, ...le16(0), bus, irq, cfg.ioapic.id, pin]); // flags 0: conform to the bus
  intsrc(MP_EXTINT, ISA_BUS, 0, 0); // the 8259 on pin 0 (virtual wire through the I/O APIC)
  for (let irq = 0; irq < 16; irq++) if (irq !== 2) intsrc(MP_INT, ISA_BUS, irq, irq === 0 ? 2 : irq);
  for (const p of cfg.pciInterrupts ?? []) intsrc(MP_INT, PCI_BUS, (p.device << 2) | p.pin, p.ioapicPin);
  entries.push([MP_LINTSRC, MP_EXTINT, ...le16(0), ISA_BUS, 0, 0xff, 0]);
  entries.push([MP_LINTSRC, MP_NMI, ...le16(0), ISA_BUS, 0, 0xff, 1]);

  const body = entries.flat();
  const configLength = 44 + body.length;
  const bytes = new Uint8Array(16 + configLength);
  const configAt = address + 16;
  if (configAt + configLength > 2 ** 32) throw new RangeError('mp-table: table would cross 4 GiB');

  // Floating pointer.
  bytes.set(ascii('_MP_', 4), 0);
  bytes.set(le32(configAt), 4);
  bytes[8] = 1; // length in 16-byte units
  bytes[9] = 4; // spec revision 1.4
  // bytes[11] = 0: a configuration table is present; bytes[12] bit 7 = 0: virtual wire mode, no IMCR
  bytes[10] = checksum(bytes, 0, 16);

  // Configuration table header.
  const c = 16;
  bytes.set(ascii('PCMP', 4), c);
  bytes.set(le16(configLength), c + 4);
  bytes[c + 6] = 4;
  bytes.set(ascii('PVLAB', 8), c + 8);
  bytes.set(ascii('PVLAB VM', 12), c + 16);
  bytes.set(le16(entries.length), c + 34);
  bytes.set(le32(cfg.lapicAddress ?? 0xfee00000), c + 36);
  bytes.set(body, c + 44);
  bytes[c + 7] = checksum(bytes, c, configLength);
  return { bytes, floatingPointer: address, configTable: configAt };
}

/** The byte that makes [off, off+len) sum to zero (the slot itself must hold 0). */
function checksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = off; i < off + len; i++) sum += b[i];
  return (256 - (sum & 0xff)) & 0xff;
}

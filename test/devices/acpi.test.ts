import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../engine-ts/platform/clock';
import { buildAcpiTables, type AcpiConfig } from '../../engine-ts/devices/acpi/acpi-tables';
import { ACPI_SLP_TYP_S5, AcpiPm, PM_TIMER_HZ } from '../../engine-ts/devices/acpi/acpi-pm';
import { eisaId, pkgLength } from '../../engine-ts/devices/acpi/aml';
import { PIT_HZ, Pit8254 } from '../../engine-ts/devices/pit-8254/pit-8254';
import { RecordingIrq, TestPorts, runFor } from './helpers';

const BASE = 0xe0000;

// ---- a reader for what we wrote, the way an OS would walk it ----------------------------

class Mem {
  constructor(readonly bytes: Uint8Array, readonly base: number) {}
  private o(addr: number) {
    const off = addr - this.base;
    if (off < 0 || off >= this.bytes.length) throw new Error(`address 0x${addr.toString(16)} outside the tables`);
    return off;
  }
  u8(a: number) {
    return this.bytes[this.o(a)];
  }
  u16(a: number) {
    return this.u8(a) | (this.u8(a + 1) << 8);
  }
  u32(a: number) {
    return (this.u16(a) | (this.u16(a + 2) << 16)) >>> 0;
  }
  str(a: number, n: number) {
    return String.fromCharCode(...this.bytes.subarray(this.o(a), this.o(a) + n));
  }
  sum(a: number, n: number) {
    let s = 0;
    for (let i = 0; i < n; i++) s += this.u8(a + i);
    return s & 0xff;
  }
}

function findRsdp(mem: Mem): number {
  for (let a = mem.base; a < mem.base + mem.bytes.length; a += 16) if (mem.str(a, 8) === 'RSD PTR ') return a;
  throw new Error('no RSDP');
}

function tablesBySignature(mem: Mem) {
  const rsdp = findRsdp(mem);
  expect(mem.sum(rsdp, 20)).toBe(0);
  expect(mem.u8(rsdp + 15)).toBe(0); // ACPI 1.0 RSDP
  const rsdt = mem.u32(rsdp + 16);
  expect(mem.str(rsdt, 4)).toBe('RSDT');
  const len = mem.u32(rsdt + 4);
  expect(mem.sum(rsdt, len)).toBe(0);
  const out: Record<string, number> = {};
  for (let p = rsdt + 36; p < rsdt + len; p += 4) {
    const t = mem.u32(p);
    const sig = mem.str(t, 4);
    expect(mem.sum(t, mem.u32(t + 4)), `${sig} checksum`).toBe(0);
    out[sig] = t;
  }
  return out;
}

type AmlNode = { op: string; name?: string; value?: unknown; children?: AmlNode[] };

/** Decodes the subset of AML the builder emits; throws on anything else. */
function parseAml(b: Uint8Array): AmlNode[] {
  let i = 0;
  const pkgLen = () => {
    const lead = b[i++];
    const extra = lead >> 6;
    let len = extra === 0 ? lead & 0x3f : lead & 0x0f;
    for (let k = 0; k < extra; k++) len |= b[i++] << (4 + 8 * k);
    return len;
  };
  const seg = () => String.fromCharCode(b[i++], b[i++], b[i++], b[i++]);
  const nameStr = () => {
    let s = '';
    if (b[i] === 0x5c) {
      s = '\\';
      i++;
    }
    if (b[i] === 0x2e) {
      i++;
      return s + seg() + '.' + seg();
    }
    return s + seg();
  };
  const data = (): unknown => {
    const op = b[i++];
    switch (op) {
      case 0x00:
        return 0;
      case 0x01:
        return 1;
      case 0x0a:
        return b[i++];
      case 0x0b:
        i += 2;
        return b[i - 2] | (b[i - 1] << 8);
      case 0x0c:
        i += 4;
        return (b[i - 4] | (b[i - 3] << 8) | (b[i - 2] << 16) | (b[i - 1] << 24)) >>> 0;
      case 0x12: {
        const start = i;
        const end = start + pkgLen();
        const n = b[i++];
        const items: unknown[] = [];
        while (i < end) items.push(data());
        expect(items.length).toBe(n);
        expect(i).toBe(end);
        return items;
      }
      case 0x11: {
        const start = i;
        const end = start + pkgLen();
        const size = data() as number;
        const bytes = b.slice(i, end);
        expect(bytes.length).toBe(size);
        i = end;
        return bytes;
      }
      default:
        throw new Error(`unexpected data op 0x${op.toString(16)} at ${i - 1}`);
    }
  };
  const terms = (end: number): AmlNode[] => {
    const out: AmlNode[] = [];
    while (i < end) {
      const op = b[i++];
      if (op === 0x08) {
        const name = nameStr();
        out.push({ op: 'Name', name, value: data() });
      } else if (op === 0x10) {
        const start = i;
        const e = start + pkgLen();
        const name = nameStr();
        out.push({ op: 'Scope', name, children: terms(e) });
      } else if (op === 0x5b && b[i] === 0x82) {
        i++;
        const start = i;
        const e = start + pkgLen();
        const name = nameStr();
        out.push({ op: 'Device', name, children: terms(e) });
      } else {
        throw new Error(`unexpected term op 0x${op.toString(16)} at ${i - 1}`);
      }
    }
    expect(i).toBe(end);
    return out;
  };
  return terms(b.length);
}

const config = (over: Partial<AcpiConfig> = {}): AcpiConfig => ({
  apicIds: [0, 1],
  ioapic: { id: 2, address: 0xfec00000, gsiBase: 0 },
  pciRoutes: [
    { device: 1, pin: 0, gsi: 10 },
    { device: 3, pin: 0, gsi: 11 },
  ],
  pciMemoryStart: 0x08000000,
  ...over,
});

describe('ACPI tables', () => {
  it('chains RSDP -> RSDT -> FADT/MADT with valid checksums and a 64-byte aligned FACS', () => {
    const built = buildAcpiTables(BASE, config());
    const mem = new Mem(built.bytes, BASE);
    const t = tablesBySignature(mem);
    expect(Object.keys(t).sort()).toEqual(['APIC', 'FACP']);
    const fadt = t.FACP;
    expect(mem.u8(fadt + 8)).toBe(3);
    expect(mem.u32(fadt + 4)).toBe(244);
    const facs = mem.u32(fadt + 36);
    expect(facs % 64).toBe(0);
    expect(mem.str(facs, 4)).toBe('FACS');
    const dsdt = mem.u32(fadt + 40);
    expect(mem.str(dsdt, 4)).toBe('DSDT');
    expect(mem.sum(dsdt, mem.u32(dsdt + 4))).toBe(0);
    expect(built.addresses.DSDT).toBe(dsdt);
    // 64-bit copies agree with the 32-bit fields.
    expect(mem.u32(fadt + 132)).toBe(facs);
    expect(mem.u32(fadt + 140)).toBe(dsdt);
  });

  it('describes the PM block, SCI, century, 8042 and the reset register in the FADT', () => {
    const built = buildAcpiTables(BASE, config({ pmBase: 0x600 }));
    const mem = new Mem(built.bytes, BASE);
    const fadt = tablesBySignature(mem).FACP;
    expect(mem.u16(fadt + 46)).toBe(9); // SCI_INT
    expect(mem.u32(fadt + 48)).toBe(0); // no SMI_CMD: always in ACPI mode
    expect(mem.u32(fadt + 56)).toBe(0x600);
    expect(mem.u32(fadt + 64)).toBe(0x604);
    expect(mem.u32(fadt + 76)).toBe(0x608); // PM_TMR_BLK
    expect([mem.u8(fadt + 88), mem.u8(fadt + 89), mem.u8(fadt + 91)]).toEqual([4, 2, 4]);
    expect(mem.u8(fadt + 108)).toBe(0x32);
    expect(mem.u16(fadt + 109) & 0x3).toBe(0x3); // legacy devices + 8042 (else Linux skips the i8042)
    const flags = mem.u32(fadt + 112);
    expect(flags & (1 << 8)).toBe(0); // 24-bit PM timer
    expect(flags & (1 << 4)).toBe(0); // fixed power button present
    expect(flags & (1 << 10)).not.toBe(0); // reset register supported
    expect([mem.u8(fadt + 116), mem.u8(fadt + 117), mem.u32(fadt + 120), mem.u8(fadt + 128)]).toEqual([1, 8, 0xcf9, 0x06]);
    // X_PM_TMR_BLK: system I/O, 32 bits wide, same port.
    expect([mem.u8(fadt + 208), mem.u8(fadt + 209), mem.u32(fadt + 212)]).toEqual([1, 32, 0x608]);
  });

  it('lists every local APIC, the I/O APIC, IRQ0->GSI2, a level SCI and LINT1 NMI in the MADT', () => {
    const built = buildAcpiTables(BASE, config({ apicIds: [0, 1, 4] }));
    const mem = new Mem(built.bytes, BASE);
    const madt = tablesBySignature(mem).APIC;
    expect(mem.u32(madt + 36)).toBe(0xfee00000);
    expect(mem.u32(madt + 40) & 1).toBe(1);
    const end = madt + mem.u32(madt + 4);
    const entries: number[][] = [];
    for (let e = madt + 44; e < end; e += mem.u8(e + 1)) entries.push(Array.from({ length: mem.u8(e + 1) }, (_, k) => mem.u8(e + k)));
    const lapics = entries.filter((x) => x[0] === 0).map((x) => [x[2], x[3], x[4] & 1]);
    expect(lapics).toEqual([[0, 0, 1], [1, 1, 1], [2, 4, 1]]);
    const io = entries.find((x) => x[0] === 1)!;
    expect(io[2]).toBe(2);
    expect(io[4] | (io[5] << 8) | (io[6] << 16) | (io[7] << 24)).toBe(0xfec00000 | 0);
    const isos = entries.filter((x) => x[0] === 2).map((x) => ({ irq: x[3], gsi: x[4], flags: x[8] | (x[9] << 8) }));
    expect(isos).toEqual([{ irq: 0, gsi: 2, flags: 0 }, { irq: 9, gsi: 9, flags: 0x0d }]);
    const nmi = entries.find((x) => x[0] === 4)!;
    expect([nmi[2], nmi[5]]).toEqual([0xff, 1]);
  });

  it('has a DSDT whose AML parses: \\_S5 and PCI0 with _HID, _CRS windows and _PRT', () => {
    const built = buildAcpiTables(BASE, config());
    const mem = new Mem(built.bytes, BASE);
    const dsdt = built.addresses.DSDT;
    const aml = built.bytes.slice(dsdt - BASE + 36, dsdt - BASE + mem.u32(dsdt + 4));
    const tree = parseAml(aml);
    expect(tree[0]).toEqual({ op: 'Name', name: '_S5_', value: [ACPI_SLP_TYP_S5, ACPI_SLP_TYP_S5, 0, 0] });
    const sb = tree[1];
    expect([sb.op, sb.name]).toEqual(['Scope', '\\_SB_']);
    const pci0 = sb.children![0];
    expect([pci0.op, pci0.name]).toEqual(['Device', 'PCI0']);
    const named = Object.fromEntries(pci0.children!.map((n) => [n.name, n.value]));
    expect(named._HID).toBe(0x030ad041);
    expect(named._PRT).toEqual([
      [0x0001ffff, 0, 0, 10],
      [0x0003ffff, 0, 0, 11],
    ]);
    // Walk the resource template: bus numbers, CF8 ports, two I/O and two memory windows, end tag.
    const crs = named._CRS as Uint8Array;
    const kinds: string[] = [];
    let p = 0;
    while (crs[p] !== 0x79) {
      if (crs[p] & 0x80) {
        const len = crs[p + 1] | (crs[p + 2] << 8);
        const type = crs[p + 3];
        if (crs[p] === 0x87) {
          const min = (crs[p + 10] | (crs[p + 11] << 8) | (crs[p + 12] << 16) | (crs[p + 13] << 24)) >>> 0;
          kinds.push(`mem ${min.toString(16)}`);
        } else kinds.push(type === 2 ? 'bus' : 'io-window');
        p += 3 + len;
      } else {
        kinds.push('io');
        p += 1 + (crs[p] & 7);
      }
    }
    expect(p).toBe(crs.length - 2);
    expect(kinds).toEqual(['bus', 'io', 'io-window', 'io-window', 'mem a0000', 'mem 8000000']);
  });

  it('leaves PCI0 out without routes and validates its inputs', () => {
    const built = buildAcpiTables(0xf0000, config({ pciRoutes: undefined, apicIds: [0] }));
    const dsdt = built.addresses.DSDT;
    const len = new Mem(built.bytes, 0xf0000).u32(dsdt + 4);
    expect(parseAml(built.bytes.slice(dsdt - 0xf0000 + 36, dsdt - 0xf0000 + len)).map((n) => n.name)).toEqual(['_S5_']);
    expect(() => buildAcpiTables(0xe0008, config())).toThrow(/aligned/);
    expect(() => buildAcpiTables(BASE, config({ apicIds: [1, 1] }))).toThrow(/distinct/);
    expect(() => buildAcpiTables(BASE, config({ pciRoutes: [{ device: 40, pin: 0, gsi: 10 }] }))).toThrow(/device 40/);
    expect(() => buildAcpiTables(BASE, config({ pciMemoryStart: undefined }))).toThrow(/pciMemoryStart/);
  });

  it('encodes AML package lengths and EISA IDs as the spec examples do', () => {
    expect(pkgLength(10)).toEqual([11]);
    expect(pkgLength(62)).toEqual([63]);
    expect(pkgLength(63)).toEqual([0x41, 0x04]); // 65 = 0x41 | 4 << 4
    expect(pkgLength(5000)).toEqual([0x8b, 0x38, 0x01]); // 5003 = 0x138b in three bytes
    expect(eisaId('PNP0303')).toBe(0x0303d041);
  });
});

describe('ACPI PM block', () => {
  function setup() {
    const clock = new VirtualClock();
    const sci = new RecordingIrq();
    const sleeps: number[] = [];
    const pm = new AcpiPm(clock, { sci, onSleep: (t) => sleeps.push(t) });
    const io = new TestPorts();
    pm.register(io);
    return { clock, sci, pm, io, sleeps };
  }

  it('counts the 24-bit PM timer at 3.579545 MHz and wraps', () => {
    const t = setup();
    t.clock.advance(1_000_000_000);
    expect(t.io.inl(0xb008)).toBe(PM_TIMER_HZ & 0xffffff);
    t.clock.advance(4_000_000_000); // 5 s = 17.9 M ticks: wrapped once
    expect(t.io.inl(0xb008)).toBe((5 * PM_TIMER_HZ) & 0xffffff);
    expect(t.io.inl(0xb008)).toBeLessThan(1 << 24);
  });

  it("agrees with the PIT the way Linux's verify_pmtmr_rate checks it", () => {
    const clock = new VirtualClock();
    const pm = new AcpiPm(clock, { sci: new RecordingIrq() });
    const pit = new Pit8254(clock, { irq0: new RecordingIrq() });
    const io = new TestPorts();
    pm.register(io);
    pit.register(io);
    const HZ = 250;
    const LATCH = Math.floor((PIT_HZ + HZ / 2) / HZ);
    const CALIBRATE_LATCH = 5 * LATCH;
    const expected = Math.floor((CALIBRATE_LATCH * (PM_TIMER_HZ >> 10)) / (PIT_HZ >> 10));
    clock.advance(123_456);
    const start = io.inl(0xb008) & 0xffffff;
    // mach_prepare_counter + mach_countup
    io.outb(0x61, (io.inb(0x61) & ~0x02) | 0x01);
    io.outb(0x43, 0xb0);
    io.outb(0x42, CALIBRATE_LATCH & 0xff);
    io.outb(0x42, CALIBRATE_LATCH >> 8);
    while ((io.inb(0x61) & 0x20) === 0) clock.advance(700);
    const delta = ((io.inl(0xb008) & 0xffffff) - start) & 0xffffff;
    expect(delta).toBeGreaterThan(expected * 0.9);
    expect(delta).toBeLessThan(expected * 1.1);
    expect(Math.abs(delta - expected) / expected).toBeLessThan(0.001);
  });

  it('starts in ACPI mode, raises SCI for the power button and clears it by writing 1', () => {
    const t = setup();
    expect(t.io.inw(0xb004) & 1).toBe(1); // SCI_EN
    t.pm.pressPowerButton();
    expect(t.sci.level).toBe(false); // not enabled yet
    expect(t.io.inw(0xb000) & 0x100).toBe(0x100);
    t.io.outw(0xb002, 0x100); // PWRBTN_EN
    expect(t.sci.level).toBe(true);
    t.io.outw(0xb000, 0x100);
    expect(t.sci.level).toBe(false);
    expect(t.io.inw(0xb000) & 0x100).toBe(0);
  });

  it('sets TMR_STS on each carry out of bit 23 and interrupts when TMR_EN is set', () => {
    const t = setup();
    t.io.outw(0xb002, 0x0001);
    const carryNs = ((1 << 23) / PM_TIMER_HZ) * 1e9;
    runFor(t.clock, Math.floor(carryNs) - 1000);
    expect(t.sci.level).toBe(false);
    runFor(t.clock, 2000);
    expect(t.sci.level).toBe(true);
    t.io.outl(0xb000, 0x0001_0001); // 32-bit write: clear TMR_STS, keep TMR_EN
    expect(t.sci.level).toBe(false);
    expect(t.io.inw(0xb002)).toBe(1);
  });

  it('reports SLP_EN with the DSDT S5 sleep type so the board can power off', () => {
    const t = setup();
    t.io.outw(0xb004, (ACPI_SLP_TYP_S5 << 10) | 1); // type only: nothing yet
    expect(t.sleeps).toEqual([]);
    t.io.outw(0xb004, (1 << 13) | (ACPI_SLP_TYP_S5 << 10) | 1);
    expect(t.sleeps).toEqual([ACPI_SLP_TYP_S5]);
    expect(t.io.inw(0xb004) & (1 << 13)).toBe(0); // SLP_EN reads as 0
  });

  it('saves and restores status, enables and the timer epoch', () => {
    const a = setup();
    a.clock.advance(3_000_000_000);
    a.io.outw(0xb002, 0x0101);
    a.pm.pressPowerButton();
    const saved = structuredClone(a.pm.saveState());
    const b = setup();
    b.clock.setNow(a.clock.now());
    b.pm.loadState(saved, 1);
    expect(b.sci.level).toBe(true);
    expect(b.io.inl(0xb008)).toBe(a.io.inl(0xb008));
    expect(b.io.inw(0xb000)).toBe(a.io.inw(0xb000));
    expect(b.clock.nextDeadline()).toBe(a.clock.nextDeadline());
    expect(() => b.pm.loadState({ ...saved, en: -1 }, 1)).toThrow(/en/);
  });
});

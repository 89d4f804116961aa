// The PC board: guest memory, port and MMIO buses, the devices and their wiring, the
// virtual clock, and the slice runner that alternates between the wasm core and the
// devices' timers. The only file that knows which devices exist.

import * as MM from '../../engine-wasm/memory-map';
import { CodePages } from './code-pages';
import type { AccessSize, GuestMemory, IrqLine } from './bus';
import { PortBus, MmioBus } from './io-bus';
import { VirtualClock } from './clock';
import { VcpuState } from './vcpu-state';
import { Pic8259 } from '../devices/pic-8259/pic-8259';
import { Uart16550 } from '../devices/uart-16550/uart-16550';
import { Pit8254 } from '../devices/pit-8254/pit-8254';
import { RtcMc146818 } from '../devices/rtc-mc146818/rtc-mc146818';
import { I8042 } from '../devices/i8042/i8042';
import { DebugPorts } from '../devices/debug-ports/debug-ports';
import { Lapic, LAPIC_EXTINT } from '../devices/lapic/lapic';
import { IoApic } from '../devices/ioapic/ioapic';
import { PciBus } from '../devices/pci/pci-bus';
import { I440fxHostBridge } from '../devices/pci/i440fx';
import { Piix3IsaBridge } from '../devices/pci/piix3';
import type { ApicMessage } from '../devices/common/apic-message';
import { AcpiPm, ACPI_SLP_TYP_S5 } from '../devices/acpi/acpi-pm';
import { buildAcpiTables, type AcpiPciRoute } from '../devices/acpi/acpi-tables';
import { i440fxSwizzle } from '../devices/pci/pci-bus';
import { XenHost } from './xen-host';
import { PiixIde } from '../devices/ide-piix/piix-ide';

/** The x86 core's entry points (engine-ts/worker instantiates it). */
export interface CpuCore {
  init(id: number): number;
  reset(): void;
  run(budget: number): number;
  refresh(): void;
  getEflags(): number;
  setEflags(v: number): void;
  flushTlb(): void;
}

/** Callbacks the core makes into the board (mirrors engine-ts/worker/wasm-core CoreHost). */
export interface BoardCoreHost {
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
  intAck(): number;
  msrHost(write: number, index: number, lo: number, hi: number): number;
  cpuidHost(leaf: number, sub: number): number;
  crWrite(reg: number, value: number): void;
  hypercall(): number;
}

export interface BoardOptions {
  ramBytes: number;
  /** Serial console output (COM1). */
  onConsole?: (bytes: Uint8Array) => void;
  /** Port 0xE9 debug console and POST codes (ports 0x80, 0x190). */
  debugPorts?: boolean;
  onDebugOut?: (bytes: Uint8Array) => void;
  onPostCode?: (code: number, port: number) => void;
  /** Guest wrote V to port 0xF4 (isa-debug-exit): exit code (V << 1) | 1. */
  onDebugExit?: (code: number) => void;
  /** Unix seconds of the guest's RTC at power-on (injected: the engine never reads the host clock). */
  rtcStartSeconds?: number;
  /** Xen mode: CPUID says "Xen", hypercalls work, the platform device and PV backends exist. */
  xen?: { name: string; log?: (line: string) => void };
  /** Where console input goes: COM1 (default) or hvc0 (Xen mode). */
  consoleInput?: 'serial' | 'hvc0';
}

export class BiosError extends Error {
  constructor(message: string) { super(message); this.name = 'BiosError'; }
}

/** Where the ACPI tables live (reserved in the e820 map: 0xE0000-0xFFFFF). */
const ACPI_TABLES_ADDR = 0xe0000;
const SCI_IRQ = 9;
/** ISA IRQs that PCI PIRQA..PIRQD are steered to. */
const PIRQ_IRQS = [10, 11, 10, 11];

function store32(memory: WebAssembly.Memory, byteOffset: number, v: number): void {
  new DataView(memory.buffer).setUint32(byteOffset, v >>> 0, true);
}

export class GuestRam implements GuestMemory {
  readonly size: number;
  private readonly code: CodePages;
  constructor(readonly memory: WebAssembly.Memory, size: number) { this.size = size; this.code = new CodePages(memory); }
  private bytes(): Uint8Array { this.code.noteWrite(0, this.size); return new Uint8Array(this.memory.buffer, MM.RAM_BASE, this.size); }
  view(addr: number, length: number): Uint8Array | null {
    if (!Number.isInteger(addr) || !Number.isInteger(length) || addr < 0 || length < 0 || addr + length > this.size) return null;
    this.code.noteWrite(addr, length); // the caller may write through the view
    return new Uint8Array(this.memory.buffer, MM.RAM_BASE + addr, length);
  }
  read(addr: number, dst: Uint8Array): boolean {
    const v = this.view(addr, dst.length);
    if (!v) return false;
    dst.set(v);
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    const v = this.view(addr, src.length);
    if (!v) return false;
    v.set(src);
    return true;
  }
  /** Whole RAM as bytes (for loaders). */
  all(): Uint8Array { return this.bytes(); }
}

/** Where the guest ran: EIP sampled every `everyInstructions` retired instructions. */
export interface GuestProfile {
  everyInstructions: number;
  /** Samples taken in kernel mode (CPL 0-2), by EIP. */
  kernel: Array<[eip: number, count: number]>;
  /** Samples taken in user mode (CPL 3). */
  user: number;
}

export class Board {
  readonly ports = new PortBus();
  readonly mmio: MmioBus;
  readonly clock = new VirtualClock(1);
  readonly ram: GuestRam;
  readonly vcpu: VcpuState;
  readonly pic: Pic8259;
  readonly ioapic: IoApic;
  readonly lapic: Lapic;
  readonly pit: Pit8254;
  readonly rtc: RtcMc146818;
  readonly i8042: I8042;
  readonly pci: PciBus;
  readonly piix3: Piix3IsaBridge;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly debug: DebugPorts;
  readonly acpiPm: AcpiPm;
  readonly ide: PiixIde;
  readonly xen: XenHost | null = null;
  private core: CpuCore | null = null;
  /** Called when something outside the vCPU (an I/O completion, an event) needs it to run. */
  onWake: (() => void) | null = null;
  private consoleBuf: number[] = [];
  private debugBuf: number[] = [];
  /** ISA IRQ lines: each is the OR of the devices (and PCI PIRQ routes) driving it. */
  private readonly isaSources: Array<Map<string, boolean>> = Array.from({ length: 16 }, () => new Map());
  private readonly isaLevel = new Array<boolean>(16).fill(false);
  /** Set when the guest asked to end the run (port 0xF4). */
  exitCode: number | null = null;
  /** Counts of VM exits by kind, for the emulated-vs-PV comparison. */
  readonly exits = { io: 0, mmio: 0, hypercall: 0, halt: 0 };
  /** The guest asked for a reset (keyboard controller, 0xCF9). */
  resetRequested = false;
  /** EIP sampling (see profile()): every this many instructions, 0 = off. */
  private profileEvery = 0;
  private profileKernel = new Map<number, number>();
  private profileUser = 0;
  /** The guest powered the machine off (ACPI S5). */
  poweredOff = false;

  constructor(readonly memory: WebAssembly.Memory, readonly options: BoardOptions) {
    this.ram = new GuestRam(memory, options.ramBytes);
    this.mmio = new MmioBus(options.ramBytes);
    this.vcpu = new VcpuState(memory, 0);
    // Devices read live guest time: the cycle count the core publishes before each host call.
    const nowView = new Float64Array(memory.buffer, this.vcpu.base + MM.R_NOW, 1);
    this.clock.setSource(() => nowView[0]);
    this.clock.onPreempt = () => this.vcpu.raisePending(MM.PEND_EXIT);

    // Interrupts: 8259 pair → local APIC LINT0 (ExtINT) → CPU INTR; I/O APIC → local APIC.
    this.lapic = new Lapic(this.clock, {
      id: 0,
      bsp: true,
      cpu: {
        setIntr: () => this.updateIntr(),
        nmi: () => this.vcpu.raisePending(MM.PEND_NMI),
        init: () => {},
        startup: () => {},
      },
      sendIpi: (m, shorthand) => { if (shorthand !== 3) this.deliverApic(m); },
      eoiBroadcast: (v) => this.ioapic.eoi(v),
      onBaseChange: () => { this.mmio.unregister(this.lapic.stateName); this.lapic.register(this.mmio); },
    });
    this.lapic.register(this.mmio);
    this.ioapic = new IoApic({ deliver: (m) => this.deliverApic(m) });
    this.ioapic.register(this.mmio);
    this.pic = new Pic8259({ set: (level) => this.lapic.setLint(0, level) });
    this.pic.register(this.ports);
    store32(memory, this.vcpu.base + MM.R_CPUID_FLAGS, MM.CPUIDF_APIC);

    this.pit = new Pit8254(this.clock, { irq0: this.isaIrq(0, 'pit') });
    this.pit.register(this.ports);
    this.rtc = new RtcMc146818(this.clock, { irq: this.isaIrq(8, 'rtc'), startTime: options.rtcStartSeconds ?? 0 });
    this.rtc.register(this.ports);
    this.rtc.setMemorySize(options.ramBytes);
    this.i8042 = new I8042({
      irq1: this.isaIrq(1, 'i8042-kbd'),
      irq12: this.isaIrq(12, 'i8042-aux'),
      setA20: (on) => this.setA20(on),
      requestReset: () => this.requestReset(),
    });
    this.i8042.register(this.ports);

    this.piix3 = new Piix3IsaBridge({
      routeIrq: (irq, level) => this.driveIsa(irq, 'pirq', level),
      onElcrChange: (elcr) => this.pic.setElcr(elcr),
    });
    this.pci = new PciBus({
      mapper: {
        mapIo: (base, size, handler, owner) => this.ports.register(base, size, handler, owner),
        unmapIo: (base, size) => this.ports.unregister(base, size),
        mapMmio: (base, size, handler, owner) => this.mmio.register(base, size, handler, owner),
        unmapMmio: (base) => this.mmio.unregisterAt(base),
      },
      setPirq: (pirq, level) => this.piix3.setPirq(pirq, level),
      requestReset: () => this.requestReset(),
    });
    this.pci.register(this.ports);
    this.pci.addFunction(0, 0, new I440fxHostBridge());
    this.piix3.register(this.ports);
    this.pci.addFunction(1, 0, this.piix3);
    this.ide = new PiixIde({
      memory: this.ram,
      clock: this.clock,
      irq14: this.isaIrq(14, 'ide0'),
      irq15: this.isaIrq(15, 'ide1'),
      bmiba: 0xc100, // firmware-style BAR4, clear of the Xen platform device's BAR0 at 0xc000
      onHostIoDone: () => this.wake(),
    });
    this.ide.register(this.ports);
    this.pci.addFunction(1, 1, this.ide);

    const consoleSink = { transmit: (b: number) => { this.consoleBuf.push(b); } };
    this.com1 = new Uart16550('com1', this.isaIrq(4, 'com1'), this.clock, consoleSink);
    this.com1.register(this.ports, 0x3f8);
    this.com2 = new Uart16550('com2', this.isaIrq(3, 'com2'), this.clock, { transmit: () => {} });
    this.com2.register(this.ports, 0x2f8);
    this.debug = new DebugPorts({
      onPostCode: (c, p) => options.onPostCode?.(c, p),
      onConsoleByte: (b) => { this.debugBuf.push(b); },
      exit: (status) => {
        this.exitCode = status;
        options.onDebugExit?.(status);
        this.vcpu.raisePending(MM.PEND_EXIT);
      },
    });
    if (options.debugPorts !== false) this.debug.register(this.ports);
    this.acpiPm = new AcpiPm(this.clock, {
      sci: this.isaIrq(SCI_IRQ, 'acpi-sci'),
      onSleep: (typ) => {
        if (typ !== ACPI_SLP_TYP_S5) return;
        this.poweredOff = true;
        this.vcpu.raisePending(MM.PEND_EXIT);
      },
    });
    this.acpiPm.register(this.ports);
    // What firmware would have done: steer PIRQA-D to ISA IRQs 10/11 (the DSDT's _PRT names
    // the same GSIs, so one table serves PIC and APIC mode) and mark them level-triggered.
    PIRQ_IRQS.forEach((irq, pirq) => this.piix3.writeConfig(0x60 + pirq, 1, irq));
    this.pic.setElcr((1 << PIRQ_IRQS[0]) | (1 << PIRQ_IRQS[1]) | (1 << SCI_IRQ));
    this.setLowMemTypes();
    if (options.xen) {
      this.xen = new XenHost(this, {
        name: options.xen.name,
        console: (b) => { for (const x of b) this.consoleBuf.push(x); },
        log: options.xen.log,
      });
      // Emulated disks disappear when the guest's PV drivers ask (xen_emul_unplug=never keeps them).
      this.xen.onUnplugDisks = () => this.ide.detachAllDisks();
    }
  }

  /** Drive a GSI (I/O APIC pin; ISA IRQs also reach the 8259). */
  driveGsi(gsi: number, source: string, level: boolean): void {
    if (gsi < 16 && gsi !== 2) this.driveIsa(gsi === 0 ? 0 : gsi, source, level);
    else this.ioapic.setIrq(gsi, level);
  }

  /** Let a halted vCPU run: an event arrived from outside the instruction stream. */
  wake(): void {
    this.onWake?.();
  }

  /** SCHEDOP_shutdown from a PV guest (reason: SHUTDOWN_poweroff 0, reboot 1, crash 3). */
  guestShutdown(reason: number): void {
    if (reason === 1) this.resetRequested = true;
    else this.poweredOff = true;
    this.vcpu.raisePending(MM.PEND_EXIT);
  }

  /**
   * ACPI tables (RSDP, RSDT, FADT, FACS, DSDT, MADT) as firmware leaves them at 0xE0000,
   * where Linux's RSDP scan looks; the Linux loader also passes the RSDP in boot_params.
   */
  firmwareTables(): { bytes: Uint8Array; rsdp: number; address: number } {
    const routes: AcpiPciRoute[] = [];
    for (let device = 1; device < 32; device++) {
      for (let pin = 0; pin < 4; pin++) routes.push({ device, pin, gsi: PIRQ_IRQS[i440fxSwizzle(device, pin)] });
    }
    const t = buildAcpiTables(ACPI_TABLES_ADDR, {
      apicIds: [0],
      ioapic: { id: 0, address: 0xfec00000, gsiBase: 0 },
      sciIrq: SCI_IRQ,
      pciRoutes: routes,
      // With Xen, the platform device's BAR1 sits right above RAM: the window must include it.
      pciMemoryStart: this.options.xen ? this.options.ramBytes : Math.max(this.options.ramBytes, 0xe0000000),
    });
    return { bytes: t.bytes, rsdp: t.addresses['RSD PTR '], address: ACPI_TABLES_ADDR };
  }

  /** Copy the firmware tables into RAM (after a loader cleared low memory). */
  installFirmwareTables(): number {
    const t = this.firmwareTables();
    if (t.address + t.bytes.length > 0x100000) throw new Error('ACPI tables do not fit below 1 MiB');
    this.ram.all().set(t.bytes, t.address);
    return t.rsdp;
  }

  /** CPU state firmware leaves behind: MTRRs enabled with write-back as the default type. */
  firmwareCpuSetup(): void {
    this.vcpu.setU64(MM.R_MTRR + 8, 0x806n); // IA32_MTRR_DEF_TYPE: E=1, type WB
  }

  /** An IrqLine for a device on ISA IRQ `irq`. */
  private isaIrq(irq: number, source: string): IrqLine {
    return { set: (level) => this.driveIsa(irq, source, level) };
  }

  private driveIsa(irq: number, source: string, level: boolean): void {
    const srcs = this.isaSources[irq];
    srcs.set(source, level);
    let any = false;
    for (const v of srcs.values()) any ||= v;
    if (any === this.isaLevel[irq]) return;
    this.isaLevel[irq] = any;
    if (irq !== 2) this.pic.setIrq(irq, any);
    // ISA IRQ 0 is wired to I/O APIC pin 2 (the MADT's interrupt source override); others 1:1.
    this.ioapic.setIrq(irq === 0 ? 2 : irq, any);
  }

  /** Carry an APIC-bus message to the (only) local APIC if it is a destination. */
  private deliverApic(m: ApicMessage): void {
    if (m.destination === 0xff || this.lapic.matchesDestination(m.destination, m.logical)) this.lapic.receive(m);
  }

  private setA20(on: boolean): void {
    store32(this.memory, this.vcpu.base + MM.R_A20_MASK, on ? 0xffffffff : 0xffefffff);
    this.core?.flushTlb();
  }

  private requestReset(): void {
    this.resetRequested = true;
    this.vcpu.raisePending(MM.PEND_EXIT);
  }

  /** Memory below 1 MiB: RAM, except the VGA window (MMIO). */
  private setLowMemTypes(): void {
    const t = new Uint8Array(this.memory.buffer, MM.CTRL_BASE + MM.CTRL_LOWMEM_TYPE, 256);
    for (let p = 0; p < 256; p++) {
      const a = p << 12;
      t[p] = a >= 0xa0000 && a < 0xc0000 ? MM.MEMT_MMIO : MM.MEMT_RAM;
    }
  }

  /**
   * Map a firmware image as a PC does: its last bytes end at 1 MiB (read-only, in the low
   * alias) and at 4 GiB (the high alias the reset vector at 0xFFFFFFF0 is fetched from).
   */
  loadBios(rom: Uint8Array): void {
    const size = rom.length;
    if (![0x10000, 0x20000, 0x40000].includes(size)) throw new BiosError(`a BIOS image must be 64, 128 or 256 KiB (this one is ${size} bytes)`);
    const copy = rom.slice();
    // Low alias: the last 128 KiB at most (0xE0000-0xFFFFF) as read-only memory.
    const low = Math.min(size, 0x20000);
    this.ram.all().set(copy.subarray(size - low), 0x100000 - low);
    const t = new Uint8Array(this.memory.buffer, MM.CTRL_BASE + MM.CTRL_LOWMEM_TYPE, 256);
    for (let p = (0x100000 - low) >> 12; p < 0x100; p++) t[p] = MM.MEMT_ROM;
    // High alias below 4 GiB.
    this.mmio.register(2 ** 32 - size, size, {
      read: (off, sz) => {
        let v = 0;
        for (let i = sz - 1; i >= 0; i--) v = (v << 8) | (copy[off + i] ?? 0xff);
        return v >>> 0;
      },
      write: () => {},
    }, 'bios rom');
  }

  /** Callbacks for the core (see engine-ts/worker/wasm-core.ts). */
  readonly coreHost: BoardCoreHost = {
    ioRead: (port, size) => { this.exits.io++; return this.ports.read(port, size as AccessSize); },
    ioWrite: (port, size, value) => { this.exits.io++; this.ports.write(port, size as AccessSize, value); },
    mmioRead: (addr, size) => { this.exits.mmio++; return this.mmio.read(addr, size as AccessSize); },
    mmioWrite: (addr, size, value) => { this.exits.mmio++; this.mmio.write(addr, size as AccessSize, value); },
    intAck: () => {
      const v = this.acknowledgeInterrupt();
      this.xen?.afterInterruptAck();
      return v;
    },
    msrHost: (write, index, lo, hi) => {
      if (index === 0x1b && write) { this.lapic.writeApicBaseMsr(lo); return 0; }
      if (write && this.xen?.wrmsr(index, lo, hi)) return 0;
      return 1;
    },
    cpuidHost: (leaf, sub) => (this.xen?.cpuid(leaf, sub) ? 1 : 0),
    crWrite: () => {},
    hypercall: () => {
      this.exits.hypercall++;
      return this.xen ? this.xen.hypercall() : -1;
    },
  };

  /** The CPU's INTR input: the local APIC, or a pending Xen event-channel callback. */
  updateIntr(): void {
    if (this.lapic.hasInterrupt() || this.xen?.callbackPending()) this.vcpu.raisePending(MM.PEND_INTR);
    else this.vcpu.clearPending(MM.PEND_INTR);
  }

  private acknowledgeInterrupt(): number {
    const cb = this.xen ? this.xen.takeCallback() : -1;
    if (cb >= 0) return cb;
    if (!this.lapic.hasInterrupt()) { this.updateIntr(); return -1; }
    const v = this.lapic.acknowledge();
    return v === LAPIC_EXTINT ? this.pic.acknowledge() : v;
  }

  attachCore(core: CpuCore): void {
    this.core = core;
    if (core.init(0) !== 0) throw new Error('x86 core: memory map version mismatch');
    core.reset();
  }

  get cpu(): CpuCore {
    if (!this.core) throw new Error('board has no CPU core attached');
    return this.core;
  }

  /** Guest time in ns: the vCPU's virtual cycle counter (1 cycle = 1 ns), published at R_NOW. */
  private syncClock(): void {
    new Float64Array(this.memory.buffer, this.vcpu.base + MM.R_NOW, 1)[0] = Number(this.vcpu.icount);
  }

  /**
   * Run the vCPU for at most `maxInstructions`, stopping early at the next timer deadline,
   * then fire due timers. Returns the core's exit reason.
   */
  runSlice(maxInstructions: number): number {
    const core = this.cpu;
    this.syncClock();
    const now = this.clock.now();
    const next = this.clock.nextDeadline();
    let budget = maxInstructions;
    if (next !== Infinity) budget = Math.max(1, Math.min(budget, Math.ceil(next - now)));
    if (this.profileEvery > 0) budget = Math.min(budget, this.profileEvery);
    this.clock.sliceEnd = now + budget;
    const exit = core.run(budget);
    if (this.profileEvery > 0 && exit === MM.EXIT_BUDGET) this.sample();
    this.clock.sliceEnd = Infinity;
    this.syncClock();
    this.clock.runDue();
    this.flushOutput();
    if (exit === MM.EXIT_HALT) this.exits.halt++;
    return exit;
  }

  /**
   * Sample EIP every `everyInstructions` from now on (0 stops). Slices end at each sample
   * point, so profiling slows the run; halted time is not sampled. Returns the samples
   * taken so far and starts a new set.
   */
  profile(everyInstructions: number): GuestProfile {
    if (!Number.isInteger(everyInstructions) || (everyInstructions !== 0 && (everyInstructions < 100 || everyInstructions > 1e9))) {
      throw new RangeError(`profile: sample every 0 (off) or 100..1e9 instructions, not ${everyInstructions}`);
    }
    const out: GuestProfile = { everyInstructions: this.profileEvery, kernel: [...this.profileKernel], user: this.profileUser };
    this.profileEvery = everyInstructions;
    this.profileKernel = new Map();
    this.profileUser = 0;
    return out;
  }

  private sample(): void {
    if (this.vcpu.cpl === 3) this.profileUser++;
    else {
      const eip = this.vcpu.eip;
      this.profileKernel.set(eip, (this.profileKernel.get(eip) ?? 0) + 1);
    }
  }

  /**
   * The vCPU is halted waiting for an interrupt: jump guest time to the next timer deadline
   * (and fire it). Returns the ns skipped, or -1 if nothing is scheduled (only outside
   * input can wake the guest).
   */
  skipToNextEvent(maxNs = Infinity): number {
    this.syncClock();
    const next = this.clock.nextDeadline();
    if (next === Infinity) return -1;
    const now = this.clock.now();
    const target = Math.min(next, now + maxNs);
    const skip = Math.max(0, Math.ceil(target - now));
    this.vcpu.icount = this.vcpu.icount + BigInt(skip);
    this.syncClock();
    this.clock.runDue();
    this.flushOutput();
    return skip;
  }

  /**
   * Guest time reached a disk completion's due time (the IDE controller's, or a PV disk
   * backend's) before the host finished the I/O. The run loop must not advance guest time,
   * by running or by skipping, until `hostReady()` resolves; the completion then lands at
   * the same guest time whatever the host's speed.
   */
  get waitingForHost(): boolean {
    return this.ide.waitingForHost || (this.xen?.waitingForHost ?? false);
  }

  hostReady(): Promise<void> {
    return this.ide.waitingForHost ? this.ide.hostReady() : (this.xen?.hostReady() ?? Promise.resolve());
  }

  /** Guest time of the next scheduled event, or Infinity. */
  nextEventTime(): number { return this.clock.nextDeadline(); }
  now(): number { this.syncClock(); return this.clock.now(); }

  /** Console input (typed by the user): COM1, or hvc0 in Xen mode when configured so. */
  sendConsoleInput(bytes: ArrayLike<number>): void {
    if (this.xen && this.options.consoleInput === 'hvc0') this.xen.consoleInput(Uint8Array.from(bytes));
    else this.com1.receive(bytes);
  }

  private flushOutput(): void {
    if (this.consoleBuf.length) {
      const out = Uint8Array.from(this.consoleBuf);
      this.consoleBuf.length = 0;
      this.options.onConsole?.(out);
    }
    if (this.debugBuf.length) {
      const out = Uint8Array.from(this.debugBuf);
      this.debugBuf.length = 0;
      this.options.onDebugOut?.(out);
    }
  }
}

// The PC board: guest memory, port and MMIO buses, the devices and their wiring, the
// virtual clock, and the slice runner that alternates between the wasm core and the
// devices' timers. The only file that knows which devices exist.

import * as MM from '../../engine-wasm/memory-map';
import type { AccessSize, GuestMemory, IrqLine, MachineMemory, StateRecord, Stateful } from '../platform/bus';
import { bool, declareState, list, map, str, u64 } from '../platform/state';
import type { GuestProfile, MachineLayout } from '../config/machine';
import { PortBus, MmioBus } from '../platform/io-bus';
import { VirtualClock } from '../platform/clock';
import { VcpuState } from '../platform/vcpu-state';
import { Pic8259 } from '../devices/pic-8259/pic-8259';
import { Uart16550 } from '../devices/uart-16550/uart-16550';
import { Pit8254 } from '../devices/pit-8254/pit-8254';
import { RtcMc146818 } from '../devices/rtc-mc146818/rtc-mc146818';
import { I8042 } from '../devices/i8042/i8042';
import { DebugPorts } from '../devices/debug-ports/debug-ports';
import { Lapic, LAPIC_EXTINT } from '../devices/lapic/lapic';
import { APIC_DM_LOWEST } from '../devices/common/apic-message';
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
import { FwCfg, e820File } from '../devices/fw-cfg/fw-cfg';
import { buildE820 } from './loaders/linux';

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
  /** Virtual CPUs (default 1). vCPU 0 runs on the board's thread; the others call in (see coreHostFor). */
  vcpus?: number;
}

export class BiosError extends Error {
  constructor(message: string) { super(message); this.name = 'BiosError'; }
}

/** Where the ACPI tables live (reserved in the e820 map: 0xE0000-0xFFFFF). */
const ACPI_TABLES_ADDR = 0xe0000;
const SCI_IRQ = 9;
/** ISA IRQs that PCI PIRQA..PIRQD are steered to. */
const PIRQ_IRQS = [10, 11, 10, 11];

export type { GuestProfile };

export class Board implements Stateful {
  readonly stateName = 'board';
  readonly stateVersion = BOARD_STATE.version;
  readonly ports = new PortBus();
  readonly mmio: MmioBus;
  /** The board's clock: vCPU 0's guest time (every device but the other vCPUs' local APICs runs on it). */
  readonly clock = new VirtualClock(1);
  /** Guest RAM as devices see it (DMA, loaders). */
  readonly ram: GuestMemory;
  /** vCPU 0 (the bootstrap processor), and every vCPU by id. */
  readonly vcpu: VcpuState;
  readonly vcpus: VcpuState[];
  /** Each vCPU's own guest time (clocks[0] is `clock`): its local APIC's timer runs on it. */
  readonly clocks: VirtualClock[];
  readonly pic: Pic8259;
  readonly ioapic: IoApic;
  /** vCPU 0's local APIC, and every vCPU's by id (APIC ID = vCPU id). */
  readonly lapic: Lapic;
  readonly lapics: Lapic[];
  /** The vCPU whose exit is being handled (0 but while another vCPU's call is served). */
  private caller = 0;
  readonly pit: Pit8254;
  readonly rtc: RtcMc146818;
  readonly i8042: I8042;
  readonly pci: PciBus;
  private readonly hostBridge: I440fxHostBridge;
  readonly piix3: Piix3IsaBridge;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly debug: DebugPorts;
  readonly fwCfg: FwCfg;
  readonly acpiPm: AcpiPm;
  readonly ide: PiixIde;
  readonly xen: XenHost | null = null;
  private core: CpuCore | null = null;
  /** Called when something outside the vCPU (an I/O completion, an event) needs it to run. */
  onWake: (() => void) | null = null;
  /** Called when vCPU `id` (not 0) has an event to look at (an interrupt, a start-up IPI). */
  onWakeVcpu: ((id: number) => void) | null = null;
  private consoleBuf: number[] = [];
  private debugBuf: number[] = [];
  /** ISA IRQ lines: each is the OR of the devices (and PCI PIRQ routes) driving it. */
  private isaSources: Array<Map<string, boolean>> = Array.from({ length: 16 }, () => new Map());
  private isaLevel = new Array<boolean>(16).fill(false);
  /** Set when the guest asked to end the run (port 0xF4). */
  exitCode: number | null = null;
  /** Counts of VM exits by kind, for the emulated-vs-PV comparison. */
  readonly exits = { io: 0, mmio: 0, hypercall: 0, halt: 0 };
  /** Interrupts the vCPU took (an acknowledged vector: device IRQ or Xen upcall). */
  interrupts = 0;
  /** The guest asked for a reset (keyboard controller, 0xCF9). */
  resetRequested = false;
  /** EIP sampling (see profile()): every this many instructions, 0 = off. */
  private profileEvery = 0;
  private profileKernel = new Map<number, number>();
  private profileUser = 0;
  /** The guest powered the machine off (ACPI S5). */
  poweredOff = false;

  constructor(readonly memory: MachineMemory, readonly layout: MachineLayout, readonly options: BoardOptions) {
    this.ram = memory.ram;
    this.mmio = new MmioBus(layout.ramBytes);
    this.ports.mirrorClaims(new Uint8Array(memory.buffer, MM.PORT_CLAIMS, 0x10000));
    const n = options.vcpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MM.MAX_VCPUS) throw new RangeError(`a board has 1 to ${MM.MAX_VCPUS} vCPUs (not ${n})`);
    const ctrl = new DataView(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE);
    ctrl.setUint32(MM.CTRL_NR_VCPUS, n, true);
    ctrl.setBigUint64(MM.CTRL_TSC_MAX, 0n, true);
    this.vcpus = [];
    this.clocks = [];
    this.lapics = [];
    for (let id = 0; id < n; id++) {
      const vcpu = new VcpuState(memory, id);
      vcpu.setU32(MM.R_VCPU_ID, id);
      vcpu.setU32(MM.R_CPUID_FLAGS, MM.CPUIDF_APIC);
      // Devices read live guest time: the cycle count the core publishes before each host call.
      const clock = id === 0 ? this.clock : new VirtualClock(1, `clock-${id}`);
      const nowView = new Float64Array(memory.buffer, vcpu.base + MM.R_NOW, 1);
      clock.setSource(() => nowView[0]);
      // vCPU 0's slices end at the next deadline; another vCPU's thread computes its own
      // budget, so any timer armed on its clock ends its slice (it then reads the new deadline).
      clock.onPreempt = () => vcpu.raisePending(MM.PEND_EXIT);
      this.vcpus.push(vcpu);
      this.clocks.push(clock);
      // Interrupts: 8259 pair → vCPU 0's local APIC LINT0 (ExtINT) → CPU INTR; I/O APIC → local APICs.
      this.lapics.push(new Lapic(clock, {
        id,
        bsp: id === 0,
        cpu: {
          setIntr: () => this.updateIntr(id),
          nmi: () => { vcpu.raisePending(MM.PEND_NMI); this.wakeVcpu(id); },
          // INIT and start-up IPIs: the vCPU's thread resets or starts its core (the BSP ignores them).
          init: () => { if (id !== 0) { vcpu.raisePending(MM.PEND_INIT | MM.PEND_EXIT); this.wakeVcpu(id); } },
          startup: (vector) => {
            if (id === 0) return;
            vcpu.setU32(MM.R_SIPI_VECTOR, vector);
            vcpu.raisePending(MM.PEND_SIPI | MM.PEND_EXIT);
            this.wakeVcpu(id);
          },
        },
        sendIpi: (m, shorthand, source) => this.sendIpi(m, shorthand, source),
        eoiBroadcast: (v) => this.ioapic.eoi(v),
        onBaseChange: id === 0 ? () => { this.mmio.unregister('lapic'); this.registerLapicWindow(); } : undefined,
      }));
    }
    this.vcpu = this.vcpus[0];
    this.lapic = this.lapics[0];
    this.registerLapicWindow();
    this.ioapic = new IoApic({ deliver: (m) => this.deliverApic(m) });
    this.ioapic.register(this.mmio);
    this.pic = new Pic8259({ set: (level) => this.lapic.setLint(0, level) });
    this.pic.register(this.ports);

    this.pit = new Pit8254(this.clock, { irq0: this.isaIrq(0, 'pit') });
    this.pit.register(this.ports);
    this.rtc = new RtcMc146818(this.clock, { irq: this.isaIrq(8, 'rtc'), startTime: options.rtcStartSeconds ?? 0 });
    this.rtc.register(this.ports);
    this.rtc.setMemorySize(layout.ramBytes);
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
    this.hostBridge = new I440fxHostBridge();
    this.pci.addFunction(0, 0, this.hostBridge);
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
    // QEMU's firmware configuration ports: QEMU-style test kernels read the CPU count and RAM size there.
    this.fwCfg = new FwCfg({ ramBytes: layout.ramBytes, cpus: 1, memory: this.ram, files: [{ name: 'etc/e820', data: e820File(buildE820(layout.ramBytes)) }] });
    this.fwCfg.register(this.ports);
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
      this.xen = new XenHost(this, memory.backed, layout, {
        name: options.xen.name,
        console: (b) => { for (const x of b) this.consoleBuf.push(x); },
        log: options.xen.log,
      });
      // Emulated disks disappear when the guest's PV drivers ask (xen_emul_unplug=never keeps them).
      this.xen.onUnplugDisks = () => this.ide.detachAllDisks();
    }
  }

  // ---- state ------------------------------------------------------------------------------

  /**
   * Every part of the machine with state, in the order a restore loads them: this board first
   * (its IRQ line levels, so that devices driving their lines again change nothing), the
   * devices and the PV side, the interrupt controllers, and the clock last (timers get their
   * saved deadlines and order back after devices re-armed them). The vCPU's registers and
   * RAM are saved beside these (engine-ts/snapshot).
   */
  stateParts(): Stateful[] {
    return [
      this, this.pit, this.rtc, this.i8042, this.com1, this.com2, this.debug, this.fwCfg, this.acpiPm,
      this.pci, this.hostBridge, this.piix3, this.ide,
      ...(this.xen?.stateParts() ?? []),
      this.pic, this.ioapic, ...this.lapics,
      ...(this.vcpus.length > 1 ? [this.smpState()] : []),
      ...this.clocks,
    ];
  }

  saveState(): StateRecord {
    return BOARD_STATE.save(this);
  }

  /**
   * What a multi-vCPU machine shares beyond each vCPU's block: the TSC's high-water mark and
   * which vCPUs still wait for their start-up IPI (in the control block's SMP area).
   */
  private smpState(): Stateful {
    const ctrl = new DataView(this.memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE);
    const runstate = (k: number) => MM.CTRL_SMP_SLOTS + k * MM.SMP_SLOT_SIZE + MM.SLOT_RUNSTATE;
    const view = {
      get tscMax() { return ctrl.getBigUint64(MM.CTRL_TSC_MAX, true); },
      set tscMax(v: bigint) { ctrl.setBigUint64(MM.CTRL_TSC_MAX, v, true); },
      get waitingForSipi() { return Array.from({ length: n }, (_, k) => ctrl.getUint32(runstate(k), true) === MM.RS_WAIT_SIPI); },
      set waitingForSipi(w: boolean[]) { w.forEach((x, k) => ctrl.setUint32(runstate(k), x ? MM.RS_WAIT_SIPI : MM.RS_RUNNING, true)); },
    };
    const n = this.vcpus.length;
    const decl = declareState('smp', { tscMax: u64, waitingForSipi: list(bool, n, { exact: true }) });
    return {
      stateName: 'smp',
      stateVersion: decl.version,
      saveState: () => decl.save(view),
      loadState: (rec, version) => decl.load(view, rec, version),
    };
  }

  loadState(rec: StateRecord, version: number): void {
    BOARD_STATE.load(this, rec, version);
    for (const m of this.isaSources) for (const [k, v] of m) if (!v) m.delete(k);
  }

  /** Drive a GSI (I/O APIC pin; ISA IRQs also reach the 8259). */
  driveGsi(gsi: number, source: string, level: boolean): void {
    if (gsi < 16 && gsi !== 2) this.driveIsa(gsi === 0 ? 0 : gsi, source, level);
    else this.ioapic.setIrq(gsi, level);
  }

  /** Unix seconds of the guest's RTC at power-on. */
  get rtcStartSeconds(): number {
    return this.options.rtcStartSeconds ?? 0;
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
      apicIds: this.vcpus.map((v) => v.id),
      ioapic: { id: 0, address: 0xfec00000, gsiBase: 0 },
      sciIrq: SCI_IRQ,
      pciRoutes: routes,
      // With Xen, the platform device's BAR1 sits right above RAM: the window must include it.
      pciMemoryStart: this.options.xen ? this.layout.ramBytes : Math.max(this.layout.ramBytes, 0xe0000000),
    });
    return { bytes: t.bytes, rsdp: t.addresses['RSD PTR '], address: ACPI_TABLES_ADDR };
  }

  /** Copy the firmware tables into RAM (after a loader cleared low memory). */
  installFirmwareTables(): number {
    const t = this.firmwareTables();
    if (t.address + t.bytes.length > 0x100000) throw new Error('ACPI tables do not fit below 1 MiB');
    this.ram.write(t.address, t.bytes);
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
    // Only asserted sources are kept: the map is the same whichever sources ever touched the line.
    if (level) srcs.set(source, true);
    else srcs.delete(source);
    let any = false;
    for (const v of srcs.values()) any ||= v;
    if (any === this.isaLevel[irq]) return;
    this.isaLevel[irq] = any;
    if (irq !== 2) this.pic.setIrq(irq, any);
    // ISA IRQ 0 is wired to I/O APIC pin 2 (the MADT's interrupt source override); others 1:1.
    this.ioapic.setIrq(irq === 0 ? 2 : irq, any);
  }

  /**
   * Carry an APIC-bus message to every local APIC it addresses (physical ID, logical flat or
   * cluster, broadcast); lowest-priority delivery picks one of them, the one with the lowest
   * processor priority (the lowest APIC ID among equals).
   */
  private deliverApic(m: ApicMessage): void {
    const to = this.lapics.filter((l) => m.destination === 0xff || l.matchesDestination(m.destination, m.logical));
    if (m.deliveryMode === APIC_DM_LOWEST && to.length > 1) {
      let best = to[0];
      for (const l of to) if (l.processorPriority < best.processorPriority) best = l;
      best.receive(m);
      return;
    }
    for (const l of to) l.receive(m);
  }

  /** An IPI from local APIC `source`: shorthand 0 by destination, 2 to all, 3 to all but itself (1, self, stays in the APIC). */
  private sendIpi(m: ApicMessage, shorthand: number, source: number): void {
    if (shorthand === 0) this.deliverApic(m);
    else for (const l of this.lapics) if (shorthand === 2 || l.apicId !== source) l.receive(m);
  }

  /** The local APIC window: every vCPU sees its own local APIC at the same address. */
  private registerLapicWindow(): void {
    this.mmio.register(this.lapic.base, 0x1000, {
      read: (o, s) => this.lapics[this.caller].read(o, s),
      write: (o, s, v) => this.lapics[this.caller].write(o, s, v),
    }, 'lapic');
  }

  /**
   * A blocking hypercall of vCPU `id` ended (a Xen poll): it runs on. Its thread may be just
   * about to mark it halted for that very hypercall: the bumped counter tells it not to.
   */
  unblockCpu(id: number): void {
    const vcpu = this.vcpus[id];
    if (!vcpu) return;
    vcpu.halted = false;
    const w = this.memory.words(MM.CTRL_BASE + MM.CTRL_SMP_SLOTS + id * MM.SMP_SLOT_SIZE + MM.SLOT_UNBLOCK, 1);
    w.store(0, (w.load(0) + 1) | 0);
    this.wakeVcpu(id);
  }

  /** Tell vCPU `id`'s thread it has an event (vCPU 0: onWake). */
  wakeCpu(id: number): void {
    this.wakeVcpu(id);
  }

  private wakeVcpu(id: number): void {
    if (id === 0) this.wake();
    else this.onWakeVcpu?.(id);
  }

  private setA20(on: boolean): void {
    this.vcpu.setU32(MM.R_A20_MASK, on ? 0xffffffff : 0xffefffff);
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
    if (!this.ram.write(0x100000 - low, copy.subarray(size - low))) throw new BiosError(`a ${size >> 10} KiB BIOS needs at least 1 MiB of RAM`);
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

  /** Callbacks for vCPU 0's core (see engine-ts/worker/wasm-core.ts). */
  readonly coreHost: BoardCoreHost = this.makeCoreHost(0);
  private readonly hosts: BoardCoreHost[] = [];

  /** The callbacks for vCPU `id`'s core: another vCPU's thread forwards its exits to these (on this thread). */
  coreHostFor(id: number): BoardCoreHost {
    if (id === 0) return this.coreHost;
    if (!this.vcpus[id]) throw new RangeError(`this board has no vCPU ${id}`);
    return (this.hosts[id] ??= this.asCaller(id, this.makeCoreHost(id)));
  }

  /** Wrap each callback so that devices serve vCPU `id` (its local APIC, its registers) during it. */
  private asCaller(id: number, h: BoardCoreHost): BoardCoreHost {
    const wrapped = {} as Record<string, unknown>;
    for (const [k, f] of Object.entries(h) as Array<[string, (...a: number[]) => number]>) {
      wrapped[k] = (...a: number[]) => {
        this.caller = id;
        try { return f(...a); } finally { this.caller = 0; }
      };
    }
    return wrapped as unknown as BoardCoreHost;
  }

  /** Another vCPU triple-faulted: the machine resets (as the PC's shutdown cycle does). */
  tripleFault(): void {
    this.requestReset();
  }

  /** Fire vCPU `id`'s due timers (its thread saw its guest time reach its next deadline). */
  runTimers(id: number): void {
    this.caller = id;
    try { this.clocks[id].runDue(); } finally { this.caller = 0; }
    this.flushOutput();
  }

  /** The vCPU whose call the devices are serving (vCPU 0 outside such calls). */
  get callerVcpu(): VcpuState {
    return this.vcpus[this.caller];
  }

  private makeCoreHost(id: number): BoardCoreHost {
    return {
      ioRead: (port, size) => { this.exits.io++; return this.ports.read(port, size as AccessSize); },
      ioWrite: (port, size, value) => { this.exits.io++; this.ports.write(port, size as AccessSize, value); },
      mmioRead: (addr, size) => { this.exits.mmio++; return this.mmio.read(addr, size as AccessSize); },
      mmioWrite: (addr, size, value) => { this.exits.mmio++; this.mmio.write(addr, size as AccessSize, value); },
      intAck: () => {
        const v = this.acknowledgeInterrupt(id);
        if (v >= 0) this.interrupts++;
        if (id === 0) this.xen?.afterInterruptAck();
        return v;
      },
      msrHost: (write, index, lo, hi) => {
        if (index === 0x1b && write) { this.lapics[id].writeApicBaseMsr(lo); return 0; }
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
  }

  /** vCPU `id`'s INTR input: its local APIC, or (vCPU 0) a pending Xen event-channel callback. */
  updateIntr(id = 0): void {
    const vcpu = this.vcpus[id];
    if (this.lapics[id].hasInterrupt() || this.xen?.callbackPending(id)) {
      vcpu.raisePending(MM.PEND_INTR);
      if (id !== 0) this.wakeVcpu(id);
    } else vcpu.clearPending(MM.PEND_INTR);
  }

  private acknowledgeInterrupt(id: number): number {
    const cb = this.xen ? this.xen.takeCallback(id) : -1;
    if (cb >= 0) return cb;
    const lapic = this.lapics[id];
    if (!lapic.hasInterrupt()) { this.updateIntr(id); return -1; }
    const v = lapic.acknowledge();
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
   * (and fire it), or by `maxNs` if that comes first. Returns the ns skipped, or -1 if nothing
   * is scheduled and no limit given (only outside input can wake the guest).
   */
  skipToNextEvent(maxNs = Infinity): number {
    this.syncClock();
    const next = this.clock.nextDeadline();
    if (next === Infinity && maxNs === Infinity) return -1;
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

  /**
   * Bring the machine to a point where all of it is data (call with the vCPU stopped): every
   * disk operation finished and answered, device output flushed. Then saveState() of every
   * part describes the whole machine.
   */
  async quiesce(): Promise<void> {
    await this.ide.quiesce();
    await this.xen?.quiesce();
    this.flushOutput();
  }

  /** VM exits by device since power-on: port I/O and MMIO accesses by each device's name. */
  exitsByDevice(): Array<{ name: string; io: number; mmio: number }> {
    const out = new Map<string, { name: string; io: number; mmio: number }>();
    const at = (name: string) => out.get(name) ?? out.set(name, { name, io: 0, mmio: 0 }).get(name)!;
    for (const [name, n] of this.ports.accessesByOwner()) at(name).io += n;
    for (const [name, n] of this.mmio.accessesByOwner()) at(name).mmio += n;
    return [...out.values()].sort((a, b) => b.io + b.mmio - (a.io + a.mmio));
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

const BOARD_STATE = declareState('board', {
  /** Per ISA IRQ: the sources (device, PCI PIRQ route) asserting it. */
  isaSources: list(map(str(32), bool, 32), 16, { exact: true }),
  /** Per ISA IRQ: the wire-OR of its sources, as the PIC and I/O APIC last saw it. */
  isaLevel: list(bool, 16, { exact: true }),
  resetRequested: bool,
  poweredOff: bool,
});

// The board's "Xen mode": the mini hypervisor from engine-ts/pv wired to this machine —
// CPUID leaves and hypercalls from the core, the xen-platform-pci device on the PCI bus,
// event-channel upcalls into the local APIC, grant-table frames and the xenstore/console
// rings in backed memory, and the dom0 toolstack with its backends (hvc0, disks, NICs).
//
// Memory: the machine has XEN_EXTRA_BYTES (memory-map.ts) of backed memory right above
// guest RAM that the e820 map does not list. "Firmware" assigns the platform device's BAR1 there, so the grant
// frames Linux places in BAR1 — and the xenstore and console rings at its end — are plain
// memory to the core (no MMIO exits) and to the backends.

import * as MM from '../../engine-wasm/memory-map';
import type { GuestMemory, IoPorts, StateRecord, Stateful } from '../platform/bus';
import { declareState, int, u16 } from '../platform/state';
import type { VirtualClock } from '../platform/clock';
import type { VcpuState } from '../platform/vcpu-state';
import {
  PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_INTERRUPT_LINE, type PciFunction,
} from '../platform/pci-function';
import type { MachineLayout } from '../config/machine';
import { GuestVirtual } from '../platform/guest-virtual';
import { Hypervisor } from '../pv/hypervisor';
import type { HvmDomain } from '../pv/domain';
import { Toolstack, xvdDevid, xvdName, type GuestRecord } from '../pv/toolstack';
import { EventTrace } from '../platform/event-trace';
import { inspectXen } from '../pv/inspect';
import type { XenSample } from '../config/inspect';
import { XenPlatformPci, UNPLUG_ALL_IDE_DISKS, UNPLUG_AUX_IDE_DISKS, XEN_PLATFORM_BAR1_SIZE } from '../pv/xen-platform-pci';
import { HypercallExit } from '../pv/interfaces';
import type { FramePort, FrameUplink } from '../network/net-switch';
import { xenCpuid } from '../pv/cpuid';
import type { BlockDevice } from '../disk/block-device';

/** I/O port the firmware gives BAR0. */
const PLATFORM_BAR0 = 0xc000;
/** PCI slot of the platform device. */
export const XEN_PLATFORM_SLOT = 3;
const GUEST_DOMID = 1;
const MSR_XEN_HYPERCALL_PAGE = 0x40000000;

export interface XenHostOptions {
  name: string;
  /** Where hvc0 output goes. */
  console: (bytes: Uint8Array) => void;
  log?: (line: string) => void;
}

/** What Xen mode needs of the board (a narrow view: the board wires XenHost, not the reverse). */
export interface XenBoard {
  /** vCPU 0, and every vCPU by id. */
  readonly vcpu: VcpuState;
  readonly vcpus: readonly VcpuState[];
  /** The vCPU whose exit (hypercall, CPUID) is being served. */
  readonly callerVcpu: VcpuState;
  readonly clock: VirtualClock;
  readonly ports: IoPorts;
  readonly pci: { addFunction(device: number, func: number, fn: PciFunction): void };
  /** Unix seconds of the guest's RTC at power-on (Xen's wall clock). */
  readonly rtcStartSeconds: number;
  /** Re-evaluate vCPU `id`'s INTR line (the callback vector became pending or was taken). */
  updateIntr(id: number): void;
  /** Let halted vCPU `id` run. */
  wakeCpu(id: number): void;
  /** A blocking hypercall of vCPU `id` ended: it runs on (even with interrupts disabled). */
  unblockCpu(id: number): void;
  /** Let vCPU 0 run (an I/O completion). */
  wake(): void;
  driveGsi(gsi: number, source: string, level: boolean): void;
  /** SCHEDOP_shutdown: poweroff 0, reboot 1, crash 3. */
  guestShutdown(reason: number): void;
}

export class XenHost implements Stateful {
  readonly stateName = 'xen-host';
  readonly stateVersion = XEN_HOST_STATE.version;
  readonly hv: Hypervisor;
  readonly toolstack: Toolstack;
  readonly domain: HvmDomain;
  readonly guest: GuestRecord;
  readonly platform: XenPlatformPci;
  /** Each vCPU's view of guest-virtual memory (hypercall arguments are virtual addresses). */
  private readonly gvas: GuestVirtual[];
  /** Bits of UNPLUG_* the guest asked for. */
  unplugged = 0;
  /** HVM_PARAM_CALLBACK_IRQ vector (type 2), once the domain has asked to inject it. */
  private callbackVector = -1;
  /** Called when the guest unplugs emulated disks (the board detaches them from IDE). */
  onUnplugDisks: (() => void) | null = null;

  /**
   * `mem` is guest memory including the backed window above RAM, where "firmware" places the
   * platform device's BAR1 (so grant frames, and the xenstore and console rings at the
   * window's end, are plain memory to the core and the backends).
   */
  constructor(private readonly board: XenBoard, private readonly mem: GuestMemory, layout: MachineLayout, opts: XenHostOptions) {
    const { ramBytes, backedBytes } = layout;
    if (ramBytes % XEN_PLATFORM_BAR1_SIZE !== 0 || backedBytes !== ramBytes + XEN_PLATFORM_BAR1_SIZE || mem.size !== backedBytes)
      throw new Error('Xen mode needs guest RAM in multiples of 16 MiB and the BAR1 window right above it');
    this.gvas = board.vcpus.map((v) => new GuestVirtual(v, mem));
    this.hv = new Hypervisor((m) => opts.log?.(m), new EventTrace(() => board.clock.now()));
    this.platform = new XenPlatformPci({
      unplug: (mask) => {
        this.unplugged |= mask;
        if (mask & (UNPLUG_ALL_IDE_DISKS | UNPLUG_AUX_IDE_DISKS)) this.onUnplugDisks?.();
      },
      log: (line) => opts.log?.(`xen-platform: ${line}`),
    });
    // Firmware-assigned resources: BAR0 I/O, BAR1 on the backed window, decoding on.
    board.pci.addFunction(XEN_PLATFORM_SLOT, 0, this.platform);
    this.platform.writeConfig(PCI_BASE_ADDRESS_0, 4, PLATFORM_BAR0);
    this.platform.writeConfig(PCI_BASE_ADDRESS_0 + 4, 4, ramBytes);
    this.platform.writeConfig(PCI_INTERRUPT_LINE, 1, 11);
    this.platform.writeConfig(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    this.platform.registerPorts(board.ports);

    const vcpu = board.vcpu;
    this.domain = this.hv.createDomain({
      domid: GUEST_DOMID,
      name: opts.name,
      memory: mem,
      nrVcpus: board.vcpus.length,
      upcalls: {
        // Xen injects the callback vector straight into the vCPU, not through the local APIC:
        // no IRR/ISR bits, and Linux never EOIs it (an ISR bit would block lower vectors for
        // good). It is offered at every interrupt window while that vCPU's
        // evtchn_upcall_pending is set.
        injectVector: (v, vector) => {
          this.callbackVector = vector;
          board.updateIntr(v);
          board.wakeCpu(v);
        },
        setGsiLevel: (gsi, level) => board.driveGsi(gsi, 'xen-callback', level),
        setPciIntxLevel: (level) => this.platform.setIrq(level),
        kick: (v) => board.wakeCpu(v),
        unblock: (v) => board.unblockCpu(v),
      },
      physmap: {
        // RAM and the BAR1 window are both backed memory; nothing to add.
        place: (gfn) => gfn >= 0 && (gfn + 1) * 4096 <= mem.size,
        release: () => {},
      },
      time: {
        clock: board.clock,
        tscHz: 1e9,
        tsc: () => BigInt(Math.floor(board.clock.now())) + vcpu.u64(MM.R_TSC_OFFSET),
        wallClockSec: board.rtcStartSeconds,
        wallClockNsec: 0,
      },
      host: {
        shutdown: (reason) => board.guestShutdown(reason),
        debugOutput: (bytes) => opts.log?.(new TextDecoder().decode(bytes)),
        log: (m) => opts.log?.(m),
      },
    });
    this.toolstack = new Toolstack(this.hv);
    const lastGfn = backedBytes / 4096 - 1;
    this.guest = this.toolstack.buildDomain(this.domain, {
      storeGfn: lastGfn - 1,
      consoleGfn: lastGfn,
      console: { write: (b) => opts.console(b) },
      memoryKiB: ramBytes / 1024,
    });
    for (const v of board.vcpus) v.setU32(MM.R_CPUID_FLAGS, v.u32(MM.R_CPUID_FLAGS) | MM.CPUIDF_HYPERVISOR);
  }

  /**
   * The PV side's parts with state, in restore order: dom0's port table first (backends then
   * attach their handlers to their saved ports), the domain, xenstore and its ring, the
   * backends, the switch, the platform device, and this object last (it checks every dom0
   * port found its backend again).
   */
  stateParts(): Stateful[] {
    const g = this.guest;
    return [this.hv, this.domain, this.toolstack.store, g.store, g.console, ...g.disks.values(), ...g.nics.values(), this.toolstack.switch, this.platform, this];
  }

  saveState(): StateRecord {
    return XEN_HOST_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    XEN_HOST_STATE.load(this, rec, version);
    const g = this.guest;
    this.hv.dom0.attach(g.storePort, () => g.store.onEvent());
    this.hv.checkRestored();
  }

  /** Type into hvc0. */
  consoleInput(bytes: Uint8Array): void {
    this.guest.console.input(bytes);
  }

  /**
   * Guest time reached a PV disk answer's due time before the host finished its I/O: the run
   * loop must hold the vCPU until `hostReady()` (as for the IDE disk; see HostIoQueue).
   */
  get waitingForHost(): boolean {
    for (const b of this.guest.disks.values()) if (b.waitingForHost) return true;
    return false;
  }

  hostReady(): Promise<void> {
    for (const b of this.guest.disks.values()) if (b.waitingForHost) return b.hostReady();
    return Promise.resolve();
  }

  /** Finish every PV disk request now (before a snapshot). */
  async quiesce(): Promise<void> {
    for (const b of this.guest.disks.values()) await b.quiesce();
  }

  /** Attach `disk` as xvd<n> (at power-on, or hot-plugged into the running guest). */
  addDisk(n: number, disk: BlockDevice): { devid: number; name: string } {
    const b = this.toolstack.addDisk(GUEST_DOMID, n, disk, { onHostDone: () => this.board.wake() });
    return { devid: b.devid, name: xvdName(n) };
  }

  /** Hot-unplug xvd<n>: `done` runs once the guest has closed it and it is gone. */
  removeDisk(n: number, done: () => void): void {
    this.toolstack.unplug(GUEST_DOMID, 'vbd', xvdDevid(n), done);
  }

  addNic(devid: number, mac: string): void {
    this.toolstack.addNic(GUEST_DOMID, devid, mac);
  }

  removeNic(devid: number, done: () => void): void {
    this.toolstack.unplug(GUEST_DOMID, 'vif', devid, done);
  }

  /** A device is being unplugged (waiting for the guest to close it). */
  get unplugging(): boolean {
    for (const d of [...this.guest.disks.values(), ...this.guest.nics.values()]) if (d.unplugging) return true;
    return false;
  }

  /** The PV side as the inspector shows it. */
  inspect(): XenSample {
    return inspectXen(this.hv, this.toolstack, this.guest);
  }

  /** The timeline of PV events (recording while an inspector reads it). */
  get trace(): EventTrace {
    return this.hv.trace;
  }

  /** Connect the machine's virtual switch to something outside (another machine's switch). */
  connectUplink(port: FramePort, name: string): FrameUplink {
    return this.toolstack.switch.attach(port, name);
  }

  // ---- core callbacks ---------------------------------------------------------------------
  cpuid(leaf: number, sub: number): boolean {
    const s = this.board.callerVcpu;
    const r = xenCpuid(leaf, sub, s.id, GUEST_DOMID);
    if (!r) return false;
    s.setGpr('eax', r.eax); s.setGpr('ebx', r.ebx); s.setGpr('ecx', r.ecx); s.setGpr('edx', r.edx);
    return true;
  }

  /** MSR write from the core: the hypercall-page MSR. True if handled. */
  wrmsr(index: number, lo: number, hi: number): boolean {
    if (index !== MSR_XEN_HYPERCALL_PAGE) return false;
    return this.domain.writeHypercallMsr((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  hypercall(): number {
    const s = this.board.callerVcpu;
    const regs = { eax: s.gpr(0), ebx: s.gpr(3), ecx: s.gpr(1), edx: s.gpr(2), esi: s.gpr(6), edi: s.gpr(7) };
    const exit = this.hv.hypercall(GUEST_DOMID, { vcpu: s.id, cpl: s.cpl, regs, mem: this.gvas[s.id] });
    s.setGpr('eax', regs.eax); s.setGpr('ebx', regs.ebx); s.setGpr('ecx', regs.ecx);
    s.setGpr('edx', regs.edx); s.setGpr('esi', regs.esi); s.setGpr('edi', regs.edi);
    return exit === HypercallExit.Block ? 1 : 0;
  }

  /** The guest acknowledged an interrupt: a level-triggered callback line may drop now. */
  afterInterruptAck(): void {
    this.domain.refreshCallbackLevel();
  }

  /** Is the event-channel callback vector to be injected into vCPU `id` (it has an upcall pending)? */
  callbackPending(id: number): boolean {
    return this.callbackVector >= 0 && this.domain.evtchn2l.upcallPending(id);
  }

  /** The callback vector to inject into vCPU `id` now, or -1. */
  takeCallback(id: number): number {
    return this.callbackPending(id) ? this.callbackVector : -1;
  }
}

const XEN_HOST_STATE = declareState('xen-host', {
  /** UNPLUG_* bits the guest asked for. */
  unplugged: u16,
  /** HVM_PARAM_CALLBACK_IRQ vector, once the domain asked for it (-1 before). */
  callbackVector: int(-1, 255),
});

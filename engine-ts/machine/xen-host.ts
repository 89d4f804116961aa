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
import { CodePages } from './code-pages';
import type { AccessSize, GuestMemory, MmioHandler, PortHandler } from './bus';
import type { Board } from './board';
import { GuestVirtual } from './guest-virtual';
import { Hypervisor } from '../pv/hypervisor';
import type { HvmDomain } from '../pv/domain';
import { Toolstack, type GuestRecord } from '../pv/toolstack';
import { XenPlatformPci, UNPLUG_ALL_IDE_DISKS, UNPLUG_AUX_IDE_DISKS } from '../pv/xen-platform-pci';
import { HypercallExit, type FramePort, type FrameUplink } from '../pv/interfaces';
import { xenCpuid } from '../pv/cpuid';
import type { PciAttachment, PciFunction } from '../devices/pci/pci-function';
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

/** The platform device as a function on the board's PCI bus (BARs mapped through the bus). */
class PlatformFunction implements PciFunction {
  readonly name = 'xen-platform';
  readonly interruptPin = 1;
  private at: PciAttachment | null = null;
  private mapped: Array<{ kind: 'io' | 'mem'; base: number; size: number } | null> = [null, null];

  constructor(readonly dev: XenPlatformPci) {}

  attach(at: PciAttachment): void {
    this.at = at;
    this.remap();
  }
  readConfig(offset: number, size: AccessSize): number { return this.dev.configRead(offset, size); }
  writeConfig(offset: number, size: AccessSize, value: number): void {
    this.dev.configWrite(offset, size, value);
    if (offset < 0x40) this.remap();
  }
  setIntx(level: boolean): void { this.at?.setIntx(level); }

  /** Map each BAR where the config space says, while decoding is enabled. */
  private remap(): void {
    if (!this.at) return;
    const cmd = this.dev.configRead(0x04, 2);
    for (const bar of this.dev.bars) {
      const enabled = bar.kind === 'io' ? (cmd & 1) !== 0 : (cmd & 2) !== 0;
      const base = this.dev.barBase(bar.index);
      const want = enabled && base !== 0 && base !== (bar.kind === 'io' ? 0xfffc : 0xfffffff0) ? { kind: bar.kind, base, size: bar.size } : null;
      const cur = this.mapped[bar.index];
      if (cur && want && cur.base === want.base) continue;
      if (cur) {
        if (cur.kind === 'io') this.at.mapper.unmapIo(cur.base, cur.size); else this.at.mapper.unmapMmio(cur.base, cur.size);
        this.mapped[bar.index] = null;
      }
      if (!want) continue;
      const h = this.dev.barHandler(bar.index);
      if (!h) continue;
      try {
        if (want.kind === 'io') {
          const ph: PortHandler = { read: (p, s) => h.read(p - want.base, s), write: (p, s, v) => h.write(p - want.base, s, v) };
          this.at.mapper.mapIo(want.base, want.size, ph, `xen-platform BAR${bar.index}`);
        } else {
          const mh: MmioHandler = h;
          this.at.mapper.mapMmio(want.base, want.size, mh, `xen-platform BAR${bar.index}`);
        }
        this.mapped[bar.index] = want;
      } catch (e) {
        this.at.warn(`xen-platform BAR${bar.index} at 0x${want.base.toString(16)}: ${(e as Error).message}`);
      }
    }
  }
}

/** Guest-physical memory the PV layer sees: RAM plus the backed BAR1 window above it. */
class BackedMemory implements GuestMemory {
  private readonly code: CodePages;
  constructor(private readonly memory: WebAssembly.Memory, readonly size: number) {
    this.code = new CodePages(memory);
    if (MM.RAM_BASE + size > memory.buffer.byteLength)
      throw new Error(`Xen mode needs ${size >> 20} MiB of machine memory above the layout area (RAM plus the 16 MiB BAR1 window); this machine's memory is smaller`);
  }
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
}

export class XenHost {
  readonly hv: Hypervisor;
  readonly toolstack: Toolstack;
  readonly domain: HvmDomain;
  readonly guest: GuestRecord;
  readonly platform: XenPlatformPci;
  private readonly fn: PlatformFunction;
  private readonly mem: BackedMemory;
  private readonly gva: GuestVirtual;
  /** Bits of UNPLUG_* the guest asked for. */
  unplugged = 0;
  /** HVM_PARAM_CALLBACK_IRQ vector (type 2), once the domain has asked to inject it. */
  private callbackVector = -1;
  /** Called when the guest unplugs emulated disks (the board detaches them from IDE). */
  onUnplugDisks: (() => void) | null = null;

  constructor(private readonly board: Board, opts: XenHostOptions) {
    const ramBytes = board.ram.size;
    const barBase = ramBytes; // BAR1 sits right above RAM (16 MiB aligned: RAM sizes are whole MiB multiples of 16)
    if (barBase % MM.XEN_EXTRA_BYTES !== 0) throw new Error('Xen mode needs guest RAM to be a multiple of 16 MiB');
    this.mem = new BackedMemory(board.memory, ramBytes + MM.XEN_EXTRA_BYTES);
    this.gva = new GuestVirtual(board.vcpu, this.mem);
    this.hv = new Hypervisor((m) => opts.log?.(m));
    this.platform = new XenPlatformPci({
      unplug: (mask) => {
        this.unplugged |= mask;
        if (mask & (UNPLUG_ALL_IDE_DISKS | UNPLUG_AUX_IDE_DISKS)) this.onUnplugDisks?.();
      },
      log: (line) => opts.log?.(`xen-platform: ${line}`),
    });
    // Firmware-assigned resources: BAR0 I/O, BAR1 on the backed window, decoding on.
    this.platform.configWrite(0x10, 4, PLATFORM_BAR0);
    this.platform.configWrite(0x14, 4, barBase);
    this.platform.configWrite(0x3c, 1, 11);
    this.platform.registerPorts(board.ports);
    this.fn = new PlatformFunction(this.platform);
    board.pci.addFunction(XEN_PLATFORM_SLOT, 0, this.fn);

    const vcpu = board.vcpu;
    this.domain = this.hv.createDomain({
      domid: GUEST_DOMID,
      name: opts.name,
      memory: this.mem,
      nrVcpus: 1,
      upcalls: {
        // Xen injects the callback vector straight into the vCPU, not through the local APIC:
        // no IRR/ISR bits, and Linux never EOIs it (an ISR bit would block lower vectors for
        // good). It is offered at every interrupt window while evtchn_upcall_pending is set.
        injectVector: (_v, vector) => {
          this.callbackVector = vector;
          board.updateIntr();
          board.wake();
        },
        setGsiLevel: (gsi, level) => board.driveGsi(gsi, 'xen-callback', level),
        setPciIntxLevel: (level) => this.fn.setIntx(level),
        kick: () => board.wake(),
      },
      physmap: {
        // RAM and the BAR1 window are both backed memory; nothing to add.
        place: (gfn) => gfn >= 0 && (gfn + 1) * 4096 <= this.mem.size,
        release: () => {},
      },
      time: {
        clock: board.clock,
        tscHz: 1e9,
        tsc: () => BigInt(Math.floor(board.clock.now())) + vcpu.u64(MM.R_TSC_OFFSET),
        wallClockSec: board.options.rtcStartSeconds ?? 0,
        wallClockNsec: 0,
      },
      host: {
        shutdown: (reason) => board.guestShutdown(reason),
        debugOutput: (bytes) => opts.log?.(new TextDecoder().decode(bytes)),
        log: (m) => opts.log?.(m),
      },
    });
    this.toolstack = new Toolstack(this.hv);
    const lastGfn = (ramBytes + MM.XEN_EXTRA_BYTES) / 4096 - 1;
    this.guest = this.toolstack.buildDomain(this.domain, {
      storeGfn: lastGfn - 1,
      consoleGfn: lastGfn,
      console: { write: (b) => opts.console(b) },
      memoryKiB: ramBytes >> 10,
    });
    store32(board.memory, vcpu.base + MM.R_CPUID_FLAGS, board.vcpu.u32(MM.R_CPUID_FLAGS) | MM.CPUIDF_HYPERVISOR);
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

  addDisk(n: number, disk: BlockDevice): void {
    this.toolstack.addDisk(GUEST_DOMID, n, disk, { onHostDone: () => this.board.wake() });
  }

  addNic(devid: number, mac: string): void {
    this.toolstack.addNic(GUEST_DOMID, devid, mac);
  }

  /** Connect the machine's virtual switch to something outside (another machine's switch). */
  connectUplink(port: FramePort, name: string): FrameUplink {
    return this.toolstack.switch.attach(port, name);
  }

  // ---- core callbacks ---------------------------------------------------------------------
  cpuid(leaf: number, sub: number): boolean {
    const r = xenCpuid(leaf, sub, 0, GUEST_DOMID);
    if (!r) return false;
    const s = this.board.vcpu;
    s.setGpr('eax', r.eax); s.setGpr('ebx', r.ebx); s.setGpr('ecx', r.ecx); s.setGpr('edx', r.edx);
    return true;
  }

  /** MSR write from the core: the hypercall-page MSR. True if handled. */
  wrmsr(index: number, lo: number, hi: number): boolean {
    if (index !== MSR_XEN_HYPERCALL_PAGE) return false;
    return this.domain.writeHypercallMsr((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  hypercall(): number {
    const s = this.board.vcpu;
    const regs = { eax: s.gpr(0), ebx: s.gpr(3), ecx: s.gpr(1), edx: s.gpr(2), esi: s.gpr(6), edi: s.gpr(7) };
    const exit = this.hv.hypercall(GUEST_DOMID, { vcpu: 0, cpl: s.cpl, regs, mem: this.gva });
    s.setGpr('eax', regs.eax); s.setGpr('ebx', regs.ebx); s.setGpr('ecx', regs.ecx);
    s.setGpr('edx', regs.edx); s.setGpr('esi', regs.esi); s.setGpr('edi', regs.edi);
    return exit === HypercallExit.Block ? 1 : 0;
  }

  /** The guest acknowledged an interrupt: a level-triggered callback line may drop now. */
  afterInterruptAck(): void {
    this.domain.refreshCallbackLevel();
  }

  /** Is the event-channel callback vector to be injected (vCPU 0 has an upcall pending)? */
  callbackPending(): boolean {
    return this.callbackVector >= 0 && this.domain.evtchn2l.upcallPending(0);
  }

  /** The callback vector to inject now, or -1. */
  takeCallback(): number {
    return this.callbackPending() ? this.callbackVector : -1;
  }
}

function store32(memory: WebAssembly.Memory, byteOffset: number, v: number): void {
  new DataView(memory.buffer).setUint32(byteOffset, v >>> 0, true);
}

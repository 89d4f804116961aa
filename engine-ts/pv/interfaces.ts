// The small interfaces between the PV layer (the "mini Xen" in TypeScript) and the rest of
// the engine. The x86 core, the board and the host implement these; nothing in pv/ imports
// the core, a device or the worker code.

import type { GuestMemory } from '../platform/bus';
import type { VirtualClock } from '../platform/clock';

export type { GuestMemory } from '../platform/bus';

/** The guest's registers at a VMCALL/VMMCALL (32-bit guest: EAX = op, EBX..EDI = args 1..5). */
export interface HypercallRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
}

/**
 * Guest-virtual memory in the calling vCPU's current paging context, supervisor access.
 * Hypercall arguments are pointers of this kind (spec §3.3). A page walk that faults, or an
 * address outside RAM, makes the copy fail (the hypercall then returns -EFAULT).
 */
export interface GuestVirtualMemory {
  read(va: number, dst: Uint8Array): boolean;
  write(va: number, src: Uint8Array): boolean;
}

/** What the core hands the dispatcher for one hypercall. */
export interface HypercallContext {
  vcpu: number;
  /** Current privilege level; hypercalls from CPL > 0 fail with -EPERM. */
  cpl: number;
  regs: HypercallRegs;
  mem: GuestVirtualMemory;
}

/** What the core should do after the hypercall returned (EAX already holds the result). */
export enum HypercallExit {
  /** Resume the guest. */
  Continue = 0,
  /** Halt this vCPU until an event is pending for it (SCHEDOP_block / SCHEDOP_poll), like HLT. */
  Block = 1,
  /** Let other vCPUs / the host run before resuming (SCHEDOP_yield). */
  Yield = 2,
}

/** How an event-channel upcall reaches a vCPU (HVM_PARAM_CALLBACK_IRQ, spec §8). */
export interface UpcallSink {
  /** Deliver LAPIC vector `vector` (fixed, edge) to vCPU `vcpu`. */
  injectVector(vcpu: number, vector: number): void;
  /** Drive GSI `gsi` (callback type 0). Held high while vCPU 0 has evtchn_upcall_pending set. */
  setGsiLevel(gsi: number, level: boolean): void;
  /** Drive the platform device's INTx line (callback type 1). */
  setPciIntxLevel(level: boolean): void;
  /** A vCPU blocked in SCHEDOP_block/poll has an event (or a poll timed out): let it run. */
  kick(vcpu: number): void;
  /**
   * A SCHEDOP_poll ended (an event on a polled port, or its timeout): the vCPU's hypercall
   * returns, even with interrupts disabled (Linux's PV spinlocks poll that way).
   */
  unblock?(vcpu: number): void;
}

/**
 * Makes guest frames show hypervisor pages (XENMEM_add_to_physmap). The PV layer keeps the
 * object's contents in guest memory at `gfn`, so the board must make that frame ordinary
 * memory that both the core and `GuestMemory` reach (it usually lies in BAR1 of the
 * platform device, outside RAM). A frame already in RAM needs nothing.
 */
export interface PhysmapHost {
  /** Back guest frame `gfn` with memory; false if the board cannot. */
  place(gfn: number, what: string): boolean;
  /** The object moved away from `gfn`; the board may drop the backing it added in place(). */
  release(gfn: number): void;
}

/** Guest time for the PV clock fields. The engine never reads host time. */
export interface GuestTime {
  clock: VirtualClock;
  /** TSC frequency the board gives the guest, in Hz. */
  tscHz: number;
  /** The TSC value at the clock's current time. */
  tsc(): bigint;
  /** Unix time (seconds, nanoseconds) at guest system time 0, written into shared_info. */
  wallClockSec: number;
  wallClockNsec: number;
}

/** Domain-level events the board acts on. */
export interface DomainHost {
  /** SCHEDOP_shutdown: reason is SHUTDOWN_* (poweroff, reboot, suspend, crash, watchdog, soft_reset). */
  shutdown(reason: number): void;
  /** Bytes from CONSOLEIO_write and I/O port 0xE9 (debug output, not the hvc0 console). */
  debugOutput?(bytes: Uint8Array): void;
  /** Problems worth a line in the inspector (a guest broke a protocol, a backend gave up). */
  log?(message: string): void;
}

/** Host side of a console: bytes the guest printed. Input goes the other way via a method. */
export interface ConsoleSink {
  write(bytes: Uint8Array): void;
}

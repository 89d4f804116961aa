// The public surface of the engine (browser and Node): machine configuration and events.
// The app and the CLI import only from engine-ts/api.

/** Kernel parameter for Linux guests with a PV disk: blkfront may then send 1 MiB requests. */
export { BLKFRONT_CMDLINE } from '../pv/backends/blkback';

export type Pacing = 'realtime' | 'fast';

export type GuestSpec =
  /** A flat binary started in real mode at `loadAddress` (default 0x7C00). */
  | { kind: 'flat'; image: Uint8Array; loadAddress?: number; name?: string }
  /** A Linux bzImage booted directly (Linux boot protocol, no BIOS). */
  | { kind: 'linux'; kernel: Uint8Array; initrd?: Uint8Array; cmdline?: string; name?: string }
  /** A firmware image (64/128/256 KiB) started at the reset vector, as a PC powers on. */
  | { kind: 'bios'; rom: Uint8Array; name?: string }
  /** A Multiboot (v1) kernel with a command line and modules. */
  | { kind: 'multiboot'; kernel: Uint8Array; cmdline?: string; modules?: Array<{ data: Uint8Array; cmdline?: string }>; name?: string };

export interface MachineConfig {
  /** Guest RAM in MiB (default 32). */
  memoryMiB?: number;
  guest: GuestSpec;
  /** 'realtime' (default in the page): idle guest time follows the wall clock; 'fast': idle time is skipped. */
  pacing?: Pacing;
  /** Port 0xE9 debug console, POST codes on 0x80/0x190, exit on 0xF4 (default on). */
  debugPorts?: boolean;
  /** Unix seconds for the guest's RTC at power-on (default: the host's current time). */
  rtcStartSeconds?: number;
  /**
   * Xen HVM mode: the guest finds "Xen" (CPUID, hypercalls, xen-platform-pci) and its PV
   * frontends bind to backends here (hvc0 console, xen-blkfront disks, xen-netfront NICs).
   * Guest RAM must then be a multiple of 16 MiB.
   */
  xen?: boolean;
  /** Which console the user types into: the serial port (default) or hvc0 (Xen). */
  consoleInput?: 'serial' | 'hvc0';
  /** Disks: a VHD file (Node) or an IndexedDB disk id (browser), on the emulated IDE bus or PV. */
  disks?: DiskSpec[];
  /** Network interfaces (Xen mode): xen-netfront NICs on the machine's virtual switch. */
  nics?: Array<{ mac: string }>;
  /**
   * Translate hot guest code to WebAssembly (default off; in Node, PVLAB_JIT=1 makes the
   * default on). Off: every instruction is interpreted.
   */
  jit?: boolean;
}

export interface DiskSpec {
  /** 'ide': emulated PIIX IDE (/dev/sda...); 'xen': PV disk (xvda...) through blkback. */
  bus: 'ide' | 'xen';
  /** A .vhd file path (Node hosts). */
  file?: string;
  /** A disk id from the browser's disk library (engine-ts/api/disks). */
  idbDisk?: string;
  readOnly?: boolean;
}

export type StopReason =
  | { kind: 'stopped' }
  | { kind: 'halted' }
  | { kind: 'poweroff' } // ACPI S5
  | { kind: 'exit'; code: number }
  | { kind: 'triple-fault' }
  | { kind: 'error'; message: string };

export interface MachineStats {
  instructions: number;
  guestNs: number;
  wallMs: number;
  mips: number;
  halted: boolean;
  exits: { io: number; mmio: number; hypercall: number; halt: number };
  /** Where the wall time went (core, device models, idle) and the idle guest time skipped. */
  split: RunnerSplit;
  /** Translation to WebAssembly: whether it is on, the share of instructions it ran, what it holds. */
  jit: RunnerJitStats;
}

import type { GuestProfile } from '../machine/board';
import type { RunnerJitStats, RunnerSplit } from '../worker/runner';
export type { RunnerJitStats, RunnerSplit };
export type { GuestProfile };

export interface MachineEvents {
  /** Bytes the guest wrote to its console (COM1). */
  onConsole?(bytes: Uint8Array): void;
  /** Bytes written to the 0xE9 debug port. */
  onDebug?(bytes: Uint8Array): void;
  /** POST code written to port 0x80 or 0x190. */
  onPostCode?(code: number, port: number): void;
}

export interface MachineHandle {
  /** Start (or resume) running. Resolves when the machine stops; see StopReason. */
  run(): Promise<StopReason>;
  /** Ask a running machine to stop; resolves once it has. */
  stop(): Promise<void>;
  /** Type into the guest's console. */
  sendInput(bytes: Uint8Array): void;
  stats(): Promise<MachineStats>;
  /**
   * Sample the guest's EIP every `everyInstructions` retired instructions from now on (0 stops;
   * otherwise 100..1e9). Returns the samples taken since the previous call.
   */
  profile(everyInstructions: number): Promise<GuestProfile>;
  /** Release the machine (terminates its worker). */
  dispose(): void;
}

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

export function validateConfig(c: MachineConfig): Required<Pick<MachineConfig, 'memoryMiB' | 'pacing' | 'debugPorts'>> {
  const memoryMiB = c.memoryMiB ?? 32;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 2 || memoryMiB > 2048) throw new ConfigError(`memory must be 2-2048 MiB (got ${memoryMiB})`);
  const pacing = c.pacing ?? 'realtime';
  if (pacing !== 'realtime' && pacing !== 'fast') throw new ConfigError(`pacing must be 'realtime' or 'fast'`);
  if (!c.guest || typeof c.guest !== 'object') throw new ConfigError('no guest given');
  if (c.xen && memoryMiB % 16 !== 0) throw new ConfigError(`Xen mode needs memory in multiples of 16 MiB (got ${memoryMiB})`);
  for (const d of c.disks ?? []) {
    if (d.bus !== 'ide' && d.bus !== 'xen') throw new ConfigError(`disk bus must be 'ide' or 'xen'`);
    if (d.bus === 'xen' && !c.xen) throw new ConfigError('a PV (xen) disk needs Xen mode');
    if (!d.file === !d.idbDisk) throw new ConfigError('a disk needs exactly one of file or idbDisk');
  }
  if ((c.nics?.length ?? 0) > 0 && !c.xen) throw new ConfigError('network interfaces need Xen mode');
  return { memoryMiB, pacing, debugPorts: c.debugPorts ?? true };
}

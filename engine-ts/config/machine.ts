// What a machine is and how it is driven: its configuration (checked once, with the memory
// layout derived from it), its events, stop reasons, statistics and handle. A leaf: every
// layer may import it, it imports only the shared memory map; engine-ts/api re-exports it.

import * as MM from '../../engine-wasm/memory-map';
import type { InspectOptions, InspectorSample } from './inspect';

export type Pacing = 'realtime' | 'fast';

export type GuestSpec =
  /** A flat binary started in real mode at `loadAddress` (default 0x7C00). */
  | { kind: 'flat'; image: Uint8Array; loadAddress?: number; name?: string }
  /**
   * A Linux bzImage booted directly (Linux boot protocol, no BIOS). `decompress`: who unpacks
   * the kernel from the bzImage. 'loader' (the default) unpacks an xz-packed kernel before the
   * guest starts, as Xen's domain builder does, and enters the kernel proper (falling back to
   * 'guest' for other packings); 'guest' runs the bzImage's own decompressor in the guest, as
   * a BIOS boot does (billions of guest instructions more, and its "Decompressing Linux" lines).
   */
  | { kind: 'linux'; kernel: Uint8Array; initrd?: Uint8Array; cmdline?: string; name?: string; decompress?: 'loader' | 'guest' }
  /** A firmware image (64/128/256 KiB) started at the reset vector, as a PC powers on. */
  | { kind: 'bios'; rom: Uint8Array; name?: string }
  /** A Multiboot (v1) kernel with a command line and modules. */
  | { kind: 'multiboot'; kernel: Uint8Array; cmdline?: string; modules?: Array<{ data: Uint8Array; cmdline?: string }>; name?: string };

export interface MachineConfig {
  /** Guest RAM in MiB (default 32). */
  memoryMiB?: number;
  /** Virtual CPUs, 1 to MAX_VCPUS (default 1); each runs in its own thread over the one shared memory. */
  vcpus?: number;
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
  nics?: NicSpec[];
  /**
   * Translate hot guest code to WebAssembly (default on; in Node, PVLAB_JIT=0 makes the
   * default off). Off: every instruction is interpreted. Only machines with one vCPU
   * translate: with several, translation stays off whatever this says (a page's translations
   * are kept fresh through the translating vCPU's own TLB, which does not see another vCPU's
   * writes to it, and LOCKed operations on such a page would not be atomic). Not part of a
   * machine's identity: a snapshot resumes the same with translation on or off.
   */
  jit?: boolean;
}

export interface NicSpec {
  /** "aa:bb:cc:dd:ee:ff" */
  mac: string;
  /** Xen's vif device id (0 = the guest's first NIC); default: the lowest free one, in list order. */
  devid?: number;
}

export interface DiskSpec {
  /** 'ide': emulated PIIX IDE (/dev/sda...); 'xen': PV disk (xvda...) through blkback. */
  bus: 'ide' | 'xen';
  /** A .vhd file path (Node hosts). */
  file?: string;
  /** A disk id from the browser's disk library (engine-ts/api/disks). */
  idbDisk?: string;
  readOnly?: boolean;
  /**
   * Where on its bus: IDE 0..3 (0 primary master, 1 primary slave, 2-3 the secondary channel),
   * PV the xvd number (0 = xvda, 1 = xvdb ...). Default: the lowest free one, in list order.
   */
  unit?: number;
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
  /** Interrupts the vCPU took (device IRQs and Xen event-channel upcalls) since power-on. */
  interrupts: number;
  /** Bytes each disk moved since power-on (as the host saw them). */
  disks: DiskStats[];
  /** The vCPU's cycle count (retired instructions plus idle time skipped, 1 ns each): see RunOptions.untilCycle. */
  cycles: number;
  guestNs: number;
  wallMs: number;
  mips: number;
  halted: boolean;
  exits: { io: number; mmio: number; hypercall: number; halt: number };
  /** Where the wall time went (core, device models, idle) and the idle guest time skipped. */
  split: RunnerSplit;
  /** Translation to WebAssembly: whether it is on, the share of instructions it ran, what it holds. */
  jit: RunnerJitStats;
  /** The last snapshot saved (null before the first). */
  lastSave: SaveStats | null;
}

/** A snapshot save, timed on the host: the guest stands still only for the capture. */
export interface SaveStats {
  /** Wall ms vCPU 0 stood still for it: quiesce, disks flushed, the machine copied out (with several vCPUs, parking the others comes before it). */
  pausedMs: number;
  /** Wall ms from the call until the file existed (compression and checksum run while the guest runs on). */
  totalMs: number;
  bytes: number;
}

/** The translator's share of the work and what it holds. */
export interface RunnerJitStats {
  enabled: boolean;
  /** Of the instructions retired since the run loop started, the share run from translated code (0-1). */
  share: number;
  /** The same over the last measurement window (as `mips`). */
  recentShare: number;
  translations: number;
  /** Translations alive now, and the bytes of their WebAssembly modules (the cache is bounded). */
  live: number;
  liveBytes: number;
  /** Host wall time spent translating, ms. */
  compileMs: number;
}

/** The run loop's wall time by where it went, and the guest time it skipped. */
export interface RunnerSplit {
  /** In the core's run(): executing guest code, with the host calls below. */
  coreMs: number;
  /** Of coreMs, inside calls from the core into the device models (port I/O, MMIO, interrupt acknowledge, hypercalls...). */
  hostCallMs: number;
  /** Between core runs: timers firing and console output (device models too). */
  timersMs: number;
  /** Waiting while the guest was idle (pacing 'realtime', or nothing scheduled). */
  idleWaitMs: number;
  /** Guest time jumped over while the vCPU was halted, ns. */
  idleSkippedNs: number;
}

export interface DiskStats {
  /** How the guest names it when it is the only disk of its kind: sda, sdb (IDE) or xvda, xvdb (PV). */
  name: string;
  bus: 'ide' | 'xen';
  unit: number;
  readBytes: number;
  writtenBytes: number;
}

/** A disk hot-plugged into a running machine (MachineHandle.addDisk). */
export interface HotplugDisk {
  unit: number;
  /** xvdb ... */
  name: string;
  /** The xenbus virtual-device number (51728 for xvdb). */
  devid: number;
}

/** Where the guest ran: EIP sampled every `everyInstructions` retired instructions. */
export interface GuestProfile {
  everyInstructions: number;
  /** Samples taken in kernel mode (CPL 0-2), by EIP. */
  kernel: Array<[eip: number, count: number]>;
  /** Samples taken in user mode (CPL 3). */
  user: number;
}

export interface MachineEvents {
  /** Bytes the guest wrote to its console (COM1). */
  onConsole?(bytes: Uint8Array): void;
  /** Bytes written to the 0xE9 debug port. */
  onDebug?(bytes: Uint8Array): void;
  /** POST code written to port 0x80 or 0x190. */
  onPostCode?(code: number, port: number): void;
}

export interface RunOptions {
  /** Stop (kind 'stopped') when the vCPU's cycle count — retired instructions plus idle time skipped — reaches this. */
  untilCycle?: number;
}

export interface SnapshotOptions {
  /** The console's last text, kept in the snapshot (shown again when it resumes). */
  console?: string;
  /** A full snapshot of this same machine: write only what differs (a delta, for share links). */
  base?: Uint8Array;
  /**
   * In-process (Node) machines only: runs after the capture, before the machine goes on — the
   * moment to copy its disk files, which then match the snapshot.
   */
  whilePaused?: () => Promise<void> | void;
  /**
   * Carry the disks' contents in the snapshot (each disk's 64 KiB chunks that are not zero, at
   * most 256 MiB per disk): a machine resumed from it gets its own copies of them.
   */
  carryDisks?: boolean;
  /** Names of the carried disks by slot (config.disks order), kept for the copies (default "disk N"). */
  diskNames?: string[];
}

export interface MachineHandle {
  /** Start (or resume) running. Resolves when the machine stops; see StopReason. A machine stopped can run again. */
  run(opts?: RunOptions): Promise<StopReason>;
  /** Save the whole machine as a .pvsnap file, between two instructions, whether it runs or not. */
  snapshot(opts?: SnapshotOptions): Promise<Uint8Array>;
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
  /**
   * A sample of the machine for the inspector: exits by device, and in Xen mode the PV side
   * (xenstore, event channels, grants, rings, hypercalls) and the timeline of PV events since
   * `opts.eventsFrom`. The first call starts recording the timeline; `{ timeline: false }`
   * stops it. Meant to be called a few times a second at most.
   */
  inspect(opts?: InspectOptions): Promise<InspectorSample>;
  /** Hot-plug a PV disk (Xen mode) into the running guest: blkfront and blkback then connect through xenstore. */
  addDisk(spec: DiskSpec): Promise<HotplugDisk>;
  /** Hot-unplug PV disk `unit`: resolves once the guest has let it go (a mounted disk stays until unmounted). */
  removeDisk(unit: number): Promise<void>;
  /** Hot-plug a PV NIC onto the machine's switch; resolves with its devid. */
  addNic(nic: NicSpec): Promise<number>;
  /** Hot-unplug NIC `devid`: resolves once the guest has closed it. */
  removeNic(devid: number): Promise<void>;
  /** Release the machine (terminates its worker). */
  dispose(): void;
}

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

const MiB = 1024 * 1024;
/** Guest RAM limits in MiB. */
export const MIN_MEMORY_MIB = 1;
/**
 * 3 GiB: the top GiB of the 32-bit physical address space holds the PCI window, the I/O and
 * local APICs and the firmware alias, as on a PC; and the whole machine memory (the layout
 * area, RAM and the Xen window) must stay within WebAssembly's 4 GiB.
 */
export const MAX_MEMORY_MIB = 3072;

/** The machine's memory, derived once from the configuration and passed down to every layer. */
export interface MachineLayout {
  /** Guest RAM in bytes: what the e820 map, CMOS and Xen report. */
  readonly ramBytes: number;
  /** Backed memory right above RAM that the map does not list: the Xen platform device's BAR1 window (0 without Xen). */
  readonly windowBytes: number;
  /** ramBytes + windowBytes: the guest-physical range the core treats as memory. */
  readonly backedBytes: number;
}

/** A configuration that passed `resolveConfig`: defaults filled in, the layout computed. */
export interface ResolvedConfig extends MachineConfig {
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly pacing: Pacing;
  readonly debugPorts: boolean;
  readonly layout: MachineLayout;
}

export function machineLayout(memoryMiB: number, xen: boolean): MachineLayout {
  const ramBytes = memoryMiB * MiB;
  const windowBytes = xen ? MM.XEN_EXTRA_BYTES : 0;
  return { ramBytes, windowBytes, backedBytes: ramBytes + windowBytes };
}

/** Check a configuration (every field a host or a user may get wrong) and derive its layout. Throws ConfigError. */
export function resolveConfig(c: MachineConfig): ResolvedConfig {
  if (!c || typeof c !== 'object') throw new ConfigError('no machine configuration given');
  const memoryMiB = c.memoryMiB ?? 32;
  if (typeof memoryMiB !== 'number' || !Number.isInteger(memoryMiB))
    throw new ConfigError(`memory must be a whole number of MiB (got ${String(memoryMiB)})`);
  if (memoryMiB < MIN_MEMORY_MIB || memoryMiB > MAX_MEMORY_MIB)
    throw new ConfigError(`memory must be ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB} MiB (got ${memoryMiB})`);
  const vcpus = c.vcpus ?? 1;
  if (typeof vcpus !== 'number' || !Number.isInteger(vcpus) || vcpus < 1 || vcpus > MM.MAX_VCPUS)
    throw new ConfigError(`vCPUs must be a whole number from 1 to ${MM.MAX_VCPUS} (got ${String(vcpus)})`);
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
  let disks = c.disks;
  if (disks) {
    // Units are per bus; the list keeps its order (a snapshot's disk slots follow it).
    const ide = disks.filter((d) => d.bus === 'ide');
    const xen = disks.filter((d) => d.bus === 'xen');
    const placed = new Map<DiskSpec, DiskSpec>();
    withUnits(ide, 'unit', MAX_IDE_UNITS, 'IDE disk').forEach((d, i) => placed.set(ide[i], d));
    withUnits(xen, 'unit', MAX_XVD_UNITS, 'PV disk').forEach((d, i) => placed.set(xen[i], d));
    disks = disks.map((d) => placed.get(d)!);
  }
  const nics = c.nics && withUnits(c.nics, 'devid', MAX_NICS, 'network interface');
  return { ...c, disks, nics, memoryMiB, vcpus, pacing, debugPorts: c.debugPorts ?? true, layout: machineLayout(memoryMiB, !!c.xen) };
}

/** IDE units: two channels with a master and a slave each. */
export const MAX_IDE_UNITS = 4;
/** PV disks: xvda..xvdp (the 16 units of Xen's major 202). */
export const MAX_XVD_UNITS = 16;
export const MAX_NICS = 8;

/** Give each item its unit (the one it names, else the lowest free), checking range and clashes. */
function withUnits<T extends object, K extends keyof T & string>(items: T[], key: K, max: number, what: string): Array<T & Record<K, number>> {
  const used = new Set<number>();
  for (const it of items) {
    const u = it[key] as unknown;
    if (u === undefined) continue;
    if (typeof u !== 'number' || !Number.isInteger(u) || u < 0 || u >= max) throw new ConfigError(`${what} ${key} must be 0 to ${max - 1} (got ${String(u)})`);
    if (used.has(u)) throw new ConfigError(`two ${what}s have ${key} ${u}`);
    used.add(u);
  }
  if (items.length > max) throw new ConfigError(`at most ${max} ${what}s`);
  let next = 0;
  return items.map((it) => {
    if (it[key] !== undefined) return it as T & Record<K, number>;
    while (used.has(next)) next++;
    used.add(next);
    return { ...it, [key]: next } as T & Record<K, number>;
  });
}

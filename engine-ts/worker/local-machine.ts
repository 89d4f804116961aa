// A machine running on the current thread: memory, core instance, board, guest loading and
// the run loop. The browser's machine worker and the Node host both build on this.

import { createMachineMemoryFor, defaultJit, instantiateCore } from './wasm-core';
import { guestBytes, machineMemory } from './machine-memory';
import { Board } from '../board/board';
import { loadFlatBinary } from '../board/loaders/flat';
import { bootSeed, loadLinux } from '../board/loaders/linux';
import { loadMultiboot } from '../board/loaders/multiboot';
import { Runner, type RunnerHost } from './runner';
import { SmpHub } from './smp-hub';
import type { DiskSpec, GuestProfile, HotplugDisk, MachineEvents, MachineStats, NicSpec, ResolvedConfig, RunOptions, SaveStats, SnapshotOptions, StopReason } from '../config/machine';
import { CountingDevice, type BlockDevice } from '../disk/block-device';
import { type InspectOptions, type InspectorSample, type TimelineChunk } from '../config/inspect';

/** Opens the disk a machine config names (a VHD file in Node, an IndexedDB disk in the browser). */
export type DiskOpener = (spec: DiskSpec) => Promise<BlockDevice>;
import { ConfigError, machineLayout, resolveConfig, type DiskSpec as DiskSpecT } from '../config/machine';
import { captureMachine, diffPages, applyDelta, restoreMachine, type Captured } from '../snapshot/capture';
import { ENGINE, FORMAT_VERSION, SnapshotError, baseImagesNeeded, decodeSnapshot, encodeSnapshot, inflatePagesInto, peekHeader, readHeader, type CarriedDisk, type SavedConfig, type Snapshot, type SnapshotHeader } from '../snapshot/format';
import { baseViewsFor, hasBaseView, planRefs, unpackedKernel } from '../snapshot/bases';
import { readDiskChunks } from '../snapshot/disks';
import { findImages, machineConfigOf, sameMachine, savedConfig, savedDevices, type ImageSource } from '../snapshot/config';
import { upgradeVcpuBlock } from '../snapshot/vcpu-upgrades';

/** How to resume a snapshot (see LocalMachine.resume). */
export interface ResumeOptions {
  /** The full snapshot a delta was made against. */
  base?: Uint8Array;
  /**
   * Where the guest images the snapshot names are found: for a reboot, and for the base views
   * a snapshot's pages may be stored relative to (snapshot/bases.ts; views this thread made or
   * adopted before are used without asking).
   */
  images?: ImageSource;
  /** The host's disks for the snapshot machine's disk slots, in order. */
  disks?: DiskSpecT[];
  /** Override the saved pacing ('fast' for scripted runs). */
  pacing?: 'realtime' | 'fast';
  /** Translate hot guest code (MachineConfig.jit): how a host runs the machine, so a snapshot does not say. */
  jit?: boolean;
  memory?: WebAssembly.Memory;
  /**
   * Page blocks of a full snapshot shared with another thread: each thread inflates the ones it
   * takes (`take()` gives the next block no thread has taken, or undefined) straight into
   * `memory` (snapshot/format.ts inflatePagesInto); decodeSnapshot here does everything else.
   * `written` settles when the other thread has no more to take. The machine runs only if
   * every block was inflated and checked.
   */
  sharedPages?: { blocks: readonly number[]; take(): number | undefined; written: Promise<void> };
  openDisk?: DiskOpener;
  /**
   * Make a disk from one the snapshot carries (a fresh disk of `carried.size` bytes holding
   * `chunks`: see snapshot/disks.ts) and name it for the slot. Used for carried slots unless
   * `disks` names a disk for every slot.
   */
  makeDisk?: (carried: CarriedDisk, slot: SavedConfig['disks'][number], chunks: Map<number, Uint8Array>) => Promise<DiskSpecT>;
}
import * as MM from '../../engine-wasm/memory-map';

/** A disk the machine holds: its slot in the configuration and the open device (counting its bytes). */
interface HeldDisk {
  spec: DiskSpec;
  dev: CountingDevice;
  /** Set while it is being hot-unplugged: called once the guest let it go. */
  removed?: () => void;
}

export class LocalMachine {
  board: Board;
  runner: Runner;
  private resets = 0;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private readonly module: WebAssembly.Module,
    private config: ResolvedConfig,
    private readonly events: MachineEvents,
    private readonly host: RunnerHost,
    board: Board,
    runner: Runner,
    private readonly disks: HeldDisk[],
    private readonly openDisk?: DiskOpener,
  ) {
    this.board = board;
    this.runner = runner;
  }

  /** A machine resumed from a snapshot: how to find the guest images it needs to boot again. */
  private reboot: { saved: SavedConfig; embedded: Map<number, Uint8Array>; images?: ImageSource } | null = null;
  /** Where a resumed machine's guest images are found (ResumeOptions.images). */
  private images: ImageSource | undefined;
  /** The configuration as snapshots keep it (computed at the first save). */
  private saved: Promise<{ config: SavedConfig; embedded: Map<number, Uint8Array> }> | null = null;

  /** `config` comes from resolveConfig (checked once, by whoever created the machine). */
  static async create(
    module: WebAssembly.Module,
    config: ResolvedConfig,
    events: MachineEvents,
    host: RunnerHost,
    memory?: WebAssembly.Memory,
    openDisk?: DiskOpener,
    restore?: Pick<Snapshot, 'state' | 'vcpus' | 'pages'>,
  ): Promise<LocalMachine> {
    const mem = memory ?? createMachineMemoryFor(config.layout);
    // Disks are opened once and survive guest reboots (the machine keeps its drives).
    const disks: HeldDisk[] = [];
    try {
      for (const spec of config.disks ?? []) {
        if (!openDisk) throw new Error('this host cannot open disks');
        let dev: BlockDevice;
        try {
          dev = await openDisk(spec);
        } catch (e) {
          // A file that is not a VHD, a damaged one, one another machine holds: name the file.
          // (The browser's disk library names its disks in its own errors.)
          if (spec.file) throw new ConfigError(`${spec.file}: ${(e as Error).message}`);
          throw e;
        }
        disks.push({ spec, dev: new CountingDevice(dev) });
      }
      const { board, runner } = await LocalMachine.power(module, mem, config, events, host, disks, restore);
      return new LocalMachine(mem, module, config, events, host, board, runner, disks, openDisk);
    } catch (e) {
      await closeAll(disks); // release what was opened (files, locks); nothing was written
      throw e;
    }
  }

  /**
   * A machine that goes on where a snapshot left it: the same machine built again from the
   * snapshot's configuration, then every part, the vCPU and memory loaded. A delta needs its
   * `base` (the full snapshot it was made against). Nothing outside the new machine changes,
   * whatever the file holds: a bad one is a SnapshotError naming the problem.
   */
  static async resume(
    module: WebAssembly.Module, file: Uint8Array, events: MachineEvents, host: RunnerHost, opts: ResumeOptions = {},
  ): Promise<{ machine: LocalMachine; header: SnapshotHeader }> {
    const elsewhere = opts.sharedPages;
    // Base views of the guest's images, if pages are stored relative to them (made once per thread).
    const { header: peeked } = peekHeader(file);
    const bases = await baseViewsFor(peeked.config, baseImagesNeeded(peeked), opts.images);
    let mine: Promise<void> | undefined;
    if (elsewhere) {
      if (!opts.memory) throw new Error('pages written elsewhere need the memory they were written into');
      mine = inflatePagesInto(file, elsewhere.take, guestBytes(opts.memory, machineLayout(peeked.config.memoryMiB, peeked.config.xen)), undefined, bases);
      mine.catch(() => {}); // awaited below, unless decoding failed first
    }
    const snap = await decodeSnapshot(file, { elsewhere: elsewhere?.blocks, bases });
    await mine;
    await elsewhere?.written;
    const header = snap.header;
    for (const block of snap.vcpus) upgradeVcpuBlock(block, header.mapVersion);
    let pages = snap.pages;
    if (header.base) {
      if (!opts.base) throw new SnapshotError(`this snapshot is a delta; it needs its base snapshot (SHA-256 ${header.base.slice(0, 12)}…)`);
      const { header: bh } = peekHeader(opts.base);
      const base = await decodeSnapshot(opts.base, { bases: await baseViewsFor(bh.config, baseImagesNeeded(bh), opts.images) });
      if (base.sha256 !== header.base) throw new SnapshotError(`this delta was made against snapshot ${header.base.slice(0, 12)}…, not against ${base.sha256.slice(0, 12)}… (wrong base)`);
      if (base.header.base) throw new SnapshotError('a delta cannot be the base of another delta');
      // (A delta may add disks to its base's machine: it carries them.)
      if (!sameMachine(base.header.config, header.config, { disks: false })) throw new SnapshotError('the delta and its base describe different machines');
      for (const [i, img] of base.images) snap.images.set(i, img);
      pages = applyDelta(base.pages, snap);
    }
    // The guest images matter only for a reboot: they are looked for then (carried ones are at hand).
    const carried = header.config.guest.images.map((_, i) => snap.images.get(i));
    const config = machineConfigOf(header.config, carried, await disksFor(header, snap.disks, opts));
    let resolved: ResolvedConfig;
    try {
      resolved = resolveConfig({ ...config, pacing: opts.pacing ?? config.pacing, jit: opts.jit });
    } catch (e) {
      throw e instanceof ConfigError ? new SnapshotError(`the snapshot describes a machine that cannot be built: ${e.message}`) : e;
    }
    const machine = await LocalMachine.create(module, resolved, events, host, opts.memory, opts.openDisk, { ...snap, pages });
    if (carried.some((c) => !c)) machine.reboot = { saved: header.config, embedded: snap.images, images: opts.images };
    machine.images = opts.images;
    // It is the saved machine: its later snapshots describe it the same way (the images by the
    // hashes the snapshot gave, whether or not they are at hand).
    machine.saved = Promise.resolve({ config: { ...header.config, pacing: resolved.pacing }, embedded: snap.images });
    return { machine, header };
  }

  /**
   * Quiesce and save the whole machine, between two instructions (call it with the vCPU
   * stopped: see Runner.betweenSlices). With `base`, only what differs from that full
   * snapshot is written (a delta, for share links). `console` is the screen's last text.
   */
  async snapshot(opts: Omit<SnapshotOptions, 'whilePaused'> = {}): Promise<Uint8Array> {
    return this.encode(await this.capture(opts), opts);
  }

  /**
   * A snapshot's first half, with every vCPU stopped: quiesce, flush the disks, copy the
   * machine out (state records, vCPU blocks, the pages that are not zero, carried disks).
   * What it returns is a value: the machine may run on while it is encoded.
   */
  private async capture(opts: Omit<SnapshotOptions, 'whilePaused'>): Promise<PendingSnapshot> {
    if (this.board.xen?.unplugging) throw new Error('a device is being unplugged (the guest has not let it go yet): take the snapshot once it is gone');
    await this.board.quiesce();
    // What the guest wrote is on the disks now (a host may copy them beside the snapshot).
    for (const d of this.disks) await d.dev.flush();
    const cap = captureMachine(this.board, machineMemory(this.memory, this.config.layout), this.config.layout.backedBytes / 4096);
    // (The description of the machine as it is now: a later hot-plug makes a new one.)
    const saved = (this.saved ??= savedConfig(this.config));
    const carried: CarriedDisk[] = [];
    const diskData = new Map<number, Map<number, Uint8Array>>();
    if (opts.carryDisks) {
      for (const [slot, spec] of (this.config.disks ?? []).entries()) {
        const held = this.disks.find((d) => d.spec === spec);
        if (!held) continue;
        const name = (opts.diskNames?.[slot] ?? `disk ${slot + 1}`).slice(0, 256);
        diskData.set(slot, await readDiskChunks(held.dev.inner, name));
        carried.push({ slot, size: held.dev.size, name });
      }
    }
    return { cap, saved, carried, diskData, guestNs: this.board.now(), icount: String(this.board.vcpu.icount) };
  }

  /** A snapshot's second half (the machine may be running): the delta against a base, compression, checksum. */
  private async encode(c: PendingSnapshot, opts: Omit<SnapshotOptions, 'whilePaused'>): Promise<Uint8Array> {
    const saved = await c.saved;
    const header: SnapshotHeader = {
      format: FORMAT_VERSION, engine: ENGINE, mapVersion: MM.MAP_VERSION, config: saved.config, base: null,
      guestNs: c.guestNs, icount: c.icount, console: (opts.console ?? '').slice(-16384), disks: c.carried, blocks: [],
    };
    const { cap, carried, diskData } = c;
    if (!opts.base) {
      // Pages stored relative to the guest's own kernel and initrd where their views can be had (snapshot/bases.ts).
      const bases = await this.baseViews(saved.config);
      const refs = planRefs(cap.pages, saved.config, bases);
      return encodeSnapshot({ header, state: cap.state, vcpus: cap.vcpus, pages: cap.pages, zeroPages: new Set(), images: saved.embedded, disks: diskData, refs }, { bases });
    }
    const base = await this.basePages(opts.base);
    if (base.header.base) throw new SnapshotError('a delta cannot be the base of another delta');
    // A delta may add disks to its base's machine, if it carries them.
    const sameButDisks = sameMachine(base.header.config, saved.config, { disks: false });
    if (!sameButDisks || (!sameMachine(base.header.config, saved.config) && carried.length !== saved.config.disks.length))
      throw new SnapshotError('the base snapshot is of a different machine (another guest, memory size or devices)');
    const d = diffPages(cap.pages, base.pages);
    return encodeSnapshot({ header: { ...header, base: base.sha256 }, state: cap.state, vcpus: cap.vcpus, pages: d.pages, zeroPages: d.zeroPages, images: new Map(), disks: diskData });
  }

  /** The last base a delta was made against, decoded (links are made against the same one again and again). */
  private lastBase: { sha256: string; header: SnapshotHeader; pages: Map<number, Uint8Array> } | null = null;

  private async basePages(file: Uint8Array): Promise<{ sha256: string; header: SnapshotHeader; pages: Map<number, Uint8Array> }> {
    const { sha256, header } = await readHeader(file);
    if (this.lastBase?.sha256 !== sha256) {
      const b = await decodeSnapshot(file, { bases: await baseViewsFor(header.config, baseImagesNeeded(header), (ref) => this.imageBytes(ref)) });
      this.lastBase = { sha256: b.sha256, header: b.header, pages: b.pages };
    }
    return this.lastBase;
  }

  /** A guest image the machine was given (booted from it), or found where a resumed machine finds them. */
  private imageBytes(ref: { size: number }): Promise<Uint8Array | undefined> | Uint8Array | undefined {
    const g = this.config.guest;
    if (g.kind === 'linux') for (const b of [g.kernel, g.initrd]) if (b && b.length && b.length === ref.size) return b;
    return this.images?.(ref as Parameters<ImageSource>[0]);
  }

  /**
   * The base views a full snapshot of this machine may store pages relative to: those this
   * thread has, else made from the images at hand (the first save of a booted machine makes
   * them). None, when they cannot be had: the pages are then stored as they are.
   */
  private async baseViews(config: SavedConfig): Promise<Map<number, Uint8Array>> {
    const wanted = config.guest.images.flatMap((_, i) => (hasBaseView(config, i) ? [i] : []));
    try {
      return await baseViewsFor(config, wanted, (ref) => this.imageBytes(ref));
    } catch {
      return new Map(); // an image that cannot serve as a base: stored as it is
    }
  }

  /** Build the board, attach a fresh core instance and load the guest (power-on). */
  private static async power(
    module: WebAssembly.Module, mem: WebAssembly.Memory, config: ResolvedConfig, events: MachineEvents, host: RunnerHost,
    disks: HeldDisk[],
    restore?: Pick<Snapshot, 'state' | 'vcpus' | 'pages'>,
  ): Promise<{ board: Board; runner: Runner }> {
    const board = new Board(machineMemory(mem, config.layout), config.layout, {
      vcpus: config.vcpus,
      debugPorts: config.debugPorts,
      onConsole: (b) => events.onConsole?.(b),
      onDebugOut: (b) => events.onDebug?.(b),
      onPostCode: (c, p) => events.onPostCode?.(c, p),
      rtcStartSeconds: config.rtcStartSeconds,
      xen: config.xen ? { name: config.guest.name ?? 'guest' } : undefined,
      consoleInput: config.consoleInput,
    });
    // Units come from resolveConfig. IDE: 0 primary master (/dev/sda), 1 primary slave, 2-3 the secondary channel.
    for (const d of disks) {
      if (d.spec.bus === 'xen') board.xen!.addDisk(d.spec.unit!, d.dev);
      else board.ide.attachDisk(d.spec.unit! >> 1, d.spec.unit! & 1, d.dev);
    }
    for (const n of config.nics ?? []) board.xen!.addNic(n.devid!, n.mac);
    const coreTimes = { runMs: 0, hostMs: 0 };
    // Only a one-vCPU machine translates (see MachineConfig.jit).
    const jit = config.vcpus === 1 && (config.jit ?? defaultJit());
    const core = await instantiateCore(module, mem, board.coreHost, { times: coreTimes, jit, jitAsync: true });
    board.attachCore(core);
    const g = config.guest;
    // vCPUs 1..N-1 run in threads of their own, which the host started (see smp-hub.ts).
    const smp = config.vcpus > 1 ? new SmpHub(mem.buffer, config.vcpus) : null;
    const runner = new Runner(board, host, config.pacing, smp);
    runner.coreTimes = coreTimes;
    runner.jit = core.jit;
    // With firmware, a triple fault resets the machine as on a PC (the BIOS runs again).
    if (g.kind === 'bios') runner.onTripleFault = () => { board.resetRequested = true; return true; };
    if (restore) {
      if (g.kind === 'bios') board.loadBios(g.rom); // the ROM's high alias is a mapping, not memory
      restoreMachine(board, machineMemory(mem, config.layout), config.layout.backedBytes / 4096, restore);
      board.cpu.refresh();
      return { board, runner };
    }
    smp?.powerOn();
    const tables = board.firmwareTables();
    switch (g.kind) {
      case 'flat': loadFlatBinary(board, g.image, g.loadAddress); break;
      case 'linux': {
        // The kernel's RNG seed comes from what the machine is (see bootSeed): boots stay reproducible.
        const what = JSON.stringify({ cmdline: g.cmdline ?? '', name: g.name ?? '', memoryMiB: config.memoryMiB, vcpus: config.vcpus, xen: !!config.xen, macs: (config.nics ?? []).map((n) => n.mac), rtc: config.rtcStartSeconds ?? 0 });
        const unpacked = g.decompress === 'guest' ? undefined : await unpackedKernel(g.kernel);
        loadLinux(board, { kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, acpiRsdp: tables.rsdp, rngSeed: bootSeed(what), unpacked });
        break;
      }
      case 'multiboot': loadMultiboot(board, { kernel: g.kernel, cmdline: g.cmdline, modules: g.modules }); break;
      case 'bios': board.loadBios(g.rom); board.cpu.reset(); break;
      default: throw new Error(`unknown guest kind ${(g as { kind: string }).kind}`);
    }
    if (g.kind === 'linux' || g.kind === 'multiboot') {
      board.installFirmwareTables();
      board.firmwareCpuSetup();
    }
    return { board, runner };
  }

  /** Run until the machine stops; a guest-requested reset reboots it with the same configuration. */
  async run(opts: RunOptions = {}): Promise<StopReason> {
    for (;;) {
      this.runner.stopAtInstruction = opts.untilCycle === undefined ? null : BigInt(Math.floor(opts.untilCycle));
      const reason = await this.runner.run();
      if (reason.kind !== 'reset') return reason;
      if (++this.resets > 1000) return { kind: 'error', message: 'the guest keeps resetting the machine' };
      // A device the guest was letting go of is gone once it reboots (before the machine is built again).
      for (const d of this.disks.filter((x) => x.removed)) d.removed!();
      for (const n of [...this.nicsRemoved.values()]) n();
      if (this.reboot) {
        const r = this.reboot;
        const found = await findImages(r.saved, r.embedded, r.images);
        if (found.some((f) => !f)) return { kind: 'error', message: 'the guest restarted; this machine was resumed from a snapshot and the guest images it names are not at hand, so it cannot boot again' };
        // (The devices as they are now: some may have been plugged in since the snapshot.)
        this.config = resolveConfig({ ...machineConfigOf({ ...r.saved, ...savedDevices(this.config) }, found, this.config.disks), pacing: this.config.pacing, jit: this.config.jit });
        this.reboot = null;
      }
      guestBytes(this.memory, this.config.layout).fill(0);
      const { board, runner } = await LocalMachine.power(this.module, this.memory, this.config, this.events, this.host, this.disks);
      this.board = board;
      this.runner = runner;
      for (const l of this.links) this.attachLink(l);
    }
  }

  /**
   * Connect this machine's virtual switch to another machine's (a cable between two switches).
   * `sendOut` carries frames leaving this switch; incoming frames are passed to the returned
   * function. The link survives guest reboots.
   */
  addLink(sendOut: (frame: Uint8Array) => void): (frame: Uint8Array) => void {
    const link = { sendOut, uplink: null as null | { send(f: Uint8Array): void } };
    this.links.push(link);
    this.attachLink(link);
    return (frame) => link.uplink?.send(frame);
  }

  private links: Array<{ sendOut: (f: Uint8Array) => void; uplink: null | { send(f: Uint8Array): void } }> = [];

  private attachLink(link: { sendOut: (f: Uint8Array) => void; uplink: null | { send(f: Uint8Array): void } }): void {
    if (!this.board.xen) throw new Error('network links need Xen mode');
    // The switch does not keep the array it delivers: copy before it leaves the thread.
    link.uplink = this.board.xen.connectUplink({ deliver: (f) => link.sendOut(f.slice()) }, `link${this.links.indexOf(link)}`);
  }

  /** Flush and close the machine's disks (call once the machine has stopped). */
  async closeDisks(): Promise<void> {
    await closeAll(this.disks);
  }

  stats(): MachineStats {
    let ide = 0;
    const disks = [...this.disks]
      .sort((a, b) => (a.spec.bus === b.spec.bus ? a.spec.unit! - b.spec.unit! : a.spec.bus === 'ide' ? -1 : 1))
      .map((d) => ({
        // Linux names IDE disks in probe order (sda, sdb ...) and PV disks by unit (xvda = 0).
        name: d.spec.bus === 'ide' ? `sd${String.fromCharCode(97 + ide++)}` : `xvd${String.fromCharCode(97 + d.spec.unit!)}`,
        bus: d.spec.bus, unit: d.spec.unit!, readBytes: d.dev.readBytes, writtenBytes: d.dev.writtenBytes,
      }));
    return { ...this.runner.stats(), cycles: Number(this.board.vcpu.icount), exits: { ...this.board.exits }, interrupts: this.board.interrupts, disks, lastSave: this.lastSave };
  }

  /**
   * The inspector's sample (see MachineHandle.inspect). The timeline records while someone
   * asks for it; a reboot starts a new one (its sequence numbers start again at 0).
   */
  inspect(opts: InspectOptions = {}): InspectorSample {
    const b = this.board;
    const trace = b.xen?.trace;
    const recording = !!trace && opts.timeline !== false;
    if (trace) trace.on = recording;
    let timeline = emptyTimeline();
    if (trace && recording) {
      const from = opts.eventsFrom ?? trace.sequence;
      timeline = trace.since(from > trace.sequence ? 0 : from);
    }
    return { guestNs: b.now(), devices: b.exitsByDevice(), xen: b.xen?.inspect() ?? null, timeline, recording };
  }

  // ---- hot-plug (Xen mode) ------------------------------------------------------------------

  private xenHost() {
    const xen = this.board.xen;
    if (!xen) throw new ConfigError('hot-plug needs a machine in Xen mode (PV devices)');
    return xen;
  }

  /** Open `spec` and plug it into the running guest as a PV disk (see MachineHandle.addDisk). */
  async addDisk(spec: DiskSpec): Promise<HotplugDisk> {
    if (spec.bus !== 'xen') throw new ConfigError('only PV disks can be plugged into a running machine (IDE has no hot-plug here)');
    this.xenHost();
    if (!this.openDisk) throw new Error('this host cannot open disks');
    const config = resolveConfig({ ...this.config, disks: [...(this.config.disks ?? []), spec] });
    const slot = config.disks!.find((d) => d.bus === 'xen' && !(this.config.disks ?? []).includes(d))!;
    const dev = new CountingDevice(await this.openDisk(spec));
    try {
      const added = await this.runner.betweenSlices(async () => this.xenHost().addDisk(slot.unit!, dev));
      this.disks.push({ spec: slot, dev });
      this.config = config;
      this.devicesChanged();
      return { unit: slot.unit!, ...added };
    } catch (e) {
      await dev.close();
      throw e;
    }
  }

  /** Unplug PV disk `unit`; resolves once the guest let it go and the disk is flushed and closed. */
  async removeDisk(unit: number): Promise<void> {
    const d = this.disks.find((x) => x.spec.bus === 'xen' && x.spec.unit === unit);
    if (!d) throw new ConfigError(`this machine has no PV disk at unit ${unit}`);
    if (d.removed) throw new ConfigError(`PV disk ${unit} is being unplugged already`);
    await new Promise<void>((resolve, reject) => {
      // Called by the toolstack once the guest closed it, or at a reboot (the guest let go of everything).
      d.removed = () => {
        if (!this.disks.includes(d)) return;
        this.disks.splice(this.disks.indexOf(d), 1);
        this.config = { ...this.config, disks: (this.config.disks ?? []).filter((x) => x !== d.spec) };
        this.devicesChanged();
        resolve();
      };
      this.runner.betweenSlices(async () => this.xenHost().removeDisk(unit, d.removed!)).catch((e) => { d.removed = undefined; reject(e); });
    });
    await closeAll([d]);
  }

  /** NICs being hot-unplugged, by devid: each is called once the guest let it go (or rebooted). */
  private readonly nicsRemoved = new Map<number, () => void>();

  async addNic(nic: NicSpec): Promise<number> {
    this.xenHost();
    const config = resolveConfig({ ...this.config, nics: [...(this.config.nics ?? []), nic] });
    const added = config.nics![config.nics!.length - 1];
    await this.runner.betweenSlices(async () => this.xenHost().addNic(added.devid!, added.mac));
    this.config = config;
    this.devicesChanged();
    return added.devid!;
  }

  async removeNic(devid: number): Promise<void> {
    const n = (this.config.nics ?? []).find((x) => x.devid === devid);
    if (!n) throw new ConfigError(`this machine has no network interface ${devid}`);
    if (this.nicsRemoved.has(devid)) throw new ConfigError(`network interface ${devid} is being unplugged already`);
    await new Promise<void>((resolve, reject) => {
      const removed = () => {
        this.nicsRemoved.delete(devid);
        this.config = { ...this.config, nics: (this.config.nics ?? []).filter((x) => x !== n) };
        this.devicesChanged();
        resolve();
      };
      this.nicsRemoved.set(devid, removed);
      this.runner.betweenSlices(async () => this.xenHost().removeNic(devid, removed)).catch((e) => { this.nicsRemoved.delete(devid); reject(e); });
    });
  }


  /**
   * A device was plugged or unplugged: later snapshots describe the machine with its devices as
   * they are now, and the guest as before (a resumed machine names its images by the hashes its
   * snapshot gave, whether or not they are at hand).
   */
  private devicesChanged(): void {
    const prev = this.saved;
    if (!prev) return; // described afresh at the next snapshot
    const devices = savedDevices(this.config);
    this.saved = prev.then((s) => ({ ...s, config: { ...s.config, ...devices } }));
  }

  /** The disks in the machine's slots (config.disks order). */
  diskSlots(): readonly DiskSpec[] {
    return this.config.disks ?? [];
  }

  /**
   * A snapshot taken between two slices, whether the machine runs or not. The vCPUs stand
   * still only while the machine is copied out (capture()); it is encoded while they run on.
   */
  async save(opts: SnapshotOptions = {}): Promise<Uint8Array> {
    const t0 = this.host.wallNow();
    let paused = 0;
    const c = await this.runner.betweenSlices(async () => {
      const p0 = this.host.wallNow();
      const c = await this.capture(opts);
      await opts.whilePaused?.();
      paused = this.host.wallNow() - p0;
      return c;
    });
    const file = await this.encode(c, opts);
    this.lastSave = { pausedMs: paused, totalMs: this.host.wallNow() - t0, bytes: file.length };
    return file;
  }

  /** The last save's figures (MachineStats.lastSave). */
  private lastSave: SaveStats | null = null;

  profile(everyInstructions: number): GuestProfile {
    return this.board.profile(everyInstructions);
  }
}

/** A new one each time: the worker transfers (detaches) a sample's buffers. */
function emptyTimeline(): TimelineChunk {
  return { first: 0, lost: 0, time: new Float64Array(0), kind: new Uint8Array(0), dom: new Uint16Array(0), args: new Int32Array(0), text: [], text2: [] };
}

/** Flush and close each disk. */
async function closeAll(disks: Array<{ dev: BlockDevice }>): Promise<void> {
  for (const d of disks) {
    await d.dev.flush();
    await (d.dev as { close?: () => Promise<void> }).close?.();
  }
}

/**
 * The disks for a snapshot's disk slots: the host's (`opts.disks`, for every slot, or for the
 * slots the snapshot does not carry, in order) and copies made of the carried ones.
 */
async function disksFor(header: SnapshotHeader, data: Map<number, Map<number, Uint8Array>>, opts: ResumeOptions): Promise<DiskSpecT[] | undefined> {
  const slots = header.config.disks;
  if (header.disks.length === 0 || (opts.disks?.length ?? 0) === slots.length) return opts.disks;
  if (!opts.makeDisk) throw new SnapshotError('this snapshot carries its disks, and this host cannot make disks from them: give a disk for every slot');
  const rest = [...(opts.disks ?? [])];
  const out: DiskSpecT[] = [];
  for (const [slot, want] of slots.entries()) {
    const c = header.disks.find((x) => x.slot === slot);
    if (c) out.push(await opts.makeDisk(c, want, data.get(slot) ?? new Map()));
    else if (rest.length) out.push(rest.shift()!);
    else throw new SnapshotError(`the snapshot's machine has ${slots.length} disks and carries ${header.disks.length}; ${opts.disks?.length ?? 0} more were given to resume it with`);
  }
  return out;
}

/** A machine copied out by LocalMachine.capture, to be encoded. */
interface PendingSnapshot {
  cap: Captured;
  saved: Promise<{ config: SavedConfig; embedded: Map<number, Uint8Array> }>;
  carried: CarriedDisk[];
  diskData: Map<number, Map<number, Uint8Array>>;
  guestNs: number;
  icount: string;
}

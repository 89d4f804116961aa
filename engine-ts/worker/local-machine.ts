// A machine running on the current thread: memory, core instance, board, guest loading and
// the run loop. The browser's machine worker and the Node host both build on this.

import { createMemoryFor, instantiateCore } from './wasm-core';
import { Board } from '../machine/board';
import { loadFlatBinary } from '../machine/loaders/flat';
import { loadLinux } from '../machine/loaders/linux';
import { loadMultiboot } from '../machine/loaders/multiboot';
import { Runner, type RunnerHost } from './runner';
import type { DiskSpec, GuestProfile, MachineConfig, MachineEvents, MachineStats, StopReason } from '../api/types';
import type { BlockDevice } from '../disk/block-device';

/** Opens the disk a machine config names (a VHD file in Node, an IndexedDB disk in the browser). */
export type DiskOpener = (spec: DiskSpec) => Promise<BlockDevice>;
import { ConfigError, validateConfig } from '../api/types';
import * as MM from '../../engine-wasm/memory-map';

export class LocalMachine {
  board: Board;
  runner: Runner;
  private resets = 0;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private readonly module: WebAssembly.Module,
    private readonly config: MachineConfig,
    private readonly events: MachineEvents,
    private readonly host: RunnerHost,
    board: Board,
    runner: Runner,
    private readonly disks: Array<{ spec: DiskSpec; dev: BlockDevice }>,
  ) {
    this.board = board;
    this.runner = runner;
  }

  static async create(
    module: WebAssembly.Module,
    config: MachineConfig,
    events: MachineEvents,
    host: RunnerHost,
    memory?: WebAssembly.Memory,
    openDisk?: DiskOpener,
  ): Promise<LocalMachine> {
    const v = validateConfig(config);
    const mem = memory ?? createMemoryFor({ memoryMiB: v.memoryMiB, xen: config.xen });
    // Disks are opened once and survive guest reboots (the machine keeps its drives).
    const disks: Array<{ spec: DiskSpec; dev: BlockDevice }> = [];
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
        disks.push({ spec, dev });
      }
      const { board, runner } = await LocalMachine.power(module, mem, config, events, host, disks);
      return new LocalMachine(mem, module, config, events, host, board, runner, disks);
    } catch (e) {
      await closeAll(disks); // release what was opened (files, locks); nothing was written
      throw e;
    }
  }

  /** Build the board, attach a fresh core instance and load the guest (power-on). */
  private static async power(
    module: WebAssembly.Module, mem: WebAssembly.Memory, config: MachineConfig, events: MachineEvents, host: RunnerHost,
    disks: Array<{ spec: DiskSpec; dev: BlockDevice }>,
  ): Promise<{ board: Board; runner: Runner }> {
    const v = validateConfig(config);
    const ramBytes = v.memoryMiB << 20;
    const board = new Board(mem, {
      ramBytes,
      debugPorts: v.debugPorts,
      onConsole: (b) => events.onConsole?.(b),
      onDebugOut: (b) => events.onDebug?.(b),
      onPostCode: (c, p) => events.onPostCode?.(c, p),
      rtcStartSeconds: config.rtcStartSeconds,
      xen: config.xen ? { name: config.guest.name ?? 'guest' } : undefined,
      consoleInput: config.consoleInput,
    });
    let xvd = 0;
    let ata = 0;
    for (const d of disks) {
      if (d.spec.bus === 'xen') board.xen!.addDisk(xvd++, d.dev);
      else {
        // IDE slots: 0 primary master (/dev/sda), 1 primary slave, 2-3 the secondary channel.
        if (ata > 3) throw new Error('at most 4 IDE disks');
        board.ide.attachDisk(ata >> 1, ata & 1, d.dev);
        ata++;
      }
    }
    (config.nics ?? []).forEach((n, i) => board.xen!.addNic(i, n.mac));
    const coreTimes = { runMs: 0, hostMs: 0 };
    const core = await instantiateCore(module, mem, board.coreHost, { times: coreTimes, jit: config.jit });
    board.attachCore(core);
    const g = config.guest;
    const tables = board.firmwareTables();
    switch (g.kind) {
      case 'flat': loadFlatBinary(board, g.image, g.loadAddress); break;
      case 'linux': loadLinux(board, { kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, acpiRsdp: tables.rsdp }); break;
      case 'multiboot': loadMultiboot(board, { kernel: g.kernel, cmdline: g.cmdline, modules: g.modules }); break;
      case 'bios': board.loadBios(g.rom); board.cpu.reset(); break;
      default: throw new Error(`unknown guest kind ${(g as { kind: string }).kind}`);
    }
    if (g.kind === 'linux' || g.kind === 'multiboot') {
      board.installFirmwareTables();
      board.firmwareCpuSetup();
    }
    const runner = new Runner(board, host, v.pacing);
    runner.coreTimes = coreTimes;
    runner.jit = core.jit;
    // With firmware, a triple fault resets the machine as on a PC (the BIOS runs again).
    if (g.kind === 'bios') runner.onTripleFault = () => { board.resetRequested = true; return true; };
    return { board, runner };
  }

  /** Run until the machine stops; a guest-requested reset reboots it with the same configuration. */
  async run(): Promise<StopReason> {
    for (;;) {
      const reason = await this.runner.run();
      if (reason.kind !== 'reset') return reason;
      if (++this.resets > 1000) return { kind: 'error', message: 'the guest keeps resetting the machine' };
      const backed = new DataView(this.memory.buffer).getUint32(MM.CTRL_BASE + MM.CTRL_RAM_SIZE, true);
      new Uint8Array(this.memory.buffer, MM.RAM_BASE, backed).fill(0);
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
    return { ...this.runner.stats(), exits: { ...this.board.exits } };
  }

  profile(everyInstructions: number): GuestProfile {
    return this.board.profile(everyInstructions);
  }
}

/** Flush and close each disk. */
async function closeAll(disks: Array<{ dev: BlockDevice }>): Promise<void> {
  for (const d of disks) {
    await d.dev.flush();
    await (d.dev as { close?: () => Promise<void> }).close?.();
  }
}

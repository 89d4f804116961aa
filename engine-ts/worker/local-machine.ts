// A machine running on the current thread: memory, core instance, board, guest loading and
// the run loop. The browser's machine worker and the Node host both build on this.

import { createMachineMemory, instantiateCore } from './wasm-core';
import { Board } from '../machine/board';
import { loadFlatBinary } from '../machine/loaders/flat';
import { loadLinux } from '../machine/loaders/linux';
import { loadMultiboot } from '../machine/loaders/multiboot';
import { Runner, type RunnerHost } from './runner';
import type { MachineConfig, MachineEvents, MachineStats, StopReason } from '../api/types';
import { validateConfig } from '../api/types';
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
  ): Promise<LocalMachine> {
    const v = validateConfig(config);
    const mem = memory ?? createMachineMemory(v.memoryMiB << 20);
    const { board, runner } = await LocalMachine.power(module, mem, config, events, host);
    return new LocalMachine(mem, module, config, events, host, board, runner);
  }

  /** Build the board, attach a fresh core instance and load the guest (power-on). */
  private static async power(
    module: WebAssembly.Module, mem: WebAssembly.Memory, config: MachineConfig, events: MachineEvents, host: RunnerHost,
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
    });
    const core = await instantiateCore(module, mem, board.coreHost);
    board.attachCore(core);
    const g = config.guest;
    const tables = board.firmwareTables();
    switch (g.kind) {
      case 'flat': loadFlatBinary(board, g.image, g.loadAddress); break;
      case 'linux': loadLinux(board, { kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline, acpiRsdp: tables.rsdp }); break;
      case 'multiboot': loadMultiboot(board, { kernel: g.kernel, cmdline: g.cmdline, modules: g.modules }); break;
      default: throw new Error(`unknown guest kind ${(g as { kind: string }).kind}`);
    }
    if (g.kind !== 'flat') {
      board.installFirmwareTables();
      board.firmwareCpuSetup();
    }
    return { board, runner: new Runner(board, host, v.pacing) };
  }

  /** Run until the machine stops; a guest-requested reset reboots it with the same configuration. */
  async run(): Promise<StopReason> {
    for (;;) {
      const reason = await this.runner.run();
      if (reason.kind !== 'reset') return reason;
      if (++this.resets > 1000) return { kind: 'error', message: 'the guest keeps resetting the machine' };
      new Uint8Array(this.memory.buffer, MM.RAM_BASE, this.board.ram.size).fill(0);
      const { board, runner } = await LocalMachine.power(this.module, this.memory, this.config, this.events, this.host);
      this.board = board;
      this.runner = runner;
    }
  }

  stats(): MachineStats {
    return { ...this.runner.stats(), exits: { ...this.board.exits } };
  }
}

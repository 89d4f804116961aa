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

export class LocalMachine {
  readonly board: Board;
  readonly runner: Runner;

  private constructor(readonly memory: WebAssembly.Memory, board: Board, runner: Runner) {
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
    const ramBytes = v.memoryMiB << 20;
    const mem = memory ?? createMachineMemory(ramBytes);
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
    switch (g.kind) {
      case 'flat': loadFlatBinary(board, g.image, g.loadAddress); break;
      case 'linux': loadLinux(board, { kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline }); break;
      case 'multiboot': loadMultiboot(board, { kernel: g.kernel, cmdline: g.cmdline, modules: g.modules }); break;
      default: throw new Error(`unknown guest kind ${(g as { kind: string }).kind}`);
    }
    const runner = new Runner(board, host, v.pacing);
    return new LocalMachine(mem, board, runner);
  }

  run(): Promise<StopReason> { return this.runner.run(); }

  stats(): MachineStats {
    return { ...this.runner.stats(), exits: { ...this.board.exits } };
  }
}

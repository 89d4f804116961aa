// A bare x86 core for unit tests: guest RAM, no devices (port reads return all ones,
// writes to port 0xE9 are collected), helpers to enter real mode or flat 32-bit protected
// mode and run code until HLT.
import fs from 'node:fs';
import { createMachineMemory, instantiateCore, testJit, type CoreInstance, type CoreHost } from '../../engine-ts/worker/wasm-core';
import { VcpuState } from '../../engine-ts/platform/vcpu-state';
import * as MM from '../../engine-wasm/memory-map';
import { CodePages } from '../../engine-ts/worker/code-pages';

// Next to this file in the repo; from the repository root when bundled by tools/run-ts.mjs.
const NEAR = new URL('../../engine-wasm/build/core.wasm', import.meta.url);
const WASM = fs.existsSync(NEAR) ? NEAR : new URL(`file://${process.cwd()}/engine-wasm/build/core.wasm`);
/**
 * Put a (reset) vCPU in flat 32-bit protected mode at CPL 0, paging off: a GDT at 0x500 with
 * null, flat code (0x08) and flat data (0x10), EIP = `entry`, ESP = `stack`. The core must
 * `refresh()` before it runs.
 */
export function setupFlat32(memory: WebAssembly.Memory, state: VcpuState, entry: number, stack: number): void {
  const dv = new DataView(memory.buffer, MM.RAM_BASE + 0x500, 24);
  [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200].forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  state.setGdtr(0x500, 23);
  state.cr0 = 0x60000011;
  state.setSeg('cs', { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc9b });
  for (const s of ['ds', 'es', 'ss', 'fs', 'gs'] as const) state.setSeg(s, { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc93 });
  state.cpl = 0;
  state.eip = entry;
  state.setGpr('esp', stack);
}

let modulePromise: Promise<WebAssembly.Module> | null = null;
function coreModule(): Promise<WebAssembly.Module> {
  if (!modulePromise) {
    if (!fs.existsSync(WASM)) throw new Error('engine-wasm/build/core.wasm is missing: run `npm run asbuild` first');
    modulePromise = WebAssembly.compile(fs.readFileSync(WASM));
  }
  return modulePromise;
}

export interface CpuHarness {
  core: CoreInstance;
  state: VcpuState;
  memory: WebAssembly.Memory;
  ram: Uint8Array;
  /** Bytes written to port 0xE9. */
  debugOut: number[];
  /** Override port reads (default: all ones). */
  ioRead: (port: number, size: number) => number;
  ioWrites: Array<[number, number, number]>;
  /** Interrupt acknowledge (default: none pending, -1). */
  intAck: () => number;
  load(addr: number, bytes: ArrayLike<number>): void;
  /** Real mode, CS:IP = 0:entry, SS:SP = 0:stack. */
  enterReal(entry: number, stack?: number): void;
  /** Flat 32-bit protected mode at CPL 0 (GDT at 0x500: null, code 0x08, data 0x10). */
  enterFlat32(entry: number, stack?: number): void;
  /** Run until HLT (or a budget); returns the exit reason. */
  runUntilHalt(maxInstructions?: number): number;
  eflags(): number;
}

export async function createCpuHarness(ramBytes = 16 << 20): Promise<CpuHarness> {
  const memory = createMachineMemory(ramBytes);
  const debugOut: number[] = [];
  const ioWrites: Array<[number, number, number]> = [];
  const h = {} as CpuHarness;
  h.ioRead = (_p, s) => (s === 1 ? 0xff : s === 2 ? 0xffff : 0xffffffff);
  h.intAck = () => -1;
  const host: CoreHost = {
    ioRead: (p, s) => h.ioRead(p, s),
    ioWrite: (p, s, v) => { ioWrites.push([p, s, v]); if (p === 0xe9) debugOut.push(v & 0xff); },
    mmioRead: () => 0xffffffff,
    mmioWrite: () => {},
    intAck: () => h.intAck(),
    msrHost: () => 1,
    cpuidHost: () => 0,
    crWrite: () => {},
    hypercall: () => -1,
  };
  // Translation on unless PVLAB_JIT=0, of every block at its first start.
  const core = await instantiateCore(await coreModule(), memory, host, { jit: testJit(), jitHot: 1 });
  const code = new CodePages(memory.buffer);
  if (core.init(0) !== 0) throw new Error('core init failed');
  core.reset();
  const state = new VcpuState(memory, 0);
  const ram = new Uint8Array(memory.buffer, MM.RAM_BASE, ramBytes);
  Object.assign(h, {
    core, state, memory, ram, debugOut, ioWrites,
    load(addr: number, bytes: ArrayLike<number>) { code.noteWrite(addr, bytes.length); ram.set(bytes, addr); },
    enterReal(entry: number, stack = 0x7000) {
      core.reset();
      for (let s = 0; s < 6; s++) state.setSeg(s, { selector: 0, base: 0, limit: 0xffff, access: s === 1 ? 0x9b : 0x93 });
      state.eip = entry;
      state.setGpr('esp', stack);
      core.refresh();
    },
    enterFlat32(entry: number, stack = 0x80000) {
      core.reset();
      setupFlat32(memory, state, entry, stack);
      core.refresh();
    },
    runUntilHalt(maxInstructions = 1_000_000) {
      let left = maxInstructions;
      let exit: number = MM.EXIT_BUDGET;
      while (left > 0) {
        const n = Math.min(left, 100_000);
        exit = core.run(n);
        left -= n;
        if (exit !== MM.EXIT_BUDGET) break;
      }
      return exit;
    },
    eflags() { return core.getEflags() >>> 0; },
  });
  return h;
}

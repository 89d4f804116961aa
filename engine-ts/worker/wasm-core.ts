// Instantiating the AssemblyScript x86 core against a machine's shared memory.
// This folder is the only place that touches WebAssembly, Worker, postMessage and Atomics.

import * as MM from '../../engine-wasm/memory-map';
import type { MachineLayout } from '../config/machine';
import { JitHost } from './jit/jit-host';

/** What the core calls back into the host for (all synchronous). */
export interface CoreHost {
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
  /** Interrupt acknowledge: the vector of the highest pending interrupt, or -1 (spurious). */
  intAck(): number;
  /** Unknown MSR: return 0 if handled (for reads, the value goes to R_EXIT_VALUE as i64), else 1 (#GP). */
  msrHost(write: number, index: number, lo: number, hi: number): number;
  /** CPUID leaves 0x40000000-0x4FFFFFFF: fill EAX..EDX in the state block and return 1, or 0. */
  cpuidHost(leaf: number, sub: number): number;
  /** CR0 changed its PE/PG bits (for observers; the core already switched). */
  crWrite(reg: number, value: number): void;
  /** VMCALL/VMMCALL: 0 done, 1 done and block, -1 no hypervisor (#UD). */
  hypercall(): number;
}

export interface CoreExports {
  init(id: number): number;
  reset(): void;
  run(budget: number): number;
  refresh(): void;
  getEflags(): number;
  setEflags(v: number): void;
  flushTlb(): void;
  jitEnable(on: number): void;
  jitThreshold(n: number): void;
  jitCond(cc: number): number;
}

/** A core instance with its translator (engine-ts/worker/jit/). */
export type CoreInstance = CoreExports & { readonly jit: JitHost };

export interface CoreOptions {
  /** Time run() and the host calls into these counters. */
  times?: CoreTimes;
  /** Translate hot guest code to WebAssembly (default: defaultJit()). */
  jit?: boolean;
  /** Which vCPU this instance will run (init(id)); default 0. */
  vcpuId?: number;
  /** Translate a block once it has started this many times (default 1000; PVLAB_JIT_HOT in Node). */
  jitHot?: number;
  /**
   * Compile translations on another thread while the vCPU interprets on (JitHost.async): for
   * a core whose run loop turns the event loop (a machine's runner). PVLAB_JIT_SYNC=1 in
   * Node turns it off.
   */
  jitAsync?: boolean;
}

/**
 * Whether translation is on when a machine's config does not say: on (the Linux guest boots
 * 1.3x faster, BENCHMARKS.md), unless the Node environment says PVLAB_JIT=0. Core test
 * harnesses follow the same switch (testJit()).
 */
export function defaultJit(): boolean {
  return nodeEnv()?.PVLAB_JIT !== '0';
}
/** For core test harnesses: translation on unless PVLAB_JIT=0, so the translator stays covered. */
export function testJit(): boolean {
  return defaultJit();
}
function nodeEnv(): Record<string, string | undefined> | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
}

/** Pages the core module declares as its minimum (must match engine-wasm/asconfig.json). */
export const CORE_MIN_PAGES = 1025;
export const CORE_MAX_PAGES = 65536;

/**
 * Create the machine memory: layout area + guest RAM + `extraBytes` of memory above RAM that
 * the core treats as RAM but the guest's memory map does not list (Xen's BAR1 window).
 */
export function createMachineMemory(ramBytes: number, extraBytes = 0): WebAssembly.Memory {
  if (!Number.isInteger(ramBytes) || ramBytes < 1 << 20 || ramBytes > 3 * 1024 ** 3 || ramBytes % 4096 !== 0)
    throw new RangeError(`guest RAM must be a multiple of 4 KiB between 1 MiB and 3 GiB (got ${ramBytes})`);
  const backed = ramBytes + extraBytes;
  const pages = Math.max(CORE_MIN_PAGES, Math.ceil((MM.RAM_BASE + backed) / MM.WASM_PAGE));
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (e) {
    throw new RangeError(`could not reserve ${Math.ceil((pages * MM.WASM_PAGE) / 2 ** 20)} MiB of shared memory for the machine (${(e as Error).message}); give it less memory`);
  }
  const ctrl = new DataView(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE);
  ctrl.setUint32(MM.CTRL_RAM_SIZE, backed, true);
  ctrl.setUint32(MM.CTRL_MAP_VERSION, MM.MAP_VERSION, true);
  return memory;
}

/** The memory a machine with this layout needs (Xen mode adds the BAR1 window). */
export function createMachineMemoryFor(layout: MachineLayout): WebAssembly.Memory {
  return createMachineMemory(layout.ramBytes, layout.windowBytes);
}

/**
 * Where the wall time of the core's runs goes (for benchmarks and the machine's stats):
 * `runMs` inside run(), `hostMs` of it inside calls back into the host (the device models).
 * The worker layer may read the host clock; the engine may not.
 */
export interface CoreTimes { runMs: number; hostMs: number }

/** The host's callbacks, each timed into `times.hostMs`. */
function timedHost(host: CoreHost, times: CoreTimes): CoreHost {
  const clock = globalThis.performance;
  const timed = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    const t = clock.now();
    try { return f(...a); } finally { times.hostMs += clock.now() - t; }
  };
  return {
    ioRead: timed((p, s) => host.ioRead(p, s)),
    ioWrite: timed((p, s, v) => host.ioWrite(p, s, v)),
    mmioRead: timed((a, s) => host.mmioRead(a, s)),
    mmioWrite: timed((a, s, v) => host.mmioWrite(a, s, v)),
    intAck: timed(() => host.intAck()),
    msrHost: timed((w, i, lo, hi) => host.msrHost(w, i, lo, hi)),
    cpuidHost: timed((l, s) => host.cpuidHost(l, s)),
    crWrite: timed((r, v) => host.crWrite(r, v)),
    hypercall: timed(() => host.hypercall()),
  };
}

/**
 * Starts (reached by a jump) before a block is translated. Measured with one function per
 * page, warm blocks taken in and the interpreter going back to translated code after a
 * refused instruction (2026-12-07, `PVLAB_JIT_HOT=N … linux-bench.ts --only pvlab --host
 * node`, load about 1): boot to the prompt 12.5 s at 1000, 9.6-9.7 s at 5000, 9.8-10.0 s at
 * 10000, 9.8 s at 20000 (boot MIPS per CPU second 70, 108, 113-116, 122: less translating,
 * most of it compiling in V8's background threads); the shell loop 11.1-11.5 s throughout;
 * dd into md5sum 1.47, 1.36-1.53, 1.33 (twice), 1.39 s. Lower thresholds translate code that
 * runs a few thousand times at most (300: the boot took 50 % more CPU than at 1000).
 */
const JIT_HOT_DEFAULT = 10000;

export async function instantiateCore(
  module: WebAssembly.Module, memory: WebAssembly.Memory, coreHost: CoreHost, opts: CoreOptions = {},
): Promise<CoreInstance> {
  const times = opts.times;
  const host = times ? timedHost(coreHost, times) : coreHost;
  const jit = new JitHost(memory, MM.VCPU_BASE + (opts.vcpuId ?? 0) * MM.VCPU_STRIDE);
  const env = {
    memory,
    table: jit.table,
    jitCompile: (phys: number, eip: number, mode: number) => jit.compile(phys >>> 0, eip >>> 0, mode >>> 0),
    jitFind: (phys: number, eip: number, mode: number) => jit.find(phys >>> 0, eip >>> 0, mode >>> 0),
    jitReset: () => jit.reset(),
    abort: () => { throw new Error('x86 core aborted'); },
    ioRead: (p: number, s: number) => host.ioRead(p, s) >>> 0,
    ioWrite: (p: number, s: number, v: number) => host.ioWrite(p, s, v >>> 0),
    mmioRead: (a: number, s: number) => host.mmioRead(a >>> 0, s) >>> 0,
    mmioWrite: (a: number, s: number, v: number) => host.mmioWrite(a >>> 0, s, v >>> 0),
    intAck: () => host.intAck(),
    msrHost: (w: number, i: number, lo: number, hi: number) => host.msrHost(w, i >>> 0, lo >>> 0, hi >>> 0),
    cpuidHost: (l: number, s: number) => host.cpuidHost(l >>> 0, s >>> 0),
    crWrite: (r: number, v: number) => host.crWrite(r, v >>> 0),
    hypercall: () => host.hypercall(),
  };
  const instance = await WebAssembly.instantiate(module, { env });
  const exports = instance.exports as unknown as CoreExports;
  jit.attach(exports);
  jit.enabled = opts.jit ?? defaultJit();
  exports.jitEnable(jit.enabled ? 1 : 0);
  const hot = opts.jitHot ?? Number(nodeEnv()?.PVLAB_JIT_HOT ?? JIT_HOT_DEFAULT);
  jit.hot = Number.isInteger(hot) && hot >= 1 ? hot : JIT_HOT_DEFAULT;
  exports.jitThreshold(jit.hot);
  jit.async = (opts.jitAsync ?? false) && nodeEnv()?.PVLAB_JIT_SYNC !== '1';
  if (!times) return { ...exports, jit };
  const clock = globalThis.performance;
  const run = exports.run;
  return {
    ...exports,
    jit,
    run(budget: number): number {
      const t = clock.now();
      try { return run(budget); } finally { times.runMs += clock.now() - t; }
    },
  };
}

export async function compileCore(bytes: BufferSource): Promise<WebAssembly.Module> {
  return WebAssembly.compile(bytes);
}

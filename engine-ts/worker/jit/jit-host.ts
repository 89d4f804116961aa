// The host side of the translator for one vCPU: the core's function table, and the
// `jitCompile` import the core calls when a block has become hot. Translations are a cache
// (see engine-wasm/assembly/jit.ts): nothing here is machine state, a snapshot never holds
// any, and a new instance starts with none. Memory is bounded by the table: one slot per
// bucket of the core's direct-mapped cache (MM.JIT_BUCKETS), a new translation replacing
// the old one of its bucket (whose module is then garbage).

import * as MM from '../../../engine-wasm/memory-map';
import { translateBlock } from './translate';
import { blockModule } from './wasm-writer';

export interface JitStats {
  /** Blocks translated so far (a block translated again after its code changed counts again). */
  translations: number;
  /** Blocks whose first instruction the translator does not handle (left to the interpreter). */
  refused: number;
  /** Translations alive now (at most MM.JIT_BUCKETS) and the bytes of their WebAssembly modules. */
  live: number;
  liveBytes: number;
  /** Host wall time spent translating and compiling, ms. */
  compileMs: number;
}

/** Core exports the translated code calls. */
export interface JitCoreHelpers {
  jitCond(cc: number): number;
  jitCF(): number;
}

export class JitHost {
  /** The core's function table (imported as env.table): slot 1 + bucket holds the bucket's translation. */
  readonly table = new WebAssembly.Table({ element: 'anyfunc', initial: 1 + MM.JIT_BUCKETS });
  private helpers: JitCoreHelpers | null = null;
  /** Whether the core translates (CoreExports.jitEnable). */
  enabled = false;
  private readonly sizes = new Int32Array(MM.JIT_BUCKETS);
  private readonly ram: Uint8Array;
  private readonly maxPages: number;
  readonly stats: JitStats = { translations: 0, refused: 0, live: 0, liveBytes: 0, compileMs: 0 };

  constructor(private readonly memory: WebAssembly.Memory, private readonly vcpuBase: number) {
    this.ram = new Uint8Array(memory.buffer);
    this.maxPages = 65536; // the most a wasm32 memory can have: any machine memory fits the import
  }

  /** The core instance's helpers (set right after instantiation, before it runs). */
  attach(helpers: JitCoreHelpers): void { this.helpers = helpers; }

  /** env.jitCompile: translate the block at `eip` (physical `phys`) into `bucket`'s slot. Returns the slot, or 0. */
  compile(bucket: number, phys: number, eip: number, mode: number): number {
    if (!this.helpers || bucket >= MM.JIT_BUCKETS) return 0;
    const t0 = globalThis.performance.now();
    const page = MM.RAM_BASE + (phys & ~0xfff);
    const ram = this.ram;
    const read = (off: number): number => (off >= 0 && off < 4096 ? ram[page + off] : -1);
    const tr = translateBlock(read, phys, eip, this.vcpuBase, (mode & MM.JITM_USER) !== 0);
    if (!tr) {
      this.stats.refused++;
      this.stats.compileMs += globalThis.performance.now() - t0;
      return 0;
    }
    const bytes = blockModule(tr.body, this.maxPages);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { memory: this.memory, cond: this.helpers.jitCond, cf: this.helpers.jitCF },
    });
    const slot = 1 + bucket;
    if (!this.sizes[bucket]) this.stats.live++;
    this.stats.liveBytes += bytes.length - this.sizes[bucket];
    this.sizes[bucket] = bytes.length;
    this.table.set(slot, instance.exports.f as (limit: number) => bigint);
    this.stats.translations++;
    this.stats.compileMs += globalThis.performance.now() - t0;
    return slot;
  }
}

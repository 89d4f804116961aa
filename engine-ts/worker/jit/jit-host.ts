// The host side of the translator for one vCPU: the core's function table, and the
// `jitCompile` import the core calls when a block has become hot. Translations are a cache
// (see engine-wasm/assembly/jit.ts): nothing here is machine state, a snapshot never holds
// any, and a new instance starts with none.
//
// One function per page of code (and mode): when a block of a page becomes hot, the page's
// function is made anew with that block added to the ones it had (which keep their indices),
// and replaces the old one in the page's table slot, so every block of the page the core
// has found stays valid. Code is translated once however many of its blocks are entered:
// translating a region per entry copied the same code into many functions, and so much
// machine code ran slower than the interpreter on a shell's wide loops. Memory is bounded:
// past MAX_LIVE_BYTES of modules every translation is dropped (the core's cache with them).
//
// In a machine, V8 compiles the modules on its own threads (`async`): translating takes
// microseconds, compiling milliseconds (Liftoff at once, TurboFan about 70 µs per x86
// instruction, measured 2026-12-07), and the vCPU goes on interpreting the block meanwhile
// (its cache entry waits as JIT_FN_PENDING) instead of standing still for each.

import * as MM from '../../../engine-wasm/memory-map';
import { cfHelper, fetchReader, translatable, translatePage } from './translate';
import { blockModule } from './wasm-writer';

/**
 * Whether this engine has WebAssembly tail calls (Chrome 112, Firefox 121, Safari 18.2, Node
 * 20): translated code then goes on to other translated code itself. A module holding one
 * return_call_indirect, validated.
 */
const TAIL_CALLS = WebAssembly.validate(new Uint8Array([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 4, 4, 1, 0x70, 0, 0,
  10, 9, 1, 7, 0, 0x41, 0, 0x13, 0, 0, 0x0b,
]));

/** WebAssembly bytes of live translations past which all are dropped and translation starts over. */
const MAX_LIVE_BYTES = 32 << 20;

/**
 * A page's function: its table slot, the page's JIT_PAGE_GEN word its latest translation was
 * made from, that translation's blocks' EIPs by index (a new translation keeps the indices of
 * the blocks before it, so the function in the slot holds the first `ready` of them).
 */
interface PageCode {
  slot: number;
  gen: number;
  blocks: number[];
  index: Map<number, number>;
  bytes: number;
  /** Blocks (from the first) the function in the slot holds; the others are being compiled. */
  ready: number;
  /** Translations of the page made so far: a compile finished is installed only if it is still the latest. */
  version: number;
  /** EIPs whose cache entries wait (JIT_FN_PENDING) for the translation being compiled. */
  waiting: number[];
}

export interface JitStats {
  /** Functions made so far (a page's function made again with more of its blocks counts again). */
  translations: number;
  /** Blocks whose first instruction the translator does not handle (left to the interpreter). */
  refused: number;
  /** Page functions alive now and the bytes of their WebAssembly modules. */
  live: number;
  liveBytes: number;
  /** Host wall time the vCPU spent translating and compiling (with compiles on another thread, translating and installing), ms. */
  compileMs: number;
}

/** Core exports the translated code calls. */
export interface JitCoreHelpers {
  jitCond(cc: number): number;
}

/**
 * A page function's key: the same physical page may run at several linear addresses (a
 * library mapped into several processes), and its code's jumps and return addresses are
 * linear, so a function is made for each.
 */
const pageKey = (frame: number, eip: number, mode: number) => (frame >>> 12) * 2 ** 21 + (eip >>> 12) * 2 + mode;

export class JitHost {
  /** The core's function table (imported as env.table): slot 0 stays empty, the others hold page functions. */
  readonly table = new WebAssembly.Table({ element: 'anyfunc', initial: 1 + MM.JIT_ENTRIES });
  private helpers: JitCoreHelpers | null = null;
  /** Whether the core translates (CoreExports.jitEnable). */
  enabled = false;
  /** Block starts that make a block hot (CoreExports.jitThreshold; set with it). */
  hot = 1000;
  /**
   * Whether V8 compiles translations on another thread while the vCPU goes on interpreting
   * (the block's cache entry waits as JIT_FN_PENDING and is filled in when the module is
   * ready, which is at one of the run loop's turns of the event loop). Off, the vCPU waits for
   * each compile: harnesses that run the core without turning the event loop.
   */
  async = false;
  /** Reset count: a compile that finishes after a reset is dropped. */
  private epoch = 0;
  /** A compile that failed (it is thrown at the next call: a translator bug, not the guest's). */
  private failure: unknown = null;
  /** Compiles in flight. */
  private readonly compiling = new Set<Promise<void>>();
  private readonly ram: Uint8Array;
  private readonly words: Uint32Array;
  private readonly maxPages: number;
  /** The CF helper every page's module carries (translate.ts cfHelper). */
  private readonly cfBody: Uint8Array;
  /** Page functions by physical page, linear page and mode (see compile). */
  private readonly pages = new Map<number, PageCode>();
  /** The next table slot no page has had since the last reset (slots are not reused before it). */
  private nextSlot = 1;
  readonly stats: JitStats = { translations: 0, refused: 0, live: 0, liveBytes: 0, compileMs: 0 };

  constructor(private readonly memory: WebAssembly.Memory, private readonly vcpuBase: number) {
    this.ram = new Uint8Array(memory.buffer);
    this.words = new Uint32Array(memory.buffer);
    this.maxPages = 65536; // the most a wasm32 memory can have: any machine memory fits the import
    this.cfBody = cfHelper(vcpuBase);
    this.reset();
  }

  /** The core instance's helpers (set right after instantiation, before it runs). */
  attach(helpers: JitCoreHelpers): void { this.helpers = helpers; }

  /** env.jitReset: the core dropped its cache; drop every function (none is reachable any more). */
  reset(): void {
    // Every slot given out (a page whose function moved to a new slot left its old one
    // behind), so no function, nor its compiled module, outlives the reset.
    for (let slot = 1; slot < this.nextSlot; slot++) this.table.set(slot, null);
    this.pages.clear();
    this.epoch++;
    this.nextSlot = 1;
    this.stats.live = 0;
    this.stats.liveBytes = 0;
  }

  /**
   * Blocks of the page at `frame` (run at the linear page of `eip`) that have started often
   * but are not hot yet: made into the page's function now with the hot one, the page's
   * function is not made anew for each of them as it becomes hot (each time a new module to
   * compile, from its baseline tier up). From the core's hot counters (VCPU_JIT_HOT).
   */
  private warm(frame: number, eip: number, have: readonly number[]): number[] {
    const at = (this.vcpuBase + MM.VCPU_JIT_HOT) >>> 2, w = this.words;
    const min = Math.max(2, this.hot >>> 2), linear = (eip & ~0xfff) >>> 0;
    const out: number[] = [];
    for (let k = 0; k < MM.JIT_HOT_COUNTERS; k++) {
      const phys = w[at + 2 * k];
      if (((phys & ~0xfff) >>> 0) !== frame || w[at + 2 * k + 1] < min) continue;
      const e = (linear | (phys & 0xfff)) >>> 0;
      if (e !== eip && !have.includes(e)) out.push(e);
    }
    return out;
  }

  /**
   * env.jitCompile: the block at `eip` (physical `phys`, mode JITM_*) is hot. Returns its
   * page function's slot | the block's index << 16, or 0 if the block is not translated.
   */
  compile(phys: number, eip: number, mode: number): number {
    if (this.failure) throw this.failure;
    if (!this.helpers) return 0;
    const frame = (phys & ~0xfff) >>> 0;
    const key = pageKey(frame, eip, mode);
    // The core marked the page as code before asking: its word now is what the code is read at.
    const gen = this.words[(MM.JIT_PAGE_GEN >>> 2) + (frame >>> 12)];
    let page = this.pages.get(key);
    if (page && page.gen !== gen) { page.gen = gen; page.blocks = []; page.index.clear(); page.ready = 0; } // the page was written
    const known = page?.index.get(eip);
    if (page && known !== undefined) {
      if (known < page.ready) return page.slot | (known << 16);
      page.waiting.push(eip); // in the translation being compiled
      return MM.JIT_FN_PENDING;
    }
    const t0 = globalThis.performance.now();
    const ram = this.ram, base = MM.RAM_BASE + frame;
    const read = (off: number) => (off >= 0 && off < 4096 ? ram[base + off] : -1);
    // The page is translated anew only for a block that can start here (the core keeps the
    // answer for this EIP, but may forget it when its cache entry is reused).
    const seeds = page?.blocks ?? [];
    // (The warm blocks come after the hot one: the limits on a function's size cut them, not it.)
    const user = (mode & MM.JITM_USER) !== 0;
    const peek = fetchReader(this.words, ram, this.vcpuBase, user);
    const tr = translatable(read, eip, peek)
      ? translatePage(read, seeds, eip, this.vcpuBase, user, { after: this.warm(frame, eip, seeds), peek, chain: TAIL_CALLS })
      : null;
    if (!tr) {
      this.stats.refused++;
      this.stats.compileMs += globalThis.performance.now() - t0;
      return 0;
    }
    // The blocks the core knows keep their indices (translatePage takes them first, in order);
    // if they did not, the new function goes to a new slot and the old one stays for them.
    if (page && page.blocks.some((e, i) => tr.blocks[i] !== e)) page = undefined;
    const bytes = blockModule(tr.body, this.cfBody, this.maxPages);
    if (this.stats.liveBytes + bytes.length > MAX_LIVE_BYTES || (!page && this.nextSlot > MM.JIT_ENTRIES)) {
      // Too much translated code: start over (the core's cache is cleared here too; it stores
      // the entry it asked for after this returns).
      this.words.fill(0, (this.vcpuBase + MM.VCPU_JIT_CACHE) >>> 2, (this.vcpuBase + MM.VCPU_JIT_CACHE + MM.JIT_ENTRIES * MM.JIT_ENTRY) >>> 2);
      this.reset();
      page = undefined;
    }
    if (!page) {
      page = { slot: this.nextSlot++, gen, blocks: [], index: new Map(), bytes: 0, ready: 0, version: 0, waiting: [] };
      this.pages.set(key, page);
      this.stats.live++;
    }
    this.stats.liveBytes += bytes.length - page.bytes;
    page.bytes = bytes.length;
    page.blocks = tr.blocks;
    page.index = new Map(tr.blocks.map((e, i) => [e, i]));
    const version = ++page.version;
    this.stats.translations++;
    const imports = { env: { memory: this.memory, table: this.table, cond: this.helpers.jitCond } };
    if (!this.async) {
      this.install(page, new WebAssembly.Instance(new WebAssembly.Module(bytes), imports), frame, mode, eip);
      this.stats.compileMs += globalThis.performance.now() - t0;
      return page.slot | (page.index.get(eip)! << 16);
    }
    page.waiting.push(eip);
    const p = page, epoch = this.epoch;
    const done = WebAssembly.instantiate(bytes, imports).then(({ instance }) => {
      // Dropped by a reset, or a later translation of the page (which holds these blocks too) is on its way.
      if (epoch !== this.epoch || version !== p.version) return;
      const t1 = globalThis.performance.now();
      this.install(p, instance, frame, mode);
      this.stats.compileMs += globalThis.performance.now() - t1;
    }, (e: unknown) => { this.failure = e; }).finally(() => this.compiling.delete(done));
    this.compiling.add(done);
    this.stats.compileMs += globalThis.performance.now() - t0;
    return MM.JIT_FN_PENDING;
  }

  /**
   * env.jitFind: the block at `eip` (physical `phys`, mode JITM_*) as compile() returns it if
   * its page's installed function holds it and the page is unwritten since; else 0.
   */
  find(phys: number, eip: number, mode: number): number {
    const frame = (phys & ~0xfff) >>> 0;
    const page = this.pages.get(pageKey(frame, eip, mode));
    if (!page || page.gen !== this.words[(MM.JIT_PAGE_GEN >>> 2) + (frame >>> 12)]) return 0;
    const i = page.index.get(eip);
    return i !== undefined && i < page.ready ? page.slot | (i << 16) : 0;
  }

  /** Compiles started and not yet finished (each is installed at a turn of the event loop). */
  get inFlight(): number { return this.compiling.size; }

  /** Resolves when every compile started so far has finished (and was installed, or dropped). */
  async settled(): Promise<void> {
    while (this.compiling.size) await Promise.all([...this.compiling]);
  }

  /**
   * Put the page's latest translation (compiled) in its slot, and fill in the cache entries
   * waiting for it: each gets its block's index, or is freed if the translation lacks the
   * block (the page was written since the block became hot: it is counted again).
   */
  private install(page: PageCode, instance: WebAssembly.Instance, frame: number, mode: number, skip = -1): void {
    this.table.set(page.slot, instance.exports.f as (limit: number, start: number, base: number) => bigint);
    page.ready = page.blocks.length;
    const w = this.words, F = MM.JIT_E_FN / 4;
    for (const eip of page.waiting) {
      const phys = (frame | (eip & 0xfff)) >>> 0;
      const i = page.index.get(eip);
      this.eachWay(phys, (en) => {
        if (!this.holds(en, phys, eip, mode) || w[en + F] !== MM.JIT_FN_PENDING) return false;
        w[en + F] = i === undefined ? 0 : page.slot;
        w[en + MM.JIT_E_START / 4] = i ?? 0;
        return false; // (every entry waiting for it)
      });
    }
    page.waiting = [];
    // The function's other blocks: entries in free ways, so the core finds them at their
    // first start instead of interpreting them until each has started `hot` times.
    for (let i = 0; i < page.blocks.length; i++) {
      const eip = page.blocks[i];
      if (eip === skip) continue;
      const phys = (frame | (eip & 0xfff)) >>> 0;
      let free = -1;
      if (this.eachWay(phys, (en) => {
        if (w[en + F] === 0) { if (free < 0) free = en; return false; }
        return this.holds(en, phys, eip, mode);
      }) || free < 0) continue;
      w[free + MM.JIT_E_PHYS / 4] = phys;
      w[free + MM.JIT_E_EIP / 4] = eip;
      w[free + MM.JIT_E_MODE / 4] = mode;
      w[free + MM.JIT_E_GEN / 4] = page.gen;
      w[free + MM.JIT_E_START / 4] = i;
      w[free + F] = page.slot;
    }
  }

  /**
   * Call `f` with the word index of each entry of the core's cache set for the block at
   * physical `phys` (the set jitEnter in engine-wasm/assembly/jit.ts picks), until it returns
   * true; returns whether it did.
   */
  private eachWay(phys: number, f: (en: number) => boolean): boolean {
    let en = (this.vcpuBase + MM.VCPU_JIT_CACHE + (Math.imul(phys, MM.JIT_HASH) >>> 20) * MM.JIT_WAYS * MM.JIT_ENTRY) >>> 2;
    for (let way = 0; way < MM.JIT_WAYS; way++, en += MM.JIT_ENTRY >>> 2) if (f(en)) return true;
    return false;
  }
  /** Whether the entry at word `en` is the block's (whatever its function: see MM.JIT_E_FN). */
  private holds(en: number, phys: number, eip: number, mode: number): boolean {
    const w = this.words;
    return w[en + MM.JIT_E_PHYS / 4] === phys && w[en + MM.JIT_E_EIP / 4] === eip && w[en + MM.JIT_E_MODE / 4] === mode;
  }
}

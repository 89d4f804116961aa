// Emulator side of the differential tester: the wasm core in flat 32-bit protected mode
// with the same code/data addresses as the native runner. The machine is set up once;
// each case only rewrites registers, EFLAGS, code and the data area (a full reset would
// clear the 4 MiB software TLB every time). Faults go through an IDT whose handlers are
// all HLT, so the faulting instruction's state can be read back from the exception frame.
// With paging on (the default) the two code pages and the two data pages are mapped to
// swapped, non-adjacent physical frames: invisible to the guest, but an access or fetch
// that crosses a page boundary then only works if the core splits it correctly.
import { createMachineMemory, instantiateCore, testJit, type CoreExports, type CoreHost } from '../../engine-ts/worker/wasm-core';
import { VcpuState } from '../../engine-ts/platform/vcpu-state';
import * as MM from '../../engine-wasm/memory-map';
import { CodePages } from '../../engine-ts/worker/code-pages';
import { CODE_BASE, CODE_SIZE, DATA_BASE, DATA_SIZE, FIXED_FLAGS } from './layout';
import { fillData } from './prng';
import type { DiffCase } from './generator';
import { checkCodePlacement, type RunResult } from './native';
import { SS16_CASE } from './stack16';

const RAM_BYTES = 4 << 20;
const GDT = 0x500;
const IDT = 0x800;
const HANDLER = 0x3000;
const PAGE_DIR = 0x10000;
const PAGE_TABLE = 0x11000;
/** Linear page → physical frame for the scrambled mapping (everything else is identity). */
const SCRAMBLE = new Map<number, number>([
  [CODE_BASE >>> 12, 0x301], [(CODE_BASE >>> 12) + 1, 0x300],
  [DATA_BASE >>> 12, 0x303], [(DATA_BASE >>> 12) + 1, 0x302],
]);
/** Vectors that push an error code (SDM Vol. 3A table 6-1). */
const HAS_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

export interface EmuOptions {
  /** Map code and data pages to scrambled physical frames (default true). */
  paging?: boolean;
}

export interface EmuRunOptions {
  /** Instruction budget per case (a runaway case is reported, not hung on). */
  maxInstructions?: number;
  /** Instructions per core.run() call. */
  chunk?: number;
}

export interface EmuRunResult extends RunResult {
  /** Data-area byte range [lo, hi) overwritten by the exception frame (not compared). */
  frame?: [number, number];
}

export class EmuRunner {
  private readonly data = new Uint32Array(DATA_SIZE / 4);
  private readonly pristine = new Uint32Array(DATA_SIZE / 4);
  private readonly dataBytes = new Uint8Array(this.data.buffer);
  /** SS is currently the 16-bit segment of stack16.ts cases. */
  private ss16 = false;

  private constructor(readonly core: CoreExports, readonly state: VcpuState, readonly ram: Uint8Array, readonly paging: boolean, private readonly code: CodePages) {
    if (CODE_SIZE % 4096 !== 0 || DATA_SIZE % 4096 !== 0) throw new Error('code and data areas must be whole pages');
  }

  static async create(wasm: BufferSource, opts: EmuOptions = {}): Promise<EmuRunner> {
    const paging = opts.paging ?? true;
    const memory = createMachineMemory(RAM_BYTES);
    const host: CoreHost = {
      ioRead: (_p, s) => (s === 1 ? 0xff : s === 2 ? 0xffff : 0xffffffff),
      ioWrite: () => {},
      mmioRead: () => 0xffffffff,
      mmioWrite: () => {},
      intAck: () => -1,
      msrHost: () => 1,
      cpuidHost: () => 0,
      crWrite: () => {},
      hypercall: () => -1,
    };
    // Translation on unless PVLAB_JIT=0, of every block at its first start: each case's code
    // is then run by the translator wherever it handles the instructions.
    const core = await instantiateCore(await WebAssembly.compile(wasm), memory, host, { jit: testJit(), jitHot: 1 });
    if (core.init(0) !== 0) throw new Error('core init failed');
    core.reset();
    const state = new VcpuState(memory, 0);
    const ram = new Uint8Array(memory.buffer, MM.RAM_BASE, RAM_BYTES);
    const dv = new DataView(memory.buffer, MM.RAM_BASE);
    // GDT: null, flat code 0x08, flat data 0x10. IDT: every vector → interrupt gate to HLT.
    [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200].forEach((w, i) => dv.setUint32(GDT + i * 4, w >>> 0, true));
    for (let v = 0; v < 256; v++) {
      dv.setUint32(IDT + v * 8, (0x08 << 16) | (HANDLER & 0xffff), true);
      dv.setUint32(IDT + v * 8 + 4, ((HANDLER & 0xffff0000) | 0x8e00) >>> 0, true);
    }
    ram[HANDLER] = 0xf4;
    // One page table for the first 4 MiB: identity, except the scrambled pages.
    dv.setUint32(PAGE_DIR, PAGE_TABLE | 3, true);
    for (let pg = 0; pg < 1024; pg++) dv.setUint32(PAGE_TABLE + pg * 4, (((paging ? SCRAMBLE.get(pg) : undefined) ?? pg) << 12) | 3, true);
    state.setGdtr(GDT, 23);
    state.setIdtr(IDT, 256 * 8 - 1);
    state.cr3 = PAGE_DIR;
    state.cr0 = paging ? 0xe0000011 : 0x60000011;
    state.setSeg('cs', { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc9b });
    for (const s of ['ds', 'es', 'ss', 'fs', 'gs'] as const) state.setSeg(s, { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc93 });
    state.cpl = 0;
    state.eip = CODE_BASE;
    core.refresh();
    return new EmuRunner(core, state, ram, paging, new CodePages(memory.buffer));
  }

  /** Physical address of a linear one (only the scrambled pages move). */
  private phys(lin: number): number {
    const f = this.paging ? SCRAMBLE.get(lin >>> 12) : undefined;
    return f === undefined ? lin : (f << 12) | (lin & 0xfff);
  }

  private writeLin(lin: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      this.code.noteWrite(this.phys(lin + i), 1);
      this.ram[this.phys(lin + i)] = bytes[i];
    }
  }

  private readLin32(lin: number): number {
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | this.ram[this.phys(lin + i)];
    return v >>> 0;
  }

  /** Copy the data area between guest memory (through the mapping) and this.data. */
  private syncData(toGuest: boolean): void {
    for (let pg = 0; pg < DATA_SIZE; pg += 4096) {
      const at = this.phys(DATA_BASE + pg);
      if (toGuest) { this.code.noteWrite(at, 4096); this.ram.set(this.dataBytes.subarray(pg, pg + 4096), at); }
      else this.dataBytes.set(this.ram.subarray(at, at + 4096), pg);
    }
  }

  run(c: DiffCase, opts: EmuRunOptions = {}): EmuRunResult {
    const { core, state } = this;
    checkCodePlacement(c);
    this.writeLin(c.codeAddr, c.code);
    this.writeLin(c.codeAddr + c.code.length, Uint8Array.of(0xf4)); // HLT: the emulator's epilogue
    fillData(this.data, c.dataSeed);
    this.pristine.set(this.data);
    this.syncData(true);
    for (let r = 0; r < 8; r++) state.setGpr(r, c.gpr[r]);
    const ss16 = (c.eflags & SS16_CASE) !== 0;
    if (ss16 !== this.ss16) { // the native runner's LDT segment: base DATA_BASE, limit 0xFFFF, B=0
      this.ss16 = ss16;
      state.setSeg('ss', ss16 ? { selector: 0x10, base: DATA_BASE, limit: 0xffff, access: 0x093 } : { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc93 });
      core.refresh();
    }
    core.setEflags(((c.eflags & ~SS16_CASE) | FIXED_FLAGS) >>> 0);
    state.eip = c.codeAddr;
    state.halted = false;
    const excBefore = state.lastException.count;

    let left = opts.maxInstructions ?? 100_000;
    let exit: number = MM.EXIT_BUDGET;
    while (left > 0 && exit === MM.EXIT_BUDGET) {
      const n = Math.min(left, opts.chunk ?? 10_000);
      exit = core.run(n);
      left -= n;
    }
    const gpr: number[] = [];
    for (let r = 0; r < 8; r++) gpr.push(state.gpr(r));
    let eflags = core.getEflags() >>> 0;
    const res: EmuRunResult = { fault: null, gpr, eflags, changes: [] };
    if (exit !== MM.EXIT_HALT && exit !== MM.EXIT_STOPPED) {
      res.error = exit === MM.EXIT_BUDGET ? 'the emulator did not reach the final HLT (instruction budget exhausted)' : `the emulator stopped with exit reason ${exit}`;
    } else if (state.lastException.count !== excBefore) {
      const exc = state.lastException;
      const frameSize = HAS_CODE.has(exc.vector) ? 16 : 12;
      const esp = gpr[4];
      if (esp < DATA_BASE || esp + frameSize > DATA_BASE + DATA_SIZE) {
        res.error = `exception ${exc.vector} with ESP ${esp.toString(16)} outside the data area`;
      } else {
        eflags = this.readLin32(esp + frameSize - 4);
        gpr[4] = (esp + frameSize) >>> 0;
        res.eflags = eflags;
        res.fault = { vector: exc.vector, eip: exc.eip };
        res.frame = [esp - DATA_BASE, esp - DATA_BASE + frameSize];
      }
      if (exc.count - excBefore > 1) res.error = `${exc.count - excBefore} exceptions were delivered (last: vector ${exc.vector})`;
    }
    this.syncData(false);
    const now = this.data, was = this.pristine;
    const bytesNow = this.dataBytes;
    const bytesWas = new Uint8Array(was.buffer, was.byteOffset, DATA_SIZE);
    for (let w = 0; w < now.length; w++) {
      if (now[w] === was[w]) continue;
      for (let b = w * 4; b < w * 4 + 4; b++) if (bytesNow[b] !== bytesWas[b]) res.changes.push((b << 8) | bytesNow[b]);
    }
    return res;
  }
}

// Emulator side of the differential tester: the wasm core in flat 32-bit protected mode
// with the same code/data addresses as the native runner. The machine is set up once;
// each case only rewrites registers, EFLAGS, code and the data area (a full reset would
// clear the 4 MiB software TLB every time). Faults go through an IDT whose handlers are
// all HLT, so the faulting instruction's state can be read back from the exception frame.
import { createMachineMemory, instantiateCore, type CoreExports, type CoreHost } from '../../engine-ts/worker/wasm-core';
import { VcpuState } from '../../engine-ts/machine/vcpu-state';
import * as MM from '../../engine-wasm/memory-map';
import { CODE_BASE, DATA_BASE, DATA_SIZE, FIXED_FLAGS, CODE_SIZE } from './layout';
import { fillData } from './prng';
import type { DiffCase } from './generator';
import type { RunResult } from './native';

const RAM_BYTES = 4 << 20;
const GDT = 0x500;
const IDT = 0x800;
const HANDLER = 0x3000;
/** Vectors that push an error code (SDM Vol. 3A table 6-1). */
const HAS_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

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
  private readonly dataWords: Uint32Array;
  private readonly pristine = new Uint32Array(DATA_SIZE / 4);

  private constructor(readonly core: CoreExports, readonly state: VcpuState, readonly ram: Uint8Array, memory: WebAssembly.Memory) {
    this.dataWords = new Uint32Array(memory.buffer, MM.RAM_BASE + DATA_BASE, DATA_SIZE / 4);
  }

  static async create(wasm: BufferSource): Promise<EmuRunner> {
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
    const core = await instantiateCore(await WebAssembly.compile(wasm), memory, host);
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
    state.setGdtr(GDT, 23);
    state.setIdtr(IDT, 256 * 8 - 1);
    state.cr0 = 0x60000011;
    state.setSeg('cs', { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc9b });
    for (const s of ['ds', 'es', 'ss', 'fs', 'gs'] as const) state.setSeg(s, { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc93 });
    state.cpl = 0;
    state.eip = CODE_BASE;
    core.refresh();
    return new EmuRunner(core, state, ram, memory);
  }

  run(c: DiffCase, opts: EmuRunOptions = {}): EmuRunResult {
    const { core, state, ram } = this;
    if (c.code.length > CODE_SIZE - 8) throw new RangeError(`case ${c.index}: code too long`);
    ram.set(c.code, CODE_BASE);
    ram[CODE_BASE + c.code.length] = 0xf4; // HLT: the emulator's epilogue
    fillData(this.dataWords, c.dataSeed);
    this.pristine.set(this.dataWords);
    for (let r = 0; r < 8; r++) state.setGpr(r, c.gpr[r]);
    core.setEflags((c.eflags | FIXED_FLAGS) >>> 0);
    state.eip = CODE_BASE;
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
        const dv = new DataView(ram.buffer, ram.byteOffset + esp, frameSize);
        eflags = dv.getUint32(frameSize - 4, true);
        gpr[4] = (esp + frameSize) >>> 0;
        res.eflags = eflags;
        res.fault = { vector: exc.vector, eip: exc.eip };
        res.frame = [esp - DATA_BASE, esp - DATA_BASE + frameSize];
      }
      if (exc.count - excBefore > 1) res.error = `${exc.count - excBefore} exceptions were delivered (last: vector ${exc.vector})`;
    }
    const now = this.dataWords, was = this.pristine;
    const bytesNow = new Uint8Array(now.buffer, now.byteOffset, DATA_SIZE);
    const bytesWas = new Uint8Array(was.buffer, was.byteOffset, DATA_SIZE);
    for (let w = 0; w < now.length; w++) {
      if (now[w] === was[w]) continue;
      for (let b = w * 4; b < w * 4 + 4; b++) if (bytesNow[b] !== bytesWas[b]) res.changes.push((b << 8) | bytesNow[b]);
    }
    return res;
  }
}

// Seeded generator of short x86 instruction sequences for differential testing. A case is
// 1-8 "groups"; a group is optional setup (MOVs that point registers at the data area,
// a CMP that defines flags a consumer would otherwise read undefined) and one instruction
// under test. The generator tracks which flags are undefined, the direction flag and the
// stack depth, so every case has one well-defined architectural result.
import { Rng } from './prng';
import {
  CODE_BASE, CODE_MAX, CODE_PAGE_EDGE, DATA_BASE, DATA_SIZE, HEAP_END, HEAP_PAGE_EDGE, INIT_ESP, ARITH, USER_FLAGS, FIXED_FLAGS, CF, AF, ZF, SF, PF, OF, DF,
} from './layout';
import {
  EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, modrmReg, modrmMem, modrmMem16, imm8, imm16, imm32, immSize, type Mem32,
} from './encoder';
import type { KnownIssueId } from './known-issues';
import { type FlagFx, NO_FLAGS, arith, conditionReads, grp2Fx, grp3Fx, shldFx, applyFx } from './flag-model';

export interface DiffCase {
  /** Batch seed and position: (seed, index) regenerates the case. */
  seed: number;
  index: number;
  /** Initial EAX..EDI; ESP is always INIT_ESP. */
  gpr: number[];
  /** Initial EFLAGS (user flags plus FIXED_FLAGS). */
  eflags: number;
  /** Seed of the data area's initial contents (fillData). */
  dataSeed: number;
  /** The sequence, without the epilogue, and where it is loaded (CODE_BASE..CODE_BASE+CODE_SIZE). */
  code: Uint8Array;
  codeAddr: number;
  /** Arithmetic flags undefined at the end of the sequence (not compared). */
  undefMask: number;
  /** Instruction boundaries, for listings. */
  insns: Array<{ offset: number; length: number; kind: string }>;
  /** The generator deliberately made an instruction fault (#DE). */
  expectFault: boolean;
}

export interface GenOptions {
  /** Also generate divide errors (DIV/IDIV/AAM that raise #DE) to compare fault behaviour. */
  faults?: boolean;
  /** Groups per case (default: 1-8 at random); 1 isolates single instructions. */
  groups?: number;
  /** Generator features to leave out (known core issues, see known-issues.ts). */
  avoid?: ReadonlySet<KnownIssueId>;
}

type Bits = 8 | 16 | 32;
type Operand = { kind: 'reg'; r: number } | { kind: 'mem'; m: Mem32 };

interface Insn { bytes: number[]; kind: string }
interface Fixup { insn: Insn; targetGroup: number; form: 'jcc' | 'jmp' | 'short-only'; cc: number; disp: 1 | 4 }
/** A 32-bit field at `pos` in `insn` that must hold the absolute address of `target` (an
 *  instruction, or the start of a group: groups.length means the end) + delta. */
interface AbsFixup { insn: Insn; pos: number; target: Insn | number; delta: number }
interface Snapshot { undef: number; df: number | null; depth: number; espKnown: boolean }

const NON_ESP = [EAX, ECX, EDX, EBX, EBP, ESI, EDI];
const SEG_PREFIXES = [0x26, 0x36, 0x3e]; // ES SS DS: all flat on both sides (FS/GS are TLS natively)
const STACK_LO = HEAP_END + 0x40;
const STACK_HI = DATA_BASE + DATA_SIZE - 0x40;

/** Seed of case `index` in batch `seed` (a 32-bit mix, so nearby seeds are unrelated). */
export function caseSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15; h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

export function generateCases(seed: number, count: number, opts: GenOptions = {}): DiffCase[] {
  if (!Number.isInteger(count) || count < 0 || count > 10_000_000) throw new RangeError(`bad case count ${count}`);
  const out: DiffCase[] = [];
  for (let i = 0; i < count; i++) out.push(generateCase(seed, i, opts));
  return out;
}

export function generateCase(seed: number, index: number, opts: GenOptions = {}): DiffCase {
  const b = new Builder(new Rng(caseSeed(seed, index)), opts);
  return b.build(seed, index);
}

class Builder {
  private groups: Insn[][] = [];
  private cur: Insn[] = [];
  private undef = 0;
  private df: number | null;
  private depth = 0;
  private espKnown = true;
  private joins = new Map<number, Snapshot[]>();
  private fixups: Fixup[] = [];
  private absFixups: AbsFixup[] = [];
  private nGroups = 0;
  private expectFault = false;
  private readonly initFlags: number;

  constructor(private readonly r: Rng, private readonly opts: GenOptions) {
    this.initFlags = ((r.u32() & USER_FLAGS) | FIXED_FLAGS) >>> 0;
    this.df = this.initFlags & DF ? 1 : 0;
  }

  build(seed: number, index: number): DiffCase {
    const r = this.r;
    const gpr = NON_ESP.map(() => r.regValue(r.pick([8, 16, 32] as const)));
    gpr.splice(ESP, 0, INIT_ESP);
    const dataSeed = r.u32();
    this.nGroups = this.opts.groups ?? r.range(1, 8);
    if (!Number.isInteger(this.nGroups) || this.nGroups < 1 || this.nGroups > 64) throw new RangeError(`bad group count ${this.nGroups}`);
    for (let g = 0; g < this.nGroups; g++) {
      this.mergeJoins(g);
      this.cur = [];
      this.genGroup(g === this.nGroups - 1);
      this.groups.push(this.cur);
      if (this.expectFault) { this.nGroups = g + 1; break; }
    }
    // Joins beyond the last group (branches to the end, or past a group cut short by a fault).
    for (const g of [...this.joins.keys()]) if (g >= this.groups.length) this.mergeJoins(g);
    const { code, insns, codeAddr } = this.layout();
    return { seed, index, gpr, eflags: this.initFlags, dataSeed, code, codeAddr, undefMask: this.undef, insns, expectFault: this.expectFault };
  }

  // ---- control flow bookkeeping ------------------------------------------------------------
  private snapshot(): Snapshot {
    return { undef: this.undef, df: this.df, depth: this.depth, espKnown: this.espKnown };
  }

  private mergeJoins(g: number): void {
    for (const s of this.joins.get(g) ?? []) {
      this.undef |= s.undef;
      if (s.df !== this.df) this.df = null;
      if (s.depth !== this.depth || !s.espKnown) this.espKnown = false;
    }
    this.joins.delete(g);
  }

  private addJoin(target: number): void {
    const list = this.joins.get(target) ?? [];
    list.push(this.snapshot());
    this.joins.set(target, list);
  }

  /** Lay the groups out and resolve forward branches (widening rel8 forms that overflow). */
  private layout(): { code: Uint8Array; insns: DiffCase['insns']; codeAddr: number } {
    for (let pass = 0; pass < 8; pass++) {
      const starts: number[] = [];
      let off = 0;
      const insnOff = new Map<Insn, number>();
      for (const g of this.groups) {
        starts.push(off);
        for (const i of g) { insnOff.set(i, off); off += i.bytes.length; }
      }
      starts.push(off);
      let changed = false;
      for (const f of this.fixups) {
        const at = insnOff.get(f.insn)!;
        const target = starts[Math.min(f.targetGroup, this.groups.length)];
        const rel = target - (at + f.insn.bytes.length);
        const b = f.insn.bytes;
        if (f.disp === 1 && (rel > 127 || f.targetGroup === -1)) {
          if (f.form === 'jcc') { f.insn.bytes = [0x0f, 0x80 | f.cc, 0, 0, 0, 0]; f.disp = 4; changed = true; continue; }
          if (f.form === 'jmp') { f.insn.bytes = [0xe9, 0, 0, 0, 0]; f.disp = 4; changed = true; continue; }
          // LOOP/JECXZ have no near form: jump to the next instruction instead (the join
          // already recorded for the farther target only makes the flag mask more cautious).
          f.targetGroup = -1;
          b[b.length - 1] = 0;
          continue;
        }
        if (f.disp === 1) b[b.length - 1] = rel & 0xff;
        else b.splice(b.length - 4, 4, ...imm32(rel));
      }
      if (!changed) {
        if (off > CODE_MAX) throw new Error(`code too long (${off} bytes)`);
        // Anywhere in the first page; a quarter of the time straddling the page boundary.
        const r = this.r;
        const codeAddr = r.chance(0.25) ? CODE_PAGE_EDGE - r.range(1, Math.min(off, 24)) : CODE_BASE + r.below(0x1000 - off + 1);
        for (const f of this.absFixups) {
          const at = typeof f.target === 'number' ? starts[Math.min(f.target, this.groups.length)] : insnOff.get(f.target)!;
          const v = (codeAddr + at + f.delta) >>> 0;
          f.insn.bytes.splice(f.pos, 4, ...imm32(v));
        }
        const bytes: number[] = [];
        const insns: DiffCase['insns'] = [];
        for (const g of this.groups) for (const i of g) {
          insns.push({ offset: bytes.length, length: i.bytes.length, kind: i.kind });
          bytes.push(...i.bytes);
        }
        return { code: Uint8Array.from(bytes), insns, codeAddr };
      }
    }
    throw new Error('branch layout did not converge');
  }

  // ---- emission --------------------------------------------------------------------------------
  private emit(bytes: number[], kind: string): Insn {
    const i = { bytes, kind };
    this.cur.push(i);
    return i;
  }

  /** Emit the instruction under test; first define any flag it reads that is undefined now. */
  private main(bytes: number[], kind: string, fx: FlagFx): Insn {
    if (fx.reads & this.undef) this.defineFlags();
    const i = this.emit(bytes, kind);
    this.undef = applyFx(this.undef, fx);
    return i;
  }

  /** CMP r32, imm32 or CMP r32, r32: defines all six arithmetic flags, writes no register. */
  private defineFlags(): void {
    const r = this.r;
    if (r.chance(0.5)) this.emit([0x81, ...modrmReg(7, r.below(8)), ...imm32(r.u32())], 'setup CMP');
    else this.emit([0x39, ...modrmReg(r.below(8), r.below(8))], 'setup CMP');
    this.undef = 0;
  }

  private movImm(reg: number, v: number): void {
    if (reg === ESP) throw new Error('generator bug: MOV to ESP');
    this.emit([0xb8 + reg, ...imm32(v)], 'setup MOV');
  }

  /** MOV [abs], imm of 1/2/4 bytes (no flags, no registers). */
  private storeImm(addr: number, bytes: 1 | 2 | 4, v: number): void {
    if (bytes === 1) this.emit([0xc6, 0x05, ...imm32(addr), ...imm8(v)], 'setup MOV');
    else if (bytes === 2) this.emit([0x66, 0xc7, 0x05, ...imm32(addr), ...imm16(v)], 'setup MOV');
    else this.emit([0xc7, 0x05, ...imm32(addr), ...imm32(v)], 'setup MOV');
  }

  private loadAbs(reg: number, addr: number): void {
    this.emit([0x8b, ...modrmMem(reg, { base: null, index: null, scale: 0, disp: addr, dispSize: 32 })], 'setup MOV');
  }

  private setDF(v: number): void {
    this.emit([v ? 0xfd : 0xfc], v ? 'STD' : 'CLD');
    this.df = v;
  }

  // ---- operands -----------------------------------------------------------------------------------
  private bitsPick(): Bits { return this.r.pick([8, 16, 32, 32] as const); }
  private avoids(id: KnownIssueId): boolean { return this.opts.avoid?.has(id) ?? false; }
  private opsz(bits: Bits): number[] { return bits === 16 ? [0x66] : []; }
  private dstReg(bits: Bits, avoid: number[] = []): number {
    const pool = (bits === 8 ? [0, 1, 2, 3, 4, 5, 6, 7] : NON_ESP).filter((x) => !avoid.includes(x));
    return this.r.pick(pool);
  }
  private anyReg(): number { return this.r.below(8); }

  /** Prefix bytes for a memory operand: maybe a flat segment override, maybe LOCK. */
  private memPrefixes(op: Operand, lockable: boolean, bits: Bits): number[] {
    const p: number[] = [];
    if (op.kind === 'mem' && this.r.chance(0.1)) p.push(this.r.pick(SEG_PREFIXES));
    if (op.kind === 'mem' && lockable && this.r.chance(0.12)) p.push(0xf0);
    if (bits === 16) p.push(0x66);
    // Prefix order is free on x86: shuffle now and then.
    if (p.length > 1 && this.r.chance(0.3)) p.reverse();
    return p;
  }

  /**
   * A memory operand of `size` bytes inside the data area (heap, or near ESP when ESP is
   * known), in one of the 32-bit addressing forms. Emits the MOVs that load its base and
   * index registers; never uses (clobbers) a register in `avoid`.
   */
  private mem(size: number, avoid: number[] = [], opts: { stack?: boolean; target?: number } = {}): Mem32 {
    const r = this.r;
    const free = NON_ESP.filter((x) => !avoid.includes(x));
    if (opts.target === undefined && opts.stack !== false && this.espKnown && r.chance(0.12)) return this.stackMem(size, free);
    let T = opts.target ?? this.heapTarget(size);
    const form = free.length < 2 ? r.pick([0, 0, 1, 2, 3]) : r.below(9);
    const disp8 = () => r.range(-128, 127);
    const disp32 = () => (r.chance(0.5) ? r.range(-5000, 5000) : r.u32() | 0);
    const scale = r.below(4) as 0 | 1 | 2 | 3;
    const indexValue = () => (r.chance(0.5) ? r.range(-300, 300) : r.chance(0.3) ? 0 : r.u32());
    switch (form) {
      case 0: // absolute
        return { base: null, index: null, scale: 0, disp: T | 0, dispSize: 32, forceSib: r.chance(0.2), noIndexScale: r.below(4) as 0 };
      case 1: case 2: case 3: { // [base], [base+disp8], [base+disp32]
        if (free.length === 0) return { base: null, index: null, scale: 0, disp: T | 0, dispSize: 32 };
        const base = r.pick(free);
        const dispSize = form === 1 ? 0 : form === 2 ? 8 : 32;
        const disp = dispSize === 0 ? 0 : dispSize === 8 ? disp8() : disp32();
        this.movImm(base, (T - disp) >>> 0);
        const sib = r.chance(0.2);
        return { base, index: null, scale: 0, disp, dispSize, forceSib: sib, noIndexScale: r.below(4) as 0 };
      }
      case 4: case 5: case 6: { // [base + index*s + disp]
        const base = r.pick(free);
        const index = r.pick(free.filter((x) => x !== base));
        const dispSize = r.pick([0, 8, 32] as const);
        const disp = dispSize === 0 ? 0 : dispSize === 8 ? disp8() : disp32();
        const iv = indexValue();
        this.movImm(index, iv);
        this.movImm(base, (T - disp - Math.imul(iv, 1 << scale)) >>> 0);
        return { base, index, scale, disp, dispSize };
      }
      case 7: { // [index*s + disp32], no base
        const index = r.pick(free);
        const iv = indexValue();
        const disp = (T - Math.imul(iv, 1 << scale)) | 0;
        this.movImm(index, iv);
        return { base: null, index, scale, disp, dispSize: 32 };
      }
      default: { // [reg + reg*s + disp]: base and index are the same register
        const reg = r.pick(free);
        const mult = 1 + (1 << scale);
        const dispSize = r.pick([0, 8, 32] as const);
        const disp = dispSize === 0 ? 0 : dispSize === 8 ? disp8() : disp32();
        // Move T down so that (T - disp) is a multiple of mult (stays inside the heap: slack below).
        T = Math.max(DATA_BASE + 16, T);
        const adj = (((T - disp) % mult) + mult) % mult;
        T -= adj;
        this.movImm(reg, ((T - disp) / mult) >>> 0);
        return { base: reg, index: reg, scale, disp, dispSize };
      }
    }
  }

  /** A heap address for `size` bytes; now and then one that straddles the page boundary. */
  private heapTarget(size: number): number {
    const r = this.r;
    if (size > 1 && r.chance(0.15)) return HEAP_PAGE_EDGE - r.range(1, size - 1);
    return r.range(DATA_BASE, HEAP_END - size);
  }

  private stackMem(size: number, free: number[]): Mem32 {
    const r = this.r;
    const esp = INIT_ESP - this.depth;
    const T = r.range(Math.max(STACK_LO, esp - 0x100), Math.min(STACK_HI - size, esp + 0x100));
    if (free.length > 0 && r.chance(0.4)) {
      const index = r.pick(free);
      const scale = r.below(4) as 0 | 1 | 2 | 3;
      const iv = r.range(-20, 20);
      const disp = T - esp - iv * (1 << scale);
      this.movImm(index, iv >>> 0);
      return { base: ESP, index, scale, disp, dispSize: disp >= -128 && disp <= 127 ? 8 : 32 };
    }
    const disp = T - esp;
    const dispSize = disp === 0 && r.chance(0.5) ? 0 : disp >= -128 && disp <= 127 ? 8 : 32;
    return { base: ESP, index: null, scale: 0, disp, dispSize };
  }

  /** A register or memory r/m operand. Destination registers exclude ESP (for 16/32 bits). */
  private rm(bits: Bits, dst: boolean, pMem = 0.4, avoid: number[] = []): Operand {
    if (this.r.chance(pMem)) return { kind: 'mem', m: this.mem(bits / 8, avoid) };
    return { kind: 'reg', r: dst ? this.dstReg(bits, avoid) : this.anyReg() };
  }

  private modrm(reg: number, op: Operand): number[] {
    return op.kind === 'reg' ? modrmReg(reg, op.r) : modrmMem(reg, op.m);
  }

  // ---- groups ------------------------------------------------------------------------------------------
  private genGroup(last: boolean): void {
    const r = this.r;
    const kinds: Array<[number, () => void]> = [
      [14, () => this.genAlu()],
      [4, () => this.genIncDec()],
      [5, () => this.genGrp3Unary()],
      [9, () => this.genShift()],
      [4, () => this.genShld()],
      [6, () => this.genBt()],
      [3, () => this.genBsf()],
      [6, () => this.genMulDiv()],
      [3, () => this.genBcd()],
      [6, () => this.genString()],
      [6, () => this.genCondition()],
      [4, () => this.genBranch(last)],
      [5, () => this.genExchange()],
      [2, () => this.genBswapExt()],
      [4, () => this.genLea()],
      [4, () => this.genMov()],
      [6, () => this.genStack(last)],
      [3, () => this.genFlags()],
      [2, () => this.genConvert()],
      [1, () => this.genLoop()],
      [1, () => this.genCallRet()],
      [2, () => this.genEnterLeave()],
      [1, () => this.genXlat()],
      [1, () => this.genFaulting()],
      [2, () => this.genSelfModifying()],
    ];
    const total = kinds.reduce((s, k) => s + k[0], 0);
    let x = r.below(total);
    for (const [w, f] of kinds) {
      if (x < w) { f(); return; }
      x -= w;
    }
  }

  /** The eight ALU operations in every form. */
  private genAlu(): void {
    const r = this.r;
    const op = r.below(8);
    const reads = op === 2 || op === 3 ? CF : 0;
    const writesDst = op !== 7;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    const form = r.below(6);
    const name = ['ADD', 'OR', 'ADC', 'SBB', 'AND', 'SUB', 'XOR', 'CMP'][op];
    if (form === 0) { // Eb,Gb / Ev,Gv
      const dst = this.rm(bits, writesDst);
      const p = this.memPrefixes(dst, writesDst, bits);
      const opc = op * 8 + w;
      this.main([...p, opc, ...this.modrm(this.anyReg(), dst)], `${name} E,G`, arith(opc, reads));
    } else if (form === 1) { // Gb,Eb / Gv,Ev
      const src = this.rm(bits, false, 0.5);
      const reg = writesDst ? this.dstReg(bits) : this.anyReg();
      const opc = op * 8 + 2 + w;
      this.main([...this.memPrefixes(src, false, bits), opc, ...this.modrm(reg, src)], `${name} G,E`, arith(opc, reads));
    } else if (form === 2) { // AL/eAX, imm
      const opc = op * 8 + 4 + w;
      this.main([...this.opsz(bits), opc, ...immSize(r.operand(bits), bits)], `${name} A,I`, arith(opc, reads));
    } else { // group 1: 80 Eb,Ib / 81 Ev,Iv / 83 Ev,Ib (sign-extended) / 82 (alias of 80)
      const dst = this.rm(bits, writesDst);
      const p = this.memPrefixes(dst, writesDst, bits);
      let opc: number;
      let imm: number[];
      if (bits === 8) { opc = r.chance(0.1) ? 0x82 : 0x80; imm = imm8(r.operand(8)); }
      else if (form === 3) { opc = 0x81; imm = immSize(r.operand(bits), bits); }
      else { opc = 0x83; imm = imm8(r.operand(8)); }
      this.main([...p, opc, ...this.modrm(op, dst), ...imm], `${name} E,I`, arith(opc, reads));
    }
  }

  private genIncDec(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const dec = r.below(2);
    const fx: FlagFx = { reads: 0, writes: ARITH & ~CF, undef: 0 };
    if (bits !== 8 && r.chance(0.4)) {
      this.main([...this.opsz(bits), (dec ? 0x48 : 0x40) + this.dstReg(bits)], dec ? 'DEC Z' : 'INC Z', fx);
      return;
    }
    const dst = this.rm(bits, true);
    this.main([...this.memPrefixes(dst, true, bits), bits === 8 ? 0xfe : 0xff, ...this.modrm(dec, dst)], dec ? 'DEC E' : 'INC E', fx);
  }

  /** TEST/NOT/NEG (group 3 and the 84/85/A8/A9 forms). */
  private genGrp3Unary(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    const which = r.below(5);
    if (which === 0) { // NOT / NEG
      const reg = r.pick([2, 3]);
      const dst = this.rm(bits, true);
      this.main([...this.memPrefixes(dst, true, bits), 0xf6 + w, ...this.modrm(reg, dst)], reg === 2 ? 'NOT' : 'NEG', grp3Fx(reg));
    } else if (which === 1 || which === 4) { // NEG again (more weight), or TEST E,I (/0, rarely the /1 alias)
      if (which === 4) {
        const dst = this.rm(bits, true);
        this.main([...this.memPrefixes(dst, true, bits), 0xf6 + w, ...this.modrm(3, dst)], 'NEG', grp3Fx(3));
        return;
      }
      const reg = r.chance(0.1) ? 1 : 0;
      const dst = this.rm(bits, false);
      this.main([...this.memPrefixes(dst, false, bits), 0xf6 + w, ...this.modrm(reg, dst), ...immSize(r.operand(bits), bits)], 'TEST E,I', grp3Fx(reg));
    } else if (which === 2) {
      const dst = this.rm(bits, false);
      this.main([...this.memPrefixes(dst, false, bits), 0x84 + w, ...this.modrm(this.anyReg(), dst)], 'TEST E,G', arith(0x84 + w));
    } else {
      this.main([...this.opsz(bits), 0xa8 + w, ...immSize(r.operand(bits), bits)], 'TEST A,I', arith(0xa8 + w));
    }
  }

  /** Shifts and rotates: all eight ops (including the SAL alias /6), by 1, CL and imm8. */
  private genShift(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    const reg = r.chance(0.05) ? 6 : r.pick([0, 1, 2, 3, 4, 5, 7]);
    const name = ['ROL', 'ROR', 'RCL', 'RCR', 'SHL', 'SHR', 'SAL', 'SAR'][reg];
    const form = r.below(3);
    const count = r.chance(0.8) ? r.below(32) : r.below(256);
    if (form === 0) { // by CL: set CL first (any byte: the CPU masks it to 5 bits)
      const dst = this.rm(bits, true, 0.4, [ECX]);
      this.emit([0xb1, count], 'setup MOV');
      this.main([...this.memPrefixes(dst, false, bits), 0xd2 + w, ...this.modrm(reg, dst)], `${name} E,CL`, grp2Fx(reg, count, bits));
    } else if (form === 1) {
      const dst = this.rm(bits, true);
      this.main([...this.memPrefixes(dst, false, bits), 0xd0 + w, ...this.modrm(reg, dst)], `${name} E,1`, grp2Fx(reg, 1, bits));
    } else {
      const dst = this.rm(bits, true);
      this.main([...this.memPrefixes(dst, false, bits), 0xc0 + w, ...this.modrm(reg, dst), count], `${name} E,I`, grp2Fx(reg, count, bits));
    }
  }

  private genShld(): void {
    const r = this.r;
    const bits = r.chance(0.7) ? 32 : 16;
    const right = r.below(2);
    const byCl = r.below(2);
    // A 16-bit count above 16 leaves the result undefined (SDM "SHLD"): keep 0..16 there.
    let count = bits === 32 ? (r.chance(0.85) ? r.below(32) : r.below(256)) : r.below(17);
    if (bits === 16 && byCl && r.chance(0.3)) count = (r.below(8) << 5) | count; // high bits are masked
    const dst = this.rm(bits, true, 0.4, byCl ? [ECX] : []);
    const src = this.anyReg();
    const opc = (right ? 0xac : 0xa4) + byCl;
    const p = this.memPrefixes(dst, false, bits);
    if (byCl) {
      this.emit([0xb1, count & 0xff], 'setup MOV');
      this.main([...p, 0x0f, opc, ...this.modrm(src, dst)], right ? 'SHRD E,G,CL' : 'SHLD E,G,CL', shldFx(count));
    } else {
      this.main([...p, 0x0f, opc, ...this.modrm(src, dst), count & 0xff], right ? 'SHRD E,G,I' : 'SHLD E,G,I', shldFx(count));
    }
  }

  /** BT/BTS/BTR/BTC with register and immediate offsets, on registers and memory. */
  private genBt(): void {
    const r = this.r;
    const bits = r.chance(0.7) ? 32 : 16;
    const op = r.below(4); // BT BTS BTR BTC
    const names = ['BT', 'BTS', 'BTR', 'BTC'];
    const writes = op !== 0;
    const fx = arith(0x1a3); // CF defined; the table leaves OF SF ZF AF PF undefined
    if (r.chance(0.4)) { // imm8 offset: 0F BA /4../7 (the offset is masked to the operand size)
      const dst = this.rm(bits, writes);
      const imm = r.chance(0.7) ? r.below(bits) : r.below(256);
      this.main([...this.memPrefixes(dst, writes, bits), 0x0f, 0xba, ...this.modrm(4 + op, dst), imm], `${names[op]} E,I`, fx);
      return;
    }
    const opc = [0xa3, 0xab, 0xb3, 0xbb][op];
    if (r.chance(0.5)) { // register destination: the offset is taken modulo the size
      const dst = this.dstReg(bits);
      this.main([...this.opsz(bits), 0x0f, opc, ...modrmReg(this.anyReg(), dst)], `${names[op]} R,G`, fx);
      return;
    }
    // Memory destination with a register offset: the operand can be far from the EA, in
    // either direction (bit offset >> 3, signed).
    const off = bits === 32 ? r.range(-0x500 * 8, 0x500 * 8) : r.range(-0x500 * 8, 0x500 * 8);
    const offReg = this.dstReg(32);
    const T = r.range(DATA_BASE + 0x600, HEAP_END - 0x600);
    const m = this.mem(bits / 8, [offReg], { target: T });
    if (bits === 16) this.movImm(offReg, ((r.u32() & 0xffff0000) | (off & 0xffff)) >>> 0); // upper half ignored
    else this.movImm(offReg, off >>> 0);
    const op2: Operand = { kind: 'mem', m };
    this.main([...this.memPrefixes(op2, writes, bits), 0x0f, opc, ...modrmMem(offReg, m)], `${names[op]} M,G`, fx);
  }

  private genBsf(): void {
    const r = this.r;
    const bits = r.chance(0.7) ? 32 : 16;
    const rev = r.below(2);
    const opc = rev ? 0xbd : 0xbc;
    const dst = this.dstReg(bits);
    const zero = r.chance(0.15);
    let src: Operand;
    if (r.chance(0.4)) {
      const m = this.mem(bits / 8, [dst]);
      src = { kind: 'mem', m };
      if (zero || r.chance(0.3)) this.storeImmAt(m, bits, zero ? 0 : (1 << r.below(bits)) >>> 0);
    } else {
      const s = this.dstReg(32, [dst]);
      src = { kind: 'reg', r: s };
      if (zero) this.movImm(s, bits === 16 ? r.u32() & 0xffff0000 : 0);
      else if (r.chance(0.3)) this.movImm(s, ((1 << r.below(32)) | (r.chance(0.5) ? 0 : (1 << r.below(32)))) >>> 0);
    }
    this.main([...this.memPrefixes(src, false, bits), 0x0f, opc, ...this.modrm(dst, src)], rev ? 'BSR' : 'BSF', arith(0x100 | opc));
  }

  /** Put a known value into a memory operand whose registers are already set up. */
  private storeImmAt(m: Mem32, bits: Bits, v: number): void {
    const body = this.modrm(0, { kind: 'mem', m });
    if (bits === 8) this.emit([0xc6, ...body, ...imm8(v)], 'setup MOV');
    else this.emit([...this.opsz(bits), 0xc7, ...body, ...immSize(v, bits)], 'setup MOV');
  }

  /** MUL/IMUL (one, two and three operands) and DIV/IDIV with operands that do not fault. */
  private genMulDiv(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    const kind = r.below(6);
    if (kind <= 1) { // MUL / IMUL one operand
      const reg = 4 + kind;
      const src = this.rm(bits, false);
      this.main([...this.memPrefixes(src, false, bits), 0xf6 + w, ...this.modrm(reg, src)], kind ? 'IMUL E' : 'MUL E', grp3Fx(reg));
      return;
    }
    if (kind === 2 && bits !== 8) { // IMUL Gv,Ev
      const src = this.rm(bits, false);
      this.main([...this.memPrefixes(src, false, bits), 0x0f, 0xaf, ...this.modrm(this.dstReg(bits), src)], 'IMUL G,E', arith(0x1af));
      return;
    }
    if (kind === 3 && bits !== 8) { // IMUL Gv,Ev,Iv / Ib
      const src = this.rm(bits, false);
      const ib = r.below(2);
      const imm = ib ? imm8(r.operand(8)) : immSize(r.operand(bits), bits);
      const opc = ib ? 0x6b : 0x69;
      this.main([...this.memPrefixes(src, false, bits), opc, ...this.modrm(this.dstReg(bits), src), ...imm], 'IMUL G,E,I', arith(opc));
      return;
    }
    this.genDiv(bits, r.below(2) === 1);
  }

  private genDiv(bits: Bits, signed: boolean): void {
    const r = this.r;
    const n = BigInt(bits);
    const w = bits === 8 ? 0 : 1;
    const fault = this.opts.faults === true && r.chance(0.06);
    // Divisor d, quotient q, remainder r with |r| < |d| and the sign of the dividend.
    let d: bigint, q: bigint, rem: bigint;
    const rnd = (k: bigint) => BigInt(r.u32()) % (1n << k);
    const small = r.chance(0.4);
    if (!signed) {
      d = small ? BigInt(r.range(1, 20)) : rnd(n);
      if (d === 0n) d = 1n;
      q = r.chance(0.3) ? (1n << n) - 1n - BigInt(r.below(3)) : rnd(n);
      if (q < 0n) q = 0n;
      rem = BigInt(r.u32()) % d;
    } else {
      const half = 1n << (n - 1n);
      d = small ? BigInt(r.range(-20, 20)) : rnd(n) - half;
      if (d === 0n) d = 1n;
      // Quotient within [-(2^(n-1) - 1), 2^(n-1) - 1]: the most negative quotient is left
      // out because CPUs have not always agreed on it.
      q = r.chance(0.2) ? (r.chance(0.5) ? half - 1n : 1n - half) : rnd(n) - half;
      if (q === -half) q = 1n - half;
      const ad = d < 0n ? -d : d;
      rem = BigInt(r.u32()) % ad;
      const prodNeg = (q < 0n) !== (d < 0n) && q !== 0n;
      if (prodNeg || (q === 0n && r.chance(0.5))) rem = -rem;
    }
    let dividend = q * d + rem;
    if (fault) {
      if (r.chance(0.5)) d = 0n;
      else dividend = signed ? (1n << (2n * n - 2n)) + 12345n : ((1n << (2n * n)) - 1n);
      this.expectFault = true;
    }
    const mask = (1n << (2n * n)) - 1n;
    const dv = dividend & mask;
    const dmask = (1n << n) - 1n;
    const dvs = Number(d & dmask);
    // Dividend: AX (8-bit), DX:AX, EDX:EAX.
    if (bits === 8) this.movImm(EAX, ((r.u32() & 0xffff0000) | Number(dv)) >>> 0);
    else if (bits === 16) {
      this.movImm(EAX, ((r.u32() & 0xffff0000) | Number(dv & 0xffffn)) >>> 0);
      this.movImm(EDX, ((r.u32() & 0xffff0000) | Number(dv >> 16n)) >>> 0);
    } else {
      this.movImm(EAX, Number(dv & 0xffffffffn));
      this.movImm(EDX, Number(dv >> 32n));
    }
    let src: Operand;
    if (this.r.chance(0.4)) {
      const m = this.mem(bits / 8, [EAX, EDX]);
      src = { kind: 'mem', m };
      this.storeImmAt(m, bits, dvs);
    } else {
      // 8-bit divisors in CL or BL (register numbers 1 and 3 name CL/BL in byte forms).
      const reg = this.r.pick([ECX, EBX, EBP, ESI, EDI].filter((x) => bits !== 8 || x < 4));
      this.movImm(reg, ((r.u32() & ~Number(dmask)) | dvs) >>> 0);
      src = { kind: 'reg', r: reg };
    }
    const reg = signed ? 7 : 6;
    this.main([...this.memPrefixes(src, false, bits), 0xf6 + w, ...this.modrm(reg, src)], signed ? 'IDIV E' : 'DIV E', fault ? NO_FLAGS : grp3Fx(reg)); // a fault leaves the flags alone
  }

  private genBcd(): void {
    const r = this.r;
    const which = r.below(6);
    // AL near the adjustment boundaries (nibble 9/A, byte 99/9A, F9/FA, wrap-around) half the time.
    const edges = [0x00, 0x06, 0x09, 0x0a, 0x0f, 0x10, 0x60, 0x66, 0x90, 0x99, 0x9a, 0x9f, 0xa0, 0xf9, 0xfa, 0xff];
    const al = r.chance(0.5) ? r.pick(edges) : r.chance(0.5) ? r.below(256) : (r.below(10) << 4) | r.below(16);
    const ax = (r.u32() & 0xffff0000) | ((r.chance(0.5) ? r.below(10) : r.below(256)) << 8) | al;
    this.movImm(EAX, ax >>> 0);
    if (r.chance(0.6)) { // CF and AF (the flags BCD adjustments read) in every combination
      const v = ((r.u32() & USER_FLAGS & ~DF) | FIXED_FLAGS | (this.df ? DF : 0)) >>> 0;
      this.emit([0x68, ...imm32(v)], 'setup PUSH');
      this.emit([0x9d], 'setup POPF');
      this.undef = 0;
      this.df = this.df ? 1 : 0;
    }
    switch (which) {
      case 0: this.main([0x27], 'DAA', arith(0x27, CF | AF)); break;
      case 1: this.main([0x2f], 'DAS', arith(0x2f, CF | AF)); break;
      case 2: this.main([0x37], 'AAA', arith(0x37, AF)); break;
      case 3: this.main([0x3f], 'AAS', arith(0x3f, AF)); break;
      case 4: { // AAM imm8 (base 10 mostly); imm 0 raises #DE
        let imm = r.chance(0.7) ? 10 : r.range(1, 255);
        if (this.opts.faults && r.chance(0.05)) { imm = 0; this.expectFault = true; }
        this.main([0xd4, imm], 'AAM', imm === 0 ? NO_FLAGS : arith(0xd4));
        break;
      }
      default: this.main([0xd5, r.chance(0.7) ? 10 : r.below(256)], 'AAD', arith(0xd5)); break;
    }
  }

  /** MOVS/STOS/LODS/CMPS/SCAS in all sizes, with and without REP/REPE/REPNE, both directions. */
  private genString(): void {
    const r = this.r;
    const op = r.pick(['MOVS', 'STOS', 'LODS', 'CMPS', 'SCAS'] as const);
    const size = r.pick([1, 2, 4] as const);
    const bits = (size * 8) as Bits;
    const cmp = op === 'CMPS' || op === 'SCAS';
    const repKind = r.below(cmp ? 3 : 2); // 0 none, 1 REP/REPE, 2 REPNE
    const count = repKind === 0 ? 1 : r.chance(0.1) ? 0 : r.range(1, 40);
    if (this.df === null || r.chance(0.3)) this.setDF(r.below(2));
    const down = this.df === 1;
    const span = Math.max(count, 1) * size;
    const start = () => {
      const lo = DATA_BASE + (down ? span - size : 0);
      const hi = HEAP_END - (down ? size : span);
      if (r.chance(0.2)) return Math.min(hi, Math.max(lo, HEAP_PAGE_EDGE - r.below(span) + (down ? span - size : 0)));
      return r.range(lo, hi);
    };
    const useSrc = op === 'MOVS' || op === 'LODS' || op === 'CMPS';
    const useDst = op !== 'LODS';
    if (useSrc) this.movImm(ESI, start());
    if (useDst) this.movImm(EDI, start());
    if (repKind !== 0) this.movImm(ECX, count);
    if (op === 'SCAS' || op === 'STOS') this.movImm(EAX, r.chance(0.5) ? r.u32() : r.below(4));
    const p: number[] = [];
    if (repKind === 1) p.push(0xf3);
    if (repKind === 2) p.push(0xf2);
    if (useSrc && r.chance(0.15)) p.push(r.pick(SEG_PREFIXES)); // source segment override
    if (bits === 16) p.push(0x66);
    if (p.length > 1 && r.chance(0.3)) p.reverse();
    const base = { MOVS: 0xa4, CMPS: 0xa6, STOS: 0xaa, LODS: 0xac, SCAS: 0xae }[op];
    const opc = base + (size === 1 ? 0 : 1);
    const fx = cmp && count > 0 ? arith(opc) : NO_FLAGS;
    this.main([...p, opc], `${['', 'REP ', 'REPNE '][repKind]}${op}`, fx);
  }

  /** SETcc and CMOVcc. */
  private genCondition(): void {
    const r = this.r;
    const cc = r.below(16);
    if (r.chance(0.5)) {
      const dst = this.rm(8, true);
      this.main([...this.memPrefixes(dst, false, 8), 0x0f, 0x90 | cc, ...this.modrm(r.chance(0.1) ? r.below(8) : 0, dst)], 'SETcc', { reads: conditionReads(cc), writes: 0, undef: 0 });
    } else {
      const bits = r.chance(0.7) ? 32 : 16;
      const src = this.rm(bits, false);
      this.main([...this.memPrefixes(src, false, bits), 0x0f, 0x40 | cc, ...this.modrm(this.dstReg(bits), src)], 'CMOVcc', { reads: conditionReads(cc), writes: 0, undef: 0 });
    }
  }

  /** Forward branches that skip 0-2 of the following groups: Jcc, JMP, JECXZ, LOOP. */
  private genBranch(last: boolean): void {
    const r = this.r;
    const g = this.groups.length;
    const maxSkip = last ? 0 : Math.min(2, this.nGroups - g - 1);
    const target = g + 1 + r.below(maxSkip + 1);
    const which = r.below(13);
    let insn: Insn;
    if (which >= 10) { this.genIndirectJump(target); return; }
    if (which < 7) {
      const cc = r.below(16);
      const bytes = r.chance(0.7) ? [0x70 | cc, 0] : [0x0f, 0x80 | cc, 0, 0, 0, 0];
      insn = this.main(bytes, 'Jcc', { reads: conditionReads(cc), writes: 0, undef: 0 });
      this.fixups.push({ insn, targetGroup: target, form: 'jcc', cc, disp: bytes.length === 2 ? 1 : 4 });
    } else if (which === 7) {
      const short = r.chance(0.5);
      insn = this.main(short ? [0xeb, 0] : [0xe9, 0, 0, 0, 0], 'JMP', NO_FLAGS);
      this.fixups.push({ insn, targetGroup: target, form: 'jmp', cc: 0, disp: short ? 1 : 4 });
    } else {
      // With 0x67 the count register is CX (LOOP decrements only CX, JCXZ tests CX).
      if (r.chance(0.5)) this.movImm(ECX, r.pick([0, 1, 0x10000, 0x10001, r.u32()]));
      // LOOP, or LOOPE/LOOPNE (which also read ZF), or JECXZ.
      const op = which === 8 ? 0xe3 : r.pick([0xe2, 0xe2, 0xe1, 0xe0]);
      const a16 = r.chance(0.3);
      const name = { 0xe3: 'JECXZ', 0xe2: 'LOOP', 0xe1: 'LOOPE', 0xe0: 'LOOPNE' }[op];
      insn = this.main(a16 ? [0x67, op, 0] : [op, 0], `${name}${a16 ? ' (a16)' : ''}`, op <= 0xe1 ? { reads: ZF, writes: 0, undef: 0 } : NO_FLAGS);
      this.fixups.push({ insn, targetGroup: target, form: 'short-only', cc: 0, disp: 1 });
    }
    // The branch's own group ends here; record the state for its target.
    this.addJoin(target);
    // Skipped groups start from the fall-through state (this one), which is the current state.
  }

  /** XCHG, XADD, CMPXCHG (both outcomes), CMPXCHG8B. */
  private genExchange(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    const which = r.below(5);
    if (which === 0) { // XCHG E,G (memory forms are implicitly locked) or XCHG eAX,r
      if (bits !== 8 && r.chance(0.3)) {
        this.main([...this.opsz(bits), 0x90 + this.dstReg(bits, [EAX])], 'XCHG A,Z', NO_FLAGS);
        return;
      }
      const dst = this.rm(bits, true, 0.5);
      this.main([...this.memPrefixes(dst, true, bits), 0x86 + w, ...this.modrm(this.dstReg(bits), dst)], 'XCHG E,G', NO_FLAGS);
    } else if (which === 1) {
      const dst = this.rm(bits, true, 0.5);
      this.main([...this.memPrefixes(dst, true, bits), 0x0f, 0xc0 + w, ...this.modrm(this.dstReg(bits), dst)], 'XADD', arith(0x1c0 + w));
    } else if (which === 2 && r.chance(0.15)) { // CMPXCHG with the accumulator as destination: always equal
      this.main([...this.opsz(bits), 0x0f, 0xb0 + w, ...modrmReg(this.dstReg(bits), EAX)], 'CMPXCHG A', arith(0x1b0 + w));
    } else if (which <= 3) { // CMPXCHG: half the time make the accumulator equal to the destination
      const dst = this.rm(bits, true, 0.5, [EAX]);
      const src = this.dstReg(bits);
      if (r.chance(0.5)) {
        if (dst.kind === 'mem') this.emit([...this.opsz(bits), bits === 8 ? 0x8a : 0x8b, ...this.modrm(EAX, dst)], 'setup MOV');
        else this.emit([...this.opsz(bits), bits === 8 ? 0x8a : 0x8b, ...modrmReg(EAX, dst.r)], 'setup MOV');
      }
      this.main([...this.memPrefixes(dst, true, bits), 0x0f, 0xb0 + w, ...this.modrm(src, dst)], 'CMPXCHG', arith(0x1b0 + w));
    } else { // CMPXCHG8B m64: only ZF changes
      const m = this.mem(8, [EAX, EDX, EBX, ECX]);
      const op: Operand = { kind: 'mem', m };
      if (r.chance(0.5)) {
        this.emit([0x8b, ...modrmMem(EAX, m)], 'setup MOV');
        const m4 = { ...m, disp: m.disp + 4, dispSize: m.dispSize === 8 && m.disp + 4 > 127 ? 32 : m.dispSize === 0 ? 8 : m.dispSize } as Mem32;
        this.emit([0x8b, ...modrmMem(EDX, m4)], 'setup MOV');
      }
      const p = this.memPrefixes(op, true, 32);
      this.main([...p, 0x0f, 0xc7, ...modrmMem(1, m)], 'CMPXCHG8B', { reads: 0, writes: ZF, undef: 0 });
    }
  }

  /** BSWAP, MOVZX, MOVSX. */
  private genBswapExt(): void {
    const r = this.r;
    if (r.chance(0.3)) { this.main([0x0f, 0xc8 + this.dstReg(32)], 'BSWAP', NO_FLAGS); return; }
    const bits = r.chance(0.7) ? 32 : 16;
    const fromWord = r.below(2);
    const signed = r.below(2);
    const src = this.rm(fromWord ? 16 : 8, false);
    const opc = (signed ? 0xbe : 0xb6) + fromWord;
    this.main([...this.memPrefixes(src, false, bits), 0x0f, opc, ...this.modrm(this.dstReg(bits), src)], signed ? 'MOVSX' : 'MOVZX', NO_FLAGS);
  }

  /** LEA with every 32-bit addressing form on random register values, and 16-bit forms (0x67). */
  private genLea(): void {
    const r = this.r;
    const bits = r.chance(0.75) ? 32 : 16;
    const dst = this.dstReg(bits);
    if (r.chance(0.25)) {
      const mod = r.below(3) as 0 | 1 | 2;
      const m = { mod, rm: r.below(8), disp: r.u32() };
      this.main([...this.opsz(bits), 0x67, 0x8d, ...modrmMem16(dst, m)], 'LEA (a16)', NO_FLAGS);
      return;
    }
    const base = r.chance(0.15) ? null : r.below(8);
    const index = r.chance(0.3) ? null : r.pick(NON_ESP);
    const dispSize = r.pick([0, 8, 32] as const);
    const disp = dispSize === 8 ? r.range(-128, 127) : dispSize === 32 ? r.u32() | 0 : 0;
    const m: Mem32 = { base, index, scale: r.below(4) as 0, disp: base === null ? r.u32() | 0 : disp, dispSize: base === null ? 32 : dispSize, forceSib: r.chance(0.2), noIndexScale: r.below(4) as 0 };
    if (r.chance(0.15)) { this.main([...this.opsz(bits), 0x0f, 0x1f, ...modrmMem(0, m)], 'NOP Ev', NO_FLAGS); return; }
    this.main([...this.opsz(bits), 0x8d, ...modrmMem(dst, m)], 'LEA', NO_FLAGS);
  }

  private genMov(): void {
    const r = this.r;
    const bits = this.bitsPick();
    const w = bits === 8 ? 0 : 1;
    switch (r.below(5)) {
      case 0: { const d = this.rm(bits, true, 0.6); this.main([...this.memPrefixes(d, false, bits), 0x88 + w, ...this.modrm(this.anyReg(), d)], 'MOV E,G', NO_FLAGS); break; }
      case 1: { const s = this.rm(bits, false, 0.6); this.main([...this.memPrefixes(s, false, bits), 0x8a + w, ...this.modrm(this.dstReg(bits), s)], 'MOV G,E', NO_FLAGS); break; }
      case 2: { const d = this.rm(bits, true, 0.6); this.main([...this.memPrefixes(d, false, bits), 0xc6 + w, ...this.modrm(0, d), ...immSize(r.operand(bits), bits)], 'MOV E,I', NO_FLAGS); break; }
      case 3: this.main([...this.opsz(bits), (bits === 8 ? 0xb0 : 0xb8) + this.dstReg(bits), ...immSize(r.operand(bits), bits)], 'MOV Z,I', NO_FLAGS); break;
      default: { // moffs forms A0-A3
        const addr = r.range(DATA_BASE, HEAP_END - 4);
        this.main([...this.opsz(bits), 0xa0 + r.below(2) * 2 + w, ...imm32(addr)], 'MOV A,O', NO_FLAGS);
      }
    }
  }

  /** PUSH/POP of registers, immediates and memory; PUSHA/POPA; PUSHF/POPF; LAHF/SAHF. */
  private genStack(last: boolean): void {
    const r = this.r;
    const bits: 16 | 32 = r.chance(0.8) ? 32 : 16;
    const n = bits / 8;
    const p = this.opsz(bits);
    switch (r.below(12)) {
      case 0: this.main([...p, 0x50 + r.below(8)], 'PUSH Z', NO_FLAGS); this.depth += n; break;
      case 1: {
        // POP ESP loads ESP from the stack: only as the very last instruction.
        const reg = last && bits === 32 && r.chance(0.2) ? ESP : this.dstReg(bits);
        this.main([...p, 0x58 + reg], 'POP Z', NO_FLAGS);
        this.depth -= n;
        if (reg === ESP) this.espKnown = false;
        break;
      }
      case 2: {
        const ib = r.below(2);
        this.main([...p, ib ? 0x6a : 0x68, ...(ib ? imm8(r.operand(8)) : immSize(r.operand(bits), bits))], 'PUSH I', NO_FLAGS);
        this.depth += n;
        break;
      }
      case 3: { const m = this.mem(n); const op: Operand = { kind: 'mem', m }; this.main([...this.memPrefixes(op, false, bits), 0xff, ...modrmMem(6, m)], 'PUSH E', NO_FLAGS); this.depth += n; break; }
      case 4: { // POP to memory (an ESP base is evaluated after the pop)
        const m = this.mem(n, [], { stack: !this.avoids('pop-ev-esp-base') });
        const op: Operand = { kind: 'mem', m };
        this.main([...this.memPrefixes(op, false, bits), 0x8f, ...modrmMem(0, m)], 'POP E', NO_FLAGS);
        this.depth -= n;
        break;
      }
      case 5: this.main([...p, 0x60], 'PUSHA', NO_FLAGS); this.depth += 8 * n; break;
      case 6: this.main([...p, 0x61], 'POPA', NO_FLAGS); this.depth -= 8 * n; break;
      case 7: this.main([...p, 0x9c], 'PUSHF', { reads: ARITH, writes: 0, undef: 0 }); this.depth += n; break;
      case 8: { // POPF of a known image: user flags only, IF kept set (user mode cannot clear it)
        const v = ((r.u32() & USER_FLAGS) | FIXED_FLAGS) >>> 0;
        this.emit([...p, 0x68, ...immSize(v, bits)], 'setup PUSH');
        this.main([...p, 0x9d], 'POPF', { reads: 0, writes: ARITH, undef: 0 });
        this.df = v & DF ? 1 : 0;
        break;
      }
      case 9: this.main([0x9f], 'LAHF', { reads: SF | ZF | AF | PF | CF, writes: 0, undef: 0 }); break;
      case 10: this.main([0x9e], 'SAHF', { reads: 0, writes: SF | ZF | AF | PF | CF, undef: 0 }); break;
      default: { // a PUSH/POP pair through memory on the stack
        this.main([...p, 0x50 + r.below(8)], 'PUSH Z', NO_FLAGS);
        this.depth += n;
        const m = this.mem(n, [], { stack: !this.avoids('pop-ev-esp-base') });
        this.main([...this.memPrefixes({ kind: 'mem', m }, false, bits), 0x8f, ...modrmMem(0, m)], 'POP E', NO_FLAGS);
        this.depth -= n;
      }
    }
  }

  private genFlags(): void {
    const r = this.r;
    switch (r.below(6)) {
      case 0: this.main([0xf8], 'CLC', { reads: 0, writes: CF, undef: 0 }); break;
      case 1: this.main([0xf9], 'STC', { reads: 0, writes: CF, undef: 0 }); break;
      case 2: this.main([0xf5], 'CMC', { reads: CF, writes: CF, undef: 0 }); break;
      case 3: this.setDF(0); break;
      case 4: this.setDF(1); break;
      default: this.main([0xd6], 'SALC', { reads: CF, writes: 0, undef: 0 });
    }
  }

  private genConvert(): void {
    const r = this.r;
    const p = r.chance(0.5) ? [0x66] : [];
    const cwd = r.below(2);
    if (r.chance(0.5)) this.movImm(EAX, r.regValue(r.pick([8, 16, 32] as const)));
    this.main([...p, 0x98 + cwd], cwd ? 'CWD/CDQ' : 'CBW/CWDE', NO_FLAGS);
  }

  /** A small backward loop: mov ecx,n; L: <ALU reg,reg>; loop L. */
  private genLoop(): void {
    const r = this.r;
    this.movImm(ECX, r.range(1, 6));
    const op = r.pick([0, 1, 4, 5, 6]); // ADD OR AND SUB XOR: no flag reads
    const dst = this.dstReg(32, [ECX]);
    this.main([op * 8 + 1, ...modrmReg(this.anyReg(), dst)], 'loop body', arith(op * 8 + 1));
    this.main([0xe2, 0xfc], 'LOOP back', NO_FLAGS);
  }

  /** CALL to a subroutine right behind a JMP over it: call L; jmp M; L: <insn>; ret [imm]; M: */
  private genCallRet(): void {
    const r = this.r;
    const body: number[] = [];
    const dst = this.dstReg(32);
    const op = r.pick([0, 5, 6]);
    body.push(op * 8 + 1, ...modrmReg(this.anyReg(), dst));
    const retImm = r.chance(0.3);
    // "rep ret" (F3 C3) is what compilers emit for AMD branch predictors: the prefix is ignored.
    const ret = retImm ? [0xc2, 4, 0] : r.chance(0.2) ? [0xf3, 0xc3] : [0xc3];
    if (retImm) { this.emit([0x68, ...imm32(r.u32())], 'setup PUSH'); } // RET 4 drops it again
    const bodyInsn: Insn = { bytes: body, kind: 'ALU in subroutine' };
    const how = r.below(3);
    if (how === 0) {
      this.main([0xe8, 2, 0, 0, 0], 'CALL', NO_FLAGS);
    } else if (how === 1) { // CALL r32 (the register must survive the body: avoid the body's destination)
      const reg = this.dstReg(32, [dst]);
      const mov = this.emit([0xb8 + reg, 0, 0, 0, 0], 'setup MOV');
      this.absFixups.push({ insn: mov, pos: 1, target: bodyInsn, delta: 0 });
      this.main([0xff, ...modrmReg(2, reg)], 'CALL E (reg)', NO_FLAGS);
    } else { // CALL [mem]
      const m = this.mem(4, [dst], { stack: false });
      const st = this.emit([0xc7, ...modrmMem(0, m), 0, 0, 0, 0], 'setup MOV');
      this.absFixups.push({ insn: st, pos: st.bytes.length - 4, target: bodyInsn, delta: 0 });
      this.main([0xff, ...modrmMem(2, m)], 'CALL E (mem)', NO_FLAGS);
    }
    this.main([0xeb, body.length + ret.length], 'JMP', NO_FLAGS);
    this.cur.push(bodyInsn);
    this.undef = applyFx(this.undef, arith(op * 8 + 1));
    this.main(ret, retImm ? 'RET I' : 'RET', NO_FLAGS);
  }

  /** ENTER (nesting levels 0-4 and 31) and LEAVE, 32- and 16-bit, with EBP inside the stack. */
  private genEnterLeave(): void {
    const r = this.r;
    if (!this.espKnown) { this.genMov(); return; }
    const bits: 16 | 32 = r.chance(0.75) ? 32 : 16;
    const n = bits / 8;
    const p = this.opsz(bits);
    const esp = INIT_ESP - this.depth;
    if (r.chance(0.3)) { // LEAVE alone: ESP := EBP, then pop (E)BP
      const ebp = esp + r.range(-0x40, 0x40);
      this.movImm(EBP, ebp);
      this.main([...p, 0xc9], 'LEAVE', NO_FLAGS);
      this.depth = INIT_ESP - (ebp + n);
      return;
    }
    const size = r.chance(0.3) ? 0 : r.below(64);
    const level = r.chance(0.5) ? 0 : r.chance(0.9) ? r.range(1, 4) : 31;
    // Nested levels copy frame pointers from [EBP - n*i], and a 16-bit ENTER sets only BP
    // (LEAVE then uses all of EBP): point EBP into the stack.
    if (level > 0 || bits === 16 || r.chance(0.5)) this.movImm(EBP, esp + r.range(-0x20, 0x80));
    this.main([...p, 0xc8, ...imm16(size), level], 'ENTER', NO_FLAGS);
    this.depth += n * (level === 0 ? 1 : level + 1) + size;
    if (r.chance(0.5)) {
      this.main([...p, 0xc9], 'LEAVE', NO_FLAGS);
      this.depth -= n * (level === 0 ? 1 : level + 1) + size;
    }
  }

  /** XLAT: AL := [EBX + zero-extended AL] (maybe with a segment override). */
  private genXlat(): void {
    const r = this.r;
    this.movImm(EBX, r.range(DATA_BASE, HEAP_END - 256));
    const p = r.chance(0.2) ? [r.pick(SEG_PREFIXES)] : [];
    this.main([...p, 0xd7], 'XLAT', NO_FLAGS);
  }

  /**
   * Instruction-level faults and limits: UD2, LOCK where it is not allowed (#UD), BOUND
   * (#BR when out of range), and the 15-byte instruction length limit (#GP beyond it).
   * Without opts.faults only the non-faulting variants are generated.
   */
  private genFaulting(): void {
    const r = this.r;
    const faults = this.opts.faults === true;
    const which = r.below(5);
    if (which === 0 && faults) {
      this.expectFault = true;
      this.main([0x0f, 0x0b], 'UD2', NO_FLAGS);
    } else if (which === 1 && faults) {
      this.expectFault = true;
      if (r.chance(0.5)) { // lockable ALU op with a register destination
        this.main([0xf0, r.below(7) * 8 + 1, ...modrmReg(this.anyReg(), this.dstReg(32))], 'LOCK on reg (#UD)', NO_FLAGS);
      } else { // MOV to memory is never lockable
        const m = this.mem(4);
        this.main([0xf0, 0x89, ...modrmMem(this.anyReg(), m)], 'LOCK MOV (#UD)', NO_FLAGS);
      }
    } else if (which === 2) {
      this.genBound(faults && r.chance(0.4));
    } else if (which === 3) {
      // Redundant segment prefixes up to the 15-byte limit (16 bytes: #GP(0)).
      const tooLong = faults && !this.avoids('insn-over-15-bytes') && r.chance(0.4);
      const body = [0x05, ...imm32(r.u32())]; // add eax, imm32
      const n = tooLong ? 16 - body.length : r.range(1, 15 - body.length);
      const pfx = Array.from({ length: n }, () => r.pick([0x26, 0x2e, 0x36, 0x3e]));
      if (tooLong) this.expectFault = true;
      this.main([...pfx, ...body], tooLong ? 'ADD (16 bytes, #GP)' : 'ADD (prefixed)', tooLong ? NO_FLAGS : arith(0x05));
    } else {
      this.main([0xf3, 0x90], 'PAUSE', NO_FLAGS);
    }
  }

  /** BOUND r, m: signed bounds stored first; the register inside them, or (fault) outside. */
  private genBound(fault: boolean): void {
    const r = this.r;
    const bits = r.chance(0.7) ? 32 : 16;
    const n = bits / 8;
    const reg = this.dstReg(bits);
    const m = this.mem(2 * n, [reg], { stack: false });
    const sx = (v: number) => (bits === 16 ? (v << 16) >> 16 : v | 0);
    let lo = sx(r.operand(bits)), hi = sx(r.operand(bits));
    if (lo > hi) [lo, hi] = [hi, lo];
    const mAt = (d: number): Mem32 => ({ ...m, disp: m.disp + d, dispSize: m.dispSize === 0 && d !== 0 ? 32 : m.dispSize === 8 && (m.disp + d > 127) ? 32 : m.dispSize });
    const store = (mm: Mem32, v: number) => this.emit([...this.opsz(bits), 0xc7, ...modrmMem(0, mm), ...immSize(v, bits)], 'setup MOV');
    store(m, lo);
    store(mAt(n), hi);
    let v: number;
    if (fault && (lo > (bits === 16 ? -0x8000 : -0x80000000) || hi < (bits === 16 ? 0x7fff : 0x7fffffff))) {
      v = lo > (bits === 16 ? -0x8000 : -0x80000000) ? lo - 1 : hi + 1;
      this.expectFault = true;
    } else {
      v = lo + Math.floor((hi - lo) * (r.u32() / 0x100000000));
    }
    this.movImm(reg, v >>> 0);
    this.main([...this.opsz(bits), 0x62, ...modrmMem(reg, m)], this.expectFault ? 'BOUND (#BR)' : 'BOUND', NO_FLAGS);
  }

  /**
   * Self-modifying code: a store patches the very next instruction (its imm32, or the
   * opcode byte of an ALU eAX,imm32), which must then execute in its new form.
   */
  private genSelfModifying(): void {
    const r = this.r;
    if (r.chance(0.5)) {
      const reg = this.dstReg(32);
      const target: Insn = { bytes: [0xb8 + reg, ...imm32(r.u32())], kind: 'MOV Z,I (patched imm)' };
      const store = this.emit([0xc7, 0x05, 0, 0, 0, 0, ...imm32(r.u32())], 'SMC store');
      this.absFixups.push({ insn: store, pos: 2, target, delta: 1 });
      this.cur.push(target);
      return;
    }
    // ADD OR AND SUB XOR CMP eAX,imm32 (no flag inputs): patch one into another.
    const ops = [0x05, 0x0d, 0x25, 0x2d, 0x35, 0x3d];
    const before = r.pick(ops), after = r.pick(ops);
    const target: Insn = { bytes: [before, ...imm32(r.operand(32))], kind: 'ALU A,I (patched opcode)' };
    const store = this.emit([0xc6, 0x05, 0, 0, 0, 0, after], 'SMC store');
    this.absFixups.push({ insn: store, pos: 2, target, delta: 0 });
    this.cur.push(target);
    this.undef = applyFx(this.undef, arith(after));
  }

  /** JMP r32 / JMP [mem] to the start of a later group (an absolute address). */
  private genIndirectJump(target: number): void {
    const r = this.r;
    if (r.chance(0.5)) {
      const reg = this.dstReg(32);
      const mov = this.emit([0xb8 + reg, 0, 0, 0, 0], 'setup MOV');
      this.absFixups.push({ insn: mov, pos: 1, target, delta: 0 });
      this.main([0xff, ...modrmReg(4, reg)], 'JMP E (reg)', NO_FLAGS);
    } else {
      const m = this.mem(4);
      const st = this.emit([0xc7, ...modrmMem(0, m), 0, 0, 0, 0], 'setup MOV');
      this.absFixups.push({ insn: st, pos: st.bytes.length - 4, target, delta: 0 });
      this.main([0xff, ...modrmMem(4, m)], 'JMP E (mem)', NO_FLAGS);
    }
    this.addJoin(target);
  }
}

export { CF, AF, ZF, SF, PF, OF };

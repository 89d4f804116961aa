// x86 → WebAssembly: translate the hot flat 32-bit code of one page (the basic blocks of the
// page reachable from the blocks found hot so far) into a function (limit: i32, start: i32,
// base: i32) → i64 that works directly on the machine's shared memory: registers in locals while it
// runs (the vCPU block at its exit), guest RAM through the vCPU's software TLB. See
// engine-wasm/assembly/jit.ts for how the core finds and calls it, jit-host.ts for how a
// page's function grows.
//
// The contract, instruction by instruction, is the interpreter's: same registers, same
// memory, same lazy-flag record (engine-wasm/assembly/state.ts), same retired count. The
// function never raises a fault: before an instruction whose memory access the TLB fast path
// cannot do (not mapped, MMIO, a page with translated code, crossing a page) it returns with
// that instruction's EIP and the count of instructions before it, having committed nothing
// of it; the interpreter then runs it. A block ends before an instruction it does not
// translate, at a control transfer, or at the end of its page (an instruction whose last few
// bytes lie on the next page is its last; the code checks before it that a fetch there still
// reads those bytes, see tailCheck: the page's own bytes are kept fresh by its JIT_PAGE_GEN
// word, the next page's are not); a jump to a later block of the function is a branch to it,
// a jump back goes through its dispatch loop (a computed one, RET or JMP/CALL through a
// register, through a search of its blocks' EIPs), anything else leaves by its one exit,
// which goes on to another page's function when the core's cache holds one for the target (a
// tail call; see chain()).

import * as MM from '../../../engine-wasm/memory-map';
import { AtomicOp, Code, Op } from './wasm-writer';

/** Helpers (function indices in the page's module, see wasm-writer blockModule). */
const FN_COND = 0; // the core's jitCond(cc) → 0/1 from the lazy flags in memory (imported)
const FN_CF = 2; // CF from the lazy flags in memory (cfHelper, in the module)

/**
 * Instructions in a basic block at most (a longer run goes on in the next block). Short: where
 * a chunk's budget runs out inside a block, the interpreter runs the rest of the block.
 */
const MAX_INSNS = 16;
const LF_ADD = 0, LF_SUB = 1, LF_LOGIC = 2;
const FLAGS_ARITH = 0x8d5, FLAG_CF = 0x1, FLAG_OF = 0x800, FLAG_AF = 0x10;
const FLAGS_SZP = 0xc4;
const FLAG_IF = 0x200, FLAG_DF = 0x400;
const { TLB_VALID, TLB_USER_R, TLB_SUP_W, TLB_USER_W, TLB_RAM, TLB_NX, TLB_USER_X } = MM;
const ESP = 4, EBP = 5;
const SS = 2, DS = 3;
/** Segment override prefixes, by segment number (ES CS SS DS FS GS). */
const SEG_PREFIXES = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

/** A decoded memory or register operand (ModRM). */
interface ModRM {
  reg: number;
  /** Register operand (mod = 3): its number; else -1. */
  rmReg: number;
  base: number; // -1: none
  index: number; // -1: none
  scale: number;
  disp: number;
}

interface Insn {
  eip: number;
  len: number;
  /** Opcode: 0x00-0xFF, 0x100 | second byte for the 0F map. */
  op: number;
  m: ModRM | null;
  imm: number;
  /** Segment override prefix (ES CS SS DS FS GS: 0-5), or -1: the operand's default segment. */
  seg: number;
  /** Operand-size prefix: the 16-bit form (MOV and TEST only). */
  o16: boolean;
  /** REP prefix (MOVS, STOS). */
  rep: boolean;
  /**
   * CALL rel32 to a "get PC" thunk (MOV r32, [ESP]; RET: how 32-bit position-independent
   * code finds itself): the register it loads. The call, the MOV and the RET run inline
   * (while the thunk's bytes are still there) instead of leaving the function twice.
   */
  thunk?: number;
  /**
   * An instruction whose last bytes lie on the next page (at most TAIL_MAX): their count and
   * value (little-endian). The code checks before the instruction that a fetch there would
   * still read them, and leaves the instruction to the interpreter if not.
   */
  tail?: { len: number; word: number };
}

/** The last flag-setting instruction of the block so far, whose record is in locals (not yet in memory). */
interface PendingFlags {
  op: number; // LF_*
  msb: number; // 7 or 31
  mask: number;
  /** ADC/SBB: conditions are not derived inline from the operands. */
  carryIn: boolean;
}

export interface TranslateResult {
  /** The function body (see wasm-writer blockModule). */
  body: Uint8Array;
  /** The EIPs of the function's blocks: the function's second parameter is an index into it. */
  blocks: number[];
  /** Instructions translated. */
  instructions: number;
}

/** Reads guest code; returns -1 past the page. */
type CodeReader = (off: number) => number;
/** Reads the byte at a linear address as an instruction fetch would now (through the TLB), or -1 if a fetch there would not read RAM. */
export type LinearReader = (linear: number) => number;

const s8 = (v: number) => (v << 24) >> 24;

function decodeModrm(rd: CodeReader, at: number): { m: ModRM; len: number } | null {
  const b = rd(at);
  if (b < 0) return null;
  const mod = b >> 6, reg = (b >> 3) & 7, rm = b & 7;
  const m: ModRM = { reg, rmReg: -1, base: -1, index: -1, scale: 0, disp: 0 };
  if (mod === 3) { m.rmReg = rm; return { m, len: 1 }; }
  let len = 1;
  if (rm === 4) {
    const sib = rd(at + 1);
    if (sib < 0) return null;
    len = 2;
    const base = sib & 7, index = (sib >> 3) & 7;
    m.scale = sib >> 6;
    if (index !== 4) m.index = index;
    if (base === 5 && mod === 0) {
      m.disp = read32(rd, at + 2); len += 4;
      if (Number.isNaN(m.disp)) return null;
    } else {
      m.base = base;
    }
  } else if (rm === 5 && mod === 0) {
    m.disp = read32(rd, at + 1); len += 4;
    if (Number.isNaN(m.disp)) return null;
    return { m, len };
  } else {
    m.base = rm;
  }
  if (mod === 1) {
    const d = rd(at + len);
    if (d < 0) return null;
    m.disp = s8(d); len += 1;
  } else if (mod === 2) {
    m.disp = read32(rd, at + len); len += 4;
    if (Number.isNaN(m.disp)) return null;
  }
  return { m, len };
}

function read32(rd: CodeReader, at: number): number {
  const a = rd(at), b = rd(at + 1), c = rd(at + 2), d = rd(at + 3);
  if (d < 0 || c < 0 || b < 0 || a < 0) return NaN;
  return (a | (b << 8) | (c << 16) | (d << 24)) | 0;
}

/** Decode one instruction this translator handles at `at` (offset in the page), or null. */
function decode(rd: CodeReader, at: number, eip: number): Insn | null {
  let op = rd(at);
  if (op < 0) return null;
  let p = at + 1;
  // Prefixes, each at most once: a segment override (it applies to the instruction's memory
  // operand, if any), operand size (16-bit forms of a few instructions) and LOCK (CMPXCHG, XCHG).
  let seg = -1, o16 = false, lock = false, rep = false;
  for (;;) {
    const pfx = SEG_PREFIXES.indexOf(op);
    if (pfx >= 0 && seg < 0) seg = pfx;
    else if (op === 0x66 && !o16) o16 = true;
    else if (op === 0xf0 && !lock) lock = true;
    else if (op === 0xf3 && !rep) rep = true;
    else break;
    op = rd(p++);
    if (op < 0) return null;
  }
  if (op === 0x0f) {
    const b = rd(p);
    if (b < 0) return null;
    op = 0x100 | b;
    p++;
  }
  if (o16 && op !== 0x89 && op !== 0x8b && op !== 0x85 && op !== 0x90) return null;
  // MOVS and STOS (bytes, dwords), REP or not; MOVS reads DS (or a DS override) only.
  const str = op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab;
  if (rep && !str) return null;
  if (str) return (op === 0xa4 || op === 0xa5) && seg >= 0 && seg !== DS ? null : { eip, len: p - at, op, m: null, imm: 0, seg, o16, rep };
  if (lock) {
    // LOCK on a register operand is #UD: the interpreter's.
    const m = rd(p);
    if ((op !== 0x1b1 && op !== 0x87) || m < 0 || m >= 0xc0) return null;
  }
  const withModrm = (immLen: number): Insn | null => {
    const d = decodeModrm(rd, p);
    if (!d) return null;
    let imm = 0;
    const q = p + d.len;
    if (immLen === 1) { imm = rd(q); if (imm < 0) return null; }
    else if (immLen === 4) { imm = read32(rd, q); if (Number.isNaN(imm)) return null; }
    return { eip, len: q + immLen - at, op, m: d.m, imm, seg, o16, rep };
  };
  const plain = (immLen: number): Insn | null => {
    let imm = 0;
    if (immLen === 1) { imm = rd(p); if (imm < 0) return null; }
    else if (immLen === 2) { const a = rd(p), b = rd(p + 1); if (b < 0 || a < 0) return null; imm = a | (b << 8); }
    else if (immLen === 4) { imm = read32(rd, p); if (Number.isNaN(imm)) return null; }
    return { eip, len: p + immLen - at, op, m: null, imm, seg, o16, rep };
  };
  if (op < 0x40 && (op & 7) < 6) {
    // ALU: 0-3 with ModRM, 4 AL,Ib, 5 EAX,Id.
    const k = op & 7;
    return k < 4 ? withModrm(0) : plain(k === 4 ? 1 : 4);
  }
  if (op >= 0x40 && op <= 0x5f) return plain(0); // INC/DEC/PUSH/POP r32
  if (op >= 0x70 && op <= 0x7f) return plain(1);
  if (op >= 0xb0 && op <= 0xb7) return plain(1);
  if (op >= 0xb8 && op <= 0xbf) return plain(4);
  if (op >= 0x180 && op <= 0x18f) return plain(4);
  if ((op >= 0x190 && op <= 0x19f) || (op >= 0x140 && op <= 0x14f)) return withModrm(0);
  switch (op) {
    case 0x68: return plain(4);
    case 0x6a: return plain(1);
    case 0x69: return withModrm(4);
    case 0x6b: return withModrm(1);
    case 0x80: case 0x83: case 0xc0: case 0xc1: case 0xc6: return withModrm(1);
    case 0x81: case 0xc7: return withModrm(4);
    case 0x1ba: case 0x1a4: case 0x1ac: return withModrm(1);
    case 0xc9: case 0xfa: case 0xfc: case 0xfd: return plain(0); // LEAVE CLI CLD STD
    case 0x84: case 0x85: case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8d:
    case 0xd1: case 0xd3: case 0xfe: case 0xff: case 0x87:
    case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: case 0x1a5: case 0x1ad:
    case 0x1af: case 0x1b1: case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf:
      return withModrm(0);
    case 0xf6: case 0xf7: {
      const d = decodeModrm(rd, p);
      if (!d) return null;
      return withModrm(d.m.reg <= 1 ? (op === 0xf6 ? 1 : 4) : 0);
    }
    case 0x90: case 0x99: case 0x98: case 0xc3: return plain(0);
    case 0xa8: case 0xeb: return plain(1);
    case 0xa9: case 0xe8: case 0xe9: return plain(4);
    case 0xc2: return plain(2);
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: { // MOV AL/EAX <-> moffs32: a memory operand with only a displacement
      const i = plain(4);
      if (i) i.m = { reg: 0, rmReg: -1, base: -1, index: -1, scale: 0, disp: i.imm };
      return i;
    }
    default: return null;
  }
}

/**
 * The length of an instruction the translator leaves to the interpreter that goes on to the
 * next one (PUSHF, POPF, STI, RDTSC: the kernel's interrupt-flag saves and clock reads), or 0.
 */
function fallsThroughLength(rd: CodeReader, at: number): number {
  const b = rd(at);
  if (b === 0x9c || b === 0x9d || b === 0xfb) return 1;
  if (b === 0x0f && rd(at + 1) === 0x31) return 2;
  return 0;
}

/** Whether the translator emits `insn` (some decodable forms are left to the interpreter). */
function supported(i: Insn): boolean {
  const r = i.m?.reg ?? 0;
  switch (i.op) {
    case 0x8d: return i.m!.rmReg < 0; // LEA with a register operand is #UD
    case 0xc6: case 0xc7: return r === 0;
    // SHL SHR SAR (a count of 0 is the interpreter's), and ROL ROR of 32-bit operands.
    case 0xc0: return r >= 4 && r !== 6 && (i.imm & 31) !== 0;
    case 0xc1: return (r >= 4 && r !== 6 || r <= 1) && (i.imm & 31) !== 0;
    case 0xd1: return r >= 4 && r !== 6 || r <= 1;
    case 0xd3: return r >= 4 && r !== 6; // SHL SHR SAR by CL
    // BT BTS BTR BTC: with a register bit offset, of a register only (into memory the offset reaches past the operand).
    case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: return i.m!.rmReg >= 0;
    case 0x1ba: return r >= 4;
    case 0xf6: return r <= 3;
    case 0xf7: return r <= 4 || r === 6; // TEST NOT NEG MUL DIV
    case 0xfe: return r <= 1;
    case 0xff: return r <= 2 || r === 4 || r === 6;
    case 0x5c: return false; // POP ESP
    default: return true;
  }
}

/** Ends the block after it (a control transfer). */
function endsBlock(i: Insn): boolean {
  const op = i.op, r = i.m?.reg ?? 0;
  return (op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f) || op === 0xc2 || op === 0xc3 ||
    op === 0xe8 || op === 0xe9 || op === 0xeb || (op === 0xff && (r === 2 || r === 4));
}

/** Limits of one page's function (a page holds at most about 1,500 instructions). */
const MAX_BLOCKS = 512;
const MAX_REGION_INSNS = 2000;

/** A basic block of the page's function: its instructions (the last may be a control transfer). */
interface Block {
  eip: number;
  insns: Insn[];
  /** The block ends before an instruction the translator does not do (or one with more than TAIL_MAX bytes on the next page). */
  refusedNext: boolean;
}

/** Bytes of an instruction that may lie on the next page (one word there, checked as one). */
const TAIL_MAX = 4;

/**
 * `rd` (the page) and, through `peek`, the first TAIL_MAX bytes of the next linear page,
 * for instructions that end there (none when the page is the last of the 4 GiB).
 */
function acrossPage(rd: CodeReader, pageEip: number, peek: LinearReader | null): CodeReader {
  if (!peek || pageEip === 0xfffff000) return rd;
  return (off) => (off < 4096 ? rd(off) : off < 4096 + TAIL_MAX ? peek((pageEip + off) >>> 0) : -1);
}

/** Decode at offset `at` of the page (`rd` reading on past its end, see acrossPage), noting an instruction's bytes on the next page. */
function decodeAt(rd: CodeReader, at: number, eip: number): Insn | null {
  const i = decode(rd, at, eip);
  if (!i || at + i.len <= 4096) return i;
  const len = at + i.len - 4096;
  let word = 0;
  for (let k = 0; k < len; k++) word |= rd(4096 + k) << (8 * k);
  i.tail = { len, word: word >>> 0 };
  return i;
}

/**
 * Whether the translator handles the instruction at `eip` (on the page `rd` reads; `peek`:
 * a reader of the next page for an instruction that ends there): a block can start there.
 */
export function translatable(rd: CodeReader, eip: number, peek: LinearReader | null = null): boolean {
  const i = decodeAt(acrossPage(rd, (eip & ~0xfff) >>> 0, peek), eip & 0xfff, eip);
  return i !== null && supported(i);
}

/**
 * Translate the code of one page for vCPU block `cpu` (`rd` reads the page; `user`: CPL 3,
 * whose memory accesses use the user TLB permissions) into one function: the basic blocks
 * reachable from `seeds` and `entry` (EIPs on the page) through direct jumps, calls and
 * fall-through within the page, so that loops, branches and calls within it stay in
 * WebAssembly. The function starts at the block whose index it is given. `seeds` are the
 * blocks of the page's previous function, in their order: they keep their indices, so
 * translating the page again as more of its code becomes hot leaves every index the core
 * holds valid. Options: `after`, more starts to take after `entry` (blocks likely to be
 * hot soon), as far as the limits allow (they never crowd out `entry`); `peek`, a reader of
 * code on other pages (calls to "get PC" thunks run inline); `chain`, whether the function
 * may go on to other translated functions itself (a WebAssembly tail call: the host's engine
 * must have them). Returns null if the code at `entry` is not translated.
 */
export interface TranslateOptions {
  after?: readonly number[];
  peek?: LinearReader | null;
  chain?: boolean;
}
export function translatePage(
  rd: CodeReader, seeds: readonly number[], entry: number, cpu: number, user: boolean, opts: TranslateOptions = {},
): TranslateResult | null {
  const after = opts.after ?? [], peek = opts.peek ?? null;
  const pageEip = (entry & ~0xfff) >>> 0;
  const rdx = acrossPage(rd, pageEip, peek);
  const inPage = (e: number) => ((e - pageEip) >>> 0) < 4096;
  const blocks: Block[] = [];
  const seen = new Set<number>();
  const queue = [...seeds, entry, ...after];
  let total = 0;
  while (queue.length && blocks.length < MAX_BLOCKS && total < MAX_REGION_INSNS) {
    const start = queue.shift()!;
    if (seen.has(start)) continue;
    seen.add(start);
    const insns: Insn[] = [];
    let at = (start - pageEip) >>> 0;
    let pc = start;
    let refusedNext = false;
    while (insns.length < MAX_INSNS && at < 4096) {
      const i = decodeAt(rdx, at, pc);
      if (!i || !supported(i)) {
        refusedNext = true;
        // The interpreter runs it and looks right after it (JIT_LOOK_AFTER): a block starts there.
        const after = i ? i.len : fallsThroughLength(rd, at);
        if (after > 0 && (!i || !endsBlock(i)) && inPage(pc + after)) { const e = (pc + after) >>> 0; queue.push(e); }
        break;
      }
      if (i.op === 0xe8 && peek) { const r = thunkRegister(peek, jumpTarget(i)!); if (r >= 0) i.thunk = r; }
      insns.push(i);
      at += i.len;
      pc = (pc + i.len) >>> 0;
      if (endsBlock(i)) break;
    }
    if (insns.length === 0) continue;
    blocks.push({ eip: start, insns, refusedNext });
    total += insns.length;
    const last = insns[insns.length - 1];
    const t = last.thunk === undefined ? jumpTarget(last) : null;
    if (t !== null && inPage(t)) queue.push(t);
    // Fall-through; after a CALL, where the callee returns to (RET finds it among the blocks).
    if (!endsBlock(last) || isJcc(last) || last.op === 0xe8) { const f = (last.eip + last.len) >>> 0; if (inPage(f)) queue.push(f); }
  }
  if (!blocks.some((b) => b.eip === entry)) return null;
  const body = new Emitter(blocks, cpu, user, opts.chain ?? false).emit().finish();
  return { body, blocks: blocks.map((b) => b.eip), instructions: total };
}

/**
 * The body of the module's CF helper for vCPU block `cpu`: CF from the lazy-flag record in
 * memory, as the interpreter derives it (getCF in engine-wasm/assembly/state.ts): EFLAGS'
 * CF when the record does not hold CF, else the carry (ADD) or borrow (SUB) out of the
 * operation's top bit, computed from its operands and result (0 for a logic operation).
 */
export function cfHelper(cpu: number): Uint8Array {
  const c = new Code(0), a = c.local(), b = c.local(), r = c.local(), op = c.local();
  c.i32(0).mem(Op.I32Load, cpu + MM.R_LF_MASK).i32(FLAG_CF).op(Op.I32And).op(Op.I32Eqz).if_();
  c.i32(0).mem(Op.I32Load, cpu + MM.R_EFLAGS).i32(FLAG_CF).op(Op.I32And).op(Op.Return);
  c.end();
  c.i32(0).mem(Op.I32Load, cpu + MM.R_LF_OP).i32(3).op(Op.I32And).tee(op).i32(LF_LOGIC).op(Op.I32GeU).if_();
  c.i32(0).op(Op.Return);
  c.end();
  c.i32(0).mem(Op.I32Load, cpu + MM.R_LF_A).set(a);
  c.i32(0).mem(Op.I32Load, cpu + MM.R_LF_B).set(b);
  c.i32(0).mem(Op.I32Load, cpu + MM.R_LF_RES).set(r);
  c.get(op).if_();
  // SUB: (~a & b) | ((~a | b) & r)
  c.get(a).i32(-1).op(Op.I32Xor).tee(a).get(b).op(Op.I32And).get(a).get(b).op(Op.I32Or).get(r).op(Op.I32And).op(Op.I32Or).set(r);
  c.op(Op.Else);
  // ADD: (a & b) | ((a | b) & ~r)
  c.get(a).get(b).op(Op.I32And).get(a).get(b).op(Op.I32Or).get(r).i32(-1).op(Op.I32Xor).op(Op.I32And).op(Op.I32Or).set(r);
  c.end();
  c.get(r).i32(0).mem(Op.I32Load, cpu + MM.R_LF_SIZE).op(Op.I32ShrU).i32(1).op(Op.I32And);
  return c.finish();
}

function isJcc(i: Insn): boolean { return (i.op >= 0x70 && i.op <= 0x7f) || (i.op >= 0x180 && i.op <= 0x18f); }

/** TLB bits an instruction fetch at user or supervisor level needs (and TLB_NX clear). */
const fetchMask = (user: boolean) => TLB_VALID | TLB_RAM | (user ? TLB_USER_R | TLB_USER_X : 0);

/**
 * A LinearReader over the machine's memory (`words`, `bytes`: views of it) for vCPU block
 * `cpu`: through its software TLB as it is now, for a fetch at user or supervisor level.
 */
export function fetchReader(words: Uint32Array, bytes: Uint8Array, cpu: number, user: boolean): LinearReader {
  const need = fetchMask(user);
  const tlb = (cpu + MM.VCPU_TLB) >>> 2;
  return (linear) => {
    const e = words[tlb + (linear >>> 12)];
    if ((e & (need | TLB_NX)) !== need) return -1;
    return bytes[MM.RAM_BASE + ((e & ~0xfff) >>> 0) + (linear & 0xfff)];
  };
}

/** The bytes of a thunk MOV r32, [ESP]; RET (8B /r with ModRM 00 r 100, SIB 24, then C3), as a little-endian word, for register r. */
const thunkWord = (r: number) => (0x8b | ((0x04 | (r << 3)) << 8) | (0x24 << 16) | (0xc3 << 24)) >>> 0;

/** The register the code at `target` loads with its return address if it is a thunk MOV r32, [ESP]; RET (not ESP), else -1. */
function thunkRegister(peek: LinearReader, target: number): number {
  if ((target & 0xfff) > 0xffc) return -1; // the runtime check reads the four bytes as one word of one page
  if (peek(target) !== 0x8b || peek(target + 2) !== 0x24 || peek(target + 3) !== 0xc3) return -1;
  const m = peek(target + 1);
  if (m < 0 || (m & 0xc7) !== 0x04 || ((m >> 3) & 7) === ESP) return -1;
  return (m >> 3) & 7;
}

/** Instructions a block retires when it runs to its end (an inlined thunk call counts three). */
function retires(b: Block): number {
  return b.insns.length + (b.insns[b.insns.length - 1].thunk !== undefined ? 2 : 0);
}

class Emitter {
  private readonly c = new Code(3);
  // The parameters: instructions the run may retire (counting `base`), the block to start at,
  // and the instructions retired before the call (by the functions that chained to this one).
  private readonly LIMIT = 0;
  private readonly START = 1;
  private readonly ret = 2; // the parameter `base`, then the instructions retired by the blocks completed so far
  private readonly next: number; // the block to run next (dispatch)
  private readonly r: number[]; // the eight general registers, kept in locals while the function runs
  private readonly t: number[]; // scratch locals
  private readonly fr: number; // the current operation: result, operands
  private readonly fa: number;
  private readonly fb: number;
  private readonly lr: number; // the pending flag record (the last flag-setting operation): result, operands
  private readonly la: number;
  private readonly lb: number;
  private readonly ea: number; // effective address
  private readonly te: number; // TLB entry, then the checked address
  private readonly xk: number; // at the exit: instructions retired, the EIP to go on at, the pending flag record's kind
  private readonly xeip: number;
  private readonly xflag: number;
  private readonly xcode: number; // or all three packed (see packedExit), else 0
  /** The linear page the function's code is on. */
  private readonly pageBase: number;
  /** c.nest inside the block whose end is the exit. */
  private exitNest = 0;
  private pending: PendingFlags | null = null;
  private readonly tlb: number;
  private readonly rmask: number;
  private readonly wmask: number;
  /** TLB bits an instruction fetch at this CPL needs (TLB_NX must be clear too). */
  private readonly xmask: number;
  private readonly index = new Map<number, number>(); // block EIP → block number
  /** c.nest inside the dispatch loop. */
  private loopNest = 0;
  /**
   * The block whose code is being written, and c.nest at its start: there the `block`s that end
   * where the blocks after it start enclose it, innermost first, so a jump forward is a branch out.
   */
  private cur = 0;
  private codeNest = 0;
  private readonly dt: number; // the EIP a computed jump (RET, JMP/CALL through a register or memory) goes to

  /**
   * Registers (bit k: register k) the code emitted so far reads or writes, and writes: the
   * function loads only those into its locals at its start, and stores only the written ones
   * at its exit.
   */
  private touched = 0;
  private written = 0;

  private readonly mode: number;

  constructor(private readonly blocks: Block[], private readonly cpu: number, user: boolean, private readonly chains: boolean) {
    const l = () => this.c.local();
    this.next = l();
    this.r = [l(), l(), l(), l(), l(), l(), l(), l()];
    this.t = [l(), l(), l(), l()];
    this.fr = l(); this.fa = l(); this.fb = l();
    this.lr = l(); this.la = l(); this.lb = l();
    this.ea = l();
    this.te = l();
    this.xk = l(); this.xeip = l(); this.xflag = l(); this.xcode = l();
    this.pageBase = (blocks[0].eip & ~0xfff) >>> 0;
    this.dt = l();
    this.tlb = cpu + MM.VCPU_TLB;
    this.rmask = TLB_VALID | TLB_RAM | (user ? TLB_USER_R : 0);
    this.wmask = TLB_VALID | TLB_RAM | (user ? TLB_USER_W : TLB_SUP_W);
    this.xmask = fetchMask(user);
    this.mode = user ? MM.JITM_USER : 0;
    blocks.forEach((b, k) => this.index.set(b.eip, k));
  }

  /** Write the function's code (then `.finish()` gives its bytes). */
  emit(): Code {
    const c = this.c, n = this.blocks.length;
    // A start the function does not have: nothing runs.
    c.get(this.START).i32(n).op(Op.I32GeU).if_(); c.i64(0n).op(Op.Return); c.end();
    c.get(this.START).set(this.next);
    const loadsAt = c.length; // the registers' loads go here, once the code says which it touches
    // exit { dispatch } epilogue; every way out branches to the end of `exit`.
    c.block();
    this.exitNest = c.nest;
    // Dispatch: loop { block_n { ... block_0 { br_table next } code 0 } ... code n-1 } code n },
    // where "block" n finds the block of a computed target.
    c.loop();
    this.loopNest = c.nest;
    for (let k = n; k >= 0; k--) c.block();
    c.get(this.next).op(Op.BrTable);
    c.uleb(n + 1);
    for (let k = 0; k <= n; k++) c.uleb(k);
    c.uleb(n);
    for (let k = 0; k < n; k++) {
      c.end(); // block_k: its code follows
      this.cur = k;
      this.codeNest = c.nest;
      this.block(this.blocks[k]);
    }
    c.end();
    this.findBlock();
    c.end(); // loop
    c.op(Op.Unreachable);
    c.end(); // exit
    this.epilogue();
    const loads = new Code(0);
    for (let k = 0; k < 8; k++) if (this.touched & (1 << k)) loads.i32(0).mem(Op.I32Load, this.cpu + 4 * k).set(this.r[k]);
    c.insert(loadsAt, loads);
    return c;
  }

  private block(b: Block): void {
    const c = this.c, n = b.insns.length;
    this.pending = null; // every way into a block leaves the flag record in memory
    // Enough budget for the whole block? If not, the interpreter runs it (up to the chunk's
    // end and on to the block's end), and the function is called again at the block it falls
    // through to, if it has that block (VCPU_JIT_RESUME).
    c.get(this.LIMIT).get(this.ret).op(Op.I32Sub).i32(retires(b)).op(Op.I32LtU).if_();
    const last = b.insns[n - 1];
    const fall = (!endsBlock(last) && !b.refusedNext) || isJcc(last) || last.op === 0xe8 ? this.index.get((last.eip + last.len) >>> 0) : undefined;
    if (fall !== undefined) {
      c.i32(0).i32((last.eip + last.len) | 0).mem(Op.I32Store, this.cpu + MM.VCPU_JIT_RESUME);
      c.i32(0).i32(fall).mem(Op.I32Store, this.cpu + MM.VCPU_JIT_RESUME + 4);
    }
    this.exitTo(0, b.eip, true, false, fall !== undefined);
    c.end();
    for (let k = 0; k < n; k++) {
      const i = b.insns[k];
      if (i.tail) this.tailCheck(i, k);
      this.insn(i, k);
    }
    // Before an instruction left to the interpreter: it looks for translated code right after that one.
    if (b.refusedNext) this.exitTo(n, (last.eip + last.len) >>> 0, true, true);
    else if (!endsBlock(last)) this.jumpTo(n, (last.eip + last.len) >>> 0);
  }

  // ---- exits ---------------------------------------------------------------------------
  /** Registers back to the vCPU block (before leaving the function). */
  private storeRegs(): void {
    for (let k = 0; k < 8; k++) if (this.written & (1 << k)) this.c.i32(0).get(this.r[k]).mem(Op.I32Store, this.cpu + 4 * k);
  }
  /**
   * Leave: `k` instructions of this block retired, continue at the constant `eip`. `within`:
   * the exit is not a jump but a stop inside the code (the chunk's budget, an access the fast
   * path cannot do), so the core does not count `eip` as a block start (see MM.JIT_NOT_A_JUMP).
   */
  private exitTo(k: number, eip: number, within = false, lookAfter = false, resume = false): void {
    const code = this.packedExit(k, eip, within, lookAfter, resume);
    if (code !== null) { this.c.i32(code).set(this.xcode).br(this.c.nest - this.exitNest); return; }
    this.c.i32(eip | 0).set(this.xeip);
    this.exit(k, within, lookAfter, resume);
  }
  /**
   * An exit to a constant EIP on the function's page, as one word the epilogue takes apart
   * (unpackExit): 1 | EIP's page offset << 1 | k << 13 | the result flags >> 29 << 18 | the
   * pending flag record << 21 (1 | op << 1 | size code << 3 | the six arithmetic flags of its
   * mask << 5). A few bytes instead of three locals' worth of constants. Null: not packable.
   */
  private packedExit(k: number, eip: number, within: boolean, lookAfter: boolean, resume: boolean): number | null {
    const p = this.pending;
    if (((eip ^ this.pageBase) & ~0xfff) !== 0 || k > 31) return null;
    let rec = 0;
    if (p) {
      const size = p.msb === 7 ? 0 : p.msb === 15 ? 1 : p.msb === 31 ? 2 : -1;
      if (size < 0 || p.op > 3 || (p.mask & ~FLAGS_ARITH) !== 0) return null;
      const m = p.mask;
      const m6 = (m & 1) | ((m >> 1) & 2) | ((m >> 2) & 4) | ((m >> 3) & 24) | ((m >> 6) & 32);
      rec = 1 | (p.op << 1) | (size << 3) | (m6 << 5);
    }
    const f = within ? 4 | (lookAfter ? 2 : 0) | (resume ? 1 : 0) : 0;
    return (1 | ((eip & 0xfff) << 1) | (k << 13) | (f << 18) | (rec << 21)) | 0;
  }
  /** The epilogue's start: a packed exit (local xcode, see packedExit) into xeip, xk and xflag. */
  private unpackExit(): void {
    const c = this.c, x = this.xcode, t = this.t[0];
    c.get(x).if_();
    c.i32(this.pageBase | 0).get(x).i32(1).op(Op.I32ShrU).i32(0xfff).op(Op.I32And).op(Op.I32Or).set(this.xeip);
    c.get(this.ret).get(x).i32(13).op(Op.I32ShrU).i32(31).op(Op.I32And).op(Op.I32Add);
    c.get(x).i32(18).op(Op.I32ShrU).i32(7).op(Op.I32And).i32(29).op(Op.I32Shl).op(Op.I32Or).set(this.xk);
    c.i32(0).set(this.xflag);
    c.get(x).i32(21).op(Op.I32ShrU).tee(t).i32(1).op(Op.I32And).if_();
    c.get(t).i32(1).op(Op.I32ShrU).i32(3).op(Op.I32And); // op
    c.i32(8).get(t).i32(3).op(Op.I32ShrU).i32(3).op(Op.I32And).op(Op.I32Shl).i32(1).op(Op.I32Sub).i32(8).op(Op.I32Shl).op(Op.I32Or); // size: 7, 15 or 31
    c.get(t).i32(5).op(Op.I32ShrU).set(t); // the six flags: CF PF AF ZF SF OF
    c.get(t).i32(1).op(Op.I32And);
    c.get(t).i32(2).op(Op.I32And).i32(1).op(Op.I32Shl, Op.I32Or);
    c.get(t).i32(4).op(Op.I32And).i32(2).op(Op.I32Shl, Op.I32Or);
    c.get(t).i32(24).op(Op.I32And).i32(3).op(Op.I32Shl, Op.I32Or);
    c.get(t).i32(32).op(Op.I32And).i32(6).op(Op.I32Shl, Op.I32Or);
    c.i32(16).op(Op.I32Shl, Op.I32Or).set(this.xflag);
    c.end();
    c.end();
  }
  /** Leave: `k` instructions of this block retired, continue at the EIP in local `l`. */
  private exitToLocal(k: number, l: number): void {
    this.c.get(l).set(this.xeip);
    this.exit(k);
  }
  /**
   * Go to the function's one exit (see emit) with local xeip set: what it must write back is
   * in locals, so each of the many ways out costs a few bytes of code, not the stores.
   */
  private exit(k: number, within = false, lookAfter = false, resume = false): void {
    const c = this.c, p = this.pending;
    c.i32(p ? p.op | (p.msb << 8) | (p.mask << 16) : 0).set(this.xflag);
    c.get(this.ret);
    if (k) c.i32(k).op(Op.I32Add);
    if (within) c.i32((MM.JIT_NOT_A_JUMP | (lookAfter ? MM.JIT_LOOK_AFTER : 0) | (resume ? MM.JIT_RESUME : 0)) | 0).op(Op.I32Or);
    c.set(this.xk);
    c.br(c.nest - this.exitNest);
  }
  /** The exit: the pending flag record (local xflag: its kind, or 0 if none), the written registers, the result. */
  private epilogue(): void {
    const c = this.c, b = this.cpu;
    this.unpackExit();
    c.get(this.xflag).if_();
    c.i32(0).get(this.xflag).i32(0xff).op(Op.I32And).mem(Op.I32Store, b + MM.R_LF_OP);
    c.i32(0).get(this.lr).mem(Op.I32Store, b + MM.R_LF_RES);
    c.get(this.xflag).i32(0xff).op(Op.I32And).i32(LF_LOGIC).op(Op.I32Ne).if_();
    c.i32(0).get(this.la).mem(Op.I32Store, b + MM.R_LF_A);
    c.i32(0).get(this.lb).mem(Op.I32Store, b + MM.R_LF_B);
    c.end();
    c.i32(0).get(this.xflag).i32(8).op(Op.I32ShrU).i32(0xff).op(Op.I32And).mem(Op.I32Store, b + MM.R_LF_SIZE);
    c.i32(0).get(this.xflag).i32(16).op(Op.I32ShrU).mem(Op.I32Store, b + MM.R_LF_MASK);
    c.end();
    this.storeRegs();
    if (this.chains) this.chain();
    c.get(this.xk).op(Op.I64ExtendI32U).i64(32n).op(Op.I64Shl);
    c.get(this.xeip).op(Op.I64ExtendI32U, Op.I64Or);
  }
  /**
   * Leaving at a jump (xk has no flags) with budget left: if the core's cache holds a
   * translation of the block at xeip, go straight on to it (a tail call through the table,
   * passing the instructions retired so far) rather than back to the core, which would look it
   * up the same way (jitEnter in engine-wasm/assembly/jit.ts: the same checks, but for the
   * mode's, which cannot have changed).
   * Registers and flags are in the vCPU block by now, as every block start expects.
   */
  private chain(): void {
    const c = this.c, phys = this.t[0], en = this.t[1], fn = this.t[2];
    const entry = (w: number, field: number) => this.cpu + MM.VCPU_JIT_CACHE + w * MM.JIT_ENTRY + field;
    c.block();
    c.get(this.xk).i32(MM.JIT_RESULT_FLAGS | 0).op(Op.I32And).brIf(0);
    c.get(this.xk).get(this.LIMIT).op(Op.I32GeU).brIf(0);
    c.get(this.xeip).i32(12).op(Op.I32ShrU).i32(2).op(Op.I32Shl).mem(Op.I32Load, this.tlb).tee(phys);
    c.i32(this.xmask | TLB_NX).op(Op.I32And).i32(this.xmask).op(Op.I32Ne).brIf(0);
    c.get(phys).i32(0xfffff000 | 0).op(Op.I32And).get(this.xeip).i32(0xfff).op(Op.I32And).op(Op.I32Or).set(phys);
    // The set (as the core's jitEnter picks it), JIT_WAYS × JIT_ENTRY bytes each.
    c.get(phys).i32(MM.JIT_HASH | 0).op(Op.I32Mul).i32(32 - Math.log2(MM.JIT_SETS)).op(Op.I32ShrU);
    c.i32(Math.log2(MM.JIT_WAYS * MM.JIT_ENTRY)).op(Op.I32Shl).set(en);
    for (let w = 0; w < MM.JIT_WAYS; w++) {
      c.block();
      c.get(en).mem(Op.I32Load, entry(w, MM.JIT_E_PHYS)).get(phys).op(Op.I32Ne).brIf(0);
      c.get(en).mem(Op.I32Load, entry(w, MM.JIT_E_EIP)).get(this.xeip).op(Op.I32Ne).brIf(0);
      c.get(en).mem(Op.I32Load, entry(w, MM.JIT_E_MODE)).i32(this.mode).op(Op.I32Ne).brIf(0);
      c.get(en).mem(Op.I32Load, entry(w, MM.JIT_E_FN)).tee(fn).op(Op.I32Eqz).brIf(0);
      // The block's entry: no function (never translated, being compiled), or its code page written since: back to the core.
      c.get(fn).i32(MM.JIT_FN_PENDING | 0).op(Op.I32GeU).brIf(1);
      c.get(phys).i32(12).op(Op.I32ShrU).i32(2).op(Op.I32Shl).mem(Op.I32Load, MM.JIT_PAGE_GEN);
      c.get(en).mem(Op.I32Load, entry(w, MM.JIT_E_GEN)).op(Op.I32Ne).brIf(1);
      c.i32(0).get(fn).mem(Op.I32Store, this.cpu + MM.VCPU_JIT_RESUME + 8);
      c.i32(0).get(phys).mem(Op.I32Store, this.cpu + MM.VCPU_JIT_RESUME + 12);
      c.i32(0).get(en).mem(Op.I32Load, entry(w, MM.JIT_E_GEN)).mem(Op.I32Store, this.cpu + MM.VCPU_JIT_RESUME + 16);
      c.get(this.LIMIT).get(en).mem(Op.I32Load, entry(w, MM.JIT_E_START)).get(this.xk).get(fn).returnCallIndirect(0, 0);
      c.end();
    }
    c.end();
  }
  /** Write the pending flag record to the vCPU's lazy-flag words (the interpreter's format). */
  private flushFlags(): void {
    const p = this.pending;
    if (!p) return;
    const c = this.c, b = this.cpu;
    c.i32(0).i32(p.op).mem(Op.I32Store, b + MM.R_LF_OP);
    c.i32(0).get(this.lr).mem(Op.I32Store, b + MM.R_LF_RES);
    if (p.op !== LF_LOGIC) {
      c.i32(0).get(this.la).mem(Op.I32Store, b + MM.R_LF_A);
      c.i32(0).get(this.lb).mem(Op.I32Store, b + MM.R_LF_B);
    }
    c.i32(0).i32(p.msb).mem(Op.I32Store, b + MM.R_LF_SIZE);
    c.i32(0).i32(p.mask).mem(Op.I32Store, b + MM.R_LF_MASK);
  }
  /** Flush the pending record once, on the code path taken from here (call at a merge-free point). */
  private commitFlags(): void {
    this.flushFlags();
    this.pending = null;
  }

  // ---- registers -------------------------------------------------------------------------
  /** Register r's local, to read (`write`: or to write). */
  private reg(r: number, write = false): number {
    this.touched |= 1 << r;
    if (write) this.written |= 1 << r;
    return this.r[r];
  }
  private getReg(r: number): void { this.c.get(this.reg(r)); }
  /** Store local `l` into register r. */
  private setReg(r: number, l: number): void { this.c.get(l).set(this.reg(r, true)); }
  /** AL CL DL BL AH CH DH BH. */
  private getReg8(r: number): void {
    const c = this.c;
    c.get(this.reg(r & 3));
    if (r & 4) c.i32(8).op(Op.I32ShrU);
    c.i32(0xff).op(Op.I32And);
  }
  private setReg16(r: number, l: number): void {
    const c = this.c;
    c.get(this.reg(r, true)).i32(0xffff0000 | 0).op(Op.I32And);
    c.get(l).i32(0xffff).op(Op.I32And).op(Op.I32Or).set(this.reg(r, true));
  }
  private setReg8(r: number, l: number): void {
    const c = this.c, hi = (r & 4) !== 0;
    c.get(this.reg(r & 3, true)).i32(hi ? ~0xff00 : ~0xff).op(Op.I32And);
    c.get(l).i32(0xff).op(Op.I32And);
    if (hi) c.i32(8).op(Op.I32Shl);
    c.op(Op.I32Or).set(this.reg(r & 3, true));
  }

  // ---- memory ----------------------------------------------------------------------------
  /** Compute the effective address of m into local ea. */
  private effAddr(m: ModRM): void {
    const c = this.c;
    let any = false;
    if (m.base >= 0) { this.getReg(m.base); any = true; }
    if (m.index >= 0) {
      this.getReg(m.index);
      if (m.scale) c.i32(m.scale).op(Op.I32Shl);
      if (any) c.op(Op.I32Add);
      any = true;
    }
    if (!any) c.i32(m.disp);
    else if (m.disp) c.i32(m.disp).op(Op.I32Add);
    c.set(this.ea);
  }
  /**
   * Check that `size` bytes at local ea are RAM this CPL may read (or write, which implies
   * read) within one page; else leave the block before instruction k. Afterwards local te
   * holds the host address minus RAM_BASE (use memory offset RAM_BASE).
   */
  private access(k: number, eip: number, size: number, write: boolean, seg = -1): void {
    const c = this.c, mask = write ? this.wmask : this.rmask;
    if (seg >= 0 && seg !== DS && seg !== SS) {
      // An override to a segment other than DS and SS (which the core's jitEnter saw flat
      // before it called any translated code): it must need no limit check (else the
      // interpreter's), and its base is added.
      const big = write ? MM.SEGP_BIG_WRITE : MM.SEGP_BIG_READ;
      c.i32(0).mem(Op.I32Load, this.cpu + MM.R_SEG_PERM + 4 * seg).i32(big).op(Op.I32And).op(Op.I32Eqz).if_();
      this.exitTo(k, eip, true);
      c.end();
      c.get(this.ea).i32(0).mem(Op.I32Load, this.cpu + MM.R_SEG_BASE + 4 * seg).op(Op.I32Add).set(this.ea);
    }
    c.get(this.ea).i32(12).op(Op.I32ShrU).i32(2).op(Op.I32Shl).mem(Op.I32Load, this.tlb).tee(this.te);
    c.i32(mask).op(Op.I32And).i32(mask).op(Op.I32Ne);
    if (size > 1) c.get(this.ea).i32(0xfff).op(Op.I32And).i32(0x1000 - size).op(Op.I32GtU, Op.I32Or);
    c.if_();
    this.exitTo(k, eip, true);
    c.end();
    c.get(this.te).i32(0xfffff000 | 0).op(Op.I32And).get(this.ea).i32(0xfff).op(Op.I32And).op(Op.I32Add).set(this.te);
  }
  private loadAt(size: number): void {
    this.c.get(this.te).mem(size === 1 ? Op.I32Load8U : size === 2 ? Op.I32Load16U : Op.I32Load, MM.RAM_BASE);
  }
  /** Store local l at the checked address. */
  private storeAt(size: number, l: number): void {
    this.c.get(this.te).get(l).mem(size === 1 ? Op.I32Store8 : size === 2 ? Op.I32Store16 : Op.I32Store, MM.RAM_BASE);
  }

  /** Push the E operand's value (register or checked memory) on the stack. */
  private readE(i: Insn, k: number, size: number): void {
    const m = i.m!;
    if (m.rmReg >= 0) { if (size === 1) this.getReg8(m.rmReg); else this.getReg(m.rmReg); return; }
    this.effAddr(m);
    this.access(k, i.eip, size, false, i.seg);
    this.loadAt(size);
  }

  // ---- flags -------------------------------------------------------------------------------
  /** Record a flag-setting result (locals fr, fa, fb already hold it). */
  private setFlags(op: number, msb: number, mask: number, carryIn = false): void {
    const c = this.c;
    c.get(this.fr).set(this.lr);
    if (op !== LF_LOGIC) { c.get(this.fa).set(this.la); c.get(this.fb).set(this.lb); }
    this.pending = { op, msb, mask, carryIn };
  }
  /** Push CF (0/1) as it is now. */
  private pushCF(): void {
    const p = this.pending, c = this.c;
    if (p && (p.mask & FLAG_CF)) {
      if (p.op === LF_LOGIC) { c.i32(0); return; }
      if (!p.carryIn) {
        if (p.op === LF_SUB) c.get(this.la).get(this.lb).op(Op.I32LtU); // borrow: a < b (8-bit operands are zero-extended)
        else if (p.msb < 31) c.get(this.lr).i32(p.msb + 1).op(Op.I32ShrU).i32(1).op(Op.I32And); // carry out of bit 7 (or 15)
        else c.get(this.lr).get(this.la).op(Op.I32LtU); // carry: the sum wrapped
        return;
      }
    }
    if (p && !(p.mask & FLAG_CF)) { c.i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(1).op(Op.I32And); return; }
    this.commitFlags();
    c.call(FN_CF);
  }
  /** Push condition cc (0-15) as 0/1. */
  private pushCond(cc: number): void {
    const c = this.c, p = this.pending;
    const inv = cc & 1;
    const base = cc >> 1;
    const sx = (l: number) => { c.get(l); if (p!.msb === 7) c.op(Op.I32Extend8S); else if (p!.msb === 15) c.op(Op.I32Extend16S); };
    const zero = () => { c.get(this.lr); if (p!.msb < 31) c.i32(p!.msb === 7 ? 0xff : 0xffff).op(Op.I32And); c.op(Op.I32Eqz); };
    if (p && p.mask === FLAGS_ARITH && !p.carryIn) {
      let done = true;
      if (base === 2) zero(); // Z
      else if (base === 4) { sx(this.lr); c.i32(0).op(Op.I32LtS); } // S
      else if (p.op === LF_SUB && base === 1) c.get(this.la).get(this.lb).op(Op.I32LtU); // B
      else if (p.op === LF_SUB && base === 3) c.get(this.la).get(this.lb).op(Op.I32LeU); // BE
      else if (p.op === LF_SUB && base === 6) { sx(this.la); sx(this.lb); c.op(Op.I32LtS); } // L
      else if (p.op === LF_SUB && base === 7) { sx(this.la); sx(this.lb); c.op(Op.I32LeS); } // LE
      else if (p.op === LF_LOGIC && base === 1) c.i32(0); // B: CF = 0
      else if (p.op === LF_LOGIC && base === 3) zero(); // BE: ZF
      else if (p.op === LF_LOGIC && base === 6) { sx(this.lr); c.i32(0).op(Op.I32LtS); } // L: SF
      else if (p.op === LF_LOGIC && base === 7) { sx(this.lr); c.i32(0).op(Op.I32LeS); } // LE: ZF | SF
      else if (p.op === LF_LOGIC && base === 0) c.i32(0); // O
      else done = false;
      if (done) { if (inv) c.op(Op.I32Eqz); return; }
    }
    if (p && (p.mask & FLAGS_SZP) === FLAGS_SZP && !p.carryIn && (base === 2 || base === 4)) {
      if (base === 2) zero(); else { sx(this.lr); c.i32(0).op(Op.I32LtS); }
      if (inv) c.op(Op.I32Eqz);
      return;
    }
    this.commitFlags();
    c.i32(cc).call(FN_COND);
  }

  /** ALU op (0-7: ADD OR ADC SBB AND SUB XOR CMP) on locals fa (dest) and fb (source); result in fr. */
  private alu(op: number, msb: number): void {
    const c = this.c;
    if (op === 2 || op === 3) {
      this.pushCF();
      const cf = this.t[3];
      c.set(cf);
      c.get(this.fa).get(this.fb).op(op === 2 ? Op.I32Add : Op.I32Sub).get(cf).op(op === 2 ? Op.I32Add : Op.I32Sub).set(this.fr);
      this.setFlags(op === 2 ? LF_ADD : LF_SUB, msb, FLAGS_ARITH, true);
      return;
    }
    const wop = [Op.I32Add, Op.I32Or, 0, 0, Op.I32And, Op.I32Sub, Op.I32Xor, Op.I32Sub][op];
    c.get(this.fa).get(this.fb).op(wop).set(this.fr);
    this.setFlags(op === 0 ? LF_ADD : op === 5 || op === 7 ? LF_SUB : LF_LOGIC, msb, FLAGS_ARITH);
  }

  /** INC/DEC of local fa: CF keeps its value (made eager), result in fr. */
  private incDec(dec: boolean, msb: number): void {
    const c = this.c, f = this.t[3];
    // EFLAGS.CF = CF now. With the record in memory, EFLAGS has CF already unless the record holds it.
    const inMem = !this.pending;
    if (inMem) c.i32(0).mem(Op.I32Load, this.cpu + MM.R_LF_MASK).i32(FLAG_CF).op(Op.I32And).if_();
    this.pushCF();
    c.set(f);
    c.i32(0).i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(~FLAG_CF).op(Op.I32And).get(f).op(Op.I32Or)
      .mem(Op.I32Store, this.cpu + MM.R_EFLAGS);
    if (inMem) c.end();
    c.i32(1).set(this.fb);
    c.get(this.fa).i32(1).op(dec ? Op.I32Sub : Op.I32Add).set(this.fr);
    this.setFlags(dec ? LF_SUB : LF_ADD, msb, FLAGS_ARITH & ~FLAG_CF);
  }

  /** Eager CF/OF/AF (shifts, multiplies): EFLAGS = (EFLAGS & ~(CF|OF|AF)) | local f. */
  private eagerCFOF(f: number): void {
    const c = this.c;
    c.i32(0).i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(~(FLAG_CF | FLAG_OF | FLAG_AF)).op(Op.I32And).get(f).op(Op.I32Or)
      .mem(Op.I32Store, this.cpu + MM.R_EFLAGS);
  }

  // ---- instructions --------------------------------------------------------------------------
  private insn(i: Insn, k: number): void {
    const c = this.c, op = i.op, next = (i.eip + i.len) >>> 0;
    const t0 = this.t[0], t1 = this.t[1];
    if (op === 0x90) return; // NOP, also 66 90
    if (i.o16) { this.insn16(i, k); return; }
    if (op < 0x40 && (op & 7) < 6) {
      const aop = op >> 3, form = op & 7, byte = (form & 1) === 0;
      const size = byte ? 1 : 4, msb = byte ? 7 : 31;
      if (form >= 4) {
        if (byte) this.getReg8(0); else this.getReg(0);
        c.set(this.fa);
        c.i32(byte ? i.imm & 0xff : i.imm).set(this.fb);
        this.alu(aop, msb);
        if (aop !== 7) { if (byte) this.setReg8(0, this.fr); else this.setReg(0, this.fr); }
        return;
      }
      const m = i.m!;
      const toE = form < 2;
      const regGet = () => { if (byte) this.getReg8(m.reg); else this.getReg(m.reg); };
      if (m.rmReg >= 0) {
        if (toE) { this.readE(i, k, size); c.set(this.fa); regGet(); c.set(this.fb); }
        else { regGet(); c.set(this.fa); this.readE(i, k, size); c.set(this.fb); }
        this.alu(aop, msb);
        if (aop !== 7) {
          const dst = toE ? m.rmReg : m.reg;
          if (byte) this.setReg8(dst, this.fr); else this.setReg(dst, this.fr);
        }
        return;
      }
      this.effAddr(m);
      if (toE) {
        this.access(k, i.eip, size, aop !== 7, i.seg);
        this.loadAt(size); c.set(this.fa);
        regGet(); c.set(this.fb);
        this.alu(aop, msb);
        if (aop !== 7) this.storeAt(size, this.fr);
      } else {
        this.access(k, i.eip, size, false, i.seg);
        regGet(); c.set(this.fa);
        this.loadAt(size); c.set(this.fb);
        this.alu(aop, msb);
        if (aop !== 7) { if (byte) this.setReg8(m.reg, this.fr); else this.setReg(m.reg, this.fr); }
      }
      return;
    }
    if (op >= 0x40 && op <= 0x4f) { // INC/DEC r32
      const r = op & 7;
      this.getReg(r); c.set(this.fa);
      this.incDec(op >= 0x48, 31);
      this.setReg(r, this.fr);
      return;
    }
    if (op >= 0x50 && op <= 0x57) { this.getReg(op & 7); c.set(t1); this.push(i, k, t1); return; }
    if (op >= 0x58 && op <= 0x5f) { this.pop(i, k, t1); this.setReg(op & 7, t1); return; }
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
      const target = jumpTarget(i)!;
      this.pushCond(op & 15);
      this.commitFlags(); // once for both ways (the condition stays on the stack under the stores)
      c.if_();
      this.jumpTo(k + 1, target);
      c.end();
      this.jumpTo(k + 1, next);
      return;
    }
    if (op >= 0x190 && op <= 0x19f) { // SETcc Eb
      const m = i.m!;
      if (m.rmReg >= 0) { this.pushCond(op & 15); c.set(t1); this.setReg8(m.rmReg, t1); return; }
      this.effAddr(m);
      this.access(k, i.eip, 1, true, i.seg);
      this.pushCond(op & 15); c.set(t1);
      this.storeAt(1, t1);
      return;
    }
    if (op >= 0x140 && op <= 0x14f) { // CMOVcc Gv,Ev: the source is read (and may fault) either way
      this.readE(i, k, 4); c.set(t1);
      this.getReg(i.m!.reg); c.set(t0);
      c.get(t1).get(t0);
      this.pushCond(op & 15);
      c.op(Op.Select).set(t1);
      this.setReg(i.m!.reg, t1);
      return;
    }
    if (op >= 0xb0 && op <= 0xb7) { c.i32(i.imm).set(t1); this.setReg8(op & 7, t1); return; }
    if (op >= 0xb8 && op <= 0xbf) { c.i32(i.imm).set(t1); this.setReg(op & 7, t1); return; }
    const m = i.m;
    switch (op) {
      case 0x68: c.i32(i.imm).set(t1); this.push(i, k, t1); return;
      case 0x6a: c.i32(s8(i.imm)).set(t1); this.push(i, k, t1); return;
      case 0x69: case 0x6b: case 0x1af: { // IMUL Gv,Ev(,imm)
        this.readE(i, k, 4); c.set(t0);
        if (op === 0x1af) this.getReg(m!.reg); else c.i32(op === 0x6b ? s8(i.imm) : i.imm);
        c.set(t1);
        this.mul(true, t0, t1, false);
        this.setReg(m!.reg, this.fr);
        return;
      }
      case 0x80: case 0x81: case 0x83: {
        const byte = op === 0x80, size = byte ? 1 : 4, msb = byte ? 7 : 31;
        const imm = byte ? i.imm & 0xff : op === 0x83 ? s8(i.imm) : i.imm;
        const aop = m!.reg;
        if (m!.rmReg >= 0) {
          if (byte) this.getReg8(m!.rmReg); else this.getReg(m!.rmReg);
          c.set(this.fa); c.i32(imm).set(this.fb);
          this.alu(aop, msb);
          if (aop !== 7) { if (byte) this.setReg8(m!.rmReg, this.fr); else this.setReg(m!.rmReg, this.fr); }
          return;
        }
        this.effAddr(m!);
        this.access(k, i.eip, size, aop !== 7, i.seg);
        this.loadAt(size); c.set(this.fa); c.i32(imm).set(this.fb);
        this.alu(aop, msb);
        if (aop !== 7) this.storeAt(size, this.fr);
        return;
      }
      case 0x84: case 0x85: case 0xa8: case 0xa9: case 0xf6: case 0xf7:
        if ((op === 0xf6 || op === 0xf7) && m!.reg >= 2) { this.grp3(i, k); return; }
        {
          const byte = op === 0x84 || op === 0xa8 || op === 0xf6, size = byte ? 1 : 4;
          if (op === 0xa8 || op === 0xa9) { if (byte) this.getReg8(0); else this.getReg(0); }
          else this.readE(i, k, size);
          if (op === 0x84 || op === 0x85) { if (byte) this.getReg8(m!.reg); else this.getReg(m!.reg); }
          else c.i32(byte ? i.imm & 0xff : i.imm);
          c.op(Op.I32And).set(this.fr);
          this.setFlags(LF_LOGIC, byte ? 7 : 31, FLAGS_ARITH);
          return;
        }
      case 0x88: case 0x89: { // MOV Ev,Gv
        const byte = op === 0x88;
        if (byte) this.getReg8(m!.reg); else this.getReg(m!.reg);
        c.set(t1);
        this.writeE(i, k, byte ? 1 : 4, t1);
        return;
      }
      case 0x8a: case 0x8b: {
        const byte = op === 0x8a;
        this.readE(i, k, byte ? 1 : 4); c.set(t1);
        if (byte) this.setReg8(m!.reg, t1); else this.setReg(m!.reg, t1);
        return;
      }
      case 0x8d: this.effAddr(m!); this.setReg(m!.reg, this.ea); return;
      case 0xa0: case 0xa1: // MOV AL/EAX, moffs
        this.readE(i, k, op === 0xa0 ? 1 : 4); c.set(t1);
        if (op === 0xa0) this.setReg8(0, t1); else this.setReg(0, t1);
        return;
      case 0xa2: case 0xa3: // MOV moffs, AL/EAX
        if (op === 0xa2) this.getReg8(0); else this.getReg(0);
        c.set(t1);
        this.writeE(i, k, op === 0xa2 ? 1 : 4, t1);
        return;
      case 0x90: return;
      case 0xc9: this.leave(i, k); return;
      case 0xfc: case 0xfd: this.setFlagBit(FLAG_DF, op === 0xfd); return; // CLD STD
      case 0xfa: this.cli(i, k); return;
      case 0xd3: case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: this.shiftVar(i, k); return;
      case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: case 0x1ba: this.bitTest(i, k); return;
      case 0x98: this.getReg(0); c.i32(16).op(Op.I32Shl).i32(16).op(Op.I32ShrS).set(t1); this.setReg(0, t1); return; // CWDE
      case 0x99: this.getReg(0); c.i32(31).op(Op.I32ShrS).set(t1); this.setReg(2, t1); return; // CDQ
      case 0xc0: case 0xc1: case 0xd1: this.shiftImm(i, k); return;
      case 0xc2: case 0xc3: {
        this.pop(i, k, t1);
        if (op === 0xc2 && i.imm) {
          this.getReg(ESP); c.i32(i.imm).op(Op.I32Add).set(t0); this.setReg(ESP, t0);
        }
        this.computedJump(k + 1, t1);
        return;
      }
      case 0xc6: case 0xc7: c.i32(op === 0xc6 ? i.imm & 0xff : i.imm).set(t1); this.writeE(i, k, op === 0xc6 ? 1 : 4, t1); return;
      case 0xe8:
        c.i32(next).set(t1); this.push(i, k, t1);
        if (i.thunk !== undefined) this.inlineThunk(jumpTarget(i)!, i.thunk, k, t1, next);
        this.jumpTo(k + 1, jumpTarget(i)!);
        return;
      case 0xe9: case 0xeb: this.jumpTo(k + 1, jumpTarget(i)!); return;
      case 0xfe: case 0xff: {
        const r = m!.reg;
        if (r <= 1) {
          const byte = op === 0xfe, size = byte ? 1 : 4;
          if (m!.rmReg >= 0) {
            if (byte) this.getReg8(m!.rmReg); else this.getReg(m!.rmReg);
            c.set(this.fa);
            this.incDec(r === 1, byte ? 7 : 31);
            if (byte) this.setReg8(m!.rmReg, this.fr); else this.setReg(m!.rmReg, this.fr);
            return;
          }
          this.effAddr(m!);
          this.access(k, i.eip, size, true, i.seg);
          this.loadAt(size); c.set(this.fa);
          this.incDec(r === 1, byte ? 7 : 31);
          this.storeAt(size, this.fr);
          return;
        }
        this.readE(i, k, 4); c.set(t0);
        if (r === 6) { this.push(i, k, t0); return; }
        if (r === 2) { c.i32(next).set(t1); this.push(i, k, t1); }
        this.computedJump(k + 1, t0);
        return;
      }
      case 0x87: case 0x1b1: this.exchange(i, k); return;
      case 0xa4: case 0xa5: case 0xaa: case 0xab: if (i.rep) this.repString(i, k); else this.string(i, k); return;
      case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: {
        const size = op & 1 ? 2 : 1;
        this.readE16or8(i, k, size);
        if (op === 0x1be) c.op(Op.I32Extend8S);
        if (op === 0x1bf) c.op(Op.I32Extend16S);
        c.set(t1);
        this.setReg(m!.reg, t1);
        return;
      }
      default: throw new Error(`translator: no emitter for opcode ${op.toString(16)}`);
    }
  }

  /** The 16-bit forms translated (decode admits no others): MOV Ew,Gw, MOV Gw,Ew, TEST Ew,Gw. */
  private insn16(i: Insn, k: number): void {
    const c = this.c, m = i.m!, t1 = this.t[1];
    switch (i.op) {
      case 0x89: this.getReg(m.reg); c.set(t1); this.writeE(i, k, 2, t1); return;
      case 0x8b: this.readE16or8(i, k, 2); c.set(t1); this.setReg16(m.reg, t1); return;
      case 0x85:
        this.readE16or8(i, k, 2); this.getReg(m.reg);
        c.op(Op.I32And).set(this.fr);
        this.setFlags(LF_LOGIC, 15, FLAGS_ARITH);
        return;
      default: throw new Error(`translator: no 16-bit emitter for opcode ${i.op.toString(16)}`);
    }
  }

  /**
   * XCHG Ev,Gv (0x87) and CMPXCHG Ev,Gv (0F B1), 32-bit: on memory, an atomic read-modify-write
   * (XCHG is locked on its own; CMPXCHG is too here, with or without LOCK, as hardware may).
   * Wasm atomics need an aligned operand: an unaligned one is left to the interpreter.
   */
  private exchange(i: Insn, k: number): void {
    const c = this.c, m = i.m!, t0 = this.t[0], t1 = this.t[1];
    const cmp = i.op === 0x1b1;
    if (m.rmReg >= 0) {
      this.getReg(m.rmReg); c.set(t0); // the destination's value
      if (!cmp) { this.getReg(m.reg); c.set(t1); this.setReg(m.rmReg, t1); this.setReg(m.reg, t0); return; }
      this.getReg(0); c.set(this.fa); c.get(t0).set(this.fb);
      this.alu(7, 31); // CMP EAX, dest
      // Equal: dest = source; else EAX = dest (which is written with its own value).
      c.get(this.fa).get(this.fb).op(Op.I32Eq).if_();
      this.getReg(m.reg); c.set(t1); this.setReg(m.rmReg, t1);
      c.op(Op.Else);
      this.setReg(0, t0);
      c.end();
      return;
    }
    this.effAddr(m);
    this.access(k, i.eip, 4, true, i.seg);
    // (Unaligned here is unaligned every time, as a rule: the interpreter runs the one
    // instruction and looks for translated code right after it.)
    c.get(this.te).i32(3).op(Op.I32And).if_();
    this.exitTo(k, i.eip, true, true);
    c.end();
    if (!cmp) {
      c.get(this.te);
      this.getReg(m.reg);
      c.atomic(AtomicOp.I32Xchg, MM.RAM_BASE).set(t0);
      this.setReg(m.reg, t0);
      return;
    }
    // The value seen by the compare-and-swap is the destination's (EAX's, when they were equal).
    c.get(this.te);
    this.getReg(0); c.tee(this.fa);
    this.getReg(m.reg);
    c.atomic(AtomicOp.I32Cmpxchg, MM.RAM_BASE).set(this.fb);
    this.alu(7, 31);
    c.get(this.fa).get(this.fb).op(Op.I32Ne).if_();
    this.setReg(0, this.fb);
    c.end();
  }

  /**
   * MOVS or STOS without REP: one element from [ESI] (MOVS) to ES:[EDI], ESI and EDI
   * stepped by the element's size, down if DF is set. Both accesses are checked before the
   * store: a fault leaves the instruction to the interpreter with nothing done.
   */
  private string(i: Insn, k: number): void {
    const c = this.c, size = i.op & 1 ? 4 : 1, movs = i.op <= 0xa5, v = this.t[1], d = this.t[0];
    if (movs) {
      this.getReg(6); c.set(this.ea);
      this.access(k, i.eip, size, false);
      this.loadAt(size); c.set(v);
    } else {
      if (size === 1) this.getReg8(0); else this.getReg(0);
      c.set(v);
    }
    this.getReg(7); c.set(this.ea);
    this.access(k, i.eip, size, true, 0); // ES (its base added, if any)
    this.storeAt(size, v);
    // The step: -size if DF, else size.
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(10).op(Op.I32ShrU).i32(1).op(Op.I32And).i32(-2 * size).op(Op.I32Mul).i32(size).op(Op.I32Add).set(d);
    if (movs) { this.getReg(6); c.get(d).op(Op.I32Add).set(v); this.setReg(6, v); }
    this.getReg(7); c.get(d).op(Op.I32Add).set(v); this.setReg(7, v);
  }

  /**
   * REP MOVS or REP STOS (bytes, dwords) as the interpreter's bulk path does them: upwards
   * (DF clear), ES based at 0, at most REP_CHUNK elements (more take several interpreter
   * steps), dwords aligned. The pages are checked first, chunk by chunk as the copy goes
   * (each within one source and one destination page): every one must be RAM this CPL may
   * read or write without a page fault or a code page in the way, and no source chunk may
   * overlap its destination from below (the element-by-element copy would repeat bytes).
   * Then they are copied or filled with the same chunks. Anything else is the interpreter's:
   * it runs this one instruction and comes back right after it. Flags are untouched.
   */
  private repString(i: Insn, k: number): void {
    const c = this.c, size = i.op & 1 ? 4 : 1, movs = i.op <= 0xa5;
    const a = this.t[0], b = this.t[1], rem = this.t[2], cnt = this.t[3], bytes = this.fa, dh = this.fr, sh = this.fb;
    const ECX = 1, ESI = 6, EDI = 7;
    c.block(); // done
    this.getReg(ECX); c.op(Op.I32Eqz).brIf(0);
    this.getReg(ECX); c.i32(size === 4 ? 2 : 0).op(Op.I32Shl).set(bytes);
    // The interpreter's: DF set, more than REP_CHUNK, an unaligned dword, ES based or limited, a wrap past 4 GiB.
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(0x400).op(Op.I32And);
    this.getReg(ECX); c.i32(MM.REP_CHUNK).op(Op.I32GtU, Op.I32Or);
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_SEG_PERM).i32(MM.SEGP_BIG_WRITE).op(Op.I32And).op(Op.I32Eqz, Op.I32Or);
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_SEG_BASE).op(Op.I32Or);
    this.getReg(EDI); c.get(bytes).op(Op.I32Add); this.getReg(EDI); c.op(Op.I32LtU, Op.I32Or);
    if (size === 4) { this.getReg(EDI); c.i32(3).op(Op.I32And, Op.I32Or); }
    if (movs) {
      this.getReg(ESI); c.get(bytes).op(Op.I32Add); this.getReg(ESI); c.op(Op.I32LtU, Op.I32Or);
      if (size === 4) { this.getReg(ESI); c.i32(3).op(Op.I32And, Op.I32Or); }
    }
    c.if_();
    this.exitTo(k, i.eip, true, true);
    c.end();
    for (const pass of ['check', 'do']) {
      this.getReg(EDI); c.set(a);
      if (movs) { this.getReg(ESI); c.set(b); }
      c.get(bytes).set(rem);
      c.loop();
      // This chunk: up to the end of the destination page (and of the source page), at most what remains.
      c.i32(0x1000).get(a).i32(0xfff).op(Op.I32And).op(Op.I32Sub).set(cnt);
      if (movs) this.minInto(cnt, () => c.i32(0x1000).get(b).i32(0xfff).op(Op.I32And).op(Op.I32Sub));
      this.minInto(cnt, () => c.get(rem));
      c.get(a).i32(12).op(Op.I32ShrU).i32(2).op(Op.I32Shl).mem(Op.I32Load, this.tlb).set(dh);
      if (movs) c.get(b).i32(12).op(Op.I32ShrU).i32(2).op(Op.I32Shl).mem(Op.I32Load, this.tlb).set(sh);
      if (pass === 'check') {
        c.get(dh).i32(this.wmask).op(Op.I32And).i32(this.wmask).op(Op.I32Ne);
        if (movs) c.get(sh).i32(this.rmask).op(Op.I32And).i32(this.rmask).op(Op.I32Ne, Op.I32Or);
        c.if_();
        this.exitTo(k, i.eip, true, true);
        c.end();
      }
      c.get(dh).i32(0xfffff000 | 0).op(Op.I32And).get(a).i32(0xfff).op(Op.I32And).op(Op.I32Or).set(dh);
      if (movs) {
        c.get(sh).i32(0xfffff000 | 0).op(Op.I32And).get(b).i32(0xfff).op(Op.I32And).op(Op.I32Or).set(sh);
        if (pass === 'check') {
          // Overlap from below: sh < dh < sh + cnt.
          c.get(dh).get(sh).op(Op.I32GtU).get(dh).get(sh).get(cnt).op(Op.I32Add).op(Op.I32LtU, Op.I32And).if_();
          this.exitTo(k, i.eip, true, true);
          c.end();
        } else {
          c.get(dh).i32(MM.RAM_BASE).op(Op.I32Add).get(sh).i32(MM.RAM_BASE).op(Op.I32Add).get(cnt).op(Op.MemoryPrefix).op(0x0a, 0, 0);
        }
        c.get(b).get(cnt).op(Op.I32Add).set(b);
      } else if (pass === 'do') this.fill(size, dh, cnt);
      c.get(a).get(cnt).op(Op.I32Add).set(a);
      c.get(rem).get(cnt).op(Op.I32Sub).tee(rem).brIf(0);
      c.end(); // loop
    }
    if (movs) { this.getReg(ESI); c.get(bytes).op(Op.I32Add).set(a); this.setReg(ESI, a); }
    this.getReg(EDI); c.get(bytes).op(Op.I32Add).set(a); this.setReg(EDI, a);
    c.i32(0).set(a); this.setReg(ECX, a);
    c.end(); // done
  }
  /** Local l = min(l, the value `push` pushes), unsigned. */
  private minInto(l: number, push: () => void): void {
    const c = this.c;
    c.get(l); push(); c.get(l); push(); c.op(Op.I32LtU, Op.Select).set(l);
  }
  /** STOS's chunk: `cnt` bytes at RAM offset `at` from AL (bytes) or EAX (dwords; a repeated byte is a fill too). */
  private fill(size: number, at: number, cnt: number): void {
    const c = this.c, v = this.t[1], end = this.ea;
    if (size === 1) { c.get(at).i32(MM.RAM_BASE).op(Op.I32Add); this.getReg8(0); c.get(cnt).op(Op.MemoryPrefix).op(0x0b, 0); return; }
    this.getReg(0); c.set(v);
    c.get(v).get(v).i32(0xff).op(Op.I32And).i32(0x01010101).op(Op.I32Mul).op(Op.I32Eq).if_();
    c.get(at).i32(MM.RAM_BASE).op(Op.I32Add).get(v).get(cnt).op(Op.MemoryPrefix).op(0x0b, 0);
    c.op(Op.Else);
    c.get(at).get(cnt).op(Op.I32Add).set(end);
    c.loop();
    c.get(at).get(v).mem(Op.I32Store, MM.RAM_BASE);
    c.get(at).i32(4).op(Op.I32Add).tee(at).get(end).op(Op.I32LtU).brIf(0);
    c.end();
    c.end();
  }

  /** DIV E (32-bit): EDX:EAX / E. A zero divisor or a quotient too wide (#DE) is left to the interpreter. */
  private div32(i: Insn, k: number): void {
    const c = this.c, t0 = this.t[0], q = this.t[1];
    this.readE(i, k, 4); c.set(t0);
    // #DE unless EDX < divisor (which also rules out 0).
    this.getReg(2); c.get(t0).op(Op.I32GeU).if_();
    this.exitTo(k, i.eip, true);
    c.end();
    const dividend = () => { this.getReg(2); c.op(Op.I64ExtendI32U).i64(32n).op(Op.I64Shl); this.getReg(0); c.op(Op.I64ExtendI32U, Op.I64Or); };
    dividend(); c.get(t0).op(Op.I64ExtendI32U, Op.I64DivU, Op.I32WrapI64).set(q);
    dividend(); c.get(t0).op(Op.I64ExtendI32U, Op.I64RemU, Op.I32WrapI64).set(t0);
    this.setReg(0, q);
    this.setReg(2, t0);
  }

  /** Push the 8- or 16-bit E operand (MOVZX/MOVSX sources). */
  private readE16or8(i: Insn, k: number, size: number): void {
    const m = i.m!;
    if (m.rmReg >= 0) {
      if (size === 1) this.getReg8(m.rmReg);
      else this.c.get(this.reg(m.rmReg)).i32(0xffff).op(Op.I32And);
      return;
    }
    this.readE(i, k, size);
  }

  private writeE(i: Insn, k: number, size: number, l: number): void {
    const m = i.m!;
    if (m.rmReg >= 0) { if (size === 1) this.setReg8(m.rmReg, l); else if (size === 2) this.setReg16(m.rmReg, l); else this.setReg(m.rmReg, l); return; }
    this.effAddr(m);
    this.access(k, i.eip, size, true, i.seg);
    this.storeAt(size, l);
  }

  /** Push local l on the 32-bit stack (ESP updated after the store). */
  private push(i: Insn, k: number, l: number): void {
    const c = this.c;
    this.getReg(ESP); c.i32(4).op(Op.I32Sub).set(this.ea);
    this.access(k, i.eip, 4, true);
    this.storeAt(4, l);
    this.setReg(ESP, this.ea);
  }
  /**
   * After CALL pushed the return address (local l) for a thunk MOV r, [ESP]; RET at
   * `target`, instruction k of the block: if the thunk's bytes are still there and a fetch
   * could read them, do the MOV and the RET and go on at `next`; else fall out (the call
   * goes to the thunk). The MOV reads the word the CALL just wrote; the RET pops it.
   */
  private inlineThunk(target: number, r: number, k: number, l: number, next: number): void {
    const c = this.c;
    c.block();
    this.leaveUnlessFetched(target, -1, thunkWord(r));
    this.setReg(r, l);
    c.get(this.ea).i32(4).op(Op.I32Add).set(this.ea);
    this.setReg(ESP, this.ea);
    this.jumpTo(k + 3, next);
    c.end();
  }
  /**
   * Before instruction k of the block, whose last bytes are on the next page: unless a fetch
   * there would read them as they were when it was translated (mapped, executable at this
   * CPL, the same bytes), leave it to the interpreter, which looks for translated code after it.
   */
  private tailCheck(i: Insn, k: number): void {
    const c = this.c, t = i.tail!;
    c.block();
    c.block();
    this.leaveUnlessFetched((this.pageBase + 0x1000) >>> 0, t.len === 4 ? -1 : (1 << (8 * t.len)) - 1, t.word);
    c.br(1);
    c.end();
    this.exitTo(k, i.eip, true, true);
    c.end();
  }
  /**
   * Branch out of the enclosing block unless a fetch at this CPL could read the word at
   * constant linear address `linear` (within one page) through the TLB as it is now, and its
   * bits in `mask` are `word`: code on another page that the page's JIT_PAGE_GEN word does
   * not keep fresh.
   */
  private leaveUnlessFetched(linear: number, mask: number, word: number): void {
    const c = this.c, e = this.t[0];
    c.i32(0).mem(Op.I32Load, this.tlb + ((linear >>> 12) << 2)).tee(e).i32(this.xmask | TLB_NX).op(Op.I32And).i32(this.xmask).op(Op.I32Ne).brIf(0);
    c.get(e).i32(0xfffff000 | 0).op(Op.I32And).mem(Op.I32Load, MM.RAM_BASE + (linear & 0xfff));
    if (mask !== -1) c.i32(mask | 0).op(Op.I32And);
    c.i32(word | 0).op(Op.I32Ne).brIf(0);
  }
  /** Pop into local l: from [ESP], or (LEAVE) from [`from`]; ESP ends 4 above where it read. */
  private pop(i: Insn, k: number, l: number, from = ESP): void {
    const c = this.c;
    this.getReg(from); c.set(this.ea);
    this.access(k, i.eip, 4, false);
    this.loadAt(4); c.set(l);
    c.get(this.ea).i32(4).op(Op.I32Add).set(this.ea);
    this.setReg(ESP, this.ea);
  }

  /**
   * Continue at a constant target after `k` instructions of this block: to its block in this
   * function (a branch forward, through the dispatch loop back), or leave.
   */
  private jumpTo(k: number, target: number): void {
    const c = this.c, b = this.index.get(target);
    if (b === undefined) { this.exitTo(k, target); return; }
    this.flushFlags();
    c.get(this.ret).i32(k).op(Op.I32Add).set(this.ret);
    // Forward: branch to the block's code (the end of its `block`); backward: through the dispatch loop.
    if (b > this.cur) { c.br(c.nest - this.codeNest + b - this.cur - 1); return; }
    c.i32(b).set(this.next);
    c.br(c.nest - this.loopNest);
  }
  /** Continue at the EIP in local `l` after `k` instructions of this block: to its block if the function has it (findBlock), or leave. */
  private computedJump(k: number, l: number): void {
    const c = this.c;
    this.flushFlags();
    c.get(this.ret).i32(k).op(Op.I32Add).set(this.ret);
    c.get(l).set(this.dt);
    c.i32(this.blocks.length).set(this.next);
    c.br(c.nest - this.loopNest);
  }
  /** Dispatch entry n: a binary search of the blocks' EIPs for local dt; leave if none is it. */
  private findBlock(): void {
    const c = this.c;
    this.pending = null;
    const sorted = this.blocks.map((b, k) => [b.eip >>> 0, k] as const).sort((a, b) => a[0] - b[0]);
    const search = (lo: number, hi: number): void => {
      if (hi - lo <= 4) {
        for (let i = lo; i < hi; i++) {
          c.get(this.dt).i32(sorted[i][0] | 0).op(Op.I32Eq).if_();
          c.i32(sorted[i][1]).set(this.next).br(c.nest - this.loopNest);
          c.end();
        }
        return;
      }
      const mid = (lo + hi) >> 1;
      c.get(this.dt).i32(sorted[mid][0] | 0).op(Op.I32LtU).if_();
      search(lo, mid);
      c.end();
      search(mid, hi);
    };
    search(0, sorted.length);
    this.exitToLocal(0, this.dt);
  }

  /** F6/F7 /2 NOT, /3 NEG, F7 /4 MUL. */
  private grp3(i: Insn, k: number): void {
    const c = this.c, m = i.m!, r = m.reg, byte = i.op === 0xf6, size = byte ? 1 : 4, msb = byte ? 7 : 31;
    const t0 = this.t[0], t1 = this.t[1];
    if (r === 6) { this.div32(i, k); return; }
    if (r === 4) { // MUL EDX:EAX = EAX * E
      this.readE(i, k, 4); c.set(t1);
      this.getReg(0); c.set(t0);
      this.mul(false, t0, t1, true);
      return;
    }
    const mem = m.rmReg < 0;
    if (mem) { this.effAddr(m); this.access(k, i.eip, size, true, i.seg); this.loadAt(size); }
    else if (byte) this.getReg8(m.rmReg); else this.getReg(m.rmReg);
    c.set(t0);
    if (r === 2) { c.get(t0).i32(-1).op(Op.I32Xor).set(t1); }
    else {
      c.i32(0).set(this.fa); c.get(t0).set(this.fb);
      c.i32(0).get(t0).op(Op.I32Sub).set(this.fr);
      this.setFlags(LF_SUB, msb, FLAGS_ARITH);
      c.get(this.fr).set(t1);
    }
    if (mem) this.storeAt(size, t1);
    else if (byte) this.setReg8(m.rmReg, t1); else this.setReg(m.rmReg, t1);
  }

  /**
   * 32-bit multiply of locals a and b: signed (IMUL, low half to fr) or unsigned MUL
   * (EDX:EAX). CF = OF = the high half matters; SZP from the low half, AF 0.
   */
  private mul(signed: boolean, a: number, b: number, toEdxEax: boolean): void {
    const c = this.c, lo = this.fr, hi = this.t[2], f = this.t[3];
    const ext = signed ? Op.I64ExtendI32S : Op.I64ExtendI32U;
    c.get(a).op(ext).get(b).op(ext).op(Op.I64Mul, Op.I32WrapI64).set(lo);
    c.get(a).op(ext).get(b).op(ext).op(Op.I64Mul).i64(32n).op(Op.I64ShrU, Op.I32WrapI64).set(hi);
    // CF = OF = the high half is not just the low half's extension.
    c.i32(FLAG_CF | FLAG_OF).i32(0).get(hi);
    if (signed) c.get(lo).i32(31).op(Op.I32ShrS); else c.i32(0);
    c.op(Op.I32Ne, Op.Select).set(f);
    this.eagerCFOF(f);
    this.setFlags(LF_LOGIC, 31, FLAGS_ARITH & ~(FLAG_CF | FLAG_OF));
    if (toEdxEax) { this.setReg(0, lo); this.setReg(2, hi); }
  }

  /**
   * Set flags `bits` eagerly from local f (those bits of it) while the other flags keep their
   * (lazy) values, as the interpreter's setCFOnly and setCFOF: EFLAGS gets them, and the lazy
   * record no longer holds them.
   */
  private eagerOnly(bits: number, f: number): void {
    const c = this.c;
    c.i32(0).i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(~bits).op(Op.I32And).get(f).op(Op.I32Or)
      .mem(Op.I32Store, this.cpu + MM.R_EFLAGS);
    if (this.pending) this.pending.mask &= ~bits;
    else {
      c.i32(0).i32(0).mem(Op.I32Load, this.cpu + MM.R_LF_MASK).i32(~bits).op(Op.I32And)
        .mem(Op.I32Store, this.cpu + MM.R_LF_MASK);
    }
  }

  /** 0F A3/AB/B3/BB (register operands), 0F BA /4-7 (Ev, imm8): BT BTS BTR BTC of 32 bits. CF = the bit. */
  private bitTest(i: Insn, k: number): void {
    const c = this.c, m = i.m!, t0 = this.t[0], t1 = this.t[1], f = this.t[3];
    const kind = i.op === 0x1ba ? m.reg - 4 : [0x1a3, 0x1ab, 0x1b3, 0x1bb].indexOf(i.op); // 0 BT, 1 BTS, 2 BTR, 3 BTC
    if (i.op === 0x1ba) c.i32(i.imm & 31); else { this.getReg(m.reg); c.i32(31).op(Op.I32And); }
    c.set(t1);
    const mem = m.rmReg < 0;
    if (mem) { this.effAddr(m); this.access(k, i.eip, 4, kind !== 0, i.seg); this.loadAt(4); } else this.getReg(m.rmReg);
    c.set(t0);
    c.get(t0).get(t1).op(Op.I32ShrU).i32(1).op(Op.I32And).set(f);
    if (kind) {
      c.get(t0).i32(1).get(t1).op(Op.I32Shl);
      if (kind === 1) c.op(Op.I32Or); else if (kind === 3) c.op(Op.I32Xor); else c.i32(-1).op(Op.I32Xor, Op.I32And);
      c.set(t0);
      if (mem) this.storeAt(4, t0); else this.setReg(m.rmReg, t0);
    }
    this.eagerOnly(FLAG_CF, f);
  }

  /** C9 LEAVE (32-bit, the stack flat as jitEnter checked): ESP = EBP + 4, EBP = [EBP]. */
  private leave(i: Insn, k: number): void {
    this.pop(i, k, this.t[1], EBP);
    this.setReg(EBP, this.t[1]);
  }

  /** FA CLI where CPL <= IOPL (else the interpreter's: #GP, or VIF with VME/PVI). */
  private cli(i: Insn, k: number): void {
    const c = this.c;
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_CPL);
    c.i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS).i32(12).op(Op.I32ShrU).i32(3).op(Op.I32And);
    c.op(Op.I32GtU).if_();
    this.exitTo(k, i.eip, true);
    c.end();
    this.setFlagBit(FLAG_IF, false);
  }

  /** Set or clear an EFLAGS bit that is never lazy (DF, IF). */
  private setFlagBit(bit: number, on: boolean): void {
    const c = this.c;
    c.i32(0).i32(0).mem(Op.I32Load, this.cpu + MM.R_EFLAGS);
    if (on) c.i32(bit).op(Op.I32Or); else c.i32(~bit).op(Op.I32And);
    c.mem(Op.I32Store, this.cpu + MM.R_EFLAGS);
  }

  /**
   * D3 SHL SHR SAR Ev, CL and 0F A4/A5 SHLD, 0F AC/AD SHRD (imm8 or CL), 32-bit, as the
   * interpreter's shift and SHLD32/SHRD32: a count of 0 (mod 32) changes nothing; else CF and
   * OF eager, SF ZF PF lazy from the result, AF clear. The flag record is in memory after it.
   */
  private shiftVar(i: Insn, k: number): void {
    const c = this.c, m = i.m!, op = i.op, t0 = this.t[0], n = this.t[1], src = this.t[2], f = this.t[3];
    const kind = op === 0xd3 ? m.reg : op <= 0x1a5 ? 8 : 9; // 4 SHL, 5 SHR, 7 SAR, 8 SHLD, 9 SHRD
    const mem = m.rmReg < 0;
    if (mem) { this.effAddr(m); this.access(k, i.eip, 4, true, i.seg); this.loadAt(4); } else this.getReg(m.rmReg);
    c.set(t0);
    if (op === 0x1a4 || op === 0x1ac) c.i32(i.imm & 31); else { this.getReg(1); c.i32(31).op(Op.I32And); }
    c.set(n);
    if (kind >= 8) { this.getReg(m.reg); c.set(src); }
    this.commitFlags();
    c.get(n).if_();
    const msb = () => c.i32(31).op(Op.I32ShrU);
    switch (kind) {
      case 4: // SHL: CF = the last bit out, OF = MSB ^ CF
        c.get(t0).get(n).op(Op.I32Shl).set(this.fr);
        c.get(t0).i32(32).get(n).op(Op.I32Sub, Op.I32ShrU).i32(1).op(Op.I32And).set(f);
        c.get(this.fr); msb(); c.get(f).op(Op.I32Xor);
        break;
      case 5: // SHR: OF = the operand's MSB for a count of 1, else 0
        c.get(t0).get(n).op(Op.I32ShrU).set(this.fr);
        c.get(t0).get(n).i32(1).op(Op.I32Sub, Op.I32ShrU).i32(1).op(Op.I32And).set(f);
        c.get(t0); msb(); c.get(n).i32(1).op(Op.I32Eq, Op.I32And);
        break;
      case 7: // SAR: OF = 0
        c.get(t0).get(n).op(Op.I32ShrS).set(this.fr);
        c.get(t0).get(n).i32(1).op(Op.I32Sub, Op.I32ShrS).i32(1).op(Op.I32And).set(f);
        c.i32(0);
        break;
      default: { // SHLD / SHRD: OF = the MSB changed
        const left = kind === 8;
        c.get(t0).get(n).op(left ? Op.I32Shl : Op.I32ShrU);
        c.get(src).i32(32).get(n).op(Op.I32Sub, left ? Op.I32ShrU : Op.I32Shl, Op.I32Or).set(this.fr);
        if (left) c.get(t0).i32(32).get(n).op(Op.I32Sub, Op.I32ShrU);
        else c.get(t0).get(n).i32(1).op(Op.I32Sub, Op.I32ShrU);
        c.i32(1).op(Op.I32And).set(f);
        c.get(this.fr).get(t0).op(Op.I32Xor); msb();
      }
    }
    c.i32(11).op(Op.I32Shl).get(f).op(Op.I32Or).set(f);
    this.eagerCFOF(f);
    this.setFlags(LF_LOGIC, 31, FLAGS_SZP);
    this.commitFlags();
    c.get(this.fr).set(t0);
    c.end();
    // (With a count of 0 the same value goes back: the interpreter's SHLD/SHRD write nothing
    // then, but the page was checked writable and is RAM without translated code, so no one
    // can tell.)
    if (mem) this.storeAt(4, t0); else this.setReg(m.rmReg, t0);
  }

  /** C0/C1 (imm8), D1 (1): SHL SHR SAR of Eb/Ev, ROL ROR of Ev. */
  private shiftImm(i: Insn, k: number): void {
    const c = this.c, m = i.m!, r = m.reg, byte = i.op === 0xc0, size = byte ? 1 : 4, msb = byte ? 7 : 31;
    const count = (i.op === 0xd1 ? 1 : i.imm) & 31;
    const t0 = this.t[0], f = this.t[3];
    const mem = m.rmReg < 0;
    if (mem) { this.effAddr(m); this.access(k, i.eip, size, true, i.seg); this.loadAt(size); }
    else if (byte) this.getReg8(m.rmReg); else this.getReg(m.rmReg);
    c.set(t0);
    const bits = msb + 1;
    if (r <= 1) { // ROL / ROR (32-bit): CF and OF eager, the other flags keep their (lazy) values
      c.get(t0).i32(count).op(r === 0 ? Op.I32Rotl : Op.I32Rotr).set(this.fr);
      if (r === 0) { // CF = bit 0 of the result, OF = MSB ^ CF
        c.get(this.fr).i32(1).op(Op.I32And).set(f);
        c.get(this.fr).i32(31).op(Op.I32ShrU).get(f).op(Op.I32Xor);
      } else { // CF = MSB, OF = MSB ^ bit 30
        c.get(this.fr).i32(31).op(Op.I32ShrU).set(f);
        c.get(this.fr).i32(31).op(Op.I32ShrU).get(this.fr).i32(30).op(Op.I32ShrU).op(Op.I32Xor).i32(1).op(Op.I32And);
      }
      c.i32(11).op(Op.I32Shl).get(f).op(Op.I32Or).set(f);
      this.eagerOnly(FLAG_CF | FLAG_OF, f);
      if (mem) this.storeAt(size, this.fr); else this.setReg(m.rmReg, this.fr);
      return;
    }
    if (r === 4) { // SHL
      if (count > bits) { c.i32(0).set(this.fr); c.i32(0).set(f); }
      else {
        c.get(t0).i32(count).op(Op.I32Shl).set(this.fr);
        if (count === 32) { c.i32(0).set(this.fr); }
        if (byte) c.get(this.fr).i32(0xff).op(Op.I32And).set(this.fr);
        c.get(t0).i32(bits - count).op(Op.I32ShrU).i32(1).op(Op.I32And).set(f);
      }
      // OF = MSB(result) ^ CF
      c.get(this.fr).i32(msb).op(Op.I32ShrU).get(f).op(Op.I32Xor).i32(1).op(Op.I32And).i32(11).op(Op.I32Shl).get(f).op(Op.I32Or).set(f);
    } else if (r === 5) { // SHR
      c.get(t0).i32(count).op(Op.I32ShrU).set(this.fr);
      if (count > bits) c.i32(0).set(f);
      else c.get(t0).i32(count - 1).op(Op.I32ShrU).i32(1).op(Op.I32And).set(f);
      if (count === 1) c.get(t0).i32(msb).op(Op.I32ShrU).i32(1).op(Op.I32And).i32(11).op(Op.I32Shl).get(f).op(Op.I32Or).set(f);
    } else { // SAR
      const cc = count > msb ? msb + 1 : count;
      c.get(t0); if (byte) c.op(Op.I32Extend8S); c.set(t0);
      if (cc >= 32) c.get(t0).i32(31).op(Op.I32ShrS).set(this.fr);
      else c.get(t0).i32(cc).op(Op.I32ShrS).set(this.fr);
      if (byte) c.get(this.fr).i32(0xff).op(Op.I32And).set(this.fr);
      c.get(t0).i32(cc - 1).op(Op.I32ShrS).i32(1).op(Op.I32And).set(f);
    }
    this.eagerCFOF(f);
    this.setFlags(LF_LOGIC, msb, FLAGS_SZP);
    if (mem) this.storeAt(size, this.fr);
    else if (byte) this.setReg8(m.rmReg, this.fr); else this.setReg(m.rmReg, this.fr);
  }
}

/** The constant target of a direct jump or call, else null. */
function jumpTarget(i: Insn): number | null {
  const next = (i.eip + i.len) >>> 0;
  if ((i.op >= 0x70 && i.op <= 0x7f) || i.op === 0xeb) return (next + s8(i.imm)) >>> 0;
  if ((i.op >= 0x180 && i.op <= 0x18f) || i.op === 0xe8 || i.op === 0xe9) return (next + i.imm) >>> 0;
  return null;
}

// Which arithmetic flags an instruction reads, defines and leaves undefined. The baseline is
// the opcode table's undefFlags (engine-wasm/x86-table.ts); where one table entry covers
// several instructions (ModRM.reg groups) or the answer depends on the count, the SDM's
// rule for the exact instruction is used instead (see each override).
import { X86_TABLE } from '../../engine-wasm/x86-table';
import { ARITH, CF, PF, AF, ZF, SF, OF } from './layout';

export interface FlagFx {
  /** Flags whose value the instruction consumes. */
  reads: number;
  /** Flags it sets to a defined value. */
  writes: number;
  /** Flags it leaves undefined. */
  undef: number;
}

export const NO_FLAGS: FlagFx = { reads: 0, writes: 0, undef: 0 };

const TABLE_UNDEF = new Map(X86_TABLE.map((e) => [e.op, e.undefFlags ?? 0]));

/** undefFlags of a table entry (op: 0x00-0xFF one-byte, 0x100-0x1FF for 0F xx). */
export function tableUndef(op: number): number {
  const v = TABLE_UNDEF.get(op);
  if (v === undefined) throw new RangeError(`opcode ${op.toString(16)} is not in the table`);
  return v;
}

/** An instruction that writes all arithmetic flags, with the table's undefined ones. */
export function arith(op: number, reads = 0): FlagFx {
  const undef = tableUndef(op);
  return { reads, writes: ARITH & ~undef, undef };
}

/** Flags read by condition code cc (Jcc/SETcc/CMOVcc low nibble). */
export function conditionReads(cc: number): number {
  switch (cc >> 1) {
    case 0: return OF;
    case 1: return CF;
    case 2: return ZF;
    case 3: return CF | ZF;
    case 4: return SF;
    case 5: return PF;
    case 6: return SF | OF;
    default: return ZF | SF | OF;
  }
}

/**
 * F6/F7 group 3: the table has one mask (SF ZF AF PF, right for MUL/IMUL) for eight
 * instructions. SDM: TEST leaves AF undefined, NOT touches no flag, NEG defines all,
 * DIV/IDIV leave all six undefined.
 */
export function grp3Fx(reg: number): FlagFx {
  switch (reg) {
    case 0: case 1: return { reads: 0, writes: ARITH & ~AF, undef: AF };
    case 2: return NO_FLAGS;
    case 3: return { reads: 0, writes: ARITH, undef: 0 };
    case 4: case 5: return { reads: 0, writes: CF | OF, undef: SF | ZF | AF | PF };
    default: return { reads: 0, writes: 0, undef: ARITH };
  }
}

/**
 * Group 2 shifts and rotates with a known count (SDM "SAL/SAR/SHL/SHR" and "RCL/RCR/ROL/ROR"):
 * a masked count of 0 changes nothing; OF is defined only for a count of 1; rotates touch
 * only CF and OF; shifts leave AF undefined, and CF undefined when an 8/16-bit operand is
 * shifted by its width or more. The table's per-opcode mask (OF|AF, or AF for the
 * by-1 forms) is the count-blind superset of this.
 */
export function grp2Fx(reg: number, count: number, bits: 8 | 16 | 32): FlagFx {
  const c = count & 31;
  if (c === 0) return NO_FLAGS;
  const ofUndef = c === 1 ? 0 : OF;
  if (reg <= 1) return { reads: 0, writes: CF | (OF & ~ofUndef), undef: ofUndef };
  if (reg <= 3) return { reads: CF, writes: CF | (OF & ~ofUndef), undef: ofUndef };
  const cfUndef = bits < 32 && c >= bits ? CF : 0;
  const undef = AF | ofUndef | cfUndef;
  return { reads: 0, writes: ARITH & ~undef, undef };
}

/** SHLD/SHRD with a known count: like the shifts (SDM "SHLD"), nothing for a masked count of 0. */
export function shldFx(count: number): FlagFx {
  const c = count & 31;
  if (c === 0) return NO_FLAGS;
  const undef = AF | (c === 1 ? 0 : OF);
  return { reads: 0, writes: ARITH & ~undef, undef };
}

/** Apply an instruction's effect to the set of currently undefined flags. */
export function applyFx(undefNow: number, fx: FlagFx): number {
  return ((undefNow & ~fx.writes) | fx.undef) >>> 0;
}

export { CF, PF, AF, ZF, SF, OF, ARITH };

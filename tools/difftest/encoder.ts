// Byte-level x86 encoding helpers (32-bit code segment): ModRM/SIB with every base, index,
// scale and displacement combination, immediates and 16-bit addressing forms.

export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
export const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

/** A 32-bit memory operand: [base + index*2^scale + disp]. */
export interface Mem32 {
  base: number | null;
  index: number | null;
  scale: 0 | 1 | 2 | 3;
  disp: number;
  /** Displacement width in the encoding (the encoder widens 0 to 8 where the form needs one). */
  dispSize: 0 | 8 | 32;
  /** Use a SIB byte even when the form does not need one. */
  forceSib?: boolean;
  /** Scale bits to encode when there is no index (the CPU ignores them). */
  noIndexScale?: 0 | 1 | 2 | 3;
}

/** A 16-bit addressing form (used only under the 0x67 prefix): raw mod, rm and displacement. */
export interface Mem16 { mod: 0 | 1 | 2; rm: number; disp: number }

export function imm8(v: number): number[] { return [v & 0xff]; }
export function imm16(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff]; }
export function imm32(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }
export function immSize(v: number, bits: 8 | 16 | 32): number[] {
  return bits === 8 ? imm8(v) : bits === 16 ? imm16(v) : imm32(v);
}

export function modrmReg(reg: number, rm: number): number[] {
  check(reg, 'reg'); check(rm, 'rm');
  return [0xc0 | (reg << 3) | rm];
}

/** ModRM (+SIB) (+displacement) for a 32-bit memory operand. */
export function modrmMem(reg: number, m: Mem32): number[] {
  check(reg, 'reg');
  if (m.index === ESP) throw new RangeError('ESP cannot be an index register');
  let dispSize = m.dispSize;
  const needSib = m.forceSib || m.index !== null || m.base === ESP || (m.base === null && m.forceSib);
  if (m.base === null) {
    // No base: mod 00 with rm 101 (or SIB base 101) and a 32-bit displacement.
    if (!needSib) return [(reg << 3) | 5, ...imm32(m.disp)];
    const sib = ((m.index === null ? (m.noIndexScale ?? 0) : m.scale) << 6) | ((m.index ?? ESP) << 3) | 5;
    return [(reg << 3) | 4, sib, ...imm32(m.disp)];
  }
  // [ebp] with mod 00 means "disp32, no base": use a zero disp8 instead.
  if (dispSize === 0 && m.base === EBP) dispSize = 8;
  if (dispSize === 8 && (m.disp < -128 || m.disp > 127)) throw new RangeError(`disp8 out of range: ${m.disp}`);
  const mod = dispSize === 0 ? 0 : dispSize === 8 ? 1 : 2;
  const disp = dispSize === 0 ? [] : dispSize === 8 ? imm8(m.disp) : imm32(m.disp);
  if (!needSib) return [(mod << 6) | (reg << 3) | m.base, ...disp];
  const ss = m.index === null ? (m.noIndexScale ?? 0) : m.scale;
  const sib = (ss << 6) | ((m.index ?? ESP) << 3) | m.base;
  return [(mod << 6) | (reg << 3) | 4, sib, ...disp];
}

export function modrmMem16(reg: number, m: Mem16): number[] {
  check(reg, 'reg'); check(m.rm, 'rm');
  if (m.mod === 0 && m.rm === 6) return [(reg << 3) | 6, ...imm16(m.disp)];
  const disp = m.mod === 0 ? [] : m.mod === 1 ? imm8(m.disp) : imm16(m.disp);
  return [(m.mod << 6) | (reg << 3) | m.rm, ...disp];
}

/** Effective address of a 32-bit operand given register values (mod 2^32). */
export function effectiveAddress(m: Mem32, regs: (r: number) => number): number {
  let a = m.disp | 0;
  if (m.base !== null) a += regs(m.base);
  if (m.index !== null) a += Math.imul(regs(m.index), 1 << m.scale);
  return a >>> 0;
}

function check(r: number, what: string): void {
  if (!Number.isInteger(r) || r < 0 || r > 7) throw new RangeError(`bad ${what} field ${r}`);
}

// x87 sequences checked against the host CPU's own x87, at full 80-bit precision: each case
// starts with FNINIT (and maybe an FLDCW with a random precision and rounding control),
// loads operands of every memory format from the data area (random bytes: NaNs, infinities,
// denormals and odd 80-bit encodings come up too), runs arithmetic, compares, integer and
// BCD stores, FPREM/FSCALE/FXTRACT/FRNDINT/FSQRT, then stores what is left on the stack as
// m80 values (FSTP m80 is exact, so every one of the 80 bits is compared) and the status
// word in AX, and ends with FNINIT. All exceptions stay masked. The transcendental
// instructions are left out: pvlab computes them in double precision (fpu.ts).
import { CODE_BASE, DATA_BASE, FIXED_FLAGS, USER_FLAGS } from './layout';
import { Rng } from './prng';
import { caseSeed, type DiffCase } from './generator';

const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** ModRM + disp32 for [disp32] with reg field r. */
const mem = (r: number, addr: number) => [(r << 3) | 5, ...le32(addr)];

/** Operand region: [DATA_BASE + 0x100, +0x800), results at +0x900.. (all inside the compared area). */
const SRC = DATA_BASE + 0x100;
const DST = DATA_BASE + 0x900;
const CW_AT = DATA_BASE + 0x8f0;
// Condition-code bits of the status word.
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;

export function generateX87Case(seed: number, index: number): DiffCase {
  const r = new Rng(caseSeed(seed ^ 0x0087, index));
  const gpr = [0, 1, 2, 3, 4, 5, 6, 7].map(() => r.u32());
  gpr[4] = DATA_BASE + 0x1800;
  const eflags = ((r.u32() & USER_FLAGS & ~0x400) | FIXED_FLAGS) >>> 0;
  const code: number[] = [];
  const insns: DiffCase['insns'] = [];
  let depth = 0;
  const src = () => SRC + r.below(0x700) ;
  let dst = DST;
  /**
   * Condition codes the last instructions defined (SDM Vol. 2, "FPU flags affected"); the
   * others are masked out of the status word before it is compared. Most instructions
   * define only C1; the compares define C0/C2/C3; FCOMI/FUCOMI leave them and C1 is left
   * out (the SDM says 0, AMD leaves it).
   */
  let cc = 0;
  const emit = (kind: string, bytes: number[]) => {
    insns.push({ offset: code.length, length: bytes.length, kind: `x87 ${kind}` });
    code.push(...bytes);
    cc = C1;
  };

  emit('fninit', [0xdb, 0xe3]);
  if (r.chance(0.6)) { // precision control 24/53/64 and any rounding control, exceptions masked
    const pc = r.pick([0, 2, 3] as const), rcm = r.below(4);
    emit('fldcw', [0x66, 0xc7, 0x05, ...le32(CW_AT), ...le16(0x7f | (pc << 8) | (rcm << 10)), 0xd9, ...mem(5, CW_AT)]);
  }
  const load = () => {
    switch (r.below(9)) {
      case 0: emit('fld m32', [0xd9, ...mem(0, src())]); break;
      case 1: case 2: emit('fld m64', [0xdd, ...mem(0, src())]); break;
      case 3: case 4: emit('fld m80', [0xdb, ...mem(5, src())]); break;
      case 5: emit('fild m16', [0xdf, ...mem(0, src())]); break;
      case 6: emit('fild m32', [0xdb, ...mem(0, src())]); break;
      case 7: emit('fild m64', [0xdf, ...mem(5, src())]); break;
      default: emit('fld const', [0xd9, 0xe8 + r.below(7)]); break; // FLD1 L2T L2E PI LG2 LN2 Z
    }
    depth++;
  };
  load();
  if (r.chance(0.7)) load();
  const n = r.range(1, 6);
  for (let k = 0; k < n; k++) {
    const i = r.below(Math.max(1, depth));
    switch (r.below(16)) {
      case 0: case 1: { // arithmetic with a memory operand: m32/m64 real, m16/m32 integer
        const op = r.pick([0, 1, 4, 5, 6, 7] as const);
        const fmt = r.pick([0xd8, 0xdc, 0xda, 0xde] as const);
        emit('arith m', [fmt, ...mem(op, src())]);
        break;
      }
      case 2: case 3: // arithmetic on registers: ST(0) op= ST(i), ST(i) op= ST(0), and the pop forms
        if (depth < 2) { load(); break; }
        emit('arith st', [r.pick([0xd8, 0xdc, 0xde] as const), 0xc0 | (r.pick([0, 1, 4, 5, 6, 7] as const) << 3) | Math.max(1, i)]);
        if (code[code.length - 2] === 0xde) depth--;
        break;
      case 4: emit('fsqrt', [0xd9, 0xfa]); break;
      case 5: emit('frndint', [0xd9, 0xfc]); break;
      case 6: emit(r.pick(['fabs', 'fchs'] as const), [0xd9, r.chance(0.5) ? 0xe1 : 0xe0]); break;
      case 7:
        if (depth < 2) { load(); break; }
        { const f = r.below(3); emit(['fscale', 'fprem', 'fprem1'][f], [0xd9, [0xfd, 0xf8, 0xf5][f]]); cc = f === 0 ? C1 : C0 | C1 | C2 | C3; }
        break;
      case 8: if (depth < 7) { emit('fxtract', [0xd9, 0xf4]); depth++; } break;
      case 9: // compares into C3/C2/C0 (FCOM, FUCOM, FTST, FXAM) or EFLAGS (FCOMI, FUCOMI)
        if (depth < 2) { const t = r.chance(0.5); emit(t ? 'ftst' : 'fxam', [0xd9, t ? 0xe4 : 0xe5]); cc = C0 | C1 | C2 | C3; break; }
        {
          const f = r.below(4), before = cc;
          emit(['fcom', 'fucom', 'fcomi', 'fucomi'][f], [[0xd8, 0xd0], [0xdd, 0xe0], [0xdb, 0xf0], [0xdb, 0xe8]][f].map((b, j) => (j ? b | Math.max(1, i) : b)));
          cc = f < 2 ? C0 | C1 | C2 | C3 : before & ~C1;
        }
        break;
      case 10: emit('fcom m', [r.pick([0xd8, 0xdc] as const), ...mem(2, src())]); cc = C0 | C1 | C2 | C3; break;
      case 11: // stores to memory in every format (the data area is compared)
        emit('fst m', r.pick([[0xd9, ...mem(2, dst)], [0xdd, ...mem(2, dst)], [0xdf, ...mem(2, dst)], [0xdb, ...mem(2, dst)], [0xdf, ...mem(7, dst)], [0xdf, ...mem(6, dst)]]));
        if (code[code.length - 6] === 0xdf && ((code[code.length - 5] >> 3) & 7) >= 6) depth--; // FISTP m64, FBSTP pop
        dst += 16;
        break;
      case 12: if (depth >= 2) emit('fxch', [0xd9, 0xc8 | Math.max(1, i)]); break;
      case 13: if (depth < 7) { emit('fld st(i)', [0xd9, 0xc0 | i]); depth++; } break;
      default: if (depth < 7) load(); break;
    }
  }
  // The status word (exception flags, TOP, the defined condition codes) in AX, then every
  // register left, exactly.
  const undefinedCC = (C0 | C1 | C2 | C3) & ~cc;
  emit('fnstsw ax', [0xdf, 0xe0]);
  if (undefinedCC) code.push(0x9c, 0x66, 0x25, ...le16(~undefinedCC & 0xffff), 0x9d); // pushfd; and ax, imm16; popfd (FCOMI's flags kept)
  for (let k = 0; k < Math.min(depth, 8); k++) { emit('fstp m80', [0xdb, ...mem(7, dst)]); dst += 16; }
  emit('fninit', [0xdb, 0xe3]);
  return {
    seed, index, gpr, eflags, dataSeed: r.u32(), code: Uint8Array.from(code), codeAddr: CODE_BASE + r.below(0x100),
    undefMask: 0, insns, expectFault: false,
  };
}

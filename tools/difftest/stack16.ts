// Stack operations on a 16-bit stack segment (SS.B = 0: SP, not ESP, is the stack pointer
// and the upper half of ESP stays as it was), checked against the host CPU: the native
// runner loads SS with an LDT data segment of its own (modify_ldt: base DATA_BASE, limit
// 0xFFFF, 16-bit) and the emulator gives SS the same descriptor. The upper half of ESP is
// random, SP lies in the data area's upper half, so every pushed byte is compared.
// Segment-register pushes and pops are left to guests/cpu-tests/stack.asm (the selectors
// differ between the two sides).
import { CODE_BASE, DATA_BASE, FIXED_FLAGS, USER_FLAGS } from './layout';
import { Rng } from './prng';
import { caseSeed, type DiffCase } from './generator';

/** Bit of a case's EFLAGS word (never a real flag there) asking for the 16-bit stack segment. */
export const SS16_CASE = 0x80000000;

const O16 = 0x66;
const le16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export function generateStack16Case(seed: number, index: number): DiffCase {
  const r = new Rng(caseSeed(seed ^ 0x5716, index));
  const gpr = [0, 1, 2, 3, 4, 5, 6, 7].map(() => r.u32());
  // ESP: random upper half, SP inside the data area's upper half (odd now and then).
  gpr[4] = (((r.u32() & 0xffff) << 16) | (0x1400 + (r.below(0x400) & (r.chance(0.1) ? 0xfff : 0xffe)))) >>> 0;
  const eflags = ((r.u32() & USER_FLAGS & ~0x400) | FIXED_FLAGS | SS16_CASE) >>> 0;
  const code: number[] = [];
  const insns: DiffCase['insns'] = [];
  const heap = () => DATA_BASE + 0x100 + r.below(0xe00);
  const n = r.range(1, 6);
  for (let k = 0; k < n; k++) {
    const at = code.length;
    const o16 = r.chance(0.5);
    const pre = o16 ? [O16] : [];
    let kind: string;
    const reg = r.below(8);
    switch (r.below(12)) {
      case 0: kind = 'push r'; code.push(...pre, 0x50 + reg); break;
      case 1: { // POP r: POP SP/ESP only last (the stack pointer then jumps anywhere)
        const rr = reg === 4 && k !== n - 1 ? 0 : reg;
        kind = 'pop r'; code.push(...pre, 0x58 + rr); break;
      }
      case 2: kind = 'push imm8'; code.push(...pre, 0x6a, r.below(256)); break;
      case 3: kind = 'push imm'; code.push(...pre, 0x68, ...(o16 ? le16(r.u32()) : le32(r.u32()))); break;
      case 4: kind = 'push m'; code.push(...pre, 0xff, 0x35, ...le32(heap())); break;
      case 5: kind = 'pop m'; code.push(...pre, 0x8f, 0x05, ...le32(heap())); break;
      case 6: kind = 'pusha'; code.push(...pre, 0x60); break;
      case 7: kind = 'popa'; code.push(...pre, 0x61); break;
      case 8: kind = 'pushf'; code.push(...pre, 0x9c); break;
      case 9: { // POPF of a known value: user flags only (DF clear: the runner's exit path needs it)
        kind = 'popf';
        const f = (r.u32() & USER_FLAGS & ~0x400) | FIXED_FLAGS;
        code.push(...pre, 0x68, ...(o16 ? le16(f) : le32(f)), ...pre, 0x9d);
        break;
      }
      case 10: { // ENTER n,0 then LEAVE (each with its own operand size)
        kind = 'enter/leave';
        code.push(...pre, 0xc8, ...le16(r.below(64) * 2), 0);
        if (r.chance(0.5)) code.push(0x50 + r.below(4)); // something pushed in the frame
        code.push(...(r.chance(0.5) ? [O16] : []), 0xc9);
        break;
      }
      default: kind = 'call rel32'; code.push(0xe8, 0, 0, 0, 0); break; // pushes EIP, falls through
    }
    insns.push({ offset: at, length: code.length - at, kind: `ss16 ${kind}${o16 ? ' o16' : ''}` });
  }
  return {
    seed, index, gpr, eflags, dataSeed: r.u32(), code: Uint8Array.from(code), codeAddr: CODE_BASE + r.below(0x100),
    undefMask: 0, insns, expectFault: false,
  };
}

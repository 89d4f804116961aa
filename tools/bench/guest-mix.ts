// The benchmark's guest program: a deterministic 32-bit flat-mode loop of the kind real code
// spends its time in. Each round copies 256 bytes (REP MOVSD), checksums them byte by byte
// (MOVZX/ADD/ROL, a data-dependent branch), stores the result, feeds it back into the source
// buffer, and makes eight cdecl calls to a small mixing function (PUSH/CALL/frame/IMUL/RET).
// The same bytes run in the wasm core and natively (tools/difftest/runner.c).
import { CODE_BASE, DATA_BASE, INIT_ESP, FIXED_FLAGS } from '../difftest/layout';
import { imm32 } from '../difftest/encoder';
import type { DiffCase } from '../difftest/generator';

const SRC = DATA_BASE;
const DST = DATA_BASE + 0x400;
const RESULT = DATA_BASE + 0x800;

/** Tiny assembler: raw bytes plus labels for near (rel32) and short (rel8) branches. */
class Asm {
  readonly out: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Array<{ at: number; label: string; size: 1 | 4 }> = [];

  b(...xs: number[]): this { this.out.push(...xs); return this; }
  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.out.length);
    return this;
  }
  /** Opcode bytes followed by a branch displacement to `label`. */
  rel32(opcode: number[], label: string): this {
    this.b(...opcode);
    this.fixups.push({ at: this.out.length, label, size: 4 });
    return this.b(0, 0, 0, 0);
  }
  rel8(opcode: number, label: string): this {
    this.b(opcode);
    this.fixups.push({ at: this.out.length, label, size: 1 });
    return this.b(0);
  }
  finish(): Uint8Array {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`undefined label ${f.label}`);
      const rel = target - (f.at + f.size);
      if (f.size === 1) {
        if (rel < -128 || rel > 127) throw new Error(`short branch to ${f.label} out of range (${rel})`);
        this.out[f.at] = rel & 0xff;
      } else {
        this.out.splice(f.at, 4, ...imm32(rel));
      }
    }
    return Uint8Array.from(this.out);
  }
}

/** Rounds for roughly 200M retired instructions (about 2,300 per round). */
export const ROUNDS_DEFAULT = 86_000;

export function buildGuestMix(rounds = ROUNDS_DEFAULT): DiffCase {
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 0x7fffffff) throw new RangeError(`bad round count ${rounds}`);
  const a = new Asm();
  a.rel32([0xe9], 'start');
  // mix(a, b) = ((a * 0x01000193) ^ b) + (a >> 7), cdecl, clobbers ECX/EDX.
  a.label('mix')
    .b(0x55) // push ebp
    .b(0x89, 0xe5) // mov ebp, esp
    .b(0x8b, 0x45, 0x08) // mov eax, [ebp+8]
    .b(0x8b, 0x55, 0x0c) // mov edx, [ebp+12]
    .b(0x69, 0xc8, ...imm32(0x01000193)) // imul ecx, eax, 0x01000193
    .b(0xc1, 0xe8, 0x07) // shr eax, 7
    .b(0x31, 0xd1) // xor ecx, edx
    .b(0x8d, 0x04, 0x08) // lea eax, [eax+ecx]
    .b(0x5d) // pop ebp
    .b(0xc3); // ret
  a.label('start').b(0xbd, ...imm32(rounds)); // mov ebp, rounds
  a.label('round')
    .b(0xbe, ...imm32(SRC)) // mov esi, SRC
    .b(0xbf, ...imm32(DST)) // mov edi, DST
    .b(0xb9, ...imm32(64)) // mov ecx, 64
    .b(0xfc) // cld
    .b(0xf3, 0xa5) // rep movsd
    .b(0xbe, ...imm32(DST)) // mov esi, DST
    .b(0xb9, ...imm32(256)); // mov ecx, 256
  a.label('sum')
    .b(0x0f, 0xb6, 0x16) // movzx edx, byte [esi]
    .b(0x01, 0xd0) // add eax, edx
    .b(0xc1, 0xc0, 0x05) // rol eax, 5
    .b(0xf6, 0xc2, 0x01) // test dl, 1
    .rel8(0x74, 'even') // jz even
    .b(0x35, ...imm32(0x9e3779b9)); // xor eax, 0x9e3779b9
  a.label('even')
    .b(0x46) // inc esi
    .b(0x49) // dec ecx
    .rel8(0x75, 'sum') // jnz sum
    .b(0xa3, ...imm32(RESULT)) // mov [RESULT], eax
    .b(0xbf, ...imm32(SRC)) // mov edi, SRC
    .b(0x89, 0x07) // mov [edi], eax
    .b(0x89, 0x5f, 0x44) // mov [edi+0x44], ebx
    .b(0xbb, ...imm32(8)); // mov ebx, 8
  a.label('calls')
    .b(0x53) // push ebx
    .b(0x50) // push eax
    .rel32([0xe8], 'mix') // call mix
    .b(0x83, 0xc4, 0x08) // add esp, 8
    .b(0x4b) // dec ebx
    .rel8(0x75, 'calls') // jnz calls
    .b(0x4d) // dec ebp
    .rel32([0x0f, 0x85], 'round') // jnz round
    .b(0x39, 0xd8); // cmp eax, ebx: leave every flag defined for the final comparison
  return {
    seed: 0,
    index: 0,
    gpr: [0x12345678, 0, 0, 0, INIT_ESP, 0, 0, 0],
    eflags: FIXED_FLAGS,
    dataSeed: 0xbe7c4,
    code: a.finish(),
    codeAddr: CODE_BASE,
    undefMask: 0,
    insns: [],
    expectFault: false,
  };
}

export { CODE_BASE };

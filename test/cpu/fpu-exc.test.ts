// x87 faults and exception delivery: #NM (CR0.EM/TS/MP), #MF for pending unmasked
// exceptions (CR0.NE=1) on the next waiting instruction, the CR0.NE=0 behaviour, what an
// unmasked exception leaves in registers and memory, and invalid encodings (#UD).
import { describe, it, expect, beforeAll } from 'vitest';
import { X87, DATA, OUT, IE, DE, ZE, OE, PE, SF, ES, B, C0, C3 } from './fpu-harness';

let x: X87;
beforeAll(async () => { x = await X87.create(); });

const NE = 0x20, TS = 0x08, EM = 0x04, MP = 0x02;
const ADDR = OUT + 0x400;
const EXC = IE | DE | ZE | OE | 0x10 | PE | SF;

describe('#NM', () => {
  it('CR0.EM=1: every ESC instruction raises #NM', () => {
    x.run32(`fld1`, { cr0Set: EM });
    expect(x.exceptionTaken()).toBe(7);
  });
  it('CR0.TS=1: ESC raises #NM (the task-switch lazy save); WAIT only with MP too', () => {
    x.run32(`fnstsw ax`, { cr0Set: TS });
    expect(x.exceptionTaken()).toBe(7);
    x.run32(`fwait`, { cr0Set: TS });
    expect(x.exceptionTaken()).toBe(-1);
    x.run32(`fwait`, { cr0Set: TS | MP });
    expect(x.exceptionTaken()).toBe(7);
  });
  it('FXSAVE: #NM with CR0.TS, #UD with CR0.EM', () => {
    x.run32(`fxsave [${OUT}]`, { cr0Set: TS });
    expect(x.exceptionTaken()).toBe(7);
    x.run32(`fxsave [${OUT}]`, { cr0Set: EM });
    expect(x.exceptionTaken()).toBe(6);
  });
});

/** Unmask ZE, divide by zero, then run `next`; records the address of `next`. */
function zeroDivideThen(next: string, cr0Set: number): void {
  x.setU16(DATA, 0x37b); // ZE unmasked
  x.run32(`fninit
    fldcw [${DATA}]
    fld1
    fldz
  culprit:
    fdivp st1, st0
    mov dword [${ADDR}], culprit
    mov dword [${ADDR + 4}], nxt
  nxt:
    ${next}
    mov dword [${ADDR + 8}], 0x600d`, { cr0Set });
}

describe('#MF (CR0.NE=1)', () => {
  it('an unmasked exception leaves the stack unchanged, sets ES and B, and the NEXT waiting instruction faults', () => {
    zeroDivideThen('fld1', NE);
    expect(x.exceptionTaken()).toBe(16);
    expect(x.exceptionEip()).toBe(x.u32(ADDR + 4)); // the FLD1, not the FDIVP
    expect(x.fip).toBe(x.u32(ADDR)); // FIP still points at the culprit
    expect(x.sw & (EXC | ES | B)).toBe(ZE | ES | B);
    expect(x.top).toBe(6); // FDIVP did not pop
    expect([x.st(0), x.st(1)]).toEqual([0, 1]);
  });
  it('FWAIT raises #MF', () => {
    zeroDivideThen('fwait', NE);
    expect(x.exceptionTaken()).toBe(16);
    expect(x.exceptionEip()).toBe(x.u32(ADDR + 4));
  });
  it('non-waiting forms do not: FNSTSW, FNSTCW, FNSTENV, FNSAVE, FNCLEX, FNINIT', () => {
    for (const op of ['fnstsw ax', `fnstcw [${OUT}]`, `fnstenv [${OUT}]`, `fnsave [${OUT}]`, 'fnclex', 'fninit']) {
      zeroDivideThen(`${op}\n fld1`, NE);
      if (op === 'fnstsw ax' || op.startsWith('fnstcw') || op.startsWith('fnstenv')) {
        expect(x.exceptionTaken(), op).toBe(16); // still pending for the FLD1 after it
        expect(x.exceptionEip(), op).toBeGreaterThan(x.u32(ADDR + 4));
      } else {
        expect(x.exceptionTaken(), op).toBe(-1); // state cleared: the FLD1 runs
        expect(x.u32(ADDR + 8), op).toBe(0x600d);
      }
    }
  });
  it('the waiting form FSTSW (9B DF E0) faults on its WAIT byte', () => {
    zeroDivideThen('fstsw ax', NE);
    expect(x.exceptionTaken()).toBe(16);
    expect(x.exceptionEip()).toBe(x.u32(ADDR + 4));
    expect(x.u8(x.exceptionEip())).toBe(0x9b);
  });
  it('FLDCW that unmasks an already-flagged exception makes it pending', () => {
    x.setU16(DATA, 0x37e);
    x.run32(`fninit
      fld1
      fldz
      fdivp st1, st0   ; masked ZE: +inf, ZE flagged
      fnstsw [${OUT}]
      fldcw [${DATA}]  ; unmask IE only: nothing pending
      fnstsw [${OUT + 2}]
      mov word [${DATA}], 0x37b
      fldcw [${DATA}]  ; unmask ZE: pending now
      fnstsw [${OUT + 4}]
      fld1`, { cr0Set: NE });
    expect(x.u16(OUT) & (ZE | ES)).toBe(ZE);
    expect(x.u16(OUT + 2) & ES).toBe(0);
    expect(x.u16(OUT + 4) & (ES | B)).toBe(ES | B);
    expect(x.exceptionTaken()).toBe(16);
  });
  it('an #MF handler can FNCLEX and IRET to retry the instruction', () => {
    // Handler for vector 16 at 0x3100: fnclex; iret. The FLD1 then runs.
    x.setU32(ADDR, 0);
    x.setU16(DATA, 0x37b);
    const code = `fninit
      fldcw [${DATA}]
      fld1
      fldz
      fdivp st1, st0
      fld1
      fstp qword [${OUT}]
      mov dword [${ADDR}], 0x600d`;
    x.h.load(0x3100, [0xdb, 0xe2, 0xcf]); // fnclex; iret
    x.run32(code, { cr0Set: NE, gates: { 16: 0x3100 } });
    expect(x.u32(ADDR)).toBe(0x600d);
    expect(x.f64(OUT)).toBe(1);
  });
});

describe('CR0.NE=0', () => {
  it('no #MF: the exception stays pending (FERR#/IRQ13 is not wired) and execution continues', () => {
    zeroDivideThen('fld1\n fwait', 0);
    expect(x.exceptionTaken()).toBe(-1);
    expect(x.u32(ADDR + 8)).toBe(0x600d);
    expect(x.sw & (ES | B)).toBe(ES | B);
  });
});

describe('unmasked exception responses', () => {
  it('unmasked IE on FCOM leaves the condition codes; unmasked DE leaves ST(0)', () => {
    x.setU16(DATA, 0x37c); // IE and DE unmasked
    x.setF64(DATA + 8, NaN);
    x.setU32(DATA + 16, 1); // f32 denormal
    x.run32(`fninit
      fldcw [${DATA}]
      fld1
      fcom qword [${DATA + 8}]
      fnstsw [${OUT}]
      fnclex
      fadd dword [${DATA + 16}]
      fnstsw [${OUT + 2}]
      fnclex
      fstp qword [${OUT + 8}]`);
    expect(x.u16(OUT) & (EXC | ES | C3 | C0)).toBe(IE | ES);
    expect(x.u16(OUT + 2) & (EXC | ES)).toBe(DE | ES);
    expect(x.f64(OUT + 8)).toBe(1);
  });
  it('unmasked OE on FST m32: memory untouched and no pop; on a register the result is written', () => {
    x.setU16(DATA, 0x377); // OE unmasked
    x.setF64(DATA + 8, 1e300);
    x.setBits64(DATA + 16, 0x8000000000000000n); // 2^16383, the top binade of the 80-bit format
    x.setU16(DATA + 24, 0x7ffe);
    x.setU32(OUT, 0xdeadbeef);
    x.run32(`fninit
      fldcw [${DATA}]
      fld qword [${DATA + 8}]
      fstp dword [${OUT}]
      fnstsw [${OUT + 4}]
      fnclex
      fld tword [${DATA + 16}]
      fmul st0, st0
      fnstsw [${OUT + 6}]
      fnclex
      fstp qword [${OUT + 8}]`);
    expect(x.u32(OUT)).toBe(0xdeadbeef);
    expect(x.u16(OUT + 4) & (EXC | ES | 0x3800)).toBe(OE | PE | ES | (7 << 11));
    expect(x.u16(OUT + 6) & (EXC | ES)).toBe(OE | PE | ES);
    expect(x.f64(OUT + 8)).toBe(Infinity);
  });
  it('unmasked PE: the rounded result is stored and ES is set', () => {
    x.setU16(DATA, 0x35f); // PE unmasked
    x.run32(`fninit
      fldcw [${DATA}]
      fld1
      fld1
      fadd st0, st0
      fld1
      fadd st0, st0
      fadd st0, st2   ; 3
      fdivp st2, st0  ; 1/3
      fnstsw [${OUT}]
      fnclex
      fstp st0
      fstp qword [${OUT + 8}]`);
    expect(x.u16(OUT) & (EXC | ES)).toBe(PE | ES);
    expect(x.f64(OUT + 8)).toBe(1 / 3);
  });
});

describe('unmasked underflow', () => {
  it('UE unmasked: an exact tiny result still signals UE (masked, only an inexact one does)', () => {
    // 2^-16000 (m80) × 2^-400 = 2^-16400: an exact denormal of the 80-bit register format.
    x.setBits64(DATA + 8, 0x8000000000000000n);
    x.setU16(DATA + 16, 16383 - 16000);
    x.setF64(DATA + 24, 2 ** -400);
    for (const [cw, want] of [[0x36f, 0x10 | ES], [0x37f, 0]] as const) {
      x.setU16(DATA, cw);
      x.run32(`fninit
        fldcw [${DATA}]
        fld tword [${DATA + 8}]
        fmul qword [${DATA + 24}]
        fnstsw [${OUT}]
        fnclex
        fstp tword [${OUT + 8}]`);
      expect(x.u16(OUT) & (EXC | ES)).toBe(want);
      if (!want) expect([x.bits64(OUT + 8), x.u16(OUT + 16)]).toEqual([1n << 45n, 0]); // 2^45 × 2^-16445
    }
  });
});

describe('page faults are restartable: nothing is committed before every access is known to succeed', () => {
  const PD = 0x100000, PT = 0x101000, HOLE = 0x51000; // page 0x51000 not present
  function paged(body: string): void {
    const dv = x.dv;
    dv.setUint32(PD, PT | 3, true);
    for (let i = 0; i < 1024; i++) dv.setUint32(PT + i * 4, i * 0x1000 === HOLE ? 0 : (i << 12) | 3, true);
    x.run32(`mov eax, ${PD}
      mov cr3, eax
      mov eax, cr0
      or eax, 0x80000000
      mov cr0, eax
      ${body}`);
  }
  it('FSTP m64 straddling into a missing page: #PF, the first page untouched, the stack not popped', () => {
    x.setU32(HOLE - 4, 0x11111111);
    x.setF64(DATA, 2.5);
    paged(`fninit
      fld qword [${DATA}]
      fstp qword [${HOLE - 4}]`);
    expect(x.exceptionTaken()).toBe(14);
    expect(x.h.state.cr2).toBe(HOLE);
    expect(x.u32(HOLE - 4)).toBe(0x11111111);
    expect(x.top).toBe(7);
    expect(x.st(0)).toBe(2.5);
  });
  it('FRSTOR and FXRSTOR reading from a missing page leave the FPU state alone', () => {
    for (const op of [`frstor [${HOLE - 64}]`, `fxrstor [${HOLE - 256}]`]) {
      paged(`fninit
        fld1
        ${op}`);
      expect(x.exceptionTaken(), op).toBe(14);
      expect([x.top, x.st(0), x.cw], op).toEqual([7, 1, 0x37f]);
    }
  });
  it('FNSAVE into a missing page does not reinitialise the FPU', () => {
    paged(`fninit
      fld1
      fnsave [${HOLE - 50}]`);
    expect(x.exceptionTaken()).toBe(14);
    expect([x.top, x.tagOf(0)]).toEqual([7, 0]);
  });
});

describe('#UD', () => {
  for (const [name, bytes] of [
    ['FISTTP m32 (SSE3)', 'db 0xdb, 0x08'],
    ['FISTTP m64', 'db 0xdd, 0x08'],
    ['FISTTP m16', 'db 0xdf, 0x08'],
    ['D9 /1 memory', 'db 0xd9, 0x08'],
    ['D9 D1', 'db 0xd9, 0xd1'],
    ['D9 E2', 'db 0xd9, 0xe2'],
    ['D9 EF', 'db 0xd9, 0xef'],
    ['DB E5', 'db 0xdb, 0xe5'],
    ['DA E8 (only E9 is FUCOMPP)', 'db 0xda, 0xe8'],
    ['DE D8 (only D9 is FCOMPP)', 'db 0xde, 0xd8'],
    ['DF E1', 'db 0xdf, 0xe1'],
    ['DD F0', 'db 0xdd, 0xf0'],
  ] as const) {
    it(name, () => {
      x.run32(`fninit\n ${bytes.replace(', 0x08', `, 0x0d\n dd ${OUT}`)}`);
      expect(x.exceptionTaken()).toBe(6);
    });
  }
  it('FNENI/FNDISI/FNSETPM and the undocumented aliases execute', () => {
    x.run32(`fninit
      db 0xdb, 0xe0, 0xdb, 0xe1, 0xdb, 0xe4   ; FNENI FNDISI FNSETPM
      fld1
      fldz
      db 0xdd, 0xc9          ; FXCH4 st1
      db 0xdc, 0xd1          ; FCOM2 st1
      fnstsw [${OUT}]
      db 0xdf, 0xc1          ; FFREEP st1 (frees ST1, pops)
      fnstsw [${OUT + 2}]
      db 0xd9, 0xd8          ; FSTP1 st0
      fnstsw [${OUT + 4}]`);
    expect(x.exceptionTaken()).toBe(-1);
    expect(x.u16(OUT) & (C3 | C0)).toBe(0); // 1 > 0 after the exchange
    expect((x.u16(OUT + 2) >> 11) & 7).toBe(7);
    expect(x.u16(OUT + 4) & EXC).toBe(IE | SF); // ST0 was freed: FSTP1 underflows
  });
});

// x87 state images byte by byte: FNSTENV/FLDENV and FNSAVE/FRSTOR in the 16/32-bit,
// protected and real-mode layouts, FXSAVE/FXRSTOR, and the instruction/operand pointers.
import { describe, it, expect, beforeAll } from 'vitest';
import { X87, DATA, OUT, C0, C3, IE, ES, B, INDEFINITE } from './fpu-harness';

let x: X87;
beforeAll(async () => { x = await X87.create(); });

const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const ADDR = OUT + 0x400; // where the programs store label addresses

/** Common prologue: CW 0E7F (all masked, PC=53, RC toward zero), ST0 = 1.5 × -4 by an ESC with a memory operand. */
function setup32(): string {
  x.setF64(DATA, 1.5, -4);
  return `fninit
    mov word [${DATA + 64}], 0x0e7f
    fldcw [${DATA + 64}]
    fld qword [${DATA}]
  last:
    fmul qword [${DATA + 8}]
    mov dword [${ADDR}], last`;
}

describe('FNSTENV / FLDENV', () => {
  it('32-bit protected-mode layout (28 bytes), then all exceptions masked', () => {
    x.fill(OUT, 32, 0x55);
    x.run32(`${setup32()}
      fnstenv [${OUT}]
      fnstcw [${OUT + 32}]`);
    const fip = x.u32(ADDR);
    // fmul qword [disp32] = DC 0D: FOP = 4 << 8 | 0x0D
    const sw = 7 << 11; // TOP=7, no flags (exact product)
    expect(x.bytes(OUT, 28)).toEqual([
      ...le16(0x0e7f), 0xff, 0xff,
      ...le16(sw), 0xff, 0xff,
      ...le16(0x3fff), 0xff, 0xff, // R7 valid, others empty
      ...le32(fip),
      ...le16(0x08), ...le16(0x40d),
      ...le32(DATA + 8),
      ...le16(0x10), 0xff, 0xff,
    ]);
    expect(x.u16(OUT + 32)).toBe(0x0e7f | 0x3f);
  });

  it('16-bit protected-mode layout (14 bytes)', () => {
    x.fill(OUT, 32, 0x55);
    x.run32(`${setup32()}
      o16 fnstenv [${OUT}]`);
    const fip = x.u32(ADDR);
    expect(x.bytes(OUT, 16)).toEqual([
      ...le16(0x0e7f), ...le16(7 << 11), ...le16(0x3fff),
      ...le16(fip), ...le16(0x08), ...le16(DATA + 8), ...le16(0x10),
      0x55, 0x55,
    ]);
  });

  // Real mode: CS=0, DS=F000 so the linear pointers need 20 bits.
  const realProg = (store: string) => `
    fninit
    mov ax, 0xf000
    mov ds, ax
    fld qword [0x0010]
  last:
    fadd qword [0x0018]
    mov ax, ${OUT >> 4}
    mov es, ax
    mov word [es:${ADDR - OUT}], last
    ${store}`;

  it('16-bit real-mode layout: 20-bit linear pointers split into the upper nibbles', () => {
    x.setF64(0xf0010, 2, 3);
    x.fill(OUT, 32, 0x55);
    x.runReal(realProg('fnstenv [es:0]'));
    const ip = x.u16(ADDR), dp = 0xf0018, fop = 0x400 | 0x06; // DC 06 disp16
    expect(x.bytes(OUT, 14)).toEqual([
      ...le16(0x37f), ...le16(7 << 11), ...le16(0x3fff),
      ...le16(ip), ...le16(((ip >> 16) << 12) | fop),
      ...le16(dp & 0xffff), ...le16((dp >> 16) << 12),
    ]);
  });

  it('32-bit real-mode layout (o32 prefix)', () => {
    x.setF64(0xf0010, 2, 3);
    x.fill(OUT, 32, 0x55);
    x.runReal(realProg('o32 fnstenv [es:0]'));
    const ip = x.u16(ADDR), dp = 0xf0018, fop = 0x406;
    expect(x.bytes(OUT, 28)).toEqual([
      ...le16(0x37f), 0xff, 0xff, ...le16(7 << 11), 0xff, 0xff, ...le16(0x3fff), 0xff, 0xff,
      ...le16(ip), 0xff, 0xff,
      ...le32(fop | ((ip >>> 16) << 12)),
      ...le16(dp & 0xffff), 0xff, 0xff,
      ...le32((dp >>> 16) << 12),
    ]);
  });

  it('FLDENV loads CW, SW (TOP and condition codes), tags and pointers; non-empty tags follow the contents', () => {
    x.setF64(DATA, 0, 5);
    x.setU32(OUT, 0xffff0000 | 0x0c7f, 0xffff0000 | C3 | C0 | (6 << 11), 0xffff0000 | 0x0fff,
      0x12345678, (0x123 << 16) | 0x0023, 0x9abcdef0, 0xffff002b);
    x.run32(`fninit
      fld qword [${DATA}]
      fld qword [${DATA + 8}]   ; R7 = 0, R6 = 5, TOP = 6
      fldenv [${OUT}]
      fnstsw [${OUT + 64}]
      fnstcw [${OUT + 66}]
      fnstenv [${OUT + 96}]`);
    expect(x.u16(OUT + 64)).toBe(C3 | C0 | (6 << 11));
    expect(x.u16(OUT + 66)).toBe(0x0c7f);
    // The image said R7 and R6 were "valid" (00): recomputed as zero (01) and valid (00).
    expect(x.u16(OUT + 96 + 8)).toBe(0x4fff);
    expect([x.u32(OUT + 96 + 12), x.u32(OUT + 96 + 16), x.u32(OUT + 96 + 20), x.u16(OUT + 96 + 24)])
      .toEqual([0x12345678, (0x123 << 16) | 0x23, 0x9abcdef0, 0x2b]);
  });
});

describe('FNSAVE / FRSTOR', () => {
  it('32-bit image: environment + ST(0)..ST(7) as 80-bit values, then the FPU is reinitialised', () => {
    x.fill(OUT, 128, 0x55);
    x.run32(`${setup32()}
      fldpi
      fnsave [${OUT}]
      fnstcw [${OUT + 120}]
      fnstsw [${OUT + 122}]
      fnstenv [${OUT + 128}]`);
    const fip = x.u32(ADDR);
    expect(x.bytes(OUT, 28)).toEqual([
      ...le16(0x0e7f), 0xff, 0xff, ...le16(6 << 11), 0xff, 0xff, ...le16(0x0fff), 0xff, 0xff,
      ...le32(x.u32(OUT + 12)), ...le16(0x08), ...le16(0x1eb), // FLDPI = D9 EB
      ...le32(DATA + 8), ...le16(0x10), 0xff, 0xff,
    ]);
    expect(x.u32(OUT + 12)).toBeGreaterThan(fip); // FIP is the FLDPI after the FMUL
    // ST0 = π rounded toward zero to 64 bits (constants load in full, whatever PC says): C90FDAA22168C234
    expect(x.bytes(OUT + 28, 10)).toEqual([0x34, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40]);
    // ST1 = -6: C001 C000000000000000
    expect(x.bytes(OUT + 38, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0xc0, 0x01, 0xc0]);
    expect(x.u16(OUT + 120)).toBe(0x37f);
    expect(x.u16(OUT + 122)).toBe(0);
    expect(x.u16(OUT + 128 + 8)).toBe(0xffff);
  });

  it('FRSTOR restores values, TOP, tags and control word (32- and 16-bit images)', () => {
    for (const [save, rstor] of [['fnsave', 'frstor'], ['o16 fnsave', 'o16 frstor']]) {
      x.setF64(DATA, 2.5, -0, Infinity);
      x.setU16(DATA + 32, 0x0a7f);
      x.run32(`fninit
        fldcw [${DATA + 32}]
        fld qword [${DATA}]
        fld qword [${DATA + 8}]
        fld qword [${DATA + 16}]
        ${save} [${OUT}]
        fld1
        ${rstor} [${OUT}]
        fnstcw [${OUT + 200}]
        fnstenv [${OUT + 208}]
        fstp qword [${OUT + 240}]
        fstp qword [${OUT + 248}]
        fstp qword [${OUT + 256}]`);
      expect(x.u16(OUT + 200)).toBe(0x0a7f);
      expect(x.u16(OUT + 208 + 8)).toBe(0b00_01_10_11_11_11_11_11);
      expect((x.u16(OUT + 208 + 4) >> 11) & 7).toBe(5);
      expect([x.f64(OUT + 240), Object.is(x.f64(OUT + 248), -0), x.f64(OUT + 256)]).toEqual([Infinity, true, 2.5]);
    }
  });

  it('FRSTOR then FNSAVE reproduces the image (80-bit values a double can hold)', () => {
    const img: number[] = [...le32(0xffff027f), ...le32(0xffff0000 | (3 << 11) | C0), ...le32(0xfffffc3f)];
    img.push(...le32(0x1000), ...le32(0x08), ...le32(0x2000), ...le32(0xffff0010));
    const regs = [[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f], [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]];
    for (let i = 0; i < 8; i++) img.push(...(regs[i] ?? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    x.setBytes(DATA, img);
    x.run32(`frstor [${DATA}]
      fnsave [${OUT}]`);
    // The image calls R4 (the indefinite) valid: its tag is recomputed as special.
    expect(x.bytes(OUT, 108)).toEqual(img.map((b, i) => (i === 9 ? 0xfe : b)));
  });
});

describe('FXSAVE / FXRSTOR', () => {
  it('512-byte layout: FCW FSW abridged FTW FOP FIP FCS FDP FDS MXCSR MXCSR_MASK, registers, XMM zeros', () => {
    x.fill(OUT, 512, 0xaa);
    x.run32(`${setup32()}
      fxsave [${OUT}]`);
    const fip = x.u32(ADDR);
    expect(x.bytes(OUT, 32)).toEqual([
      ...le16(0x0e7f), ...le16(7 << 11), 0x80, 0x00, ...le16(0x40d),
      ...le32(fip), ...le16(0x08), 0, 0,
      ...le32(DATA + 8), ...le16(0x10), 0, 0,
      ...le32(0x1f80), ...le32(0xffbf),
    ]);
    expect(x.bytes(OUT + 32, 16)).toEqual([0, 0, 0, 0, 0, 0, 0, 0xc0, 0x01, 0xc0, 0, 0, 0, 0, 0, 0]); // -6
    expect(x.bytes(OUT + 160, 128).every((b) => b === 0)).toBe(true);
    expect(x.bytes(OUT + 288, 224).every((b) => b === 0xaa)).toBe(true);
  });

  it('FXRSTOR restores the state and rebuilds the tags from the abridged word', () => {
    x.run32(`${setup32()}
      fldz
      fxsave [${OUT}]
      fninit
      fld1
      fxrstor [${OUT}]
      fnstenv [${OUT + 512}]
      fstp qword [${OUT + 600}]
      fstp qword [${OUT + 608}]`);
    expect(x.u16(OUT + 512)).toBe(0x0e7f);
    expect(x.u16(OUT + 512 + 8)).toBe(0b00_01_11_11_11_11_11_11);
    expect([x.f64(OUT + 600), x.f64(OUT + 608)]).toEqual([0, -6]);
  });

  it('a misaligned operand raises #GP(0)', () => {
    x.run32(`fxsave [${OUT + 8}]`);
    expect(x.exceptionTaken()).toBe(13);
    expect(x.h.state.lastException.code).toBe(0);
    x.run32(`fxrstor [${OUT + 4}]`);
    expect(x.exceptionTaken()).toBe(13);
  });

  it('reserved MXCSR bits make FXRSTOR raise #GP(0) when CR4.OSFXSR enables the field, and nothing is loaded', () => {
    x.run32(`fninit
      fxsave [${OUT}]
      mov dword [${OUT + 24}], 0x1fc0   ; DAZ (bit 6) is reserved here
      mov word [${OUT}], 0x0c7f
      fxrstor [${OUT}]`, { cr4Set: 0x200 });
    expect(x.exceptionTaken()).toBe(13);
    expect(x.cw).toBe(0x37f);
    x.run32(`fninit
      fxsave [${OUT}]
      mov dword [${OUT + 24}], 0x9f80
      fxrstor [${OUT}]`, { cr4Set: 0x200 });
    expect(x.exceptionTaken()).toBe(-1);
    expect(x.mxcsr).toBe(0x9f80);
  });

  it('FXSAVE does not check a pending x87 exception; FXRSTOR can make one pending', () => {
    x.run32(`fninit
      fxsave [${OUT}]
      or word [${OUT + 2}], 0x0001   ; IE flagged
      and word [${OUT}], 0xfffe      ; and unmasked
      fxrstor [${OUT}]
      fxsave [${OUT + 512}]
      fnstsw [${OUT + 1024}]`, { cr0Set: 0x20 });
    expect(x.exceptionTaken()).toBe(-1);
    expect(x.u16(OUT + 1024) & (IE | ES | B)).toBe(IE | ES | B);
  });
});

describe('instruction and operand pointers', () => {
  it('non-control instructions record FIP/FCS/FOP (FDP/FDS with a memory operand); control instructions do not', () => {
    x.setF64(DATA, 1);
    x.run32(`fninit
      fld qword [${DATA}]
    second:
      fsqrt
      fnstcw [${OUT}]
      fldcw [${OUT}]
      fnstsw ax
      mov dword [${ADDR}], second`);
    expect(x.fip).toBe(x.u32(ADDR));
    expect(x.fcs).toBe(0x08);
    expect(x.fop).toBe(0x1fa); // D9 FA
    expect(x.fdp).toBe(DATA); // from the FLD: FSQRT has no memory operand
    expect(x.fds).toBe(0x10);
  });

  it('FIP is the first byte of the instruction, prefixes included', () => {
    x.setF64(DATA, 1);
    x.run32(`fninit
    here:
      ds fld qword [${DATA}]
      mov dword [${ADDR}], here`);
    expect(x.fip).toBe(x.u32(ADDR));
  });

  it('FNSAVE/FRSTOR round-trip the pointers and the indefinite survives an 80-bit image', () => {
    x.run32(`fninit
      fld1
      fsub st0, st1     ; underflow: ST0 = indefinite
      fnsave [${OUT}]
      frstor [${OUT}]
      fnstenv [${OUT + 300}]
      fstp qword [${OUT + 200}]`);
    expect(x.bits64(OUT + 200)).toBe(INDEFINITE);
    expect(x.u16(OUT + 300 + 18)).toBe(0x0e1); // D8 E1
  });
});

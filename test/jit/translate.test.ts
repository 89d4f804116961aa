// The translator (engine-ts/worker/jit/, engine-wasm/assembly/jit.ts) against what the
// interpreter does: the same results, the same retired counts, exact faults, and
// translations that follow the code when the guest or the host rewrites it. The CPU harness
// translates every block at its first start (jitHot 1); these tests force translation on.
import { describe, it, expect } from 'vitest';
import { createCpuHarness, type CpuHarness } from '../cpu/harness';
import * as MM from '../../engine-wasm/memory-map';
import { translatePage } from '../../engine-ts/worker/jit/translate';

async function harness(jit: boolean): Promise<CpuHarness> {
  const h = await createCpuHarness();
  h.core.jitEnable(jit ? 1 : 0);
  return h;
}
const jitRetired = (h: CpuHarness) => Number(h.state.u64(MM.R_JIT_RETIRED));
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

type Gpr = 'eax' | 'ebx' | 'ecx' | 'edx' | 'esi' | 'edi' | 'ebp' | 'esp';
/**
 * `prog` at 0x1000 run to its HLT in flat 32-bit mode by the interpreter, then with
 * translation: the registers `regs`, the flags, the instructions retired and, of those, the
 * translated ones, each time; and the bytes of RAM in `ram` ([from, to)), as hex. `setup`
 * prepares each machine before it runs (more code or data, registers).
 */
async function bothWays(
  prog: number[], regs: readonly Gpr[], opts: { ram?: [number, number]; setup?: (h: CpuHarness) => void } = {},
): Promise<Array<{ regs: number[]; flags: number; ram: string; n: number; jit: number }>> {
  const runs = [];
  for (const jit of [false, true]) {
    const h = await harness(jit);
    h.load(0x1000, prog);
    h.enterFlat32(0x1000);
    opts.setup?.(h);
    const c0 = h.state.icount;
    expect(h.runUntilHalt(1_000_000)).toBe(MM.EXIT_STOPPED);
    const ram = opts.ram ? Buffer.from(h.ram.subarray(opts.ram[0], opts.ram[1])).toString('hex') : '';
    runs.push({ regs: regs.map((r) => h.state.gpr(r)), flags: h.eflags(), ram, n: Number(h.state.icount - c0), jit: jitRetired(h) });
  }
  return runs;
}

// mov ecx,100000; xor eax,eax; l: add eax,ecx; rol eax,3; dec ecx; jnz l; hlt
const LOOP = [0xb9, 0xa0, 0x86, 0x01, 0x00, 0x31, 0xc0, 0x01, 0xc8, 0xc1, 0xc0, 0x03, 0x49, 0x75, 0xf8, 0xf4];

describe('translation to WebAssembly', () => {
  it('runs a hot loop from translated code with the interpreter\'s result and instruction count', async () => {
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      h.load(0x1000, LOOP);
      h.enterFlat32(0x1000);
      const c0 = h.state.icount;
      expect(h.runUntilHalt(10_000_000)).toBe(MM.EXIT_STOPPED);
      runs.push({ eax: h.state.gpr('eax'), ecx: h.state.gpr('ecx'), flags: h.eflags(), n: Number(h.state.icount - c0), jit: jitRetired(h) });
    }
    expect(runs[1].eax).toBe(runs[0].eax);
    expect(runs[1].flags).toBe(runs[0].flags);
    expect(runs[1].n).toBe(runs[0].n);
    expect(runs[0].jit).toBe(0);
    expect(runs[1].jit).toBeGreaterThan(0.98 * runs[1].n); // all but the first rounds and a few at chunk ends
  });

  it('stops exactly at the run budget, as the interpreter does', async () => {
    for (const budget of [1, 7, 1000, 12_345]) {
      const eips = [];
      for (const jit of [false, true]) {
        const h = await harness(jit);
        h.load(0x1000, LOOP);
        h.enterFlat32(0x1000);
        h.core.refresh();
        const c0 = h.state.icount;
        expect(h.core.run(budget)).toBe(MM.EXIT_BUDGET);
        expect(Number(h.state.icount - c0)).toBe(budget);
        eips.push([h.state.eip, h.state.gpr('eax'), h.state.gpr('ecx')]);
      }
      expect(eips[1]).toEqual(eips[0]);
    }
  });

  it('leaves EIP and every register as the interpreter would when translated code meets a page fault', async () => {
    const states = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      // #PF handler at 0x3000: hlt (the frame holds the faulting EIP).
      h.load(0x3000, [0xf4]);
      const idt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x2000, 256 * 8);
      idt.setUint32(14 * 8, (0x08 << 16) | 0x3000, true);
      idt.setUint32(14 * 8 + 4, 0x00008e00, true);
      const pd = new DataView(h.memory.buffer, MM.RAM_BASE + 0x10000, 4096);
      const pt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x11000, 4096);
      pd.setUint32(0, 0x11000 | 3, true);
      for (let i = 0; i < 1024; i++) pt.setUint32(i * 4, (i << 12) | 3, true);
      // Paging on (mov eax,cr0; or eax,0x80000000; mov cr0,eax; xor eax,eax), then a loop and,
      // in the same translated region, a store to an unmapped page:
      // l: inc eax; add edx,eax; cmp eax,50; jne l; mov [0x400000],eax (#PF); hlt
      h.load(0x1000, [0x0f, 0x20, 0xc0, 0x0d, 0, 0, 0, 0x80, 0x0f, 0x22, 0xc0, 0x31, 0xc0,
        0x40, 0x01, 0xc2, 0x83, 0xf8, 0x32, 0x75, 0xf8, 0x89, 0x05, 0, 0, 0x40, 0, 0xf4]);
      h.enterFlat32(0x1000);
      h.state.setIdtr(0x2000, 256 * 8 - 1);
      h.state.cr3 = 0x10000;
      h.core.refresh();
      const c0 = h.state.icount;
      h.runUntilHalt();
      const frame = new DataView(h.memory.buffer, MM.RAM_BASE + h.state.gpr('esp'), 16); // error code, EIP, CS, EFLAGS
      states.push({
        vector: h.state.lastException.vector, cr2: h.state.cr2, faultEip: frame.getUint32(4, true), code: frame.getUint32(0, true),
        eax: h.state.gpr('eax'), edx: h.state.gpr('edx'), flags: frame.getUint32(12, true), n: Number(h.state.icount - c0), jit: jitRetired(h),
      });
    }
    expect(states[0].vector).toBe(14);
    expect(states[0].faultEip).toBe(0x1015);
    expect(states[0].eax).toBe(50);
    expect(states[1].jit).toBeGreaterThan(0);
    expect({ ...states[1], jit: 0 }).toEqual({ ...states[0], jit: 0 });
  });

  it('runs code of one physical page mapped at two linear addresses as the interpreter does', async () => {
    // A page of code (physical 0x5000) seen at 0x400000 and at 0x800000: its call, jump and
    // return addresses are linear, so each mapping needs code of its own.
    const page = [0xb9, 200, 0, 0, 0, 0xe8, 0x16, 0, 0, 0, 0x49, 0x75, 0xf8, 0xc3]; // mov ecx,200; l: call f; dec ecx; jnz l; ret
    const f = [0x01, 0xc2, 0x40, 0xc3]; // f (at 0x20): add edx,eax; inc eax; ret
    const call = (from: number, to: number) => { const r = (to - (from + 5)) >>> 0; return [0xe8, r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, r >>> 24]; };
    // Paging on; eax = edx = 0; ebx = 5; outer: call 0x400000; call 0x800000; dec ebx; jnz outer; hlt
    const head = [0x0f, 0x20, 0xc0, 0x0d, 0, 0, 0, 0x80, 0x0f, 0x22, 0xc0, 0x31, 0xc0, 0x31, 0xd2, 0xbb, 5, 0, 0, 0];
    const outer = 0x1000 + head.length;
    const main = [...head, ...call(outer, 0x400000), ...call(outer + 5, 0x800000), 0x4b, 0x75, (outer - (outer + 13)) & 0xff, 0xf4];
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      const pd = new DataView(h.memory.buffer, MM.RAM_BASE + 0x10000, 4096);
      const pt = (at: number) => new DataView(h.memory.buffer, MM.RAM_BASE + at, 4096);
      pd.setUint32(0, 0x11000 | 3, true);
      for (let i = 0; i < 1024; i++) pt(0x11000).setUint32(i * 4, (i << 12) | 3, true);
      pd.setUint32(4, 0x12000 | 3, true);
      pt(0x12000).setUint32(0, 0x5000 | 3, true);
      pd.setUint32(8, 0x13000 | 3, true);
      pt(0x13000).setUint32(0, 0x5000 | 3, true);
      h.load(0x5000, page);
      h.load(0x5020, f);
      h.load(0x1000, main);
      h.enterFlat32(0x1000);
      h.state.cr3 = 0x10000;
      h.core.refresh();
      const c0 = h.state.icount;
      expect(h.runUntilHalt(10_000_000)).toBe(MM.EXIT_STOPPED);
      runs.push({ eax: h.state.gpr('eax'), edx: h.state.gpr('edx'), ebx: h.state.gpr('ebx'), esp: h.state.gpr('esp'), eip: h.state.eip, n: Number(h.state.icount - c0), jit: jitRetired(h) });
    }
    expect(runs[0].eax).toBe(2000);
    expect(runs[1].jit).toBeGreaterThan(runs[1].n / 2);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('follows the guest rewriting translated code (the write makes the translation stale)', async () => {
    const h = await harness(true);
    // l: mov eax,imm32 (the immediate at 0x1001); add edx,eax; dec ecx; jnz l; hlt
    h.load(0x1000, [0xb8, 1, 0, 0, 0, 0x01, 0xc2, 0x49, 0x75, 0xf6, 0xf4]);
    // The guest then stores 5 over the immediate and runs the loop again:
    // mov dword [0x1001],5; mov ecx,10; jmp 0x1000
    h.load(0x1100, [0xc7, 0x05, 0x01, 0x10, 0, 0, 5, 0, 0, 0, 0xb9, 10, 0, 0, 0, 0xe9, 0xec, 0xfe, 0xff, 0xff]);
    h.enterFlat32(0x1000);
    h.state.setGpr('ecx', 100);
    h.state.setGpr('edx', 0);
    h.runUntilHalt();
    expect(h.state.gpr('edx')).toBe(100);
    const translated = jitRetired(h);
    expect(translated).toBeGreaterThan(0);
    h.state.eip = 0x1100;
    h.state.halted = false;
    h.runUntilHalt();
    expect(h.state.gpr('edx')).toBe(100 + 10 * 5);
  });

  it('follows the host rewriting translated code (a device or loader write through CodePages)', async () => {
    const h = await harness(true);
    // l: add edx,imm8 ; dec ecx; jnz l; hlt
    const prog = (imm: number) => [0x83, 0xc2, imm, 0x49, 0x75, 0xfa, 0xf4];
    h.load(0x1000, prog(1));
    h.enterFlat32(0x1000);
    h.state.setGpr('ecx', 50);
    h.state.setGpr('edx', 0);
    h.runUntilHalt();
    expect(h.state.gpr('edx')).toBe(50);
    h.load(0x1000, prog(3)); // the harness notes the write (CodePages.noteWrite), as GuestRam does
    h.state.eip = 0x1000;
    h.state.halted = false;
    h.state.setGpr('ecx', 50);
    h.state.setGpr('edx', 0);
    h.runUntilHalt();
    expect(h.state.gpr('edx')).toBe(150);
  });

  it('adds the base of an overriding segment (FS, GS, ES; DS, SS, CS flat) and leaves a segment with a limit to the interpreter', async () => {
    const body = [
      0x65, 0xa1, ...le32(0x14), // mov eax,gs:[0x14]
      0x65, 0x03, 0x05, ...le32(0x18), // add eax,gs:[0x18]
      0x65, 0xa3, ...le32(0x20), // mov gs:[0x20],eax
      0x64, 0x8b, 0x1d, ...le32(0x10), // mov ebx,fs:[0x10]
      0x65, 0x01, 0x1c, 0x8d, ...le32(0x28), // add gs:[ecx*4+0x28],ebx
      0x65, 0xff, 0x05, ...le32(0x24), // inc dword gs:[0x24]
      0x26, 0x88, 0x05, ...le32(0x30), // mov es:[0x30],al
      0x3e, 0x8d, 0x74, 0x26, 0x00, // lea esi,ds:[esi+0]
      0x65, 0x33, 0x15, ...le32(0x14), // xor edx,gs:[0x14]
      0x65, 0x0f, 0xb6, 0x3d, ...le32(0x15), // movzx edi,byte gs:[0x15]
      0x36, 0xa1, ...le32(0x7100), // mov eax,ss:[0x7100]
      0xa2, ...le32(0x7140), // mov [0x7140],al
      0x2e, 0x8b, 0x2d, ...le32(0x7104), // mov ebp,cs:[0x7104]
    ];
    // mov ecx,100; l: body; dec ecx; jnz l; hlt
    const prog = [0xb9, 100, 0, 0, 0, ...body, 0x49, 0x0f, 0x85, ...le32(-(body.length + 7)), 0xf4];
    for (const fsLimit of [0xffffffff, 0xfff]) {
      const runs = [];
      for (const jit of [false, true]) {
        const h = await harness(jit);
        h.load(0x1000, prog);
        h.load(0x7000, Array.from({ length: 0x300 }, (_, k) => (k * 37 + 11) & 0xff));
        h.enterFlat32(0x1000);
        h.state.setSeg('gs', { selector: 0x10, base: 0x7200, limit: 0xffffffff, access: 0xc93 });
        h.state.setSeg('fs', { selector: 0x10, base: 0x7000, limit: fsLimit, access: fsLimit === 0xfff ? 0x93 : 0xc93 });
        h.state.setSeg('es', { selector: 0x10, base: 0x7080, limit: 0xffffffff, access: 0xc93 });
        h.core.refresh();
        const c0 = h.state.icount;
        expect(h.runUntilHalt(1_000_000)).toBe(MM.EXIT_STOPPED);
        runs.push({
          regs: ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp'].map((r) => h.state.gpr(r as 'eax')), flags: h.eflags(),
          ram: Array.from(h.ram.subarray(0x7000, 0x7400)), n: Number(h.state.icount - c0), jit: jitRetired(h),
        });
      }
      // With a limit to check, FS's load is the interpreter's (the rest may be translated).
      if (fsLimit === 0xffffffff) expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
      else expect(runs[1].jit).toBeGreaterThan(0);
      expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
    }
  });

  it('runs nothing translated while DS or SS is based or limited, and the interpreter\'s results stand', async () => {
    // mov ecx,200; l: mov eax,[0x7000]; add [0x7004],eax; push eax; pop ebx; inc dword [0x7008]; dec ecx; jnz l; hlt
    const body = [0xa1, ...le32(0x7000), 0x01, 0x05, ...le32(0x7004), 0x50, 0x5b, 0xff, 0x05, ...le32(0x7008)];
    const prog = [0xb9, 200, 0, 0, 0, ...body, 0x49, 0x0f, 0x85, ...le32(-(body.length + 7)), 0xf4];
    const data = (h: CpuHarness) => h.load(0x7000, Array.from({ length: 0x200 }, (_, k) => (k * 29 + 5) & 0xff));
    const cases: Array<[string, ((h: CpuHarness) => void) | null]> = [
      ['flat', null],
      ['DS based at 0x100', (h) => h.state.setSeg('ds', { selector: 0x10, base: 0x100, limit: 0xffffffff, access: 0xc93 })],
      ['SS limited to 1 MiB', (h) => h.state.setSeg('ss', { selector: 0x10, base: 0, limit: 0xfffff, access: 0x93 })],
    ];
    for (const [what, seg] of cases) {
      const runs = await bothWays(prog, ['eax', 'ebx', 'ecx', 'esp'], {
        ram: [0x7000, 0x7200],
        setup: (h) => { data(h); if (seg) { seg(h); h.core.refresh(); } },
      });
      expect({ ...runs[1], jit: 0 }, what).toEqual({ ...runs[0], jit: 0 });
      if (seg) expect(runs[1].jit, what).toBe(0);
      else expect(runs[1].jit, what).toBeGreaterThan(0.9 * runs[1].n);
    }
  });

  it('translates an instruction whose bytes cross into the next page, and leaves it to the interpreter once those bytes change', async () => {
    // 0x1ff9: mov ecx,300; 0x1ffe l: add eax,0x01020304 (its last three bytes at 0x2000); dec ecx; jnz l; hlt;
    // mov ecx,300; jmp l. (A loop head, as a return address can be: before, every jump to it went through the interpreter.)
    const prog = [0xb9, ...le32(300), 0x05, ...le32(0x01020304), 0x49, 0x75, 0xf8, 0xf4, 0xb9, ...le32(300), 0xe9, ...le32(-0x13)];
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      h.load(0x1ff9, prog);
      h.enterFlat32(0x1ff9);
      const c0 = h.state.icount;
      expect(h.runUntilHalt(1_000_000)).toBe(MM.EXIT_STOPPED);
      const first = { eax: h.state.gpr('eax'), n: Number(h.state.icount - c0), jit: jitRetired(h) };
      // The immediate's top bytes (on the next page, which holds no translation) change: the
      // translated ADD must not go on adding the old value.
      h.load(0x2001, [0x7f, 0x05]);
      h.state.halted = false; // on after the HLT: the loop again, from its head (no new block on its page)
      const j0 = jitRetired(h);
      expect(h.runUntilHalt(1_000_000)).toBe(MM.EXIT_STOPPED);
      runs.push({ first, eax: h.state.gpr('eax'), flags: h.eflags(), jitAfter: jitRetired(h) - j0 });
    }
    expect(runs[1].first.eax).toBe(runs[0].first.eax);
    expect(runs[1].first.n).toBe(runs[0].first.n);
    expect(runs[1].eax).toBe(runs[0].eax);
    expect(runs[1].flags).toBe(runs[0].flags);
    expect(runs[0].eax).toBe((0x01020304 * 300 + 0x057f0304 * 300) >>> 0);
    // Without the next page's bytes the loop head ran interpreted: a third of the loop at most translated.
    expect(runs[1].first.jit).toBeGreaterThan(0.9 * runs[1].first.n);
    expect(runs[1].jitAfter).toBeGreaterThan(0);
  });

  it('goes back to translated code right after an instruction it leaves to the interpreter', async () => {
    // mov ecx,1000; l: add eax,ecx; cmc; adc edx,eax; xor ebx,edx; add esi,ebx; sub edi,eax; dec ecx; jnz l; hlt
    // (CMC is the interpreter's: the code after it is looked up as after a jump.)
    const prog = [0xb9, 0xe8, 0x03, 0, 0, 0x01, 0xc8, 0xf5, 0x11, 0xc2, 0x31, 0xd3, 0x01, 0xde, 0x29, 0xc7, 0x49, 0x75, 0xf2, 0xf4];
    const runs = await bothWays(prog, ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi']);
    expect(runs[1].jit).toBeGreaterThan(0.8 * runs[1].n); // all but CMC (1 in 8) and the first rounds
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('goes back to translated code where a block that the chunk\'s end cut short falls through, stopping at every budget as the interpreter does', async () => {
    // mov ecx,2000; l: 13 × (add eax,ecx; xor ebx,eax; lea edx,[edx+ebx*2+1]); dec ecx; jnz l; hlt
    // (a straight run of 39 instructions: three blocks and a bit falling through to each other)
    const body = Array.from({ length: 13 }, () => [0x01, 0xc8, 0x31, 0xc3, 0x8d, 0x54, 0x5a, 0x01]).flat();
    const prog = [0xb9, 0xd0, 0x07, 0, 0, ...body, 0x49, 0x0f, 0x85, ...[-(body.length + 7)].flatMap((v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff]), 0xf4];
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      h.load(0x1000, prog);
      h.enterFlat32(0x1000);
      h.core.refresh();
      const c0 = h.state.icount;
      const states = [];
      for (let k = 0; k < 200; k++) {
        h.core.run(397); // a budget that ends runs and chunks all over the loop
        states.push([h.state.eip, h.state.gpr('eax'), h.state.gpr('ebx'), h.state.gpr('ecx'), h.state.gpr('edx'), h.eflags()]);
      }
      runs.push({ states, n: Number(h.state.icount - c0), jit: jitRetired(h) });
    }
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('makes a page\'s function once for blocks that become hot one after the other (the warm ones come in with the first)', async () => {
    // 0x1000: mov ecx,200; l: call 0x3000; call 0x3040; dec ecx; jnz l; hlt
    const main = [0xb9, 200, 0, 0, 0, 0xe8, ...le32(0x3000 - 0x100a), 0xe8, ...le32(0x3040 - 0x100f), 0x49, 0x75, 0xf3, 0xf4];
    // f1 (0x3000) and f2 (0x3040), called from another page: add eax,ecx; xor ebx,eax; add edx,ebx; inc esi; sub edi,eax; ret
    const f = [0x01, 0xc8, 0x31, 0xc3, 0x01, 0xda, 0x46, 0x29, 0xc7, 0xc3];
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      const host = (h.core as unknown as { jit: { hot: number; stats: { translations: number } } }).jit;
      h.core.jitThreshold(8);
      host.hot = 8;
      h.load(0x1000, main);
      h.load(0x3000, f);
      h.load(0x3040, f);
      h.enterFlat32(0x1000);
      expect(h.runUntilHalt(1_000_000)).toBe(MM.EXIT_STOPPED);
      runs.push({ regs: ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'esp'].map((r) => h.state.gpr(r as 'eax')), flags: h.eflags(), made: jit ? host.stats.translations : 0 });
    }
    // One function for each page: f2 had started 7 times when f1 became hot.
    expect(runs[1].made).toBe(2);
    expect({ ...runs[1], made: 0 }).toEqual(runs[0]);
  });

  it('runs shifts by CL, SHLD/SHRD, BT/BTS/BTR/BTC, LEAVE, CLD/STD, CLI and 66 90 translated, with the interpreter\'s results', async () => {
    // A frame per round (push ebp; mov ebp,esp; sub esp,8; ... leave), and in it, on registers and on
    // [0x7000]/[0x7004]: shl/shr (seto after it)/sar r,cl (CL runs through counts of 0 mod 32, which change no flag),
    // shld r,r,cl; shrd r,r,5; shld/shrd [m],r,cl; bt r,r; bts r,7; btr [m],3; btc r,r; bt/bts [m],imm;
    // the flags they leave folded into EBX by adc/sbb/setc/seto; std on odd rounds, pushfd (the
    // interpreter's) to read DF, cld; 66 90; cli; then dec ecx; jnz (300 rounds). Source: nasm, flat binary.
    const prog = [
    0xb9, 0x2c, 0x01, 0x00, 0x00, 0xbe, 0x78, 0x56, 0x34, 0x12, 0xbf, 0xf0, 0xde, 0xbc, 0x9a, 0xc7, 0x05, 0x00,
    0x70, 0x00, 0x00, 0x34, 0x12, 0x0f, 0x0f, 0xc7, 0x05, 0x04, 0x70, 0x00, 0x00, 0x01, 0x00, 0x00, 0x40, 0x55,
    0x89, 0xe5, 0x83, 0xec, 0x08, 0x89, 0x4d, 0xfc, 0x89, 0xf0, 0xd3, 0xe0, 0x11, 0xc3, 0x89, 0xfa, 0xd3, 0xea,
    0x0f, 0x90, 0xc0, 0x11, 0xd3, 0x01, 0xc6, 0xd3, 0xfa, 0x0f, 0x92, 0xc0, 0x0f, 0x90, 0xc4, 0x01, 0xc3, 0x0f,
    0xa5, 0xfe, 0x11, 0xf3, 0x0f, 0xac, 0xdf, 0x05, 0x0f, 0x90, 0xc0, 0x01, 0xc3, 0x0f, 0xa5, 0x15, 0x00, 0x70,
    0x00, 0x00, 0x83, 0xdb, 0x00, 0x0f, 0xad, 0x35, 0x04, 0x70, 0x00, 0x00, 0x0f, 0xa3, 0xce, 0x83, 0xd3, 0x00,
    0x0f, 0xba, 0xef, 0x07, 0x0f, 0xba, 0x35, 0x00, 0x70, 0x00, 0x00, 0x03, 0x0f, 0xbb, 0xce, 0x0f, 0xba, 0x25,
    0x04, 0x70, 0x00, 0x00, 0x1e, 0x0f, 0x92, 0xc0, 0x0f, 0xba, 0x2d, 0x04, 0x70, 0x00, 0x00, 0x11, 0x11, 0xc3,
    0xf6, 0xc1, 0x01, 0x74, 0x01, 0xfd, 0x9c, 0x58, 0x25, 0x00, 0x04, 0x00, 0x00, 0x01, 0xc3, 0xfc, 0x66, 0x90,
    0xfa, 0xc9, 0x49, 0x0f, 0x85, 0x78, 0xff, 0xff, 0xff, 0xf4,
    ];
    const runs = await bothWays(prog, ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp'], { ram: [0x7000, 0x7008] });
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n); // PUSHFD and POP after it are the interpreter's
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('counts two blocks that share a hot counter each, so both become hot', async () => {
    // A function at 0x3000 and one at an address whose hot counter is the same (the top 14 bits
    // of phys × JIT_HASH), called one after the other: each start of one is a start the
    // counter's other block did not make.
    const counter = (phys: number) => Math.imul(phys, MM.JIT_HASH) >>> 18;
    let other = 0x4000;
    while (counter(other) !== counter(0x3000)) other += 16;
    // 0x1000: mov ecx,200; l: call 0x3000; call other; dec ecx; jnz l; hlt
    const main = [0xb9, 200, 0, 0, 0, 0xe8, ...le32(0x3000 - 0x100a), 0xe8, ...le32(other - 0x100f), 0x49, 0x75, 0xf3, 0xf4];
    // add eax,ecx; xor ebx,eax; add edx,ebx; inc esi; sub edi,eax; ret
    const f = [0x01, 0xc8, 0x31, 0xc3, 0x01, 0xda, 0x46, 0x29, 0xc7, 0xc3];
    const runs = await bothWays(main, ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'esp'], {
      setup: (h) => {
        h.core.jitThreshold(8);
        (h.core as unknown as { jit: { hot: number } }).jit.hot = 8;
        h.load(0x3000, f);
        h.load(other, f);
      },
    });
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('keeps CF through INC at a block\'s start, whether the flags record in memory holds CF or EFLAGS does', async () => {
    // mov ecx,1000; l: inc eax; adc ebx,0; add esi,0x9e3779b9; test cl,1; jz even;
    //   add edi,esi; dec ecx; jnz l (DEC: CF in EFLAGS); jmp out
    // even: dec ecx; jz out; add edi,esi; jmp l (ADD: CF in the record); out: hlt
    const prog = [0xb9, 0xe8, 0x03, 0, 0, 0x40, 0x83, 0xd3, 0x00, 0x81, 0xc6, 0xb9, 0x79, 0x37, 0x9e, 0xf6, 0xc1, 0x01, 0x74, 7,
      0x01, 0xf7, 0x49, 0x75, 0xec, 0xeb, 7, 0x49, 0x74, 4, 0x01, 0xf7, 0xeb, 0xe3, 0xf4];
    const runs = await bothWays(prog, ['eax', 'ebx', 'ecx', 'esi', 'edi']);
    expect(runs[0].regs[1]).toBeGreaterThan(100); // the carries did reach EBX
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('translates the hot block however many warm ones come with it (they never crowd it out of the function)', () => {
    // A page of NOPs ending in RET: a block every 16 bytes (a block holds 16 instructions at most).
    const page = new Uint8Array(4096).fill(0x90);
    page[4095] = 0xc3;
    const read = (off: number) => (off >= 0 && off < 4096 ? page[off] : -1);
    const base = 0x400000;
    const entry = base + 4000;
    // 250 warm starts: 4,000 instructions, twice what one function takes.
    const warm = Array.from({ length: 250 }, (_, k) => base + 16 * k);
    const tr = translatePage(read, [], entry, MM.VCPU_BASE, false, { after: warm });
    expect(tr?.blocks[0]).toBe(entry);
    expect(tr!.blocks.length).toBeGreaterThan(1); // and as many warm ones as fit
  });

  it('runs 16-bit MOV and TEST, XCHG, CMPXCHG and DIV as the interpreter does (an unaligned locked operand is the interpreter\'s)', async () => {
    // mov dword [0x7008],1; mov ecx,300; mov esi,0x7000; xor ebp,ebp
    // l: mov eax,ecx; mov [esi],ax; mov bx,[esi]; mov dx,cx; test cx,cx;
    //    xchg [esi+4],eax; xchg ebx,edx; xchg [esi+0x11],ebx (unaligned);
    //    mov eax,ecx; and eax,1; mov edx,1; lock cmpxchg [esi+8],edx; jnz +1; inc ebp;
    //    cmpxchg edi,edx; mov eax,ecx; xor edx,edx; mov ebx,7; div ebx; add edi,eax; add edi,edx;
    //    test bx,bx; js +1; inc edi; dec ecx; jnz l; hlt
    const body = [
      0x89, 0xc8, 0x66, 0x89, 0x06, 0x66, 0x8b, 0x1e, 0x66, 0x89, 0xca, 0x66, 0x85, 0xc9,
      0x87, 0x46, 0x04, 0x87, 0xd3, 0x87, 0x5e, 0x11,
      0x89, 0xc8, 0x83, 0xe0, 0x01, 0xba, 1, 0, 0, 0, 0xf0, 0x0f, 0xb1, 0x56, 0x08, 0x75, 0x01, 0x45,
      0x0f, 0xb1, 0xd7, 0x89, 0xc8, 0x31, 0xd2, 0xbb, 7, 0, 0, 0, 0xf7, 0xf3, 0x01, 0xc7, 0x01, 0xd7,
      0x66, 0x85, 0xdb, 0x78, 0x01, 0x47,
    ];
    const prog = [0xc7, 0x05, 0x08, 0x70, 0, 0, 1, 0, 0, 0, 0xb9, 0x2c, 0x01, 0, 0, 0xbe, 0, 0x70, 0, 0, 0x31, 0xed,
      ...body, 0x49, 0x0f, 0x85, ...le32(-(body.length + 7)), 0xf4];
    const runs = await bothWays(prog, ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp'], { ram: [0x7000, 0x7020] });
    expect(runs[0].regs[6]).toBe(150); // CMPXCHG found EAX equal every other round
    // All but the unaligned XCHG (1 in 33) and the first round.
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('leaves a DIV that raises #DE (a zero divisor, a quotient too wide) to the interpreter: the fault is exact', async () => {
    for (const edx of [0, 30]) {
      const states = [];
      for (const jit of [false, true]) {
        const h = await harness(jit);
        h.load(0x3000, [0xf4]); // #DE handler: hlt
        const idt = new DataView(h.memory.buffer, MM.RAM_BASE + 0x2000, 256 * 8);
        idt.setUint32(0, (0x08 << 16) | 0x3000, true);
        idt.setUint32(4, 0x00008e00, true);
        // mov ecx,100; l: mov edx,imm; mov eax,ecx; mov ebx,ecx; sub ebx,50; div ebx; add esi,eax; dec ecx; jnz l; hlt
        // (edx 0: the divisor reaches 0 at ECX = 50; edx 30: the quotient overflows once EBX <= 30)
        h.load(0x1000, [0xb9, 100, 0, 0, 0, 0xba, ...le32(edx), 0x89, 0xc8, 0x89, 0xcb, 0x83, 0xeb, 0x32, 0xf7, 0xf3, 0x01, 0xc6, 0x49, 0x75, 0xed, 0xf4]);
        h.enterFlat32(0x1000);
        h.state.setIdtr(0x2000, 256 * 8 - 1);
        h.core.refresh();
        const c0 = h.state.icount;
        h.runUntilHalt();
        const frame = new DataView(h.memory.buffer, MM.RAM_BASE + h.state.gpr('esp'), 12); // EIP, CS, EFLAGS
        states.push({
          vector: h.state.lastException.vector, faultEip: frame.getUint32(0, true), ecx: h.state.gpr('ecx'), esi: h.state.gpr('esi'),
          eax: h.state.gpr('eax'), edx: h.state.gpr('edx'), n: Number(h.state.icount - c0), jit: jitRetired(h),
        });
      }
      expect(states[0].vector).toBe(0);
      expect(states[0].faultEip).toBe(0x1011);
      expect(states[0].ecx).toBe(50 + edx);
      expect(states[1].jit).toBeGreaterThan(0);
      expect({ ...states[1], jit: 0 }).toEqual({ ...states[0], jit: 0 });
    }
  });

  it('runs a call to a "get PC" thunk (MOV EBX,[ESP]; RET) inline, and sees the guest rewrite the thunk', async () => {
    // 0x1000: mov ecx,200; l: call 0x3000; add eax,ebx; add esi,edx; cmp ecx,100; jne skip;
    //   mov byte [0x3001],0x14 (the thunk now loads EDX); skip: dec ecx; jnz l; hlt
    const main = [0xb9, 200, 0, 0, 0, 0xe8, ...le32(0x3000 - 0x100a), 0x01, 0xd8, 0x01, 0xd6, 0x83, 0xf9, 0x64, 0x75, 0x07,
      0xc6, 0x05, 0x01, 0x30, 0, 0, 0x14, 0x49, 0x75, 0xe2, 0xf4];
    const runs = await bothWays(main, ['eax', 'ebx', 'ecx', 'edx', 'esi', 'esp'], {
      ram: [0x80000 - 4, 0x80000], // the word below the stack, where CALL left the return address
      setup: (h) => { h.load(0x3000, [0x8b, 0x1c, 0x24, 0xc3]); h.state.setGpr('edx', 0); },
    });
    expect(runs[0].regs[0]).toBe(200 * 0x100a); // EBX held the return address (then kept it)
    expect(runs[0].regs[4]).toBe(99 * 0x100a); // and EDX after the rewrite
    // The thunk's two instructions too, until the rewrite: then the call goes to the thunk.
    expect(runs[1].jit).toBeGreaterThan(0.85 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('goes from one page\'s function straight to another\'s and still stops at every budget as the interpreter does', async () => {
    // 0x1000: mov ecx,3000; l: call 0x3000; call 0x5010; dec ecx; jnz l; hlt
    // 0x3000: add eax,ecx; xor ebx,eax; jmp 0x4000.  0x4000: lea edx,[edx+ebx*2+1]; inc esi; ret
    // 0x5010: sub edi,eax; add edi,edx; ret
    const main = [0xb9, 0xb8, 0x0b, 0, 0, 0xe8, ...le32(0x3000 - 0x100a), 0xe8, ...le32(0x5010 - 0x100f), 0x49, 0x75, 0xf3, 0xf4];
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      h.load(0x1000, main);
      h.load(0x3000, [0x01, 0xc8, 0x31, 0xc3, 0xe9, ...le32(0x4000 - 0x3009)]);
      h.load(0x4000, [0x8d, 0x54, 0x5a, 0x01, 0x46, 0xc3]);
      h.load(0x5010, [0x29, 0xc7, 0x01, 0xd7, 0xc3]);
      h.enterFlat32(0x1000);
      h.core.refresh();
      const c0 = h.state.icount;
      const states = [];
      for (let k = 0; k < 300; k++) {
        h.core.run(k % 2 ? 97 : 250); // budgets that end runs and chunks all over the pages
        states.push([h.state.eip, ...(['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'esp'] as const).map((r) => h.state.gpr(r)), h.eflags()]);
      }
      runs.push({ states, n: Number(h.state.icount - c0), jit: jitRetired(h) });
    }
    expect(runs[1].jit).toBeGreaterThan(0.8 * runs[1].n);
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });

  it('runs MOVS and STOS, with REP or not, as the interpreter does (down with DF, overlapping copies, across pages)', async () => {
    // mov ebp,40; l: mov esi,0x7ff0; mov edi,0x8100; mov ecx,ebp; rep movsb (across a page);
    //   mov edi,0x9000; mov eax,ebp; imul eax,eax,0x01010101; mov ecx,ebp; rep stosd;
    //   mov edi,0x9200; mov eax,ebp; mov ecx,ebp; rep stosd (a pattern, not a byte);
    //   mov esi,0x8100; lea edi,[esi+3]; mov ecx,ebp; rep movsb (overlapping from below: the interpreter's);
    //   mov esi,0x8200; mov edi,0x9400; movsd; stosb; std; movsb; stosd; cld;
    //   mov ecx,ebp; shl ecx,8; mov edi,0xa001; rep stosb (10 KiB, across pages; 40 × 256 > REP_CHUNK at the end);
    //   dec ebp; jnz l; hlt
    const body = [
      0xbe, ...le32(0x7ff0), 0xbf, ...le32(0x8100), 0x89, 0xe9, 0xf3, 0xa4,
      0xbf, ...le32(0x9000), 0x89, 0xe8, 0x69, 0xc0, ...le32(0x01010101), 0x89, 0xe9, 0xf3, 0xab,
      0xbf, ...le32(0x9200), 0x89, 0xe8, 0x89, 0xe9, 0xf3, 0xab,
      0xbe, ...le32(0x8100), 0x8d, 0x7e, 0x03, 0x89, 0xe9, 0xf3, 0xa4,
      0xbe, ...le32(0x8200), 0xbf, ...le32(0x9400), 0xa5, 0xaa, 0xfd, 0xa4, 0xab, 0xfc,
      0x89, 0xe9, 0xc1, 0xe1, 0x08, 0xbf, ...le32(0xa001), 0xf3, 0xaa,
    ];
    const prog = [0xbd, 40, 0, 0, 0, ...body, 0x4d, 0x0f, 0x85, ...le32(-(body.length + 7)), 0xf4];
    const runs = await bothWays(prog, ['eax', 'ecx', 'esi', 'edi', 'ebp'], {
      ram: [0x7000, 0xe000],
      setup: (h) => h.load(0x7f00, Array.from({ length: 0x400 }, (_, k) => (k * 13 + 7) & 0xff)),
    });
    expect(runs[1].jit).toBeGreaterThan(0.8 * runs[1].n); // all but STD, CLD, the overlapping copy and the first round
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
  });
});


describe('translation compiled on another thread (JitHost.async, as in a machine)', () => {
  type Step = number | ((h: CpuHarness) => void);
  /**
   * `prog` at 0x1000 in flat 32-bit mode, with ECX = `ecx`, by the interpreter and then with
   * translation compiled asynchronously: each number in `steps` runs that many instructions
   * (then, translating, waits for the compiles in flight to finish), each function acts on the
   * machine; then the rest runs to HLT. EDX, the instructions retired, the translated ones.
   */
  async function bothWaysAsync(prog: number[], ecx: number, steps: Step[], setup?: (h: CpuHarness) => void) {
    const runs = [];
    for (const jit of [false, true]) {
      const h = await harness(jit);
      h.core.jit.async = true;
      h.load(0x1000, prog);
      h.enterFlat32(0x1000);
      setup?.(h);
      h.state.setGpr('ecx', ecx);
      h.state.setGpr('edx', 0);
      const c0 = h.state.icount;
      const translatedAt: number[] = [];
      for (const s of steps) {
        if (typeof s === 'function') { s(h); continue; }
        expect(h.core.run(s)).toBe(MM.EXIT_BUDGET);
        translatedAt.push(jitRetired(h));
        await h.core.jit.settled();
      }
      expect(h.runUntilHalt(10_000_000)).toBe(MM.EXIT_STOPPED);
      runs.push({ edx: h.state.gpr('edx'), n: Number(h.state.icount - c0), jit: jitRetired(h), translatedAt, translations: h.core.jit.stats.translations });
    }
    return runs;
  }

  it('interprets a hot block while its function compiles, then runs it translated', async () => {
    // l: add edx,ecx; dec ecx; jnz l; hlt
    const runs = await bothWaysAsync([0x01, 0xca, 0x49, 0x75, 0xfb, 0xf4], 100_000, [3000]);
    expect(runs[1].translatedAt).toEqual([0]); // the run went on while the compile was in flight
    expect(runs[1].jit).toBeGreaterThan(0.95 * runs[1].n);
    expect({ ...runs[1], jit: 0, translatedAt: [], translations: 0 }).toEqual({ ...runs[0], jit: 0, translatedAt: [], translations: 0 });
  });

  it('does not run a translation whose code page was written while it compiled, and translates the page anew', async () => {
    // l: add edx,imm8; dec ecx; jnz l; hlt (the host rewrites the immediate while the first compile is in flight)
    const prog = (imm: number) => [0x83, 0xc2, imm, 0x49, 0x75, 0xfa, 0xf4];
    const runs = await bothWaysAsync(prog(1), 300_000, [3000, (h) => h.load(0x1000, prog(3)), 3000]);
    expect(runs[1].translations).toBe(2);
    expect(runs[1].translatedAt).toEqual([0, 0]); // the first translation never ran; the second was in flight
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0, translatedAt: [], translations: 0 }).toEqual({ ...runs[0], jit: 0, translatedAt: [], translations: 0 });
  });

  it('goes back to the core from translated code that reaches a block whose function is still compiling', async () => {
    // 0x1000: l: call 0x3000; dec ecx; jnz l; hlt      0x3000: add edx,imm8; ret
    // Both pages' functions are made; then the host rewrites 0x3000, whose block is made anew
    // while the translated loop goes on calling it.
    const main = [0xe8, ...le32(0x3000 - 0x1005), 0x49, 0x75, 0xf8, 0xf4];
    const callee = (imm: number) => [0x83, 0xc2, imm, 0xc3];
    const runs = await bothWaysAsync(main, 100_000, [50, (h) => h.load(0x3000, callee(3)), 5000], (h) => h.load(0x3000, callee(1)));
    expect(runs[1].translatedAt[1]).toBeGreaterThan(0);
    expect(runs[1].jit).toBeGreaterThan(0.9 * runs[1].n);
    expect({ ...runs[1], jit: 0, translatedAt: [], translations: 0 }).toEqual({ ...runs[0], jit: 0, translatedAt: [], translations: 0 });
  });
});

describe('blocks a page\'s function holds', () => {
  /** l: inc edx; pushfd; pop eax; dec ecx; jnz l; hlt at 0x1000, ready to run with ECX = `ecx` and blocks hot at `hot` starts. */
  async function pushfLoop(jit: boolean, hot: number, ecx: number): Promise<CpuHarness> {
    const h = await harness(jit);
    h.core.jitThreshold(hot);
    h.load(0x1000, [0x42, 0x9c, 0x58, 0x49, 0x75, 0xfa, 0xf4]);
    h.enterFlat32(0x1000);
    h.state.setGpr('ecx', ecx);
    return h;
  }

  it('runs translated from their first start, the one after an instruction left to the interpreter too', async () => {
    // The loop with ECX = 400 and blocks hot at 50 starts. PUSHFD is the interpreter's: the
    // function stops before it and the core looks for translated code right after it, at a
    // block of the function made when l became hot.
    const runs = [];
    for (const jit of [false, true]) {
      const h = await pushfLoop(jit, 50, 400);
      const c0 = h.state.icount;
      expect(h.runUntilHalt()).toBe(MM.EXIT_STOPPED);
      runs.push({ edx: h.state.gpr('edx'), eax: h.state.gpr('eax'), n: Number(h.state.icount - c0), jit: jitRetired(h) });
    }
    expect({ ...runs[1], jit: 0 }).toEqual({ ...runs[0], jit: 0 });
    // Interpreted: about 50 rounds (5 instructions each) until l is hot, then PUSHFD alone.
    expect(runs[1].n - runs[1].jit).toBeLessThan(50 * 5 + 350 + 20);
  });

  it('finds a block of an installed function whose cache entry was replaced within 256 of its starts, not when it is hot again', async () => {
    // The same loop, blocks hot at 5,000 starts, ECX = 20,000. Once l's function is in, the
    // host's entry for the block after PUSHFD (0x1002) is taken away, as a set's replacement would.
    const runs = [];
    for (const jit of [false, true]) {
      const h = await pushfLoop(jit, 5000, 20_000);
      expect(h.core.run(30_000)).toBe(MM.EXIT_BUDGET); // 6,000 rounds: l is hot at 5,000
      const w = new Uint32Array(h.memory.buffer, MM.VCPU_BASE + MM.VCPU_JIT_CACHE, (MM.JIT_ENTRIES * MM.JIT_ENTRY) / 4);
      let taken = 0;
      for (let e = 0; e < w.length; e += MM.JIT_ENTRY / 4) {
        if (w[e + MM.JIT_E_EIP / 4] === 0x1002 && w[e + MM.JIT_E_FN / 4] !== 0) { w[e + MM.JIT_E_FN / 4] = 0; taken++; }
      }
      expect(taken).toBe(jit ? 1 : 0);
      const c0 = h.state.icount, j0 = jitRetired(h);
      expect(h.core.run(20_000)).toBe(MM.EXIT_BUDGET); // 4,000 rounds
      runs.push({ edx: h.state.gpr('edx'), ecx: h.state.gpr('ecx'), n: Number(h.state.icount - c0), interpreted: Number(h.state.icount - c0) - (jitRetired(h) - j0) });
    }
    expect({ ...runs[1], interpreted: 0 }).toEqual({ ...runs[0], interpreted: 0 });
    // PUSHFD in every round, and POP, DEC, JNZ in each round until the block is found (256
    // starts); the 5,000 it would take to be hot again would be 16,000 in all.
    expect(runs[1].interpreted).toBeLessThan(4000 + 3 * 300);
  });
});

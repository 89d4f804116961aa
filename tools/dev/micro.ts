// Development aid: tight guest loops to measure raw dispatch speed per instruction kind.
// Usage: node tools/run-ts.mjs tools/dev/micro.ts [--wasm a.wasm ...] [loop-name ...]
// Each loop runs in flat 32-bit mode (paging off) for 4 rounds of 50M instructions, timed by
// the process's CPU time; the best round is reported. With several --wasm builds the rounds
// alternate between them (default build: engine-wasm/build/core.wasm).
import fs from 'node:fs';
import { createMachineMemory, instantiateCore, compileCore, type CoreExports } from '../../engine-ts/worker/wasm-core';
import { VcpuState } from '../../engine-ts/platform/vcpu-state';
import * as MM from '../../engine-wasm/memory-map';
import { setupFlat32 } from '../../test/cpu/harness';

const LOOPS: Record<string, number[]> = {
  // add eax,ecx; inc ecx; cmp ecx,0x7fffffff; jnz
  reg: [0x01, 0xc8, 0x41, 0x81, 0xf9, 0xff, 0xff, 0xff, 0x7f, 0x75, 0xf5, 0xf4],
  // nop x6; dec ecx; jnz (ECX starts at 0: wraps, never exits within the budget)
  nop: [0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x49, 0x75, 0xf7, 0xf4],
  // movzx edx,byte [esi]; add eax,edx; rol eax,5; test dl,1; jz +5; xor eax,imm32; inc esi; and esi,0xfff; dec ecx; jnz
  sum: [0x0f, 0xb6, 0x16, 0x01, 0xd0, 0xc1, 0xc0, 0x05, 0xf6, 0xc2, 0x01, 0x74, 0x05, 0x35, 0xb9, 0x79, 0x37, 0x9e,
    0x46, 0x81, 0xe6, 0xff, 0x0f, 0x00, 0x00, 0x49, 0x75, 0xe4, 0xf4],
  // mov eax,[esp+4]; mov [esp+8],eax; push eax; pop edx; add [esp+8],edx; dec ecx; jnz
  mem: [0x8b, 0x44, 0x24, 0x04, 0x89, 0x44, 0x24, 0x08, 0x50, 0x5a, 0x01, 0x54, 0x24, 0x08, 0x49, 0x75, 0xef, 0xf4],
  // Linux boot mix: mov eax,[ebp+8]; mov [esi+4],eax; add edx,[ebp-4]; cmp [esi+8],eax;
  // lea ecx,[eax+edx*4+8]; imul eax,edx; shr eax,3; movzx ecx,word [esi+2]; mov [esp+8],ecx;
  // mov edx,[esp]; test eax,eax; add esi,0; dec ebx; jnz
  kern: [0x8b, 0x45, 0x08, 0x89, 0x46, 0x04, 0x03, 0x55, 0xfc, 0x39, 0x46, 0x08, 0x8d, 0x4c, 0x90, 0x08,
    0x0f, 0xaf, 0xc2, 0xc1, 0xe8, 0x03, 0x0f, 0xb7, 0x4e, 0x02, 0x89, 0x4c, 0x24, 0x08, 0x8b, 0x14, 0x24,
    0x85, 0xc0, 0x83, 0xc6, 0x00, 0x4b, 0x75, 0xd7, 0xf4],
  // mov eax,[ebp+8] x6; dec ecx; jnz
  load: [0x8b, 0x45, 0x08, 0x8b, 0x45, 0x08, 0x8b, 0x45, 0x08, 0x8b, 0x45, 0x08, 0x8b, 0x45, 0x08, 0x8b, 0x45, 0x08,
    0x49, 0x75, 0xeb, 0xf4],
  // call f; dec ecx; jnz; f: push ebp; mov ebp,esp; pop ebp; ret
  call: [0xe8, 0x03, 0x00, 0x00, 0x00, 0x49, 0x75, 0xf8, 0x55, 0x89, 0xe5, 0x5d, 0xc3],
};

const RAM = 16 << 20;

async function makeCpu(module: WebAssembly.Module, code: number[]): Promise<{ core: CoreExports; state: VcpuState }> {
  const memory = createMachineMemory(RAM);
  const core = await instantiateCore(module, memory, {
    ioRead: () => 0xffffffff, ioWrite: () => {}, mmioRead: () => 0xffffffff, mmioWrite: () => {},
    intAck: () => -1, msrHost: () => 1, cpuidHost: () => 0, crWrite: () => {}, hypercall: () => -1,
  });
  if (core.init(0) !== 0) throw new Error('core init failed');
  core.reset();
  const state = new VcpuState(memory, 0);
  new Uint8Array(memory.buffer, MM.RAM_BASE, RAM).set(code, 0x1000);
  setupFlat32(memory, state, 0x1000, 0x80000);
  state.setGpr('esi', 0x2000);
  state.setGpr('ebp', 0x3000);
  core.refresh();
  return { core, state };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function main(args: string[]): Promise<number> {
  const wasms: string[] = [];
  const names: string[] = [];
  let once = 0; // --once N: run N million instructions per loop without timing (for valgrind)
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--wasm') wasms.push(args[++i]);
    else if (args[i] === '--once') once = Number(args[++i]);
    else names.push(args[i]);
  }
  if (wasms.length === 0) wasms.push('engine-wasm/build/core.wasm');
  const modules = await Promise.all(wasms.map((w) => compileCore(fs.readFileSync(w))));
  for (const name of names.length ? names : Object.keys(LOOPS)) {
    const code = LOOPS[name];
    if (!code) throw new Error(`unknown loop ${name} (have: ${Object.keys(LOOPS).join(', ')})`);
    const cpus = await Promise.all(modules.map((m) => makeCpu(m, code)));
    if (once > 0) {
      for (const { core } of cpus) for (let i = 0; i < once; i++) core.run(1_000_000);
      continue;
    }
    const best = cpus.map(() => 0);
    for (let rep = 0; rep < 4; rep++) {
      for (let k = 0; k < cpus.length; k++) {
        const { core, state } = cpus[k];
        const before = state.icount;
        const t0 = cpuSeconds();
        for (let i = 0; i < 10; i++) core.run(5_000_000);
        const dt = cpuSeconds() - t0;
        best[k] = Math.max(best[k], Number(state.icount - before) / dt / 1e6);
      }
    }
    console.log(`${name.padEnd(5)} ${best.map((b) => b.toFixed(1).padStart(7)).join(' ')} MIPS`);
  }
  return 0;
}

// The Multiboot loader places a kernel anywhere in RAM the memory map does not reserve
// (below 1 MiB too, as QEMU's loader does) and moves its own information block out of the
// kernel's way.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { createMachine } from '../../engine-ts/api/node';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** A flat a.out-kludge Multiboot kernel at `load` that exits through port 0xF4 with EBX >> 16. */
function kernel(load: number): Uint8Array {
  const code = [0x89, 0xd8, 0xc1, 0xe8, 0x10, 0x66, 0xba, 0xf4, 0x00, 0xee, 0xf4]; // mov eax,ebx; shr eax,16; mov dx,0xf4; out dx,al; hlt
  const k = new Uint8Array(0x3000);
  const dv = new DataView(k.buffer);
  const flags = 0x10000, magic = 0x1badb002;
  [magic, flags, (-(magic + flags)) >>> 0, load, load, load + k.length, load + k.length, load + 32].forEach((v, i) => dv.setUint32(i * 4, v >>> 0, true));
  k.set(code, 32);
  return k;
}

async function boot(load: number): Promise<number | null> {
  const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: 32, pacing: 'fast', guest: { kind: 'multiboot', kernel: kernel(load), cmdline: '' },
  }, {});
  try {
    const reason = await m.run();
    return reason.kind === 'exit' ? reason.code : null;
  } finally { m.dispose(); }
}

describe('Multiboot loader placement', () => {
  it('loads a kernel below 1 MiB and keeps the information block at its usual place', async () => {
    expect(await boot(0x20000)).toBe(1); // EBX < 64 KiB: (0 << 1) | 1
  }, 60_000);
  it('moves the information block above the kernel when the kernel sits where the block would go', async () => {
    expect(await boot(0x7000)).toBe((0x10 << 1) | 1); // EBX in the 1 MiB + page range
  }, 60_000);
  it('refuses a kernel in reserved memory (the BIOS area) with a clear error', async () => {
    await expect(boot(0xe0000)).rejects.toThrow(/not inside guest RAM that is free for it/);
  }, 60_000);
});

// The Linux loader unpacks an xz-packed bzImage itself and enters the kernel proper at its ELF
// entry, where it was linked to run, with ESI at boot_params and its BSS zero; or, asked to
// (`decompress: 'guest'`) or given a payload it cannot unpack, it enters the bzImage's own
// code at 1 MiB as before. A small made-up bzImage tells which ran through the debug exit
// port. (test/linux/boot.test.ts boots the real kernel both ways.)
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../engine-ts/api/node';
import { bzImage, le16, le32, xz } from '../linux/made-up-images';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const LINKED = 0x1000000; // where the kernel proper runs (the ELF's physical address)
const BSS = LINKED + 0x2000; // a word past the segment's file bytes, inside its memory size


/** Code that writes `ok` to the exit port if ESI points at boot_params ("HdrS" at 0x202) and the BSS word is zero, else 9. */
function proper(ok: number): number[] {
  return [
    0x81, 0xbe, 0x02, 0x02, 0x00, 0x00, 0x48, 0x64, 0x72, 0x53, // cmp dword [esi+0x202], "HdrS"
    0x75, 0x0c, // jne bad
    0xa1, ...[0, 8, 16, 24].map((s) => (BSS >>> s) & 0xff), // mov eax, [BSS]
    0x85, 0xc0, // test eax, eax
    0x75, 0x05, // jne bad
    0xb0, ok, 0xe6, 0xf4, 0xf4, // mov al, ok; out 0xf4, al; hlt
    0xb0, 9, 0xe6, 0xf4, 0xf4, // bad: mov al, 9; out 0xf4, al; hlt
  ];
}

/** A 32-bit ELF: one PT_LOAD at LINKED of a page of file bytes and three of memory, entry 0x100 into it. */
function elf(): Uint8Array {
  const b = new Uint8Array(0x4000);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  le32(b, 24, LINKED + 0x100); // e_entry (physical, as the kernel's vmlinux has it)
  le32(b, 28, 52);
  le16(b, 42, 32);
  le16(b, 44, 1);
  le32(b, 52, 1); le32(b, 56, 0x1000); le32(b, 60, 0xc0000000 + LINKED); le32(b, 64, LINKED); le32(b, 68, 0x1000); le32(b, 72, 0x3000);
  b.set(proper(1), 0x1000 + 0x100);
  le32(b, 0x1000 + (BSS - LINKED), 0xdeadbeef); // in the file past the segment's bytes: not loaded
  return b;
}

/** A bzImage whose own code at 1 MiB exits with 2, with `payload` after it. */
const withOwnCode = (payload: Uint8Array) => bzImage(payload, [0xb0, 2, 0xe6, 0xf4, 0xf4]); // mov al, 2; out 0xf4, al; hlt

async function boot(kernel: Uint8Array, opts: { decompress?: 'loader' | 'guest'; memoryMiB?: number } = {}): Promise<number | null> {
  const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: opts.memoryMiB ?? 32, pacing: 'fast', guest: { kind: 'linux', kernel, cmdline: '', decompress: opts.decompress },
  }, {});
  try {
    const reason = await m.run();
    return reason.kind === 'exit' ? reason.code : null;
  } finally { m.dispose(); }
}

// The exit port reports (value << 1) | 1.
const PROPER = (1 << 1) | 1;
const OWN_CODE = (2 << 1) | 1;

describe('Linux loader: the kernel unpacked by the loader', () => {
  it('enters an xz-packed kernel proper at its ELF entry, ESI at boot_params, its BSS zero', async () => {
    expect(await boot(withOwnCode(xz(elf())))).toBe(PROPER);
  }, 60_000);

  it('runs the bzImage\'s own code at 1 MiB when asked to, or when the payload is not xz', async () => {
    expect(await boot(withOwnCode(xz(elf())), { decompress: 'guest' })).toBe(OWN_CODE);
    const gz = new Uint8Array(execFileSync('gzip', ['-c'], { input: elf() }));
    expect(await boot(withOwnCode(gz))).toBe(OWN_CODE);
    const damaged = withOwnCode(xz(elf()));
    damaged[damaged.length - 40] ^= 0xff; // in the payload's index or footer
    expect(await boot(damaged)).toBe(OWN_CODE);
  }, 60_000);

  it('refuses a kernel that does not fit in RAM with a clear error', async () => {
    await expect(boot(withOwnCode(xz(elf())), { memoryMiB: 16 })).rejects.toThrow(/the kernel needs 17 MiB of RAM; the machine has 16 MiB/);
  }, 60_000);
});

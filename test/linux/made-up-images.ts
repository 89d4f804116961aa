// Made-up Linux images for tests of the loader and the snapshot base views: a bzImage around
// a payload (the header fields those read), and the payload packed as the kernel's build
// packs it (xz, the x86 BCJ filter, CRC32).
import { execFileSync } from 'node:child_process';

export function le32(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true); }
export function le16(b: Uint8Array, o: number, v: number): void { new DataView(b.buffer, b.byteOffset).setUint16(o, v, true); }

/** `data` packed with the xz command as Linux packs a kernel. */
export const xz = (data: Uint8Array): Uint8Array => new Uint8Array(execFileSync('xz', ['-c', '--check=crc32', '--x86', '--lzma2=preset=6'], { input: data }));

/**
 * A bzImage (boot protocol 2.15) with `payload` as its compressed kernel and `code` at the
 * start of its protected-mode part (where the loader enters it at 1 MiB when it does not
 * unpack the kernel itself), the payload's size appended as the kernel's build does.
 */
export function bzImage(payload: Uint8Array, code: number[] = []): Uint8Array {
  const setupSects = 3;
  const setup = (setupSects + 1) * 512;
  const b = new Uint8Array(setup + 0x40 + payload.length + 4);
  b[0x1f1] = setupSects;
  le16(b, 0x1fe, 0xaa55);
  b[0x200] = 0xeb; b[0x201] = 0x66; // the jump over the header
  b.set([0x48, 0x64, 0x72, 0x53], 0x202); // "HdrS"
  le16(b, 0x206, 0x20f);
  b[0x211] = 0x01; // LOADED_HIGH
  le32(b, 0x214, 0x100000); // code32_start
  le32(b, 0x22c, 0x37ffffff); // initrd_addr_max
  le32(b, 0x238, 2048); // cmdline_size
  le32(b, 0x248, 0x40); // payload_offset
  le32(b, 0x24c, payload.length + 4); // payload_length
  le32(b, 0x260, 0x400000); // init_size
  b.set(code, setup);
  b.set(payload, setup + 0x40);
  return b;
}

// The Linux/x86 boot protocol, 32-bit entry (Documentation/arch/x86/boot.rst): load the
// protected-mode kernel of a bzImage at 1 MiB, the initrd high in RAM, the command line, and
// a "zero page" (struct boot_params) with an e820 memory map; then enter the kernel in flat
// 32-bit protected mode with paging off, ESI pointing at boot_params. No BIOS involved.

import type { Board } from '../board';
import { ImageError } from './flat';

// Setup header fields (offsets in the bzImage file and in boot_params).
const HDR_SETUP_SECTS = 0x1f1;
const HDR_VID_MODE = 0x1fa;
const HDR_BOOT_FLAG = 0x1fe; // 0xAA55
const HDR_JUMP = 0x200;
const HDR_HEADER = 0x202; // "HdrS"
const HDR_VERSION = 0x206;
const HDR_TYPE_OF_LOADER = 0x210;
const HDR_LOADFLAGS = 0x211;
const HDR_CODE32_START = 0x214;
const HDR_RAMDISK_IMAGE = 0x218;
const HDR_RAMDISK_SIZE = 0x21c;
const HDR_HEAP_END_PTR = 0x224;
const HDR_CMD_LINE_PTR = 0x228;
const HDR_INITRD_ADDR_MAX = 0x22c;
const HDR_KERNEL_ALIGNMENT = 0x230;
const HDR_RELOCATABLE = 0x234;
const HDR_CMDLINE_SIZE = 0x238;
const HDR_INIT_SIZE = 0x260;
const HDR_SETUP_DATA = 0x250; // u64: physical address of the first setup_data node (2.09+)
const HDR_PREF_ADDRESS = 0x258;

// boot_params fields outside the setup header.
const BP_ACPI_RSDP_ADDR = 0x070; // u64 (protocol 2.14+)
const BP_EXT_RAMDISK_IMAGE = 0x0c0;
const BP_EXT_RAMDISK_SIZE = 0x0c4;
const BP_EXT_CMD_LINE_PTR = 0x0c8;
const BP_E820_ENTRIES = 0x1e8;
const BP_E820_TABLE = 0x2d0;
const E820_MAX_ZEROPAGE = 128;

const LOADED_HIGH = 0x01;
const CAN_USE_HEAP = 0x80;
/** Oldest protocol we accept: 2.06 gives cmdline_size, 2.03 initrd_addr_max. */
export const MIN_BOOT_PROTOCOL = 0x0206;

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;

export interface E820Entry { addr: number; size: number; type: number }

export interface LinuxBootOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
  /** Physical address of the ACPI RSDP if the board built tables (boot_params.acpi_rsdp_addr). */
  acpiRsdp?: number;
  /** Extra reserved ranges (ACPI tables, MMIO windows) to list in e820. */
  reserved?: E820Entry[];
  /**
   * Bytes for the kernel's random number generator, handed over as a SETUP_RNG_SEED
   * setup_data node (protocol 2.09+; Linux 6.x credits it when it trusts the boot loader, as
   * Debian's kernels do). Without one, a guest with no hardware RNG starts with its CRNG
   * unseeded, and the first reads of /dev/urandom spin in the kernel's jitter entropy loop
   * (about a billion instructions here).
   */
  rngSeed?: Uint8Array;
  /**
   * The kernel proper, already unpacked from the bzImage's payload and laid out (the vmlinux
   * ELF's segments; see snapshot/bases.ts): the loader puts it where it runs and enters it at
   * its ELF entry, as Xen's domain builder or a PVH boot does, so the guest does not run the
   * bzImage's decompressor (for the Debian kernel, about 2.4 billion instructions of the
   * 3.7 billion to its shell). Only for a kernel that runs where it was linked (no KASLR moves
   * it: the kernel's decompressor would not move it either when it boots from 1 MiB with
   * `nokaslr`, and without `nokaslr` this boot is as if it had been given).
   */
  unpacked?: UnpackedKernel;
}

/** Where an unpacked kernel goes: its first byte, the end of its last segment (BSS included), its entry. */
export interface KernelLayout { base: number; end: number; entry: number }
/** A kernel unpacked and laid out from `base` (`image`: its segments' file bytes, whole pages). */
export interface UnpackedKernel extends KernelLayout { image: Uint8Array }

/** setup_data type of a random seed for the kernel (arch/x86/include/uapi/asm/bootparam.h). */
const SETUP_RNG_SEED = 9;
/** Longest seed handed over (the kernel takes any length; 32 bytes credit 256 bits). */
export const MAX_RNG_SEED = 64;

/**
 * A boot's random seed as a function of `text` (the machine's configuration): the same
 * machine boots the same way every time, as everything in pvlab does (virtual time, no host
 * randomness), and machines configured differently (another MAC address) get other seeds.
 * Not secret, and not meant to be: FNV-1a over the text, spread by splitmix32.
 */
export function bootSeed(text: string, bytes = 32): Uint8Array {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4) {
    h = (h + 0x9e3779b9) >>> 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    for (let k = 0; k < 4 && i + k < bytes; k++) out[i + k] = (z >>> (8 * k)) & 0xff;
  }
  return out;
}

export interface BzImageInfo {
  protocol: number;
  setupBytes: number;
  kernelOffset: number;
  kernelSize: number;
  code32Start: number;
  initrdAddrMax: number;
  cmdlineSize: number;
  relocatable: boolean;
  initSize: number;
  version: string;
}

function u16(b: Uint8Array, o: number): number { return b[o] | (b[o + 1] << 8); }
function u32(b: Uint8Array, o: number): number { return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0; }
function put16(b: Uint8Array, o: number, v: number): void { b[o] = v & 0xff; b[o + 1] = (v >>> 8) & 0xff; }
function put32(b: Uint8Array, o: number, v: number): void { for (let i = 0; i < 4; i++) b[o + i] = (v >>> (8 * i)) & 0xff; }

/** Validate a bzImage and read its setup header. Throws ImageError with the reason. */
export function parseBzImage(k: Uint8Array): BzImageInfo {
  if (k.length < 0x400) throw new ImageError(`not a bzImage: only ${k.length} bytes`);
  if (u16(k, HDR_BOOT_FLAG) !== 0xaa55) throw new ImageError('not a bzImage: no 0xAA55 boot flag at offset 0x1FE');
  if (u32(k, HDR_HEADER) !== 0x53726448) throw new ImageError('not a bzImage: no "HdrS" setup header (a pre-2.00 zImage or another format)');
  const protocol = u16(k, HDR_VERSION);
  if (protocol < MIN_BOOT_PROTOCOL)
    throw new ImageError(`boot protocol ${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, '0')} is too old (need 2.06 or later)`);
  if (!(k[HDR_LOADFLAGS] & LOADED_HIGH)) throw new ImageError('not a bzImage: the kernel does not load high (zImage)');
  const sects = k[HDR_SETUP_SECTS] || 4;
  const setupBytes = (sects + 1) * 512;
  if (setupBytes >= k.length) throw new ImageError(`setup (${setupBytes} bytes) is larger than the file (${k.length} bytes)`);
  const jumpEnd = HDR_JUMP + 2 + (k[HDR_JUMP + 1] << 24 >> 24); // the header ends where the jump lands
  if (jumpEnd < HDR_CMDLINE_SIZE + 4 || jumpEnd > setupBytes) throw new ImageError('malformed setup header: its jump target is out of range');
  const kernelSize = k.length - setupBytes;
  const initSize = protocol >= 0x020a ? u32(k, HDR_INIT_SIZE) : 0;
  const versionPtr = u16(k, 0x20e);
  let version = '';
  if (versionPtr && versionPtr + 0x200 < setupBytes) {
    const start = versionPtr + 0x200;
    let end = start;
    while (end < setupBytes && k[end] !== 0 && end - start < 256) end++;
    version = new TextDecoder().decode(k.subarray(start, end));
  }
  return {
    protocol,
    setupBytes,
    kernelOffset: setupBytes,
    kernelSize,
    code32Start: u32(k, HDR_CODE32_START),
    initrdAddrMax: u32(k, HDR_INITRD_ADDR_MAX),
    cmdlineSize: u32(k, HDR_CMDLINE_SIZE),
    relocatable: k[HDR_RELOCATABLE] !== 0,
    initSize,
    version,
  };
}

// Low-memory layout used by the loader.
const BOOT_PARAMS = 0x10000;
const SETUP_DATA = 0x11000; // one setup_data node: the random seed
const CMDLINE = 0x20000;
const BOOT_GDT = 0x9000;
const KERNEL_LOAD = 0x100000;

/** e820 map for `ramBytes` of RAM plus the given reserved ranges. */
export function buildE820(ramBytes: number, reserved: E820Entry[] = []): E820Entry[] {
  const map: E820Entry[] = [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x400, type: E820_RESERVED }, // EBDA
    { addr: 0xe0000, size: 0x20000, type: E820_RESERVED }, // BIOS area (tables live here)
    { addr: 0x100000, size: ramBytes - 0x100000, type: E820_RAM },
    ...reserved,
  ];
  return map.sort((a, b) => a.addr - b.addr);
}

/** Load a bzImage (and initrd) and point the vCPU at its 32-bit entry. */
export function loadLinux(board: Board, opts: LinuxBootOptions): BzImageInfo {
  const info = parseBzImage(opts.kernel);
  const ramBytes = board.ram.size;
  const ram = board.ram.view(0, board.ram.size)!;
  const cmdline = opts.cmdline ?? '';
  const cmdBytes = new TextEncoder().encode(cmdline);
  const maxCmd = info.cmdlineSize > 0 ? info.cmdlineSize : 255;
  if (cmdBytes.length > maxCmd) throw new ImageError(`command line of ${cmdBytes.length} bytes exceeds the kernel's limit of ${maxCmd}`);
  if (cmdBytes.length >= 0x10000) throw new ImageError('command line too long');

  // The protected-mode kernel at 1 MiB, which decompresses itself in place and needs init_size
  // bytes; or the kernel proper, unpacked already, where it was linked to run.
  ram.fill(0, 0, 0x100000);
  const un = opts.unpacked;
  let kernelEnd: number;
  if (un) {
    if (!(un.base >= KERNEL_LOAD && un.base <= un.entry && un.entry < un.base + un.image.length && un.base + un.image.length <= un.end))
      throw new ImageError('the unpacked kernel\'s layout is not one it can run from');
    if (un.end > ramBytes) throw new ImageError(`the kernel needs ${Math.ceil(un.end / 2 ** 20)} MiB of RAM; the machine has ${ramBytes >> 20} MiB`);
    ram.fill(0, un.base, un.end);
    ram.set(un.image, un.base);
    kernelEnd = un.end;
  } else {
    const need = Math.max(info.kernelSize, info.initSize);
    if (KERNEL_LOAD + need > ramBytes) throw new ImageError(`the kernel needs ${Math.ceil((KERNEL_LOAD + need) / 2 ** 20)} MiB of RAM; the machine has ${ramBytes >> 20} MiB`);
    ram.set(opts.kernel.subarray(info.kernelOffset), KERNEL_LOAD);
    kernelEnd = KERNEL_LOAD + need;
  }

  // The initrd goes as high as allowed, page aligned, above the kernel (and its decompression area).
  let initrdAddr = 0;
  const initrd = opts.initrd;
  if (initrd && initrd.length > 0) {
    const ceiling = Math.min(ramBytes, (info.initrdAddrMax >>> 0) + 1, 0x38000000);
    initrdAddr = Math.floor((ceiling - initrd.length) / 4096) * 4096;
    if (initrdAddr < kernelEnd)
      throw new ImageError(`initrd of ${(initrd.length / 2 ** 20).toFixed(1)} MiB does not fit in ${ramBytes >> 20} MiB of RAM next to the kernel`);
    ram.set(initrd, initrdAddr);
  }

  // boot_params: zeroed, with the setup header copied from the image.
  const bp = new Uint8Array(4096);
  const hdrEnd = HDR_JUMP + 2 + (opts.kernel[HDR_JUMP + 1] << 24 >> 24);
  bp.set(opts.kernel.subarray(HDR_SETUP_SECTS, hdrEnd), HDR_SETUP_SECTS);
  put16(bp, HDR_VID_MODE, 0xffff); // "normal" video mode
  bp[HDR_TYPE_OF_LOADER] = 0xff; // undefined boot loader
  bp[HDR_LOADFLAGS] = (bp[HDR_LOADFLAGS] | LOADED_HIGH | CAN_USE_HEAP) & 0xff;
  put16(bp, HDR_HEAP_END_PTR, 0xfe00);
  put32(bp, HDR_CMD_LINE_PTR, CMDLINE);
  put32(bp, BP_EXT_CMD_LINE_PTR, 0);
  put32(bp, HDR_RAMDISK_IMAGE, initrdAddr);
  put32(bp, HDR_RAMDISK_SIZE, initrd?.length ?? 0);
  put32(bp, BP_EXT_RAMDISK_IMAGE, 0);
  put32(bp, BP_EXT_RAMDISK_SIZE, 0);
  if (opts.acpiRsdp && info.protocol >= 0x020e) put32(bp, BP_ACPI_RSDP_ADDR, opts.acpiRsdp);
  const e820 = buildE820(ramBytes, opts.reserved);
  if (e820.length > E820_MAX_ZEROPAGE) throw new ImageError('too many e820 entries');
  bp[BP_E820_ENTRIES] = e820.length;
  const dv = new DataView(bp.buffer);
  e820.forEach((e, i) => {
    const o = BP_E820_TABLE + i * 20;
    dv.setBigUint64(o, BigInt(e.addr), true);
    dv.setBigUint64(o + 8, BigInt(e.size), true);
    dv.setUint32(o + 16, e.type, true);
  });
  const seed = opts.rngSeed;
  if (seed && seed.length > 0 && info.protocol >= 0x0209) {
    if (seed.length > MAX_RNG_SEED) throw new ImageError(`a random seed of ${seed.length} bytes is more than the ${MAX_RNG_SEED} handed to the kernel`);
    // struct setup_data: u64 next (none), u32 type, u32 len, then the bytes.
    const node = new DataView(ram.buffer, ram.byteOffset + SETUP_DATA, 16 + seed.length);
    node.setBigUint64(0, 0n, true);
    node.setUint32(8, SETUP_RNG_SEED, true);
    node.setUint32(12, seed.length, true);
    ram.set(seed, SETUP_DATA + 16);
    dv.setBigUint64(HDR_SETUP_DATA, BigInt(SETUP_DATA), true);
  }
  ram.set(bp, BOOT_PARAMS);
  ram.set(cmdBytes, CMDLINE);
  ram[CMDLINE + cmdBytes.length] = 0;

  // A GDT with the boot protocol's __BOOT_CS (0x10) and __BOOT_DS (0x18): flat 4 GiB.
  const gdt = new DataView(ram.buffer, ram.byteOffset + BOOT_GDT, 32);
  gdt.setUint32(0x10, 0x0000ffff, true); gdt.setUint32(0x14, 0x00cf9b00, true);
  gdt.setUint32(0x18, 0x0000ffff, true); gdt.setUint32(0x1c, 0x00cf9300, true);

  const cpu = board.cpu;
  cpu.reset();
  const s = board.vcpu;
  s.setGdtr(BOOT_GDT, 0x1f);
  s.setIdtr(0, 0);
  s.cr0 = 0x60000011; // PE (and ET), caches as after reset
  s.setSeg('cs', { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc9b });
  for (const seg of ['ds', 'es', 'ss', 'fs', 'gs'] as const) s.setSeg(seg, { selector: 0x18, base: 0, limit: 0xffffffff, access: 0xc93 });
  s.setSeg('tr', { selector: 0, base: 0, limit: 0xffff, access: 0x8b });
  s.setSeg('ldtr', { selector: 0, base: 0, limit: 0xffff, access: 0x82 });
  s.cpl = 0;
  for (const r of ['eax', 'ebx', 'ecx', 'edx', 'ebp', 'edi'] as const) s.setGpr(r, 0);
  s.setGpr('esi', BOOT_PARAMS);
  s.setGpr('esp', BOOT_PARAMS - 0x10);
  s.eip = un ? un.entry : info.code32Start || KERNEL_LOAD;
  cpu.refresh();
  cpu.setEflags(0x2);
  return info;
}

export { u32 as readU32LE, HDR_PREF_ADDRESS, HDR_KERNEL_ALIGNMENT };

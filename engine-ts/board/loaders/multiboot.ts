// Multiboot (version 1) loader: the format small test kernels use. Supports ELF32 kernels
// and the "a.out kludge" (header address fields, flag bit 16), a command line, modules and
// a memory map. Machine state at entry follows the specification: flat 32-bit protected
// mode, paging off, interrupts off, EAX = 0x2BADB002, EBX = physical address of the info.

import type { Board } from '../board';
import { ImageError } from './flat';
import { buildE820, E820_RAM } from './linux';

const MB_MAGIC = 0x1badb002;
const MB_BOOT_MAGIC = 0x2badb002;
const MB_FLAG_PAGE_ALIGN = 1 << 0;
const MB_FLAG_MEMINFO = 1 << 1;
const MB_FLAG_VIDEO = 1 << 2;
const MB_FLAG_AOUT_KLUDGE = 1 << 16;
const MB_SEARCH = 8192;

// multiboot_info.flags bits we fill
const MBI_MEM = 1 << 0;
const MBI_CMDLINE = 1 << 2;
const MBI_MODS = 1 << 3;
const MBI_MMAP = 1 << 6;
const MBI_LOADER_NAME = 1 << 9;

/**
 * The loader's own block: a 4 KiB stack, then the info structure, strings, memory map and
 * module list, at these offsets from its base. The base is INFO_BASE unless the kernel
 * occupies that range; then the block goes after the kernel and its modules.
 */
const INFO_BASE = 0x6000;
const STACK_TOP = 0x1000;
const MBI_OFF = 0x3000;
const STRINGS_OFF = 0x4000;
const MMAP_OFF = 0x6000;
const MODS_OFF = 0x7000;
const INFO_SIZE = 0x8000;

export interface MultibootModule { data: Uint8Array; cmdline?: string }
export interface MultibootOptions { kernel: Uint8Array; cmdline?: string; modules?: MultibootModule[] }

interface Segment { fileOff: number; fileSize: number; memAddr: number; memSize: number }

function u32(b: Uint8Array, o: number): number {
  if (o < 0 || o + 4 > b.length) throw new ImageError(`truncated at offset ${o}`);
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function u16(b: Uint8Array, o: number): number {
  if (o < 0 || o + 2 > b.length) throw new ImageError(`truncated at offset ${o}`);
  return b[o] | (b[o + 1] << 8);
}

/** Find the Multiboot header (4-byte aligned within the first 8 KiB). Returns its offset or -1. */
export function findMultibootHeader(k: Uint8Array): number {
  const end = Math.min(k.length - 12, MB_SEARCH - 12);
  for (let o = 0; o <= end; o += 4) {
    if (u32(k, o) === MB_MAGIC && ((u32(k, o) + u32(k, o + 4) + u32(k, o + 8)) >>> 0) === 0) return o;
  }
  return -1;
}

export function isMultiboot(k: Uint8Array): boolean {
  return k.length >= 12 && findMultibootHeader(k) >= 0;
}

function planSegments(k: Uint8Array, hdr: number, ramBytes: number): { segments: Segment[]; entry: number } {
  const flags = u32(k, hdr + 4);
  if (flags & MB_FLAG_VIDEO) { /* a graphics mode request: we only have a serial console; ignored as the spec allows */ }
  const unknownRequired = flags & 0xfff8; // bits 0-15 are requirements; we support 0-2
  if (unknownRequired) throw new ImageError(`the kernel requires Multiboot features 0x${unknownRequired.toString(16)} that are not supported`);
  let segments: Segment[];
  let entry: number;
  if (flags & MB_FLAG_AOUT_KLUDGE) {
    const headerAddr = u32(k, hdr + 12), loadAddr = u32(k, hdr + 16), loadEnd = u32(k, hdr + 20);
    const bssEnd = u32(k, hdr + 24);
    entry = u32(k, hdr + 28);
    if (loadAddr > headerAddr) throw new ImageError('Multiboot header: load_addr is above header_addr');
    const fileOff = hdr - (headerAddr - loadAddr);
    if (fileOff < 0) throw new ImageError('Multiboot header: load_addr points before the start of the file');
    const fileSize = loadEnd === 0 ? k.length - fileOff : loadEnd - loadAddr;
    if (loadEnd !== 0 && loadEnd < loadAddr) throw new ImageError('Multiboot header: load_end_addr is below load_addr');
    if (fileOff + fileSize > k.length) throw new ImageError('Multiboot header: the load range is larger than the file');
    const memSize = bssEnd === 0 ? fileSize : Math.max(fileSize, bssEnd - loadAddr);
    segments = [{ fileOff, fileSize, memAddr: loadAddr, memSize }];
  } else {
    // ELF32: little-endian i386 executable with PT_LOAD segments.
    if (u32(k, 0) !== 0x464c457f) throw new ImageError('Multiboot kernel is neither ELF nor using the a.out kludge');
    if (k[4] !== 1 || k[5] !== 1) throw new ImageError('Multiboot kernel is not a 32-bit little-endian ELF');
    if (u16(k, 18) !== 3) throw new ImageError('Multiboot ELF kernel is not for i386');
    entry = u32(k, 24);
    const phoff = u32(k, 28), phentsize = u16(k, 42), phnum = u16(k, 44);
    if (phentsize < 32 || phnum > 64) throw new ImageError('Multiboot ELF kernel: bad program header table');
    segments = [];
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (u32(k, ph) !== 1) continue; // PT_LOAD
      const fileOff = u32(k, ph + 4), paddr = u32(k, ph + 12), fileSize = u32(k, ph + 16), memSize = u32(k, ph + 20);
      if (fileOff + fileSize > k.length) throw new ImageError(`Multiboot ELF kernel: segment ${i} extends past the end of the file`);
      if (memSize < fileSize) throw new ImageError(`Multiboot ELF kernel: segment ${i} has memsz < filesz`);
      segments.push({ fileOff, fileSize, memAddr: paddr, memSize });
    }
    if (segments.length === 0) throw new ImageError('Multiboot ELF kernel has no loadable segment');
  }
  // Anywhere in RAM the memory map does not reserve (as QEMU's loader allows), e.g. below 1 MiB.
  const ramRanges = buildE820(ramBytes).filter((e) => e.type === E820_RAM);
  for (const s of segments) {
    if (!ramRanges.some((r) => s.memAddr >= r.addr && s.memAddr + s.memSize <= r.addr + r.size)) {
      const where = ramRanges.map((r) => `0x${r.addr.toString(16)}-0x${(r.addr + r.size - 1).toString(16)}`).join(', ');
      throw new ImageError(`kernel segment at 0x${s.memAddr.toString(16)} (+${s.memSize}) is not inside guest RAM that is free for it (${where}; ${ramBytes >> 20} MiB)`);
    }
  }
  return { segments, entry };
}

const overlaps = (a: number, aEnd: number, b: number, bEnd: number) => a < bEnd && b < aEnd;

export function loadMultiboot(board: Board, opts: MultibootOptions): void {
  const k = opts.kernel;
  const hdr = findMultibootHeader(k);
  if (hdr < 0) throw new ImageError('not a Multiboot kernel: no header in the first 8 KiB');
  const ramBytes = board.ram.size;
  const ram = board.ram.view(0, board.ram.size)!;
  const { segments, entry } = planSegments(k, hdr, ramBytes);
  ram.fill(0, 0, 0x100000);
  let top = 0x100000;
  for (const s of segments) {
    ram.fill(0, s.memAddr, s.memAddr + s.memSize);
    ram.set(k.subarray(s.fileOff, s.fileOff + s.fileSize), s.memAddr);
    top = Math.max(top, s.memAddr + s.memSize);
  }
  // Modules go page-aligned after the kernel (above 1 MiB), the loader's block at INFO_BASE
  // or, when the kernel is there, after the modules.
  const mods = opts.modules ?? [];
  if (mods.length > 64) throw new ImageError('too many Multiboot modules');
  const modAt: number[] = [];
  let at = Math.ceil(top / 4096) * 4096;
  mods.forEach((m, i) => {
    if (at + m.data.length > ramBytes) throw new ImageError(`module ${i} does not fit in RAM`);
    modAt.push(at);
    at = Math.ceil((at + m.data.length) / 4096) * 4096;
  });
  const base = segments.some((s) => overlaps(s.memAddr, s.memAddr + s.memSize, INFO_BASE, INFO_BASE + INFO_SIZE)) ? at : INFO_BASE;
  if (base + INFO_SIZE > ramBytes) throw new ImageError('no room in RAM for the Multiboot information after the kernel and its modules');
  const MBI_ADDR = base + MBI_OFF, STRINGS_ADDR = base + STRINGS_OFF, MMAP_ADDR = base + MMAP_OFF, MODS_ADDR = base + MODS_OFF;
  // Strings and modules.
  const enc = new TextEncoder();
  let strPtr = STRINGS_ADDR;
  const putString = (str: string): number => {
    const b = enc.encode(str);
    if (strPtr + b.length + 1 > MMAP_ADDR) throw new ImageError('Multiboot command lines are too long');
    ram.set(b, strPtr);
    ram[strPtr + b.length] = 0;
    const at = strPtr;
    strPtr += b.length + 1;
    return at;
  };
  const mbi = new DataView(ram.buffer, ram.byteOffset + MBI_ADDR, 0x80);
  for (let i = 0; i < 0x80; i += 4) mbi.setUint32(i, 0, true);
  let flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
  mbi.setUint32(4, 639, true); // mem_lower (KiB)
  mbi.setUint32(8, (ramBytes - 0x100000) >> 10, true); // mem_upper (KiB above 1 MiB)
  mbi.setUint32(16, putString(opts.cmdline ?? ''), true);
  if (mods.length) {
    flags |= MBI_MODS;
    const md = new DataView(ram.buffer, ram.byteOffset + MODS_ADDR, 16 * mods.length);
    mods.forEach((m, i) => {
      ram.set(m.data, modAt[i]);
      md.setUint32(i * 16, modAt[i], true);
      md.setUint32(i * 16 + 4, modAt[i] + m.data.length, true);
      md.setUint32(i * 16 + 8, putString(m.cmdline ?? ''), true);
    });
    mbi.setUint32(20, mods.length, true);
    mbi.setUint32(24, MODS_ADDR, true);
  }
  const e820 = buildE820(ramBytes);
  const mm = new DataView(ram.buffer, ram.byteOffset + MMAP_ADDR, 24 * e820.length);
  e820.forEach((e, i) => {
    mm.setUint32(i * 24, 20, true); // size of the entry after this field
    mm.setBigUint64(i * 24 + 4, BigInt(e.addr), true);
    mm.setBigUint64(i * 24 + 12, BigInt(e.size), true);
    mm.setUint32(i * 24 + 20, e.type, true);
  });
  mbi.setUint32(44, 24 * e820.length, true);
  mbi.setUint32(48, MMAP_ADDR, true);
  mbi.setUint32(64, putString('pvlab'), true);
  mbi.setUint32(0, flags, true);
  void MB_FLAG_PAGE_ALIGN; void MB_FLAG_MEMINFO;

  const cpu = board.cpu;
  cpu.reset();
  const s = board.vcpu;
  s.cr0 = 0x60000011;
  s.setGdtr(0, 0);
  s.setIdtr(0, 0x3ff);
  s.setSeg('cs', { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc9b });
  for (const seg of ['ds', 'es', 'ss', 'fs', 'gs'] as const) s.setSeg(seg, { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc93 });
  s.cpl = 0;
  s.setGpr('eax', MB_BOOT_MAGIC);
  s.setGpr('ebx', MBI_ADDR);
  s.setGpr('esp', base + STACK_TOP);
  s.eip = entry;
  cpu.refresh();
  cpu.setEflags(0x2);
}

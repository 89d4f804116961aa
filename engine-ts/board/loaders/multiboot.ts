// Multiboot (version 1) loader: the format small test kernels use. Supports ELF32 kernels
// and the "a.out kludge" (header address fields, flag bit 16), a command line, modules and
// a memory map. Machine state at entry follows the specification: flat 32-bit protected
// mode, paging off, interrupts off, EAX = 0x2BADB002, EBX = physical address of the info.

import type { Board } from '../board';
import { ImageError } from './flat';
import { buildE820 } from './linux';

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

/** Where the loader puts its own structures (below the conventional 640 KiB). */
const MBI_ADDR = 0x9000;
const STRINGS_ADDR = 0xa000;
const MMAP_ADDR = 0xc000;
const MODS_ADDR = 0xd000;

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
  for (const s of segments) {
    if (s.memAddr < 0x100000 || s.memAddr + s.memSize > ramBytes)
      throw new ImageError(`kernel segment at 0x${s.memAddr.toString(16)} (+${s.memSize}) does not fit in RAM above 1 MiB (${ramBytes >> 20} MiB)`);
  }
  return { segments, entry };
}

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
  const mods = opts.modules ?? [];
  if (mods.length > 64) throw new ImageError('too many Multiboot modules');
  if (mods.length) {
    flags |= MBI_MODS;
    let at = Math.ceil(top / 4096) * 4096;
    const md = new DataView(ram.buffer, ram.byteOffset + MODS_ADDR, 16 * mods.length);
    mods.forEach((m, i) => {
      if (at + m.data.length > ramBytes) throw new ImageError(`module ${i} does not fit in RAM`);
      ram.set(m.data, at);
      md.setUint32(i * 16, at, true);
      md.setUint32(i * 16 + 4, at + m.data.length, true);
      md.setUint32(i * 16 + 8, putString(m.cmdline ?? ''), true);
      at = Math.ceil((at + m.data.length) / 4096) * 4096;
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
  s.setGpr('esp', 0x7000);
  s.eip = entry;
  cpu.refresh();
  cpu.setEflags(0x2);
}

// Reads the .modinfo section of a Linux kernel module (.ko, ELF32 or ELF64, little
// endian) and orders modules so that each comes after the ones it depends on; this
// is what depmod's modules.dep would give, without needing kmod on the build host.

/**
 * Returns the key=value strings of the module's .modinfo section.
 * @param {Uint8Array} elf
 * @returns {Map<string, string[]>}
 */
export function readModinfo(elf) {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 52 || dv.getUint32(0, false) !== 0x7f454c46) throw new Error('modinfo: not an ELF file');
  const cls = elf[4];
  if (cls !== 1 && cls !== 2) throw new Error(`modinfo: bad ELF class ${cls}`);
  if (elf[5] !== 1) throw new Error('modinfo: only little-endian modules are supported');
  const is64 = cls === 2;
  const shoff = is64 ? Number(dv.getBigUint64(0x28, true)) : dv.getUint32(0x20, true);
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = dv.getUint16(is64 ? 0x3c : 0x30, true);
  const shstrndx = dv.getUint16(is64 ? 0x3e : 0x32, true);
  const minEnt = is64 ? 64 : 40;
  if (shentsize < minEnt || shnum === 0 || shstrndx >= shnum) throw new Error('modinfo: bad section header table');
  if (shoff > elf.length || shnum * shentsize > elf.length - shoff) throw new Error('modinfo: section table outside file');

  const section = (i) => {
    const at = shoff + i * shentsize;
    const name = dv.getUint32(at, true);
    const offset = is64 ? Number(dv.getBigUint64(at + 0x18, true)) : dv.getUint32(at + 0x10, true);
    const size = is64 ? Number(dv.getBigUint64(at + 0x20, true)) : dv.getUint32(at + 0x14, true);
    const type = dv.getUint32(at + 4, true);
    if (type !== 8 /* SHT_NOBITS */ && (offset > elf.length || size > elf.length - offset)) {
      throw new Error(`modinfo: section ${i} outside file`);
    }
    return { name, offset, size };
  };
  const strtab = section(shstrndx);
  const dec = new TextDecoder();
  const cstr = (base, limit, off) => {
    if (off >= limit) throw new Error('modinfo: section name outside string table');
    let end = base + off;
    while (end < base + limit && elf[end] !== 0) end++;
    return dec.decode(elf.subarray(base + off, end));
  };

  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (cstr(strtab.offset, strtab.size, s.name) !== '.modinfo') continue;
    const out = new Map();
    for (const item of dec.decode(elf.subarray(s.offset, s.offset + s.size)).split('\0')) {
      const eq = item.indexOf('=');
      if (eq <= 0) continue;
      const key = item.slice(0, eq);
      const list = out.get(key) ?? [];
      list.push(item.slice(eq + 1));
      out.set(key, list);
    }
    return out;
  }
  throw new Error('modinfo: no .modinfo section');
}

/** Module names use '-' and '_' interchangeably; the kernel treats them as equal. */
export function canonicalName(name) {
  return name.replace(/-/g, '_');
}

/**
 * Orders the wanted modules and everything they need (hard "depends=" plus "softdep pre:")
 * so that dependencies come first. A soft dependency that lookup cannot find is left
 * out (it is optional by definition); a missing hard dependency is an error.
 * @param {string[]} wanted module names
 * @param {(name: string) => { name: string, depends: string[], softPre: string[] } | undefined} lookup
 * @returns {string[]} canonical names in load order
 */
export function loadOrder(wanted, lookup) {
  const order = [];
  const state = new Map(); // name -> 'visiting' | 'done'
  const visit = (raw, chain) => {
    const name = canonicalName(raw);
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'visiting') throw new Error(`modules: dependency cycle ${[...chain, name].join(' -> ')}`);
    const info = lookup(name);
    // lookup may resolve an alias ("crypto-crc32c") to a real module name
    const real = info ? canonicalName(info.name) : name;
    if (real !== name) { visit(real, chain); state.set(name, 'done'); return; }
    if (!info) throw new Error(`modules: ${name} not found (needed by ${chain.join(' -> ') || 'the wanted list'})`);
    state.set(name, 'visiting');
    for (const d of info.softPre) if (lookup(canonicalName(d))) visit(d, [...chain, name]);
    for (const d of info.depends) visit(d, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

/** Splits a "depends=a,b" value list into module names. */
export function dependsList(values) {
  return values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Parses a "softdep=pre: a b post: c" value into its pre list. */
export function softdepPre(values) {
  const pre = [];
  for (const v of values) {
    let mode = '';
    for (const tok of v.trim().split(/\s+/)) {
      if (tok === 'pre:' || tok === 'post:') mode = tok;
      else if (tok && mode === 'pre:') pre.push(tok);
    }
  }
  return pre;
}

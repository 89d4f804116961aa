// Just enough of an AML encoder (ACPI 6.x, chapter 20) for a small static DSDT:
// names, integers, packages, buffers, scopes and devices. Every function returns the
// encoded bytes of one term.

export type Aml = number[];

/** PkgLength: counts itself plus `contentLength` bytes (1 to 4 bytes, section 20.2.4). */
export function pkgLength(contentLength: number): Aml {
  for (let extra = 0; extra <= 3; extra++) {
    const total = contentLength + 1 + extra;
    if (extra === 0 && total < 0x40) return [total];
    if (extra > 0 && total < 1 << (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let i = 0; i < extra; i++) out.push((total >> (4 + 8 * i)) & 0xff);
      return out;
    }
  }
  throw new RangeError(`aml: package of ${contentLength} bytes is too long`);
}

/** A NameString of one or more 4-character segments ("\\_SB_.PCI0", "_PRT"). */
export function nameString(path: string): Aml {
  let p = path;
  const out: Aml = [];
  if (p.startsWith('\\')) {
    out.push(0x5c);
    p = p.slice(1);
  }
  const segs = p.length ? p.split('.') : [];
  for (const s of segs) if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(s)) throw new Error(`aml: bad name segment "${s}"`);
  const padded = segs.map((s) => s.padEnd(4, '_'));
  if (padded.length === 2) out.push(0x2e); // DualNamePrefix
  else if (padded.length > 2) out.push(0x2f, padded.length); // MultiNamePrefix
  else if (padded.length === 0) out.push(0x00); // NullName
  for (const s of padded) for (const c of s) out.push(c.charCodeAt(0));
  return out;
}

export function integer(v: number): Aml {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`aml: integer ${v} out of range`);
  if (v === 0) return [0x00]; // ZeroOp
  if (v === 1) return [0x01]; // OneOp
  if (v <= 0xff) return [0x0a, v];
  if (v <= 0xffff) return [0x0b, v & 0xff, v >> 8];
  return [0x0c, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
}

/** EISA ID compression ("PNP0A03" → 0x030AD041), as the ASL EisaId() macro does. */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new Error(`aml: "${id}" is not an EISA ID`);
  const l = (i: number) => id.charCodeAt(i) - 0x40;
  const vendor = (l(0) << 10) | (l(1) << 5) | l(2);
  const product = parseInt(id.slice(3), 16);
  const bytes = [vendor >> 8, vendor & 0xff, product >> 8, product & 0xff];
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
}

export function name(n: string, value: Aml): Aml {
  return [0x08, ...nameString(n), ...value];
}

export function pkg(elements: Aml[]): Aml {
  if (elements.length > 0xff) throw new RangeError('aml: package with more than 255 elements');
  const body = [elements.length, ...elements.flat()];
  return [0x12, ...pkgLength(body.length), ...body];
}

export function buffer(bytes: readonly number[]): Aml {
  const body = [...integer(bytes.length), ...bytes];
  return [0x11, ...pkgLength(body.length), ...body];
}

export function scope(path: string, terms: Aml[]): Aml {
  const body = [...nameString(path), ...terms.flat()];
  return [0x10, ...pkgLength(body.length), ...body];
}

export function device(n: string, terms: Aml[]): Aml {
  const body = [...nameString(n), ...terms.flat()];
  return [0x5b, 0x82, ...pkgLength(body.length), ...body];
}

// ---- resource descriptors (section 6.4) ----------------------------------------------

const le16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const le32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];

/** Flags of a bridge window: producer, positive decode, fixed minimum and maximum. */
const WINDOW_FLAGS = 0x0c;

export function wordBusNumber(min: number, max: number): Aml {
  return [0x88, ...le16(13), 2, WINDOW_FLAGS, 0, ...le16(0), ...le16(min), ...le16(max), ...le16(0), ...le16(max - min + 1)];
}

export function wordIo(min: number, max: number): Aml {
  return [0x88, ...le16(13), 1, WINDOW_FLAGS, 3, ...le16(0), ...le16(min), ...le16(max), ...le16(0), ...le16(max - min + 1)];
}

export function ioPort(min: number, length: number): Aml {
  return [0x47, 0x01, ...le16(min), ...le16(min), 1, length];
}

export function dwordMemory(min: number, max: number, cacheable: boolean): Aml {
  const typeFlags = (cacheable ? 1 << 1 : 0) | 1; // read-write
  return [0x87, ...le16(23), 0, WINDOW_FLAGS, typeFlags, ...le32(0), ...le32(min), ...le32(max), ...le32(0), ...le32(max - min + 1)];
}

export function endTag(): Aml {
  return [0x79, 0x00];
}

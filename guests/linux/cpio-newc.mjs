// Writer for the cpio "newc" (SVR4, magic 070701) archive format, the format the
// Linux kernel unpacks as an initramfs. Entries are written in the order given;
// everything is deterministic (owner 0:0, one fixed mtime) so the same inputs give
// the same bytes.

const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const TRAILER = 'TRAILER!!!';
const HEADER_SIZE = 110;

/**
 * @typedef {{ path: string, type: 'dir' | 'file' | 'symlink' | 'chardev',
 *   mode: number, data?: Uint8Array, target?: string, major?: number, minor?: number }} CpioEntry
 */

function hex8(n) {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n) {
  return (4 - (n % 4)) % 4;
}

function typeBits(entry) {
  switch (entry.type) {
    case 'dir': return S_IFDIR;
    case 'file': return S_IFREG;
    case 'symlink': return S_IFLNK;
    case 'chardev': return S_IFCHR;
    default: throw new Error(`cpio: unknown entry type ${entry.type} for ${entry.path}`);
  }
}

function checkPath(p) {
  if (typeof p !== 'string' || p.length === 0) throw new Error('cpio: empty path');
  if (p.startsWith('/') || p.split('/').some((c) => c === '' || c === '..' || c === '.')) {
    throw new Error(`cpio: path must be relative and normalised: ${JSON.stringify(p)}`);
  }
}

/**
 * Builds a newc archive (uncompressed) from a list of entries.
 * @param {CpioEntry[]} entries
 * @param {{ mtime?: number }} [options] mtime in seconds since the epoch (default 0)
 * @returns {Uint8Array}
 */
export function writeNewc(entries, options = {}) {
  const mtime = options.mtime ?? 0;
  const enc = new TextEncoder();
  const chunks = [];
  let total = 0;
  const seen = new Set();
  const push = (b) => { chunks.push(b); total += b.length; };
  const pushPad = (n) => { if (n) push(new Uint8Array(n)); };

  let ino = 1;
  const emit = (name, mode, nlink, body, rdevMajor, rdevMinor) => {
    const nameBytes = enc.encode(name + '\0');
    const fields = [
      hex8(name === TRAILER ? 0 : ino++), hex8(mode), hex8(0), hex8(0), hex8(nlink), hex8(mtime),
      hex8(body.length), hex8(0), hex8(0), hex8(rdevMajor), hex8(rdevMinor), hex8(nameBytes.length), hex8(0),
    ];
    push(enc.encode('070701' + fields.join('')));
    push(nameBytes);
    pushPad(pad4(HEADER_SIZE + nameBytes.length));
    push(body);
    pushPad(pad4(body.length));
  };

  for (const e of entries) {
    checkPath(e.path);
    if (seen.has(e.path)) throw new Error(`cpio: duplicate path ${e.path}`);
    seen.add(e.path);
    if ((e.mode & ~0o7777) !== 0) throw new Error(`cpio: mode of ${e.path} must be permission bits only`);
    const mode = typeBits(e) | e.mode;
    let body = new Uint8Array(0);
    if (e.type === 'file') body = e.data ?? body;
    else if (e.type === 'symlink') {
      if (!e.target) throw new Error(`cpio: symlink ${e.path} has no target`);
      body = enc.encode(e.target);
    }
    emit(e.path, mode, e.type === 'dir' ? 2 : 1, body,
      e.type === 'chardev' ? (e.major ?? 0) : 0, e.type === 'chardev' ? (e.minor ?? 0) : 0);
  }
  emit(TRAILER, 0, 1, new Uint8Array(0), 0, 0);

  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

export { S_IFMT };

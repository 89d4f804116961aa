// An .xz decoder (one stream: LZMA2, optionally behind the x86 BCJ filter, with a CRC32, CRC64 or
// no check), for the base images of snapshots (bases.ts): a Linux bzImage's payload is such a
// stream (the kernel's xz_wrap: `xz --check=crc32 --x86 --lzma2=dict=32MiB`). Written from the
// .xz file format specification (1.2.x) and the LZMA / LZMA2 coding it names.
//
// The input is untrusted: every size is checked against `maxOutput` (the output is allocated
// once, at that cap or the size the stream's index promises, never from an unchecked number),
// the dictionary size against MAX_DICT, every match distance against the data decoded so far;
// a bad stream is an XzError naming the problem. Decoding is synchronous and single-pass: the
// output buffer is the dictionary.

export class XzError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XzError';
  }
}

/** The largest LZMA2 dictionary accepted (the kernel's is 32 MiB; xz -9 uses 64 MiB). */
export const MAX_DICT = 1 << 28;

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;

// ---- checks -------------------------------------------------------------------------------

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// CRC64 (ECMA-182, reflected: polynomial 0xC96C5795D7870F42), as two 32-bit halves.
const CRC64_LO = new Uint32Array(256);
const CRC64_HI = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let lo = n;
  let hi = 0;
  for (let k = 0; k < 8; k++) {
    const low = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (low) { lo = (lo ^ 0xd7870f42) >>> 0; hi = (hi ^ 0xc96c5795) >>> 0; }
  }
  CRC64_LO[n] = lo;
  CRC64_HI[n] = hi;
}

function crc64(data: Uint8Array, start: number, end: number): [number, number] {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = start; i < end; i++) {
    const x = (lo ^ data[i]) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ CRC64_LO[x]) >>> 0;
    hi = ((hi >>> 8) ^ CRC64_HI[x]) >>> 0;
  }
  return [(lo ^ 0xffffffff) >>> 0, (hi ^ 0xffffffff) >>> 0];
}

// ---- LZMA ---------------------------------------------------------------------------------

const STATES = 12;
const POS_STATES_MAX = 16;
const PROB_INIT = 1024;
/** Probability layout in one Uint16Array (offsets). */
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES;
const DIST_SLOT = IS_REP0_LONG + STATES * POS_STATES_MAX; // 4 length states × 64
const DIST_SPECIAL = DIST_SLOT + 4 * 64; // distances 4..127 coded with probabilities: 114
const DIST_ALIGN = DIST_SPECIAL + 114; // 16
const LEN = DIST_ALIGN + 16; // two length coders of LEN_SIZE each
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2; // 16 pos states × 8
const LEN_MID = LEN_LOW + POS_STATES_MAX * 8;
const LEN_HIGH = LEN_MID + POS_STATES_MAX * 8; // 256
const LEN_SIZE = LEN_HIGH + 256;
const REP_LEN = LEN + LEN_SIZE;
const LITERAL = REP_LEN + LEN_SIZE; // 0x300 per literal coder, up to 16 coders (lc + lp ≤ 4)
const PROBS = LITERAL + 0x300 * 16;

/** The LZMA2 decoder's state across chunks, decoding into `out` (which is also the dictionary). */
class Lzma2 {
  private probs = new Uint16Array(PROBS);
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  private lc = 0;
  private lp = 0;
  private pb = 0;
  private hasProps = false;
  // The range decoder over `inp`, from `ip` up to `inEnd`.
  private range = 0;
  private code = 0;
  private ip = 0;
  private inEnd = 0;
  /** Where the dictionary starts in `out` (its last reset). */
  private dictStart = 0;

  constructor(private readonly inp: Uint8Array, private readonly out: Uint8Array, private op: number, private readonly dictSize: number) {
    this.dictStart = op;
  }

  /** Decode the LZMA2 chunks from input offset `ip`; returns the input offset after the end marker and the output end. */
  run(ip: number, outLimit: number): { ip: number; op: number } {
    const inp = this.inp;
    let first = true;
    for (;;) {
      if (ip >= inp.length) throw new XzError('the LZMA2 data ends without its end marker');
      const control = inp[ip++];
      if (control === 0x00) return { ip, op: this.op };
      if (control === 0x01 || control === 0x02) {
        if (ip + 2 > inp.length) throw new XzError('an LZMA2 chunk header is cut short');
        const size = ((inp[ip] << 8) | inp[ip + 1]) + 1;
        ip += 2;
        if (control === 0x01) this.dictStart = this.op;
        else if (first) throw new XzError('the LZMA2 data does not start with a dictionary reset');
        if (ip + size > inp.length) throw new XzError('an uncompressed LZMA2 chunk is cut short');
        if (this.op + size > outLimit) throw new XzError(`the data unpacks to more than ${outLimit} bytes`);
        this.out.set(inp.subarray(ip, ip + size), this.op);
        this.op += size;
        ip += size;
        first = false;
        continue;
      }
      if (control < 0x80) throw new XzError(`an LZMA2 chunk has an invalid control byte 0x${control.toString(16)}`);
      if (ip + 4 > inp.length) throw new XzError('an LZMA2 chunk header is cut short');
      const unpacked = ((control & 0x1f) << 16) + ((inp[ip] << 8) | inp[ip + 1]) + 1;
      const packed = ((inp[ip + 2] << 8) | inp[ip + 3]) + 1;
      ip += 4;
      const reset = (control >> 5) & 3;
      if (first && reset !== 3) throw new XzError('the LZMA2 data does not start with a dictionary reset');
      if (reset === 3) this.dictStart = this.op;
      if (reset >= 2) {
        if (ip >= inp.length) throw new XzError('an LZMA2 chunk header is cut short');
        let p = inp[ip++];
        if (p >= 9 * 5 * 5) throw new XzError('an LZMA2 chunk has invalid lc/lp/pb properties');
        this.lc = p % 9;
        p = (p / 9) | 0;
        this.lp = p % 5;
        this.pb = (p / 5) | 0;
        if (this.lc + this.lp > 4) throw new XzError('an LZMA2 chunk has lc + lp above 4');
        this.hasProps = true;
      } else if (!this.hasProps) {
        throw new XzError('an LZMA2 chunk comes before the properties it needs');
      }
      if (reset >= 1) this.resetState();
      if (ip + packed > inp.length) throw new XzError('an LZMA2 chunk is cut short');
      if (this.op + unpacked > outLimit) throw new XzError(`the data unpacks to more than ${outLimit} bytes`);
      this.initRange(ip, ip + packed);
      this.decode(this.op + unpacked);
      if (this.ip !== ip + packed || this.code !== 0) throw new XzError('an LZMA2 chunk does not end where its header says');
      ip += packed;
      first = false;
    }
  }

  private resetState(): void {
    this.probs.fill(PROB_INIT);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  private initRange(start: number, end: number): void {
    const inp = this.inp;
    if (end - start < 5 || inp[start] !== 0) throw new XzError('an LZMA2 chunk has a damaged range coder start');
    this.code = ((inp[start + 1] << 24) | (inp[start + 2] << 16) | (inp[start + 3] << 8) | inp[start + 4]) >>> 0;
    this.range = 0xffffffff;
    this.ip = start + 5;
    this.inEnd = end;
  }

  private next(): number {
    if (this.ip >= this.inEnd) throw new XzError('an LZMA2 chunk reads past its end');
    return this.inp[this.ip++];
  }

  private bit(i: number): number {
    const probs = this.probs;
    const p = probs[i];
    const bound = (this.range >>> 11) * p;
    let b: number;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >> 5);
      b = 0;
    } else {
      this.range = (this.range - bound) >>> 0;
      this.code = (this.code - bound) >>> 0;
      probs[i] = p - (p >> 5);
      b = 1;
    }
    if (this.range < 0x1000000) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.next()) >>> 0;
    }
    return b;
  }

  /** `bits` bits through a binary tree of probabilities at `base` (most significant first). */
  private tree(base: number, bits: number): number {
    let s = 1;
    for (let i = 0; i < bits; i++) s = (s << 1) | this.bit(base + s);
    return s - (1 << bits);
  }

  /** `bits` bits through a tree at `base`, least significant first. */
  private reverseTree(base: number, bits: number): number {
    let s = 1;
    let v = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(base + s);
      s = (s << 1) | b;
      v |= b << i;
    }
    return v;
  }

  private direct(bits: number): number {
    let v = 0;
    for (let i = 0; i < bits; i++) {
      this.range >>>= 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code = (this.code - this.range) >>> 0;
        b = 1;
      }
      v = ((v << 1) | b) >>> 0;
      if (this.range < 0x1000000) {
        this.range = (this.range << 8) >>> 0;
        this.code = ((this.code << 8) | this.next()) >>> 0;
      }
    }
    return v;
  }

  private length(base: number, posState: number): number {
    if (this.bit(base + LEN_CHOICE) === 0) return this.tree(base + LEN_LOW + posState * 8, 3);
    if (this.bit(base + LEN_CHOICE2) === 0) return 8 + this.tree(base + LEN_MID + posState * 8, 3);
    return 16 + this.tree(base + LEN_HIGH, 8);
  }

  /**
   * Decode until the output reaches `end` (an LZMA2 chunk's size: no end marker). The range
   * decoder lives in locals here, and the literal path (most of the bits) decodes its bits
   * inline; the rarer match path goes through bit() and friends, with the locals handed over.
   */
  private decode(end: number): void {
    const out = this.out;
    const probs = this.probs;
    const inp = this.inp;
    const inEnd = this.inEnd;
    const dictStart = this.dictStart;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    let range = this.range;
    let code = this.code;
    let ip = this.ip;
    let state = this.state;
    let op = this.op;
    while (op < end) {
      const pos = op - dictStart;
      const posState = pos & pbMask;
      let i = IS_MATCH + state * POS_STATES_MAX + posState;
      let p = probs[i];
      let bound = (range >>> 11) * p;
      if (code < bound) {
        range = bound;
        probs[i] = p + ((2048 - p) >> 5);
        if (range < 0x1000000) {
          if (ip >= inEnd) throw new XzError('an LZMA2 chunk reads past its end');
          range = (range << 8) >>> 0;
          code = ((code << 8) | inp[ip++]) >>> 0;
        }
        // A literal.
        const prev = pos > 0 ? out[op - 1] : 0;
        const base = LITERAL + 0x300 * (((pos & lpMask) << lc) + (prev >> (8 - lc)));
        let s = 1;
        if (state >= 7) {
          // After a match: the byte at rep0 guides the first bits while they agree.
          if (this.rep0 >= pos) throw new XzError('an LZMA2 chunk refers to data before its dictionary');
          let match = out[op - this.rep0 - 1];
          while (s < 0x100) {
            const mb = (match >> 7) & 1;
            match <<= 1;
            i = base + ((1 + mb) << 8) + s;
            p = probs[i];
            bound = (range >>> 11) * p;
            let b: number;
            if (code < bound) {
              range = bound;
              probs[i] = p + ((2048 - p) >> 5);
              b = 0;
            } else {
              range -= bound;
              code -= bound;
              probs[i] = p - (p >> 5);
              b = 1;
            }
            if (range < 0x1000000) {
              if (ip >= inEnd) throw new XzError('an LZMA2 chunk reads past its end');
              range = (range << 8) >>> 0;
              code = ((code << 8) | inp[ip++]) >>> 0;
            }
            s = (s << 1) | b;
            if (b !== mb) break;
          }
        }
        while (s < 0x100) {
          i = base + s;
          p = probs[i];
          bound = (range >>> 11) * p;
          if (code < bound) {
            range = bound;
            probs[i] = p + ((2048 - p) >> 5);
            s <<= 1;
          } else {
            range -= bound;
            code -= bound;
            probs[i] = p - (p >> 5);
            s = (s << 1) | 1;
          }
          if (range < 0x1000000) {
            if (ip >= inEnd) throw new XzError('an LZMA2 chunk reads past its end');
            range = (range << 8) >>> 0;
            code = ((code << 8) | inp[ip++]) >>> 0;
          }
        }
        out[op++] = s & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      range -= bound;
      code -= bound;
      probs[i] = p - (p >> 5);
      if (range < 0x1000000) {
        if (ip >= inEnd) throw new XzError('an LZMA2 chunk reads past its end');
        range = (range << 8) >>> 0;
        code = ((code << 8) | inp[ip++]) >>> 0;
      }
      // A match: the range decoder goes to bit() and friends, and comes back after.
      this.range = range;
      this.code = code;
      this.ip = ip;
      let len: number;
      if (this.bit(IS_REP + state) === 0) {
        // A new distance.
        len = this.length(LEN, posState);
        state = state < 7 ? 7 : 10;
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        const slot = this.tree(DIST_SLOT + (len < 3 ? len : 3) * 64, 6);
        let dist: number;
        if (slot < 4) {
          dist = slot;
        } else {
          const bits = (slot >> 1) - 1;
          dist = (2 | (slot & 1)) << bits;
          if (slot < 14) dist += this.reverseTree(DIST_SPECIAL + dist - slot - 1, bits);
          else dist = (dist + ((this.direct(bits - 4) << 4) >>> 0) + this.reverseTree(DIST_ALIGN - 1, 4)) >>> 0;
        }
        if (dist === 0xffffffff) throw new XzError('an LZMA2 chunk holds an end marker');
        this.rep0 = dist;
      } else {
        if (this.bit(IS_REP_G0 + state) === 0) {
          if (this.bit(IS_REP0_LONG + state * POS_STATES_MAX + posState) === 0) {
            // One byte at rep0.
            if (this.rep0 >= pos) throw new XzError('an LZMA2 chunk refers to data before its dictionary');
            state = state < 7 ? 9 : 11;
            out[op] = out[op - this.rep0 - 1];
            op++;
            range = this.range;
            code = this.code;
            ip = this.ip;
            continue;
          }
        } else {
          let d: number;
          if (this.bit(IS_REP_G1 + state) === 0) {
            d = this.rep1;
          } else {
            if (this.bit(IS_REP_G2 + state) === 0) {
              d = this.rep2;
            } else {
              d = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = d;
        }
        len = this.length(REP_LEN, posState);
        state = state < 7 ? 8 : 11;
      }
      range = this.range;
      code = this.code;
      ip = this.ip;
      const dist = this.rep0;
      if (dist >= pos || dist >= this.dictSize) throw new XzError('an LZMA2 chunk refers to data before its dictionary');
      let n = len + 2;
      if (n > end - op) throw new XzError('an LZMA2 chunk holds more data than its header says');
      let from = op - dist - 1;
      if (n < 32) {
        // (Most matches are short: a loop costs less than a call into the typed array's methods.)
        while (n-- > 0) out[op++] = out[from++];
      } else if (dist === 0) {
        out.fill(out[from], op, op + n); // a run of one byte
        op += n;
      } else if (n <= dist + 1) {
        out.copyWithin(op, from, from + n);
        op += n;
      } else {
        while (n-- > 0) out[op++] = out[from++];
      }
    }
    this.range = range;
    this.code = code;
    this.ip = ip;
    this.state = state;
    this.op = op;
  }
}

// ---- the x86 BCJ filter ---------------------------------------------------------------------

/**
 * Undo the x86 branch converter in place: the encoder turned the relative targets of CALL (E8)
 * and JMP (E9) into absolute ones (position + 5 + relative) where the target's high byte was 00
 * or FF; `start` is the stream position of data[0] (the filter's start offset).
 */
export function unBcjX86(data: Uint8Array, start = 0): void {
  const ALLOWED = [true, true, true, false, true, false, false, false];
  const BYTE = [0, 1, 2, 2, 3, 3, 3, 3];
  const edge = (b: number) => b === 0 || b === 0xff;
  const end = data.length - 4;
  let prevPos = -1;
  let mask = 0;
  for (let i = 0; i < end; i++) {
    if ((data[i] & 0xfe) !== 0xe8) continue;
    const gap = i - prevPos;
    if (gap > 3) {
      mask = 0;
    } else {
      mask = (mask << (gap - 1)) & 7;
      if (mask !== 0 && (!ALLOWED[mask] || edge(data[i + 4 - BYTE[mask]]))) {
        prevPos = i;
        mask = (mask << 1) | 1;
        continue;
      }
    }
    prevPos = i;
    if (!edge(data[i + 4])) {
      mask = (mask << 1) | 1;
      continue;
    }
    let src = (data[i + 1] | (data[i + 2] << 8) | (data[i + 3] << 16) | (data[i + 4] << 24)) >>> 0;
    let dest: number;
    for (;;) {
      dest = (src - (start + i + 5)) >>> 0;
      if (mask === 0) break;
      const j = BYTE[mask] * 8;
      if (!edge((dest >>> (24 - j)) & 0xff)) break;
      src = (dest ^ ((2 ** (32 - j)) - 1)) >>> 0;
    }
    dest &= 0x01ffffff;
    if (dest & 0x01000000) dest |= 0xfe000000;
    data[i + 1] = dest & 0xff;
    data[i + 2] = (dest >>> 8) & 0xff;
    data[i + 3] = (dest >>> 16) & 0xff;
    data[i + 4] = (dest >>> 24) & 0xff;
    i += 4;
  }
}

// ---- the .xz container ----------------------------------------------------------------------

/** A variable-length integer (7 bits a byte, little end first, at most 9 bytes). */
function varint(b: Uint8Array, at: { o: number }, limit: number, what: string): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (at.o >= limit) throw new XzError(`${what} is cut short`);
    const x = b[at.o++];
    v += (x & 0x7f) * 2 ** (7 * i);
    if (!(x & 0x80)) {
      if (x === 0 && i > 0) throw new XzError(`${what} is not in its shortest form`);
      if (v > Number.MAX_SAFE_INTEGER) throw new XzError(`${what} is too large`);
      return v;
    }
  }
  throw new XzError(`${what} is longer than 9 bytes`);
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

const CHECK_SIZE: Record<number, number> = { 0x00: 0, 0x01: 4, 0x04: 8 };

/**
 * Decode one .xz stream at the start of `data` (data after it, such as the size a bzImage
 * appends, is left alone: `end` says where the stream ended). Output larger than `maxOutput`
 * bytes is an error.
 */
export function xzDecompress(data: Uint8Array, maxOutput: number): { output: Uint8Array; end: number } {
  if (data.length < 12 || !MAGIC.every((m, i) => data[i] === m)) throw new XzError('not an xz stream (wrong magic)');
  if (crc32(data, 6, 8) !== u32le(data, 8)) throw new XzError('the xz stream header is damaged (CRC32)');
  if (data[6] !== 0 || (data[7] & 0xf0) !== 0) throw new XzError('the xz stream header has unknown flags');
  const check = data[7] & 0x0f;
  const checkSize = CHECK_SIZE[check];
  if (checkSize === undefined) throw new XzError(`the xz stream uses an integrity check this decoder does not support (type ${check})`);
  // Blocks, and what each was (for the index).
  const records: Array<{ unpadded: number; size: number }> = [];
  const outputs: Uint8Array[] = [];
  let total = 0;
  let o = 12;
  for (;;) {
    if (o >= data.length) throw new XzError('the xz stream is cut short (no index)');
    if (data[o] === 0) break; // the index
    const headerSize = (data[o] + 1) * 4;
    if (o + headerSize > data.length) throw new XzError('an xz block header is cut short');
    if (crc32(data, o, o + headerSize - 4) !== u32le(data, o + headerSize - 4)) throw new XzError('an xz block header is damaged (CRC32)');
    const flags = data[o + 1];
    if (flags & 0x3c) throw new XzError('an xz block header has unknown flags');
    const at = { o: o + 2 };
    const hend = o + headerSize - 4;
    const packedSize = flags & 0x40 ? varint(data, at, hend, 'a block\'s compressed size') : -1;
    const unpackedSize = flags & 0x80 ? varint(data, at, hend, 'a block\'s uncompressed size') : -1;
    const filters: Array<{ id: number; props: Uint8Array }> = [];
    for (let f = 0; f <= (flags & 3); f++) {
      const id = varint(data, at, hend, 'a filter id');
      const n = varint(data, at, hend, 'a filter\'s properties size');
      if (at.o + n > hend) throw new XzError('a filter\'s properties are cut short');
      filters.push({ id, props: data.subarray(at.o, at.o + n) });
      at.o += n;
    }
    for (let i = at.o; i < hend; i++) if (data[i] !== 0) throw new XzError('an xz block header has non-zero padding');
    const last = filters[filters.length - 1];
    if (last.id !== FILTER_LZMA2 || last.props.length !== 1) throw new XzError('an xz block does not end its filters with LZMA2');
    let bcj: number | null = null;
    for (const f of filters.slice(0, -1)) {
      if (f.id !== FILTER_X86 || bcj !== null) throw new XzError(`an xz block uses filter 0x${f.id.toString(16)}, which this decoder does not support`);
      if (f.props.length === 0) bcj = 0;
      else if (f.props.length === 4) bcj = u32le(f.props, 0);
      else throw new XzError('the x86 filter has properties of the wrong size');
    }
    const dp = last.props[0];
    if (dp > 40) throw new XzError('the LZMA2 dictionary size is invalid');
    const dictSize = dp === 40 ? 0xffffffff : (2 | (dp & 1)) * 2 ** ((dp >> 1) + 11);
    if (dictSize > MAX_DICT) throw new XzError(`the LZMA2 dictionary (${dictSize} bytes) is larger than ${MAX_DICT}`);
    const room = maxOutput - total;
    if (unpackedSize > room) throw new XzError(`the data unpacks to more than ${maxOutput} bytes`);
    // The output of one block: at its declared size, else at what is left of the cap (trimmed after).
    const want = unpackedSize >= 0 ? unpackedSize : room;
    const out = new Uint8Array(want);
    const lz = new Lzma2(data, out, 0, Math.max(dictSize, 4096));
    const start = o + headerSize;
    const r = lz.run(start, want);
    if (unpackedSize >= 0 && r.op !== unpackedSize) throw new XzError('an xz block holds less data than its header says');
    if (packedSize >= 0 && r.ip - start !== packedSize) throw new XzError('an xz block\'s compressed size is not what its header says');
    const block = r.op === out.length ? out : out.slice(0, r.op);
    if (bcj !== null) unBcjX86(block, bcj);
    o = r.ip;
    while ((o - start) % 4 !== 0) {
      if (o >= data.length || data[o] !== 0) throw new XzError('an xz block has damaged padding');
      o++;
    }
    if (o + checkSize > data.length) throw new XzError('an xz block\'s check is cut short');
    if (check === 0x01 && crc32(block) !== u32le(data, o)) throw new XzError('an xz block\'s data is damaged (CRC32)');
    if (check === 0x04) {
      const [lo, hi] = crc64(block, 0, block.length);
      if (lo !== u32le(data, o) || hi !== u32le(data, o + 4)) throw new XzError('an xz block\'s data is damaged (CRC64)');
    }
    o += checkSize;
    records.push({ unpadded: headerSize + (r.ip - start) + checkSize, size: block.length });
    outputs.push(block);
    total += block.length;
  }
  // The index: every block's sizes again, then the footer.
  const indexStart = o;
  const at = { o: o + 1 };
  const n = varint(data, at, data.length, 'the index\'s record count');
  if (n !== records.length) throw new XzError(`the xz index lists ${n} blocks; the stream has ${records.length}`);
  for (const r of records) {
    if (varint(data, at, data.length, 'an index record') !== r.unpadded || varint(data, at, data.length, 'an index record') !== r.size)
      throw new XzError('the xz index does not match the blocks');
  }
  while ((at.o - indexStart) % 4 !== 0) {
    if (at.o >= data.length || data[at.o] !== 0) throw new XzError('the xz index has damaged padding');
    at.o++;
  }
  if (at.o + 4 + 12 > data.length) throw new XzError('the xz stream is cut short (no footer)');
  if (crc32(data, indexStart, at.o) !== u32le(data, at.o)) throw new XzError('the xz index is damaged (CRC32)');
  const f = at.o + 4;
  if (crc32(data, f + 4, f + 10) !== u32le(data, f)) throw new XzError('the xz stream footer is damaged (CRC32)');
  if ((u32le(data, f + 4) + 1) * 4 !== f - indexStart) throw new XzError('the xz stream footer does not match its index');
  if (data[f + 8] !== data[6] || data[f + 9] !== data[7]) throw new XzError('the xz stream footer\'s flags differ from its header\'s');
  if (data[f + 10] !== FOOTER_MAGIC[0] || data[f + 11] !== FOOTER_MAGIC[1]) throw new XzError('the xz stream footer is damaged (magic)');
  let output: Uint8Array;
  if (outputs.length === 1) output = outputs[0];
  else {
    output = new Uint8Array(total);
    let p = 0;
    for (const b of outputs) { output.set(b, p); p += b.length; }
  }
  return { output, end: f + 12 };
}

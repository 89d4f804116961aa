// Parser for SingleStepTests MOO files (format: test/vectors/README.md).
// Every length and count is checked against the buffer before use.

export const MOO_REGS = ['ax', 'bx', 'cx', 'dx', 'cs', 'ss', 'ds', 'es', 'sp', 'bp', 'si', 'di', 'ip', 'flags'] as const;
export type MooReg = (typeof MOO_REGS)[number];

export interface MooState {
  regs: Partial<Record<MooReg, number>>;
  ram: Array<[number, number]>;
}

export interface MooTest {
  index: number;
  name: string;
  bytes: Uint8Array;
  init: MooState;
  final: MooState;
  exception?: { vector: number; flagsAddr: number };
  hash: string;
}

export class MooError extends Error {}

class Reader {
  constructor(readonly buf: Uint8Array, public pos = 0, readonly end = buf.length) {}
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new MooError(`truncated at byte ${this.pos} (need ${n} more)`);
  }
  u8(): number { this.need(1); return this.buf[this.pos++]; }
  u16(): number { this.need(2); const v = this.buf[this.pos] | (this.buf[this.pos + 1] << 8); this.pos += 2; return v; }
  u32(): number { this.need(4); const b = this.buf, p = this.pos; this.pos += 4; return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0; }
  tag(): string { this.need(4); const s = String.fromCharCode(...this.buf.subarray(this.pos, this.pos + 4)); this.pos += 4; return s; }
  bytes(n: number): Uint8Array { this.need(n); const v = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return v; }
}

function* chunks(r: Reader): Generator<[string, Reader]> {
  while (r.pos < r.end) {
    const id = r.tag();
    const len = r.u32();
    r.need(len);
    const sub = new Reader(r.buf, r.pos, r.pos + len);
    r.pos += len;
    yield [id, sub];
  }
}

function parseState(r: Reader): MooState {
  const st: MooState = { regs: {}, ram: [] };
  for (const [id, c] of chunks(r)) {
    if (id === 'REGS') {
      const mask = c.u16();
      MOO_REGS.forEach((name, i) => { if (mask & (1 << i)) st.regs[name] = c.u16(); });
    } else if (id === 'RAM ') {
      const n = c.u32();
      c.need(n * 5);
      for (let i = 0; i < n; i++) st.ram.push([c.u32(), c.u8()]);
    }
  }
  return st;
}

export function parseMoo(buf: Uint8Array): { cpu: string; tests: MooTest[] } {
  const r = new Reader(buf);
  const tests: MooTest[] = [];
  let cpu = '';
  for (const [id, c] of chunks(r)) {
    if (id === 'MOO ') {
      c.u8(); c.u8(); c.u16();
      c.u32();
      cpu = c.tag();
    } else if (id === 'TEST') {
      const t: MooTest = { index: c.u32(), name: '', bytes: new Uint8Array(), init: { regs: {}, ram: [] }, final: { regs: {}, ram: [] }, hash: '' };
      for (const [sid, s] of chunks(c)) {
        if (sid === 'NAME') { const n = s.u32(); t.name = new TextDecoder().decode(s.bytes(n)); }
        else if (sid === 'BYTS') { const n = s.u32(); t.bytes = s.bytes(n).slice(); }
        else if (sid === 'INIT') t.init = parseState(s);
        else if (sid === 'FINA') t.final = parseState(s);
        else if (sid === 'EXCP') t.exception = { vector: s.u8(), flagsAddr: s.u32() };
        else if (sid === 'HASH') t.hash = [...s.bytes(20)].map((b) => b.toString(16).padStart(2, '0')).join('');
      }
      tests.push(t);
    }
  }
  if (cpu === '') throw new MooError('no MOO header chunk');
  return { cpu, tests };
}

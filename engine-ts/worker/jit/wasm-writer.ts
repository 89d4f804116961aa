// A small WebAssembly binary writer for the translator: one module per page function (see
// blockModule), which imports the machine's shared memory, the core's function table and a
// helper of the core. Only what the translator emits is here.

export enum Op {
  Unreachable = 0x00, Block = 0x02, Loop = 0x03, If = 0x04, Else = 0x05, End = 0x0b, Br = 0x0c, BrIf = 0x0d,
  BrTable = 0x0e, Return = 0x0f, Call = 0x10, Drop = 0x1a, Select = 0x1b,
  LocalGet = 0x20, LocalSet = 0x21, LocalTee = 0x22,
  I32Load = 0x28, I32Load8S = 0x2c, I32Load8U = 0x2d, I32Load16S = 0x2e, I32Load16U = 0x2f,
  I32Store = 0x36, I32Store8 = 0x3a, I32Store16 = 0x3b,
  I32Const = 0x41, I64Const = 0x42,
  I32Eqz = 0x45, I32Eq = 0x46, I32Ne = 0x47, I32LtS = 0x48, I32LtU = 0x49, I32GtS = 0x4a, I32GtU = 0x4b,
  I32LeS = 0x4c, I32LeU = 0x4d, I32GeS = 0x4e, I32GeU = 0x4f,
  I32Add = 0x6a, I32Sub = 0x6b, I32Mul = 0x6c, I32And = 0x71, I32Or = 0x72, I32Xor = 0x73,
  I32Shl = 0x74, I32ShrS = 0x75, I32ShrU = 0x76, I32Rotl = 0x77, I32Rotr = 0x78,
  I64Add = 0x7c, I64Mul = 0x7e, I64DivU = 0x80, I64RemU = 0x82, I64Or = 0x84, I64Shl = 0x86, I64ShrU = 0x88,
  MemoryPrefix = 0xfc, // then 0x0a 0 0: memory.copy; 0x0b 0: memory.fill
  I32WrapI64 = 0xa7, I64ExtendI32S = 0xac, I64ExtendI32U = 0xad,
  I32Extend8S = 0xc0, I32Extend16S = 0xc1,
}

/** Threads proposal: atomic read-modify-write on the shared memory (after the 0xFE prefix). */
export enum AtomicOp { I32Xchg = 0x41, I32Cmpxchg = 0x48 }

export const I32 = 0x7f;
export const I64 = 0x7e;
const VOID = 0x40;

export function uleb(out: number[], v: number): void {
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
}
function sleb64(out: number[], v: bigint): void {
  v = BigInt.asIntN(64, v);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && (b & 0x40))) { out.push(b); return; }
    out.push(b | 0x80);
  }
}

/**
 * The body of one function: typed helpers that append to a growing byte buffer (the
 * translator writes tens of kilobytes per page function, so this is on the path from hot
 * to translated).
 */
export class Code {
  private buf = new Uint8Array(4096);
  private n = 0;
  private nLocals = 0;
  /** How many blocks, loops and ifs enclose the code being written. */
  nest = 0;
  constructor(private readonly params: number) {}
  /** Bytes written so far. */
  get length(): number { return this.n; }
  /** Make room for `k` more bytes. */
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(2 * this.buf.length, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  private put(v: number): void {
    if (this.n === this.buf.length) this.room(1);
    this.buf[this.n++] = v;
  }
  /** An unsigned LEB128 (u32). */
  uleb(v: number): this {
    this.room(5);
    const b = this.buf;
    let n = this.n;
    v >>>= 0;
    while (v >= 0x80) { b[n++] = (v & 0x7f) | 0x80; v >>>= 7; }
    b[n++] = v;
    this.n = n;
    return this;
  }
  /** A signed LEB128 (i32). */
  private sleb(v: number): void {
    this.room(5);
    const b = this.buf;
    let n = this.n;
    v |= 0;
    for (;;) {
      const x = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(x & 0x40)) || (v === -1 && (x & 0x40))) { b[n++] = x; break; }
      b[n++] = x | 0x80;
    }
    this.n = n;
  }
  /** A new i32 local. */
  local(): number { return this.params + this.nLocals++; }
  /** One to three opcodes without immediates. */
  op(a: number, b?: number, c?: number): this {
    this.put(a);
    if (b !== undefined) this.put(b);
    if (c !== undefined) this.put(c);
    return this;
  }
  i32(v: number): this { this.put(Op.I32Const); this.sleb(v); return this; }
  i64(v: bigint): this {
    const t: number[] = [Op.I64Const];
    sleb64(t, v);
    for (const x of t) this.put(x);
    return this;
  }
  get(l: number): this { this.put(Op.LocalGet); return this.uleb(l); }
  set(l: number): this { this.put(Op.LocalSet); return this.uleb(l); }
  tee(l: number): this { this.put(Op.LocalTee); return this.uleb(l); }
  /** A load or store at address (stack) + offset; `op` is one of the I32Load... or I32Store... opcodes. */
  mem(op: Op, offset: number): this {
    const align = op === Op.I32Load || op === Op.I32Store ? 2 : op === Op.I32Load16S || op === Op.I32Load16U || op === Op.I32Store16 ? 1 : 0;
    this.put(op);
    this.put(align);
    return this.uleb(offset);
  }
  /** An atomic operation on the naturally aligned i32 at address (stack) + offset. */
  atomic(op: AtomicOp, offset: number): this {
    this.put(0xfe); this.put(op); this.put(2);
    return this.uleb(offset);
  }
  call(f: number): this { this.put(Op.Call); return this.uleb(f); }
  /** Tail call through table `table` to a function of type `type` (the index on the stack). */
  returnCallIndirect(type: number, table: number): this { this.put(0x13); this.uleb(type); return this.uleb(table); }
  if_(): this { this.put(Op.If); this.put(VOID); this.nest++; return this; }
  block(): this { this.put(Op.Block); this.put(VOID); this.nest++; return this; }
  loop(): this { this.put(Op.Loop); this.put(VOID); this.nest++; return this; }
  br(depth: number): this { this.put(Op.Br); return this.uleb(depth); }
  brIf(depth: number): this { this.put(Op.BrIf); return this.uleb(depth); }
  end(): this { this.put(Op.End); this.nest--; return this; }
  /** Insert the bytes of `other` at offset `at` of this code. */
  insert(at: number, other: Code): void {
    const k = other.n;
    this.room(k);
    this.buf.copyWithin(at + k, at, this.n);
    this.buf.set(other.buf.subarray(0, k), at);
    this.n += k;
  }
  /** The function's bytes: locals declaration, body, end. */
  finish(): Uint8Array {
    const head: number[] = [];
    if (this.nLocals) { uleb(head, 1); uleb(head, this.nLocals); head.push(I32); } else uleb(head, 0);
    const out = new Uint8Array(head.length + this.n + 1);
    out.set(head);
    out.set(this.buf.subarray(0, this.n), head.length);
    out[out.length - 1] = Op.End;
    return out;
  }
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}
function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
}

/**
 * A module: imports env.memory (shared, up to `maxPages`), env.table (the core's table of
 * translated functions) and env.cond ((i32) → i32, function 0); function 1 is "f",
 * (i32, i32, i32) → i64 (type 0), exported, with `body`, and function 2 a helper () → i32
 * with `helper`.
 */
export function blockModule(body: Uint8Array, helper: Uint8Array, maxPages: number): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  // Types: 0 (i32, i32, i32)→i64, 1 (i32)→i32, 2 ()→i32.
  section(out, 1, [3, 0x60, 3, I32, I32, I32, 1, I64, 0x60, 1, I32, 1, I32, 0x60, 0, 1, I32]);
  const imp: number[] = [3];
  name(imp, 'env'); name(imp, 'memory'); imp.push(0x02, 0x03); uleb(imp, 0); uleb(imp, maxPages);
  name(imp, 'env'); name(imp, 'table'); imp.push(0x01, 0x70, 0x00, 0x00); // funcref, at least 0 elements
  name(imp, 'env'); name(imp, 'cond'); imp.push(0x00, 1);
  section(out, 2, imp);
  section(out, 3, [2, 0, 2]);
  const exp: number[] = [1];
  name(exp, 'f'); exp.push(0x00, 1);
  section(out, 7, exp);
  // The code section: the two bodies (each its size, then its bytes), copied once into the module.
  const head: number[] = [2];
  uleb(head, body.length);
  const mid: number[] = [];
  uleb(mid, helper.length);
  out.push(10);
  uleb(out, head.length + body.length + mid.length + helper.length);
  for (const b of head) out.push(b);
  const module = new Uint8Array(out.length + body.length + mid.length + helper.length);
  module.set(out);
  module.set(body, out.length);
  module.set(mid, out.length + body.length);
  module.set(helper, out.length + body.length + mid.length);
  return module;
}

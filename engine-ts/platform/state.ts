// Machine state as declared data (the snapshot spine's lowest part). A part of the machine
// declares each field it keeps once — its name, its type with bounds, the version that added
// it — and this one mechanism both saves and loads it, so the two can never drift apart.
// The same declaration serves the inspector and state diffs (`describe`).
//
//   const PIT = declareState('pit-8254', {
//     portB: field(int(0, 0x0f)),
//     counters: field(objects(COUNTER, 3)),          // loaded into the live Counter objects
//     speaker: field(bool, { since: 2, default: false }),
//   });
//   saveState() { return PIT.save(this); }   loadState(r, v) { PIT.load(this, r, v); ... }
//
// Fields are the object's own properties of those names (private ones too). Loading checks
// every value of the record before it assigns any, so a bad snapshot changes nothing: a
// snapshot is a file from outside (architecture principle 5). Older records are upgraded by
// named, ordered steps, then missing fields added since take their declared defaults.

import type { StateRecord, StateValue } from './bus';

export class StateError extends Error {
  constructor(where: string, problem: string) {
    super(`${where} ${problem}`);
    this.name = 'StateError';
  }
}

/** How one value is kept: `save` makes plain snapshot data, `load` checks untrusted data. */
export interface Codec<T> {
  /** For the inspector and error messages, e.g. "int 0..255". */
  readonly describe: string;
  save(v: T): StateValue;
  /** `path` names the value in errors ("pit-8254.counters[2].mode"). */
  load(v: unknown, path: string): T;
  /** Load into an existing value in place (objects and lists of objects); returns a commit step. */
  loadInto?(target: T, v: unknown, path: string): () => void;
}

function fail(path: string, problem: string): never {
  throw new StateError(path.length > 200 ? `${path.slice(0, 200)}…` : path, problem);
}

/** A value from outside, shown briefly in an error (never all of a long string or array). */
function show(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  let s: string;
  try { s = typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v); } catch { s = typeof v; }
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

export function int(min: number, max: number): Codec<number> {
  return {
    describe: `int ${min}..${max}`,
    save: (v) => v,
    load: (v, path) => {
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, 'is not an integer');
      if (v < min || v > max) fail(path, `is ${v}, outside [${min}, ${max}]`);
      return v;
    },
  };
}

export const u8 = int(0, 0xff);
export const u16 = int(0, 0xffff);
export const u32 = int(0, 0xffffffff);
export const i32 = int(-0x80000000, 0x7fffffff);
/** A whole number as JavaScript keeps it exactly (counters, byte offsets). */
export const count = int(0, Number.MAX_SAFE_INTEGER);

/** A 64-bit register value, kept as a decimal string (JSON has no 64-bit integers). */
export const u64: Codec<bigint> = {
  describe: 'u64',
  save: (v) => BigInt.asUintN(64, v).toString(),
  load: (v, path) => {
    if (typeof v !== 'string' || !/^\d{1,20}$/.test(v) || BigInt(v) > 0xffffffffffffffffn) fail(path, 'is not a 64-bit value');
    return BigInt(v);
  },
};

/** Guest time in ns (fractions allowed), or a deadline: finite, or Infinity for "never". */
export const time: Codec<number> = {
  describe: 'guest time (ns)',
  save: (v) => (v === Infinity ? -1 : v),
  load: (v, path) => {
    if (typeof v !== 'number' || Number.isNaN(v)) fail(path, 'is not a time');
    if (v === -1) return Infinity;
    if (!Number.isFinite(v) || v < 0) fail(path, `is ${v}, not a guest time`);
    return v;
  },
};

/** A finite number (an f64 the device keeps). */
export const real: Codec<number> = {
  describe: 'number',
  save: (v) => v,
  load: (v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'is not a finite number');
    return v;
  },
};

export const bool: Codec<boolean> = {
  describe: 'bool',
  save: (v) => v,
  load: (v, path) => {
    if (typeof v !== 'boolean') fail(path, 'is not a boolean');
    return v;
  },
};

export function str(maxLength: number, allowed?: readonly string[]): Codec<string> {
  return {
    describe: allowed ? allowed.join('|') : `string ≤ ${maxLength}`,
    save: (v) => v,
    load: (v, path) => {
      if (typeof v !== 'string') fail(path, 'is not a string');
      if (v.length > maxLength) fail(path, `is ${v.length} characters long, at most ${maxLength} allowed`);
      if (allowed && !allowed.includes(v)) fail(path, `is ${show(v)}, expected one of ${allowed.join(', ')}`);
      return v;
    },
  };
}

/** One of a set of literal values. */
export function oneOf<T extends string | number>(values: readonly T[]): Codec<T> {
  return {
    describe: values.join('|'),
    save: (v) => v,
    load: (v, path) => {
      if (!values.includes(v as T)) fail(path, `is ${show(v)}, expected one of ${values.join(', ')}`);
      return v as T;
    },
  };
}

/** Bytes: exactly `length`, or at most `{ max }`. Saved and loaded as copies. */
export function bytes(size: number | { max: number }): Codec<Uint8Array> {
  const exact = typeof size === 'number' ? size : -1;
  const max = typeof size === 'number' ? size : size.max;
  const load = (v: unknown, path: string): Uint8Array => {
    if (!(v instanceof Uint8Array)) fail(path, 'is not a byte array');
    if (exact >= 0 ? v.length !== exact : v.length > max) fail(path, `has ${v.length} bytes, ${exact >= 0 ? `expected ${exact}` : `at most ${max} allowed`}`);
    return v.slice();
  };
  return {
    describe: exact >= 0 ? `${exact} bytes` : `bytes ≤ ${max}`,
    save: (v) => v.slice(),
    load,
    // A fixed-size buffer the device keeps (CMOS, controller RAM) is filled in place.
    loadInto: exact >= 0
      ? (target, v, path) => {
          const b = load(v, path);
          return () => target.set(b);
        }
      : undefined,
  };
}

/** A list of at most `max` values (exactly `max` with `{ exact: true }`), loaded as a new array. */
export function list<T>(of: Codec<T>, max: number, opts: { exact?: boolean } = {}): Codec<T[]> {
  return {
    describe: `list of ${opts.exact ? '' : '≤ '}${max} ${of.describe}`,
    save: (v) => v.map((x) => of.save(x)) as StateValue,
    load: (v, path) => checkList(v, path, max, !!opts.exact).map((x, i) => of.load(x, `${path}[${i}]`)),
  };
}

function checkList(v: unknown, path: string, max: number, exact: boolean): unknown[] {
  if (!Array.isArray(v)) fail(path, 'is not a list');
  if (exact ? v.length !== max : v.length > max) fail(path, `has ${v.length} entries, ${exact ? `expected ${max}` : `at most ${max} allowed`}`);
  return v;
}

/** A fixed-length Uint32Array, saved as numbers and loaded in place. */
export function u32Array(length: number): Codec<Uint32Array> {
  const items = list(u32, length, { exact: true });
  return {
    describe: `${length} × u32`,
    save: (v) => [...v],
    load: (v, path) => Uint32Array.from(items.load(v, path)),
    loadInto: (target, v, path) => {
      const values = items.load(v, path);
      return () => target.set(values);
    },
  };
}

/** A value or null. */
export function optional<T>(of: Codec<T>): Codec<T | null> {
  return {
    describe: `${of.describe} or none`,
    save: (v): StateRecord => (v === null ? { none: true } : { value: of.save(v) }),
    load: (v, path) => {
      const r = asRecord(v, path);
      if (r.none === true) return null;
      if (!('value' in r)) fail(path, 'has neither a value nor "none"');
      return of.load(r.value, path);
    },
  };
}

/** A Map, saved as a list of [key, value] records. */
export function map<K, V>(key: Codec<K>, value: Codec<V>, max: number): Codec<Map<K, V>> {
  return {
    describe: `map of ≤ ${max} ${key.describe} → ${value.describe}`,
    save: (m) => [...m].map(([k, v]) => ({ k: key.save(k), v: value.save(v) })),
    load: (v, path) => {
      if (!Array.isArray(v)) fail(path, 'is not a list of entries');
      if (v.length > max) fail(path, `has ${v.length} entries, at most ${max} allowed`);
      const out = new Map<K, V>();
      v.forEach((e, i) => {
        const r = asRecord(e, `${path}[${i}]`);
        const k = key.load(r.k, `${path}[${i}].k`);
        if (out.has(k)) fail(`${path}[${i}].k`, 'repeats a key');
        out.set(k, value.load(r.v, `${path}[${i}].v`));
      });
      return out;
    },
  };
}

function asRecord(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(path, 'is not a record');
  return v as Record<string, unknown>;
}

// ---- fields of an object ---------------------------------------------------------------------

export interface Field<T = unknown> {
  readonly codec: Codec<T>;
  /** The state version that added the field. */
  readonly since: number;
  /** What a record from before `since` means for it (required when since > 1). */
  readonly default?: T;
}

export function field<T>(codec: Codec<T>, opts: { since?: number; default?: T } = {}): Field<T> {
  const since = opts.since ?? 1;
  if (since > 1 && !('default' in opts)) throw new Error('a field added after version 1 needs a default');
  return { codec, since, default: opts.default };
}

export type Fields = Record<string, Field<any> | Codec<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

function norm(f: Field<unknown> | Codec<unknown>): Field<unknown> {
  return 'codec' in f ? f : { codec: f, since: 1 };
}

/**
 * The properties of an object (a class instance or a plain record) with declared types. As a
 * codec it saves a record, loads into an existing object in place (`loadInto`), or — for plain
 * data — builds a new plain object (`load`).
 */
/**
 * A rule between fields, or between a field and the live object (a disk's size), checked on
 * the loaded values before any is assigned: a problem, or null.
 */
export type CrossCheck = (values: Record<string, unknown>, target: Record<string, unknown>) => string | null;

export function fields(decl: Fields, name = 'record', check?: CrossCheck): Codec<Record<string, unknown>> & { readonly decl: Record<string, Field<unknown>> } {
  const all = Object.fromEntries(Object.entries(decl).map(([k, f]) => [k, norm(f)]));
  return {
    decl: all,
    describe: name,
    save: (obj) => {
      const rec: StateRecord = {};
      for (const [k, f] of Object.entries(all)) {
        const v = (obj as Record<string, unknown>)[k];
        if (v === undefined) throw new Error(`state field ${name}.${k} is not a property of the object`);
        rec[k] = f.codec.save(v);
      }
      return rec;
    },
    load: (v, path) => {
      const out: Record<string, unknown> = {};
      intoObject(all, out, v, path, Infinity, check)();
      return out;
    },
    loadInto: (target, v, path) => intoObject(all, target, v, path, Infinity, check),
  };
}

/**
 * Check record `v` against the fields (those added after `version` may be missing: they take
 * their defaults) and return the step that assigns them all to `target`. Fields whose codec
 * loads in place (objects, lists of objects) and that `target` already holds are loaded into
 * the live values, checked now and committed with the rest. Nested records have no versions
 * of their own: a change inside one is an Upgrade of the whole part.
 */
function intoObject(
  all: Record<string, Field<unknown>>, target: Record<string, unknown>, v: unknown, path: string, version: number, check?: CrossCheck,
): () => void {
  const r = asRecord(v, path);
  const plain: Array<[string, unknown]> = [];
  const nested: Array<() => void> = [];
  const nestedKeys = new Set<string>();
  for (const [k, f] of Object.entries(all)) {
    if (f.codec.loadInto && target[k] !== undefined && Object.prototype.hasOwnProperty.call(r, k)) {
      nested.push(f.codec.loadInto(target[k], r[k], `${path}.${k}`));
      nestedKeys.add(k);
    }
  }
  const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !nestedKeys.has(k)));
  const partial = Object.fromEntries(Object.entries(all).filter(([k]) => !nestedKeys.has(k)));
  for (const [k, f] of Object.entries(partial)) {
    if (!Object.prototype.hasOwnProperty.call(rest, k)) {
      if (f.since > version) { plain.push([k, f.default]); continue; }
      fail(`${path}.${k}`, 'is missing');
    }
    plain.push([k, f.codec.load(rest[k], `${path}.${k}`)]);
  }
  if (check) {
    const problem = check(Object.fromEntries(plain), target);
    if (problem) fail(path, problem);
  }
  return () => {
    for (const [k, val] of plain) target[k] = val;
    for (const c of nested) c();
  };
}

/**
 * Objects whose declared fields are loaded in place (a device's three counters): `n` of
 * them, or — without `n` — as many as the live array holds (one per vCPU, say).
 */
export function objects(of: ReturnType<typeof fields>, n?: number): Codec<Record<string, unknown>[]> {
  const max = n ?? 4096;
  return {
    describe: `${n ?? 'n'} × ${of.describe}`,
    save: (v) => v.map((x) => of.save(x)) as StateValue,
    load: (v, path) => checkList(v, path, max, n !== undefined).map((x, i) => of.load(x, `${path}[${i}]`)),
    loadInto: (target, v, path) => {
      const items = checkList(v, path, max, n !== undefined);
      if (items.length !== target.length) fail(path, `has ${items.length} entries, this machine has ${target.length}`);
      const commits = items.map((x, i) => of.loadInto!(target[i], x, `${path}[${i}]`));
      return () => commits.forEach((c) => c());
    },
  };
}

// ---- a part of the machine ----------------------------------------------------------------------

/** One named, ordered step that turns a record of version `from` into version `from + 1`. */
export interface Upgrade {
  readonly from: number;
  readonly name: string;
  run(record: StateRecord): StateRecord;
}

export interface DeclaredState {
  readonly name: string;
  readonly version: number;
  readonly decl: Record<string, Field<unknown>>;
  /** The object's declared fields as a snapshot record. */
  save(obj: object): StateRecord;
  /** Check `record` (saved at `version`) completely, then assign every field of `obj`. */
  load(obj: object, record: unknown, version: number): void;
  /** Field types, for the inspector. */
  describe(): Array<{ name: string; type: string; since: number }>;
}

export function declareState(name: string, decl: Fields, opts: { version?: number; upgrades?: Upgrade[]; check?: CrossCheck } = {}): DeclaredState {
  const obj = fields(decl, name, opts.check);
  const maxSince = Math.max(1, ...Object.values(obj.decl).map((f) => f.since));
  const version = opts.version ?? maxSince;
  if (version < maxSince) throw new Error(`${name}: version ${version} is older than a field (since ${maxSince})`);
  const upgrades = [...(opts.upgrades ?? [])].sort((a, b) => a.from - b.from);
  return {
    name,
    version,
    decl: obj.decl,
    save: (o) => obj.save(o as Record<string, unknown>) as StateRecord,
    load(o, record, saved) {
      if (!Number.isInteger(saved) || saved < 1) fail(name, `state version ${saved} is not a version`);
      if (saved > version) fail(name, `state is version ${saved}; this build reads up to ${version} (a newer pvlab saved it)`);
      let r = asRecord(record, name) as StateRecord;
      let v = saved;
      for (const u of upgrades) {
        if (u.from !== v || v >= version) continue;
        r = u.run(r);
        v++;
      }
      intoObject(obj.decl, o as Record<string, unknown>, r, name, saved, opts.check)();
    },
    describe: () => Object.entries(obj.decl).map(([n, f]) => ({ name: n, type: f.codec.describe, since: f.since })),
  };
}

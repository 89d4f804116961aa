// The xenstore database (docs/misc/xenstore.txt, spec §10): a tree of nodes, each with an
// octet-string value (kept as a one-char-per-byte string) and permissions, plus watches and
// transactions per connection.
//
// Nodes are immutable: an update copies the path from the root, so a transaction is just a
// private root taken at TRANSACTION_START. Every node carries the generation number of its
// last change (value, permissions, or set of children). A commit fails with EAGAIN only if
// a node the transaction looked at or changed has a different generation in the live tree
// than when the transaction started; otherwise its operations are replayed on the live tree
// and watches fire then.

import type { StateRecord, Stateful } from '../../platform/bus';
import { canonicalize, domainPath, isChildOf, isSpecialPath, parentOf, segments } from './paths';
import type { EventTrace } from '../../platform/event-trace';
import { TRACE, type XsNodeInfo, type XsWatchInfo } from '../../config/inspect';

export type XsErrno =
  | 'EINVAL'
  | 'EACCES'
  | 'EEXIST'
  | 'EISDIR'
  | 'ENOENT'
  | 'ENOMEM'
  | 'ENOSPC'
  | 'EIO'
  | 'ENOTEMPTY'
  | 'ENOSYS'
  | 'EROFS'
  | 'EBUSY'
  | 'EAGAIN'
  | 'EISCONN'
  | 'E2BIG'
  | 'EPERM';

export class XsError {
  constructor(readonly errno: XsErrno) {}
}
export const isXsError = (v: unknown): v is XsError => v instanceof XsError;

/** n = none, r = read, w = write, b = both. */
export type PermKind = 'n' | 'r' | 'w' | 'b';
export interface XsPerm {
  id: number;
  kind: PermKind;
}

interface XsNode {
  readonly value: string;
  /** perms[0]: owner (full access) and the default for domains not listed after it. */
  readonly perms: readonly XsPerm[];
  readonly children: ReadonlyMap<string, XsNode>;
  readonly gen: number;
}

interface Tree {
  readonly root: XsNode;
  /** Nodes owned per domain (quota). */
  readonly counts: ReadonlyMap<number, number>;
}

type Op =
  | { kind: 'write'; path: string; value: string }
  | { kind: 'mkdir'; path: string }
  | { kind: 'rm'; path: string }
  | { kind: 'setperms'; path: string; perms: XsPerm[] };

interface XsEvent {
  path: string;
  rm: boolean;
  /** Permissions of the node the event is about (who may see it). */
  perms: readonly XsPerm[];
}

export interface XsWatch {
  /** As registered (relative paths stay relative in events). */
  path: string;
  abs: string;
  token: string;
  relative: boolean;
}

class Transaction {
  readonly accessed = new Set<string>();
  readonly ops: Op[] = [];
  tree: Tree;
  constructor(
    readonly id: number,
    readonly base: Tree,
  ) {
    this.tree = base;
  }
}

/** One client: a guest's ring, or an in-process dom0 user (toolstack, a backend). */
export class XsConnection {
  readonly watches: XsWatch[] = [];
  readonly transactions = new Map<number, Transaction>();
  nextTxId = 1;
  closed = false;
  constructor(
    readonly domid: number,
    readonly privileged: boolean,
    /** Delivers a watch event (path as the watch sees it, token). */
    readonly sink: (path: string, token: string) => void,
    readonly name: string,
  ) {}
}

export interface XsQuota {
  /** Nodes an unprivileged domain may own. */
  maxNodesPerDomain: number;
  /** Bytes in one value written by an unprivileged domain. */
  maxEntrySize: number;
  maxWatches: number;
  maxTransactions: number;
  /** Entries in a permission list set by an unprivileged domain. */
  maxPerms: number;
}

export const DEFAULT_QUOTA: XsQuota = { maxNodesPerDomain: 1000, maxEntrySize: 2048, maxWatches: 128, maxTransactions: 10, maxPerms: 5 };

const EMPTY_CHILDREN: ReadonlyMap<string, XsNode> = new Map();

export function permsToStrings(perms: readonly XsPerm[]): string[] {
  return perms.map((p) => `${p.kind}${p.id}`);
}

/** Parse "r1" / "b0" ...; null if any entry is malformed or the list is empty. */
export function parsePerms(list: readonly string[]): XsPerm[] | null {
  if (list.length === 0) return null;
  const out: XsPerm[] = [];
  for (const s of list) {
    const m = /^([nrwb])(\d{1,5})$/.exec(s);
    if (!m) return null;
    const id = Number(m[2]);
    if (id > 0xffff) return null;
    out.push({ id, kind: m[1] as PermKind });
  }
  return out;
}

export class XenStore implements Stateful {
  readonly stateName = 'xenstore';
  readonly stateVersion = 1;
  private live: Tree;
  private gen = 0;
  private readonly conns = new Set<XsConnection>();
  private readonly introduced = new Set<number>();

  /** Where the store reports internal trouble (a failing watch sink). */
  log: (msg: string) => void = () => {};
  /** The inspector's timeline: writes, removals and watch events land there. */
  trace: EventTrace | null = null;

  constructor(readonly quota: XsQuota = DEFAULT_QUOTA) {
    const root: XsNode = { value: '', perms: [{ id: 0, kind: 'n' }], children: EMPTY_CHILDREN, gen: 0 };
    this.live = { root, counts: new Map([[0, 1]]) };
    const dom0 = this.connect(0, true, () => {}, 'init');
    this.mkdir(dom0, 0, '/local/domain');
    this.mkdir(dom0, 0, '/tool');
    this.disconnect(dom0);
  }

  // ---- connections --------------------------------------------------------------------------

  connect(domid: number, privileged: boolean, sink: (path: string, token: string) => void, name: string): XsConnection {
    const c = new XsConnection(domid, privileged, sink, name);
    this.conns.add(c);
    return c;
  }

  disconnect(c: XsConnection): void {
    c.closed = true;
    c.watches.length = 0;
    c.transactions.clear();
    this.conns.delete(c);
  }

  introduceDomain(domid: number): void {
    this.introduced.add(domid);
    this.fireSpecial('@introduceDomain');
  }

  releaseDomain(domid: number): void {
    this.introduced.delete(domid);
    for (const c of [...this.conns]) if (c.domid === domid && !c.privileged) this.disconnect(c);
    this.fireSpecial('@releaseDomain');
  }

  isIntroduced(domid: number): boolean {
    return this.introduced.has(domid);
  }

  // ---- tree helpers -------------------------------------------------------------------------

  private lookup(t: Tree, abs: string): XsNode | undefined {
    return this.lookupSegs(t, segments(abs), Infinity);
  }

  /** The node at the first `n` segments of a path. */
  private lookupSegs(t: Tree, segs: readonly string[], n: number): XsNode | undefined {
    let node: XsNode | undefined = t.root;
    const end = Math.min(n, segs.length);
    for (let i = 0; i < end; i++) {
      node = node.children.get(segs[i]);
      if (!node) return undefined;
    }
    return node;
  }

  private genOf(t: Tree, abs: string): number {
    return this.lookup(t, abs)?.gen ?? -1;
  }

  /** New root with the node at `segs` replaced (null = removed). Ancestors must exist. */
  private replace(root: XsNode, segs: readonly string[], node: XsNode | null): XsNode {
    if (segs.length === 0) return node ?? root;
    const rec = (cur: XsNode, i: number): XsNode => {
      const name = segs[i];
      const children = new Map(cur.children);
      if (i === segs.length - 1) {
        const existed = children.has(name);
        if (node) children.set(name, node);
        else children.delete(name);
        // A parent's generation moves when its set of children changes.
        const structural = existed !== (node !== null);
        return { value: cur.value, perms: cur.perms, children, gen: structural ? ++this.gen : cur.gen };
      }
      children.set(name, rec(cur.children.get(name)!, i + 1));
      return { value: cur.value, perms: cur.perms, children, gen: cur.gen };
    };
    return rec(root, 0);
  }

  private access(c: XsConnection, n: XsNode): { read: boolean; write: boolean } {
    if (c.privileged || n.perms[0].id === c.domid) return { read: true, write: true };
    let kind = n.perms[0].kind;
    for (let i = 1; i < n.perms.length; i++) {
      if (n.perms[i].id === c.domid) {
        kind = n.perms[i].kind;
        break;
      }
    }
    return { read: kind === 'r' || kind === 'b', write: kind === 'w' || kind === 'b' };
  }

  private adjust(counts: ReadonlyMap<number, number>, id: number, delta: number): Map<number, number> {
    const m = new Map(counts);
    m.set(id, (m.get(id) ?? 0) + delta);
    return m;
  }

  // ---- operations on a tree (pure apart from the generation counter) -------------------------

  private applyOp(c: XsConnection, t: Tree, op: Op): { tree: Tree; events: XsEvent[] } | XsError {
    switch (op.kind) {
      case 'write':
        return this.doWrite(c, t, op.path, op.value, false);
      case 'mkdir':
        return this.doWrite(c, t, op.path, '', true);
      case 'rm':
        return this.doRm(c, t, op.path);
      case 'setperms':
        return this.doSetPerms(c, t, op.path, op.perms);
    }
  }

  /** Paths a transaction depends on for `op` (for conflict detection). */
  private footprint(t: Tree, op: Op): string[] {
    const out = [op.path];
    if (op.kind === 'rm') out.push(parentOf(op.path));
    if ((op.kind === 'write' || op.kind === 'mkdir') && !this.lookup(t, op.path)) {
      // The deepest existing ancestor gains a child; every missing level is created.
      for (let p = parentOf(op.path); ; p = parentOf(p)) {
        out.push(p);
        if (p === '/' || this.lookup(t, p)) break;
      }
    }
    return out;
  }

  private doWrite(c: XsConnection, t: Tree, abs: string, value: string, mkdir: boolean): { tree: Tree; events: XsEvent[] } | XsError {
    if (!c.privileged && value.length > this.quota.maxEntrySize) return new XsError('ENOSPC');
    const segs = segments(abs);
    const existing = this.lookup(t, abs);
    if (existing) {
      if (mkdir) return { tree: t, events: [] };
      if (!this.access(c, existing).write) return new XsError('EACCES');
      const node: XsNode = { value, perms: existing.perms, children: existing.children, gen: ++this.gen };
      return { tree: { root: this.replace(t.root, segs, node), counts: t.counts }, events: [{ path: abs, rm: false, perms: node.perms }] };
    }
    let k = segs.length - 1;
    while (k > 0 && !this.lookupSegs(t, segs, k)) k--;
    const ancestor = this.lookupSegs(t, segs, k)!;
    if (!this.access(c, ancestor).write) return new XsError('EACCES');
    const creating = segs.length - k;
    // New nodes inherit the parent's permissions; an unprivileged creator becomes the owner.
    const owner = c.privileged ? ancestor.perms[0].id : c.domid;
    if (!c.privileged && (t.counts.get(owner) ?? 0) + creating > this.quota.maxNodesPerDomain) return new XsError('ENOSPC');
    const perms: XsPerm[] = [{ id: owner, kind: ancestor.perms[0].kind }, ...ancestor.perms.slice(1).filter((p) => p.id !== owner)];
    let root = t.root;
    for (let i = k; i < segs.length; i++) {
      const node: XsNode = { value: i === segs.length - 1 ? value : '', perms, children: EMPTY_CHILDREN, gen: ++this.gen };
      root = this.replace(root, segs.slice(0, i + 1), node);
    }
    return { tree: { root, counts: this.adjust(t.counts, owner, creating) }, events: [{ path: abs, rm: false, perms }] };
  }

  private doRm(c: XsConnection, t: Tree, abs: string): { tree: Tree; events: XsEvent[] } | XsError {
    if (abs === '/') return new XsError('EINVAL');
    const node = this.lookup(t, abs);
    if (!node) return this.lookup(t, parentOf(abs)) ? { tree: t, events: [] } : new XsError('ENOENT');
    if (!this.access(c, node).write) return new XsError('EACCES');
    let counts = new Map(t.counts);
    const uncount = (n: XsNode): void => {
      counts.set(n.perms[0].id, (counts.get(n.perms[0].id) ?? 1) - 1);
      for (const ch of n.children.values()) uncount(ch);
    };
    uncount(node);
    return { tree: { root: this.replace(t.root, segments(abs), null), counts }, events: [{ path: abs, rm: true, perms: node.perms }] };
  }

  private doSetPerms(c: XsConnection, t: Tree, abs: string, perms: XsPerm[]): { tree: Tree; events: XsEvent[] } | XsError {
    const node = this.lookup(t, abs);
    if (!node) return new XsError('ENOENT');
    if (!c.privileged) {
      if (node.perms[0].id !== c.domid) return new XsError('EACCES');
      if (perms[0].id !== c.domid) return new XsError('EPERM'); // may not give a node away
      if (perms.length > this.quota.maxPerms) return new XsError('ENOSPC');
    }
    const n: XsNode = { value: node.value, perms, children: node.children, gen: ++this.gen };
    let counts: ReadonlyMap<number, number> = t.counts;
    if (perms[0].id !== node.perms[0].id) counts = this.adjust(this.adjust(counts, node.perms[0].id, -1), perms[0].id, 1);
    return { tree: { root: this.replace(t.root, segments(abs), n), counts }, events: [{ path: abs, rm: false, perms }] };
  }

  // ---- the request API (what XS_* messages map onto) -----------------------------------------

  private context(c: XsConnection, txid: number): { tx: Transaction | null; tree: Tree } | XsError {
    if (txid === 0) return { tx: null, tree: this.live };
    const tx = c.transactions.get(txid);
    return tx ? { tx, tree: tx.tree } : new XsError('ENOENT');
  }

  private resolve(c: XsConnection, path: string): string | XsError {
    return canonicalize(c.domid, path) ?? new XsError('EINVAL');
  }

  private readNode(c: XsConnection, txid: number, path: string): XsNode | XsError {
    const abs = this.resolve(c, path);
    if (isXsError(abs)) return abs;
    const ctx = this.context(c, txid);
    if (isXsError(ctx)) return ctx;
    ctx.tx?.accessed.add(abs);
    const n = this.lookup(ctx.tree, abs);
    if (!n) return new XsError('ENOENT');
    if (!this.access(c, n).read) return new XsError('EACCES');
    return n;
  }

  read(c: XsConnection, txid: number, path: string): string | XsError {
    const n = this.readNode(c, txid, path);
    return isXsError(n) ? n : n.value;
  }

  directory(c: XsConnection, txid: number, path: string): string[] | XsError {
    const n = this.readNode(c, txid, path);
    return isXsError(n) ? n : [...n.children.keys()];
  }

  /** Children plus the node's generation (XS_DIRECTORY_PART). */
  directoryWithGen(c: XsConnection, txid: number, path: string): { gen: number; children: string[] } | XsError {
    const n = this.readNode(c, txid, path);
    return isXsError(n) ? n : { gen: n.gen, children: [...n.children.keys()] };
  }

  getPerms(c: XsConnection, txid: number, path: string): XsPerm[] | XsError {
    const n = this.readNode(c, txid, path);
    return isXsError(n) ? n : [...n.perms];
  }

  private mutate(c: XsConnection, txid: number, op: Op): XsError | null {
    const ctx = this.context(c, txid);
    if (isXsError(ctx)) return ctx;
    if (ctx.tx) for (const p of this.footprint(ctx.tree, op)) ctx.tx.accessed.add(p);
    const r = this.applyOp(c, ctx.tree, op);
    if (isXsError(r)) return r;
    if (ctx.tx) {
      ctx.tx.tree = r.tree;
      ctx.tx.ops.push(op);
    } else {
      this.live = r.tree;
      this.fire(r.events, c.domid);
    }
    return null;
  }

  write(c: XsConnection, txid: number, path: string, value: string): XsError | null {
    const abs = this.resolve(c, path);
    return isXsError(abs) ? abs : this.mutate(c, txid, { kind: 'write', path: abs, value });
  }

  mkdir(c: XsConnection, txid: number, path: string): XsError | null {
    const abs = this.resolve(c, path);
    return isXsError(abs) ? abs : this.mutate(c, txid, { kind: 'mkdir', path: abs });
  }

  rm(c: XsConnection, txid: number, path: string): XsError | null {
    const abs = this.resolve(c, path);
    return isXsError(abs) ? abs : this.mutate(c, txid, { kind: 'rm', path: abs });
  }

  setPerms(c: XsConnection, txid: number, path: string, perms: XsPerm[]): XsError | null {
    const abs = this.resolve(c, path);
    if (isXsError(abs)) return abs;
    if (perms.length === 0) return new XsError('EINVAL');
    return this.mutate(c, txid, { kind: 'setperms', path: abs, perms: perms.map((p) => ({ ...p })) });
  }

  // ---- transactions -------------------------------------------------------------------------

  transactionStart(c: XsConnection): number | XsError {
    if (!c.privileged && c.transactions.size >= this.quota.maxTransactions) return new XsError('ENOSPC');
    let id = c.nextTxId;
    while (id === 0 || c.transactions.has(id)) id = (id + 1) >>> 0;
    c.nextTxId = (id + 1) >>> 0;
    c.transactions.set(id, new Transaction(id, this.live));
    return id;
  }

  transactionEnd(c: XsConnection, txid: number, commit: boolean): XsError | null {
    const tx = c.transactions.get(txid);
    if (!tx) return new XsError('ENOENT');
    c.transactions.delete(txid);
    if (!commit || tx.ops.length === 0) return null;
    for (const p of tx.accessed) if (this.genOf(tx.base, p) !== this.genOf(this.live, p)) return new XsError('EAGAIN');
    let tree = this.live;
    const events: XsEvent[] = [];
    for (const op of tx.ops) {
      const r = this.applyOp(c, tree, op);
      if (isXsError(r)) return new XsError('EAGAIN'); // cannot happen without a conflict; be safe
      tree = r.tree;
      events.push(...r.events);
    }
    this.live = tree;
    // One event per changed path (and kind), in order of first change.
    const seen = new Set<string>();
    const unique = events.filter((e) => {
      const key = (e.rm ? 'rm:' : 'set:') + e.path;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    this.fire(unique, c.domid);
    return null;
  }

  // ---- watches -------------------------------------------------------------------------------

  /** Register a watch; the caller then sends the reply and calls fireInitial(). */
  watch(c: XsConnection, path: string, token: string): XsWatch | XsError {
    const special = isSpecialPath(path);
    const abs = special ? path : canonicalize(c.domid, path);
    if (abs === null) return new XsError('EINVAL');
    if (c.watches.some((w) => w.abs === abs && w.token === token)) return new XsError('EEXIST');
    if (!c.privileged && c.watches.length >= this.quota.maxWatches) return new XsError('E2BIG');
    const w: XsWatch = { path, abs, token, relative: !special && !path.startsWith('/') };
    c.watches.push(w);
    return w;
  }

  /** A new watch fires once at once, with the path as registered. */
  fireInitial(c: XsConnection, w: XsWatch): void {
    this.post(c, w, w.path);
    this.deliver();
  }

  unwatch(c: XsConnection, path: string, token: string): XsError | null {
    const abs = isSpecialPath(path) ? path : canonicalize(c.domid, path);
    if (abs === null) return new XsError('EINVAL');
    const i = c.watches.findIndex((w) => w.abs === abs && w.token === token);
    if (i < 0) return new XsError('ENOENT');
    c.watches.splice(i, 1);
    return null;
  }

  /** XS_RESET_WATCHES: drop every watch and transaction of the connection. */
  resetWatches(c: XsConnection): void {
    c.watches.length = 0;
    c.transactions.clear();
  }

  private eventPath(c: XsConnection, w: XsWatch, abs: string): string {
    if (!w.relative) return abs;
    const base = domainPath(c.domid) + '/';
    return abs.startsWith(base) ? abs.slice(base.length) : abs;
  }

  private canSee(c: XsConnection, perms: readonly XsPerm[]): boolean {
    return this.access(c, { value: '', perms, children: EMPTY_CHILDREN, gen: 0 }).read;
  }

  private fire(events: readonly XsEvent[], writer: number): void {
    for (const e of events) {
      if (this.trace?.on) {
        if (e.rm) this.trace.record(TRACE['xs-rm'], writer, 0, 0, 0, e.path);
        else this.trace.record(TRACE['xs-write'], writer, 0, 0, 0, e.path, this.lookup(this.live, e.path)?.value ?? '');
      }
      for (const c of this.conns) {
        if (c.closed || !this.canSee(c, e.perms)) continue;
        for (const w of c.watches) {
          if (w.abs.startsWith('@')) continue;
          if (isChildOf(e.path, w.abs)) this.post(c, w, this.eventPath(c, w, e.path));
          // Removing a parent of the watched path reports the watched path itself.
          else if (e.rm && isChildOf(w.abs, e.path)) this.post(c, w, w.path);
        }
      }
    }
    this.deliver();
  }

  private fireSpecial(name: string): void {
    for (const c of this.conns) for (const w of c.watches) if (w.abs === name) this.post(c, w, w.path);
    this.deliver();
  }

  /**
   * Events are delivered after the operation that caused them has finished, in order, and
   * never nested: a sink that changes the store again only adds to the queue.
   */
  private readonly pending: { c: XsConnection; w: XsWatch; path: string }[] = [];
  private delivering = false;

  private post(c: XsConnection, w: XsWatch, path: string): void {
    this.pending.push({ c, w, path });
  }

  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.pending.length > 0) {
        const { c, w, path } = this.pending.shift()!;
        // The watch may have been removed (or the connection closed) since the event was queued.
        if (c.closed || !c.watches.includes(w)) continue;
        this.trace?.record(TRACE.watch, c.domid, 0, 0, 0, path, w.token);
        try {
          c.sink(path, w.token);
        } catch (e) {
          this.log(`watch sink of ${c.name} failed: ${(e as Error).message}`);
        }
      }
    } finally {
      this.delivering = false;
    }
  }

  // ---- inspection and state ------------------------------------------------------------------

  /** Every node in pre-order: path, value, permissions (for the inspector and snapshots). */
  dump(): { path: string; value: string; perms: string[] }[] {
    const out: { path: string; value: string; perms: string[] }[] = [];
    const walk = (n: XsNode, path: string): void => {
      out.push({ path, value: n.value, perms: permsToStrings(n.perms) });
      for (const [name, ch] of n.children) walk(ch, path === '/' ? `/${name}` : `${path}/${name}`);
    };
    walk(this.live.root, '/');
    return out;
  }

  /** The inspector's last walk of the tree, kept while nothing changes (the generation counter says). */
  private inspected: { gen: number; root: XsNode; nodes: XsNodeInfo[] } | null = null;

  /** The tree with each node's generation, and every watch, for the inspector. */
  inspect(): { nodes: XsNodeInfo[]; watches: XsWatchInfo[] } {
    const watches: XsWatchInfo[] = [];
    for (const c of this.conns) for (const w of c.watches) watches.push({ owner: c.name, domid: c.domid, path: w.path, token: w.token });
    if (this.inspected?.gen === this.gen && this.inspected.root === this.live.root) return { nodes: this.inspected.nodes, watches };
    const nodes: XsNodeInfo[] = [];
    const walk = (n: XsNode, path: string): void => {
      nodes.push({ path, value: n.value, perms: permsToStrings(n.perms), gen: n.gen });
      for (const [name, ch] of n.children) walk(ch, path === '/' ? `/${name}` : `${path}/${name}`);
    };
    walk(this.live.root, '/');
    this.inspected = { gen: this.gen, root: this.live.root, nodes };
    return { nodes, watches };
  }

  /** Replace the whole tree (snapshot restore). Entries must come parents first. */
  restore(entries: readonly { path: string; value: string; perms: string[] }[], introduced: readonly number[]): void {
    if (entries.length === 0 || entries[0].path !== '/') throw new Error('xenstore state: first entry must be "/"');
    const rootPerms = parsePerms(entries[0].perms);
    if (!rootPerms) throw new Error('xenstore state: bad permissions on "/"');
    let tree: Tree = { root: { value: entries[0].value, perms: rootPerms, children: EMPTY_CHILDREN, gen: ++this.gen }, counts: new Map([[rootPerms[0].id, 1]]) };
    for (const e of entries.slice(1)) {
      const abs = canonicalize(0, e.path);
      const perms = parsePerms(e.perms);
      if (abs !== e.path || !perms) throw new Error(`xenstore state: bad node ${JSON.stringify(e.path)}`);
      if (!this.lookup(tree, parentOf(abs)) || this.lookup(tree, abs)) throw new Error(`xenstore state: node ${e.path} out of order`);
      const node: XsNode = { value: e.value, perms, children: EMPTY_CHILDREN, gen: ++this.gen };
      tree = { root: this.replace(tree.root, segments(abs), node), counts: this.adjust(tree.counts, perms[0].id, 1) };
    }
    this.live = tree;
    this.introduced.clear();
    for (const d of introduced) this.introduced.add(d);
  }

  introducedDomains(): number[] {
    return [...this.introduced];
  }

  /**
   * The tree and the introduced domains. Connections (guest rings, dom0 clients) save their
   * own watches; open transactions are not saved (a guest sees ENOENT and retries).
   */
  saveState(): StateRecord {
    return {
      nodes: this.dump().map((n) => ({ path: n.path, value: n.value, perms: n.perms.join(',') })),
      introduced: this.introducedDomains(),
    };
  }

  loadState(state: StateRecord, version: number): void {
    const dev = this.stateName;
    if (version !== this.stateVersion) throw new Error(`${dev} state: version ${version}, this build reads ${this.stateVersion}`);
    const nodes = state.nodes;
    const introduced = state.introduced;
    if (!Array.isArray(nodes)) throw new Error(`${dev} state: field "nodes" is not a list`);
    if (!Array.isArray(introduced) || introduced.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 0xffff))
      throw new Error(`${dev} state: field "introduced" is not a list of domain ids`);
    const entries = nodes.map((n, i) => {
      if (typeof n !== 'object' || n === null || Array.isArray(n) || n instanceof Uint8Array) throw new Error(`${dev} state: nodes[${i}] is not a record`);
      const r = n as StateRecord;
      if (typeof r.path !== 'string' || typeof r.value !== 'string' || typeof r.perms !== 'string') throw new Error(`${dev} state: nodes[${i}] is malformed`);
      return { path: r.path, value: r.value, perms: r.perms.split(',') };
    });
    this.restore(entries, introduced as number[]);
  }
}

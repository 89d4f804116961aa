// dom0's in-process xenstore client: what the toolstack and the backends use instead of a
// socket. Same store, same permission model (dom0 is privileged), same watch semantics;
// watch callbacks run through `defer` (the hypervisor's dom0 work queue) so they never run
// nested inside the store operation that fired them.

import { isXsError, type XenStore, type XsConnection, type XsErrno, type XsPerm } from './store';

export type WatchCallback = (path: string, token: string) => void;

export class XsClient {
  readonly conn: XsConnection;
  private readonly callbacks = new Map<string, WatchCallback>();
  private nextToken = 1;

  constructor(
    private readonly store: XenStore,
    name: string,
    private readonly defer: (fn: () => void) => void,
    domid = 0,
  ) {
    this.conn = store.connect(domid, domid === 0, (path, token) => this.deliver(path, token), name);
  }

  private deliver(path: string, token: string): void {
    const cb = this.callbacks.get(token);
    if (cb) this.defer(() => this.callbacks.get(token) === cb && cb(path, token));
  }

  read(path: string, tx = 0): string | undefined {
    const v = this.store.read(this.conn, tx, path);
    return isXsError(v) ? undefined : v;
  }

  /** A decimal value, or undefined if absent or not a plain non-negative integer. */
  readInt(path: string, tx = 0): number | undefined {
    const v = this.read(path, tx);
    if (v === undefined || !/^\d{1,15}$/.test(v.trim())) return undefined;
    return Number(v.trim());
  }

  write(path: string, value: string, tx = 0): XsErrno | null {
    return this.store.write(this.conn, tx, path, value)?.errno ?? null;
  }

  mkdir(path: string, tx = 0): XsErrno | null {
    return this.store.mkdir(this.conn, tx, path)?.errno ?? null;
  }

  rm(path: string, tx = 0): XsErrno | null {
    return this.store.rm(this.conn, tx, path)?.errno ?? null;
  }

  directory(path: string, tx = 0): string[] {
    const d = this.store.directory(this.conn, tx, path);
    return isXsError(d) ? [] : d;
  }

  exists(path: string, tx = 0): boolean {
    return !isXsError(this.store.read(this.conn, tx, path));
  }

  getPerms(path: string): XsPerm[] | undefined {
    const p = this.store.getPerms(this.conn, 0, path);
    return isXsError(p) ? undefined : p;
  }

  setPerms(path: string, perms: XsPerm[], tx = 0): XsErrno | null {
    return this.store.setPerms(this.conn, tx, path, perms)?.errno ?? null;
  }

  /** Watch `path`; `cb` also runs once at once (as for every xenstore watch). Returns the unwatch. */
  watch(path: string, cb: WatchCallback): () => void {
    const token = `t${this.nextToken++}`;
    this.callbacks.set(token, cb);
    const w = this.store.watch(this.conn, path, token);
    if (isXsError(w)) {
      this.callbacks.delete(token);
      throw new Error(`xenstore watch ${path}: ${w.errno}`);
    }
    this.store.fireInitial(this.conn, w);
    return () => {
      this.callbacks.delete(token);
      this.store.unwatch(this.conn, path, token);
    };
  }

  txStart(): number {
    const id = this.store.transactionStart(this.conn);
    if (isXsError(id)) throw new Error(`xenstore transaction: ${id.errno}`);
    return id;
  }

  txEnd(tx: number, commit: boolean): XsErrno | null {
    return this.store.transactionEnd(this.conn, tx, commit)?.errno ?? null;
  }

  /** Run `body` in a transaction, retrying on EAGAIN. `body` returns false to abort. */
  transaction(body: (tx: number) => boolean | void, maxTries = 16): XsErrno | null {
    for (let i = 0; i < maxTries; i++) {
      const tx = this.txStart();
      const keep = body(tx) !== false;
      const r = this.txEnd(tx, keep);
      if (r !== 'EAGAIN') return r;
    }
    return 'EAGAIN';
  }

  close(): void {
    this.callbacks.clear();
    this.store.disconnect(this.conn);
  }
}

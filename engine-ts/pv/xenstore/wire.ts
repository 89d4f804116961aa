// The xenstore wire protocol (io/xs_wire.h, spec §10.2): a 16-byte xsd_sockmsg header
// {u32 type, u32 req_id, u32 tx_id, u32 len} and `len` payload bytes (at most 4096), and the
// mapping of each request type onto the store. Replies echo type, req_id and tx_id; errors
// are type XS_ERROR with payload "E<NAME>\0".

import { fromLatin1, latin1, put32 } from '../bytes';
import { domainPath } from './paths';
import { isXsError, parsePerms, permsToStrings, XsError, type XenStore, type XsConnection, type XsErrno } from './store';

export const XS_CONTROL = 0;
export const XS_DIRECTORY = 1;
export const XS_READ = 2;
export const XS_GET_PERMS = 3;
export const XS_WATCH = 4;
export const XS_UNWATCH = 5;
export const XS_TRANSACTION_START = 6;
export const XS_TRANSACTION_END = 7;
export const XS_INTRODUCE = 8;
export const XS_RELEASE = 9;
export const XS_GET_DOMAIN_PATH = 10;
export const XS_WRITE = 11;
export const XS_MKDIR = 12;
export const XS_RM = 13;
export const XS_SET_PERMS = 14;
export const XS_WATCH_EVENT = 15;
export const XS_ERROR = 16;
export const XS_IS_DOMAIN_INTRODUCED = 17;
export const XS_RESUME = 18;
export const XS_SET_TARGET = 19;
export const XS_RESET_WATCHES = 21;
export const XS_DIRECTORY_PART = 22;

export const XSD_SOCKMSG_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;

export interface XsHeader {
  type: number;
  req_id: number;
  tx_id: number;
  len: number;
}

/** Encode one message (header + payload). */
export function encodeMessage(type: number, req_id: number, tx_id: number, payload: Uint8Array): Uint8Array {
  const m = new Uint8Array(XSD_SOCKMSG_SIZE + payload.length);
  put32(m, 0, type);
  put32(m, 4, req_id);
  put32(m, 8, tx_id);
  put32(m, 12, payload.length);
  m.set(payload, XSD_SOCKMSG_SIZE);
  return m;
}

export type XsSend = (type: number, req_id: number, tx_id: number, payload: Uint8Array) => void;

const OK = fromLatin1('OK\0');

/** Split a payload into its NUL-terminated strings; null if the last one is unterminated. */
function strings(payload: Uint8Array): string[] | null {
  if (payload.length === 0 || payload[payload.length - 1] !== 0) return null;
  return latin1(payload.subarray(0, payload.length - 1)).split('\0');
}

/** Exactly `n` NUL-terminated strings (xenstored's "onearg" rule, generalised). */
function args(payload: Uint8Array, n: number, atLeast = false): string[] | null {
  const s = strings(payload);
  if (!s) return null;
  return s.length === n || (atLeast && s.length >= n) ? s : null;
}

function parseDomid(s: string): number | null {
  if (!/^\d{1,5}$/.test(s)) return null;
  const v = Number(s);
  return v <= 0xffff ? v : null;
}

/**
 * Handle one request from `conn` and send the reply through `send`. Watch events the request
 * causes are delivered through the connection's sink (after the reply for XS_WATCH).
 */
export function handleXsRequest(store: XenStore, conn: XsConnection, h: XsHeader, payload: Uint8Array, send: XsSend): void {
  const reply = (p: Uint8Array): void => {
    if (p.length > XENSTORE_PAYLOAD_MAX) send(XS_ERROR, h.req_id, h.tx_id, fromLatin1('E2BIG\0'));
    else send(h.type, h.req_id, h.tx_id, p);
  };
  const fail = (e: XsErrno): void => send(XS_ERROR, h.req_id, h.tx_id, fromLatin1(`${e}\0`));
  const done = (r: XsError | null): void => (r ? fail(r.errno) : reply(OK));
  const one = (): string | null => args(payload, 1)?.[0] ?? null;

  switch (h.type) {
    case XS_READ: {
      const p = one();
      if (p === null) return fail('EINVAL');
      const v = store.read(conn, h.tx_id, p);
      return isXsError(v) ? fail(v.errno) : reply(fromLatin1(v));
    }
    case XS_WRITE: {
      const nul = payload.indexOf(0);
      if (nul < 0) return fail('EINVAL');
      return done(store.write(conn, h.tx_id, latin1(payload.subarray(0, nul)), latin1(payload.subarray(nul + 1))));
    }
    case XS_MKDIR: {
      const p = one();
      return p === null ? fail('EINVAL') : done(store.mkdir(conn, h.tx_id, p));
    }
    case XS_RM: {
      const p = one();
      return p === null ? fail('EINVAL') : done(store.rm(conn, h.tx_id, p));
    }
    case XS_DIRECTORY: {
      const p = one();
      if (p === null) return fail('EINVAL');
      const d = store.directory(conn, h.tx_id, p);
      return isXsError(d) ? fail(d.errno) : reply(fromLatin1(d.map((c) => c + '\0').join('')));
    }
    case XS_DIRECTORY_PART: {
      const a = args(payload, 2);
      const offset = a && /^\d{1,10}$/.test(a[1]) ? Number(a[1]) : -1;
      if (!a || offset < 0) return fail('EINVAL');
      const d = store.directoryWithGen(conn, h.tx_id, a[0]);
      if (isXsError(d)) return fail(d.errno);
      // Children from byte `offset` of the full list, whole names only; an extra NUL marks the end.
      const head = `${d.gen}\0`;
      const all = d.children.map((c) => c + '\0').join('');
      if (offset > all.length) return fail('EINVAL');
      let end = offset;
      for (const c of all.slice(offset).split('\0').slice(0, -1)) {
        if (head.length + (end - offset) + c.length + 2 > XENSTORE_PAYLOAD_MAX) break;
        end += c.length + 1;
      }
      if (end === offset && offset < all.length) return fail('E2BIG');
      return reply(fromLatin1(head + all.slice(offset, end) + (end === all.length ? '\0' : '')));
    }
    case XS_GET_PERMS: {
      const p = one();
      if (p === null) return fail('EINVAL');
      const perms = store.getPerms(conn, h.tx_id, p);
      return isXsError(perms) ? fail(perms.errno) : reply(fromLatin1(permsToStrings(perms).map((s) => s + '\0').join('')));
    }
    case XS_SET_PERMS: {
      const a = args(payload, 2, true);
      const perms = a ? parsePerms(a.slice(1)) : null;
      if (!a || !perms) return fail('EINVAL');
      return done(store.setPerms(conn, h.tx_id, a[0], perms));
    }
    case XS_WATCH: {
      const a = args(payload, 2, true);
      if (!a) return fail('EINVAL');
      const w = store.watch(conn, a[0], a[1]);
      if (isXsError(w)) return fail(w.errno);
      reply(OK);
      store.fireInitial(conn, w);
      return;
    }
    case XS_UNWATCH: {
      const a = args(payload, 2, true);
      return a ? done(store.unwatch(conn, a[0], a[1])) : fail('EINVAL');
    }
    case XS_TRANSACTION_START: {
      if (h.tx_id !== 0) return fail('EBUSY');
      const id = store.transactionStart(conn);
      return isXsError(id) ? fail(id.errno) : reply(fromLatin1(`${id}\0`));
    }
    case XS_TRANSACTION_END: {
      const p = one();
      if (p !== 'T' && p !== 'F') return fail('EINVAL');
      return done(store.transactionEnd(conn, h.tx_id, p === 'T'));
    }
    case XS_GET_DOMAIN_PATH: {
      const p = one();
      const d = p === null ? null : parseDomid(p);
      return d === null ? fail('EINVAL') : reply(fromLatin1(`${domainPath(d)}\0`));
    }
    case XS_IS_DOMAIN_INTRODUCED: {
      const p = one();
      const d = p === null ? null : parseDomid(p);
      if (d === null) return fail('EINVAL');
      return reply(fromLatin1(d === 0 || store.isIntroduced(d) ? 'T\0' : 'F\0'));
    }
    case XS_RESET_WATCHES:
      store.resetWatches(conn);
      return reply(OK);
    case XS_CONTROL:
    case XS_INTRODUCE:
    case XS_RELEASE:
    case XS_RESUME:
    case XS_SET_TARGET:
      // Toolstack operations: dom0 does them through the store API, never over a ring.
      return fail(conn.privileged ? 'ENOSYS' : 'EACCES');
    default:
      // WATCH_EVENT and ERROR are server-to-client only; 20 was RESTRICT; 23+ are newer than Linux 6.1.
      return fail('EINVAL');
  }
}

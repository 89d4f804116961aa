import { describe, expect, it } from 'vitest';
import { XenStore } from '../../engine-ts/pv/xenstore/store';
import { XsClient } from '../../engine-ts/pv/xenstore/client';
import { XenstoreRingServer } from '../../engine-ts/pv/xenstore/ring-server';
import * as W from '../../engine-ts/pv/xenstore/wire';
import { canonicalize, isValidPath } from '../../engine-ts/pv/xenstore/paths';
import { GuestXsRing, xsMessage } from './xs-guest';
import { wordsOf } from '../../engine-ts/worker/machine-memory';

const now = (fn: () => void) => fn();

/** A store, a dom0 client, and domain 1 speaking the wire protocol over a ring page. */
function setup(opts: { startIdx?: number } = {}) {
  const store = new XenStore();
  const dom0 = new XsClient(store, 'toolstack', now);
  const page = new Uint8Array(4096);
  const logs: string[] = [];
  let notifies = 0;
  const server = new XenstoreRingServer(store, 1, { page: () => ({ bytes: page, words: wordsOf(page) }), notify: () => notifies++, log: (m) => logs.push(m) });
  const guest = new GuestXsRing(() => page, () => server.onEvent());
  if (opts.startIdx !== undefined) guest.setIndexes(opts.startIdx);
  dom0.write('/local/domain/1', '');
  dom0.setPerms('/local/domain/1', [{ id: 0, kind: 'n' }, { id: 1, kind: 'r' }]);
  dom0.mkdir('/local/domain/1/device');
  dom0.setPerms('/local/domain/1/device', [{ id: 1, kind: 'n' }]);
  return { store, dom0, page, server, guest, logs, notifies: () => notifies };
}

const ok = (m: { type: number; text: string }) => expect([m.type, m.text]).not.toEqual([W.XS_ERROR, expect.anything()]);
const err = (m: { type: number; text: string }) => (m.type === W.XS_ERROR ? m.text : `not an error: ${m.text}`);

describe('xenstore paths', () => {
  it('accepts the documented alphabet and rejects the rest', () => {
    expect(isValidPath('/local/domain/1/device/vbd/51712')).toBe(true);
    expect(isValidPath('device/vbd')).toBe(true);
    expect(isValidPath('/')).toBe(true);
    for (const bad of ['', '/a//b', '/a/', 'a b', '/a.b', '@introduceDomain', '/' + 'x'.repeat(3072)]) expect(isValidPath(bad)).toBe(false);
    expect(canonicalize(3, 'control/shutdown')).toBe('/local/domain/3/control/shutdown');
  });
});

describe('xenstore store (dom0 API)', () => {
  it('write creates parents; read, directory, mkdir and rm behave as documented', () => {
    const { dom0 } = setup();
    expect(dom0.write('/a/b/c', 'v')).toBeNull();
    expect(dom0.read('/a/b')).toBe('');
    expect(dom0.read('/a/b/c')).toBe('v');
    expect(dom0.directory('/a')).toEqual(['b']);
    expect(dom0.mkdir('/a/b')).toBeNull();
    expect(dom0.read('/a/b/c')).toBe('v');
    expect(dom0.rm('/a/b/nonexistent')).toBeNull(); // parent exists: fine
    expect(dom0.rm('/a/x/y')).toBe('ENOENT'); // parent missing
    expect(dom0.rm('/')).toBe('EINVAL');
    expect(dom0.rm('/a')).toBeNull();
    expect(dom0.read('/a/b/c')).toBeUndefined();
    expect(dom0.write('bad path', 'x')).toBe('EINVAL');
  });

  it('values are octet strings: NUL and high bytes survive', () => {
    const { dom0 } = setup();
    dom0.write('/bin', 'a\0b\xff');
    expect(dom0.read('/bin')).toBe('a\0b\xff');
  });

  it('watches fire on the watched path and every change below it, once at registration', () => {
    const { dom0 } = setup();
    const seen: string[] = [];
    const unwatch = dom0.watch('/w', (p) => seen.push(p));
    expect(seen).toEqual(['/w']);
    dom0.write('/w/x', '1');
    dom0.write('/w/x/y/z', '2');
    dom0.write('/wx', 'not below /w');
    dom0.setPerms('/w/x', [{ id: 0, kind: 'r' }]);
    dom0.rm('/w/x');
    expect(seen).toEqual(['/w', '/w/x', '/w/x/y/z', '/w/x', '/w/x']);
    // Removing a parent fires a watch set below it, with the watch's own path.
    const deep: string[] = [];
    dom0.write('/p/q/r', '');
    dom0.watch('/p/q/r', (p) => deep.push(p));
    dom0.rm('/p');
    expect(deep).toEqual(['/p/q/r', '/p/q/r']);
    unwatch();
    dom0.write('/w/after', '');
    expect(seen.length).toBe(5);
  });

  it('transactions see their own writes, apply atomically at commit and fire watches only then', () => {
    const { dom0, store } = setup();
    const other = new XsClient(store, 'other', now);
    const seen: string[] = [];
    other.watch('/t', (p) => seen.push(p));
    seen.length = 0;
    const tx = dom0.txStart();
    dom0.write('/t/a', '1', tx);
    dom0.write('/t/b', '2', tx);
    expect(dom0.read('/t/a', tx)).toBe('1');
    expect(dom0.read('/t/a')).toBeUndefined();
    expect(seen).toEqual([]);
    expect(dom0.txEnd(tx, true)).toBeNull();
    expect([dom0.read('/t/a'), dom0.read('/t/b')]).toEqual(['1', '2']);
    expect(seen).toEqual(['/t/a', '/t/b']);
    // Abort discards.
    const tx2 = dom0.txStart();
    dom0.write('/t/c', '3', tx2);
    expect(dom0.txEnd(tx2, false)).toBeNull();
    expect(dom0.read('/t/c')).toBeUndefined();
    expect(dom0.txEnd(tx2, true)).toBe('ENOENT');
  });

  it('a conflicting change between start and commit gives EAGAIN; an unrelated one does not', () => {
    const { dom0, store } = setup();
    const other = new XsClient(store, 'other', now);
    dom0.write('/c/x', 'old');
    dom0.write('/c/y', 'y');
    // Read-modify-write of x races with another writer of x.
    let tx = dom0.txStart();
    const v = dom0.read('/c/x', tx);
    dom0.write('/c/x', v + '+1', tx);
    other.write('/c/x', 'theirs');
    expect(dom0.txEnd(tx, true)).toBe('EAGAIN');
    expect(dom0.read('/c/x')).toBe('theirs');
    // Unrelated concurrent write: commit succeeds.
    tx = dom0.txStart();
    dom0.read('/c/x', tx);
    dom0.write('/c/z', 'new', tx);
    other.write('/c/y', 'changed');
    expect(dom0.txEnd(tx, true)).toBeNull();
    expect(dom0.read('/c/z')).toBe('new');
    // Two transactions creating the same node: the second commit conflicts.
    const t1 = dom0.txStart();
    const t2 = other.txStart();
    dom0.write('/c/n', '1', t1);
    other.write('/c/n', '2', t2);
    expect(dom0.txEnd(t1, true)).toBeNull();
    expect(other.txEnd(t2, true)).toBe('EAGAIN');
    // The retry helper succeeds after a conflict.
    let tries = 0;
    expect(
      dom0.transaction((t) => {
        tries++;
        dom0.write('/c/x', `try${tries}`, t);
        if (tries === 1) other.write('/c/x', 'interference');
      }),
    ).toBeNull();
    expect(tries).toBe(2);
    expect(dom0.read('/c/x')).toBe('try2');
  });
});

describe('xenstore wire protocol over the ring', () => {
  it('reads, writes and lists with relative paths; errors come back as E<NAME>', () => {
    const { guest } = setup();
    ok(guest.request(W.XS_WRITE, 'device/vbd/51712/state\x004'));
    const r = guest.request(W.XS_READ, 'device/vbd/51712/state\0');
    expect([r.type, r.text]).toEqual([W.XS_READ, '4']);
    expect(guest.request(W.XS_DIRECTORY, 'device\0').text).toBe('vbd|');
    expect(err(guest.request(W.XS_READ, 'device/none\0'))).toBe('ENOENT|');
    expect(err(guest.request(W.XS_READ, 'no-terminator'))).toBe('EINVAL|');
    expect(err(guest.request(99, 'x\0'))).toBe('EINVAL|');
    expect(err(guest.request(W.XS_INTRODUCE, '2\x00100\x005\0'))).toBe('EACCES|');
    expect(guest.request(W.XS_GET_DOMAIN_PATH, '7\0').text).toBe('/local/domain/7|');
  });

  it('permissions: EACCES on nodes the guest may not read or write; created nodes belong to it', () => {
    const { guest, dom0 } = setup();
    dom0.write('/local/domain/0/backend/vbd/1/51712/state', '2');
    expect(err(guest.request(W.XS_READ, '/local/domain/0/backend/vbd/1/51712/state\0'))).toBe('EACCES|');
    dom0.setPerms('/local/domain/0/backend/vbd/1/51712/state', [{ id: 0, kind: 'n' }, { id: 1, kind: 'r' }]);
    expect(guest.request(W.XS_READ, '/local/domain/0/backend/vbd/1/51712/state\0').text).toBe('2');
    expect(err(guest.request(W.XS_WRITE, '/local/domain/0/backend/vbd/1/51712/state\x005'))).toBe('EACCES|');
    expect(err(guest.request(W.XS_WRITE, 'name\0evil'))).toBe('EACCES|'); // /local/domain/1 is r1 only
    ok(guest.request(W.XS_WRITE, 'device/mine\0x'));
    expect(guest.request(W.XS_GET_PERMS, 'device/mine\0').text).toBe('n1|');
    // Only the owner may change permissions, and it may not give the node away.
    expect(err(guest.request(W.XS_SET_PERMS, '/local/domain/1\0b1\0'))).toBe('EACCES|');
    expect(err(guest.request(W.XS_SET_PERMS, 'device/mine\0n0\0'))).toBe('EPERM|');
    ok(guest.request(W.XS_SET_PERMS, 'device/mine\0n1\0r0\0'));
  });

  it('watch: OK then the initial event; relative watches get relative paths; unreadable changes are not reported', () => {
    const { guest, dom0 } = setup();
    const w = guest.request(W.XS_WATCH, 'device\0tok\0');
    expect([w.type, w.text]).toEqual([W.XS_WATCH, 'OK|']);
    expect(guest.takeEvents()).toEqual(['device|tok|']);
    dom0.write('/local/domain/1/device/vif/0/state', '1');
    expect(guest.takeEvents()).toEqual(['device/vif/0/state|tok|']);
    expect(err(guest.request(W.XS_WATCH, 'device\0tok\0'))).toBe('EEXIST|');
    // Absolute watch on a dom0 node the guest cannot read: no event for it.
    guest.request(W.XS_WATCH, '/local/domain/0/secret\0abs\0');
    guest.takeEvents();
    dom0.write('/local/domain/0/secret', 'x');
    expect(guest.takeEvents()).toEqual([]);
    ok(guest.request(W.XS_UNWATCH, 'device\0tok\0'));
    dom0.write('/local/domain/1/device/vif/0/state', '2');
    expect(guest.takeEvents()).toEqual([]);
    expect(err(guest.request(W.XS_UNWATCH, 'device\0tok\0'))).toBe('ENOENT|');
  });

  it('transactions over the wire: id in the payload, tx_id in the header, EAGAIN on conflict', () => {
    const { guest, dom0 } = setup();
    const start = guest.request(W.XS_TRANSACTION_START, '\0');
    const tx = Number(start.text.replace('|', ''));
    expect(tx).toBeGreaterThan(0);
    expect(err(guest.request(W.XS_TRANSACTION_START, '\0', tx))).toBe('EBUSY|');
    guest.request(W.XS_READ, 'device\0', tx);
    ok(guest.request(W.XS_WRITE, 'device/vbd/1/ring-ref\x008', tx));
    dom0.write('/local/domain/1/device', 'touched');
    expect(err(guest.request(W.XS_TRANSACTION_END, 'T\0', tx))).toBe('EAGAIN|');
    expect(err(guest.request(W.XS_READ, 'device\0', 12345))).toBe('ENOENT|');
    expect(dom0.read('/local/domain/1/device/vbd/1/ring-ref')).toBeUndefined();
  });

  it('reassembles messages split across notifications and across the ring wrap, from any start index', () => {
    const { guest, dom0 } = setup({ startIdx: 0xffff_fff0 });
    dom0.write('/local/domain/1/device/k', 'value');
    // A 40-byte READ delivered a few bytes at a time, straddling the u32 index wrap.
    const msg = xsMessage(W.XS_READ, 77, 0, 'device/k\0'.padEnd(24, '\0'));
    // (padded payload with extra NULs is invalid for READ: exactly one string)
    guest.queue(msg);
    while (guest.push(5) > 0) {}
    const r1 = guest.pull();
    expect(r1.map((m) => [m.req_id, m.type, m.text])).toEqual([[77, W.XS_ERROR, 'EINVAL|']]);
    // Fill the ring so the next requests wrap the 1024-byte buffer.
    for (let i = 0; i < 30; i++) ok(guest.request(W.XS_WRITE, `device/f${i}\0${'x'.repeat(20)}`));
    const big = 'device/big\0' + 'y'.repeat(900);
    ok(guest.request(W.XS_WRITE, big));
    expect(dom0.read('/local/domain/1/device/big')).toBe('y'.repeat(900));
  });

  it('a response ring the guest does not drain holds back further requests until it does', () => {
    const { guest, dom0, page } = setup();
    dom0.write('/local/domain/1/device/v', 'z'.repeat(1000));
    // Three reads whose replies (1016 bytes each) cannot all fit in 1024 bytes of rsp[].
    for (let i = 1; i <= 3; i++) guest.queue(xsMessage(W.XS_READ, i, 0, 'device/v\0'));
    guest.push();
    // Nothing pulled yet: reply 1 fits, reply 2 only partly, so request 3 (25 bytes each) is not read.
    expect(page[2048] | (page[2049] << 8)).toBe(50);
    const first = guest.pull();
    expect(first.length).toBeLessThanOrEqual(1);
    const all = [...first];
    for (let i = 0; i < 10 && all.length < 3; i++) all.push(...guest.pull());
    expect(all.map((m) => [m.req_id, m.payload.length])).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 1000],
    ]);
  });

  it('a message longer than 4096 bytes or corrupt ring indexes stop the connection; reset recovers', () => {
    const { guest, server, page, logs } = setup();
    guest.queue(xsMessage(W.XS_WRITE, 1, 0, new Uint8Array(0)).map((b, i) => (i === 13 ? 0x20 : b))); // len = 8192
    guest.push();
    expect(server.broken).toMatch(/exceeds 4096/);
    expect(page[2072]).toBe(3); // error = protocol
    expect(logs.length).toBe(1);
    server.reset();
    guest.setIndexes(0);
    ok(guest.request(W.XS_WRITE, 'device/after\0ok'));
    // req_prod far beyond req_cons: more than a ring's worth of "requests".
    page.set([0, 0x10, 0, 0], 2052);
    server.onEvent();
    expect(server.broken).toMatch(/bad request ring indexes/);
  });

  it('DIRECTORY_PART pages through a long child list with the generation count', () => {
    const { guest, dom0 } = setup();
    for (let i = 0; i < 300; i++) dom0.write(`/local/domain/1/device/child-with-a-long-name-${i}`, '');
    expect(err(guest.request(W.XS_DIRECTORY, 'device\0'))).toBe('E2BIG|');
    const names: string[] = [];
    let offset = 0;
    let gen = '';
    for (let i = 0; i < 10; i++) {
      const r = guest.request(W.XS_DIRECTORY_PART, `device\0${offset}\0`);
      const parts = r.text.split('|');
      if (gen) expect(parts[0]).toBe(gen);
      gen = parts[0];
      const body = parts.slice(1);
      const done = body.length >= 2 && body[body.length - 1] === '' && body[body.length - 2] === '';
      const got = body.filter((s) => s !== '');
      names.push(...got);
      offset += got.reduce((n, s) => n + s.length + 1, 0);
      if (done) break;
    }
    expect(names.length).toBe(300);
    expect(names[299]).toBe('child-with-a-long-name-299');
  });

  it('quotas: too many watches, transactions, nodes or too large values', () => {
    const { guest, store } = setup();
    for (let i = 0; i < store.quota.maxWatches; i++) guest.request(W.XS_WATCH, `device\0t${i}\0`);
    expect(err(guest.request(W.XS_WATCH, 'device\0one-more\0'))).toBe('E2BIG|');
    for (let i = 0; i < store.quota.maxTransactions; i++) guest.request(W.XS_TRANSACTION_START, '\0');
    expect(err(guest.request(W.XS_TRANSACTION_START, '\0'))).toBe('ENOSPC|');
    ok(guest.request(W.XS_RESET_WATCHES, '\0'));
    expect(err(guest.request(W.XS_WRITE, 'device/big\0' + 'b'.repeat(2049)))).toBe('ENOSPC|');
    let last = '';
    for (let i = 0; i < store.quota.maxNodesPerDomain + 5; i++) {
      const r = guest.request(W.XS_WRITE, `device/n${i}\0`);
      if (r.type === W.XS_ERROR) {
        last = r.text;
        break;
      }
    }
    expect(last).toBe('ENOSPC|');
  });

  it('state: the tree, permissions, introduced domains and a ring\'s watches and partial request survive a save/load', () => {
    const a = setup();
    a.dom0.write('/local/domain/1/device/x', 'v\0bin');
    a.store.introduceDomain(1);
    a.guest.request(W.XS_WATCH, 'device\0tok\n1\0');
    a.guest.takeEvents();
    a.guest.queue(xsMessage(W.XS_READ, 9, 0, 'device/x\0').subarray(0, 10)); // half a header
    a.guest.push();
    const storeState = a.store.saveState();
    const ringState = a.server.saveState();

    const b = setup();
    b.store.loadState(storeState, 1);
    b.server.loadState(ringState, 1);
    b.page.set(a.page);
    expect(b.dom0.read('/local/domain/1/device/x')).toBe('v\0bin');
    expect(b.dom0.getPerms('/local/domain/1')).toEqual([{ id: 0, kind: 'n' }, { id: 1, kind: 'r' }]);
    expect(b.store.isIntroduced(1)).toBe(true);
    // The rest of the interrupted request completes against the restored server.
    const rest = new GuestXsRing(() => b.page, () => b.server.onEvent());
    rest.queue(xsMessage(W.XS_READ, 9, 0, 'device/x\0').subarray(10));
    rest.push();
    const got = rest.pull();
    expect(got.map((m) => [m.req_id, m.text])).toEqual([[9, 'v|bin']]);
    // The guest's watch is still registered.
    b.dom0.write('/local/domain/1/device/y', '1');
    expect(rest.takeEvents()).toEqual(['device/y|tok\n1|']);
    expect(() => b.store.loadState({ nodes: [{ path: 'relative', value: '', perms: 'n0' }], introduced: [] }, 1)).toThrow(/first entry/);
  });
});

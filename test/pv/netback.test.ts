import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { NETTXF_csum_blank, NETTXF_extra_info, NETTXF_more_data } from '../../engine-ts/pv/backends/netback';
import { checksumIsValid, completeChecksum } from '../../engine-ts/network/net-checksum';
import { EthernetSwitch } from '../../engine-ts/network/net-switch';
import { PAGE, poke } from './fake-guest';
import { ethFrame, settle, SimNetFront, World } from './sim-guest';

const MAC_A = '00:16:3e:00:00:01';
const MAC_B = '00:16:3e:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';

function twoGuests() {
  const w = new World();
  const ga = w.addGuest(1);
  const gb = w.addGuest(2);
  const na = w.ts.addNic(1, 0, MAC_A);
  const nb = w.ts.addNic(2, 0, MAC_B);
  const fa = new SimNetFront(ga);
  const fb = new SimNetFront(gb);
  fa.connect();
  fb.connect();
  return { w, ga, gb, na, nb, fa, fb };
}

/** A UDP/IPv4 frame with its checksum left blank (as Linux does with offload). */
function udpFrame(src: string, dst: string, payload: string): Uint8Array {
  const data = Uint8Array.from(payload, (c) => c.charCodeAt(0));
  const ip = new Uint8Array(20 + 8 + data.length);
  ip.set([0x45, 0, ip.length >> 8, ip.length & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
  ip.set([0x30, 0x39, 0x00, 0x35, 0, 8 + data.length, 0, 0], 20);
  ip.set(data, 28);
  return ethFrame(dst, src, ip, 0x0800);
}

describe('netback and the switch', () => {
  it('negotiates rx-copy and connects both guests', () => {
    const { na, nb, fa } = twoGuests();
    expect(na.state).toBe(X.XenbusState.Connected);
    expect(nb.state).toBe(X.XenbusState.Connected);
    expect(fa.mac).toBe(MAC_A);
  });

  it('carries a broadcast from A to B, then unicast both ways after learning', async () => {
    const { fa, fb, w } = twoGuests();
    fa.send(ethFrame(BCAST, MAC_A, 'hello, anyone?'));
    fa.poll();
    fb.poll();
    expect(fa.txStatus).toEqual([0]);
    expect(fb.received.map((f) => String.fromCharCode(...f.subarray(14)))).toEqual(['hello, anyone?']);
    fb.send(ethFrame(MAC_A, MAC_B, 'hi A'));
    fa.send(ethFrame(MAC_B, MAC_A, 'hi B'));
    fa.poll();
    fb.poll();
    expect(fa.received.map((f) => String.fromCharCode(...f.subarray(14)))).toEqual(['hi A']);
    expect(fb.received.length).toBe(2);
    expect(w.ts.switch.table().get(MAC_A)).toBe('d1/vif0');
    expect(w.ts.switch.table().get(MAC_B)).toBe('d2/vif0');
    // TX grants were released, RX buffers re-posted.
    expect(fa.g.t.dom.grants.activeCount()).toBe(2); // the two ring pages
  });

  it('a multi-slot TX packet is reassembled; a frame larger than a page arrives in several RX slots', () => {
    const { fa, fb, ga } = twoGuests();
    const big = new Uint8Array(6000);
    big.set(ethFrame(MAC_B, MAC_A, ''), 0);
    for (let i = 14; i < big.length; i++) big[i] = i & 0xff;
    // Slot 1: 3000 bytes at offset 100 of page P1; slot 2: the remaining 3000 bytes at offset 0 of P2.
    const p1 = ga.allocPage();
    const p2 = ga.allocPage();
    ga.mem.peek(p1 * PAGE + 100, 3000).set(big.subarray(0, 3000));
    ga.mem.peek(p2 * PAGE, 3000).set(big.subarray(3000));
    const r1 = ga.grant(p1, true);
    const r2 = ga.grant(p2, true);
    const slot = (i: number) => fa.txRing + 64 + ((fa.tx_prod + i) % 256) * 12;
    poke(ga.mem, slot(0), [[0, 4, r1], [4, 2, 100], [6, 2, NETTXF_more_data], [8, 2, 200], [10, 2, 6000]]);
    poke(ga.mem, slot(1), [[0, 4, r2], [4, 2, 0], [6, 2, 0], [8, 2, 201], [10, 2, 3000]]);
    fa.tx_prod += 2;
    ga.mem.setU32(fa.txRing, fa.tx_prod);
    fa.kick();
    fb.poll();
    expect(fb.received.length).toBe(1);
    expect(fb.received[0]).toEqual(big);
    // Both slots answered OKAY with their own ids.
    const rsp = (i: number) => [ga.mem.u16(fa.txRing + 64 + i * 12), (ga.mem.u16(fa.txRing + 64 + i * 12 + 2) << 16) >> 16];
    expect([rsp(0), rsp(1)]).toEqual([
      [200, 0],
      [201, 0],
    ]);
  });

  it('completes blank checksums so receivers see valid UDP', () => {
    const { fa, fb } = twoGuests();
    const f = udpFrame(MAC_A, MAC_B, 'checksum me');
    expect(checksumIsValid(f)).toBe(false);
    fa.send(f, NETTXF_csum_blank);
    fb.poll();
    expect(fb.received.length).toBe(1);
    expect(checksumIsValid(fb.received[0])).toBe(true);
  });

  it('checksum helper matches a known IPv4/UDP value', () => {
    // UDP 10.0.0.1:12345 -> 10.0.0.2:53, payload "abc": computed by hand with RFC 1071.
    const f = udpFrame(MAC_A, MAC_B, 'abc');
    expect(completeChecksum(f)).toBe(true);
    const c = (f[14 + 20 + 6] << 8) | f[14 + 20 + 7];
    // Pseudo header: 0a00+0001+0a00+0002+0011+000b = 0x141f; UDP: 3039+0035+000b+0000+6162+6300 = 0xf4db
    // sum = 0x141f + 0xf4db = 0x108fa -> 0x08fb -> ~ = 0xf704
    expect(c).toBe(0xf704);
    expect(completeChecksum(new Uint8Array(10))).toBe(false);
  });

  it('malformed TX packets get error responses and the ring keeps working', () => {
    const { fa, fb, ga, na } = twoGuests();
    const page = ga.allocPage();
    const ref = ga.grant(page, true);
    const slot = (i: number) => fa.txRing + 64 + ((fa.tx_prod + i) % 256) * 12;
    let n = 0;
    const put = (fields: [number, 1 | 2 | 4, number][]) => poke(ga.mem, slot(n++), fields);
    put([[0, 4, ref], [4, 2, 4000], [6, 2, 0], [8, 2, 1], [10, 2, 200]]); // crosses the page end
    put([[0, 4, ref], [4, 2, 0], [6, 2, 0], [8, 2, 2], [10, 2, 10]]); // shorter than an Ethernet header
    put([[0, 4, 9999], [4, 2, 0], [6, 2, 0], [8, 2, 3], [10, 2, 60]]); // bad grant
    put([[0, 4, ref], [4, 2, 0], [6, 2, NETTXF_extra_info], [8, 2, 4], [10, 2, 60]]); // GSO extra (not offered)
    put([[0, 1, 1], [1, 1, 0]]);
    fa.tx_prod += n;
    ga.mem.setU32(fa.txRing, fa.tx_prod);
    fa.kick();
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) statuses.push((ga.mem.u16(fa.txRing + 64 + i * 12 + 2) << 16) >> 16);
    expect(statuses).toEqual([-1, -1, -1, -1, 1]);
    expect(na.state).toBe(X.XenbusState.Connected);
    fa.tx_rsp_cons = fa.tx_prod;
    fa.send(ethFrame(MAC_B, MAC_A, 'still alive'));
    fb.poll();
    expect(fb.received.map((f) => String.fromCharCode(...f.subarray(14)))).toEqual(['still alive']);
  });

  it('too many fragments or an overrun ring disconnects the vif', async () => {
    const { fa, ga, na, w } = twoGuests();
    const ref = ga.grant(ga.allocPage(), true);
    for (let i = 0; i < 20; i++) {
      poke(ga.mem, fa.txRing + 64 + i * 12, [[0, 4, ref], [4, 2, 0], [6, 2, NETTXF_more_data], [8, 2, i], [10, 2, 100]]);
    }
    ga.mem.setU32(fa.txRing, 20);
    fa.kick();
    expect(na.state).toBe(X.XenbusState.Closing);
    expect(w.ts.xs.read('/local/domain/0/error/backend/vif/1/0/error')).toMatch(/more than 18 slots/);
    await settle();
  });

  it('frames queue while the guest has no RX buffers and arrive once it posts some', () => {
    const w = new World();
    const ga = w.addGuest(1);
    const gb = w.addGuest(2);
    w.ts.addNic(1, 0, MAC_A);
    w.ts.addNic(2, 0, MAC_B);
    const fa = new SimNetFront(ga);
    const fb = new SimNetFront(gb);
    fa.connect();
    fb.connect(0); // no receive buffers yet
    for (let i = 0; i < 3; i++) fa.send(ethFrame(BCAST, MAC_A, `frame ${i}`));
    fb.poll();
    expect(fb.received.length).toBe(0);
    fb.postRx(2);
    fb.poll(); // takes two frames and re-posts their buffers, which lets the third through
    fb.poll();
    expect(fb.received.map((f) => String.fromCharCode(...f.subarray(14)))).toEqual(['frame 0', 'frame 1', 'frame 2']);
  });

  it('the switch floods unknown unicast, forgets detached ports, and ignores runts', () => {
    const sw = new EthernetSwitch();
    const got: string[][] = [[], [], []];
    const ports = got.map((g, i) => sw.attach({ deliver: (f) => g.push(`${i}:${f.length}`) }, `p${i}`));
    const f = ethFrame(MAC_B, MAC_A, 'x');
    ports[0].send(f); // unknown destination: flooded
    expect(got.map((g) => g.length)).toEqual([0, 1, 1]);
    ports[1].send(ethFrame(MAC_A, MAC_B, 'y')); // A was learned on port 0
    expect(got.map((g) => g.length)).toEqual([1, 1, 1]);
    ports[0].detach();
    ports[1].send(ethFrame(MAC_A, MAC_B, 'z')); // A forgotten: flood to the remaining port
    expect(got.map((g) => g.length)).toEqual([1, 1, 2]);
    ports[1].send(new Uint8Array(5));
    expect(sw.stats.dropped).toBe(1);
  });

  it('accepts split event channels (event-channel-tx / -rx) as Linux netfront uses them', () => {
    const w = new World();
    const ga = w.addGuest(1);
    const gb = w.addGuest(2);
    const na = w.ts.addNic(1, 0, MAC_A);
    w.ts.addNic(2, 0, MAC_B);
    expect(ga.xsRead('/local/domain/0/backend/vif/1/0/feature-split-event-channels')).toBe('1');
    const fb = new SimNetFront(gb);
    fb.connect();
    // A hand-made frontend for d1 with two channels.
    const fa = new SimNetFront(ga);
    fa.backend = ga.xsRead(`${fa.nodename}/backend`)!;
    fa.txGfn = ga.allocPage();
    fa.rxGfn = ga.allocPage();
    for (const r of [fa.txRing, fa.rxRing]) poke(ga.mem, r, [[0, 4, 0], [4, 4, 1], [8, 4, 0], [12, 4, 1]]);
    const txPort = ga.allocUnbound();
    const rxPort = ga.allocUnbound();
    ga.xsTransaction((tx) => {
      ga.xsWrite(`${fa.nodename}/tx-ring-ref`, String(ga.grant(fa.txGfn, false)), tx);
      ga.xsWrite(`${fa.nodename}/rx-ring-ref`, String(ga.grant(fa.rxGfn, false)), tx);
      ga.xsWrite(`${fa.nodename}/event-channel-tx`, String(txPort), tx);
      ga.xsWrite(`${fa.nodename}/event-channel-rx`, String(rxPort), tx);
      ga.xsWrite(`${fa.nodename}/request-rx-copy`, '1', tx);
    });
    ga.switchState(fa.nodename, X.XenbusState.Connected);
    expect(na.state).toBe(X.XenbusState.Connected);
    fa.port = rxPort;
    fa.postRx(4); // kicks on the rx channel
    ga.takePending(rxPort);
    fb.send(ethFrame(MAC_A, MAC_B, 'to A'));
    expect(ga.takePending(rxPort)).toBe(true); // RX completion arrives on the rx channel
    expect(ga.takePending(txPort)).toBe(false);
    fa.poll();
    expect(fa.received.map((f) => String.fromCharCode(...f.subarray(14)))).toEqual(['to A']);
  });
});

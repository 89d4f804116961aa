// A minimal DHCP server (RFC 2131/2132) on the lab's virtual switch, so guests can run
// `udhcpc` and get an address: DISCOVER → OFFER, REQUEST → ACK (or NAK), one lease per MAC
// from a /24, forever. Frames from guests are untrusted: every length is checked and
// anything malformed is ignored.

import type { FramePort, FrameUplink } from './net-switch';

const ETH_HLEN = 14;
const IP_HLEN_MIN = 20;
const UDP_HLEN = 8;
const BOOTP_FIXED = 236;
const MAGIC = 0x63825363;
const DHCPDISCOVER = 1, DHCPOFFER = 2, DHCPREQUEST = 3, DHCPACK = 5, DHCPNAK = 6;
const OPT_SUBNET = 1, OPT_ROUTER = 3, OPT_HOSTNAME = 12, OPT_REQUESTED_IP = 50, OPT_LEASE = 51, OPT_MSGTYPE = 53, OPT_SERVER_ID = 54, OPT_END = 255;

export interface DhcpConfig {
  /** Network as a.b.c (a /24); the server is .1, leases from .10 on. */
  prefix: [number, number, number];
  serverMac: Uint8Array;
  leaseSeconds?: number;
}

export class DhcpServer implements FramePort {
  private readonly leases = new Map<string, number>(); // MAC → last octet
  private next = 10;
  private uplink: FrameUplink | null = null;

  constructor(private readonly cfg: DhcpConfig) {}

  connect(uplink: FrameUplink): void { this.uplink = uplink; }

  /** The address of a MAC's lease ("a.b.c.d"), if it has one. */
  leaseOf(mac: string): string | undefined {
    const o = this.leases.get(mac);
    return o === undefined ? undefined : [...this.cfg.prefix, o].join('.');
  }

  deliver(f: Uint8Array): void {
    if (f.length < ETH_HLEN + IP_HLEN_MIN + UDP_HLEN + BOOTP_FIXED + 4) return;
    if (f[12] !== 0x08 || f[13] !== 0x00) return; // IPv4
    const ip = ETH_HLEN;
    if (f[ip] >> 4 !== 4) return;
    const ihl = (f[ip] & 0xf) * 4;
    if (ihl < IP_HLEN_MIN || f[ip + 9] !== 17) return; // UDP
    if ((((f[ip + 6] & 0x3f) << 8) | f[ip + 7]) !== 0 || f[ip + 6] & 0x20) return; // no fragments
    const udp = ip + ihl;
    if (udp + UDP_HLEN + BOOTP_FIXED + 4 > f.length) return;
    if (u16(f, udp) !== 68 || u16(f, udp + 2) !== 67) return;
    const b = udp + UDP_HLEN;
    if (f[b] !== 1 || f[b + 1] !== 1 || f[b + 2] !== 6) return; // BOOTREQUEST, Ethernet
    if (u32(f, b + BOOTP_FIXED) !== MAGIC) return;
    const chaddr = f.slice(b + 28, b + 34);
    const mac = [...chaddr].map((x) => x.toString(16).padStart(2, '0')).join(':');
    const xid = f.slice(b + 4, b + 8);
    const opts = parseOptions(f, b + BOOTP_FIXED + 4, Math.min(f.length, udp + u16(f, udp + 4)));
    const type = opts.get(OPT_MSGTYPE)?.[0];
    if (type === DHCPDISCOVER) this.reply(DHCPOFFER, xid, chaddr, this.lease(mac));
    else if (type === DHCPREQUEST) {
      const want = opts.get(OPT_REQUESTED_IP);
      const server = opts.get(OPT_SERVER_ID);
      if (server && server.length === 4 && !sameAddr(server, [...this.cfg.prefix, 1])) return; // another server's offer
      const octet = this.lease(mac);
      const wanted = want && want.length === 4 ? [...want] : u32ToBytes(u32(f, b + 12)); // requested IP, else ciaddr
      if (wanted.every((x) => x === 0) || sameAddr(Uint8Array.from(wanted), [...this.cfg.prefix, octet])) this.reply(DHCPACK, xid, chaddr, octet);
      else this.reply(DHCPNAK, xid, chaddr, 0);
    }
  }

  private lease(mac: string): number {
    let o = this.leases.get(mac);
    if (o === undefined) {
      if (this.next > 254) return 0;
      o = this.next++;
      this.leases.set(mac, o);
    }
    return o;
  }

  private reply(type: number, xid: Uint8Array, chaddr: Uint8Array, octet: number): void {
    if (!this.uplink || (type !== DHCPNAK && octet === 0)) return;
    const server = [...this.cfg.prefix, 1];
    const yiaddr = type === DHCPNAK ? [0, 0, 0, 0] : [...this.cfg.prefix, octet];
    const options: number[] = [OPT_MSGTYPE, 1, type, OPT_SERVER_ID, 4, ...server];
    if (type !== DHCPNAK) {
      const lease = this.cfg.leaseSeconds ?? 86400;
      options.push(OPT_LEASE, 4, ...u32ToBytes(lease), OPT_SUBNET, 4, 255, 255, 255, 0, OPT_ROUTER, 4, ...server);
    }
    options.push(OPT_END);
    const bootp = new Uint8Array(BOOTP_FIXED + 4 + options.length);
    bootp[0] = 2; bootp[1] = 1; bootp[2] = 6;
    bootp.set(xid, 4);
    bootp.set(yiaddr, 16);
    bootp.set(server, 20);
    bootp.set(chaddr, 28);
    bootp.set(u32ToBytes(MAGIC), BOOTP_FIXED);
    bootp.set(options, BOOTP_FIXED + 4);
    const udpLen = UDP_HLEN + bootp.length;
    const ipLen = IP_HLEN_MIN + udpLen;
    const f = new Uint8Array(ETH_HLEN + ipLen);
    f.fill(0xff, 0, 6); // broadcast: the client has no address yet
    f.set(this.cfg.serverMac, 6);
    f[12] = 0x08; f[13] = 0x00;
    const ip = ETH_HLEN;
    f[ip] = 0x45; put16(f, ip + 2, ipLen); f[ip + 8] = 64; f[ip + 9] = 17;
    f.set(server, ip + 12);
    f.fill(0xff, ip + 16, ip + 20);
    put16(f, ip + 10, checksum(f.subarray(ip, ip + IP_HLEN_MIN)));
    const udp = ip + IP_HLEN_MIN;
    put16(f, udp, 67); put16(f, udp + 2, 68); put16(f, udp + 4, udpLen); // UDP checksum 0: none (IPv4)
    f.set(bootp, udp + UDP_HLEN);
    this.uplink.send(f);
  }
}

function parseOptions(f: Uint8Array, start: number, end: number): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  let i = start;
  while (i < end) {
    const code = f[i++];
    if (code === 0) continue; // pad
    if (code === OPT_END || i >= end) break;
    const len = f[i++];
    if (i + len > end) break;
    m.set(code, f.slice(i, i + len));
    i += len;
  }
  void OPT_HOSTNAME;
  return m;
}

function sameAddr(a: Uint8Array, b: number[]): boolean { return a.length === 4 && a.every((x, i) => x === b[i]); }
function u16(b: Uint8Array, o: number): number { return (b[o] << 8) | b[o + 1]; }
function u32(b: Uint8Array, o: number): number { return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0; }
function put16(b: Uint8Array, o: number, v: number): void { b[o] = (v >> 8) & 0xff; b[o + 1] = v & 0xff; }
function u32ToBytes(v: number): number[] { return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]; }
function checksum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += (h[i] << 8) | (h[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

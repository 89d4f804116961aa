// Completing a TCP/UDP checksum that a guest left blank (NETTXF_csum_blank: Linux offloads
// checksums to the "device" when the backend does not forbid it). The switch then carries
// frames with correct checksums, so any port — another guest or the host — can take them.
// RFC 1071 ones'-complement sum over the pseudo header and the L4 segment.

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

function sum16(b: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Fill in the L4 checksum of an Ethernet frame carrying IPv4 or IPv6 TCP/UDP (no IPv6
 * extension headers, no IPv4 fragments). Returns false, leaving the frame alone, if the
 * frame is not one of those or its lengths do not add up.
 */
export function completeChecksum(frame: Uint8Array): boolean {
  let l3 = 14;
  if (frame.length < l3) return false;
  let type = (frame[12] << 8) | frame[13];
  if (type === ETH_P_8021Q) {
    if (frame.length < 18) return false;
    type = (frame[16] << 8) | frame[17];
    l3 = 18;
  }
  let l4: number;
  let l4len: number;
  let proto: number;
  let pseudo: number;
  if (type === ETH_P_IP) {
    if (frame.length < l3 + 20 || frame[l3] >> 4 !== 4) return false;
    const ihl = (frame[l3] & 0x0f) * 4;
    const total = (frame[l3 + 2] << 8) | frame[l3 + 3];
    const fragment = ((frame[l3 + 6] & 0x3f) << 8) | frame[l3 + 7]; // MF flag + offset
    if (ihl < 20 || total < ihl || l3 + total > frame.length || fragment !== 0) return false;
    proto = frame[l3 + 9];
    l4 = l3 + ihl;
    l4len = total - ihl;
    pseudo = sum16(frame, l3 + 12, l3 + 20, 0) + proto + l4len;
  } else if (type === ETH_P_IPV6) {
    if (frame.length < l3 + 40 || frame[l3] >> 4 !== 6) return false;
    l4len = (frame[l3 + 4] << 8) | frame[l3 + 5];
    proto = frame[l3 + 6];
    l4 = l3 + 40;
    if (l4 + l4len > frame.length) return false;
    pseudo = sum16(frame, l3 + 8, l3 + 40, 0) + proto + l4len;
  } else {
    return false;
  }
  const csumOff = proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : -1;
  if (csumOff < 0 || l4len < csumOff + 2 || (proto === IPPROTO_TCP && l4len < 20) || (proto === IPPROTO_UDP && l4len < 8)) return false;
  frame[l4 + csumOff] = 0;
  frame[l4 + csumOff + 1] = 0;
  let c = ~fold(sum16(frame, l4, l4 + l4len, pseudo)) & 0xffff;
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  frame[l4 + csumOff] = c >> 8;
  frame[l4 + csumOff + 1] = c & 0xff;
  return true;
}

/** Verify an L4 checksum the same way (for tests and the inspector). */
export function checksumIsValid(frame: Uint8Array): boolean {
  const copy = frame.slice();
  if (!completeChecksum(copy)) return false;
  for (let i = 0; i < frame.length; i++) if (copy[i] !== frame[i]) return false;
  return true;
}

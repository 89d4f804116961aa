// A learning Ethernet switch between netbacks (and any host port): it learns which port each
// source MAC came from, forwards unicast frames to the learned port, and floods broadcast,
// multicast and unknown destinations to every other port. Frames are treated as immutable
// once sent: every receiving port gets the same bytes.

import type { StateRecord, Stateful } from '../platform/bus';
import { count, declareState, fields, int, map, str } from '../platform/state';


/** One port of a virtual Ethernet switch: something frames can be delivered to. */
export interface FramePort {
  /** Deliver a whole Ethernet frame (no FCS) to this port's owner. The array is not kept by the sender. */
  deliver(frame: Uint8Array): void;
}

/** The other direction: how a port's owner sends frames into the switch. */
export interface FrameUplink {
  send(frame: Uint8Array): void;
  detach(): void;
}

const ETH_HLEN = 14;
/** Largest frame forwarded (64 KiB: what a netif TX packet can carry). */
export const MAX_FRAME = 0xffff;
/** Entries in the MAC table; the oldest is forgotten first. */
const MAC_TABLE_SIZE = 1024;

interface Attached {
  id: number;
  name: string;
  port: FramePort;
}

export class EthernetSwitch implements Stateful {
  readonly stateName = 'switch';
  readonly stateVersion = SWITCH_STATE.version;
  private readonly ports = new Map<number, Attached>();
  /**
   * MAC (as a 48-bit number) -> the name of the port it was learned on, in learning order.
   * Names, not attachment ids: a restored machine attaches its ports again under the same names.
   */
  private macs = new Map<number, string>();
  private nextId = 1;
  stats = { forwarded: 0, flooded: 0, dropped: 0 };

  attach(port: FramePort, name: string): FrameUplink {
    const a: Attached = { id: this.nextId++, name, port };
    this.ports.set(a.id, a);
    return {
      send: (frame) => this.receive(a.id, frame),
      detach: () => {
        this.ports.delete(a.id);
        for (const [mac, n] of this.macs) if (n === a.name) this.macs.delete(mac);
      },
    };
  }

  saveState(): StateRecord {
    return SWITCH_STATE.save(this);
  }

  loadState(rec: StateRecord, version: number): void {
    SWITCH_STATE.load(this, rec, version);
  }

  private byName(name: string): Attached | undefined {
    for (const p of this.ports.values()) if (p.name === name) return p;
    return undefined;
  }

  private receive(from: number, frame: Uint8Array): void {
    if (!this.ports.has(from) || frame.length < ETH_HLEN || frame.length > MAX_FRAME) {
      this.stats.dropped++;
      return;
    }
    const src = mac48(frame, 6);
    const dst = mac48(frame, 0);
    const fromName = this.ports.get(from)!.name;
    if ((frame[6] & 1) === 0) {
      // Learn (or refresh) the unicast source.
      this.macs.delete(src);
      this.macs.set(src, fromName);
      if (this.macs.size > MAC_TABLE_SIZE) this.macs.delete(this.macs.keys().next().value!);
    }
    const to = (frame[0] & 1) === 0 ? this.macs.get(dst) : undefined;
    const toPort = to !== undefined ? this.byName(to) : undefined;
    if (toPort) {
      if (toPort.id !== from) {
        this.stats.forwarded++;
        toPort.port.deliver(frame);
      }
      return;
    }
    this.stats.flooded++;
    for (const p of [...this.ports.values()]) if (p.id !== from) p.port.deliver(frame);
  }

  /** Learned MACs for the inspector: "aa:bb:..." -> port name. */
  table(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [mac, name] of this.macs) out.set(formatMac(mac), name);
    return out;
  }
}

function mac48(b: Uint8Array, off: number): number {
  return b[off] * 2 ** 40 + b[off + 1] * 2 ** 32 + ((b[off + 2] << 24) >>> 0) + (b[off + 3] << 16) + (b[off + 4] << 8) + b[off + 5];
}

export function formatMac(mac: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) parts.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** "aa:bb:cc:dd:ee:ff" -> 6 bytes, or null. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})$/.exec(s);
  return m ? Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16))) : null;
}

const SWITCH_STATE = declareState('switch', {
  macs: map(int(0, 2 ** 48 - 1), str(64), MAC_TABLE_SIZE),
  stats: fields({ forwarded: count, flooded: count, dropped: count }, 'switch stats'),
});

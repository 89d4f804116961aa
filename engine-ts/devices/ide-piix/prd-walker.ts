// The bus master's walk through a Physical Region Descriptor table (SFF-8038i, PIIX3
// datasheet 2.7.6). Each 8-byte entry: dword 0 = physical base address (bit 0 ignored),
// dword 1 = byte count in bits 15:1 (0 means 64 KiB) and EOT in bit 31.
//
// Every entry and every region is checked against guest RAM before a byte moves: an entry
// or region outside RAM, or a table that runs past its 64 KiB region without EOT, stops the
// transfer with a fault (the controller then sets its error bit), never an exception.

import type { GuestMemory } from '../../platform/bus';
import { bool, count, fields, int, u32 } from '../../platform/state';
import { PRD_ENTRY_SIZE, PRD_EOT, PRD_TABLE_LIMIT } from './ata-defs';

export type PrdOutcome =
  /** All requested bytes moved. */
  | 'done'
  /** The table ended (EOT consumed) before the request did. */
  | 'short'
  /** A bad entry or region; see `fault`. */
  | 'fault';

export class PrdWalker {
  /** Where the table starts (dword aligned) and the address of the next entry to load. */
  private table = 0;
  private next = 0;
  /** The current region: where the next byte goes, and how many bytes are left in it. */
  private addr = 0;
  private left = 0;
  /** The current region is the last one. */
  private eot = false;
  /** Why the last transfer faulted (for the log). */
  fault = '';

  /** Start over at the table at `address` (the bus master was started). */
  restart(address: number): void {
    this.table = (address & ~3) >>> 0;
    this.next = this.table;
    this.addr = 0;
    this.left = 0;
    this.eot = false;
    this.fault = '';
  }

  /** The EOT region has been used up: the table and the transfer ended together. */
  get exhausted(): boolean {
    return this.eot && this.left === 0;
  }

  /**
   * Move `length` bytes between `buf[offset...]` and the regions, into guest memory when
   * `toMemory`. Returns the outcome and how many bytes moved.
   */
  transfer(mem: GuestMemory, buf: Uint8Array, offset: number, length: number, toMemory: boolean): { outcome: PrdOutcome; moved: number } {
    let moved = 0;
    while (moved < length) {
      if (this.left === 0) {
        if (this.eot) return { outcome: 'short', moved };
        const loaded = this.loadEntry(mem);
        if (!loaded) return { outcome: 'fault', moved };
      }
      const n = Math.min(this.left, length - moved);
      const region = mem.view(this.addr, n);
      if (!region) {
        this.fault = `PRD region 0x${this.addr.toString(16)}+${n} is outside guest RAM`;
        return { outcome: 'fault', moved };
      }
      if (toMemory) region.set(buf.subarray(offset + moved, offset + moved + n));
      else buf.set(region, offset + moved);
      this.addr += n;
      this.left -= n;
      moved += n;
    }
    return { outcome: 'done', moved };
  }

  private loadEntry(mem: GuestMemory): boolean {
    if (this.next + PRD_ENTRY_SIZE > (this.table - (this.table % PRD_TABLE_LIMIT)) + PRD_TABLE_LIMIT) {
      this.fault = `PRD table at 0x${this.table.toString(16)} runs past its 64 KiB region without EOT`;
      return false;
    }
    const raw = mem.view(this.next, PRD_ENTRY_SIZE);
    if (!raw) {
      this.fault = `PRD entry at 0x${this.next.toString(16)} is outside guest RAM`;
      return false;
    }
    const base = (raw[0] | (raw[1] << 8) | (raw[2] << 16) | (raw[3] << 24)) >>> 0;
    const flags = (raw[4] | (raw[5] << 8) | (raw[6] << 16) | (raw[7] << 24)) >>> 0;
    const count = flags & 0xfffe;
    this.addr = base - (base & 1);
    this.left = count === 0 ? 0x10000 : count;
    this.eot = (flags & PRD_EOT) !== 0;
    this.next += PRD_ENTRY_SIZE;
    return true;
  }
}

/** Where the walker is in the guest's PRD table (the bus master's descriptor list). */
export const PRD_WALKER_STATE = fields({
  table: u32, next: count, addr: int(0, 0xffffffff + 0x10000), left: int(0, 0x10000), eot: bool,
}, 'prd walker', (v) => {
  const table = v.table as number, next = v.next as number;
  if ((table & 3) !== 0 || next < table || (next - table) % PRD_ENTRY_SIZE !== 0) return 'PRD pointer is not entry-aligned';
  return next > table - (table % PRD_TABLE_LIMIT) + PRD_TABLE_LIMIT ? 'PRD pointer runs past the table' : null;
});

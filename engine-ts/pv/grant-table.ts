// Grant tables v1 (spec §7): one guest's table of grant_entry_v1 {u16 flags, u16 domid,
// u32 frame}, 512 per 4 KiB frame. The frames live in guest memory once the guest placed
// them with XENMEM_add_to_physmap; until then a frame is a private zeroed page here.
//
// A backend never gets a raw address: acquire() checks the entry the way Xen does
// (type permit_access, domid is the caller, readonly respected, frame is guest RAM), marks
// it GTF_reading/GTF_writing while in use, and the caller gets only that one page.

import type { GuestMemory, StateRecord } from '../platform/bus';
import { StateError, fields, int, list, map, type Codec } from '../platform/state';
import { u32 } from './bytes';
import {
  GNTST_bad_gntref,
  GNTST_bad_page,
  GNTST_general_error,
  GNTST_okay,
  GNTST_permission_denied,
  GRANT_ENTRIES_PER_FRAME,
  GRANT_ENTRY_V1_SIZE,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_type_mask,
  GTF_writing,
  PAGE_SIZE,
} from './xen-public';

interface ActiveGrant {
  frame: number;
  /** Every use pins; write uses also count in writePins. */
  pins: number;
  writePins: number;
}

export interface GrantAcquire {
  status: number;
  /** Guest frame the grant points at (valid when status is GNTST_okay). */
  frame: number;
}

/** Placement of one table frame: a guest frame number, or -1 while private. */
type FramePlace = { gfn: number; priv: Uint8Array | null };

export class GrantTable {
  private frames: FramePlace[] = [];
  private readonly active = new Map<number, ActiveGrant>();

  constructor(
    private readonly mem: GuestMemory,
    readonly maxFrames: number,
    initialFrames = 1,
  ) {
    if (!Number.isInteger(maxFrames) || maxFrames < 1 || maxFrames > 1024) throw new RangeError(`max grant frames ${maxFrames} out of range`);
    this.grow(Math.min(initialFrames, maxFrames));
  }

  get nrFrames(): number {
    return this.frames.length;
  }

  get nrEntries(): number {
    return this.frames.length * GRANT_ENTRIES_PER_FRAME;
  }

  /** Grow the table to `n` frames (never shrinks). False past the maximum. */
  grow(n: number): boolean {
    if (n > this.maxFrames) return false;
    while (this.frames.length < n) this.frames.push({ gfn: -1, priv: new Uint8Array(PAGE_SIZE) });
    return true;
  }

  /** Where frame `idx` sits in the guest, or -1. */
  frameGfn(idx: number): number {
    return this.frames[idx]?.gfn ?? -1;
  }

  /** The guest frames holding table frames (for inspectors and access checks). */
  placedGfns(): number[] {
    return this.frames.filter((f) => f.gfn >= 0).map((f) => f.gfn);
  }

  /**
   * XENMEM_add_to_physmap(grant_table, idx, gfn): frame `idx` now lives at `gfn`; its
   * contents move with it. Returns the gfn it left (-1 if it was private).
   */
  place(idx: number, gfn: number): number {
    const f = this.frames[idx];
    const dst = this.mem.view(gfn * PAGE_SIZE, PAGE_SIZE);
    if (!f || !dst) return -1;
    const old = f.gfn;
    const src = f.priv ?? (old >= 0 ? this.mem.view(old * PAGE_SIZE, PAGE_SIZE) : null);
    if (src) dst.set(src);
    else dst.fill(0);
    f.gfn = gfn;
    f.priv = null;
    return old;
  }

  /** The 8-byte entry for `ref`, or null if ref is out of range or its frame is unreachable. */
  entry(ref: number): Uint8Array | null {
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) return null;
    const f = this.frames[Math.floor(ref / GRANT_ENTRIES_PER_FRAME)];
    const off = (ref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE;
    if (f.priv) return f.priv.subarray(off, off + GRANT_ENTRY_V1_SIZE);
    return this.mem.view(f.gfn * PAGE_SIZE + off, GRANT_ENTRY_V1_SIZE);
  }

  /**
   * Pin grant `ref` for use by domain `dom` (reading, or writing if `write`). On success the
   * entry carries GTF_reading (and GTF_writing) until the matching release().
   */
  acquire(ref: number, dom: number, write: boolean): GrantAcquire {
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) return { status: GNTST_bad_gntref, frame: 0 };
    const e = this.entry(ref);
    if (!e) return { status: GNTST_general_error, frame: 0 };
    const w = this.mem.words(e);
    const act = this.active.get(ref);
    // Set the in-use bits with compare-and-swap so a concurrent revoke (the guest's cmpxchg
    // of flags to 0) either happens before us and we see it, or fails because of our bits.
    for (let attempt = 0; ; attempt++) {
      if (attempt > 8) return { status: GNTST_general_error, frame: 0 };
      const old = w.load(0);
      const flags = old & 0xffff;
      const domid = (old >>> 16) & 0xffff;
      if ((flags & GTF_type_mask) !== GTF_permit_access || domid !== dom) return { status: GNTST_general_error, frame: 0 };
      if (write && flags & GTF_readonly) return { status: GNTST_permission_denied, frame: 0 };
      const want = old | GTF_reading | (write ? GTF_writing : 0);
      if (want === old) break;
      if (w.compareExchange(0, old, want) === old) break;
    }
    if (act) {
      act.pins++;
      if (write) act.writePins++;
      return { status: GNTST_okay, frame: act.frame };
    }
    const frame = u32(e, 4);
    if (frame >= 0x100000 || !this.mem.view(frame * PAGE_SIZE, PAGE_SIZE)) {
      this.clearBits(ref, GTF_reading | GTF_writing);
      return { status: GNTST_bad_page, frame: 0 };
    }
    this.active.set(ref, { frame, pins: 1, writePins: write ? 1 : 0 });
    return { status: GNTST_okay, frame };
  }

  /** Undo one acquire(ref, _, write). */
  release(ref: number, write: boolean): void {
    const act = this.active.get(ref);
    if (!act) return;
    act.pins--;
    if (write) act.writePins--;
    if (act.writePins <= 0) this.clearBits(ref, GTF_writing);
    if (act.pins <= 0) {
      this.clearBits(ref, GTF_reading | GTF_writing);
      this.active.delete(ref);
    }
  }

  /** Is `ref` pinned at `frame` (for writing, if `write`)? */
  isPinned(ref: number, frame: number, write: boolean): boolean {
    const a = this.active.get(ref);
    return a !== undefined && a.frame === frame && (!write || a.writePins > 0);
  }

  /** Grants currently pinned (for tests and the inspector). */
  activeCount(): number {
    return this.active.size;
  }

  private clearBits(ref: number, bits: number): void {
    const e = this.entry(ref);
    if (!e) return;
    this.mem.words(e).and(0, ~bits);
  }

  /** Replace placement and pins (a snapshot's, already checked). Private frames are zero: a guest writes only placed ones. */
  restore(gfns: number[], active: Map<number, ActiveGrant>): void {
    this.frames = gfns.map((gfn) => ({ gfn, priv: gfn < 0 ? new Uint8Array(PAGE_SIZE) : null }));
    this.active.clear();
    for (const [ref, a] of active) this.active.set(ref, { ...a });
  }

  /** For saving: where each frame sits, and the grants in use with their pin counts. */
  get placement(): { gfns: number[]; active: ReadonlyMap<number, ActiveGrant> } {
    return { gfns: this.frames.map((f) => f.gfn), active: this.active };
  }

}

const ACTIVE = fields({ frame: int(0, 0xfffff), pins: int(1, 0xffff), writePins: int(0, 0xffff) }, 'active grant',
  (a) => ((a.writePins as number) > (a.pins as number) ? 'has more write pins than pins' : null));

/** Frame placement and the grants dom0 holds (mappings keep pins across a snapshot). */
export const GRANT_TABLE: Codec<GrantTable> = {
  describe: 'grant table',
  save: (t) => {
    const { gfns, active } = t.placement;
    return { gfns, active: map(int(0, 0xffffff), ACTIVE, 1 << 20).save(active as unknown as Map<number, Record<string, unknown>>) } as StateRecord;
  },
  load: () => { throw new Error('grant tables load in place'); },
  loadInto: (t, v, path) => {
    const r = fields({ gfns: list(int(-1, 0xfffff), t.maxFrames), active: map(int(0, 0xffffff), ACTIVE, t.maxFrames * GRANT_ENTRIES_PER_FRAME) }, 'grant table').load(v, path);
    const gfns = r.gfns as number[];
    if (gfns.length < 1) throw new StateError(`${path}.gfns`, 'is empty');
    const active = r.active as unknown as Map<number, ActiveGrant>;
    for (const ref of active.keys()) if (ref >= gfns.length * GRANT_ENTRIES_PER_FRAME) throw new StateError(`${path}.active`, `pins grant ${ref}, beyond the table`);
    return () => t.restore(gfns, active);
  },
};

import { describe, expect, it } from 'vitest';
import * as X from '../../engine-ts/pv/xen-public';
import { ARG, makeGuest, PAGE, poke, type TestGuest } from './fake-guest';

const BAR1 = 0xf0000;

function mapGrantFrame(g: TestGuest, idx: number): void {
  poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, X.XENMAPSPACE_grant_table], [8, 4, idx], [12, 4, BAR1 + idx]]);
  expect(g.hypercall(X.__HYPERVISOR_memory_op, [X.XENMEM_add_to_physmap, ARG])).toBe(0);
}

/** The guest's side of granting: frame and domid, then flags last. */
function grant(g: TestGuest, ref: number, frame: number, domid: number, readonly = false): void {
  const e = (BAR1 + Math.floor(ref / 512)) * PAGE + (ref % 512) * 8;
  g.mem.setU16(e + 2, domid);
  g.mem.setU32(e + 4, frame);
  g.mem.setU16(e, X.GTF_permit_access | (readonly ? X.GTF_readonly : 0));
}
function flagsOf(g: TestGuest, ref: number): number {
  return g.mem.u16((BAR1 + Math.floor(ref / 512)) * PAGE + (ref % 512) * 8);
}

describe('grant tables v1', () => {
  it('query_size reports the current and maximum frames; set_version accepts only 1', () => {
    const g = makeGuest();
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF]]);
    expect(g.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_query_size, ARG, 1])).toBe(0);
    expect(g.mem.u32(ARG + 4)).toBe(1);
    expect(g.mem.u32(ARG + 8)).toBe(32);
    expect(g.mem.u16(ARG + 12)).toBe(0);
    poke(g.mem, ARG, [[0, 4, 1]]);
    expect(g.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_set_version, ARG, 1])).toBe(0);
    poke(g.mem, ARG, [[0, 4, 2]]);
    expect(g.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_set_version, ARG, 1])).toBe(-X.EINVAL);
    poke(g.mem, ARG, [[0, 2, X.DOMID_SELF], [4, 4, 0]]);
    expect(g.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_get_version, ARG, 1])).toBe(0);
    expect(g.mem.u32(ARG + 4)).toBe(1);
    expect(g.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_map_grant_ref, ARG, 1])).toBe(-X.ENOSYS);
  });

  it('a backend reads a granted page with GTF_reading set only during the access', () => {
    const g = makeGuest();
    mapGrantFrame(g, 0);
    const frame = 0x200;
    g.mem.peek(frame * PAGE, 4).set([1, 2, 3, 4]);
    grant(g, 10, frame, 0);
    const r = g.hv.withGrant(1, 10, false, (page) => {
      expect(page.length).toBe(PAGE);
      expect(flagsOf(g, 10) & X.GTF_reading).toBeTruthy();
      expect(flagsOf(g, 10) & X.GTF_writing).toBeFalsy();
      return [...page.subarray(0, 4)];
    });
    expect(r).toEqual({ ok: true, value: [1, 2, 3, 4] });
    expect(flagsOf(g, 10)).toBe(X.GTF_permit_access);
  });

  it('refuses bad refs, other domains, invalid entries, writes to readonly grants and frames outside RAM', () => {
    const g = makeGuest();
    mapGrantFrame(g, 0);
    const noop = () => 0;
    expect(g.hv.withGrant(1, 512, false, noop)).toEqual({ ok: false, status: X.GNTST_bad_gntref });
    expect(g.hv.withGrant(1, -1, false, noop)).toEqual({ ok: false, status: X.GNTST_bad_gntref });
    expect(g.hv.withGrant(1, 11, false, noop)).toEqual({ ok: false, status: X.GNTST_general_error }); // never granted
    grant(g, 11, 0x200, 5);
    expect(g.hv.withGrant(1, 11, false, noop)).toEqual({ ok: false, status: X.GNTST_general_error }); // granted to dom 5
    grant(g, 12, 0x200, 0, true);
    expect(g.hv.withGrant(1, 12, true, noop)).toEqual({ ok: false, status: X.GNTST_permission_denied });
    expect(g.hv.withGrant(1, 12, false, noop).ok).toBe(true);
    grant(g, 13, 0xfffff, 0);
    expect(g.hv.withGrant(1, 13, false, noop)).toEqual({ ok: false, status: X.GNTST_bad_page });
    expect(flagsOf(g, 13)).toBe(X.GTF_permit_access); // in-use bits rolled back
    expect(g.hv.withGrant(9, 12, false, noop)).toEqual({ ok: false, status: X.GNTST_bad_domain });
  });

  it('a mapping pins the grant: the guest cannot revoke it until unmap', () => {
    const g = makeGuest();
    mapGrantFrame(g, 0);
    grant(g, 20, 0x300, 0);
    const m = g.hv.mapGrant(1, 20, true);
    if (typeof m === 'number') throw new Error(`map failed ${m}`);
    g.hv.mappedPage(m)!.bytes[5] = 0x55;
    expect(g.mem.peek(0x300 * PAGE + 5, 1)[0]).toBe(0x55);
    // Linux's revoke: cmpxchg flags to 0 only if reading/writing are clear.
    const busy = (flagsOf(g, 20) & (X.GTF_reading | X.GTF_writing)) !== 0;
    expect(busy).toBe(true);
    // A nested transient read pin shares the entry; unmapping the write pin keeps GTF_reading.
    const inner = g.hv.withGrant(1, 20, false, () => flagsOf(g, 20));
    expect(inner).toEqual({ ok: true, value: X.GTF_permit_access | X.GTF_reading | X.GTF_writing });
    g.hv.unmapGrant(m);
    g.hv.unmapGrant(m); // idempotent
    expect(flagsOf(g, 20)).toBe(X.GTF_permit_access);
    expect(g.hv.mappedPage(m)).toBeNull();
    expect(g.dom.grants.activeCount()).toBe(0);
  });

  it('entries in later frames become usable once those frames are placed', () => {
    const g = makeGuest();
    mapGrantFrame(g, 0);
    expect(g.hv.withGrant(1, 600, false, () => 0)).toEqual({ ok: false, status: X.GNTST_bad_gntref });
    mapGrantFrame(g, 1);
    grant(g, 600, 0x400, 0);
    expect(g.hv.withGrant(1, 600, false, () => 1)).toEqual({ ok: true, value: 1 });
  });

  it('GNTTABOP_copy between two guests respects the grant and the bounds', () => {
    const a = makeGuest({ domid: 1 });
    const b = makeGuest({ domid: 2, hv: a.hv, clock: a.clock });
    mapGrantFrame(b, 0);
    b.mem.peek(0x500 * PAGE, 8).set([9, 8, 7, 6, 5, 4, 3, 2]);
    grant(b, 30, 0x500, 1, true);
    // a copies 8 bytes from b's grant 30 offset 0 into its own frame 0x600 offset 16.
    const op = (len: number, destGref = false) =>
      poke(a.mem, ARG, [[0, 4, 30], [4, 2, 2], [6, 2, 0], [8, 4, 0x600], [12, 2, X.DOMID_SELF], [14, 2, 16], [16, 2, len], [18, 2, X.GNTCOPY_source_gref | (destGref ? X.GNTCOPY_dest_gref : 0)], [20, 2, 0]]);
    op(8);
    expect(a.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_copy, ARG, 1])).toBe(0);
    expect(a.mem.u16(ARG + 20)).toBe(0);
    expect([...a.mem.peek(0x600 * PAGE + 16, 8)]).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
    op(4090);
    a.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_copy, ARG, 1]);
    expect((a.mem.u16(ARG + 20) << 16) >> 16).toBe(X.GNTST_bad_copy_arg);
    // Writing into b's readonly grant is refused.
    poke(a.mem, ARG, [[0, 4, 0x600], [4, 2, X.DOMID_SELF], [6, 2, 0], [8, 4, 30], [12, 2, 2], [14, 2, 0], [16, 2, 8], [18, 2, X.GNTCOPY_dest_gref], [20, 2, 0]]);
    a.hypercall(X.__HYPERVISOR_grant_table_op, [X.GNTTABOP_copy, ARG, 1]);
    expect((a.mem.u16(ARG + 20) << 16) >> 16).toBe(X.GNTST_permission_denied);
    expect(b.dom.grants.activeCount()).toBe(0);
  });

  it('state round-trips the frame placement', () => {
    const g = makeGuest();
    mapGrantFrame(g, 0);
    mapGrantFrame(g, 2);
    const saved = g.dom.saveState();
    const h = makeGuest();
    h.dom.loadState(saved, 1);
    expect(h.dom.grants.nrFrames).toBe(3);
    expect(h.dom.grants.frameGfn(2)).toBe(BAR1 + 2);
    expect(h.dom.grants.frameGfn(1)).toBe(-1);
  });
});

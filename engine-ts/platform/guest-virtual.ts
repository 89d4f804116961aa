// Guest-virtual memory access for the host (hypercall arguments are guest-virtual pointers):
// a page walk over the vCPU's current CR0/CR3/CR4/EFER, supervisor access, no side effects
// (accessed/dirty bits are left alone; the guest's own accesses set them). A walk that finds
// a non-present entry, a reserved bit, or a frame outside backed memory makes the copy fail.

import * as MM from '../../engine-wasm/memory-map';
import type { VcpuState } from './vcpu-state';
import type { GuestMemory } from './bus';

const CR0_PG = 0x80000000;
const CR0_WP = 0x10000;
const CR4_PSE = 0x10;
const CR4_PAE = 0x20;
const P = 1, RW = 2, PS = 0x80;

export class GuestVirtual {
  constructor(private readonly vcpu: VcpuState, private readonly mem: GuestMemory) {}

  /** Physical address for `va`, or -1. `write` checks the R/W bits (with CR0.WP). */
  translate(va: number, write: boolean): number {
    const s = this.vcpu;
    va >>>= 0;
    if (!(s.cr0 & CR0_PG)) return va;
    const cr4 = s.cr4;
    const wp = (s.cr0 & CR0_WP) !== 0;
    if (cr4 & CR4_PAE) {
      const pdpte = this.read64(((s.cr3 & 0xffffffe0) >>> 0) + ((va >>> 30) << 3));
      if (pdpte === null || !(pdpte.lo & P) || pdpte.hi & 0x7ffffff0) return -1;
      const pde = this.read64(((pdpte.lo & 0xfffff000) >>> 0) + (((va >>> 21) & 0x1ff) << 3));
      if (pde === null || !(pde.lo & P) || pde.hi & 0x7ffffff0) return -1;
      if (write && wp && !(pde.lo & RW)) return -1;
      if (pde.lo & PS) return (((pde.lo & 0xffe00000) >>> 0) + (va & 0x1fffff)) >>> 0;
      const pte = this.read64(((pde.lo & 0xfffff000) >>> 0) + (((va >>> 12) & 0x1ff) << 3));
      if (pte === null || !(pte.lo & P) || pte.hi & 0x7ffffff0) return -1;
      if (write && wp && !(pte.lo & RW)) return -1;
      return (((pte.lo & 0xfffff000) >>> 0) + (va & 0xfff)) >>> 0;
    }
    const pde = this.read32(((s.cr3 & 0xfffff000) >>> 0) + ((va >>> 22) << 2));
    if (pde === null || !(pde & P)) return -1;
    if (write && wp && !(pde & RW)) return -1;
    if ((pde & PS) && (cr4 & CR4_PSE)) return (((pde & 0xffc00000) >>> 0) + (va & 0x3fffff)) >>> 0;
    const pte = this.read32(((pde & 0xfffff000) >>> 0) + (((va >>> 12) & 0x3ff) << 2));
    if (pte === null || !(pte & P)) return -1;
    if (write && wp && !(pte & RW)) return -1;
    return (((pte & 0xfffff000) >>> 0) + (va & 0xfff)) >>> 0;
  }

  read(va: number, dst: Uint8Array): boolean {
    return this.copy(va, dst, false);
  }

  write(va: number, src: Uint8Array): boolean {
    return this.copy(va, src, true);
  }

  private copy(va: number, buf: Uint8Array, write: boolean): boolean {
    let done = 0;
    while (done < buf.length) {
      const cur = (va + done) >>> 0;
      const n = Math.min(buf.length - done, 0x1000 - (cur & 0xfff));
      const pa = this.translate(cur, write);
      if (pa < 0) return false;
      const part = buf.subarray(done, done + n);
      if (!(write ? this.mem.write(pa, part) : this.mem.read(pa, part))) return false;
      done += n;
    }
    return true;
  }

  private read32(pa: number): number | null {
    const v = this.mem.view(pa, 4);
    return v ? (v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24)) >>> 0 : null;
  }

  private read64(pa: number): { lo: number; hi: number } | null {
    const lo = this.read32(pa), hi = this.read32(pa + 4);
    return lo === null || hi === null ? null : { lo, hi };
  }
}

export { MM };

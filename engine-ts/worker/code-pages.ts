// Host writes to guest memory and translated code. The core translates hot guest code to
// WebAssembly keyed by physical page (engine-wasm/assembly/jit.ts); a page's word in
// JIT_PAGE_GEN has bit 0 set while translations of it exist, and whoever writes the page
// adds 1, which makes them stale. The core does so on its own write path; host code that
// writes guest memory (loaders, DMA, PV backends, test harnesses) goes through the machine's
// GuestMemory (machine-memory.ts), which calls noteWrite here.

import * as MM from '../../engine-wasm/memory-map';

export class CodePages {
  private readonly gens: Int32Array;
  constructor(buffer: ArrayBufferLike) {
    this.gens = new Int32Array(buffer, MM.JIT_PAGE_GEN, MM.JIT_PAGE_GEN_SIZE / 4);
  }
  /** Guest-physical [addr, addr + length) is about to be written (or handed out writable). */
  noteWrite(addr: number, length: number): void {
    if (!(length > 0) || !(addr >= 0)) return;
    const last = Math.min((addr + length - 1) / 4096, this.gens.length - 1);
    for (let p = Math.floor(addr / 4096); p <= last; p++) {
      const g = this.gens[p];
      if (g & 1) Atomics.compareExchange(this.gens, p, g, g + 1);
    }
  }
}

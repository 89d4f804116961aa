// Single-producer/single-consumer byte ring in the machine control block: the page types,
// the vCPU worker reads between run slices. Head/tail are free-running u32 counters.
import * as MM from '../../engine-wasm/memory-map';

export class ConsoleRing {
  private readonly i32: Int32Array;
  private readonly bytes: Uint8Array;
  constructor(memory: WebAssembly.Memory) {
    this.i32 = new Int32Array(memory.buffer, MM.CTRL_BASE, MM.CTRL_SIZE / 4);
    this.bytes = new Uint8Array(memory.buffer, MM.CTRL_BASE + MM.CTRL_IN_RING, MM.CTRL_IN_RING_SIZE);
  }
  /** Producer: append as many bytes as fit; returns how many were written. */
  push(data: Uint8Array): number {
    const head = Atomics.load(this.i32, MM.CTRL_IN_HEAD / 4) >>> 0;
    const tail = Atomics.load(this.i32, MM.CTRL_IN_TAIL / 4) >>> 0;
    const free = MM.CTRL_IN_RING_SIZE - ((head - tail) >>> 0);
    const n = Math.min(free, data.length);
    for (let i = 0; i < n; i++) this.bytes[(head + i) & (MM.CTRL_IN_RING_SIZE - 1)] = data[i];
    Atomics.store(this.i32, MM.CTRL_IN_HEAD / 4, (head + n) | 0);
    if (n > 0) this.wake();
    return n;
  }
  /** Consumer: take everything queued. */
  drain(): Uint8Array | null {
    const head = Atomics.load(this.i32, MM.CTRL_IN_HEAD / 4) >>> 0;
    const tail = Atomics.load(this.i32, MM.CTRL_IN_TAIL / 4) >>> 0;
    const n = (head - tail) >>> 0;
    if (n === 0) return null;
    if (n > MM.CTRL_IN_RING_SIZE) { // corrupted indexes: drop everything rather than read garbage
      Atomics.store(this.i32, MM.CTRL_IN_TAIL / 4, head | 0);
      return null;
    }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.bytes[(tail + i) & (MM.CTRL_IN_RING_SIZE - 1)];
    Atomics.store(this.i32, MM.CTRL_IN_TAIL / 4, (tail + n) | 0);
    return out;
  }
  /** Post a control request (REQ_*) and wake a sleeping vCPU. */
  request(bits: number): void {
    Atomics.or(this.i32, MM.CTRL_REQUEST / 4, bits);
    this.wake();
  }
  takeRequests(): number {
    return Atomics.exchange(this.i32, MM.CTRL_REQUEST / 4, 0);
  }
  wake(): void {
    Atomics.add(this.i32, MM.CTRL_WAKE / 4, 1);
    Atomics.notify(this.i32, MM.CTRL_WAKE / 4);
  }
  /**
   * Worker side: sleep until woken or `ms` pass, without blocking the worker's event loop
   * (IndexedDB completions and messages must still run while the guest idles).
   */
  async waitForNews(ms: number): Promise<void> {
    const cur = Atomics.load(this.i32, MM.CTRL_WAKE / 4);
    const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;
    if (waitAsync) {
      const r = waitAsync(this.i32, MM.CTRL_WAKE / 4, cur, ms);
      if (r.async) await r.value;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 10)));
  }
}

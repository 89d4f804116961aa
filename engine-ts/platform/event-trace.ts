// A bounded ring of recent events for the inspector's timeline: each event is numbers in
// preallocated typed arrays (guest time, kind, domain, three arguments) plus up to two
// strings that already exist (a xenstore path and value). Recording does nothing while
// nobody looks (`on` is false), and never allocates while someone does, apart from the
// strings the caller passes. Data only: no closures, nothing to save in a snapshot.

import type { TimelineChunk } from '../config/inspect';

export class EventTrace {
  /** Recording is on only while an inspector reads the trace (see MachineHandle.inspect). */
  on = false;
  /** Sequence number of the next event; event n sits in slot n % capacity. */
  private next = 0;
  private readonly time: Float64Array;
  private readonly kind: Uint8Array;
  private readonly dom: Uint16Array;
  private readonly args: Int32Array;
  private readonly text: Array<string | null>;
  private readonly text2: Array<string | null>;

  constructor(
    /** Guest time in ns (the virtual clock). */
    private readonly now: () => number,
    readonly capacity = 16384,
  ) {
    this.time = new Float64Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.dom = new Uint16Array(capacity);
    this.args = new Int32Array(capacity * 3);
    this.text = new Array<string | null>(capacity).fill(null);
    this.text2 = new Array<string | null>(capacity).fill(null);
  }

  record(kind: number, dom: number, a = 0, b = 0, c = 0, text: string | null = null, text2: string | null = null): void {
    if (!this.on) return;
    const i = this.next % this.capacity;
    this.next++;
    this.time[i] = this.now();
    this.kind[i] = kind;
    this.dom[i] = dom;
    this.args[i * 3] = a;
    this.args[i * 3 + 1] = b;
    this.args[i * 3 + 2] = c;
    this.text[i] = text;
    this.text2[i] = text2;
  }

  /** Sequence number of the next event to be recorded. */
  get sequence(): number {
    return this.next;
  }

  /**
   * The events recorded from sequence number `after` on (at most `max`, the newest ones),
   * as columns. `lost` counts those the ring overwrote before anyone read them.
   */
  since(after: number, max = this.capacity): TimelineChunk {
    const end = this.next;
    const oldest = Math.max(0, end - this.capacity);
    let from = Math.min(Math.max(after, 0), end);
    const lost = from < oldest ? oldest - from : 0;
    from = Math.max(from, oldest, end - max);
    const n = end - from;
    const chunk: TimelineChunk = {
      first: from, lost, time: new Float64Array(n), kind: new Uint8Array(n), dom: new Uint16Array(n),
      args: new Int32Array(n * 3), text: new Array<string | null>(n), text2: new Array<string | null>(n),
    };
    for (let k = 0; k < n; k++) {
      const i = (from + k) % this.capacity;
      chunk.time[k] = this.time[i];
      chunk.kind[k] = this.kind[i];
      chunk.dom[k] = this.dom[i];
      chunk.args[k * 3] = this.args[i * 3];
      chunk.args[k * 3 + 1] = this.args[i * 3 + 1];
      chunk.args[k * 3 + 2] = this.args[i * 3 + 2];
      chunk.text[k] = this.text[i];
      chunk.text2[k] = this.text2[i];
    }
    return chunk;
  }
}

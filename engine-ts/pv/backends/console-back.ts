// The console backend (xenconsoled's job) for a guest's hvc0 (io/console.h, spec §14):
// struct xencons_interface, one page:
//   in[1024] @0     backend -> guest (keyboard input)
//   out[2048] @1024 guest -> backend (output)
//   u32 in_cons @3072, in_prod @3076, out_cons @3080, out_prod @3084
// Indexes are free-running u32; slot = idx & (size - 1). The page is the special console
// page the toolstack placed (HVM_PARAM_CONSOLE_PFN), reached through dom0's foreign mapping.

import type { Hypervisor } from '../hypervisor';
import type { ConsoleSink } from '../interfaces';
import type { AtomicWords, SharedPage, StateRecord, Stateful } from '../../platform/bus';
import { count, declareState, list, u8 } from '../../platform/state';

const IN = 0;
const IN_SIZE = 1024;
const OUT = 1024;
const OUT_SIZE = 2048;
const IN_CONS = 3072 >> 2;
const IN_PROD = 3076 >> 2;
const OUT_CONS = 3080 >> 2;
const OUT_PROD = 3084 >> 2;

/** Host input kept while the guest's in[] ring is full. */
const MAX_PENDING_INPUT = 4096;

export class ConsoleBackend implements Stateful {
  /** dom0's end of the console event channel. */
  readonly port: number;
  private pending: number[] = [];
  /** Times the guest's indexes were inconsistent (each one is logged once per burst). */
  ringErrors = 0;
  bytesOut = 0;
  droppedInput = 0;

  constructor(
    private readonly hv: Hypervisor,
    readonly domid: number,
    readonly gfn: number,
    guestPort: number,
    private readonly sink: ConsoleSink,
    private readonly log: (msg: string) => void = () => {},
  ) {
    const p = hv.dom0.bindInterdomain(domid, guestPort, () => this.onEvent());
    if (p < 0) throw new Error(`console of domain ${domid}: cannot bind port ${guestPort} (${p})`);
    this.port = p;
  }

  readonly stateName = 'console-back';
  readonly stateVersion = CONSOLE_STATE.version;

  saveState(): StateRecord {
    return CONSOLE_STATE.save(this);
  }

  /** The port is bound at construction, as before the snapshot; its handler is attached again. */
  loadState(rec: StateRecord, version: number): void {
    CONSOLE_STATE.load(this, rec, version);
    this.hv.dom0.attach(this.port, () => this.onEvent());
  }

  /** Host input bytes still waiting for room in the guest's ring. */
  get pendingInput(): number {
    return this.pending.length;
  }

  close(): void {
    this.hv.dom0.close(this.port);
  }

  private page(): SharedPage | null {
    return this.hv.foreignPage(this.domid, this.gfn);
  }

  /** The guest kicked us: drain out[], then feed any waiting input. */
  onEvent(): void {
    const p = this.page();
    if (!p) return;
    let notify = this.drainOutput(p.bytes, p.words);
    notify = this.fillInput(p.bytes, p.words) || notify;
    if (notify) this.hv.dom0.notify(this.port);
  }

  /** Host keyboard input for the guest. */
  input(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (this.pending.length >= MAX_PENDING_INPUT) {
        this.droppedInput++;
        continue;
      }
      this.pending.push(b);
    }
    const p = this.page();
    if (p && this.fillInput(p.bytes, p.words)) this.hv.dom0.notify(this.port);
  }

  private drainOutput(page: Uint8Array, w: AtomicWords): boolean {
    const cons = w.load(OUT_CONS) >>> 0;
    const prod = w.load(OUT_PROD) >>> 0;
    const n = (prod - cons) >>> 0;
    if (n === 0) return false;
    if (n > OUT_SIZE) {
      // Corrupt indexes: resynchronise at the producer and drop what cannot be trusted.
      this.ringErrors++;
      this.log(`console of domain ${this.domid}: out ring indexes ${cons}..${prod} exceed ${OUT_SIZE}; resynchronised`);
      w.store(OUT_CONS, prod | 0);
      return true;
    }
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = page[OUT + ((cons + i) & (OUT_SIZE - 1))];
    w.store(OUT_CONS, prod | 0);
    this.bytesOut += n;
    this.sink.write(data);
    return true;
  }

  private fillInput(page: Uint8Array, w: AtomicWords): boolean {
    if (this.pending.length === 0) return false;
    const cons = w.load(IN_CONS) >>> 0;
    const prod = w.load(IN_PROD) >>> 0;
    const used = (prod - cons) >>> 0;
    if (used > IN_SIZE) {
      // The guest moved in_cons past our producer: there is no safe free space to write.
      this.ringErrors++;
      return false;
    }
    const n = Math.min(IN_SIZE - used, this.pending.length);
    if (n === 0) return false;
    for (let i = 0; i < n; i++) page[IN + ((prod + i) & (IN_SIZE - 1))] = this.pending[i];
    this.pending.splice(0, n);
    w.store(IN_PROD, (prod + n) | 0);
    return true;
  }
}

const CONSOLE_STATE = declareState('console-back', {
  /** Host input waiting for room in the guest's in[] ring. */
  pending: list(u8, MAX_PENDING_INPUT),
  ringErrors: count,
  bytesOut: count,
  droppedInput: count,
});

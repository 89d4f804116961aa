// Taking a machine's state out and putting it back: the collector the board drives. The board
// lists its parts (Board.stateParts, in restore order); each saves and loads its declared
// fields. Beside them go the vCPU's state block and guest memory page by page.
//
// Capture runs between instructions on a quiesced machine (the worker stopped the vCPU and
// ran the disk queues dry), so nothing is in flight: the result is the whole machine.

import * as MM from '../../engine-wasm/memory-map';
import type { Board } from '../board/board';
import type { MachineMemory, Stateful } from '../platform/bus';
import { SnapshotError, PAGE, type Snapshot, type StateSection } from './format';

/** Page `p` of guest memory is all zero (a page in use usually shows it in its first words). */
function isZero(words: Uint32Array, p: number): boolean {
  for (let i = p * (PAGE / 4), end = i + PAGE / 4; i < end; i += 4) {
    if ((words[i] | words[i + 1] | words[i + 2] | words[i + 3]) !== 0) return false;
  }
  return true;
}

function guestWords(memory: MachineMemory, pages: number): Uint32Array {
  return new Uint32Array(memory.buffer, MM.RAM_BASE, pages * (PAGE / 4));
}

export interface Captured {
  state: StateSection[];
  vcpus: Uint8Array[];
  /** Every page that is not zero (copies). */
  pages: Map<number, Uint8Array>;
}

/** Copy out the whole machine (every vCPU stopped): every part's state, each vCPU's block, and every page that is not zero. */
export function captureMachine(board: Board, memory: MachineMemory, n: number): Captured {
  // (Records are fresh values, see Stateful.saveState: the machine may run on while they are encoded.)
  const state = board.stateParts().map((p) => ({ name: p.stateName, version: p.stateVersion, record: p.saveState() }));
  const names = new Set<string>();
  for (const s of state) {
    if (names.has(s.name)) throw new Error(`two parts of the machine save their state as "${s.name}"`);
    names.add(s.name);
  }
  const vcpus = board.vcpus.map((v) => {
    const block = new Uint8Array(memory.buffer, v.base, MM.VCPU_STATE_SIZE).slice();
    // PEND_EXIT is the host asking the core to return, not the machine's state.
    const pending = new DataView(block.buffer, MM.R_PENDING, 4);
    pending.setUint32(0, pending.getUint32(0, true) & ~MM.PEND_EXIT, true);
    // Nothing of translated code travels: its instruction count is a statistic of this host's run.
    block.fill(0, MM.R_JIT_RETIRED, MM.R_JIT_RETIRED + 8);
    // Nor why the core's last run() returned: where the host cut its runs (a slice's budget,
    // its own request), which a machine run to the same cycle in other slices would not share.
    block.fill(0, MM.R_EXIT_REASON, MM.R_EXIT_REASON + 4);
    return block;
  });
  // The pages in use, copied into one buffer (the vCPUs stand still meanwhile: this is most of a save's pause).
  const words = guestWords(memory, n);
  const bytes = new Uint8Array(memory.buffer, MM.RAM_BASE, n * PAGE);
  const used: number[] = [];
  for (let p = 0; p < n; p++) if (!isZero(words, p)) used.push(p);
  const copy = new Uint8Array(used.length * PAGE);
  const pages = new Map<number, Uint8Array>();
  used.forEach((p, i) => {
    copy.set(bytes.subarray(p * PAGE, (p + 1) * PAGE), i * PAGE);
    pages.set(p, copy.subarray(i * PAGE, (i + 1) * PAGE));
  });
  return { state, vcpus, pages };
}

/**
 * The pages of `now` that differ from `base` (both full page maps: absent = zero): what a
 * delta carries. Pages zero now and not in the base go to `zeroPages`.
 */
export function diffPages(now: Map<number, Uint8Array>, base: Map<number, Uint8Array>): { pages: Map<number, Uint8Array>; zeroPages: Set<number> } {
  const pages = new Map<number, Uint8Array>();
  const zeroPages = new Set<number>();
  for (const [p, data] of now) {
    const b = base.get(p);
    if (!b || !sameBytes(b, data)) pages.set(p, data);
  }
  for (const p of base.keys()) if (!now.has(p)) zeroPages.add(p);
  return { pages, zeroPages };
}

/** A full page map from a delta and its base. */
export function applyDelta(base: Map<number, Uint8Array>, delta: { pages: Map<number, Uint8Array>; zeroPages: Set<number> }): Map<number, Uint8Array> {
  const out = new Map(base);
  for (const p of delta.zeroPages) out.delete(p);
  for (const [p, d] of delta.pages) out.set(p, d);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const wa = new Uint32Array(a.buffer, a.byteOffset, a.length >> 2);
  const wb = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  return true;
}

/**
 * Put a snapshot into a machine that was just built from the same configuration (its guest
 * not loaded; its memory as createMachineMemoryFor made it, all zero, or holding only pages of
 * this snapshot written by inflatePagesInto): memory first (only the snapshot's pages are
 * written: touching the others would cost the host a page fault each), then the vCPU block,
 * then every part in the board's order. A part missing from the snapshot, or a section no part
 * claims, is an error: the snapshot is of another machine. The caller then asks the core to
 * refresh its derived state.
 */
export function restoreMachine(board: Board, memory: MachineMemory, n: number, snap: Pick<Snapshot, 'state' | 'vcpus' | 'pages'>): void {
  const bytes = new Uint8Array(memory.buffer, MM.RAM_BASE, n * PAGE);
  for (const p of snap.pages.keys()) if (p >= n) throw new SnapshotError(`the snapshot holds page ${p}; this machine has ${n}`);
  for (const v of board.vcpus) {
    const b = snap.vcpus[v.id];
    if (!b || b.length !== MM.VCPU_STATE_SIZE) throw new SnapshotError(`the snapshot has no state for vCPU ${v.id}`);
  }
  if (snap.vcpus.length > board.vcpus.length) throw new SnapshotError(`the snapshot holds ${snap.vcpus.length} vCPUs; this machine has ${board.vcpus.length}`);
  const parts = board.stateParts();
  const byName = new Map<string, StateSection>();
  for (const s of snap.state) {
    if (byName.has(s.name)) throw new SnapshotError(`the snapshot holds the state of "${s.name}" twice`);
    byName.set(s.name, s);
  }
  const claimed = new Set<string>();
  for (const p of parts) {
    if (!byName.has(p.stateName) && !p.stateOptional) throw new SnapshotError(`the snapshot has no state for "${p.stateName}" (it is of another kind of machine)`);
    claimed.add(p.stateName);
  }
  for (const name of byName.keys()) if (!claimed.has(name)) throw new SnapshotError(`the snapshot holds state for "${name}", which this machine does not have`);

  for (const [p, d] of snap.pages) bytes.set(d, p * PAGE);
  for (const v of board.vcpus) new Uint8Array(memory.buffer, v.base, MM.VCPU_STATE_SIZE).set(snap.vcpus[v.id]);
  for (const p of parts) {
    const s = byName.get(p.stateName);
    if (s) loadPart(p, s);
  }
}

function loadPart(p: Stateful, s: StateSection): void {
  try {
    p.loadState(s.record, s.version);
  } catch (e) {
    throw new SnapshotError(`the snapshot's state of "${p.stateName}" does not load: ${(e as Error).message}`);
  }
}

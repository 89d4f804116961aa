// The vCPU state block is laid out by engine-wasm/memory-map.ts, versioned by MAP_VERSION. A
// snapshot's blocks from an older layout are brought up to this one by these named steps, in
// order (each turns layout `from` into `from + 1`); a layout with no path to this one does
// not load. Every step keeps the test fixtures of older snapshots loading (test/snapshot).

import * as MM from '../../engine-wasm/memory-map';
import { SnapshotError } from './format';

interface VcpuUpgrade {
  readonly from: number;
  readonly name: string;
  run(block: Uint8Array): void;
}

/** Steps from the first layout snapshots were saved with (3) onwards. */
export const VCPU_UPGRADES: readonly VcpuUpgrade[] = [];

/** Bring `block`, saved with layout `version`, to this build's layout (in place). */
export function upgradeVcpuBlock(block: Uint8Array, version: number): void {
  if (version > MM.MAP_VERSION) throw new SnapshotError(`this snapshot's vCPU layout is version ${version}, newer than this pvlab's ${MM.MAP_VERSION}`);
  for (let v = version; v < MM.MAP_VERSION; v++) {
    const step = VCPU_UPGRADES.find((u) => u.from === v);
    if (!step) throw new SnapshotError(`this snapshot's vCPU layout is version ${version}; no upgrade from version ${v} is known to this pvlab (${MM.MAP_VERSION})`);
    step.run(block);
  }
}

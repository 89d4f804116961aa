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

/** An IEEE double as the x87's 80-bit double-extended value (exactly: every double is one). */
export function doubleToExtended(bits: bigint): { significand: bigint; signExp: number } {
  const sign = Number(bits >> 63n) << 15;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  if (exp === 0 && frac === 0n) return { significand: 0n, signExp: sign };
  if (exp === 0x7ff) return { significand: (1n << 63n) | (frac << 11n), signExp: sign | 0x7fff }; // infinity or NaN (payload kept)
  if (exp === 0) {
    // A double denormal is a normal extended value: shift its fraction up to the integer bit.
    let lz = 0;
    while (((frac << BigInt(lz)) & (1n << 63n)) === 0n) lz++;
    return { significand: frac << BigInt(lz), signExp: sign | (15372 - lz) };
  }
  return { significand: (1n << 63n) | (frac << 11n), signExp: sign | (exp - 1023 + 16383) };
}

/** Steps from the first layout snapshots were saved with (3) onwards. */
export const VCPU_UPGRADES: readonly VcpuUpgrade[] = [
  {
    from: 3,
    name: 'x87 data registers: eight doubles at 0x300 become 80-bit double-extended values at R_FPU_ST (16 bytes each)',
    run(block) {
      const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
      for (let r = 0; r < 8; r++) {
        const { significand, signExp } = doubleToExtended(dv.getBigUint64(0x300 + 8 * r, true));
        const at = MM.R_FPU_ST + r * MM.FPU_ST_STRIDE;
        dv.setBigUint64(at, significand, true);
        dv.setUint16(at + 8, signExp, true);
        for (let i = 10; i < 16; i++) dv.setUint8(at + i, 0);
      }
      block.fill(0, 0x300, 0x340);
    },
  },
  {
    from: 4,
    name: 'SMP: the control block gained its SMP area and the port claim map; the vCPU block is unchanged',
    run() {},
  },
  {
    from: 5,
    name: 'PAUSE cycles (R_PAUSE_CYCLES) and translated instructions (R_JIT_RETIRED) counted apart in unused bytes: none before',
    run(block) {
      block.fill(0, MM.R_PAUSE_CYCLES, MM.R_PAUSE_CYCLES + 8);
      block.fill(0, MM.R_JIT_RETIRED, MM.R_JIT_RETIRED + 8);
    },
  },
  {
    from: 6,
    name: 'the cache of translated code became two-way with a hotness table after it (outside the saved state); the vCPU block is unchanged',
    run() {},
  },
];

/** Bring `block`, saved with layout `version`, to this build's layout (in place). */
export function upgradeVcpuBlock(block: Uint8Array, version: number): void {
  if (version > MM.MAP_VERSION) throw new SnapshotError(`this snapshot's vCPU layout is version ${version}, newer than this pvlab's ${MM.MAP_VERSION}`);
  for (let v = version; v < MM.MAP_VERSION; v++) {
    const step = VCPU_UPGRADES.find((u) => u.from === v);
    if (!step) throw new SnapshotError(`this snapshot's vCPU layout is version ${version}; no upgrade from version ${v} is known to this pvlab (${MM.MAP_VERSION})`);
    step.run(block);
  }
}

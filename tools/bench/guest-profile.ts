// Turn a GuestProfile (EIP samples from MachineHandle.profile) into "where the guest kernel
// spends its time": samples are attributed to the function that contains them, using the
// guest's own /proc/kallsyms (the Debian image's System.map is a placeholder, and modules
// load at run-time addresses anyway).

import type { GuestProfile } from '../../engine-ts/api/node';

export interface FunctionShare {
  name: string;
  samples: number;
  /** Of all samples, kernel and user. */
  share: number;
}

export class KernelSymbols {
  private constructor(
    private readonly addrs: Float64Array,
    private readonly names: string[],
  ) {}

  /** Parse /proc/kallsyms text ("c1000000 T startup_32", "f8a0b000 t blkif_queue_rq\t[xen_blkfront]"). */
  static parse(text: string): KernelSymbols {
    const rows: Array<[number, string]> = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-f]{8,16}) ([tTwW]) (\S+)(?:\s+\[(\S+)\])?/.exec(line.trim());
      if (!m) continue;
      const addr = parseInt(m[1], 16);
      if (addr === 0) continue; // kptr_restrict hides addresses as zeros
      rows.push([addr, m[4] ? `${m[3]} [${m[4]}]` : m[3]]);
    }
    if (rows.length === 0) throw new Error('kallsyms: no text symbols with addresses');
    rows.sort((a, b) => a[0] - b[0]);
    return new KernelSymbols(Float64Array.from(rows, (r) => r[0]), rows.map((r) => r[1]));
  }

  get size(): number {
    return this.names.length;
  }

  /** The function containing `eip`: the last symbol at or below it. */
  lookup(eip: number): string {
    let lo = 0, hi = this.addrs.length - 1;
    if (eip < this.addrs[0]) return '(below the kernel text)';
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.addrs[mid] <= eip) lo = mid;
      else hi = mid - 1;
    }
    return this.names[lo];
  }
}

/** Samples per function, largest first; user mode is one row, "(user mode)". */
export function functionShares(p: GuestProfile, syms: KernelSymbols): FunctionShare[] {
  const by = new Map<string, number>();
  let total = p.user;
  for (const [eip, n] of p.kernel) {
    const name = syms.lookup(eip);
    by.set(name, (by.get(name) ?? 0) + n);
    total += n;
  }
  if (p.user > 0) by.set('(user mode)', p.user);
  return [...by].map(([name, samples]) => ({ name, samples, share: samples / total })).sort((a, b) => b.samples - a.samples);
}

// tools/bench/guest-profile.ts: naming the kernel functions behind EIP samples (bench:pv --profile).
import { describe, it, expect } from 'vitest';
import { functionShares, KernelSymbols } from '../../tools/bench/guest-profile';

const KALLSYMS = [
  'c6000000 T startup_32',
  'c6000100 t helper',
  'c6000200 D some_data', // data: not a function, ignored
  'c6000300 W weak_fn',
  'f8a0b000 t blkif_queue_rq\t[xen_blkfront]',
  'f8a0b400 t blkif_interrupt\t[xen_blkfront]',
  'garbage line',
].join('\n');

describe('guest profile symbols', () => {
  it('names the function that contains each sample, modules included', () => {
    const s = KernelSymbols.parse(KALLSYMS);
    expect(s.size).toBe(5);
    expect(s.lookup(0xc6000000)).toBe('startup_32');
    expect(s.lookup(0xc60000ff)).toBe('startup_32');
    expect(s.lookup(0xc6000250)).toBe('helper'); // the data symbol does not split helper
    expect(s.lookup(0xc6000300)).toBe('weak_fn');
    expect(s.lookup(0xf8a0b3ff)).toBe('blkif_queue_rq [xen_blkfront]');
    expect(s.lookup(0xf8a0b400)).toBe('blkif_interrupt [xen_blkfront]');
    expect(s.lookup(0x1000)).toBe('(below the kernel text)');
  });

  it('adds samples up per function, largest first, user mode as one row', () => {
    const s = KernelSymbols.parse(KALLSYMS);
    const shares = functionShares({ everyInstructions: 1000, kernel: [[0xc6000010, 3], [0xc6000020, 2], [0xf8a0b010, 4]], user: 1 }, s);
    expect(shares).toEqual([
      { name: 'startup_32', samples: 5, share: 0.5 },
      { name: 'blkif_queue_rq [xen_blkfront]', samples: 4, share: 0.4 },
      { name: '(user mode)', samples: 1, share: 0.1 },
    ]);
  });

  it('refuses a symbol table with hidden addresses (kptr_restrict)', () => {
    expect(() => KernelSymbols.parse('00000000 T startup_32\n00000000 t helper')).toThrow(/no text symbols/);
  });
});

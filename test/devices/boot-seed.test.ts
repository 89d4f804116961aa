// The random seed the Linux loader hands the kernel (setup_data SETUP_RNG_SEED): a function of
// the machine's configuration, so the same machine boots the same way every time while two
// machines that differ (another MAC address on the lab switch) start from different seeds.
// (test/linux/boot.test.ts checks that the kernel takes it: its CRNG is ready at 0.000000.)
import { describe, expect, it } from 'vitest';
import { bootSeed, MAX_RNG_SEED } from '../../engine-ts/board/loaders/linux';

describe('the boot seed', () => {
  it('is the same for the same configuration and differs when anything in it does', () => {
    const a = JSON.stringify({ cmdline: 'console=ttyS0', macs: ['02:50:56:00:01:01'] });
    const b = JSON.stringify({ cmdline: 'console=ttyS0', macs: ['02:50:56:00:01:02'] });
    expect(bootSeed(a)).toEqual(bootSeed(a));
    expect(bootSeed(a)).toHaveLength(32);
    expect(Buffer.from(bootSeed(a)).equals(Buffer.from(bootSeed(b)))).toBe(false);
    expect(Buffer.from(bootSeed('')).equals(Buffer.from(bootSeed(' ')))).toBe(false);
  });

  it('looks random: no repeated words, bytes spread over the range', () => {
    const s = bootSeed('pvlab', MAX_RNG_SEED);
    const words = new Set<number>();
    for (let i = 0; i < s.length; i += 4) words.add(new DataView(s.buffer).getUint32(i, true));
    expect(words.size).toBe(MAX_RNG_SEED / 4);
    expect(new Set(s).size).toBeGreaterThan(40);
  });
});

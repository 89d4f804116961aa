import { describe, expect, it } from 'vitest';
import { nsForTicks, ticksIn } from '../../engine-ts/devices/common/ticks';
import { bool, bytes, declareState, field, fields, int, objects, str } from '../../engine-ts/platform/state';

describe('tick conversions', () => {
  it('inverts exactly at tick boundaries for the PIT, RTC and PM timer clocks, even days into a run', () => {
    for (const hz of [1_193_182, 32_768, 3_579_545]) {
      for (const base of [1, 7, 86_400 * hz + 12_345]) {
        for (let k = base; k < base + 2000; k += 7) {
          const ns = nsForTicks(k, hz);
          expect(ticksIn(ns, hz)).toBe(k);
          expect(ticksIn(ns - 1, hz)).toBe(k - 1);
        }
      }
    }
  });
});

describe('declared state (platform/state.ts)', () => {
  class Dev {
    mode = 3;
    bytes = new Uint8Array(4);
    counters = [{ n: 1, on: true }, { n: 2, on: false }];
    added = 'x';
  }
  const COUNTER = fields({ n: int(0, 9), on: bool }, 'counter');
  const V1 = declareState('dev', { mode: int(0, 5), bytes: bytes(4), counters: objects(COUNTER, 2) });
  const V2 = declareState('dev', { mode: int(0, 5), bytes: bytes(4), counters: objects(COUNTER, 2), added: field(str(8), { since: 2, default: 'old' }) }, {
    upgrades: [{ from: 1, name: 'mode counts from 1', run: (r) => ({ ...r, mode: (r.mode as number) + 1 }) }],
  });

  it('saves every declared field and loads it back in place (objects keep their identity)', () => {
    const a = new Dev();
    a.mode = 4;
    a.bytes.set([1, 2, 3, 4]);
    a.counters[1].n = 7;
    const rec = V1.save(a);
    const b = new Dev();
    const kept = b.counters[0];
    V1.load(b, structuredClone(rec), 1);
    expect(b.mode).toBe(4);
    expect([...b.bytes]).toEqual([1, 2, 3, 4]);
    expect(b.counters[1].n).toBe(7);
    expect(b.counters[0]).toBe(kept);
  });

  it('checks everything before it assigns anything, and names the field', () => {
    const b = new Dev();
    const rec = V1.save(new Dev()) as Record<string, unknown>;
    expect(() => V1.load(b, { ...rec, mode: 9 }, 1)).toThrow('dev.mode is 9, outside [0, 5]');
    expect(() => V1.load(b, { ...rec, counters: [{ n: 1, on: true }, { n: 1.5, on: true }], mode: 1 }, 1)).toThrow('dev.counters[1].n is not an integer');
    expect(() => V1.load(b, { ...rec, bytes: new Uint8Array(3) }, 1)).toThrow('dev.bytes has 3 bytes, expected 4');
    expect(() => V1.load(b, { mode: 1 }, 1)).toThrow('dev.bytes is missing');
    expect(b.mode).toBe(3);
  });

  it('upgrades an older record by its named steps and fills fields added since with their defaults', () => {
    const b = new Dev();
    V2.load(b, V1.save(Object.assign(new Dev(), { mode: 2 })), 1);
    expect(b.mode).toBe(3);
    expect(b.added).toBe('old');
    expect(() => V1.load(b, V2.save(b), 2)).toThrow('dev state is version 2; this build reads up to 1 (a newer pvlab saved it)');
    expect(V2.describe().map((f) => `${f.name}: ${f.type} (v${f.since})`)).toEqual(['mode: int 0..5 (v1)', 'bytes: 4 bytes (v1)', 'counters: 2 × counter (v1)', 'added: string ≤ 8 (v2)']);
  });

  it('a declared field the object lacks is a programming error, caught on save', () => {
    const S = declareState('dev', { missing: int(0, 1) });
    expect(() => S.save(new Dev())).toThrow('state field dev.missing is not a property of the object');
  });
});

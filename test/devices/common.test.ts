import { describe, expect, it } from 'vitest';
import { nsForTicks, ticksIn } from '../../engine-ts/devices/common/ticks';
import { readBytes, readInt, readRecord } from '../../engine-ts/platform/state-fields';

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

describe('state field readers', () => {
  it('name the device and field in their errors', () => {
    expect(() => readInt({}, 'dev', 'x', 0, 1)).toThrow('dev state: field "x" is missing');
    expect(() => readInt({ x: 1.5 }, 'dev', 'x', 0, 1)).toThrow(/not an integer/);
    expect(() => readBytes({ x: new Uint8Array(3) }, 'dev', 'x', 4)).toThrow(/3 bytes, expected 4/);
    expect(() => readRecord({ x: [1] }, 'dev', 'x')).toThrow(/not a record/);
    const src = new Uint8Array([1, 2]);
    const copy = readBytes({ x: src }, 'dev', 'x', 2);
    src[0] = 9;
    expect(copy[0]).toBe(1);
  });
});

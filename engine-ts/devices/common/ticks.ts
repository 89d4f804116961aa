// Conversions between guest nanoseconds and the tick count of a fixed-frequency
// oscillator, exact for any guest time below 2^53 ns (about 104 days). A plain
// `ns * hz / 1e9` would lose integer precision after a few hours of guest time.

const NS_PER_S = 1_000_000_000;

/** Whole ticks of an `hz` oscillator completed in `ns` nanoseconds (ns >= 0). */
export function ticksIn(ns: number, hz: number): number {
  if (ns <= 0) return 0;
  const s = Math.floor(ns / NS_PER_S);
  const rem = ns - s * NS_PER_S;
  return s * hz + Math.floor((rem * hz) / NS_PER_S);
}

/** The first whole nanosecond at which `ticks` ticks of an `hz` oscillator have completed. */
export function nsForTicks(ticks: number, hz: number): number {
  if (ticks <= 0) return 0;
  const s = Math.floor(ticks / hz);
  const rem = ticks - s * hz;
  return s * NS_PER_S + Math.ceil((rem * NS_PER_S) / hz);
}

// Core divergences that are understood and reported but not fixed yet. Each one names the
// generator feature that triggers it; the CI suite turns those features off and, separately,
// checks that each issue still reproduces (so a fixed issue must be removed from this list).

export interface KnownIssue {
  id: KnownIssueId;
  summary: string;
}

export type KnownIssueId = 'pop-ev-esp-base' | 'insn-over-15-bytes';

// Fixed so far: LOCK before 0F opcodes, POP Ev with an ESP-based address, instructions over
// 15 bytes through the fetch fast path.
export const KNOWN_ISSUES: readonly KnownIssue[] = [];

// Drives a guest through its serial console, whatever emulator runs it: keeps a cleaned
// transcript (terminal escape sequences, CRs and other control bytes removed), waits for
// a pattern with a deadline and notes the host time at which the pattern appeared.
// Output is checked as it arrives, so the time of a match is the time the emulator
// produced the bytes, not the time a later poll noticed them.

/** An emulator with a Linux guest on its first serial port. */
export interface ConsoleGuest {
  readonly name: string;
  /** Power on. Resolves once the emulator runs; output and an unexpected stop arrive through `events`. */
  start(events: ConsoleEvents): Promise<void>;
  /** Type text into the serial port (as a terminal would: CR for Enter). */
  send(text: string): void;
  /** Guest instructions retired since power-on, or null if the emulator cannot tell. */
  instructions(): Promise<number | null>;
  /** Where the emulator's time went so far (cumulative), if it can tell. */
  split?(): Promise<EmulatorSplit | null>;
  /** Stop the emulator and release it (idempotent). */
  shutdown(): Promise<void>;
}

import type { EmulatorSplit } from './linux-report';

export interface ConsoleEvents {
  onOutput(bytes: Uint8Array): void;
  /** The emulator stopped by itself (crash, guest shutdown): `why` says how. */
  onStopped(why: string): void;
}

/** A benchmark phase that did not finish: which phase, and why. */
export class PhaseError extends Error {
  constructor(readonly phase: string, message: string) {
    super(`${phase}: ${message}`);
    this.name = 'PhaseError';
  }
}

export interface ConsoleMatch {
  match: RegExpExecArray;
  /** Offset in the cleaned transcript just after the match (search the next pattern from here). */
  end: number;
  /** Host time (performance.now, ms) when the matching bytes arrived. */
  atMs: number;
}

interface Waiter {
  re: RegExp;
  from: number;
  phase: string;
  resolve(m: ConsoleMatch): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

// The longest pattern we look for, in characters: a new chunk is searched together with
// this much of the text before it, so a match split across chunks is still found while
// every byte is looked at a bounded number of times (v86 delivers one byte per call).
const OVERLAP = 512;

const enum Esc { None, AfterEsc, Csi, Charset }

export class ConsoleSession {
  private text = '';
  private esc: Esc = Esc.None;
  private waiter: Waiter | null = null;
  private stoppedWhy: string | null = null;
  /** Host time of the first byte of output, or null before any. */
  firstOutputMs: number | null = null;
  /** Every byte the guest wrote, undecoded (for the log file). */
  readonly raw: Uint8Array[] = [];

  constructor(private readonly echo: ((bytes: Uint8Array) => void) | null = null) {}

  readonly events: ConsoleEvents = {
    onOutput: (bytes) => this.feed(bytes),
    onStopped: (why) => this.stopped(why),
  };

  /** Length of the cleaned transcript so far. */
  get length(): number { return this.text.length; }

  /** The cleaned transcript between two offsets. */
  slice(from: number, to = this.text.length): string { return this.text.slice(from, to); }

  /**
   * Wait until `re` matches the transcript at or after offset `from` (default: from now).
   * Rejects with a PhaseError after `timeoutMs`, or as soon as the emulator stops.
   */
  waitFor(re: RegExp, timeoutMs: number, phase: string, from = this.text.length): Promise<ConsoleMatch> {
    if (this.waiter) throw new Error(`console: already waiting for ${this.waiter.phase}`);
    const now = performance.now();
    const early = this.search(re, from, now);
    if (early) return Promise.resolve(early);
    if (this.stoppedWhy !== null) return Promise.reject(new PhaseError(phase, `the emulator stopped: ${this.stoppedWhy}`));
    return new Promise<ConsoleMatch>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new PhaseError(phase, `timed out waiting for ${re}`));
      }, Math.max(0, timeoutMs));
      this.waiter = { re, from, phase, resolve, reject, timer };
    });
  }

  private feed(bytes: Uint8Array): void {
    const now = performance.now();
    if (this.firstOutputMs === null && bytes.length) this.firstOutputMs = now;
    this.raw.push(bytes.slice());
    this.echo?.(bytes);
    const before = this.text.length;
    this.text += this.clean(bytes);
    const w = this.waiter;
    if (!w || this.text.length === before) return;
    const m = this.search(w.re, Math.max(w.from, before - OVERLAP), now);
    if (m) {
      clearTimeout(w.timer);
      this.waiter = null;
      w.resolve(m);
    }
  }

  private search(re: RegExp, from: number, now: number): ConsoleMatch | null {
    const flags = re.flags.includes('g') ? re.flags : re.flags + 'g';
    const g = new RegExp(re.source, flags);
    g.lastIndex = from;
    const match = g.exec(this.text);
    return match ? { match, end: match.index + match[0].length, atMs: now } : null;
  }

  private stopped(why: string): void {
    this.stoppedWhy = why;
    const w = this.waiter;
    if (w) {
      clearTimeout(w.timer);
      this.waiter = null;
      w.reject(new PhaseError(w.phase, `the emulator stopped: ${why}`));
    }
  }

  /** Drop escape sequences (CSI, charset selection, two-byte ESC x), CR and control bytes. */
  private clean(bytes: Uint8Array): string {
    let out = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      switch (this.esc) {
        case Esc.AfterEsc:
          this.esc = b === 0x5b ? Esc.Csi : b >= 0x28 && b <= 0x2b ? Esc.Charset : Esc.None;
          continue;
        case Esc.Charset:
          this.esc = Esc.None;
          continue;
        case Esc.Csi:
          if (b >= 0x40 && b <= 0x7e) this.esc = Esc.None; // final byte ends the sequence
          continue;
        case Esc.None:
          break;
      }
      if (b === 0x1b) { this.esc = Esc.AfterEsc; continue; }
      if (b === 0x0a || b === 0x09 || (b >= 0x20 && b !== 0x7f)) out += String.fromCharCode(b);
    }
    return out;
  }
}

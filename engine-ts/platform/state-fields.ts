// Typed, validated reads of a device's saved state. A snapshot is a file from outside
// (architecture principle 5), so every field is checked before a device uses it.

import type { StateRecord, StateValue } from './bus';

export class StateError extends Error {
  constructor(device: string, field: string, problem: string) {
    super(`${device} state: field "${field}" ${problem}`);
    this.name = 'StateError';
  }
}

function get(state: StateRecord, device: string, field: string): StateValue {
  if (!Object.prototype.hasOwnProperty.call(state, field)) throw new StateError(device, field, 'is missing');
  return state[field];
}

/** An integer in [min, max]. */
export function readInt(state: StateRecord, device: string, field: string, min: number, max: number): number {
  const v = get(state, device, field);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new StateError(device, field, 'is not an integer');
  if (v < min || v > max) throw new StateError(device, field, `is ${v}, outside [${min}, ${max}]`);
  return v;
}

/** A finite number (guest time stamps in ns may be fractional-free but large). */
export function readTime(state: StateRecord, device: string, field: string): number {
  const v = get(state, device, field);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StateError(device, field, 'is not a finite number');
  return v;
}

export function readBool(state: StateRecord, device: string, field: string): boolean {
  const v = get(state, device, field);
  if (typeof v !== 'boolean') throw new StateError(device, field, 'is not a boolean');
  return v;
}

/** A byte array of exactly `length` bytes (copied, so the snapshot can't alias device state). */
export function readBytes(state: StateRecord, device: string, field: string, length: number): Uint8Array {
  const v = get(state, device, field);
  if (!(v instanceof Uint8Array)) throw new StateError(device, field, 'is not a byte array');
  if (v.length !== length) throw new StateError(device, field, `has ${v.length} bytes, expected ${length}`);
  return v.slice();
}

/** A list of bytes (0..255) of at most `maxLength` entries. */
export function readByteList(state: StateRecord, device: string, field: string, maxLength: number): number[] {
  const v = get(state, device, field);
  if (!Array.isArray(v)) throw new StateError(device, field, 'is not a list');
  if (v.length > maxLength) throw new StateError(device, field, `has ${v.length} entries, at most ${maxLength} allowed`);
  return v.map((b, i) => {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 0xff)
      throw new StateError(device, `${field}[${i}]`, 'is not a byte');
    return b;
  });
}

export function readRecord(state: StateRecord, device: string, field: string): StateRecord {
  const v = get(state, device, field);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array)
    throw new StateError(device, field, 'is not a record');
  return v as StateRecord;
}

export function readString(state: StateRecord, device: string, field: string, allowed?: readonly string[]): string {
  const v = get(state, device, field);
  if (typeof v !== 'string') throw new StateError(device, field, 'is not a string');
  if (allowed && !allowed.includes(v)) throw new StateError(device, field, `is "${v}", expected one of ${allowed.join(', ')}`);
  return v;
}

/** Checks the version a record was saved with (migrations run before loadState). */
export function checkVersion(device: string, got: number, expected: number): void {
  if (got !== expected) throw new StateError(device, 'stateVersion', `is ${got}, this build reads ${expected}`);
}

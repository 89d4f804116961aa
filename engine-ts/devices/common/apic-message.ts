// An interrupt message on the APIC bus (front-side bus in later parts): what the
// I/O APIC sends to local APICs and what one local APIC sends another as an IPI.
// Both ends declare it here so neither imports the other; the board carries it.

export const APIC_DM_FIXED = 0;
export const APIC_DM_LOWEST = 1;
export const APIC_DM_SMI = 2;
export const APIC_DM_NMI = 4;
export const APIC_DM_INIT = 5;
export const APIC_DM_STARTUP = 6;
export const APIC_DM_EXTINT = 7;

export interface ApicMessage {
  /** APIC ID (physical) or logical destination mask (logical); 0xFF broadcasts. */
  destination: number;
  /** Destination mode: logical (true) or physical (false). */
  logical: boolean;
  /** APIC_DM_* */
  deliveryMode: number;
  vector: number;
  /** Level-triggered (the destination sets TMR and the EOI is broadcast back). */
  levelTriggered: boolean;
}

/** ICR destination shorthand: 0 none, 2 all including self, 3 all excluding self (1, self, never leaves the APIC). */
export type IpiShorthand = 0 | 2 | 3;

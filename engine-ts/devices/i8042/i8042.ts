// Intel 8042 keyboard controller with a PS/2 keyboard and a plain PS/2 mouse, plus
// port 0x92 ("system control port A", fast A20 and fast reset).
//
// Ports: 0x60 data, 0x64 status (read) / command (write), 0x92. IRQ1 for keyboard
// bytes, IRQ12 for mouse bytes. The controller has one output buffer; bytes wait in
// the controller's, the keyboard's or the mouse's queue until it is empty. Transfers
// are instantaneous (a real PS/2 byte takes about 1 ms; no guest depends on that).

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import { bool, bytes, declareState, fields, int, list, u8 } from '../../platform/state';
import { set1ToSet2, translatedSetNumber } from './scancodes';

// Status register.
const STR_OBF = 0x01;
const STR_SYSFLAG = 0x04;
const STR_CMDDAT = 0x08; // last write went to port 0x64
const STR_KEYLOCK = 0x10; // 1 = keyboard not inhibited
const STR_AUXDATA = 0x20;

// Controller configuration byte ("command byte", internal RAM byte 0).
export const CTR_KBDINT = 0x01;
export const CTR_AUXINT = 0x02;
export const CTR_SYSFLAG = 0x04;
export const CTR_KBDDIS = 0x10;
export const CTR_AUXDIS = 0x20;
export const CTR_XLATE = 0x40;

// Output port.
const OUT_RESET = 0x01; // 0 holds the CPU in reset
const OUT_A20 = 0x02;

// Keyboard / mouse protocol bytes.
const ACK = 0xfa;
const RESEND = 0xfe;
const BAT_OK = 0xaa;

/** Bytes a PS/2 device buffers before it starts dropping (generous: host paste bursts). */
const DEVICE_QUEUE_MAX = 64;
const CONTROLLER_QUEUE_MAX = 16;

interface QueuedByte {
  value: number;
  aux: boolean;
}

export interface I8042Options {
  irq1: IrqLine;
  irq12: IrqLine;
  /** Called when the A20 gate changes (output port bit 1 OR port 0x92 bit 1). */
  setA20(enabled: boolean): void;
  /** Called on a reset pulse (command 0xFE, output port bit 0 cleared, port 0x92 bit 0). */
  requestReset(): void;
  /** A20 as the board starts (after firmware a PC has it enabled). Default true. */
  initialA20?: boolean;
}

export class I8042 implements Stateful {
  readonly stateName = 'i8042';
  readonly stateVersion = I8042_STATE.version;

  // Controller.
  /** Internal RAM; byte 0 is the configuration byte. */
  private readonly ram = new Uint8Array(32);
  private sysFlag = true;
  private lastWasCommand = false;
  /** Controller command waiting for its data byte on port 0x60, or 0. */
  private pendingCommand = 0;
  private outputPort = OUT_RESET;
  private port92 = 0;
  private a20 = false;

  // Output buffer and queues.
  private obFull = false;
  private obValue = 0;
  private obAux = false;
  private ctrlQueue: QueuedByte[] = [];
  private kbdQueue: number[] = [];
  private auxQueue: number[] = [];
  private irq1Level = false;
  private irq12Level = false;

  // Keyboard.
  private kbdScanning = true;
  private kbdSet = 2;
  private kbdLeds = 0;
  private kbdTypematic = 0x2b;
  private kbdExpect = 0; // command waiting for its parameter
  private kbdLast = 0; // last byte sent, for RESEND

  // Mouse.
  private auxEnabled = false;
  private auxRemote = false;
  private auxWrap = false;
  private auxScaling21 = false;
  private auxResolution = 2;
  private auxSampleRate = 100;
  private auxExpect = 0;
  private auxLast = 0;
  private auxButtons = 0;

  private readonly irq1: IrqLine;
  private readonly irq12: IrqLine;
  private readonly setA20Cb: (enabled: boolean) => void;
  private readonly requestResetCb: () => void;

  constructor(options: I8042Options) {
    this.irq1 = options.irq1;
    this.irq12 = options.irq12;
    this.setA20Cb = options.setA20;
    this.requestResetCb = options.requestReset;
    // As PC firmware leaves it: keyboard interrupt on, mouse port off, translation on.
    this.ram[0] = CTR_KBDINT | CTR_SYSFLAG | CTR_AUXDIS | CTR_XLATE;
    if (options.initialA20 ?? true) this.outputPort |= OUT_A20;
    this.updateA20();
  }

  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port, size) => this.readPort(port, size),
      write: (port, size, value) => this.writePort(port, size, value),
    };
    io.register(0x60, 1, h, this.stateName);
    io.register(0x64, 1, h, this.stateName);
    io.register(0x92, 1, h, this.stateName);
  }

  /** The configuration byte (for the inspector). */
  get configByte(): number {
    return this.ram[0];
  }

  get a20Enabled(): boolean {
    return this.a20;
  }

  // ---- host input ------------------------------------------------------------------

  /**
   * Key events from the host as set 1 bytes (make, break = make | 0x80, E0/E1 prefixes).
   * Dropped while the guest has scanning disabled.
   */
  keyPress(scancodes: readonly number[]): void {
    if (!this.kbdScanning) return;
    for (const b of scancodes)
      if (!Number.isInteger(b) || b < 0 || b > 0xff) throw new RangeError(`i8042: scan code ${b} is not a byte`);
    const bytes = this.ram[0] & CTR_XLATE || this.kbdSet === 1 ? scancodes : set1ToSet2(scancodes);
    for (const b of bytes) this.kbdSend(b);
    this.refill();
  }

  /** Relative mouse motion (dy positive = up) and buttons (bit 0 left, 1 right, 2 middle). */
  mouseMove(dx: number, dy: number, buttons: number): void {
    this.auxButtons = buttons & 7;
    if (!this.auxEnabled || this.auxRemote || this.auxWrap) return;
    for (const b of this.mousePacket(dx, dy)) this.auxSend(b);
    this.refill();
  }

  private mousePacket(dx: number, dy: number): number[] {
    const cx = Math.max(-256, Math.min(255, Math.trunc(dx)));
    const cy = Math.max(-256, Math.min(255, Math.trunc(dy)));
    const head = 0x08 | this.auxButtons | (cx < 0 ? 0x10 : 0) | (cy < 0 ? 0x20 : 0);
    return [head, cx & 0xff, cy & 0xff];
  }

  // ---- ports ---------------------------------------------------------------------------

  readPort(port: number, _size: AccessSize): number {
    if (port === 0x64) return this.status();
    if (port === 0x92) return this.port92;
    // Reading the data port takes the byte and lets the next one in.
    const v = this.obValue;
    if (this.obFull) {
      // Drop the line before the next byte moves in, so each byte is a fresh edge.
      this.obFull = false;
      this.updateIrqs();
      this.refill();
    }
    return v;
  }

  writePort(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    if (port === 0x64) {
      this.lastWasCommand = true;
      this.controllerCommand(value);
    } else if (port === 0x60) {
      this.lastWasCommand = false;
      this.dataWrite(value);
    } else if (port === 0x92) {
      const resetPulse = (value & 1) !== 0 && (this.port92 & 1) === 0;
      this.port92 = value & 0x03;
      this.updateA20();
      if (resetPulse) this.requestResetCb();
    }
    this.refill();
  }

  private status(): number {
    let s = STR_KEYLOCK;
    if (this.obFull) s |= STR_OBF | (this.obAux ? STR_AUXDATA : 0);
    if (this.sysFlag) s |= STR_SYSFLAG;
    if (this.lastWasCommand) s |= STR_CMDDAT;
    return s;
  }

  // ---- controller ------------------------------------------------------------------------

  private respond(value: number, aux = false): void {
    if (this.ctrlQueue.length < CONTROLLER_QUEUE_MAX) this.ctrlQueue.push({ value, aux });
  }

  private controllerCommand(cmd: number): void {
    this.pendingCommand = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {
      this.respond(this.ram[cmd & 0x1f]);
      return;
    }
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.pendingCommand = cmd;
      return;
    }
    if (cmd >= 0xf0) {
      // Pulse output port bits whose command bit is 0; bit 0 is the CPU reset line.
      if ((cmd & 1) === 0) this.requestResetCb();
      return;
    }
    switch (cmd) {
      case 0xa4: // password installed?
        this.respond(0xf1); // no
        break;
      case 0xa7:
        this.ram[0] |= CTR_AUXDIS;
        break;
      case 0xa8:
        this.ram[0] &= ~CTR_AUXDIS;
        break;
      case 0xa9: // aux interface test
      case 0xab: // keyboard interface test
        this.respond(0x00);
        break;
      case 0xaa: // controller self-test
        this.sysFlag = true;
        this.respond(0x55);
        break;
      case 0xad:
        this.ram[0] |= CTR_KBDDIS;
        break;
      case 0xae:
        this.ram[0] &= ~CTR_KBDDIS;
        break;
      case 0xc0: // read input port: keyboard not inhibited
        this.respond(0x80);
        break;
      case 0xd0:
        this.respond(this.outputPortValue());
        break;
      case 0xd1: // write output port
      case 0xd2: // write keyboard output buffer
      case 0xd3: // write aux output buffer
      case 0xd4: // write to aux device
        this.pendingCommand = cmd;
        break;
      case 0xdd:
        this.outputPort &= ~OUT_A20;
        this.updateA20();
        break;
      case 0xdf:
        this.outputPort |= OUT_A20;
        this.updateA20();
        break;
      case 0xe0: // read test inputs
        this.respond(0x00);
        break;
      default:
        break; // unknown or vendor command: ignored, as most controllers do
    }
  }

  private outputPortValue(): number {
    let v = this.outputPort & (OUT_RESET | OUT_A20);
    if (this.obFull && !this.obAux) v |= 0x10;
    if (this.obFull && this.obAux) v |= 0x20;
    return v;
  }

  private dataWrite(value: number): void {
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = value;
      if ((cmd & 0x1f) === 0) this.sysFlag = (value & CTR_SYSFLAG) !== 0;
      return;
    }
    switch (cmd) {
      case 0xd1:
        this.outputPort = value;
        this.updateA20();
        if ((value & OUT_RESET) === 0) this.requestResetCb();
        return;
      case 0xd2:
        this.respond(value, false);
        return;
      case 0xd3:
        this.respond(value, true);
        return;
      case 0xd4:
        this.ram[0] &= ~CTR_AUXDIS; // talking to the mouse re-enables its interface
        this.auxCommand(value);
        return;
      default:
        this.ram[0] &= ~CTR_KBDDIS; // talking to the keyboard re-enables its interface
        this.kbdCommand(value);
    }
  }

  private updateA20(): void {
    const a20 = (this.outputPort & OUT_A20) !== 0 || (this.port92 & 0x02) !== 0;
    if (a20 !== this.a20) {
      this.a20 = a20;
      this.setA20Cb(a20);
    }
  }

  /** Moves the next waiting byte into the output buffer and updates IRQ1/IRQ12. */
  private refill(): void {
    if (!this.obFull) {
      let next: QueuedByte | undefined = this.ctrlQueue.shift();
      if (!next && !(this.ram[0] & CTR_KBDDIS) && this.kbdQueue.length) next = { value: this.kbdQueue.shift()!, aux: false };
      if (!next && !(this.ram[0] & CTR_AUXDIS) && this.auxQueue.length) next = { value: this.auxQueue.shift()!, aux: true };
      if (next) {
        this.obFull = true;
        this.obValue = next.value;
        this.obAux = next.aux;
      }
    }
    this.updateIrqs();
  }

  private updateIrqs(): void {
    const irq1 = this.obFull && !this.obAux && (this.ram[0] & CTR_KBDINT) !== 0;
    const irq12 = this.obFull && this.obAux && (this.ram[0] & CTR_AUXINT) !== 0;
    if (irq1 !== this.irq1Level) {
      this.irq1Level = irq1;
      this.irq1.set(irq1);
    }
    if (irq12 !== this.irq12Level) {
      this.irq12Level = irq12;
      this.irq12.set(irq12);
    }
  }

  // ---- keyboard ------------------------------------------------------------------------

  private kbdSend(b: number): void {
    if (this.kbdQueue.length < DEVICE_QUEUE_MAX) this.kbdQueue.push(b);
    this.kbdLast = b;
  }

  private kbdDefaults(): void {
    this.kbdTypematic = 0x2b;
    this.kbdSet = 2;
    this.kbdLeds = 0;
  }

  private kbdCommand(v: number): void {
    const expect = this.kbdExpect;
    this.kbdExpect = 0;
    // A parameter byte; a command byte in its place starts a new command instead.
    if (expect === 0xed && v < 0x80) {
      this.kbdLeds = v & 7;
      this.kbdSend(ACK);
      return;
    }
    if (expect === 0xf3 && v < 0x80) {
      this.kbdTypematic = v;
      this.kbdSend(ACK);
      return;
    }
    if (expect === 0xf0 && v <= 3) {
      this.kbdSend(ACK);
      if (v === 0) this.kbdSend(this.ram[0] & CTR_XLATE ? translatedSetNumber(this.kbdSet) : this.kbdSet);
      else this.kbdSet = v;
      return;
    }
    switch (v) {
      case 0xed: // set LEDs
      case 0xf0: // get/set scan code set
      case 0xf3: // set typematic rate
        this.kbdExpect = v;
        this.kbdSend(ACK);
        break;
      case 0xee: // echo
        this.kbdSend(0xee);
        break;
      case 0xf2: // identify: MF2 keyboard (the 8042 translates 0x83 to 0x41)
        this.kbdSend(ACK);
        this.kbdSend(0xab);
        this.kbdSend(this.ram[0] & CTR_XLATE ? 0x41 : 0x83);
        break;
      case 0xf4: // enable scanning
        this.kbdQueue.length = 0;
        this.kbdScanning = true;
        this.kbdSend(ACK);
        break;
      case 0xf5: // disable scanning and restore defaults
        this.kbdQueue.length = 0;
        this.kbdScanning = false;
        this.kbdDefaults();
        this.kbdSend(ACK);
        break;
      case 0xf6: // restore defaults
        this.kbdDefaults();
        this.kbdSend(ACK);
        break;
      case 0xf7:
      case 0xf8:
      case 0xf9:
      case 0xfa:
        this.kbdSend(ACK); // set 3 key types: accepted, not modelled
        break;
      case 0xfe:
        this.kbdSend(this.kbdLast);
        break;
      case 0xff: // reset and self-test
        this.kbdQueue.length = 0;
        this.kbdDefaults();
        this.kbdScanning = true;
        this.kbdSend(ACK);
        this.kbdSend(BAT_OK);
        break;
      default:
        this.kbdSend(RESEND);
        break;
    }
  }

  // ---- mouse ----------------------------------------------------------------------------

  private auxSend(b: number): void {
    if (this.auxQueue.length < DEVICE_QUEUE_MAX) this.auxQueue.push(b);
    this.auxLast = b;
  }

  private auxDefaults(): void {
    this.auxEnabled = false;
    this.auxRemote = false;
    this.auxScaling21 = false;
    this.auxResolution = 2;
    this.auxSampleRate = 100;
  }

  private auxCommand(v: number): void {
    const expect = this.auxExpect;
    this.auxExpect = 0;
    if (expect === 0xf3) {
      this.auxSampleRate = v;
      this.auxSend(ACK);
      return;
    }
    if (expect === 0xe8) {
      this.auxResolution = v & 3;
      this.auxSend(ACK);
      return;
    }
    if (this.auxWrap && v !== 0xec && v !== 0xff) {
      this.auxSend(v); // wrap mode echoes
      return;
    }
    switch (v) {
      case 0xe6:
        this.auxScaling21 = false;
        this.auxSend(ACK);
        break;
      case 0xe7:
        this.auxScaling21 = true;
        this.auxSend(ACK);
        break;
      case 0xe8:
      case 0xf3:
        this.auxExpect = v;
        this.auxSend(ACK);
        break;
      case 0xe9: // status request
        this.auxSend(ACK);
        this.auxSend((this.auxRemote ? 0x40 : 0) | (this.auxEnabled ? 0x20 : 0) | (this.auxScaling21 ? 0x10 : 0) | this.auxButtons);
        this.auxSend(this.auxResolution);
        this.auxSend(this.auxSampleRate);
        break;
      case 0xea:
        this.auxRemote = false;
        this.auxSend(ACK);
        break;
      case 0xeb: // read data
        this.auxSend(ACK);
        for (const b of this.mousePacket(0, 0)) this.auxSend(b);
        break;
      case 0xec:
        this.auxWrap = false;
        this.auxSend(ACK);
        break;
      case 0xee:
        this.auxWrap = true;
        this.auxSend(ACK);
        break;
      case 0xf0:
        this.auxRemote = true;
        this.auxSend(ACK);
        break;
      case 0xf2: // device ID: standard PS/2 mouse
        this.auxSend(ACK);
        this.auxSend(0x00);
        break;
      case 0xf4:
        this.auxEnabled = true;
        this.auxSend(ACK);
        break;
      case 0xf5:
        this.auxEnabled = false;
        this.auxSend(ACK);
        break;
      case 0xf6:
        this.auxDefaults();
        this.auxSend(ACK);
        break;
      case 0xfe:
        this.auxSend(this.auxLast);
        break;
      case 0xff:
        this.auxQueue.length = 0;
        this.auxDefaults();
        this.auxWrap = false;
        this.auxSend(ACK);
        this.auxSend(BAT_OK);
        this.auxSend(0x00);
        break;
      default:
        this.auxSend(RESEND);
        break;
    }
  }

  // ---- state ------------------------------------------------------------------------------

  saveState(): StateRecord {
    return I8042_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    I8042_STATE.load(this, state, version);
    this.irq1Level = this.obFull && !this.obAux && (this.ram[0] & CTR_KBDINT) !== 0;
    this.irq12Level = this.obFull && this.obAux && (this.ram[0] & CTR_AUXINT) !== 0;
    this.irq1.set(this.irq1Level);
    this.irq12.set(this.irq12Level);
    this.updateA20();
  }
}

const I8042_STATE = declareState('i8042', {
  /** Controller RAM; byte 0 is the command byte. */
  ram: bytes(32),
  sysFlag: bool, lastWasCommand: bool, pendingCommand: u8, outputPort: u8, port92: int(0, 3),
  obFull: bool, obValue: u8, obAux: bool,
  ctrlQueue: list(fields({ value: u8, aux: bool }, 'queued byte'), CONTROLLER_QUEUE_MAX),
  kbdQueue: list(u8, DEVICE_QUEUE_MAX), auxQueue: list(u8, DEVICE_QUEUE_MAX),
  kbdScanning: bool, kbdSet: int(1, 3), kbdLeds: int(0, 7), kbdTypematic: int(0, 0x7f), kbdExpect: u8, kbdLast: u8,
  auxEnabled: bool, auxRemote: bool, auxWrap: bool, auxScaling21: bool, auxResolution: int(0, 3), auxSampleRate: u8,
  auxExpect: u8, auxLast: u8, auxButtons: int(0, 7),
});

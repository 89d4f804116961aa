// National Semiconductor 16550A UART (PC COM port).
//
// Eight registers at base+0..7: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR (DLL/DLM when
// LCR.DLAB=1). 16-byte receive and transmit FIFOs with trigger levels and the character
// timeout interrupt (Linux's 8250 driver relies on it to see input below the trigger level),
// loopback mode (the driver's probe checks it), and the PC wiring where MCR.OUT2 gates the
// IRQ line. Transmission is instantaneous: a written byte goes straight to the host sink.

import type { AccessSize, IoPorts, IrqLine, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import type { Timer, VirtualClock } from '../../platform/clock';
import { bool, declareState, int, list, u8 } from '../../platform/state';

// IER bits
const IER_RDI = 0x01; // received data available
const IER_THRI = 0x02; // transmitter holding register empty
const IER_RLSI = 0x04; // receiver line status
const IER_MSI = 0x08; // modem status
// IIR values
const IIR_NONE = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_TIMEOUT = 0x0c;
const IIR_FIFO = 0xc0;
// FCR bits
const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
const FCR_CLEAR_TX = 0x04;
// LCR
const LCR_DLAB = 0x80;
// MCR
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
// LSR
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
// MSR
const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;

const FIFO_SIZE = 16;
const TRIGGER = [1, 4, 8, 14];
/** Input clock of a PC UART: 1.8432 MHz / 16 = 115200 baud at divisor 1. */
const BASE_BAUD = 115200;

export interface UartSink {
  /** Bytes the guest transmitted. */
  transmit(byte: number): void;
}

export class Uart16550 implements PortHandler, Stateful {
  readonly stateName: string;
  readonly stateVersion = UART_STATE.version;

  private rxFifo: number[] = [];
  private ier = 0;
  private fcr = 0;
  private lcr = 0x03;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msrDelta = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud until programmed
  private dlm = 0;
  /** THRE interrupt pending (set when THR empties, cleared by an IIR read that reports it or a THR write). */
  private thrIpending = false;
  private timeoutPending = false;
  private irqLevel = false;
  private readonly timeout: Timer;

  /** Characters the host queued while the receive FIFO was full (flow control toward the host). */
  private backlog: number[] = [];

  constructor(
    readonly name: string,
    private readonly irq: IrqLine,
    private readonly clock: VirtualClock,
    private readonly sink: UartSink,
  ) {
    this.stateName = `uart-16550:${name}`;
    this.timeout = clock.createTimer(`${name} rx timeout`, () => {
      if (this.rxFifo.length > 0 && this.fifoEnabled()) { this.timeoutPending = true; this.update(); }
    });
  }

  register(io: IoPorts, base: number): void {
    io.register(base, 8, this, this.stateName);
  }

  // ---- host side ---------------------------------------------------------------------------
  /** Queue bytes typed by the user. They enter the receive FIFO as it has room. */
  receive(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.backlog.push(bytes[i] & 0xff);
    this.pumpBacklog();
  }

  /** Whether the guest can take more input right now (for host-side flow control). */
  get inputQueued(): number { return this.backlog.length; }

  private pumpBacklog(): void {
    if (this.mcr & MCR_LOOP) return; // in loopback the receiver hears only the transmitter
    const cap = this.fifoEnabled() ? FIFO_SIZE : 1;
    let moved = false;
    while (this.backlog.length > 0 && this.rxFifo.length < cap) {
      this.rxFifo.push(this.backlog.shift()!);
      moved = true;
    }
    if (moved) this.received();
  }

  private received(): void {
    this.lsr |= LSR_DR;
    this.timeoutPending = false;
    if (this.fifoEnabled()) this.timeout.setDeadline(this.clock.now() + this.charTimeNs() * 4);
    this.update();
  }

  private receiveByte(b: number): void {
    const cap = this.fifoEnabled() ? FIFO_SIZE : 1;
    if (this.rxFifo.length >= cap) { this.lsr |= LSR_OE; this.update(); return; }
    this.rxFifo.push(b);
    this.received();
  }

  // ---- guest side ----------------------------------------------------------------------------
  read(port: number, _size: AccessSize): number {
    switch (port & 7) {
      case 0: {
        if (this.lcr & LCR_DLAB) return this.dll;
        const v = this.rxFifo.length ? this.rxFifo.shift()! : 0;
        this.timeoutPending = false;
        if (this.rxFifo.length === 0) { this.lsr &= ~LSR_DR; this.timeout.cancel(); }
        else if (this.fifoEnabled()) this.timeout.setDeadline(this.clock.now() + this.charTimeNs() * 4);
        this.pumpBacklog();
        this.update();
        return v;
      }
      case 1: return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case 2: {
        const id = this.interruptId();
        if (id === IIR_THRI) { this.thrIpending = false; this.update(); }
        return id | (this.fifoEnabled() ? IIR_FIFO : 0);
      }
      case 3: return this.lcr;
      case 4: return this.mcr;
      case 5: {
        const v = this.lsr;
        this.lsr &= ~(LSR_OE | LSR_BI); // error bits clear on read
        this.update();
        return v;
      }
      case 6: {
        const v = this.modemStatus() | this.msrDelta;
        this.msrDelta = 0;
        this.update();
        return v;
      }
      default: return this.scr;
    }
  }

  write(port: number, _size: AccessSize, value: number): void {
    const v = value & 0xff;
    switch (port & 7) {
      case 0:
        if (this.lcr & LCR_DLAB) { this.dll = v; return; }
        this.transmit(v);
        return;
      case 1:
        if (this.lcr & LCR_DLAB) { this.dlm = v; return; }
        {
          const was = this.ier;
          this.ier = v & 0x0f;
          // Enabling THRE interrupts with the transmitter empty raises one at once (8250 datasheet).
          if (!(was & IER_THRI) && (this.ier & IER_THRI) && (this.lsr & LSR_THRE)) this.thrIpending = true;
          this.update();
        }
        return;
      case 2: {
        const wasEnabled = this.fifoEnabled();
        this.fcr = v & 0xc9;
        if ((v & FCR_CLEAR_RX) || wasEnabled !== this.fifoEnabled()) {
          this.rxFifo.length = 0;
          this.lsr &= ~LSR_DR;
          this.timeoutPending = false;
          this.timeout.cancel();
        }
        if (v & FCR_CLEAR_TX) { this.lsr |= LSR_THRE | LSR_TEMT; }
        this.pumpBacklog();
        this.update();
        return;
      }
      case 3: this.lcr = v; return;
      case 4: {
        const oldStatus = this.modemStatus();
        const wasLoop = (this.mcr & MCR_LOOP) !== 0;
        this.mcr = v & 0x1f;
        this.noteModemChange(oldStatus);
        if (wasLoop && !(this.mcr & MCR_LOOP)) this.pumpBacklog();
        this.update();
        return;
      }
      case 5: return; // LSR is read-only (factory test writes are ignored)
      case 6: return;
      default: this.scr = v; return;
    }
  }

  private transmit(b: number): void {
    this.thrIpending = false;
    if (this.mcr & MCR_LOOP) this.receiveByte(b);
    else this.sink.transmit(b);
    // The byte leaves at once: the holding register is empty again.
    this.lsr |= LSR_THRE | LSR_TEMT;
    if (this.ier & IER_THRI) this.thrIpending = true;
    this.update();
  }

  // ---- interrupt logic ------------------------------------------------------------------------
  private fifoEnabled(): boolean { return (this.fcr & FCR_ENABLE) !== 0; }
  private triggerLevel(): number { return this.fifoEnabled() ? TRIGGER[this.fcr >> 6] : 1; }

  private interruptId(): number {
    if ((this.ier & IER_RLSI) && (this.lsr & (LSR_OE | LSR_BI))) return IIR_RLSI;
    if ((this.ier & IER_RDI) && this.timeoutPending && this.rxFifo.length > 0) return IIR_TIMEOUT;
    if ((this.ier & IER_RDI) && this.rxFifo.length >= this.triggerLevel()) return IIR_RDI;
    if ((this.ier & IER_THRI) && this.thrIpending) return IIR_THRI;
    if ((this.ier & IER_MSI) && this.msrDelta) return IIR_MSI;
    return IIR_NONE;
  }

  private update(): void {
    const pending = this.interruptId() !== IIR_NONE;
    // On a PC the UART's interrupt output reaches the PIC only through OUT2 (not in loopback).
    const level = pending && (this.mcr & MCR_OUT2) !== 0 && !(this.mcr & MCR_LOOP);
    if (level !== this.irqLevel) { this.irqLevel = level; this.irq.set(level); }
  }

  /** MSR status bits 4-7: loopback reflects MCR, otherwise a connected terminal (CTS, DSR, DCD). */
  private modemStatus(): number {
    if (this.mcr & MCR_LOOP) {
      return ((this.mcr & MCR_RTS) ? 0x10 : 0) | ((this.mcr & MCR_DTR) ? 0x20 : 0) |
        ((this.mcr & MCR_OUT1) ? 0x40 : 0) | ((this.mcr & MCR_OUT2) ? 0x80 : 0);
    }
    return 0x10 | 0x20 | 0x80;
  }

  private noteModemChange(old: number): void {
    const now = this.modemStatus();
    const diff = old ^ now;
    if (diff & 0x10) this.msrDelta |= MSR_DCTS;
    if (diff & 0x20) this.msrDelta |= MSR_DDSR;
    if ((old & 0x40) && !(now & 0x40)) this.msrDelta |= MSR_TERI;
    if (diff & 0x80) this.msrDelta |= MSR_DDCD;
  }

  /** Time to transfer one character (10 bits) at the programmed baud rate, in guest ns. */
  private charTimeNs(): number {
    const divisor = (this.dlm << 8) | this.dll || 1;
    return Math.round((10 * 1e9 * divisor) / BASE_BAUD);
  }

  // ---- state ---------------------------------------------------------------------------------------
  saveState(): StateRecord {
    return UART_STATE.save(this);
  }

  loadState(s: StateRecord, version: number): void {
    UART_STATE.load(this, s, version);
    this.irqLevel = false;
    this.irq.set(false);
    this.update();
  }
}

/** One UART's registers and FIFOs (the receive timeout lives in the clock's timer). */
const UART_STATE = declareState('uart-16550', {
  rxFifo: list(u8, FIFO_SIZE),
  /** Input not yet taken into the FIFO (the host typed faster than the guest reads). */
  backlog: list(u8, 1 << 20),
  ier: int(0, 0x0f), fcr: u8, lcr: u8, mcr: int(0, 0x1f), lsr: u8, msrDelta: int(0, 0x0f), scr: u8, dll: u8, dlm: u8,
  thrIpending: bool, timeoutPending: bool,
});

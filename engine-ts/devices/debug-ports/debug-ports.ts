// Small debugging ports firmware, test kernels and emulators agree on:
//   0x80, 0x190  POST code (write; Linux also writes 0x80 as an I/O delay)
//   0xE9         Bochs/QEMU debug console: each byte written goes to the host; reads 0xE9
//   0xF4         isa-debug-exit (as QEMU's -device isa-debug-exit,iobase=0xf4): writing V
//                asks the host to stop the machine with status (V << 1) | 1

import type { AccessSize, IoPorts, PortHandler, Stateful, StateRecord } from '../../platform/bus';
import { declareState, list, u8 } from '../../platform/state';

/** POST codes kept for the inspector (the newest last). */
const HISTORY = 32;

export interface DebugPortsOptions {
  /** A POST code was written (port 0x80 or 0x190). */
  onPostCode?(code: number, port: number): void;
  /** A byte for the 0xE9 console. */
  onConsoleByte?(byte: number): void;
  /** isa-debug-exit: the guest asks to stop with this exit status. */
  exit?(status: number): void;
}

export class DebugPorts implements Stateful {
  readonly stateName = 'debug-ports';
  readonly stateVersion = DEBUG_PORTS_STATE.version;

  private lastPostCode = 0;
  private postHistory: number[] = [];

  constructor(private readonly options: DebugPortsOptions = {}) {}

  register(io: IoPorts): void {
    const h: PortHandler = {
      read: (port, size) => this.read(port, size),
      write: (port, size, value) => this.write(port, size, value),
    };
    io.register(0x80, 1, h, this.stateName);
    io.register(0x190, 1, h, this.stateName);
    io.register(0xe9, 1, h, this.stateName);
    io.register(0xf4, 4, h, this.stateName);
  }

  get postCode(): number {
    return this.lastPostCode;
  }

  /** Recent distinct POST codes, oldest first. */
  get postCodes(): readonly number[] {
    return this.postHistory;
  }

  read(port: number, _size: AccessSize): number {
    if (port === 0xe9) return 0xe9; // lets software detect the console
    if (port === 0x80 || port === 0x190) return this.lastPostCode;
    return 0xff;
  }

  write(port: number, size: AccessSize, value: number): void {
    if (port === 0x80 || port === 0x190) {
      const code = value & 0xff;
      this.options.onPostCode?.(code, port);
      // Linux's I/O delay writes the same byte over and over: only record changes.
      if (code !== this.lastPostCode || this.postHistory.length === 0) {
        this.postHistory.push(code);
        if (this.postHistory.length > HISTORY) this.postHistory.shift();
      }
      this.lastPostCode = code;
    } else if (port === 0xe9) {
      this.options.onConsoleByte?.(value & 0xff);
    } else if (port === 0xf4) {
      const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
      this.options.exit?.(v * 2 + 1);
    }
  }

  saveState(): StateRecord {
    return DEBUG_PORTS_STATE.save(this);
  }

  loadState(state: StateRecord, version: number): void {
    DEBUG_PORTS_STATE.load(this, state, version);
  }
}

const DEBUG_PORTS_STATE = declareState('debug-ports', { lastPostCode: u8, postHistory: list(u8, HISTORY) });

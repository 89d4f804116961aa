// The PC board: guest memory, port and MMIO buses, the devices and their wiring, the
// virtual clock, and the slice runner that alternates between the wasm core and the
// devices' timers. The only file that knows which devices exist.

import * as MM from '../../engine-wasm/memory-map';
import type { AccessSize, GuestMemory, IrqLine } from './bus';
import { PortBus, MmioBus } from './io-bus';
import { VirtualClock } from './clock';
import { VcpuState } from './vcpu-state';
import { Pic8259 } from '../devices/pic-8259/pic-8259';
import { Uart16550 } from '../devices/uart-16550/uart-16550';

/** The x86 core's entry points (engine-ts/worker instantiates it). */
export interface CpuCore {
  init(id: number): number;
  reset(): void;
  run(budget: number): number;
  refresh(): void;
  getEflags(): number;
  setEflags(v: number): void;
  flushTlb(): void;
}

/** Callbacks the core makes into the board (mirrors engine-ts/worker/wasm-core CoreHost). */
export interface BoardCoreHost {
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
  mmioRead(addr: number, size: number): number;
  mmioWrite(addr: number, size: number, value: number): void;
  intAck(): number;
  msrHost(write: number, index: number, lo: number, hi: number): number;
  cpuidHost(leaf: number, sub: number): number;
  crWrite(reg: number, value: number): void;
  hypercall(): number;
}

export interface BoardOptions {
  ramBytes: number;
  /** Serial console output (COM1). */
  onConsole?: (bytes: Uint8Array) => void;
  /** Port 0xE9 debug console and POST codes (ports 0x80, 0x190). */
  debugPorts?: boolean;
  onDebugOut?: (bytes: Uint8Array) => void;
  onPostCode?: (code: number, port: number) => void;
  /** Guest wrote V to port 0xF4 (isa-debug-exit): exit code (V << 1) | 1. */
  onDebugExit?: (code: number) => void;
  /** Unix seconds of the guest's RTC at power-on (injected: the engine never reads the host clock). */
  rtcStartSeconds?: number;
}

export class GuestRam implements GuestMemory {
  readonly size: number;
  constructor(readonly memory: WebAssembly.Memory, size: number) { this.size = size; }
  private bytes(): Uint8Array { return new Uint8Array(this.memory.buffer, MM.RAM_BASE, this.size); }
  view(addr: number, length: number): Uint8Array | null {
    if (!Number.isInteger(addr) || !Number.isInteger(length) || addr < 0 || length < 0 || addr + length > this.size) return null;
    return new Uint8Array(this.memory.buffer, MM.RAM_BASE + addr, length);
  }
  read(addr: number, dst: Uint8Array): boolean {
    const v = this.view(addr, dst.length);
    if (!v) return false;
    dst.set(v);
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    const v = this.view(addr, src.length);
    if (!v) return false;
    v.set(src);
    return true;
  }
  /** Whole RAM as bytes (for loaders). */
  all(): Uint8Array { return this.bytes(); }
}

export class Board {
  readonly ports = new PortBus();
  readonly mmio: MmioBus;
  readonly clock = new VirtualClock(1);
  readonly ram: GuestRam;
  readonly vcpu: VcpuState;
  readonly pic: Pic8259;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  private core: CpuCore | null = null;
  private consoleBuf: number[] = [];
  private debugBuf: number[] = [];
  /** Set when the guest asked to end the run (port 0xF4) or the machine shut down. */
  exitCode: number | null = null;
  /** Counts of VM exits by kind, for the emulated-vs-PV comparison. */
  readonly exits = { io: 0, mmio: 0, hypercall: 0, halt: 0 };
  resetRequested = false;

  constructor(readonly memory: WebAssembly.Memory, readonly options: BoardOptions) {
    this.ram = new GuestRam(memory, options.ramBytes);
    this.mmio = new MmioBus(options.ramBytes);
    this.vcpu = new VcpuState(memory, 0);
    // Devices read live guest time: the cycle count the core publishes before each host call.
    const nowView = new Float64Array(memory.buffer, this.vcpu.base + MM.R_NOW, 1);
    this.clock.setSource(() => nowView[0]);
    this.clock.onPreempt = () => this.vcpu.raisePending(MM.PEND_EXIT);
    const intr: IrqLine = {
      set: (level) => (level ? this.vcpu.raisePending(MM.PEND_INTR) : this.vcpu.clearPending(MM.PEND_INTR)),
    };
    this.pic = new Pic8259(intr);
    this.pic.register(this.ports);
    const consoleSink = { transmit: (b: number) => { this.consoleBuf.push(b); } };
    this.com1 = new Uart16550('com1', this.pic.irq(4), this.clock, consoleSink);
    this.com1.register(this.ports, 0x3f8);
    this.com2 = new Uart16550('com2', this.pic.irq(3), this.clock, { transmit: () => {} });
    this.com2.register(this.ports, 0x2f8);
    this.setLowMemTypes();
    if (options.debugPorts !== false) this.registerDebugPorts();
  }

  /** Memory below 1 MiB: RAM, except the VGA window (MMIO) and the BIOS area (ROM). */
  private setLowMemTypes(): void {
    const t = new Uint8Array(this.memory.buffer, MM.CTRL_BASE + MM.CTRL_LOWMEM_TYPE, 256);
    for (let p = 0; p < 256; p++) {
      const a = p << 12;
      t[p] = a >= 0xa0000 && a < 0xc0000 ? MM.MEMT_MMIO : MM.MEMT_RAM;
    }
  }

  /** Mark [0xC0000, 0x100000) ROM (after a BIOS image was copied there). */
  protectBiosArea(): void {
    const t = new Uint8Array(this.memory.buffer, MM.CTRL_BASE + MM.CTRL_LOWMEM_TYPE, 256);
    for (let p = 0xc0; p < 0x100; p++) t[p] = MM.MEMT_ROM;
  }

  private registerDebugPorts(): void {
    const o = this.options;
    this.ports.register(0xe9, 1, {
      read: () => 0xe9, // Bochs/QEMU convention: reading the port returns 0xE9 (presence check)
      write: (_p, _s, v) => { this.debugBuf.push(v & 0xff); },
    }, 'debug console 0xe9');
    const post = { read: () => 0xff, write: (p: number, _s: AccessSize, v: number) => o.onPostCode?.(v & 0xff, p) };
    this.ports.register(0x80, 1, post, 'POST code 0x80');
    this.ports.register(0x190, 1, post, 'POST code 0x190');
    this.ports.register(0xf4, 1, {
      read: () => 0xff,
      write: (_p, _s, v) => {
        this.exitCode = ((v & 0xff) << 1) | 1;
        o.onDebugExit?.(this.exitCode);
        this.vcpu.raisePending(MM.PEND_EXIT);
      },
    }, 'isa-debug-exit 0xf4');
  }

  /** Callbacks for the core (see engine-ts/worker/wasm-core.ts). */
  readonly coreHost: BoardCoreHost = {
    ioRead: (port, size) => { this.exits.io++; return this.ports.read(port, size as AccessSize); },
    ioWrite: (port, size, value) => { this.exits.io++; this.ports.write(port, size as AccessSize, value); },
    mmioRead: (addr, size) => { this.exits.mmio++; return this.mmio.read(addr, size as AccessSize); },
    mmioWrite: (addr, size, value) => { this.exits.mmio++; this.mmio.write(addr, size as AccessSize, value); },
    intAck: () => this.acknowledgeInterrupt(),
    msrHost: () => 1,
    cpuidHost: () => 0,
    crWrite: () => {},
    hypercall: () => { this.exits.hypercall++; return -1; },
  };

  private acknowledgeInterrupt(): number {
    if (!this.pic.intrAsserted) return -1;
    return this.pic.acknowledge();
  }

  attachCore(core: CpuCore): void {
    this.core = core;
    if (core.init(0) !== 0) throw new Error('x86 core: memory map version mismatch');
    core.reset();
  }

  get cpu(): CpuCore {
    if (!this.core) throw new Error('board has no CPU core attached');
    return this.core;
  }

  /** Guest time in ns: the vCPU's virtual cycle counter (1 cycle = 1 ns), published at R_NOW. */
  private syncClock(): void {
    new Float64Array(this.memory.buffer, this.vcpu.base + MM.R_NOW, 1)[0] = Number(this.vcpu.icount);
  }

  /**
   * Run the vCPU for at most `maxInstructions`, stopping early at the next timer deadline,
   * then fire due timers. Returns the core's exit reason.
   */
  runSlice(maxInstructions: number): number {
    const core = this.cpu;
    this.syncClock();
    const now = this.clock.now();
    const next = this.clock.nextDeadline();
    let budget = maxInstructions;
    if (next !== Infinity) budget = Math.max(1, Math.min(budget, Math.ceil(next - now)));
    this.clock.sliceEnd = now + budget;
    const exit = core.run(budget);
    this.clock.sliceEnd = Infinity;
    this.syncClock();
    this.clock.runDue();
    this.flushOutput();
    if (exit === MM.EXIT_HALT) this.exits.halt++;
    return exit;
  }

  /**
   * The vCPU is halted waiting for an interrupt: jump guest time to the next timer deadline
   * (and fire it). Returns the ns skipped, or -1 if nothing is scheduled (only outside
   * input can wake the guest).
   */
  skipToNextEvent(maxNs = Infinity): number {
    this.syncClock();
    const next = this.clock.nextDeadline();
    if (next === Infinity) return -1;
    const now = this.clock.now();
    const target = Math.min(next, now + maxNs);
    const skip = Math.max(0, Math.ceil(target - now));
    this.vcpu.icount = this.vcpu.icount + BigInt(skip);
    this.syncClock();
    this.clock.runDue();
    this.flushOutput();
    return skip;
  }

  /** Guest time of the next scheduled event, or Infinity. */
  nextEventTime(): number { return this.clock.nextDeadline(); }
  now(): number { this.syncClock(); return this.clock.now(); }

  /** Console input (typed by the user) for COM1. */
  sendConsoleInput(bytes: ArrayLike<number>): void {
    this.com1.receive(bytes);
  }

  private flushOutput(): void {
    if (this.consoleBuf.length) {
      const out = Uint8Array.from(this.consoleBuf);
      this.consoleBuf.length = 0;
      this.options.onConsole?.(out);
    }
    if (this.debugBuf.length) {
      const out = Uint8Array.from(this.debugBuf);
      this.debugBuf.length = 0;
      this.options.onDebugOut?.(out);
    }
  }
}

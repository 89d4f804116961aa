// The Linux benchmark's procedure, the same under Node and in a page (linux-bench.ts runs it
// in both; linux-bench-page.ts is the page's side): power an emulator on, wait for the
// prompt, type the two workloads, and take the figures. Nothing here needs Node: the host's
// own meters (CPU time, event-loop use) and the console's echo come in through `MeasureHost`.
import { ConsoleSession, PhaseError, type ConsoleEvents, type ConsoleGuest } from './console-session';
import type { MachineConfig, MachineHandle } from '../../engine-ts/api';

/** One measured stretch of a run: host wall time, guest time and host load during it. */
export interface PhaseFigures {
  /** Host wall clock, seconds. */
  wallS?: number;
  /** Guest clock (/proc/uptime difference), seconds. */
  guestS?: number;
  /** Guest instructions retired during the phase (null: the emulator cannot tell). */
  instructions?: number | null;
  /** Share of the phase the Node main thread was busy (event-loop utilisation), %. */
  busyPct?: number;
  /** Process CPU time (all threads, user + system), seconds. */
  cpuS?: number;
  /** pvlab only: where the phase's wall time went, and its VM exits. */
  split?: EmulatorSplit;
}

/** Cumulative counters of an emulator that can tell where its time goes (pvlab). */
export interface EmulatorSplit {
  /** In the core (wasm), without its calls into the device models, s. */
  coreS: number;
  /** In the device models (JS): called from the core, and timers between core runs, s. */
  devicesS: number;
  /** Guest time skipped while the vCPU was halted, s. */
  idleSkippedS: number;
  exits: { io: number; mmio: number; hypercall: number; halt: number };
}

/** b - a, field by field (the split of a stretch from two cumulative readings). */
export function splitDelta(a: EmulatorSplit, b: EmulatorSplit): EmulatorSplit {
  return {
    coreS: b.coreS - a.coreS,
    devicesS: b.devicesS - a.devicesS,
    idleSkippedS: b.idleSkippedS - a.idleSkippedS,
    exits: {
      io: b.exits.io - a.exits.io, mmio: b.exits.mmio - a.exits.mmio,
      hypercall: b.exits.hypercall - a.exits.hypercall, halt: b.exits.halt - a.exits.halt,
    },
  };
}

export interface EmulatorFigures {
  name: string;
  /** Creation of the emulator until it runs (wasm compile, image copies), wall s. */
  setupS?: number;
  /** Power-on (creation) until the first byte on the serial console, wall s. */
  firstOutputS?: number;
  /** Power-on until `pvlab: ready`, wall s. */
  readyS?: number;
  /** Power-on until the shell prompt, wall s. */
  promptS?: number;
  /** Guest uptime read at the prompt (the guest's own idea of how long it booted), s. */
  uptimeAtPromptS?: number;
  /** Power-on until the prompt: busy/CPU over the whole stretch, instructions since running. */
  boot: PhaseFigures;
  loop: PhaseFigures;
  dd: PhaseFigures;
  /** The first failure (phase and reason), if the run did not finish. */
  error?: string;
}

/** A missing prerequisite (emulator, BIOS, guest): the message says what to install or build. */
export class SetupError extends Error {
  constructor(message: string) { super(message); this.name = 'SetupError'; }
}

export const LOOP_ITERATIONS = 100_000;
export const DD_MIB = 16;
/** MD5 of DD_MIB MiB of zeros (what md5sum must print). */
export const DD_MD5 = '2c7ab85a893283e98c931e9511add182'; // (linux-bench.ts checks it against node:crypto)
const SETUP_TIMEOUT_S = 120;
/** The guest's shell prompt, and the line its /init prints before it (guests/linux/rootfs/init). */
export const PROMPT = /root@pvlab:~# /;
export const READY = /pvlab: ready\n/;

/** What the host running the benchmark gives it. */
export interface MeasureHost {
  bootTimeoutS: number;
  workTimeoutS: number;
  /** The host's load meter for a stretch (Node: event-loop use and CPU time; a page has none). */
  meter(): { stop(): Pick<PhaseFigures, 'busyPct' | 'cpuS'> };
  progress(name: string, msg: string): void;
  /** Console bytes as they arrive (--verbose), or null. */
  echo: ((b: Uint8Array) => void) | null;
}

/** One emulator: power on, wait for the prompt, run the two workloads. Failures end up in `error`; the console transcript comes back too. */
export async function measure(guest: ConsoleGuest, host: MeasureHost): Promise<{ figures: EmulatorFigures; transcript: Uint8Array }> {
  const fig: EmulatorFigures = { name: guest.name, boot: {}, loop: {}, dd: {} };
  const session = new ConsoleSession(host.echo);
  const bootDeadline = host.bootTimeoutS * 1000;
  const t0 = performance.now();
  const since = (t: number) => (t - t0) / 1000;
  const bootMeter = host.meter();
  const progress = (msg: string) => host.progress(guest.name, msg);
  try {
    // Power on.
    let setupTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      guest.start(session.events).catch((e: unknown) => {
        throw e instanceof SetupError ? e : new PhaseError('setup', (e as Error).message);
      }),
      new Promise<never>((_, reject) => {
        setupTimer = setTimeout(() => reject(new PhaseError('setup', `not running after ${SETUP_TIMEOUT_S} s`)), SETUP_TIMEOUT_S * 1000);
      }),
    ]).finally(() => clearTimeout(setupTimer));
    fig.setupS = since(performance.now());
    progress(`running after ${fig.setupS.toFixed(2)} s; booting (timeout ${host.bootTimeoutS} s)`);

    // Boot to the prompt.
    const ready = await session.waitFor(READY, bootDeadline - (performance.now() - t0), `boot to \`pvlab: ready\` (limit ${host.bootTimeoutS} s from power-on)`, 0);
    fig.readyS = since(ready.atMs);
    const prompt = await session.waitFor(PROMPT, bootDeadline - (performance.now() - t0), `boot to the shell prompt (limit ${host.bootTimeoutS} s from power-on)`, ready.end);
    fig.promptS = since(prompt.atMs);
    fig.boot = { wallS: fig.promptS, instructions: await guest.instructions(), split: (await guest.split?.()) ?? undefined, ...bootMeter.stop() };
    if (session.firstOutputMs !== null) fig.firstOutputS = since(session.firstOutputMs);
    progress(`\`pvlab: ready\` after ${fig.readyS.toFixed(2)} s, prompt after ${fig.promptS.toFixed(2)} s`);

    // Typed workloads. Each command line reads the guest clock around its body and ends
    // with a marker the echo of the typed line cannot contain ("BENCH""-END" is typed).
    let from = prompt.end;
    const step = async (name: string, body: string, extra: string, phase: PhaseFigures | null) => {
      const before = await guest.instructions();
      const split0 = await guest.split?.();
      const m0 = host.meter();
      const start = performance.now();
      const bodyFrom = session.length;
      guest.send(`read t0 x < /proc/uptime; ${body}; read t1 x < /proc/uptime; echo "BENCH""-END ${name} $t0 $t1 ${extra}"\r`);
      const end = await session.waitFor(
        new RegExp(`BENCH-END ${name} (\\d+\\.\\d+) (\\d+\\.\\d+) ?(\\S*)\\n`), host.workTimeoutS * 1000, `${name} (limit ${host.workTimeoutS} s)`, from,
      );
      const wallS = (end.atMs - start) / 1000;
      const after = await guest.instructions();
      const split1 = await guest.split?.();
      if (phase) {
        Object.assign(phase, {
          wallS,
          split: split0 && split1 ? splitDelta(split0, split1) : undefined,
          guestS: Number(end.match[2]) - Number(end.match[1]),
          instructions: before !== null && after !== null ? after - before : null,
          ...m0.stop(),
        });
      }
      const next = await session.waitFor(PROMPT, host.workTimeoutS * 1000, `${name}: prompt after the command (limit ${host.workTimeoutS} s)`, end.end);
      from = next.end;
      return { t0: Number(end.match[1]), extra: end.match[3], output: session.slice(bodyFrom, end.match.index) };
    };

    fig.uptimeAtPromptS = (await step('uptime', ':', '', null)).t0;

    progress(`shell loop ${LOOP_ITERATIONS} (timeout ${host.workTimeoutS} s)`);
    const loop = await step('loop', `i=0; while [ $i -lt ${LOOP_ITERATIONS} ]; do i=$((i+1)); done`, '$i', fig.loop);
    if (loop.extra !== String(LOOP_ITERATIONS)) throw new PhaseError('loop', `the loop ended with i=${loop.extra}, not ${LOOP_ITERATIONS}`);
    progress(`loop: ${fig.loop.wallS!.toFixed(2)} s wall, ${fig.loop.guestS!.toFixed(2)} s guest`);

    progress(`dd ${DD_MIB} MiB into md5sum (timeout ${host.workTimeoutS} s)`);
    const dd = await step('dd', `dd if=/dev/zero bs=1M count=${DD_MIB} | md5sum`, '', fig.dd);
    const got = /\b([0-9a-f]{32})\s+-/.exec(dd.output)?.[1];
    if (got !== DD_MD5) throw new PhaseError('dd', `md5sum printed ${got ?? 'nothing'}, expected ${DD_MD5} (the MD5 of ${DD_MIB} MiB of zeros)`);
    progress(`dd: ${fig.dd.wallS!.toFixed(2)} s wall, ${fig.dd.guestS!.toFixed(2)} s guest`);
  } catch (e) {
    if (!(e instanceof PhaseError) && !(e instanceof SetupError)) throw e;
    fig.error = e.message;
    progress(`FAILED: ${e.message}`);
  } finally {
    await guest.shutdown().catch((e: unknown) => progress(`shutdown failed: ${(e as Error).message}`));
  }
  const raw = session.raw;
  const transcript = new Uint8Array(raw.reduce((n, b) => n + b.length, 0));
  raw.reduce((at, b) => { transcript.set(b, at); return at + b.length; }, 0);
  return { figures: fig, transcript };
}

/** Where the bench's server puts the page's inputs (linux-bench-page.ts), and their names. */
export const LINUX_FILES_URL = '/__linux-bench/';
export const LINUX_PAGE_FILES = ['bzImage', 'initrd.img', 'bios.bin', 'libv86.mjs', 'v86.wasm'] as const;

/** What the page is asked to run, and what it hands back per emulator. */
export interface LinuxPageOptions {
  which: Array<'v86' | 'pvlab'>;
  cmdline: string;
  memoryMiB: number;
  decompress: 'loader' | 'guest';
  bootTimeoutS: number;
  workTimeoutS: number;
}
export interface LinuxPageRun { figures: EmulatorFigures; transcript: string }

/** The guest, as both emulators get it. */
export interface LinuxImage {
  kernel: Uint8Array;
  initrd: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  /** pvlab only: who unpacks the kernel (GuestSpec's `decompress`; v86 always runs the bzImage's decompressor). */
  decompress?: 'loader' | 'guest';
}

/** pvlab through `create` (Node's createMachine with the core's path, or the page's). */
export function pvlabGuest(create: (config: MachineConfig, events: { onConsole(b: Uint8Array): void }) => Promise<MachineHandle>, image: LinuxImage): ConsoleGuest {
  let machine: MachineHandle | null = null;
  let shuttingDown = false;
  return {
    name: 'pvlab',
    async start(events: ConsoleEvents) {
      machine = await create({
        memoryMiB: image.memoryMiB,
        guest: { kind: 'linux', kernel: image.kernel, initrd: image.initrd, cmdline: image.cmdline, name: 'bzImage', decompress: image.decompress },
        pacing: 'fast',
        rtcStartSeconds: Math.floor(Date.now() / 1000),
      }, { onConsole: (b) => events.onOutput(b) });
      machine.run().then(
        (reason) => { if (!shuttingDown) events.onStopped(describeStop(reason)); },
        (e: unknown) => { if (!shuttingDown) events.onStopped(`run failed: ${(e as Error).message}`); },
      );
    },
    send(text: string) { machine?.sendInput(new TextEncoder().encode(text)); },
    async instructions() { return machine ? (await machine.stats()).instructions : null; },
    async split() {
      if (!machine) return null;
      const st = await machine.stats();
      return {
        coreS: (st.split.coreMs - st.split.hostCallMs) / 1000,
        devicesS: (st.split.hostCallMs + st.split.timersMs) / 1000,
        idleSkippedS: st.split.idleSkippedNs / 1e9,
        exits: st.exits,
      };
    },
    async shutdown() {
      if (!machine || shuttingDown) return;
      shuttingDown = true;
      await machine.stop();
      machine.dispose();
    },
  };
}

function describeStop(reason: { kind: string; code?: number; message?: string }): string {
  if (reason.message) return `${reason.kind}: ${reason.message}`;
  if (reason.code !== undefined) return `${reason.kind} (code ${reason.code})`;
  return reason.kind;
}

/** The part of v86's public API the benchmarks use (node_modules/v86/v86.d.ts). */
export interface V86Instance {
  add_listener(event: 'serial0-output-byte', cb: (byte: number) => void): void;
  add_listener(event: 'emulator-loaded' | 'emulator-started', cb: () => void): void;
  serial0_send(text: string): void;
  get_instruction_counter(): number;
  save_state(): Promise<ArrayBuffer>;
  restore_state(state: ArrayBuffer): Promise<void>;
  run(): void;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** v86, made (and started: `autostart`) by `create`. */
export function v86Guest(create: () => Promise<V86Instance>): ConsoleGuest {
  let emulator: V86Instance | null = null;
  let poll: ReturnType<typeof setInterval> | null = null;
  let shuttingDown = false;
  // v86's counter is a wrapping u32; sample it often enough to never miss a wrap
  // (2^32 instructions take several seconds at any speed v86 reaches).
  let last = 0;
  let total = 0;
  const sample = (): number => {
    if (!emulator) return total;
    const now = emulator.get_instruction_counter() >>> 0;
    total += (now - last) >>> 0;
    last = now;
    return total;
  };
  return {
    name: 'v86',
    async start(events: ConsoleEvents) {
      const e = await create();
      emulator = e;
      await new Promise<void>((resolve) => {
        e.add_listener('emulator-started', () => resolve());
        e.add_listener('serial0-output-byte', (b) => events.onOutput(Uint8Array.of(b)));
      });
      last = e.get_instruction_counter() >>> 0;
      poll = setInterval(sample, 250);
    },
    send(text: string) { emulator?.serial0_send(text); },
    async instructions() { return sample(); },
    async shutdown() {
      if (!emulator || shuttingDown) return;
      shuttingDown = true;
      if (poll) clearInterval(poll);
      const e = emulator;
      await e.stop();
      await e.destroy();
      emulator = null;
    },
  };
}

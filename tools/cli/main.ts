// The `pvlab` command line. Subcommands: run (flat binaries), more to come (boot, disk, bench).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BiosError, ConfigError, ImageError, SnapshotError, createMachine, isMultiboot, parseBzImage, readSnapshotHeader, resumeMachine,
  type ImageRef, type MachineHandle, type StopReason,
} from '../../engine-ts/api/node';
import { diskCommand } from './disk';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
}

const USAGE = `usage: pvlab <command> [options]

commands:
  run IMAGE [--load-addr ADDR] [--mem MiB] [--realtime] [--debug-ports]
      Run a flat binary in real mode with COM1 on stdin/stdout; exits when the guest halts.
  run --bios ROM [--mem MiB] [--debug-ports]
      Map a 64/128/256 KiB firmware image below 1 MiB and below 4 GiB and start at the
      reset vector; --debug-ports prints port 0xE9 output and POST codes (0x80, 0x190).
  boot --kernel FILE [--initrd FILE] [--append CMDLINE] [--module FILE[=CMDLINE]]...
       [--mem MiB] [--cpus N] [--until REGEX] [--timeout SECONDS] [--send TEXT] [--realtime] [--debug-ports]
       [--xen] [--console serial|hvc0] [--disk FILE.vhd]... [--pv-disk FILE.vhd]... [--nic MAC]...
       [--save-at REGEX] [--save FILE.pvsnap]
      Boot a Linux bzImage (or a Multiboot v1 kernel, with modules) with the serial
      console (COM1) on stdin/stdout. A guest write of V to port 0xF4 exits with (V << 1) | 1.
      --cpus     virtual CPUs, 1 to 8 (default 1): each runs in its own thread
      --xen      Xen HVM mode: the guest finds Xen and binds its PV drivers (implied by
                 --pv-disk, --nic and --console hvc0); give the kernel console=hvc0 to use hvc0
      --disk     attach a VHD on the emulated IDE controller (/dev/sda, /dev/sdb, ...)
      --pv-disk  attach a VHD through blkback (xvda, xvdb, ...)
      --until   exit 0 as soon as the console output matches REGEX
      --timeout exit 124 if nothing ended the run after SECONDS (wall clock)
      --send    type TEXT (then Enter) once a shell prompt appears
      --save     with --save-at REGEX: save the machine to FILE.pvsnap when the console matches
                 (with --until and no --save-at: just before it stops on the match)
  resume FILE.pvsnap [--send TEXT]... [--until REGEX] [--timeout SECONDS] [--save-at REGEX --save FILE]
       [--base FULL.pvsnap] [--kernel FILE] [--initrd FILE] [--disk FILE.vhd]... [--pv-disk FILE.vhd]... [--realtime]
      Resume a saved machine where it was (its console as it was, then live). A delta needs its
      --base; the guest images (for a reboot) are found by content among --kernel/--initrd and
      the bundled Linux guest.
  snapshot info [--json] FILE.pvsnap
      What a snapshot holds: its machine, guest, size, and the console's last lines.
  disk create|info|convert|commit|compact|check ...
      VHD images in the spirit of qemu-img (pvlab disk --help for details).
`;

class UsageError extends Error {}

function parseNumber(s: string, what: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${what}: not a number: ${s}`);
  return n;
}

/** --mem: a number as typed (a fraction is the config check's to refuse, with its own words). */
function parseMemory(s: string): number {
  const n = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`--mem: not a number of MiB: ${s}`);
  return n;
}

function readImage(file: string): Uint8Array {
  let st: fs.Stats;
  try { st = fs.statSync(file); } catch { throw new ImageError(`${file}: no such file`); }
  if (!st.isFile()) throw new ImageError(`${file}: not a regular file`);
  if (st.size === 0) throw new ImageError(`${file}: image is empty`);
  if (st.size > 64 << 20) throw new ImageError(`${file}: ${st.size} bytes is too large for a flat image`);
  return new Uint8Array(fs.readFileSync(file));
}

export async function runCommand(args: string[], io: CliIo, root: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'load-addr': { type: 'string' },
      mem: { type: 'string' },
      realtime: { type: 'boolean' },
      'debug-ports': { type: 'boolean' },
      bios: { type: 'string' },
    },
  });
  if (values.bios !== undefined && positionals.length) throw new UsageError('run: give either IMAGE or --bios ROM');
  if (values.bios === undefined && positionals.length !== 1) throw new UsageError('run: expected exactly one IMAGE');
  const file = values.bios ?? positionals[0];
  const image = values.bios !== undefined ? readFileArg(file, 'BIOS image', 1 << 20) : readImage(file);
  const loadAddress = values['load-addr'] !== undefined ? parseNumber(values['load-addr'], '--load-addr') : undefined;
  const memoryMiB = values.mem !== undefined ? parseMemory(values.mem) : 32;
  let machine;
  try {
    machine = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB,
      guest: values.bios !== undefined ? { kind: 'bios', rom: image, name: path.basename(file) } : { kind: 'flat', image, loadAddress, name: path.basename(file) },
      pacing: values.realtime ? 'realtime' : 'fast',
      debugPorts: true,
    }, {
      onConsole: (b) => io.stdout.write(b),
      onDebug: (b) => { if (values['debug-ports']) io.stderr.write(b); },
      onPostCode: (c, p) => { if (values['debug-ports']) io.stderr.write(`POST 0x${p.toString(16)}: 0x${c.toString(16).padStart(2, '0')}\n`); },
    });
  } catch (e) {
    if (e instanceof ImageError || e instanceof BiosError) throw new ImageError(`${file}: ${e.message}`);
    throw e;
  }
  return await driveConsole(machine, io);
}

function readFileArg(file: string, what: string, maxBytes: number): Uint8Array {
  let st: fs.Stats;
  try { st = fs.statSync(file); } catch { throw new ImageError(`${file}: no such file`); }
  if (!st.isFile()) throw new ImageError(`${file}: not a regular file`);
  if (st.size > maxBytes) throw new ImageError(`${file}: ${what} of ${st.size} bytes is too large`);
  return new Uint8Array(fs.readFileSync(file));
}

export async function bootCommand(args: string[], io: CliIo, root: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      append: { type: 'string' },
      mem: { type: 'string' },
      cpus: { type: 'string' },
      until: { type: 'string' },
      timeout: { type: 'string' },
      send: { type: 'string', multiple: true },
      module: { type: 'string', multiple: true },
      xen: { type: 'boolean' },
      console: { type: 'string' },
      disk: { type: 'string', multiple: true },
      'pv-disk': { type: 'string', multiple: true },
      nic: { type: 'string', multiple: true },
      realtime: { type: 'boolean' },
      'debug-ports': { type: 'boolean' },
      save: { type: 'string' },
      'save-at': { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`boot: unexpected argument ${positionals[0]}`);
  if (!values.kernel) throw new UsageError('boot: --kernel FILE is required');
  const session = sessionOptions(values);
  const kernel = readFileArg(values.kernel, 'kernel', 256 << 20);
  const multiboot = isMultiboot(kernel);
  if (!multiboot) {
    try { parseBzImage(kernel); } catch (e) {
      throw new ImageError(`${values.kernel}: ${(e as Error).message} (and no Multiboot header either)`);
    }
  } else if (values.initrd) throw new UsageError('boot: --initrd is for Linux kernels; give Multiboot modules with --module');
  const initrd = values.initrd ? readFileArg(values.initrd, 'initrd', 1 << 30) : undefined;
  const modules = (values.module ?? []).map((spec) => {
    const eq = spec.indexOf('=');
    const file = eq >= 0 ? spec.slice(0, eq) : spec;
    return { data: readFileArg(file, 'module', 512 << 20), cmdline: eq >= 0 ? spec.slice(eq + 1) : file };
  });
  if (modules.length && !multiboot) throw new UsageError('boot: --module needs a Multiboot kernel');
  const memoryMiB = values.mem !== undefined ? parseMemory(values.mem) : 128;
  const vcpus = values.cpus !== undefined ? parseNumber(values.cpus, '--cpus') : 1;
  if (values.console !== undefined && values.console !== 'serial' && values.console !== 'hvc0') throw new UsageError('--console must be serial or hvc0');
  const pvDisks = values['pv-disk'] ?? [];
  const nics = values.nic ?? [];
  const xen = !!values.xen || pvDisks.length > 0 || nics.length > 0 || values.console === 'hvc0';
  const disks = diskArgs(values.disk, pvDisks);
  const out = consoleOutput(io);
  let machine: MachineHandle;
  try {
    machine = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB,
      vcpus,
      guest: multiboot
        ? { kind: 'multiboot', kernel, cmdline: values.append ?? '', modules, name: path.basename(values.kernel) }
        : { kind: 'linux', kernel, initrd, cmdline: values.append ?? 'console=ttyS0', name: path.basename(values.kernel) },
      pacing: values.realtime ? 'realtime' : 'fast',
      debugPorts: true,
      rtcStartSeconds: Math.floor(Date.now() / 1000),
      xen,
      consoleInput: values.console === 'hvc0' ? 'hvc0' : 'serial',
      disks,
      nics: nics.map((mac) => ({ mac })),
    }, {
      onConsole: (b) => out.write(b),
      onDebug: (b) => { if (values['debug-ports']) io.stderr.write(b); },
      onPostCode: (c, p) => { if (values['debug-ports']) io.stderr.write(`POST 0x${p.toString(16)}: 0x${c.toString(16).padStart(2, '0')}\n`); },
    });
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${values.kernel}: ${e.message}`);
    throw e;
  }
  return runSession(machine, io, session, out, disks);
}

// ---- a console session: --send, --until, --timeout, --save-at/--save ----------------------

interface SessionOptions {
  until: RegExp | null;
  sends: string[];
  timeout: number;
  saveAt: RegExp | null;
  save: string | null;
}

function regexArg(v: string | undefined, what: string): RegExp | null {
  if (v === undefined) return null;
  try { return new RegExp(v); } catch (e) { throw new UsageError(`${what}: ${(e as Error).message}`); }
}

function sessionOptions(values: { until?: string; send?: string[]; timeout?: string; save?: string; 'save-at'?: string }): SessionOptions {
  const o: SessionOptions = {
    until: regexArg(values.until, '--until'),
    sends: [...(values.send ?? [])],
    timeout: values.timeout !== undefined ? parseNumber(values.timeout, '--timeout') : 0,
    saveAt: regexArg(values['save-at'], '--save-at'),
    save: values.save ?? null,
  };
  if (o.saveAt && !o.save) throw new UsageError('--save-at needs --save FILE.pvsnap');
  if (o.save && !o.saveAt && !o.until) throw new UsageError('--save needs --save-at REGEX (or --until REGEX: it then saves when that matches)');
  return o;
}

function diskArgs(ide: string[] | undefined, pv: string[] | undefined): Array<{ bus: 'ide' | 'xen'; file: string }> {
  const disks = [...(ide ?? []).map((file) => ({ bus: 'ide' as const, file })), ...(pv ?? []).map((file) => ({ bus: 'xen' as const, file }))];
  for (const d of disks) {
    let st: fs.Stats;
    try { st = fs.statSync(d.file); } catch { throw new ImageError(`${d.file}: no such file`); }
    if (!st.isFile()) throw new ImageError(`${d.file}: not a regular file`);
  }
  return disks;
}

/** The console's bytes go to stdout and into a transcript the session watches. */
interface ConsoleOut {
  write(b: Uint8Array): void;
  transcript: string;
  /** The last 16 KiB, as the screen shows them (a snapshot keeps them). */
  tail: string;
  listener: (() => void) | null;
}

function consoleOutput(io: CliIo): ConsoleOut {
  const dec = new TextDecoder();
  const out: ConsoleOut = {
    transcript: '',
    tail: '',
    listener: null,
    write(b) {
      io.stdout.write(b);
      const text = dec.decode(b, { stream: true });
      out.transcript = (out.transcript + text).slice(-(1 << 19));
      out.tail = (out.tail + text).slice(-16384);
      out.listener?.();
    },
  };
  return out;
}

/** Where `pvlab boot --save FILE` keeps the machine's disk i as it was at the save (pvlab resume takes it from there). */
function diskCopyPath(snapshot: string, i: number): string {
  return `${snapshot.replace(/\.pvsnap$/, '')}.disk${i}.vhd`;
}

async function runSession(machine: MachineHandle, io: CliIo, o: SessionOptions, out: ConsoleOut, disks: Array<{ file: string }> = []): Promise<number> {
  let matched = false;
  let saving: Promise<void> | null = null;
  let saveError: string | null = null;
  const prompt = /(^|\n)[^\n]*[#$] $/;
  const save = (): Promise<void> => {
    // The disks are copied while the machine is still paused: they match the snapshot.
    const copyDisks = () => disks.forEach((d, i) => fs.copyFileSync(d.file, diskCopyPath(o.save!, i)));
    saving ??= machine.snapshot({ console: out.tail, whilePaused: copyDisks }).then((file) => {
      fs.writeFileSync(o.save!, file);
      io.stderr.write(`pvlab: saved ${o.save} (${(file.length / 2 ** 20).toFixed(1)} MiB)${disks.length ? ` and its disk${disks.length > 1 ? 's' : ''} as ${disks.map((_, i) => diskCopyPath(o.save!, i)).join(', ')}` : ''}\n`);
    }, (e: unknown) => { saveError = (e as Error).message; });
    return saving;
  };
  const check = () => {
    if (o.saveAt && !saving && o.saveAt.test(out.transcript)) void save();
    if (o.until && !matched && o.until.test(out.transcript)) {
      matched = true;
      // With --save but no --save-at, the save happens here, before the machine stops.
      void (o.save && !o.saveAt ? save() : Promise.resolve()).then(() => saving).then(() => machine.stop());
    }
    // Busybox's line editor queries the cursor (ESC[6n) after printing the prompt: ignore escapes.
    if (o.sends.length && prompt.test(out.transcript.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''))) {
      const text = o.sends.shift()!;
      out.transcript = '';
      machine.sendInput(new TextEncoder().encode(text + '\r'));
    }
  };
  out.listener = check;
  check(); // a resumed machine may sit at a prompt already
  let timedOut = false;
  const timer = o.timeout > 0 ? setTimeout(() => { timedOut = true; void machine.stop(); }, o.timeout * 1000) : null;
  try {
    const code = await driveConsole(machine, io, o.until === null);
    await saving;
    if (saveError) { io.stderr.write(`pvlab: could not save ${o.save}: ${saveError}\n`); return 1; }
    if (matched) return 0;
    if (timedOut) { io.stderr.write(`pvlab: timed out after ${o.timeout} s${o.until ? ` without matching ${o.until}` : ''}\n`); return 124; }
    return code;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

// ---- pvlab resume / pvlab snapshot info ------------------------------------------------------

function readSnapshotArg(file: string): Uint8Array {
  let st: fs.Stats;
  try { st = fs.statSync(file); } catch { throw new ImageError(`${file}: no such file`); }
  if (!st.isFile()) throw new ImageError(`${file}: not a regular file`);
  if (st.size > 4 * 2 ** 30) throw new ImageError(`${file}: ${st.size} bytes is larger than any snapshot`);
  return new Uint8Array(fs.readFileSync(file));
}

export async function resumeCommand(args: string[], io: CliIo, root: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      until: { type: 'string' },
      timeout: { type: 'string' },
      send: { type: 'string', multiple: true },
      save: { type: 'string' },
      'save-at': { type: 'string' },
      base: { type: 'string' },
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      disk: { type: 'string', multiple: true },
      'pv-disk': { type: 'string', multiple: true },
      realtime: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('resume: give one FILE.pvsnap');
  const file = positionals[0];
  const session = sessionOptions(values);
  const snap = readSnapshotArg(file);
  const base = values.base ? readSnapshotArg(values.base) : undefined;
  // Guest images for a reboot: those given, else the bundled Linux guest's.
  const candidates = [values.kernel, values.initrd, path.join(root, 'public/guests/linux/bzImage'), path.join(root, 'public/guests/linux/initrd.img')]
    .filter((f): f is string => !!f && fs.existsSync(f));
  const images = (ref: ImageRef) => {
    for (const f of candidates) if (fs.statSync(f).size === ref.size) return new Uint8Array(fs.readFileSync(f));
    return undefined;
  };
  const out = consoleOutput(io);
  // Disks: those given, else the copies `pvlab boot --save` made beside the snapshot.
  // A disk the snapshot carries (saved in the page) is written out there the first time.
  let disks = diskArgs(values.disk, values['pv-disk']);
  let carriedDiskFile: ((c: { slot: number }) => string) | undefined;
  if (disks.length === 0) {
    const { header } = await readSnapshotHeader(snap).catch((e: unknown) => { throw new ImageError(`${file}: ${(e as Error).message}`); });
    const carried = new Set(header.disks.map((d) => d.slot));
    const copies = header.config.disks.map((d, i) => ({ bus: d.bus, file: diskCopyPath(file, i) }));
    disks = copies.filter((d, i) => !carried.has(i) || fs.existsSync(d.file));
    if (disks.length < copies.length) carriedDiskFile = (c) => diskCopyPath(file, c.slot);
    for (const d of disks) if (!fs.existsSync(d.file)) throw new ImageError(`${file}: its machine had a disk; give it with --disk/--pv-disk (${d.file} is not there)`);
  }
  let r: Awaited<ReturnType<typeof resumeMachine>>;
  try {
    r = await resumeMachine(path.join(root, 'engine-wasm/build/core.wasm'), snap, { onConsole: (b) => out.write(b) }, {
      base, images, disks, carriedDiskFile, pacing: values.realtime ? 'realtime' : 'fast',
    });
  } catch (e) {
    // (A base image not found: say where pvlab looks, and how to give it.)
    if (e instanceof SnapshotError) throw new ImageError(`${file}: ${e.message}${/needs that file$/.test(e.message) ? ' (pvlab looks among the bundled guest\'s public/guests/linux/bzImage and initrd.img and the --kernel and --initrd given)' : ''}`);
    throw e;
  }
  // The screen as it was, then the session goes on from there.
  io.stdout.write(r.header.console);
  out.transcript = r.header.console;
  out.tail = r.header.console.slice(-16384);
  // (The carried disks are beside the snapshot now, with the copies: all of them in slot order.)
  const held = carriedDiskFile ? r.header.config.disks.map((d, i) => ({ bus: d.bus, file: diskCopyPath(file, i) })) : disks;
  return runSession(r.machine, io, session, out, held);
}

export async function snapshotCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'info') throw new UsageError('snapshot: the subcommand is info (pvlab snapshot info [--json] FILE.pvsnap)');
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('snapshot info: give one FILE.pvsnap');
  const file = positionals[0];
  const bytes = readSnapshotArg(file);
  let info: Awaited<ReturnType<typeof readSnapshotHeader>>;
  try {
    info = await readSnapshotHeader(bytes);
  } catch (e) {
    if (e instanceof SnapshotError) throw new ImageError(`${file}: ${e.message}`);
    throw e;
  }
  const h = info.header;
  if (values.json) {
    io.stdout.write(JSON.stringify({ sha256: info.sha256, size: bytes.length, ...h }, null, 2) + '\n');
    return 0;
  }
  const c = h.config;
  const pages = h.blocks.filter((b) => b.kind === 'pages');
  const lines = [
    `file:      ${file} (${(bytes.length / 2 ** 20).toFixed(2)} MiB, sha256 ${info.sha256})`,
    `format:    ${h.format} (saved by ${h.engine}, vCPU layout ${h.mapVersion})`,
    `kind:      ${h.base ? `delta against ${h.base}` : 'full snapshot'}`,
    `machine:   ${c.memoryMiB} MiB, ${c.xen ? 'Xen PV devices' : 'emulated devices'}, ${c.disks.length} disk(s), ${c.nics.length} NIC(s), pacing ${c.pacing}`,
    `guest:     ${c.guest.kind}${c.guest.name ? ` "${c.guest.name}"` : ''}${c.guest.cmdline ? `, command line: ${c.guest.cmdline}` : ''}`,
    ...c.guest.images.map((im) => `           ${im.role} ${im.size} bytes, sha256 ${im.sha256}`),
    `saved at:  guest time ${(h.guestNs / 1e9).toFixed(3)} s, cycle ${h.icount}`,
    `memory:    ${pages.length} page blocks, ${(pages.reduce((a, b) => a + b.rawLength, 0) / 2 ** 20).toFixed(1)} MiB raw, ${(pages.reduce((a, b) => a + b.length, 0) / 2 ** 20).toFixed(1)} MiB compressed`,
    'console (last lines):',
    ...h.console.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n/).slice(-6).map((l) => `  | ${l}`),
  ];
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** Connect stdin to the guest console until the machine stops; returns the exit code. */
async function driveConsole(machine: MachineHandle, io: CliIo, eofSendsCtrlD = true): Promise<number> {
  const stdin = io.stdin;
  const tty = !!stdin.isTTY && typeof stdin.setRawMode === 'function';
  if (tty) stdin.setRawMode!(true);
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    // Newlines from a pipe or terminal arrive as LF; a serial terminal sends CR.
    machine.sendInput(bytes.map((b) => (b === 0x0a ? 0x0d : b)));
  };
  const onEnd = () => { if (eofSendsCtrlD) machine.sendInput(new Uint8Array([0x04])); }; // EOF: Ctrl-D
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  let reason: StopReason;
  try {
    reason = await machine.run();
  } finally {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    if (tty) stdin.setRawMode!(false);
    stdin.pause();
    machine.dispose();
  }
  switch (reason.kind) {
    case 'halted': return 0;
    case 'poweroff': return 0;
    case 'exit': return reason.code;
    case 'stopped': return 130;
    case 'triple-fault': io.stderr.write('pvlab: the guest triple-faulted (machine shutdown)\n'); return 2;
    case 'error': io.stderr.write(`pvlab: ${reason.message}\n`); return 2;
  }
}

export async function main(args: string[], io: CliIo = process as unknown as CliIo, root = process.cwd()): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case 'run': return await runCommand(rest, io, root);
      case 'boot': return await bootCommand(rest, io, root);
      case 'resume': return await resumeCommand(rest, io, root);
      case 'snapshot': return await snapshotCommand(rest, io);
      case 'disk': return await diskCommand(rest, { stdout: (s) => io.stdout.write(s), stderr: (s) => io.stderr.write(s) });
      case undefined: case '-h': case '--help': case 'help':
        io.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default: throw new UsageError(`unknown command: ${cmd}`);
    }
  } catch (e) {
    if (e instanceof UsageError) { io.stderr.write(`pvlab: ${e.message}\n${USAGE}`); return 2; }
    if (e instanceof ImageError || e instanceof ConfigError) { io.stderr.write(`pvlab: ${e.message}\n`); return 1; }
    if (e instanceof TypeError && /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(String((e as { code?: string }).code ?? e.message))) {
      io.stderr.write(`pvlab: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

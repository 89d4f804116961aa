// The `pvlab` command line. Subcommands: run (flat binaries), more to come (boot, disk, bench).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BiosError, ConfigError, ImageError, createMachine, isMultiboot, parseBzImage, type StopReason } from '../../engine-ts/api/node';
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
       [--mem MiB] [--until REGEX] [--timeout SECONDS] [--send TEXT] [--realtime] [--debug-ports]
       [--xen] [--console serial|hvc0] [--disk FILE.vhd]... [--pv-disk FILE.vhd]... [--nic MAC]...
      Boot a Linux bzImage (or a Multiboot v1 kernel, with modules) with the serial
      console (COM1) on stdin/stdout. A guest write of V to port 0xF4 exits with (V << 1) | 1.
      --xen      Xen HVM mode: the guest finds Xen and binds its PV drivers (implied by
                 --pv-disk, --nic and --console hvc0); give the kernel console=hvc0 to use hvc0
      --disk     attach a VHD on the emulated IDE controller (/dev/sda, /dev/sdb, ...)
      --pv-disk  attach a VHD through blkback (xvda, xvdb, ...)
      --until   exit 0 as soon as the console output matches REGEX
      --timeout exit 124 if nothing ended the run after SECONDS (wall clock)
      --send    type TEXT (then Enter) once a shell prompt appears
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
    },
  });
  if (positionals.length) throw new UsageError(`boot: unexpected argument ${positionals[0]}`);
  if (!values.kernel) throw new UsageError('boot: --kernel FILE is required');
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
  let until: RegExp | null = null;
  if (values.until !== undefined) {
    try { until = new RegExp(values.until); } catch (e) { throw new UsageError(`--until: ${(e as Error).message}`); }
  }
  const timeout = values.timeout !== undefined ? parseNumber(values.timeout, '--timeout') : 0;
  if (values.console !== undefined && values.console !== 'serial' && values.console !== 'hvc0') throw new UsageError('--console must be serial or hvc0');
  const pvDisks = values['pv-disk'] ?? [];
  const nics = values.nic ?? [];
  const xen = !!values.xen || pvDisks.length > 0 || nics.length > 0 || values.console === 'hvc0';
  const disks = [
    ...(values.disk ?? []).map((file) => ({ bus: 'ide' as const, file })),
    ...pvDisks.map((file) => ({ bus: 'xen' as const, file })),
  ];
  for (const d of disks) {
    let st: fs.Stats;
    try { st = fs.statSync(d.file); } catch { throw new ImageError(`${d.file}: no such file`); }
    if (!st.isFile()) throw new ImageError(`${d.file}: not a regular file`);
  }
  const sends = [...(values.send ?? [])];
  let machine: Awaited<ReturnType<typeof createMachine>>;
  let transcript = '';
  let matched = false;
  const prompt = /(^|\n)[^\n]*[#$] $/;
  const onOutput = (b: Uint8Array) => {
    io.stdout.write(b);
    transcript += new TextDecoder().decode(b);
    if (transcript.length > 1 << 20) transcript = transcript.slice(-(1 << 19));
    if (until && !matched && until.test(transcript)) {
      matched = true;
      void machine.stop();
    }
    // Busybox's line editor queries the cursor (ESC[6n) after printing the prompt: ignore escapes.
    if (sends.length && prompt.test(transcript.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''))) {
      const text = sends.shift()!;
      transcript = '';
      machine.sendInput(new TextEncoder().encode(text + '\r'));
    }
  };
  try {
    machine = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB,
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
      onConsole: onOutput,
      onDebug: (b) => { if (values['debug-ports']) io.stderr.write(b); },
      onPostCode: (c, p) => { if (values['debug-ports']) io.stderr.write(`POST 0x${p.toString(16)}: 0x${c.toString(16).padStart(2, '0')}\n`); },
    });
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${values.kernel}: ${e.message}`);
    throw e;
  }
  let timedOut = false;
  const timer = timeout > 0 ? setTimeout(() => { timedOut = true; void machine.stop(); }, timeout * 1000) : null;
  try {
    const code = await driveConsole(machine, io, until === null);
    if (matched) return 0;
    if (timedOut) { io.stderr.write(`pvlab: timed out after ${timeout} s${until ? ` without matching ${until}` : ''}\n`); return 124; }
    return code;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Connect stdin to the guest console until the machine stops; returns the exit code. */
async function driveConsole(machine: Awaited<ReturnType<typeof createMachine>>, io: CliIo, eofSendsCtrlD = true): Promise<number> {
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

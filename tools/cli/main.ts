// The `pvlab` command line. Subcommands: run (flat binaries), more to come (boot, disk, bench).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMachine, ConfigError, type StopReason } from '../../engine-ts/api/node';
import { ImageError } from '../../engine-ts/machine/loaders/flat';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
}

const USAGE = `usage: pvlab <command> [options]

commands:
  run IMAGE [--load-addr ADDR] [--mem MiB] [--realtime] [--debug-ports]
      Run a flat binary in real mode with COM1 on stdin/stdout; exits when the guest halts.
`;

class UsageError extends Error {}

function parseNumber(s: string, what: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${what}: not a number: ${s}`);
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
    },
  });
  if (positionals.length !== 1) throw new UsageError('run: expected exactly one IMAGE');
  const file = positionals[0];
  const image = readImage(file);
  const loadAddress = values['load-addr'] !== undefined ? parseNumber(values['load-addr'], '--load-addr') : undefined;
  const memoryMiB = values.mem !== undefined ? parseNumber(values.mem, '--mem') : 32;
  let machine;
  try {
    machine = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
      memoryMiB,
      guest: { kind: 'flat', image, loadAddress, name: path.basename(file) },
      pacing: values.realtime ? 'realtime' : 'fast',
      debugPorts: true,
    }, {
      onConsole: (b) => io.stdout.write(b),
      onDebug: (b) => { if (values['debug-ports']) io.stderr.write(b); },
      onPostCode: (c, p) => { if (values['debug-ports']) io.stderr.write(`POST 0x${p.toString(16)}: 0x${c.toString(16).padStart(2, '0')}\n`); },
    });
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${file}: ${e.message}`);
    throw e;
  }
  return await driveConsole(machine, io);
}

/** Connect stdin to the guest console until the machine stops; returns the exit code. */
async function driveConsole(machine: Awaited<ReturnType<typeof createMachine>>, io: CliIo): Promise<number> {
  const stdin = io.stdin;
  const tty = !!stdin.isTTY && typeof stdin.setRawMode === 'function';
  if (tty) stdin.setRawMode!(true);
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    // Newlines from a pipe or terminal arrive as LF; a serial terminal sends CR.
    machine.sendInput(bytes.map((b) => (b === 0x0a ? 0x0d : b)));
  };
  const onEnd = () => machine.sendInput(new Uint8Array([0x04])); // EOF: send Ctrl-D
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

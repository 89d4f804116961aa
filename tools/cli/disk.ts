// `pvlab disk create|info|convert|commit|compact|check`: VHD image tools in the spirit of
// qemu-img, over host files (FileStore). Errors are one line: `pvlab disk: FILE: problem`.

import { randomBytes } from 'node:crypto';
import { stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BlockStoreError, DEFAULT_BLOCK_SIZE, FileStore, MAX_PARENT_DEPTH, VhdDisk, VhdError, checkVhd, copyNonZero, describeLayout, fileParentResolver,
  loadLayout, openVhd, rawDevice, rawToVhd, sizeForCreate, uuidV4, vhdToRaw, vhdToVhd,
  type OpenParent, type ParentLocatorSpec, type ParentRef, type VhdInfo,
} from '../../engine-ts/api/node';

export interface CommandIo {
  stdout(s: string): void;
  stderr(s: string): void;
}

const USAGE = `usage: pvlab disk COMMAND ...
  create [--subformat fixed|dynamic] [--parent PARENT.vhd] [--block-size SIZE] [--exact-size] FILE [SIZE]
  info [--json] FILE
  convert [--subformat fixed|dynamic] [--exact-size] [-f FMT] [-O FMT] IN OUT   (FMT: vhd|raw; else from .vhd/.raw/.img)
  commit CHILD.vhd
  compact FILE.vhd
  check FILE.vhd
SIZE: bytes, or with a suffix K, M, G, T (powers of 1024), e.g. 64M, 2G.
`;

/** Reported as `pvlab disk: FILE: message`. */
class CliError extends Error {
  constructor(readonly file: string | undefined, message: string, readonly exitCode = 1) {
    super(message);
  }
}


export async function diskCommand(argv: string[], io: CommandIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd === undefined ? io.stderr : io.stdout)(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  let file: string | undefined;
  try {
    switch (cmd) {
      case 'create':
        return await create(rest, io, (f) => (file = f));
      case 'info':
        return await info(rest, io, (f) => (file = f));
      case 'convert':
        return await convert(rest, io, (f) => (file = f));
      case 'commit':
        return await commit(rest, io, (f) => (file = f));
      case 'compact':
        return await compact(rest, io, (f) => (file = f));
      case 'check':
        return await check(rest, io, (f) => (file = f));
      default:
        throw new CliError(undefined, `unknown command '${cmd}' (try 'pvlab disk --help')`, 2);
    }
  } catch (e) {
    const { where, message, code } = describeError(e, file);
    io.stderr(`pvlab disk: ${where ? `${where}: ` : ''}${message}\n`);
    return code;
  }
}

function describeError(e: unknown, file: string | undefined): { where?: string; message: string; code: number } {
  if (e instanceof CliError) return { where: e.file, message: e.message, code: e.exitCode };
  if (e instanceof VhdError || e instanceof BlockStoreError) return { where: file, message: e.message, code: 1 };
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    const where = typeof err.path === 'string' ? err.path : file;
    const known: Record<string, string> = {
      ENOENT: 'no such file or directory', EACCES: 'permission denied', EISDIR: 'is a directory',
      ENOSPC: 'no space left on device', EROFS: 'read-only file system', EEXIST: 'file exists',
    };
    return { where, message: known[err.code] ?? `${err.code}: ${err.message}`, code: 1 };
  }
  return { where: file, message: `internal error: ${e instanceof Error ? e.message : String(e)}`, code: 1 };
}

type Seen = (file: string) => void;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(args: string[], options: T, positionals: [number, number]) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError(undefined, `${(e as Error).message.split('\n')[0]} (try 'pvlab disk --help')`, 2);
  }
  const n = parsed.positionals.length;
  if (n < positionals[0] || n > positionals[1]) throw new CliError(undefined, `wrong number of arguments (try 'pvlab disk --help')`, 2);
  return parsed;
}

/** "64M", "2G", "1000000", "1.5G", "64MiB" to bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new CliError(undefined, `invalid size '${s}' (examples: 64M, 2G, 1048576)`, 2);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.ceil(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new CliError(undefined, `invalid size '${s}'`, 2);
  return bytes;
}

/** 8390656 -> "8 MiB", as qemu-img prints sizes. */
export function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${Number(v.toPrecision(3))} ${units[u]}`;
}

function newIdentity() {
  return { now: new Date(), uniqueId: uuidV4(randomBytes(16)) };
}

// Parent resolution and opening of VHD files live in engine-ts/disk/vhd-files.ts (shared with
// the machine host).

// ---------------------------------------------------------------------------------------------
// Commands

async function create(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { values, positionals } = parse(args, {
    subformat: { type: 'string' }, parent: { type: 'string' }, 'block-size': { type: 'string' }, 'exact-size': { type: 'boolean' },
  }, [1, 2]);
  const [file, sizeText] = positionals;
  seen(file);
  const subformat = values.subformat ?? (values.parent ? 'differencing' : 'dynamic');
  if (!['fixed', 'dynamic'].includes(subformat) && !(values.parent && subformat === 'differencing')) {
    throw new CliError(file, `--subformat must be fixed or dynamic, not '${subformat}'`, 2);
  }
  if (values.parent && values.subformat && values.subformat !== 'differencing') {
    throw new CliError(file, '--parent makes a differencing image; --subformat does not apply', 2);
  }
  const blockSize = values['block-size'] ? parseSize(values['block-size']) : DEFAULT_BLOCK_SIZE;
  const requested = sizeText !== undefined ? parseSize(sizeText) : undefined;

  if (values.parent) {
    const parentPath = values.parent;
    if (path.resolve(parentPath) === path.resolve(file)) throw new CliError(file, 'an image cannot be its own parent', 2);
    const parent = await openVhd(parentPath, 'read').catch((e) => {
      throw e instanceof VhdError ? new CliError(parentPath, e.message) : e;
    });
    try {
      if (requested !== undefined && requested !== parent.size) {
        throw new CliError(file, `a differencing image has its parent's size (${parent.size}), not ${requested}`, 2);
      }
      const absParent = path.resolve(parentPath);
      const rel = path.relative(path.dirname(path.resolve(file)), absParent);
      const locators: ParentLocatorSpec[] = [
        { platform: 'W2ru', path: `.${path.sep}${rel}`.replace(/^\.[\\/]\.\./, '..') },
        { platform: 'W2ku', path: absParent },
        { platform: 'MacX', path: pathToFileURL(absParent).href },
      ];
      const store = await FileStore.open(file, 'create');
      const disk = await VhdDisk.create(store, {
        type: 'differencing', parent, ...newIdentity(), blockSize, parentName: path.basename(absParent), parentLocators: locators,
      });
      io.stdout(`Formatting '${file}', fmt=vpc subformat=differencing size=${disk.size} backing_file=${parentPath}\n`);
      await disk.flush();
      await store.close();
      return 0;
    } finally {
      await parent.close();
    }
  }

  if (requested === undefined) throw new CliError(file, 'size is required (e.g. 64M)', 2);
  const store = await FileStore.open(file, 'create');
  try {
    const disk = await VhdDisk.create(store, {
      type: subformat as 'fixed' | 'dynamic', size: requested, exactSize: values['exact-size'], blockSize, ...newIdentity(),
    });
    io.stdout(`Formatting '${file}', fmt=vpc subformat=${subformat} size=${disk.size}\n`);
    if (disk.size !== requested) {
      const g = sizeForCreate(requested, values['exact-size']).geometry;
      io.stdout(`note: ${requested} bytes rounded up to ${disk.size} (CHS ${g.cylinders}/${g.heads}/${g.sectorsPerTrack}); --exact-size keeps the size\n`);
    }
    await disk.close();
    return 0;
  } catch (e) {
    await store.close();
    await unlink(file).catch(() => undefined);
    throw e;
  }
}

async function info(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, [1, 1]);
  const [file] = positionals;
  seen(file);
  const store = await FileStore.open(file, 'read');
  let data: VhdInfo & { image: string; parentFile?: string; parentProblem?: string };
  try {
    data = { image: file, ...describeLayout(await loadLayout(store)) };
  } finally {
    await store.close();
  }
  if (data.type === 'differencing') {
    const s = await FileStore.open(file, 'read');
    try {
      const d = await VhdDisk.open(s, { readOnly: true, openParent: fileParentResolver(file, 0, (p) => (data.parentFile = p)) });
      await d.close();
    } catch (e) {
      await s.close();
      if (!(e instanceof VhdError)) throw e;
      data.parentProblem = e.message;
    }
  }
  if (values.json) {
    io.stdout(`${JSON.stringify(data, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `image: ${file}`,
    `file format: vpc (VHD)`,
    `type: ${data.type}`,
    `virtual size: ${humanSize(data.virtualSize)} (${data.virtualSize} bytes)`,
    `stored size: ${humanSize(data.fileSize)} (${data.fileSize} bytes, the image file)`,
    `size from: ${data.sizeRule === 'chs' ? 'C×H×S' : 'current size'} (current size ${data.currentSize})`,
    `geometry (C/H/S): ${data.geometry.cylinders}/${data.geometry.heads}/${data.geometry.sectorsPerTrack}`,
    `creator: ${data.creator.application} ${data.creator.version} (${data.creator.hostOs})`,
    `unique id: ${data.uniqueId}`,
    `timestamp: ${data.timestamp}`,
  ];
  if (data.savedState) lines.push('saved state: yes');
  if (data.blocks) {
    lines.push(`block size: ${humanSize(data.blockSize!)} (${data.blockSize} bytes)`);
    lines.push(`blocks allocated: ${data.blocks.allocated} of ${data.blocks.total}`);
  }
  if (data.parent) {
    lines.push(`parent name: ${data.parent.name}`);
    lines.push(`parent unique id: ${data.parent.uniqueId}`);
    lines.push(`parent timestamp: ${data.parent.timestamp}`);
    for (const l of data.parent.locators) lines.push(`parent locator ${l.kind}: ${l.text ?? '(binary)'}`);
    lines.push(data.parentFile ? `parent file: ${data.parentFile}` : `parent file: not found (${data.parentProblem})`);
  }
  for (const w of data.warnings) lines.push(`warning: ${w}`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

type Format = 'vhd' | 'raw';

function formatOf(file: string, given: string | undefined): Format {
  const g = given?.toLowerCase();
  if (g === 'vhd' || g === 'vpc') return 'vhd';
  if (g === 'raw' || g === 'img') return 'raw';
  if (g !== undefined) throw new CliError(file, `unknown format '${given}' (vhd or raw)`, 2);
  const ext = path.extname(file).toLowerCase();
  if (ext === '.vhd') return 'vhd';
  if (ext === '.raw' || ext === '.img') return 'raw';
  throw new CliError(file, 'cannot tell the format from the extension (use .vhd, .raw, .img, or -f/-O)', 2);
}

async function convert(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { values, positionals } = parse(args, {
    subformat: { type: 'string' }, 'exact-size': { type: 'boolean' }, f: { type: 'string', short: 'f' }, O: { type: 'string', short: 'O' },
  }, [2, 2]);
  const [input, output] = positionals;
  seen(input);
  const inFmt = formatOf(input, values.f);
  const outFmt = formatOf(output, values.O);
  const subformat = values.subformat ?? 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw new CliError(output, `--subformat must be fixed or dynamic, not '${subformat}'`, 2);
  if (path.resolve(input) === path.resolve(output)) throw new CliError(output, 'input and output are the same file', 2);

  const src = inFmt === 'vhd' ? await openVhd(input, 'read') : await FileStore.open(input, 'read');
  seen(output);
  const out = await FileStore.open(output, 'create');
  try {
    const opts = { type: subformat, exactSize: values['exact-size'], ...newIdentity() } as const;
    if (src instanceof VhdDisk) {
      if (outFmt === 'raw') await vhdToRaw(src, out);
      else await (await vhdToVhd(src, out, { ...opts, exactSize: values['exact-size'] ?? sizeForCreate(src.size).size !== src.size })).flush();
    } else if (outFmt === 'vhd') {
      await (await rawToVhd(src, out, opts)).flush();
    } else {
      await copyNonZero(rawDevice(src), { write: (s, b) => out.write(s * 512, b) });
      if (out.size < src.size) await out.truncate(src.size);
      await out.flush();
    }
    await out.close();
    return 0;
  } catch (e) {
    await out.close();
    await unlink(output).catch(() => undefined);
    throw e;
  } finally {
    await (src instanceof VhdDisk ? src.close() : src.close());
  }
}

async function commit(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { positionals } = parse(args, {}, [1, 1]);
  const [file] = positionals;
  seen(file);
  const child = await openVhd(file, 'read', { writableParent: true });
  try {
    if (child.type !== 'differencing') throw new CliError(file, `a ${child.type} image has no parent to commit into`);
    const { sectors } = await child.commit();
    io.stdout(`Image committed (${sectors * 512} bytes into the parent).\n`);
    return 0;
  } finally {
    await child.close();
  }
}

async function compact(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { positionals } = parse(args, {}, [1, 1]);
  const [file] = positionals;
  seen(file);
  const disk = await openVhd(file, 'read-write');
  try {
    const r = await disk.compact();
    io.stdout(`${file}: ${r.sizeBefore} -> ${r.sizeAfter} bytes (${r.droppedBlocks} block(s) dropped, ${r.movedBlocks} moved)\n`);
    return 0;
  } finally {
    await disk.close();
  }
}

async function check(args: string[], io: CommandIo, seen: Seen): Promise<number> {
  const { positionals } = parse(args, {}, [1, 1]);
  const [file] = positionals;
  seen(file);
  const store = await FileStore.open(file, 'read');
  try {
    const report = await checkVhd(store, { openParent: fileParentResolver(file) });
    for (const e of report.errors) io.stdout(`error: ${e}\n`);
    for (const w of report.warnings) io.stdout(`warning: ${w}\n`);
    if (report.errors.length > 0) {
      io.stdout(`${file}: ${report.errors.length} error(s) found.\n`);
      return 1;
    }
    io.stdout('No errors were found on the image.\n');
    return 0;
  } finally {
    await store.close();
  }
}

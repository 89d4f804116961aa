// The two emulators of the Linux benchmark under Node, behind one small interface
// (ConsoleGuest, made in linux-measure.ts): pvlab through its Node API, v86 through its npm
// package. Both get the same kernel, initrd, command line and RAM size; both run in this
// process, on the main thread. Also: the guest's files, and v86's prerequisites.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMachine } from '../../engine-ts/api/node';
import type { ConsoleGuest } from './console-session';
import { pvlabGuest, SetupError, v86Guest, type LinuxImage, type V86Instance } from './linux-measure';

export { SetupError, type LinuxImage } from './linux-measure';



const GUEST_DIR = 'public/guests/linux';

export interface GuestFiles {
  image: Omit<LinuxImage, 'memoryMiB'>;
  kernelVersion: string;
  describe: string;
}

/** Read the guest the page uses, checking it against its manifest. */
export function loadGuest(root: string): GuestFiles {
  const dir = path.join(root, GUEST_DIR);
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) throw new SetupError(`${GUEST_DIR}/manifest.json is missing: run \`npm run guest:linux\``);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as {
    kernelVersion?: unknown; cmdline?: unknown; files?: Record<string, { size?: unknown; sha256?: unknown }>;
  };
  if (typeof manifest.cmdline !== 'string') throw new SetupError(`${GUEST_DIR}/manifest.json: no cmdline`);
  if (!/(^| )console=ttyS0(,| |$)/.test(manifest.cmdline)) {
    throw new SetupError(`${GUEST_DIR}/manifest.json: the command line must put the console on ttyS0 (got "${manifest.cmdline}")`);
  }
  const read = (name: string): Uint8Array => {
    const file = path.join(dir, name);
    const entry = manifest.files?.[name];
    if (!entry || typeof entry.size !== 'number' || typeof entry.sha256 !== 'string') {
      throw new SetupError(`${GUEST_DIR}/manifest.json: no size/sha256 for ${name}`);
    }
    if (!fs.existsSync(file)) throw new SetupError(`${GUEST_DIR}/${name} is missing: run \`npm run guest:linux\``);
    if (fs.statSync(file).size !== entry.size) throw new SetupError(`${GUEST_DIR}/${name}: size differs from the manifest: run \`npm run guest:linux\``);
    const data = new Uint8Array(fs.readFileSync(file));
    if (createHash('sha256').update(data).digest('hex') !== entry.sha256) {
      throw new SetupError(`${GUEST_DIR}/${name}: sha256 differs from the manifest: run \`npm run guest:linux\``);
    }
    return data;
  };
  const kernel = read('bzImage');
  const initrd = read('initrd.img');
  const kernelVersion = typeof manifest.kernelVersion === 'string' ? manifest.kernelVersion : 'unknown kernel';
  const sha = (name: string) => String(manifest.files?.[name]?.sha256).slice(0, 12);
  return {
    image: { kernel, initrd, cmdline: manifest.cmdline },
    kernelVersion,
    describe: `Debian ${kernelVersion} bzImage (sha256 ${sha('bzImage')}…), busybox initramfs (sha256 ${sha('initrd.img')}…)`,
  };
}

/** pvlab in this process, with the core at `coreWasmPath`. */
export function nodePvlabGuest(coreWasmPath: string, image: LinuxImage): ConsoleGuest {
  if (!fs.existsSync(coreWasmPath)) throw new SetupError(`${coreWasmPath} is missing: run \`npm run asbuild\``);
  return pvlabGuest((config, events) => createMachine(coreWasmPath, config, events), image);
}

export interface V86Paths {
  /** node_modules/v86 */
  packageDir: string;
  /** A SeaBIOS image (v86 loads bzImage through a BIOS option ROM, so it needs one). */
  bios: string;
}

/** Check that v86 and the BIOS are there before anything runs; the error says what to install. */
export function checkV86(paths: V86Paths): { version: string; biosVersion: string } {
  const pkg = path.join(paths.packageDir, 'package.json');
  const need = ['build/libv86.mjs', 'build/v86.wasm'].map((f) => path.join(paths.packageDir, f));
  if (!fs.existsSync(pkg) || need.some((f) => !fs.existsSync(f))) {
    throw new SetupError(`v86 is not installed (${paths.packageDir}): run \`npm install\` (v86 is a devDependency of the repo)`);
  }
  if (!fs.existsSync(paths.bios)) {
    throw new SetupError(`no BIOS for v86 at ${paths.bios}: install Debian's SeaBIOS (\`apt-get install -y seabios\`) or pass --bios FILE`);
  }
  const bios = fs.readFileSync(paths.bios);
  if (bios.length < 64 << 10 || bios.length > 256 << 10 || bios.length % (64 << 10) !== 0) {
    throw new SetupError(`${paths.bios}: ${bios.length} bytes is not a BIOS image (64, 128, 192 or 256 KiB expected)`);
  }
  const version = String((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version?: unknown }).version ?? 'unknown');
  // SeaBIOS keeps its version as a NUL-terminated string of its own, e.g. "1.16.2-debian-1.16.2-1".
  const m = /\0((?:rel-)?\d+\.\d+\.\d+[0-9A-Za-z.+~-]*)\0/.exec(bios.toString('latin1'));
  return { version, biosVersion: m ? `SeaBIOS ${m[1]}` : 'BIOS of unknown version' };
}

// The part of v86's public API used here (see node_modules/v86/v86.d.ts).
type V86Constructor = new (options: Record<string, unknown>) => V86Instance;

function arrayBufferOf(u8: Uint8Array): ArrayBuffer {
  return u8.slice().buffer as ArrayBuffer;
}

/** v86's constructor, from the npm package (an ES module). */
export async function importV86<T = V86Constructor>(paths: V86Paths): Promise<T> {
  const lib = path.join(paths.packageDir, 'build', 'libv86.mjs');
  const mod = (await import(pathToFileURL(lib).href)) as { V86?: T };
  if (typeof mod.V86 !== 'function') throw new SetupError(`${lib} does not export V86 (unexpected v86 version)`);
  return mod.V86;
}

/** The options that boot `image` in v86 under Node (through the BIOS, the kernel from v86's option ROM). */
export function v86Options(paths: V86Paths, image: LinuxImage): Record<string, unknown> {
  return {
    wasm_path: path.join(paths.packageDir, 'build', 'v86.wasm'),
    bios: { buffer: arrayBufferOf(new Uint8Array(fs.readFileSync(paths.bios))) },
    bzimage: { buffer: arrayBufferOf(image.kernel) },
    initrd: { buffer: arrayBufferOf(image.initrd) },
    cmdline: image.cmdline,
    memory_size: image.memoryMiB << 20,
    disable_speaker: true,
  };
}

/** v86 in this process (the npm package's build, the BIOS from `paths`). */
export function nodeV86Guest(paths: V86Paths, image: LinuxImage): ConsoleGuest {
  return v86Guest(async () => {
    const V86 = await importV86(paths);
    return new V86({ ...v86Options(paths, image), autostart: true });
  });
}

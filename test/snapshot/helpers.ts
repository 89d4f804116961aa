// Shared helpers for snapshot tests: the shipped snapshots (public/snapshots, built with the
// Linux guest) and a console-driven machine resumed from one.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { imagesFromFiles, resumeMachine, type MachineHandle, type SnapshotHeader } from '../../engine-ts/api/node';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const CORE = path.join(root, 'engine-wasm/build/core.wasm');
/** The bundled Linux guest's images: the shipped snapshots are stored relative to them (snapshot/bases.ts). */
export const GUEST_IMAGES = imagesFromFiles(['bzImage', 'initrd.img'].map((f) => path.join(root, 'public/guests/linux', f)));

export function shipped(name: string): Uint8Array {
  const f = path.join(root, 'public/snapshots', `${name}.pvsnap`);
  if (!fs.existsSync(f)) throw new Error(`${path.relative(root, f)} is missing: build it with \`node tools/run-ts.mjs tools/build-snapshots.ts\` (npm test does)`);
  return new Uint8Array(fs.readFileSync(f));
}

export function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface Resumed {
  machine: MachineHandle;
  header: SnapshotHeader;
  /** Console output since the resume. */
  output(): string;
}

export async function resume(file: Uint8Array, opts: Parameters<typeof resumeMachine>[3] = {}): Promise<Resumed> {
  let out = '';
  const dec = new TextDecoder();
  const r = await resumeMachine(CORE, file, { onConsole: (b) => { out += dec.decode(b, { stream: true }); } }, { pacing: 'fast', images: GUEST_IMAGES, ...opts });
  return { ...r, output: () => out };
}

/** Type a line at the console (the machine takes it when it next runs). */
export function type(m: MachineHandle, line: string): void {
  m.sendInput(new TextEncoder().encode(`${line}\r`));
}

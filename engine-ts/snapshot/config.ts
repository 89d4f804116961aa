// The machine's configuration as a snapshot keeps it, and back. Guest images are named by
// their SHA-256 (a Linux kernel and initrd are megabytes the host already has); small ones (a
// flat binary, a firmware ROM) travel inside the snapshot, so such a machine can always reboot.

import type { DiskSpec, GuestSpec, MachineConfig, ResolvedConfig } from '../config/machine';
import { hex, sha256 } from './bytes';
import { SnapshotError, type ImageRef, type SavedConfig } from './format';

/** Images up to this size are carried whole. */
const EMBED_LIMIT = 1 << 20;

/** Where a resumed machine finds the guest images a snapshot names (for a reboot): bytes, or undefined. */
export type ImageSource = (ref: ImageRef) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

/** The NICs and disk slots as a snapshot keeps them (they change with hot-plug; the guest does not). */
export function savedDevices(c: Pick<ResolvedConfig, 'nics' | 'disks'>): Pick<SavedConfig, 'nics' | 'disks'> {
  return {
    nics: (c.nics ?? []).map((n) => ({ mac: n.mac, devid: n.devid })),
    disks: (c.disks ?? []).map((d) => ({ bus: d.bus, readOnly: d.readOnly === true, unit: d.unit })),
  };
}

export async function savedConfig(c: ResolvedConfig): Promise<{ config: SavedConfig; embedded: Map<number, Uint8Array> }> {
  const g = c.guest;
  const images: Array<{ role: ImageRef['role']; data: Uint8Array; cmdline?: string }> = [];
  switch (g.kind) {
    case 'flat': images.push({ role: 'image', data: g.image }); break;
    case 'bios': images.push({ role: 'rom', data: g.rom }); break;
    case 'linux':
      images.push({ role: 'kernel', data: g.kernel });
      if (g.initrd) images.push({ role: 'initrd', data: g.initrd });
      break;
    case 'multiboot':
      images.push({ role: 'kernel', data: g.kernel });
      for (const m of g.modules ?? []) images.push({ role: 'module', data: m.data, cmdline: m.cmdline ?? '' });
      break;
  }
  const refs: ImageRef[] = [];
  const embedded = new Map<number, Uint8Array>();
  for (const [i, im] of images.entries()) {
    const ref: ImageRef = { role: im.role, sha256: hex(await sha256(im.data)), size: im.data.length };
    if (im.cmdline !== undefined) ref.cmdline = im.cmdline;
    refs.push(ref);
    if (im.data.length <= EMBED_LIMIT && (im.role === 'image' || im.role === 'rom')) embedded.set(i, im.data);
  }
  return {
    embedded,
    config: {
      memoryMiB: c.memoryMiB,
      vcpus: c.vcpus,
      xen: !!c.xen,
      pacing: c.pacing,
      debugPorts: c.debugPorts,
      consoleInput: c.consoleInput ?? 'serial',
      rtcStartSeconds: c.rtcStartSeconds ?? 0,
      ...savedDevices(c),
      guest: {
        kind: g.kind,
        name: g.name ?? '',
        cmdline: 'cmdline' in g ? (g.cmdline ?? '') : '',
        loadAddress: g.kind === 'flat' ? (g.loadAddress ?? 0x7c00) : 0,
        images: refs,
      },
    },
  };
}

/** The same machine (pacing is how a host runs it, not what it is): a delta needs this of its base (`disks: false`: but for its disks). */
export function sameMachine(a: SavedConfig, b: SavedConfig, opts: { disks?: boolean } = {}): boolean {
  const key = (c: SavedConfig) => JSON.stringify({ ...c, pacing: '', disks: opts.disks === false ? [] : c.disks });
  return key(a) === key(b);
}

/** The guest images a snapshot names, found again: carried ones, else asked of `images` (and checked). */
export async function findImages(saved: SavedConfig, embedded: Map<number, Uint8Array>, images: ImageSource | undefined): Promise<Array<Uint8Array | undefined>> {
  const data: Array<Uint8Array | undefined> = [];
  for (const [i, ref] of saved.guest.images.entries()) {
    let b = embedded.get(i) ?? (await images?.(ref));
    if (b && (b.length !== ref.size || hex(await sha256(b)) !== ref.sha256)) b = undefined; // not the same image
    data.push(b);
  }
  return data;
}

/**
 * The configuration of the machine a snapshot was taken of, with the host's disks for its
 * disk slots and the guest images found so far (`data`; missing ones are empty: the machine
 * runs from its memory and needs them only to boot its guest afresh).
 */
export function machineConfigOf(saved: SavedConfig, data: Array<Uint8Array | undefined>, disks: DiskSpec[] | undefined): MachineConfig {
  const empty = new Uint8Array(0);
  const at = (i: number) => data[i] ?? empty;
  const g = saved.guest;
  let guest: GuestSpec;
  switch (g.kind) {
    case 'flat': guest = { kind: 'flat', image: at(0), loadAddress: g.loadAddress, name: g.name }; break;
    case 'bios': guest = { kind: 'bios', rom: at(0), name: g.name }; break;
    case 'linux': guest = { kind: 'linux', kernel: at(0), initrd: g.images.length > 1 ? at(1) : undefined, cmdline: g.cmdline, name: g.name }; break;
    case 'multiboot':
      guest = { kind: 'multiboot', kernel: at(0), cmdline: g.cmdline, name: g.name, modules: g.images.slice(1).map((r, i) => ({ data: at(i + 1), cmdline: r.cmdline })) };
      break;
  }
  const wanted = saved.disks;
  const given = disks ?? [];
  if (given.length !== wanted.length)
    throw new SnapshotError(`the snapshot's machine has ${wanted.length} disk${wanted.length === 1 ? '' : 's'}; ${given.length} ${given.length === 1 ? 'was' : 'were'} given to resume it with`);
  given.forEach((d, i) => {
    if (d.bus !== wanted[i].bus) throw new SnapshotError(`disk ${i + 1} of the snapshot's machine is on ${wanted[i].bus === 'xen' ? 'the PV bus' : 'IDE'}; the one given is not`);
  });
  return {
    memoryMiB: saved.memoryMiB,
    vcpus: saved.vcpus,
    xen: saved.xen,
    pacing: saved.pacing,
    debugPorts: saved.debugPorts,
    consoleInput: saved.consoleInput,
    rtcStartSeconds: saved.rtcStartSeconds,
    nics: saved.nics,
    // The slots keep their units (a machine with a hot-plugged xvdb and no xvda stays so).
    disks: given.map((d, i) => (wanted[i].unit === undefined ? d : { ...d, unit: wanted[i].unit })),
    guest,
  };
}

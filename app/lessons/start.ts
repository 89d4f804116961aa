// Starting a lesson's machines: resume a shipped snapshot (a second or two) or boot the Linux
// guest with the devices the lesson asks for (new blank disks from the disk library).
import { BLKFRONT_CMDLINE, createMachine, diskLibrary, resumeMachine, type DiskSpec, type MachineEvents, type MachineHandle } from '../../engine-ts/api';
import { GUESTS } from '../guests';
import { pageFile } from '../page-files';
import type { MachineStart } from './parse';

const LINUX = GUESTS.find((g) => g.kind === 'linux')!;
const DISK_MIB = 64;

export interface Started {
  machine: MachineHandle;
  /** The screen as the snapshot left it (a resumed machine). */
  screen: string;
  xen: boolean;
}

/** A library disk for this lesson's machine (made blank the first time, reused after). */
async function lessonDisk(name: string): Promise<string> {
  const lib = diskLibrary();
  const found = (await lib.list()).find((d) => d.name === name);
  if (found && !found.inUse) return found.id;
  if (found) throw new Error(`the disk "${name}" is in use by another machine`);
  return (await lib.create({ name, type: 'dynamic', size: DISK_MIB * 1024 * 1024 })).disk.id;
}

export async function startMachine(spec: MachineStart, index: number, lesson: string, events: MachineEvents): Promise<Started> {
  if (spec.kind === 'snapshot') {
    if (!LINUX || LINUX.kind !== 'linux') throw new Error('no Linux guest is offered by this page');
    const file = await pageFile(`snapshots/${spec.snapshot}.pvsnap`,
      `the snapshot ${spec.snapshot} is not built on this server: run \`node tools/run-ts.mjs tools/build-snapshots.ts\` (it needs the Linux guest), then reload`);
    const { machine, header } = await resumeMachine(file, events, { imageUrls: [LINUX.kernel, LINUX.initrd], pacing: 'realtime' });
    return { machine, screen: header.console, xen: header.config.xen };
  }
  if (LINUX.kind !== 'linux') throw new Error('no Linux guest is offered by this page');
  const notBuilt = 'the Linux guest is not built on this server: run `npm run guest:linux`, then reload';
  const [kernel, initrd] = await Promise.all([pageFile(LINUX.kernel, notBuilt), pageFile(LINUX.initrd, notBuilt)]);
  const xen = !!spec.xen;
  let cmdline = LINUX.cmdline;
  if (xen) cmdline = `${cmdline.replace(/console=ttyS0[^ ]*/, 'console=hvc0')} ${BLKFRONT_CMDLINE}`;
  if (spec.append) cmdline = `${cmdline} ${spec.append}`;
  const disks: DiskSpec[] = [];
  for (const bus of spec.disks ?? []) disks.push({ bus, idbDisk: await lessonDisk(`lesson ${lesson} m${index + 1} ${bus === 'ide' ? 'sd' : 'xvd'}${disks.filter((d) => d.bus === bus).length}`) });
  const machine = await createMachine({
    memoryMiB: LINUX.memoryMiB,
    pacing: 'realtime',
    rtcStartSeconds: Math.floor(Date.now() / 1000),
    xen,
    consoleInput: xen ? 'hvc0' : 'serial',
    nics: xen ? [{ mac: `02:50:56:00:02:${(index + 1).toString(16).padStart(2, '0')}` }] : undefined,
    disks,
    guest: { kind: 'linux', kernel, initrd, cmdline, name: `${LINUX.title} ${index + 1}` },
  }, events);
  return { machine, screen: '', xen };
}

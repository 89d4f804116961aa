// The toolstack (what libxl does in dom0): before a guest boots it fills xenstore with the
// domain's directory, sets up the xenstore and console rings and their event channels (HVM
// params 1/2 and 17/18), and creates backends for disks and NICs with both halves of their
// xenbus directories in state Initialising (spec §11).
//
// Permissions follow libxl: /local/domain/D is dom0's and readable by D; the subtrees the
// guest writes (device, control, data, error, drivers, attr) belong to D; backend
// directories are dom0's and readable by D.

import type { BlockDevice } from '../disk/block-device';
import type { Hypervisor } from './hypervisor';
import type { HvmDomain } from './domain';
import type { ConsoleSink } from './interfaces';
import type { FramePort, FrameUplink } from '../network/net-switch';
import { XenStore, type XsPerm } from './xenstore/store';
import { XsClient } from './xenstore/client';
import { XenstoreRingServer } from './xenstore/ring-server';
import { domainPath } from './xenstore/paths';
import { ConsoleBackend } from './backends/console-back';
import { BlkBack, type BlkbackOptions } from './backends/blkback';
import { NetBack } from './backends/netback';
import { EthernetSwitch, parseMac } from '../network/net-switch';
import { backendPathFor, frontendPathFor, type BackendContext } from './backends/xenbus-backend';
import {
  DOMID_DOM0,
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  PAGE_SIZE,
  XenbusState,
} from './xen-public';

export interface DomainSetup {
  /** Guest frame for the xenstore ring (outside RAM, E820-reserved, backed by the board). */
  storeGfn: number;
  /** Guest frame for the console ring. */
  consoleGfn: number;
  /** Where hvc0 output goes. */
  console: ConsoleSink;
  /** memory/target and static-max, in KiB. */
  memoryKiB: number;
}

export interface GuestRecord {
  domain: HvmDomain;
  store: XenstoreRingServer;
  storePort: number;
  console: ConsoleBackend;
  disks: Map<number, BlkBack>;
  nics: Map<number, NetBack>;
}

/** xvd disk number -> virtual-device number (spec §11): xvda = 51712. */
export function xvdDevid(disk: number, partition = 0): number {
  if (!Number.isInteger(disk) || disk < 0 || disk > 0xfffff) throw new RangeError(`disk ${disk} out of range`);
  return disk < 16 ? (202 << 8) | (disk << 4) | partition : (1 << 28) | (disk << 8) | partition;
}

/** "xvda", "xvdb", ..., "xvdz", "xvdaa" ... */
export function xvdName(disk: number): string {
  let s = '';
  let n = disk + 1;
  while (n > 0) {
    n--;
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return `xvd${s}`;
}

export class Toolstack {
  readonly xs: XsClient;
  readonly switch = new EthernetSwitch();
  private readonly guests = new Map<number, GuestRecord>();
  private readonly backendCtx: BackendContext;

  constructor(
    readonly hv: Hypervisor,
    readonly store: XenStore = new XenStore(),
  ) {
    this.store.log = (m) => hv.log(`xenstore: ${m}`);
    this.store.trace = hv.trace;
    this.xs = new XsClient(this.store, 'toolstack', (fn) => hv.post(fn));
    this.backendCtx = { hv, xs: this.xs, log: (m) => hv.log(m) };
    this.xs.write(`${domainPath(0)}/name`, 'Domain-0');
    this.xs.write(`${domainPath(0)}/domid`, '0');
  }

  guest(domid: number): GuestRecord | undefined {
    return this.guests.get(domid);
  }

  private perms(owner: number, ...readers: number[]): XsPerm[] {
    return [{ id: owner, kind: 'n' }, ...readers.map((id) => ({ id, kind: 'r' as const }))];
  }

  /** Write the domain's xenstore directory and set up its xenstore and console channels. */
  buildDomain(domain: HvmDomain, setup: DomainSetup): GuestRecord {
    const D = domain.domid;
    if (this.guests.has(D)) throw new Error(`domain ${D} already built`);
    const hv = this.hv;
    const xs = this.xs;
    const dp = domainPath(D);
    xs.write(dp, '');
    xs.setPerms(dp, this.perms(DOMID_DOM0, D));
    xs.write(`${dp}/name`, domain.name);
    xs.write(`${dp}/domid`, String(D));
    xs.write(`${dp}/memory/target`, String(setup.memoryKiB));
    xs.write(`${dp}/memory/static-max`, String(setup.memoryKiB));
    for (const sub of ['device', 'control', 'data', 'error', 'drivers', 'attr', 'feature']) {
      xs.mkdir(`${dp}/${sub}`);
      xs.setPerms(`${dp}/${sub}`, this.perms(D));
    }
    // Guest-writable control/shutdown: the guest acknowledges by clearing it.
    xs.write(`${dp}/control/shutdown`, '');
    xs.setPerms(`${dp}/control/shutdown`, this.perms(D));
    xs.write(`${dp}/control/platform-feature-multiprocessor-suspend`, '1');
    xs.write(`${dp}/control/platform-feature-xs_reset_watches`, '1');

    // xenstore ring: a zeroed page (connection = 0) and a guest port that xenstored binds.
    const storePage = this.specialPage(domain, setup.storeGfn, 'xenstore');
    storePage.fill(0);
    const storeGuestPort = hv.allocUnbound(D, DOMID_DOM0);
    if (storeGuestPort < 0) throw new Error(`domain ${D}: no port for xenstore (${storeGuestPort})`);
    let storePort = -1;
    const server = new XenstoreRingServer(this.store, D, {
      page: () => hv.foreignPage(D, setup.storeGfn),
      notify: () => storePort > 0 && hv.dom0.notify(storePort),
      log: (m) => hv.log(m),
    });
    storePort = hv.dom0.bindInterdomain(D, storeGuestPort, () => server.onEvent());
    if (storePort < 0) throw new Error(`domain ${D}: cannot bind the xenstore port (${storePort})`);
    domain.params[HVM_PARAM_STORE_PFN] = BigInt(setup.storeGfn);
    domain.params[HVM_PARAM_STORE_EVTCHN] = BigInt(storeGuestPort);
    this.store.introduceDomain(D);

    // Console ring.
    this.specialPage(domain, setup.consoleGfn, 'console').fill(0);
    const consoleGuestPort = hv.allocUnbound(D, DOMID_DOM0);
    if (consoleGuestPort < 0) throw new Error(`domain ${D}: no port for the console (${consoleGuestPort})`);
    const console = new ConsoleBackend(hv, D, setup.consoleGfn, consoleGuestPort, setup.console, (m) => hv.log(m));
    domain.params[HVM_PARAM_CONSOLE_PFN] = BigInt(setup.consoleGfn);
    domain.params[HVM_PARAM_CONSOLE_EVTCHN] = BigInt(consoleGuestPort);
    xs.write(`${dp}/console/ring-ref`, String(setup.consoleGfn));
    xs.write(`${dp}/console/port`, String(consoleGuestPort));
    xs.write(`${dp}/console/type`, 'xenconsoled');
    xs.write(`${dp}/store/ring-ref`, String(setup.storeGfn));
    xs.write(`${dp}/store/port`, String(storeGuestPort));

    const rec: GuestRecord = { domain, store: server, storePort, console, disks: new Map(), nics: new Map() };
    this.guests.set(D, rec);
    return rec;
  }

  private specialPage(domain: HvmDomain, gfn: number, what: string): Uint8Array {
    if (!domain.config.physmap.place(gfn, what)) throw new Error(`domain ${domain.domid}: cannot back the ${what} page at gfn 0x${gfn.toString(16)}`);
    const page = domain.mem.view(gfn * PAGE_SIZE, PAGE_SIZE);
    if (!page) throw new Error(`domain ${domain.domid}: ${what} page at gfn 0x${gfn.toString(16)} is not memory`);
    return page;
  }

  /** Both xenbus directories of a device, in state Initialising. */
  private deviceDirs(type: string, D: number, devid: number, front: Record<string, string>, back: Record<string, string>): void {
    const xs = this.xs;
    const fe = frontendPathFor(type, D, devid);
    const be = backendPathFor(type, D, devid);
    xs.transaction((tx) => {
      xs.write(fe, '', tx);
      xs.setPerms(fe, this.perms(D, DOMID_DOM0), tx);
      xs.write(`${fe}/backend`, be, tx);
      xs.write(`${fe}/backend-id`, String(DOMID_DOM0), tx);
      xs.write(`${fe}/state`, String(XenbusState.Initialising), tx);
      for (const [k, v] of Object.entries(front)) xs.write(`${fe}/${k}`, v, tx);
      xs.write(be, '', tx);
      xs.setPerms(be, this.perms(DOMID_DOM0, D), tx);
      xs.write(`${be}/frontend`, fe, tx);
      xs.write(`${be}/frontend-id`, String(D), tx);
      xs.write(`${be}/online`, '1', tx);
      xs.write(`${be}/state`, String(XenbusState.Initialising), tx);
      for (const [k, v] of Object.entries(back)) xs.write(`${be}/${k}`, v, tx);
    });
  }

  /** Attach `disk` as xvd<n> (`disk` 0 = xvda, virtual-device 51712). */
  addDisk(domid: number, diskNumber: number, disk: BlockDevice, opts: BlkbackOptions = {}): BlkBack {
    const g = this.guests.get(domid);
    if (!g) throw new Error(`domain ${domid} is not built`);
    const devid = xvdDevid(diskNumber);
    if (g.disks.has(devid)) throw new Error(`domain ${domid} already has disk ${devid}`);
    const ro = opts.readOnly === true || disk.readOnly;
    this.deviceDirs(
      'vbd',
      domid,
      devid,
      { 'virtual-device': String(devid), 'device-type': 'disk' },
      { dev: xvdName(diskNumber), type: 'phy', mode: ro ? 'r' : 'w', params: `pvlab-disk-${diskNumber}`, removable: '0', bootable: diskNumber === 0 ? '1' : '0', 'device-type': 'disk' },
    );
    // Answers are placed in the guest's time (its virtual clock), as the emulated disk's are.
    const clock = this.hv.domain(domid)!.config.time.clock;
    const b = new BlkBack(this.backendCtx, domid, devid, disk, clock, { ...opts, readOnly: ro });
    g.disks.set(devid, b);
    b.start();
    return b;
  }

  /** Attach NIC `devid` with MAC `mac` ("aa:bb:cc:dd:ee:ff") to the switch. */
  addNic(domid: number, devid: number, mac: string): NetBack {
    const g = this.guests.get(domid);
    if (!g) throw new Error(`domain ${domid} is not built`);
    if (!parseMac(mac)) throw new Error(`bad MAC address ${JSON.stringify(mac)}`);
    if (g.nics.has(devid)) throw new Error(`domain ${domid} already has vif ${devid}`);
    this.deviceDirs('vif', domid, devid, { mac, handle: String(devid) }, { mac, handle: String(devid), 'script': '', bridge: 'pvlab0' });
    const n = new NetBack(this.backendCtx, domid, devid, (port: FramePort): FrameUplink => this.switch.attach(port, `d${domid}/vif${devid}`));
    g.nics.set(devid, n);
    n.start();
    return n;
  }

  /**
   * Hot-unplug a disk ('vbd') or NIC ('vif'): the backend asks the frontend to close; once it
   * has, both xenstore directories go (the guest's xenbus then drops the device) and `done`
   * runs. A disk the guest still uses stays until the guest lets it go.
   */
  unplug(domid: number, type: 'vbd' | 'vif', devid: number, done: () => void): void {
    const g = this.guests.get(domid);
    if (!g) throw new Error(`domain ${domid} is not built`);
    const devices: Map<number, BlkBack | NetBack> = type === 'vbd' ? g.disks : g.nics;
    const dev = devices.get(devid);
    if (!dev) throw new Error(`domain ${domid} has no ${type} ${devid}`);
    if (dev.unplugging) throw new Error(`${type} ${devid} of domain ${domid} is being unplugged already`);
    dev.unplug(() => {
      dev.destroy();
      devices.delete(devid);
      this.xs.rm(frontendPathFor(type, domid, devid));
      this.xs.rm(backendPathFor(type, domid, devid));
      this.xs.rm(`/local/domain/0/error/backend/${type}/${domid}/${devid}`);
      done();
    });
  }

  /** Ask the guest to power off or reboot (it watches control/shutdown). */
  requestShutdown(domid: number, kind: 'poweroff' | 'reboot'): void {
    this.xs.write(`${domainPath(domid)}/control/shutdown`, kind);
  }

  /** Tear the guest down: backends, rings, xenstore directory, then the domain itself. */
  destroyDomain(domid: number): void {
    const g = this.guests.get(domid);
    if (g) {
      for (const b of g.disks.values()) b.destroy();
      for (const n of g.nics.values()) n.destroy();
      g.console.close();
      g.store.close();
      this.hv.dom0.close(g.storePort);
      for (const type of ['vbd', 'vif']) this.xs.rm(`/local/domain/0/backend/${type}/${domid}`);
      this.xs.rm(`/local/domain/0/error/backend/vbd/${domid}`);
      this.xs.rm(`/local/domain/0/error/backend/vif/${domid}`);
      this.xs.rm(domainPath(domid));
      this.guests.delete(domid);
    }
    this.store.releaseDomain(domid);
    this.hv.destroyDomain(domid);
  }
}

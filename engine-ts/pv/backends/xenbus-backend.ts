// The backend half of a xenbus device (io/xenbus.h, spec §11): a state machine driven by the
// frontend's `state` node. A concrete backend supplies three things: the features it
// publishes before InitWait, connect() (read the frontend's keys, map rings, bind the event
// channel; true = go Connected), and disconnect(). It touches the frontend only through
// xenstore, the event channel and grants.

import type { Hypervisor } from '../hypervisor';
import type { XsClient } from '../xenstore/client';
import { XenbusState } from '../xen-public';
import { bool, fields, int, optional, str, u16, u32 } from '../../platform/state';

export interface BackendContext {
  hv: Hypervisor;
  /** dom0's xenstore client (shared by the toolstack and the backends). */
  xs: XsClient;
  log(msg: string): void;
}

export function backendPathFor(type: string, frontendId: number, devid: number): string {
  return `/local/domain/0/backend/${type}/${frontendId}/${devid}`;
}
export function frontendPathFor(type: string, frontendId: number, devid: number): string {
  return `/local/domain/${frontendId}/device/${type}/${devid}`;
}

export abstract class XenbusBackend {
  readonly backendPath: string;
  readonly frontendPath: string;
  private _state = XenbusState.Initialising;
  private lastFrontendState = -1;
  private unwatch: (() => void) | null = null;
  /** Last fatal error (also written to /local/domain/0/error/...). */
  lastError: string | null = null;
  /** Set while the toolstack unplugs the device: runs once the frontend has closed. */
  private unplugged: (() => void) | null = null;

  protected constructor(
    protected readonly ctx: BackendContext,
    readonly type: string,
    readonly frontendId: number,
    readonly devid: number,
  ) {
    this.backendPath = backendPathFor(type, frontendId, devid);
    this.frontendPath = frontendPathFor(type, frontendId, devid);
  }

  get state(): XenbusState {
    return this._state;
  }

  /** Features and limits the frontend may read before it sets up its rings. */
  protected abstract publishFeatures(): void;
  /** Set up the data path from the frontend's keys; false (after fatal()) if it cannot. */
  protected abstract connect(): boolean;
  /** Tear the data path down (idempotent). */
  protected abstract disconnect(): void;

  /** Probe: publish features, go InitWait, follow the frontend's state. */
  start(): void {
    this.publishFeatures();
    this.switchState(XenbusState.InitWait);
    this.unwatch = this.ctx.xs.watch(`${this.frontendPath}/state`, () => this.frontendChanged());
  }

  /**
   * Hot-unplug, as libxl removes a device: the backend goes offline and Closing, the frontend
   * closes its end (a disk still in use keeps it open until released), and once the frontend
   * is Closed — or gone, or never started — the backend is Closed and `done` runs.
   */
  unplug(done: () => void): void {
    this.unplugged = done;
    this.ctx.xs.write(`${this.backendPath}/online`, '0');
    this.switchState(XenbusState.Closing);
    this.poke();
  }

  get unplugging(): boolean {
    return this.unplugged !== null;
  }

  /** Remove the device: stop watching and drop the data path. */
  destroy(): void {
    this.unwatch?.();
    this.unwatch = null;
    this.disconnect();
  }

  protected switchState(s: XenbusState): void {
    if (s === this._state && this.ctx.xs.read(`${this.backendPath}/state`) === String(s)) return;
    this._state = s;
    this.ctx.xs.write(`${this.backendPath}/state`, String(s));
  }

  /** xenbus_dev_fatal: record why, drop the data path, move to Closing. */
  protected fatal(msg: string): void {
    this.lastError = msg;
    this.ctx.log(`${this.backendPath}: ${msg}`);
    this.ctx.xs.write(`/local/domain/0/error${this.backendPath.slice('/local/domain/0'.length)}/error`, msg);
    this.disconnect();
    this.switchState(XenbusState.Closing);
  }

  protected readFrontendState(): number {
    const v = this.ctx.xs.readInt(`${this.frontendPath}/state`);
    return v === undefined || v > XenbusState.Reconfigured ? XenbusState.Unknown : v;
  }

  /** The frontend's state node changed (or the watch fired spuriously). */
  private frontendChanged(): void {
    const fe = this.readFrontendState();
    if (fe === this.lastFrontendState) return;
    this.lastFrontendState = fe;
    if (this.unplugged && (fe === XenbusState.Closed || fe === XenbusState.Unknown || fe === XenbusState.Initialising)) {
      this.disconnect();
      this.switchState(XenbusState.Closed);
      const done = this.unplugged;
      this.unplugged = null;
      done();
      return;
    }
    switch (fe) {
      case XenbusState.Initialising:
        // A frontend starting over after we closed: offer the device again.
        if (this._state === XenbusState.Closed || this._state === XenbusState.Closing) {
          this.disconnect();
          this.publishFeatures();
          this.switchState(XenbusState.InitWait);
        }
        break;
      case XenbusState.InitWait:
        break;
      case XenbusState.Initialised:
      case XenbusState.Connected:
        if (this._state === XenbusState.Connected) break;
        if (this._state !== XenbusState.InitWait && this._state !== XenbusState.Initialised) break;
        this.disconnect();
        if (this.connect()) this.switchState(XenbusState.Connected);
        break;
      case XenbusState.Closing:
        this.disconnect();
        this.switchState(XenbusState.Closing);
        break;
      case XenbusState.Closed:
        this.disconnect();
        this.switchState(XenbusState.Closed);
        break;
      default:
        // Unknown (node gone) or a reconfiguration we do not support: shut the device.
        this.disconnect();
        this.switchState(XenbusState.Closed);
    }
  }

  /** Re-examine the frontend state (e.g. after recovering from an error). */
  poke(): void {
    this.lastFrontendState = -1;
    this.frontendChanged();
  }
}

/** What every xenbus backend keeps (its subclass adds its own fields to these). */
export const XENBUS_FIELDS = {
  _state: int(XenbusState.Unknown, XenbusState.Reconfigured),
  lastFrontendState: int(-1, XenbusState.Reconfigured),
  lastError: optional(str(4096)),
};

/** A pinned grant, as data (see Hypervisor.mapGrant). */
export const GRANT_MAPPING = fields({ domid: u16, gref: u32, frame: int(0, 0xfffff), writable: bool, mapped: bool }, 'grant mapping');

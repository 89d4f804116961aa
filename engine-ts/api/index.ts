// The engine API for the browser: machines run in Web Workers.
export * from '../config/machine';
// The inspector's sample and timeline (MachineHandle.inspect), and Xen's names for what it shows.
export * from '../config/inspect';
export { describeHypercall, hypercallName } from '../pv/names';
// Snapshots: .pvsnap files (engine-ts/snapshot/format.ts).
export { resumeWorkerMachine as resumeMachine, type BrowserResumeOptions as ResumeOptions } from '../worker/browser';
export { SnapshotError, readHeader as readSnapshotHeader, type SnapshotHeader, type ImageRef } from '../snapshot/format';
export { SnapshotLibrary, snapshotLibrary, describeMachine, type SnapshotInfo } from '../snapshot/library';
export { LINK_MAX_BYTES, linkFragment, snapshotFromFragment } from '../snapshot/link';
/** Kernel parameter for Linux guests with a PV disk: blkfront may then send 1 MiB requests. */
export { BLKFRONT_CMDLINE } from '../pv/backends/blkback';
export { createWorkerMachine as createMachine, prepareMachines, baseImagesReady } from '../worker/browser';
import { workerLinkEndpoint } from '../worker/browser';
import { LabNetworkCore } from '../network/lab-network';

/** A virtual Ethernet switch in the page that machines (in their workers) plug into. */
export class LabNetwork extends LabNetworkCore {
  constructor() { super(workerLinkEndpoint); }
}
export * from '../disk/library';

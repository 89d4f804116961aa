// The engine API for the browser: machines run in Web Workers.
export * from './types';
export { createWorkerMachine as createMachine } from '../worker/browser';
import { workerLinkEndpoint } from '../worker/browser';
import { LabNetworkCore } from './network';

/** A virtual Ethernet switch in the page that machines (in their workers) plug into. */
export class LabNetwork extends LabNetworkCore {
  constructor() { super(workerLinkEndpoint); }
}
export * from './disks';

// The engine API for Node hosts (CLI, tests, benchmarks): the same machine as the page,
// running in-process.
export * from './types';
export { createNodeMachine as createMachine } from '../worker/node-host';
import { nodeLinkEndpoint } from '../worker/node-host';
import { LabNetworkCore } from './network';

/** A virtual Ethernet switch that in-process machines plug into. */
export class LabNetwork extends LabNetworkCore {
  constructor() { super(nodeLinkEndpoint); }
}

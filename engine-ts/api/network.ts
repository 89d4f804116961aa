// The lab network: one virtual Ethernet switch on the host side that machines plug into,
// each through a cable to its own switch (where its xen-netfront NICs sit). In the page the
// cables are MessageChannels to the machines' workers; under Node they are direct calls.

import { EthernetSwitch } from '../pv/backends/net-switch';
import type { LinkEndpoint } from '../worker/link-endpoint';
import type { MachineHandle } from './types';

export class LabNetworkCore {
  readonly switch = new EthernetSwitch();
  private n = 0;

  constructor(private readonly endpoint: (m: MachineHandle) => LinkEndpoint | Promise<LinkEndpoint>) {}

  /** Plug a machine (started in Xen mode with at least one NIC) into the lab switch. */
  async attach(machine: MachineHandle): Promise<void> {
    const ep = await this.endpoint(machine);
    const up = this.switch.attach({ deliver: (f) => ep.send(f) }, `machine${this.n++}`);
    ep.onFrame((f) => up.send(f));
  }

  get stats(): { forwarded: number; flooded: number; dropped: number } {
    return { ...this.switch.stats };
  }
}

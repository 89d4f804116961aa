// The lab network: one virtual Ethernet switch on the host side that machines plug into,
// each through a cable to its own switch (where its xen-netfront NICs sit). In the page the
// cables are MessageChannels to the machines' workers; under Node they are direct calls.

import { EthernetSwitch } from './net-switch';
import { DhcpServer } from './dhcp-server';
import type { LinkEndpoint } from './link-endpoint';
import type { MachineHandle } from '../config/machine';

export class LabNetworkCore {
  readonly switch = new EthernetSwitch();
  /** Hands out 10.0.2.10, .11, ... (the server is 10.0.2.1) to guests running udhcpc. */
  readonly dhcp = new DhcpServer({ prefix: [10, 0, 2], serverMac: Uint8Array.from([0x02, 0x50, 0x56, 0, 0, 1]) });
  private n = 0;

  constructor(private readonly endpoint: (m: MachineHandle) => LinkEndpoint | Promise<LinkEndpoint>) {
    this.dhcp.connect(this.switch.attach(this.dhcp, 'dhcp'));
  }

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

// Xen's names for hypercalls and their sub-commands, for the inspector and its timeline (the
// page imports this through engine-ts/api: it depends on the public ABI's numbers only).
import * as X from './xen-public';

const HYPERCALLS: Record<number, string> = {
  [X.__HYPERVISOR_memory_op]: 'memory_op',
  [X.__HYPERVISOR_xen_version]: 'xen_version',
  [X.__HYPERVISOR_console_io]: 'console_io',
  [X.__HYPERVISOR_grant_table_op]: 'grant_table_op',
  [X.__HYPERVISOR_iret]: 'iret',
  [X.__HYPERVISOR_vcpu_op]: 'vcpu_op',
  [X.__HYPERVISOR_sched_op]: 'sched_op',
  [X.__HYPERVISOR_event_channel_op]: 'event_channel_op',
  [X.__HYPERVISOR_physdev_op]: 'physdev_op',
  [X.__HYPERVISOR_hvm_op]: 'hvm_op',
};

/** Sub-command names by hypercall, from the X module's own spelling (EVTCHNOP_send ...). */
const SUBOPS: Record<number, { prefix: string; mask: number }> = {
  [X.__HYPERVISOR_memory_op]: { prefix: 'XENMEM_', mask: 0x3f },
  [X.__HYPERVISOR_xen_version]: { prefix: 'XENVER_', mask: -1 },
  [X.__HYPERVISOR_console_io]: { prefix: 'CONSOLEIO_', mask: -1 },
  [X.__HYPERVISOR_grant_table_op]: { prefix: 'GNTTABOP_', mask: -1 },
  [X.__HYPERVISOR_vcpu_op]: { prefix: 'VCPUOP_', mask: -1 },
  [X.__HYPERVISOR_sched_op]: { prefix: 'SCHEDOP_', mask: -1 },
  [X.__HYPERVISOR_event_channel_op]: { prefix: 'EVTCHNOP_', mask: -1 },
  [X.__HYPERVISOR_hvm_op]: { prefix: 'HVMOP_', mask: -1 },
};

const subopNames = new Map<number, Map<number, string>>();
for (const [op, { prefix }] of Object.entries(SUBOPS)) {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(X)) {
    if (name.startsWith(prefix) && typeof value === 'number' && !names.has(value)) names.set(value, name);
  }
  subopNames.set(Number(op), names);
}

export function hypercallName(op: number): string {
  return HYPERCALLS[op] ?? `hypercall ${op}`;
}

/** "event_channel_op(EVTCHNOP_send)": a hypercall with its sub-command, as Xen names them. */
export function describeHypercall(op: number, cmd: number): string {
  const sub = SUBOPS[op];
  if (!sub) return hypercallName(op);
  const c = sub.mask < 0 ? cmd : cmd & sub.mask;
  return `${hypercallName(op)}(${subopNames.get(op)?.get(c) ?? c})`;
}


// What a running machine offers beside its console: the inspector, the plots and (in Xen
// mode) hot-plugging PV disks and NICs. Mounted by the machine panels with one line.
import { useEffect, useState } from 'react';
import { diskLibrary, XENBUS_STATES, type DiskInfo, type MachineHandle } from '../../engine-ts/api';
import { useSampler } from '../lab/useSampler';
import { Inspector } from './Inspector';
import { Plots } from '../plots/Plots';
import type { MachineSampler } from '../lab/sampler';

const NEW_DISK = '';
const NEW_DISK_MIB = 64;

export function MachineTools(props: { index: number; machine: MachineHandle | null; open?: { inspector?: boolean; plots?: boolean } }) {
  const { index, machine } = props;
  const [inspector, setInspector] = useState(props.open?.inspector ?? false);
  const [plots, setPlots] = useState(props.open?.plots ?? false);
  // The sampler runs while a panel is open (the inspector asks for the timeline too).
  const sampler = useSampler(inspector || plots ? machine : null, inspector);
  if (!machine) return null;
  return (
    <div className="machine-tools">
      <div className="controls">
        <button aria-pressed={inspector} onClick={() => setInspector((v) => !v)} aria-label={`Inspector of machine ${index + 1}`}>Inspector</button>
        <button aria-pressed={plots} onClick={() => setPlots((v) => !v)} aria-label={`Plots of machine ${index + 1}`}>Plots</button>
        {inspector && sampler?.sample?.xen && <Hotplug index={index} machine={machine} sampler={sampler} />}
      </div>
      {inspector && sampler && <Inspector index={index} sampler={sampler} />}
      {plots && sampler && <Plots index={index} sampler={sampler} />}
    </div>
  );
}

/** Plug a PV disk (a library disk, or a new blank one) or a NIC into the running guest; unplug them. */
function Hotplug({ index, machine, sampler }: { index: number; machine: MachineHandle; sampler: MachineSampler }) {
  const [disks, setDisks] = useState<DiskInfo[]>([]);
  const [choice, setChoice] = useState(NEW_DISK);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let lib;
    try { lib = diskLibrary(); } catch { return; }
    const refresh = () => lib.list().then(setDisks, () => {});
    refresh();
    return lib.onChange(refresh);
  }, []);
  const devices = sampler.sample?.xen?.devices ?? [];
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(what);
    setError(null);
    try { await fn(); } catch (e) { setError(`${what}: ${(e as Error).message}`); } finally { setBusy(null); }
  };
  const plugDisk = () => act('plugging a disk', async () => {
    let id = choice;
    if (id === NEW_DISK) {
      const taken = new Set(disks.map((d) => d.name));
      let n = 1;
      while (taken.has(`hotplug-${index + 1}-${n}`)) n++;
      id = (await diskLibrary().create({ name: `hotplug-${index + 1}-${n}`, type: 'dynamic', size: NEW_DISK_MIB * 1024 * 1024 })).disk.id;
    }
    await machine.addDisk({ bus: 'xen', idbDisk: id });
  });
  const plugNic = () => act('plugging a NIC', async () => {
    const used = new Set(devices.filter((d) => d.type === 'vif').map((d) => d.devid));
    let devid = 0;
    while (used.has(devid)) devid++;
    await machine.addNic({ mac: `02:50:56:${(index + 1).toString(16).padStart(2, '0')}:${devid.toString(16).padStart(2, '0')}:01`, devid });
  });
  return (
    <span className="hotplug" aria-label={`Hot-plug into machine ${index + 1}`} role="group">
      <label>
        PV disk{' '}
        <select value={choice} onChange={(e) => setChoice(e.target.value)} aria-label={`Disk to plug into machine ${index + 1}`}>
          <option value={NEW_DISK}>a new blank {NEW_DISK_MIB} MiB disk</option>
          {disks.filter((d) => !d.inUse).map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}
        </select>
      </label>
      <button onClick={plugDisk} disabled={busy !== null}>Plug disk</button>
      <button onClick={plugNic} disabled={busy !== null}>Plug NIC</button>
      {devices.map((d) => (
        <span key={`${d.type}${d.devid}`} className="pv-device" data-device={d.name} data-backend-state={d.backendState} data-frontend-state={d.frontendState}>
          {d.name}: front {XENBUS_STATES[d.frontendState] ?? d.frontendState}, back {XENBUS_STATES[d.backendState] ?? d.backendState}{' '}
          <button
            disabled={busy !== null}
            aria-label={`Unplug ${d.name} from machine ${index + 1}`}
            onClick={() => act(`unplugging ${d.name}`, () => (d.type === 'vbd' ? machine.removeDisk(d.unit) : machine.removeNic(d.devid)))}
          >
            Unplug
          </button>
        </span>
      ))}
      {busy && <span className="muted">{busy}… {busy.startsWith('unplugging') ? '(the guest must let it go: unmount it first)' : ''}</span>}
      {error && <span className="error" role="alert">{error}</span>}
    </span>
  );
}

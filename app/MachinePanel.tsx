import { useCallback, useEffect, useRef, useState } from 'react';
import { BLKFRONT_CMDLINE, createMachine, type LabNetwork, type MachineConfig, type MachineHandle, type MachineStats, type StopReason } from '../engine-ts/api';
import { Console, type ConsoleApi } from './Console';
import { GUESTS } from './guests';

type Phase = 'idle' | 'loading' | 'running' | 'stopped' | 'error';
export type DiskBus = 'none' | 'ide' | 'xen';

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}${res.status === 404 ? ' (build it with npm run guest:linux)' : ''}`);
  return new Uint8Array(await res.arrayBuffer());
}

function describeStop(r: StopReason): string {
  switch (r.kind) {
    case 'halted': return 'guest halted';
    case 'exit': return `guest exited with code ${r.code}`;
    case 'stopped': return 'stopped';
    case 'triple-fault': return 'triple fault (machine shut down)';
    case 'poweroff': return 'powered off';
    case 'error': return `error: ${r.message}`;
  }
}

/** One machine: guest choice, device model (emulated or PV), disk, console, status. */
/** VM exits per second over the last second, and the totals since power-on. */
interface ExitCounts {
  total: MachineStats['exits'];
  io: number;
  mmio: number;
  hypercall: number;
}

function rate(x: number): string {
  return x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
}

export function MachinePanel(props: { index: number; network: LabNetwork; attachedDisk: string | null; onRemove?: () => void }) {
  const { index, network } = props;
  const [guestId, setGuestId] = useState(GUESTS[0].id);
  const [pv, setPv] = useState(false);
  const [diskBus, setDiskBus] = useState<DiskBus>('none');
  const [phase, setPhase] = useState<Phase>('idle');
  const [status, setStatus] = useState('Pick a guest and press Boot.');
  const [mips, setMips] = useState<number | null>(null);
  const [jit, setJit] = useState<MachineStats['jit'] | null>(null);
  const [exits, setExits] = useState<ExitCounts | null>(null);
  const consoleRef = useRef<ConsoleApi | null>(null);
  const machineRef = useRef<MachineHandle | null>(null);
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const guest = GUESTS.find((g) => g.id === guestId)!;
  const linux = guest.kind === 'linux' || guest.kind === 'custom-linux';
  const [kernelFile, setKernelFile] = useState<File | null>(null);
  const [initrdFile, setInitrdFile] = useState<File | null>(null);
  const [customCmdline, setCustomCmdline] = useState(() => GUESTS.find((g) => g.kind === 'custom-linux')?.cmdline ?? '');

  const stop = useCallback(async () => { await machineRef.current?.stop(); }, []);

  const boot = useCallback(async () => {
    if (machineRef.current) { await machineRef.current.stop(); machineRef.current.dispose(); machineRef.current = null; }
    consoleRef.current?.clear();
    setPhase('loading');
    setMips(null);
    setExits(null);
    try {
      let spec: MachineConfig['guest'];
      let watch: ((text: string) => void) | null = null;
      const xen = linux && pv;
      const config: Omit<MachineConfig, 'guest'> = { pacing: 'realtime', rtcStartSeconds: Math.floor(Date.now() / 1000), memoryMiB: guest.memoryMiB };
      // With PV devices Linux's console is hvc0, and blkfront may send 1 MiB requests
      // (blkback takes 256 indirect segments; Linux's own default is 32).
      const linuxCmdline = (c: string) => (xen ? `${c.replace(/console=ttyS0[^ ]*/, 'console=hvc0')} ${BLKFRONT_CMDLINE}` : c);
      // Devices of a Linux machine: Xen mode with hvc0 and a NIC on the lab network, and the attached disk.
      const linuxDevices = () => {
        if (xen) {
          config.xen = true;
          config.consoleInput = 'hvc0';
          config.nics = [{ mac: `02:50:56:00:01:${(index + 1).toString(16).padStart(2, '0')}` }];
        }
        if (diskBus !== 'none') {
          if (!props.attachedDisk) throw new Error('choose a disk to attach in the Disks panel first');
          config.disks = [{ bus: xen ? diskBus : 'ide', idbDisk: props.attachedDisk }];
        }
      };
      if (guest.kind === 'flat') {
        setStatus(`Loading ${guest.title}…`);
        spec = { kind: 'flat', image: await fetchBytes(guest.file), name: guest.title };
      } else if (guest.kind === 'custom-linux') {
        if (!kernelFile) throw new Error('choose a bzImage file first');
        setStatus(`Loading ${kernelFile.name}…`);
        const kernel = new Uint8Array(await kernelFile.arrayBuffer());
        const initrd = initrdFile ? new Uint8Array(await initrdFile.arrayBuffer()) : undefined;
        spec = { kind: 'linux', kernel, initrd, cmdline: linuxCmdline(customCmdline), name: kernelFile.name };
        linuxDevices();
      } else {
        setStatus('Loading kernel…');
        const kernel = await fetchBytes(guest.kernel);
        setStatus('Loading initrd…');
        const initrd = await fetchBytes(guest.initrd);
        spec = { kind: 'linux', kernel, initrd, cmdline: linuxCmdline(guest.cmdline), name: `${guest.title} ${index + 1}` };
        linuxDevices();
        let seen = '';
        let next = 0;
        watch = (text) => {
          if (next >= guest.phases.length) return;
          // Search the new text together with a little of the old (a marker may span chunks),
          // then keep only that overlap: chunks can be larger than any fixed window.
          seen += text;
          while (next < guest.phases.length && seen.includes(guest.phases[next].match)) {
            setStatus(`${spec.name}: ${guest.phases[next].label}`);
            seen = seen.slice(seen.indexOf(guest.phases[next].match));
            next++;
          }
          seen = seen.slice(-256);
        };
      }
      const dec = new TextDecoder();
      const machine = await createMachine({ ...config, guest: spec }, {
        onConsole: (b) => { consoleRef.current?.write(b); watch?.(dec.decode(b, { stream: true })); },
      });
      machineRef.current = machine;
      if (xen) await network.attach(machine);
      setPhase('running');
      setStatus(linux ? `${spec.name}: booting${xen ? ' (Xen PV devices)' : ''}` : `Running ${guest.title}`);
      consoleRef.current?.focus();
      const reason = await machine.run();
      if (machineRef.current === machine) {
        setPhase(reason.kind === 'error' ? 'error' : 'stopped');
        setStatus(`${spec.name ?? guest.title}: ${describeStop(reason)}`);
      }
    } catch (e) {
      setPhase('error');
      setStatus(`Could not boot ${guest.title}: ${(e as Error).message}`);
    }
  }, [guest, linux, pv, diskBus, props.attachedDisk, index, network, kernelFile, initrdFile, customCmdline]);

  useEffect(() => {
    if (phase !== 'running') return;
    let last: { at: number; exits: MachineStats['exits'] } | null = null;
    const t = setInterval(async () => {
      const m = machineRef.current;
      if (!m) return;
      let s: MachineStats;
      try { s = await m.stats(); } catch { return; /* the worker is busy or gone */ }
      setMips(s.mips);
      setJit(s.jit);
      const at = performance.now();
      if (last && at > last.at) {
        const per = (k: keyof MachineStats['exits']) => ((s.exits[k] - last!.exits[k]) * 1000) / (at - last!.at);
        setExits({ total: s.exits, io: per('io'), mmio: per('mmio'), hypercall: per('hypercall') });
      }
      last = { at, exits: { ...s.exits } };
    }, 1000);
    return () => clearInterval(t);
  }, [phase]);

  useEffect(() => () => { machineRef.current?.dispose(); }, []);

  const busy = phase === 'loading' || phase === 'running';
  return (
    <section className="machine" aria-label={`Machine ${index + 1}`}>
      <div className="controls">
        <strong>Machine {index + 1}</strong>
        <label>
          Guest{' '}
          <select value={guestId} onChange={(e) => setGuestId(e.target.value)} disabled={busy} aria-label="Guest">
            {GUESTS.map((g) => <option key={g.id} value={g.id}>{g.title}</option>)}
          </select>
        </label>
        {linux && (
          <label title="Boot with Xen para-virtual devices: hvc0 console, xen-blkfront disk, xen-netfront NIC on the lab network">
            <input type="checkbox" checked={pv} onChange={(e) => setPv(e.target.checked)} disabled={busy} /> PV (Xen) devices
          </label>
        )}
        {linux && (
          <label>
            Disk{' '}
            <select value={diskBus} onChange={(e) => setDiskBus(e.target.value as DiskBus)} disabled={busy} aria-label="Disk">
              <option value="none">none</option>
              <option value="ide">attached disk on IDE (/dev/sda)</option>
              {pv && <option value="xen">attached disk as PV xvda</option>}
            </select>
          </label>
        )}
        <button onClick={boot} disabled={phase === 'loading' || !isolated}>Boot</button>
        <button onClick={stop} disabled={phase !== 'running'}>Stop</button>
        {props.onRemove && <button onClick={props.onRemove} disabled={busy} aria-label={`Remove machine ${index + 1}`}>Remove</button>}
        <span className="status" data-testid={`status-${index}`} data-phase={phase}>{status}</span>
        {mips !== null && <span className="mips" data-testid={`mips-${index}`}>{mips.toFixed(1)} MIPS</span>}
        {jit && (
          <span className="jit" data-testid={`jit-${index}`} data-share={jit.share} data-enabled={jit.enabled}
            title={`share of instructions run from code translated to WebAssembly; ${jit.translations} translations, ${jit.live} held (${(jit.liveBytes / 1024).toFixed(0)} KiB of wasm)`}>
            {jit.enabled ? `${(jit.recentShare * 100).toFixed(0)} % translated` : 'interpreter only'}
          </span>
        )}
        {exits && (
          <span
            className="exits"
            data-testid={`exits-${index}`}
            data-io={exits.total.io}
            data-mmio={exits.total.mmio}
            data-hypercall={exits.total.hypercall}
            title="Times per second the guest left the CPU for the hypervisor: port I/O and MMIO reach emulated devices (one exit per register access); hypercalls are the para-virtual path (one per batch of ring requests)"
          >
            VM exits/s: port I/O {rate(exits.io)} · MMIO {rate(exits.mmio)} · hypercalls {rate(exits.hypercall)}
          </span>
        )}
      </div>
      <p className="description">{guest.description}</p>
      {guest.kind === 'custom-linux' && (
        <div className="controls">
          <label>bzImage <input type="file" aria-label="Kernel (bzImage)" disabled={busy} onChange={(e) => setKernelFile(e.target.files?.[0] ?? null)} /></label>
          <label>initrd <input type="file" aria-label="Initrd (optional)" disabled={busy} onChange={(e) => setInitrdFile(e.target.files?.[0] ?? null)} /></label>
          <label>Command line <input type="text" size={40} aria-label="Kernel command line" value={customCmdline} disabled={busy} onChange={(e) => setCustomCmdline(e.target.value)} /></label>
        </div>
      )}
      <Console index={index} onInput={(b) => machineRef.current?.sendInput(b)} onReady={(api) => { consoleRef.current = api; }} />
    </section>
  );
}

import { useCallback, useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import {
  BLKFRONT_CMDLINE, LINK_MAX_BYTES, createMachine, linkFragment, resumeMachine, snapshotLibrary,
  type LabNetwork, type MachineConfig, type MachineHandle, type MachineStats, type SnapshotInfo, type StopReason,
} from '../engine-ts/api';
import { shippedFile, shippedSnapshots } from './snapshots/shipped';
import { Console, type ConsoleApi } from './Console';
import { GUESTS, LINUX_IMAGE_URLS } from './guests';
import { pageFile } from './page-files';
import { MachineTools } from './inspector/MachineTools';

type Phase = 'idle' | 'loading' | 'running' | 'stopped' | 'error';
export type DiskBus = 'none' | 'ide' | 'xen';

/** Where a resumed Linux machine finds its kernel and initrd again if the guest reboots (matched by SHA-256). */

/** What a machine panel lets the page do from outside (resume a snapshot in it). */
export interface MachineControl {
  resume(file: Uint8Array, what: string, base?: Uint8Array): Promise<void>;
}

/** A snapshot the page was opened with (a share link, ?snapshot=URL), fetched and checked on demand. */
export type InitialSnapshot = () => Promise<{ file: Uint8Array; what: string; base?: Uint8Array } | null>;

const LINUX_NOT_BUILT = 'the Linux guest is not built on this server. Run `npm run guest:linux` (npm start does it for you on Debian or Ubuntu), then reload the page.';

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

export function MachinePanel(props: {
  index: number; network: LabNetwork; attachedDisk: string | null; onRemove?: () => void;
  /** Start with this snapshot (the page was opened with a link or ?snapshot=URL). */
  initial?: InitialSnapshot;
  onSaved?: (info: SnapshotInfo) => void;
  control?: Ref<MachineControl>;
}) {
  const { index, network } = props;
  const [guestId, setGuestId] = useState(GUESTS[0].id);
  /** As typed: the engine checks it (whole MiB, 1 to 3072; multiples of 16 with PV devices). */
  const [memory, setMemory] = useState(String(GUESTS[0].memoryMiB));
  const [pv, setPv] = useState(false);
  /** Virtual CPUs (Linux guests): each runs in a Web Worker of its own. */
  const [cpus, setCpus] = useState(1);
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
  /** The console's last bytes as the guest wrote them (a snapshot keeps them). */
  const consoleTail = useRef('');
  /** What the running machine is, to find the shipped snapshot a share link can be a delta of. */
  const runningConf = useRef<{ xen: boolean; memoryMiB: number; vcpus: number; cmdline: string; mac: string | null } | null>(null);
  const [note, setNote] = useState('');
  const [link, setLink] = useState('');

  /** Hand a created (or resumed) machine the console and the lab network, run it, report how it ended. */
  const runMachine = useCallback(async (machine: MachineHandle, name: string, xen: boolean, label: string) => {
    machineRef.current = machine;
    if (xen) await network.attach(machine);
    setPhase('running');
    setStatus(label);
    consoleRef.current?.focus();
    const reason = await machine.run();
    if (machineRef.current === machine) {
      setPhase(reason.kind === 'error' ? 'error' : 'stopped');
      setStatus(`${name}: ${describeStop(reason)}`);
    }
  }, [network]);

  const resetScreen = useCallback(async () => {
    if (machineRef.current) { await machineRef.current.stop(); machineRef.current.dispose(); machineRef.current = null; }
    consoleRef.current?.clear();
    consoleTail.current = '';
    setPhase('loading');
    setMips(null);
    setExits(null);
    setNote('');
    setLink('');
  }, []);

  const dec = useRef(new TextDecoder());
  const onConsole = useCallback((watch: ((text: string) => void) | null) => (b: Uint8Array) => {
    consoleRef.current?.write(b);
    const text = dec.current.decode(b, { stream: true });
    consoleTail.current = (consoleTail.current + text).slice(-16384);
    watch?.(text);
  }, []);

  /** Resume a snapshot (a library file, a link's delta with its base, a file from a URL) in this machine. */
  const resume = useCallback(async (file: Uint8Array, what: string, base?: Uint8Array) => {
    await resetScreen();
    try {
      setStatus(`Resuming ${what}…`);
      const { machine, header } = await resumeMachine(file, { onConsole: onConsole(null) }, {
        base, pacing: 'realtime', imageUrls: LINUX_IMAGE_URLS, carriedName: what,
      });
      // The screen as it was when it was saved, then the machine goes on.
      consoleRef.current?.write(header.console);
      consoleTail.current = header.console;
      const c = header.config;
      runningConf.current = { xen: c.xen, memoryMiB: c.memoryMiB, vcpus: c.vcpus, cmdline: c.guest.cmdline, mac: c.nics[0]?.mac ?? null };
      const name = c.guest.name || 'guest';
      await runMachine(machine, name, c.xen, `${name}: resumed from ${what}`);
    } catch (e) {
      setPhase('error');
      setStatus(`Could not resume ${what}: ${(e as Error).message}`);
    }
  }, [resetScreen, onConsole, runMachine]);

  // A link or URL the page was opened with starts in this machine.
  const initial = props.initial;
  useEffect(() => {
    if (!initial) return;
    void (async () => {
      try {
        const r = await initial();
        if (r) await resume(r.file, r.what, r.base);
      } catch (e) {
        setPhase('error');
        setStatus((e as Error).message);
      }
    })();
  }, [initial, resume]);

  const boot = useCallback(async (cold = false) => {
    await resetScreen();
    try {
      let spec: MachineConfig['guest'];
      let watch: ((text: string) => void) | null = null;
      const xen = linux && pv;
      const config: Omit<MachineConfig, 'guest'> = { pacing: 'realtime', rtcStartSeconds: Math.floor(Date.now() / 1000), memoryMiB: memory.trim() === '' ? NaN : Number(memory), vcpus: linux ? cpus : 1 };
      // With PV devices Linux's console is hvc0, and blkfront may send 1 MiB requests
      // (blkback takes 256 indirect segments; Linux's own default is 32).
      const linuxCmdline = (c: string) => (xen ? `${c.replace(/console=ttyS0[^ ]*/, 'console=hvc0')} ${BLKFRONT_CMDLINE}` : c);
      const mac = `02:50:56:00:01:${(index + 1).toString(16).padStart(2, '0')}`;
      // Devices of a Linux machine: Xen mode with hvc0 and a NIC on the lab network, and the attached disk.
      const linuxDevices = () => {
        if (xen) {
          config.xen = true;
          config.consoleInput = 'hvc0';
          config.nics = [{ mac }];
        }
        if (diskBus !== 'none') {
          if (!props.attachedDisk) throw new Error('choose a disk to attach in the Disks panel first');
          config.disks = [{ bus: xen ? diskBus : 'ide', idbDisk: props.attachedDisk }];
        }
      };
      if (guest.kind === 'linux' && !cold) {
        // Instant start: the shipped snapshot of exactly this machine, if the server has one.
        const cmdline = linuxCmdline(guest.cmdline);
        const shipped = (await shippedSnapshots()).find((s) =>
          s.xen === xen && s.memoryMiB === config.memoryMiB && config.vcpus === 1 && s.cmdline === cmdline && diskBus === 'none' && (!xen || s.nics?.[0]?.mac === mac));
        if (shipped) {
          setStatus(`Loading ${shipped.title} (at its shell)…`);
          const file = await shippedFile(shipped);
          const { machine, header } = await resumeMachine(file, { onConsole: onConsole(null) }, { pacing: 'realtime', imageUrls: LINUX_IMAGE_URLS });
          consoleRef.current?.write(header.console);
          consoleTail.current = header.console;
          runningConf.current = { xen, memoryMiB: shipped.memoryMiB, vcpus: 1, cmdline, mac: xen ? mac : null };
          const name = `${guest.title} ${index + 1}`;
          await runMachine(machine, name, xen, `${name}: shell (started from a snapshot; Cold boot boots it afresh)`);
          return;
        }
      }
      if (guest.kind === 'flat') {
        setStatus(`Loading ${guest.title}…`);
        spec = { kind: 'flat', image: await pageFile(guest.file, `${guest.file} is missing on this server (run npm run guests)`), name: guest.title };
      } else if (guest.kind === 'custom-linux') {
        if (!kernelFile) throw new Error('choose a bzImage file first');
        setStatus(`Loading ${kernelFile.name}…`);
        const kernel = new Uint8Array(await kernelFile.arrayBuffer());
        const initrd = initrdFile ? new Uint8Array(await initrdFile.arrayBuffer()) : undefined;
        spec = { kind: 'linux', kernel, initrd, cmdline: linuxCmdline(customCmdline), name: kernelFile.name };
        linuxDevices();
      } else {
        setStatus('Loading kernel…');
        const kernel = await pageFile(guest.kernel, LINUX_NOT_BUILT);
        setStatus('Loading initrd…');
        const initrd = await pageFile(guest.initrd, LINUX_NOT_BUILT);
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
      const machine = await createMachine({ ...config, guest: spec }, { onConsole: onConsole(watch) });
      runningConf.current = spec.kind === 'linux'
        ? { xen, memoryMiB: config.memoryMiB ?? 0, vcpus: config.vcpus ?? 1, cmdline: spec.cmdline ?? '', mac: xen ? mac : null }
        : null;
      const name = spec.name ?? guest.title;
      await runMachine(machine, name, xen, linux ? `${name}: booting${xen ? ' (Xen PV devices)' : ''}` : `Running ${guest.title}`);
    } catch (e) {
      setPhase('error');
      setStatus(`Could not boot ${guest.title}: ${(e as Error).message}`);
    }
  }, [guest, linux, pv, diskBus, props.attachedDisk, index, kernelFile, initrdFile, customCmdline, memory, cpus, resetScreen, onConsole, runMachine]);

  /** Save the running machine into the snapshot library. */
  const save = useCallback(async () => {
    const m = machineRef.current;
    if (!m) return;
    setNote('Saving a snapshot…');
    try {
      const t0 = performance.now();
      // The disks travel in the snapshot (what they hold): resuming it makes copies of them.
      const file = await m.snapshot({ console: consoleTail.current, carryDisks: true });
      const name = `${status.split(':')[0] || 'Machine'} — ${new Date().toLocaleTimeString()}`;
      const info = await snapshotLibrary().add(file, name);
      props.onSaved?.(info);
      setNote(`Saved "${info.name}" (${(file.length / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s) to the snapshot library.`);
    } catch (e) {
      setNote(`Could not save a snapshot: ${(e as Error).message}`);
    }
  }, [status, props.onSaved]);

  /** A link that opens this machine as it is now: its difference from the shipped snapshot it shares a configuration with. */
  const copyLink = useCallback(async () => {
    const m = machineRef.current;
    const conf = runningConf.current;
    if (!m || !conf) return;
    setLink('');
    try {
      const shipped = (await shippedSnapshots()).find((s) =>
        s.xen === conf.xen && s.memoryMiB === conf.memoryMiB && conf.vcpus === 1 && s.cmdline === conf.cmdline && (s.nics?.[0]?.mac ?? null) === conf.mac);
      if (!shipped) throw new Error('links work for the bundled Debian guest as the page starts it (128 MiB, one vCPU): save a snapshot and export it as a file instead');
      setNote('Making a link…');
      // Disks travel in the link too (a disk plugged in after the start adds to the base's machine).
      const delta = await m.snapshot({ console: consoleTail.current, base: await shippedFile(shipped), carryDisks: true });
      const fragment = linkFragment(delta);
      if (!fragment) {
        setNote(`This machine differs from its shipped snapshot by ${(delta.length / 2 ** 20).toFixed(1)} MiB, more than a link can carry (${LINK_MAX_BYTES >> 10} KiB): save a snapshot and export it as a file, or host the file and share ?snapshot=URL.`);
        return;
      }
      const url = `${location.origin}${location.pathname}#${fragment}`;
      setLink(url);
      try { await navigator.clipboard.writeText(url); setNote(`Link copied (${(url.length / 1024).toFixed(0)} KB; the machine travels in the part after #, which browsers never send to a server).`); }
      catch { setNote(`Link ready below (${(url.length / 1024).toFixed(0)} KB): copy it by hand.`); }
    } catch (e) {
      setNote(`Could not make a link: ${(e as Error).message}`);
    }
  }, []);

  useImperativeHandle(props.control, () => ({ resume }), [resume]);

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
          <select value={guestId} onChange={(e) => { setGuestId(e.target.value); setMemory(String(GUESTS.find((g) => g.id === e.target.value)!.memoryMiB)); }} disabled={busy} aria-label="Guest">
            {GUESTS.map((g) => <option key={g.id} value={g.id}>{g.title}</option>)}
          </select>
        </label>
        <label title="Guest RAM: 1 to 3072 MiB (a multiple of 16 with PV devices)">
          Memory{' '}
          <input type="number" min={1} max={3072} step={1} size={5} value={memory} onChange={(e) => setMemory(e.target.value)} disabled={busy} aria-label="Memory (MiB)" className="memory" /> MiB
        </label>
        {linux && (
          <label title="Virtual CPUs: each runs in its own Web Worker over the machine's one shared memory">
            vCPUs{' '}
            <select value={cpus} onChange={(e) => setCpus(Number(e.target.value))} disabled={busy} aria-label="vCPUs">
              {[1, 2, 4, 8].map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          </label>
        )}
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
        <button onClick={() => boot(false)} disabled={phase === 'loading' || !isolated}>Boot</button>
        {guest.kind === 'linux' && (
          <button onClick={() => boot(true)} disabled={phase === 'loading' || !isolated} title="Boot the kernel from power-on (Boot starts the bundled guest from its shipped snapshot when it can)">Cold boot</button>
        )}
        <button onClick={stop} disabled={phase !== 'running'}>Stop</button>
        <button onClick={save} disabled={phase !== 'running'} title="Save this machine, running, into the snapshot library">Save snapshot</button>
        <button onClick={copyLink} disabled={phase !== 'running'} title="A link that opens this machine as it is now, in any browser">Copy link</button>
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
      {note && <p className="machine-note" data-testid={`note-${index}`}>{note}</p>}
      {link && <input className="machine-link" readOnly value={link} aria-label={`Link to machine ${index + 1}`} data-testid={`link-${index}`} onFocus={(e) => e.target.select()} />}
      <p className="description">{guest.description}</p>
      {guest.kind === 'custom-linux' && (
        <div className="controls">
          <label>bzImage <input type="file" aria-label="Kernel (bzImage)" disabled={busy} onChange={(e) => setKernelFile(e.target.files?.[0] ?? null)} /></label>
          <label>initrd <input type="file" aria-label="Initrd (optional)" disabled={busy} onChange={(e) => setInitrdFile(e.target.files?.[0] ?? null)} /></label>
          <label>Command line <input type="text" size={40} aria-label="Kernel command line" value={customCmdline} disabled={busy} onChange={(e) => setCustomCmdline(e.target.value)} /></label>
        </div>
      )}
      <Console index={index} onInput={(b) => machineRef.current?.sendInput(b)} onReady={(api) => { consoleRef.current = api; }} />
      {phase === 'running' && <MachineTools index={index} machine={machineRef.current} />}
    </section>
  );
}

import { useCallback, useEffect, useRef, useState } from 'react';
import { createMachine, type MachineConfig, type MachineHandle, type StopReason } from '../engine-ts/api';
import { Console, type ConsoleApi } from './Console';
import { DisksPanel } from './disks/DisksPanel';
import { GUESTS } from './guests';

type Phase = 'idle' | 'loading' | 'running' | 'stopped' | 'error';

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

export function App() {
  const [guestId, setGuestId] = useState(GUESTS[0].id);
  const [phase, setPhase] = useState<Phase>('idle');
  const [status, setStatus] = useState('Pick a guest and press Boot.');
  const [mips, setMips] = useState<number | null>(null);
  const consoleRef = useRef<ConsoleApi | null>(null);
  const machineRef = useRef<MachineHandle | null>(null);
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;

  const stop = useCallback(async () => {
    const m = machineRef.current;
    if (!m) return;
    await m.stop();
  }, []);

  const boot = useCallback(async () => {
    const guest = GUESTS.find((g) => g.id === guestId)!;
    if (machineRef.current) { await machineRef.current.stop(); machineRef.current.dispose(); machineRef.current = null; }
    consoleRef.current?.clear();
    setPhase('loading');
    setMips(null);
    try {
      let spec: MachineConfig['guest'];
      let watch: ((text: string) => void) | null = null;
      if (guest.kind === 'flat') {
        setStatus(`Loading ${guest.title}…`);
        spec = { kind: 'flat', image: await fetchBytes(guest.file), name: guest.title };
      } else {
        setStatus('Loading kernel…');
        const kernel = await fetchBytes(guest.kernel);
        setStatus('Loading initrd…');
        const initrd = await fetchBytes(guest.initrd);
        spec = { kind: 'linux', kernel, initrd, cmdline: guest.cmdline, name: guest.title };
        // Follow boot progress in the console text.
        let seen = '';
        let next = 0;
        watch = (text) => {
          if (next >= guest.phases.length) return;
          seen = (seen + text).slice(-4096);
          while (next < guest.phases.length && seen.includes(guest.phases[next].match)) {
            setStatus(`${guest.title}: ${guest.phases[next].label}`);
            next++;
          }
        };
      }
      const dec = new TextDecoder();
      const machine = await createMachine(
        { memoryMiB: guest.memoryMiB, guest: spec, pacing: 'realtime', rtcStartSeconds: Math.floor(Date.now() / 1000) },
        { onConsole: (b) => { consoleRef.current?.write(b); watch?.(dec.decode(b, { stream: true })); } },
      );
      machineRef.current = machine;
      setPhase('running');
      setStatus(guest.kind === 'linux' ? `${guest.title}: booting` : `Running ${guest.title}`);
      consoleRef.current?.focus();
      const reason = await machine.run();
      if (machineRef.current === machine) {
        setPhase('stopped');
        setStatus(`${guest.title}: ${describeStop(reason)}`);
      }
    } catch (e) {
      setPhase('error');
      setStatus(`Could not boot ${guest.title}: ${(e as Error).message}`);
    }
  }, [guestId]);

  useEffect(() => {
    if (phase !== 'running') return;
    const t = setInterval(async () => {
      const m = machineRef.current;
      if (!m) return;
      try { setMips((await m.stats()).mips); } catch { /* the worker is busy or gone */ }
    }, 1000);
    return () => clearInterval(t);
  }, [phase]);

  const guest = GUESTS.find((g) => g.id === guestId)!;
  return (
    <div className="app">
      <header>
        <h1>pvlab</h1>
        <span className="tagline">a virtualisation lab in your browser</span>
      </header>
      {!isolated && (
        <p className="warning" role="alert">
          This page is not cross-origin isolated, so guests cannot run (shared memory needs COOP/COEP headers).
        </p>
      )}
      <section className="controls">
        <label>
          Guest{' '}
          <select value={guestId} onChange={(e) => setGuestId(e.target.value)} disabled={phase === 'loading'} aria-label="Guest">
            {GUESTS.map((g) => <option key={g.id} value={g.id}>{g.title}</option>)}
          </select>
        </label>
        <button onClick={boot} disabled={phase === 'loading' || !isolated}>Boot</button>
        <button onClick={stop} disabled={phase !== 'running'}>Stop</button>
        <span className="status" data-testid="status" data-phase={phase}>{status}</span>
        {mips !== null && <span className="mips" data-testid="mips">{mips.toFixed(1)} MIPS</span>}
      </section>
      <p className="description">{guest.description}</p>
      <Console onInput={(b) => machineRef.current?.sendInput(b)} onReady={(api) => { consoleRef.current = api; }} />
      <DisksPanel />
    </div>
  );
}

import { useCallback, useEffect, useRef, useState } from 'react';
import { createMachine, type MachineHandle, type StopReason } from '../engine-ts/api';
import { Console, type ConsoleApi } from './Console';
import { GUESTS } from './guests';

type Phase = 'idle' | 'loading' | 'running' | 'stopped' | 'error';

function describeStop(r: StopReason): string {
  switch (r.kind) {
    case 'halted': return 'guest halted';
    case 'exit': return `guest exited with code ${r.code}`;
    case 'stopped': return 'stopped';
    case 'triple-fault': return 'triple fault (machine shut down)';
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
    setStatus(`Loading ${guest.title}…`);
    try {
      const res = await fetch(guest.file);
      if (!res.ok) throw new Error(`${guest.file}: HTTP ${res.status}`);
      const image = new Uint8Array(await res.arrayBuffer());
      const machine = await createMachine(
        { memoryMiB: guest.memoryMiB, guest: { kind: 'flat', image, name: guest.title }, pacing: 'realtime' },
        { onConsole: (b) => consoleRef.current?.write(b) },
      );
      machineRef.current = machine;
      setPhase('running');
      setStatus(`Running ${guest.title}`);
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
    </div>
  );
}

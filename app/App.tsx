import { createRef, useEffect, useMemo, useState, type RefObject } from 'react';
import { LabNetwork, SnapshotError, prepareMachines, readSnapshotHeader, snapshotFromFragment } from '../engine-ts/api';
import { DisksPanel } from './disks/DisksPanel';
import { LINUX_IMAGE_URLS } from './guests';
import { MachinePanel, type InitialSnapshot, type MachineControl } from './MachinePanel';
import { SnapshotsPanel } from './snapshots/SnapshotsPanel';
import { shippedBySha, shippedFile } from './snapshots/shipped';
import { Classroom, useLessonParam } from './lessons/Classroom';

const MAX_MACHINES = 4;
/** A snapshot fetched from ?snapshot=URL may be at most this big. */
const MAX_URL_SNAPSHOT = 1 << 30;

/**
 * What the page was opened with: a share link (#snap=…, a delta of a shipped snapshot) or
 * ?snapshot=URL (a .pvsnap a teacher hosts anywhere CORS allows). Machine 1 starts with it.
 */
function initialSnapshot(): InitialSnapshot | undefined {
  const url = new URLSearchParams(location.search).get('snapshot');
  if (location.hash.startsWith('#snap=')) {
    return async () => {
      const delta = snapshotFromFragment(location.hash);
      if (!delta) return null;
      const { header } = await readSnapshotHeader(delta).catch((e: unknown) => {
        throw new Error(`This link does not hold a machine: ${(e as Error).message}`);
      });
      if (!header.base) return { file: delta, what: 'the link' };
      const base = await shippedBySha(header.base);
      if (!base) throw new SnapshotError(`This link was made against a snapshot this server does not ship (SHA-256 ${header.base.slice(0, 12)}…): open it where it was made, or ask for the .pvsnap file`);
      return { file: delta, what: 'the link', base: await shippedFile(base) };
    };
  }
  if (url) {
    return async () => {
      let res: Response;
      try {
        res = await fetch(url);
      } catch (e) {
        throw new Error(`Could not fetch the snapshot at ${url} (${(e as Error).message}; the server must allow this page to read it: CORS)`);
      }
      if (!res.ok) throw new Error(`Could not fetch the snapshot at ${url}: HTTP ${res.status}`);
      const size = Number(res.headers.get('content-length') ?? 0);
      if (size > MAX_URL_SNAPSHOT) throw new Error(`The snapshot at ${url} is ${size} bytes, more than a snapshot can be`);
      return { file: new Uint8Array(await res.arrayBuffer()), what: url.split('/').pop() || url };
    };
  }
  return undefined;
}

export function App() {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const network = useMemo(() => new LabNetwork(), []);
  // The x86 core compiled, a machine worker started and the bundled guest's base views made
  // (the shipped snapshots are stored relative to them) while the page waits for the first click.
  useEffect(() => { if (isolated) prepareMachines({ baseImages: LINUX_IMAGE_URLS }); }, [isolated]);
  const [machines, setMachines] = useState<number[]>([0]);
  const [attachedDisk, setAttachedDisk] = useState<string | null>(null);
  const [savedCount, setSavedCount] = useState(0);
  const initial = useMemo(initialSnapshot, []);
  const controls = useMemo(() => new Map<number, RefObject<MachineControl | null>>(), []);
  const control = (i: number) => {
    if (!controls.has(i)) controls.set(i, createRef<MachineControl>());
    return controls.get(i)!;
  };
  const addMachine = () => setMachines((m) => (m.length >= MAX_MACHINES ? m : [...m, Math.max(...m) + 1]));
  const [lesson, openLesson] = useLessonParam();

  return (
    <div className="app">
      <header>
        <h1>pvlab</h1>
        <span className="tagline">a virtualisation lab in your browser</span>
        <Classroom.TextSize />
      </header>
      {!isolated && (
        <p className="warning" role="alert">
          This page is not cross-origin isolated, so guests cannot run (shared memory needs COOP/COEP headers).
        </p>
      )}
      {lesson !== null ? <Classroom.Lesson name={lesson} onExit={() => openLesson(null)} /> : <>
      {machines.map((i) => (
        <MachinePanel
          key={i}
          index={i}
          network={network}
          attachedDisk={attachedDisk}
          initial={i === 0 ? initial : undefined}
          onSaved={() => setSavedCount((n) => n + 1)}
          control={control(i)}
          onRemove={machines.length > 1 ? () => setMachines((m) => m.filter((x) => x !== i)) : undefined}
        />
      ))}
      <p>
        <button onClick={addMachine} disabled={machines.length >= MAX_MACHINES}>Add machine</button>{' '}
        <span className="description">Machines booted with PV (Xen) devices share the lab network (DHCP on 10.0.2.0/24: run <code>udhcpc -i eth0</code>).</span>
      </p>
      <Classroom.Lessons onOpen={openLesson} />
      <SnapshotsPanel machines={machines} refresh={savedCount} onResume={(m, file, name) => void control(m).current?.resume(file, name)} />
      </>}
      <DisksPanel onAttachChange={setAttachedDisk} />
    </div>
  );
}

import { useMemo, useState } from 'react';
import { LabNetwork } from '../engine-ts/api';
import { DisksPanel } from './disks/DisksPanel';
import { MachinePanel } from './MachinePanel';
import { Classroom, useLessonParam } from './lessons/Classroom';

const MAX_MACHINES = 4;

export function App() {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const network = useMemo(() => new LabNetwork(), []);
  const [machines, setMachines] = useState<number[]>([0]);
  const [attachedDisk, setAttachedDisk] = useState<string | null>(null);
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
          onRemove={machines.length > 1 ? () => setMachines((m) => m.filter((x) => x !== i)) : undefined}
        />
      ))}
      <p>
        <button onClick={addMachine} disabled={machines.length >= MAX_MACHINES}>Add machine</button>{' '}
        <span className="description">Machines booted with PV (Xen) devices share the lab network (DHCP on 10.0.2.0/24: run <code>udhcpc -i eth0</code>).</span>
      </p>
      <Classroom.Lessons onOpen={openLesson} />
      </>}
      <DisksPanel onAttachChange={setAttachedDisk} />
    </div>
  );
}

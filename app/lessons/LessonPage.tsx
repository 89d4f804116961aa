// A guided lesson: its steps beside the machines it starts. Each step's checks are evaluated
// live from the machines' samplers (console text, xenstore, counters, timeline events since
// the step began); a step turns green by itself and the next one begins. Progress is kept in
// localStorage; Reset starts the lesson and its machines again.
import { useCallback, useEffect, useRef, useState } from 'react';
import { LabNetwork, type MachineHandle, type TimelineEvent } from '../../engine-ts/api';
import { Console, type ConsoleApi } from '../Console';
import { MachineTools } from '../inspector/MachineTools';
import { samplerFor } from '../lab/sampler';
import { checkPasses, type MachineView } from './checks';
import { Markdown } from './Markdown';
import { LessonError, parseLesson, type Block, type Lesson } from './parse';
import { startMachine } from './start';

const PROGRESS_KEY = (name: string) => `pvlab.lesson.${name}`;
const CONSOLE_KEPT = 64 * 1024;

function readProgress(name: string): number {
  try { return Number(localStorage.getItem(PROGRESS_KEY(name)) ?? 0) || 0; } catch { return 0; }
}
function writeProgress(name: string, done: number): void {
  try { localStorage.setItem(PROGRESS_KEY(name), String(done)); } catch { /* private mode: progress is not kept */ }
}

export async function loadLesson(name: string): Promise<Lesson> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new LessonError(`"${name}" is not a lesson name (letters, digits and dashes)`);
  const res = await fetch(`lessons/${name}.md`);
  if (res.status === 404 || (res.headers.get('content-type') ?? '').startsWith('text/html')) throw new LessonError(`there is no lesson "${name}" (public/lessons/${name}.md)`);
  if (!res.ok) throw new LessonError(`lessons/${name}.md: HTTP ${res.status}`);
  return parseLesson(name, await res.text());
}

interface Running {
  /** Null when it could not start (see status). */
  machine: MachineHandle | null;
  console: string;
  phase: 'loading' | 'running' | 'stopped' | 'error';
  status: string;
  /** Per-step record: counters when the step began, events since. */
  start: { stats: MachineView['statsAtStart']; sample: MachineView['sampleAtStart'] } | null;
  events: TimelineEvent[];
}

export function LessonPage({ name, onExit }: { name: string; onExit: () => void }) {
  const [lesson, setLesson] = useState<Lesson | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(() => readProgress(name));
  const [run, setRun] = useState(0);
  const [, setTick] = useState(0);
  const machines = useRef<Array<Running | null>>([]);
  const consoles = useRef<Array<ConsoleApi | null>>([]);
  const doneRef = useRef(done);
  doneRef.current = done;

  useEffect(() => {
    let cancelled = false;
    setLesson(null);
    setError(null);
    loadLesson(name).then((l) => { if (!cancelled) setLesson(l); }, (e) => { if (!cancelled) setError((e as Error).message); });
    return () => { cancelled = true; };
  }, [name]);

  const evaluate = useCallback(() => {
    const l = lesson;
    if (!l) return;
    let d = doneRef.current;
    while (d < l.steps.length) {
      const step = l.steps[d];
      const views = machines.current.map((m) => {
        if (!m?.machine) return undefined;
        const s = samplerFor(m.machine);
        const stats = s.history[s.history.length - 1]?.stats ?? null;
        // Counters count from the first sample taken once the step began.
        if (!m.start && stats && s.sample) m.start = { stats, sample: s.sample };
        const v: MachineView = { console: m.console, sample: s.sample, stats, statsAtStart: m.start?.stats ?? null, sampleAtStart: m.start?.sample ?? null, events: m.events };
        return v;
      });
      if (!step.checks.every((c) => checkPasses(c, views[c.machine]))) break;
      d++;
      for (const m of machines.current) if (m) { m.start = null; m.events = []; }
    }
    if (d !== doneRef.current) {
      doneRef.current = d;
      writeProgress(name, d);
      setDone(d);
    }
  }, [lesson, name]);

  // Start the lesson's machines (again, after Reset).
  useEffect(() => {
    if (!lesson) return;
    const network = new LabNetwork();
    const started: Array<Running | null> = lesson.machines.map(() => null);
    machines.current = started;
    const unsubs: Array<() => void> = [];
    let cancelled = false;
    lesson.machines.forEach(async (spec, i) => {
      const dec = new TextDecoder();
      let r: Running | null = null;
      const pending: string[] = [];
      const onConsole = (b: Uint8Array) => {
        consoles.current[i]?.write(b);
        const text = dec.decode(b, { stream: true });
        if (!r) { pending.push(text); return; }
        r.console = (r.console + text).slice(-CONSOLE_KEPT);
      };
      try {
        const s = await startMachine(spec, i, lesson.name, { onConsole });
        if (cancelled) { s.machine.dispose(); return; }
        if (s.screen) consoles.current[i]?.write(s.screen.replace(/\r?\n/g, '\r\n'));
        r = { machine: s.machine, console: s.screen + pending.join(''), phase: 'running', status: `${spec.kind === 'snapshot' ? `resumed ${spec.snapshot}` : 'booting'}`, start: null, events: [] };
        started[i] = r;
        if (s.xen) await network.attach(s.machine);
        unsubs.push(samplerFor(s.machine).subscribe({
          inspect: true,
          onChange: (_s, fresh) => {
            if (fresh.length) r!.events = r!.events.concat(fresh).slice(-20000);
            evaluate();
            setTick((n) => n + 1);
          },
        }));
        setTick((n) => n + 1);
        const reason = await s.machine.run();
        r.phase = reason.kind === 'error' ? 'error' : 'stopped';
        r.status = reason.kind === 'error' ? `error: ${reason.message}` : `stopped (${reason.kind})`;
      } catch (e) {
        if (r) { r.phase = 'error'; r.status = `error: ${(e as Error).message}`; }
        else started[i] = { machine: null, console: '', phase: 'error', status: `could not start: ${(e as Error).message}`, start: null, events: [] };
      }
      setTick((n) => n + 1);
    });
    return () => {
      cancelled = true;
      for (const u of unsubs) u();
      for (const m of started) m?.machine?.dispose();
    };
  }, [lesson, run, evaluate]);

  const reset = () => {
    writeProgress(name, 0);
    doneRef.current = 0;
    setDone(0);
    setRun((n) => n + 1);
  };

  const typeInto = (b: Block) => {
    const m = machines.current[b.machine];
    if (!m?.machine) return;
    m.machine.sendInput(new TextEncoder().encode(`${b.text}\r`));
    consoles.current[b.machine]?.focus();
  };

  if (error) {
    return (
      <section className="lesson" aria-label="Lesson">
        <p className="lesson-error" role="alert">Lesson “{name}” cannot be opened: {error}</p>
        <button onClick={onExit}>Back to the lab</button>
      </section>
    );
  }
  if (!lesson) return <p>Loading lesson {name}…</p>;
  const finished = done >= lesson.steps.length;
  return (
    <div className="lesson-layout">
      <section className="lesson" aria-label={`Lesson: ${lesson.title}`}>
        <div className="lesson-head">
          <h2>{lesson.title}</h2>
          <span className="lesson-progress" data-testid="lesson-progress" data-done={done} data-steps={lesson.steps.length}>
            {Math.min(done, lesson.steps.length)} of {lesson.steps.length} steps done
          </span>
          <button onClick={reset}>Reset</button>
          <button onClick={onExit}>Leave the lesson</button>
        </div>
        {lesson.summary && <p className="description">{lesson.summary}</p>}
        {lesson.intro.map((b, i) => <BlockView key={i} block={b} onType={typeInto} />)}
        <ol className="steps">
          {lesson.steps.map((s, i) => {
            const state = i < done ? 'done' : i === done ? 'current' : 'later';
            return (
              <li key={i} className={`step ${state}`} data-testid={`step-${i + 1}`} data-state={state} aria-current={state === 'current' ? 'step' : undefined}>
                <h3>{state === 'done' ? '✓ ' : ''}{s.title}</h3>
                {state !== 'later' && (
                  <>
                    {s.blocks.map((b, j) => <BlockView key={j} block={b} onType={typeInto} disabled={state !== 'current'} />)}
                    <ul className="checks">
                      {s.checks.map((c, j) => <li key={j} className={state === 'done' ? 'ok' : ''}><code>{c.source}</code></li>)}
                    </ul>
                    {s.hints.map((h, j) => (
                      <details key={j} className="hint"><summary>Hint{s.hints.length > 1 ? ` ${j + 1}` : ''}</summary><Markdown text={h} /></details>
                    ))}
                  </>
                )}
              </li>
            );
          })}
        </ol>
        {finished && <p className="lesson-done" role="status">Lesson complete. Well done!</p>}
      </section>
      <div className="lesson-machines">
        {lesson.machines.map((spec, i) => {
          const m = machines.current[i];
          return (
            <section key={`${run}-${i}`} className="machine" aria-label={`Machine ${i + 1}`}>
              <div className="controls">
                <strong>Machine {i + 1}</strong>
                <span className="status" data-testid={`status-${i}`} data-phase={m?.phase ?? 'loading'}>
                  {m?.status ?? (spec.kind === 'snapshot' ? `resuming ${spec.snapshot}…` : 'booting…')}
                </span>
              </div>
              <Console index={i} onInput={(b) => machines.current[i]?.machine?.sendInput(b)} onReady={(api) => { consoles.current[i] = api; }} />
              {m?.phase === 'running' && m.machine && <MachineTools index={i} machine={m.machine} open={{ inspector: true }} />}
            </section>
          );
        })}
      </div>
    </div>
  );
}

function BlockView({ block, onType, disabled }: { block: Block; onType: (b: Block) => void; disabled?: boolean }) {
  if (block.kind === 'text') return <Markdown text={block.text} />;
  if (block.kind === 'code') return <pre className="code">{block.text}</pre>;
  return (
    <div className="type-this">
      <pre className="code">{block.text}</pre>
      <button onClick={() => onType(block)} disabled={disabled} aria-label={`Type this into machine ${block.machine + 1}: ${block.text}`}>
        Type this{block.machine > 0 ? ` (machine ${block.machine + 1})` : ''}
      </button>
    </div>
  );
}

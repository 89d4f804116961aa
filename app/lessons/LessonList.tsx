// The lessons this server offers (public/lessons/index.json), each parsed up front: a lesson
// that does not parse is listed with its error, and the others still open.
import { useEffect, useState } from 'react';
import type { Lesson } from './parse';
import { loadLesson } from './LessonPage';

type Entry = { name: string; lesson: Lesson | null; error: string | null };

export async function lessonIndex(): Promise<string[]> {
  const res = await fetch('lessons/index.json');
  if (!res.ok) throw new Error(`lessons/index.json: HTTP ${res.status}`);
  const j = (await res.json()) as { lessons?: unknown };
  if (!Array.isArray(j.lessons) || j.lessons.some((n) => typeof n !== 'string')) throw new Error('lessons/index.json: "lessons" is not a list of names');
  return j.lessons as string[];
}

export function LessonList({ onOpen }: { onOpen: (name: string) => void }) {
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    lessonIndex()
      .then((names) => Promise.all(names.map((name) => loadLesson(name).then(
        (lesson) => ({ name, lesson, error: null }),
        (e) => ({ name, lesson: null, error: (e as Error).message }),
      ))))
      .then(setEntries, (e) => setError((e as Error).message));
  }, []);
  return (
    <section className="lessons" aria-label="Lessons">
      <h2>Lessons</h2>
      {error && <p className="lesson-error" role="alert">{error}</p>}
      {!entries && !error && <p className="muted">Loading the lessons…</p>}
      <ol className="lesson-list">
        {entries?.map((e) => (
          <li key={e.name} data-lesson={e.name} data-ok={e.lesson ? 'yes' : 'no'}>
            {e.lesson ? (
              <>
                <a href={`?lesson=${e.name}`} onClick={(ev) => { ev.preventDefault(); onOpen(e.name); }}>{e.lesson.title}</a>
                {e.lesson.summary && <span className="description"> — {e.lesson.summary}</span>}
              </>
            ) : (
              <span className="lesson-error" role="alert"><code>{e.name}</code>: {e.error}</span>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

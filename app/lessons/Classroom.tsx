// The classroom's pieces the page mounts: the lesson list, a lesson (?lesson=NAME opens the
// page on one), and the large-text switch for projectors.
import { useCallback, useEffect, useState } from 'react';
import { LessonList } from './LessonList';
import { LessonPage } from './LessonPage';

const LARGE_KEY = 'pvlab.largeText';

function lessonFromUrl(): string | null {
  return new URLSearchParams(location.search).get('lesson');
}

/** The lesson in the address (?lesson=NAME), and a way to open one (or none) that keeps the address in step. */
export function useLessonParam(): [string | null, (name: string | null) => void] {
  const [lesson, setLesson] = useState(lessonFromUrl);
  useEffect(() => {
    const onPop = () => setLesson(lessonFromUrl());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const open = useCallback((name: string | null) => {
    const url = new URL(location.href);
    if (name) url.searchParams.set('lesson', name); else url.searchParams.delete('lesson');
    history.pushState(null, '', url);
    setLesson(name);
  }, []);
  return [lesson, open];
}

/** Large text for a projector: the whole page scales up (kept across visits). */
function TextSize() {
  const [large, setLarge] = useState(() => { try { return localStorage.getItem(LARGE_KEY) === '1'; } catch { return false; } });
  useEffect(() => {
    document.documentElement.classList.toggle('large-text', large);
    try { localStorage.setItem(LARGE_KEY, large ? '1' : '0'); } catch { /* not kept */ }
  }, [large]);
  return (
    <label className="text-size">
      <input type="checkbox" checked={large} onChange={(e) => setLarge(e.target.checked)} /> Large text
    </label>
  );
}

export const Classroom = { Lesson: LessonPage, Lessons: LessonList, TextSize };

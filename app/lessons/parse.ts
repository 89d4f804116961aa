// A lesson file (public/lessons/NAME.md): front matter between two `---` lines, an
// introduction, then steps, each a `## heading` with markdown text and fenced blocks:
//   ```type        (or type@2)  a command the student can send to the console with a button
//   ```check       one check per line; the step turns green when all of them hold
//   ```hint        shown when the student asks
// Everything is checked here, so a broken lesson is reported with what is wrong and where.

export interface MachineStart {
  /** A shipped snapshot (public/snapshots/NAME.pvsnap) resumed, or a cold boot of the Linux guest. */
  kind: 'snapshot' | 'boot';
  snapshot?: string;
  /** boot: Xen PV devices, disks by bus (new blank library disks), extra kernel command line. */
  xen?: boolean;
  disks?: Array<'ide' | 'xen'>;
  append?: string;
}

export type Check =
  | { kind: 'console'; machine: number; pattern: RegExp; source: string }
  | { kind: 'xenstore'; machine: number; path: string; op: 'exists' | 'equals' | 'matches'; value?: string; pattern?: RegExp; source: string }
  | { kind: 'counter'; machine: number; counter: string; atLeast: number; source: string }
  | { kind: 'event'; machine: number; event: string; pattern?: RegExp; source: string };

export const CHECK_KINDS = ['console', 'xenstore', 'counter', 'event'] as const;
export const EVENT_KINDS = ['hypercall', 'evtchn-send', 'virq', 'upcall', 'grant-map', 'grant-unmap', 'xs-write', 'xs-rm', 'watch'];
/** Counters a check may name (disk.NAME.read|written|bytes and hypercalls.OP are open-ended). */
export const COUNTERS = /^(exits\.(io|mmio|hypercall|halt)|interrupts|instructions|grants\.maps|disk\.[a-z]+\.(read|written|bytes)|hypercalls\.[a-z_]+)$/;

export interface Block {
  kind: 'text' | 'type' | 'code';
  text: string;
  machine: number;
}

export interface Step {
  title: string;
  blocks: Block[];
  checks: Check[];
  hints: string[];
}

export interface Lesson {
  name: string;
  title: string;
  summary: string;
  machines: MachineStart[];
  intro: Block[];
  steps: Step[];
}

export class LessonError extends Error {
  constructor(message: string) { super(message); this.name = 'LessonError'; }
}

/** `/body/flags` → RegExp, or a LessonError saying why not. */
function regex(src: string, where: string): RegExp {
  const m = /^\/(.*)\/([imsu]*)$/.exec(src.trim());
  if (!m) throw new LessonError(`${where}: a pattern is written /like this/ (got ${JSON.stringify(src.trim())})`);
  try {
    return new RegExp(m[1], m[2]);
  } catch (e) {
    throw new LessonError(`${where}: the pattern ${src.trim()} does not compile (${(e as Error).message})`);
  }
}

function kindAndMachine(word: string, where: string, known: readonly string[], what: string): { kind: string; machine: number } {
  const m = /^([a-z-]+)(?:@(\d))?$/.exec(word);
  if (!m || !known.includes(m[1])) throw new LessonError(`${where}: unknown ${what} ${JSON.stringify(word)} (known: ${known.join(', ')})`);
  return { kind: m[1], machine: m[2] ? Number(m[2]) - 1 : 0 };
}

export function parseCheck(line: string, where: string, machines: number): Check {
  const source = line.trim();
  const sp = source.indexOf(' ');
  const head = sp < 0 ? source : source.slice(0, sp);
  const rest = sp < 0 ? '' : source.slice(sp + 1).trim();
  const { kind, machine } = kindAndMachine(head, where, CHECK_KINDS, 'check kind');
  if (machine >= machines) throw new LessonError(`${where}: ${head} names machine ${machine + 1}; the lesson starts ${machines}`);
  switch (kind) {
    case 'console':
      return { kind, machine, pattern: regex(rest, where), source };
    case 'xenstore': {
      const m = /^(\S+)(?:\s+(=|~)\s+(.*))?$/.exec(rest);
      if (!m || !m[1].startsWith('/')) throw new LessonError(`${where}: xenstore checks name an absolute path: "xenstore /local/domain/1/... [= value | ~ /pattern/]"`);
      if (!m[2]) return { kind, machine, path: m[1], op: 'exists', source };
      if (m[2] === '=') return { kind, machine, path: m[1], op: 'equals', value: m[3], source };
      return { kind, machine, path: m[1], op: 'matches', pattern: regex(m[3], where), source };
    }
    case 'counter': {
      const m = /^(\S+)\s*>=\s*(\d+(?:\.\d+)?)$/.exec(rest);
      if (!m) throw new LessonError(`${where}: counter checks read "counter NAME >= NUMBER"`);
      if (!COUNTERS.test(m[1])) throw new LessonError(`${where}: unknown counter ${JSON.stringify(m[1])} (exits.io, exits.mmio, exits.hypercall, interrupts, instructions, grants.maps, disk.NAME.read|written|bytes, hypercalls.OPERATION)`);
      return { kind, machine, counter: m[1], atLeast: Number(m[2]), source };
    }
    default: {
      const m = /^(\S+)(?:\s+(.+))?$/.exec(rest);
      if (!m || !EVENT_KINDS.includes(m[1])) throw new LessonError(`${where}: unknown timeline event ${JSON.stringify(m?.[1] ?? '')} (known: ${EVENT_KINDS.join(', ')})`);
      return { kind: 'event', machine, event: m[1], pattern: m[2] ? regex(m[2], where) : undefined, source };
    }
  }
}

export function parseMachine(v: string, where: string): MachineStart {
  const words = v.trim().split(/\s+/);
  if (words[0] === 'snapshot' && words.length === 2 && /^[a-z0-9-]+$/.test(words[1])) return { kind: 'snapshot', snapshot: words[1] };
  if (words[0] === 'boot') {
    const start: MachineStart = { kind: 'boot', xen: false, disks: [] };
    for (const w of words.slice(1)) {
      if (w === 'xen') start.xen = true;
      else if (w.startsWith('disks=')) {
        const ds = w.slice(6).split(',');
        if (ds.some((d) => d !== 'ide' && d !== 'xen')) throw new LessonError(`${where}: disks are ide or xen (got ${w})`);
        start.disks = ds as Array<'ide' | 'xen'>;
      } else if (w.startsWith('append=')) start.append = `${start.append ? `${start.append} ` : ''}${w.slice(7)}`;
      else throw new LessonError(`${where}: unknown boot option ${JSON.stringify(w)} (xen, disks=ide,xen, append=PARAM)`);
    }
    if (start.disks!.includes('xen') && !start.xen) throw new LessonError(`${where}: a xen disk needs "xen"`);
    return start;
  }
  throw new LessonError(`${where}: a machine is "snapshot NAME" or "boot [xen] [disks=ide,xen] [append=PARAM]" (got ${JSON.stringify(v.trim())})`);
}

/** Parse a lesson file; throws LessonError naming the problem. */
export function parseLesson(name: string, text: string): Lesson {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines[0]?.trim() !== '---') throw new LessonError('no front matter: the file must begin with a line "---", then "title: …" and "machine: …", then "---"');
  const end = lines.indexOf('---', 1);
  if (end < 0) throw new LessonError('the front matter is not closed by a line "---"');
  const meta = new Map<string, string>();
  lines.slice(1, end).forEach((l, i) => {
    if (!l.trim() || l.trim().startsWith('#')) return;
    const m = /^([a-z][a-z0-9 ]*):\s*(.*)$/.exec(l);
    if (!m) throw new LessonError(`front matter line ${i + 2}: expected "key: value" (got ${JSON.stringify(l)})`);
    meta.set(m[1].trim(), m[2].trim());
  });
  const title = meta.get('title');
  if (!title) throw new LessonError('the front matter has no title');
  const machines: MachineStart[] = [];
  for (let n = 1; n <= 4; n++) {
    const key = n === 1 ? 'machine' : `machine ${n}`;
    const v = meta.get(key);
    if (v === undefined) break;
    machines.push(parseMachine(v, `front matter "${key}"`));
  }
  if (machines.length === 0) throw new LessonError('the front matter names no machine ("machine: snapshot linux-xen", say)');
  for (const k of meta.keys()) if (!/^(title|summary|machine( [2-4])?)$/.test(k)) throw new LessonError(`front matter: unknown key ${JSON.stringify(k)} (title, summary, machine, machine 2 …)`);

  const intro: Block[] = [];
  const steps: Step[] = [];
  let blocks = intro;
  let para: string[] = [];
  const flush = () => {
    if (para.length) blocks.push({ kind: 'text', text: para.join('\n'), machine: 0 });
    para = [];
  };
  for (let i = end + 1; i < lines.length; i++) {
    const l = lines[i];
    const heading = /^## (.+)$/.exec(l);
    if (heading) {
      flush();
      const step: Step = { title: heading[1].trim(), blocks: [], checks: [], hints: [] };
      steps.push(step);
      blocks = step.blocks;
      continue;
    }
    const fence = /^```\s*([a-z]*)(?:@(\d))?\s*$/.exec(l);
    if (!fence) { para.push(l); continue; }
    flush();
    const close = lines.findIndex((x, j) => j > i && /^```\s*$/.test(x));
    if (close < 0) throw new LessonError(`line ${i + 1}: a fenced block is not closed`);
    const body = lines.slice(i + 1, close);
    const where = `step ${steps.length} ("${steps[steps.length - 1]?.title ?? 'introduction'}"), line ${i + 1}`;
    const machine = fence[2] ? Number(fence[2]) - 1 : 0;
    if (machine >= machines.length) throw new LessonError(`${where}: the block names machine ${machine + 1}; the lesson starts ${machines.length}`);
    const step = steps[steps.length - 1];
    if (fence[1] === 'check') {
      if (!step) throw new LessonError(`line ${i + 1}: a check belongs to a step (a "## heading" before it)`);
      body.forEach((b, k) => { if (b.trim()) step.checks.push(parseCheck(b, `${where.replace(/line \d+/, `line ${i + 2 + k}`)}`, machines.length)); });
    } else if (fence[1] === 'hint') {
      if (!step) throw new LessonError(`line ${i + 1}: a hint belongs to a step`);
      step.hints.push(body.join('\n'));
    } else if (fence[1] === 'type') {
      blocks.push({ kind: 'type', text: body.join('\n'), machine });
    } else {
      blocks.push({ kind: 'code', text: body.join('\n'), machine });
    }
    i = close;
  }
  flush();
  if (steps.length === 0) throw new LessonError('the lesson has no steps ("## Step title" lines)');
  steps.forEach((s, i) => { if (s.checks.length === 0) throw new LessonError(`step ${i + 1} ("${s.title}") has no check: add a \`\`\`check block`); });
  return { name, title, summary: meta.get('summary') ?? '', machines, intro, steps };
}

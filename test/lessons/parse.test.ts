// Lesson files: every shipped lesson parses; a broken one is refused with a message that
// says what is wrong and where.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLesson } from '../../app/lessons/parse';

const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../public/lessons');
const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { lessons: string[] };

const good = `---
title: T
machine: snapshot linux-xen
---
Intro.

## One
Text with \`code\`.

\`\`\`type
echo hi
\`\`\`

\`\`\`check
console /^hi\\r?$/m
xenstore /local/domain/1/device/vif/0/state = 4
counter exits.hypercall >= 10
event xs-write /state/
\`\`\`
`;

describe('lesson files', () => {
  it('ships at least five lessons, each with steps that all have checks', () => {
    expect(index.lessons.length).toBeGreaterThanOrEqual(5);
    for (const name of index.lessons) {
      const l = parseLesson(name, fs.readFileSync(path.join(dir, `${name}.md`), 'utf8'));
      expect(l.title).toBeTruthy();
      expect(l.steps.length).toBeGreaterThanOrEqual(3);
      for (const s of l.steps) expect(s.checks.length).toBeGreaterThan(0);
    }
  });

  it('reads the four check kinds, type blocks and the machine', () => {
    const l = parseLesson('t', good);
    expect(l.machines).toEqual([{ kind: 'snapshot', snapshot: 'linux-xen' }]);
    expect(l.steps[0].blocks.find((b) => b.kind === 'type')?.text).toBe('echo hi');
    expect(l.steps[0].checks.map((c) => c.kind)).toEqual(['console', 'xenstore', 'counter', 'event']);
    expect(l.steps[0].checks[0].kind === 'console' && l.steps[0].checks[0].pattern.test('x\r\nhi\r\n')).toBe(true);
  });

  it('refuses a file without front matter, an unknown check kind, a pattern that does not compile', () => {
    expect(() => parseLesson('a', '# Just markdown\n\n## Step\n')).toThrow(/no front matter/);
    expect(() => parseLesson('b', good.replace('counter exits.hypercall >= 10', 'smell /x/'))).toThrow(/step 1 \("One"\), line \d+: unknown check kind "smell" \(known: console, xenstore, counter, event\)/);
    expect(() => parseLesson('c', good.replace('console /^hi\\r?$/m', 'console /(unclosed/'))).toThrow(/the pattern \/\(unclosed\/ does not compile/);
    expect(() => parseLesson('d', good.replace('machine: snapshot linux-xen', 'machine: teleport'))).toThrow(/a machine is "snapshot NAME" or "boot/);
    expect(() => parseLesson('e', good.replace('console /^hi', 'console@2 /^hi'))).toThrow(/names machine 2; the lesson starts 1/);
    expect(() => parseLesson('f', good.replace('exits.hypercall', 'exits.teleports'))).toThrow(/unknown counter "exits.teleports"/);
  });
});

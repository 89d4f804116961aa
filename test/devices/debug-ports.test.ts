import { describe, expect, it } from 'vitest';
import { DebugPorts } from '../../engine-ts/devices/debug-ports/debug-ports';
import { TestPorts } from './helpers';

function setup() {
  const out: number[] = [];
  const posts: [number, number][] = [];
  const exits: number[] = [];
  const dev = new DebugPorts({ onConsoleByte: (b) => out.push(b), onPostCode: (c, p) => posts.push([c, p]), exit: (s) => exits.push(s) });
  const io = new TestPorts();
  dev.register(io);
  return { dev, io, out, posts, exits };
}

describe('debug ports', () => {
  it('prints 0xE9 console bytes and answers 0xE9 to the detection read', () => {
    const t = setup();
    expect(t.io.inb(0xe9)).toBe(0xe9);
    for (const c of 'hi\n') t.io.outb(0xe9, c.charCodeAt(0));
    expect(String.fromCharCode(...t.out)).toBe('hi\n');
  });

  it('records POST codes from 0x80 and 0x190, collapsing repeats', () => {
    const t = setup();
    t.io.outb(0x80, 0x10);
    t.io.outb(0x80, 0x10);
    t.io.outb(0x190, 0x22);
    expect(t.dev.postCode).toBe(0x22);
    expect(t.dev.postCodes).toEqual([0x10, 0x22]);
    expect(t.posts).toEqual([[0x10, 0x80], [0x10, 0x80], [0x22, 0x190]]);
    for (let i = 0; i < 40; i++) t.io.outb(0x80, i);
    expect(t.dev.postCodes.length).toBe(32);
    expect(t.dev.postCodes.at(-1)).toBe(39);
  });

  it('exits with (value << 1) | 1 through isa-debug-exit', () => {
    const t = setup();
    t.io.outb(0xf4, 0x10);
    t.io.outl(0xf4, 0);
    expect(t.exits).toEqual([0x21, 1]);
  });

  it('saves and restores the POST record', () => {
    const a = setup();
    a.io.outb(0x80, 0xaa);
    a.io.outb(0x80, 0x55);
    const b = setup();
    b.dev.loadState(structuredClone(a.dev.saveState()), 1);
    expect(b.dev.postCodes).toEqual([0xaa, 0x55]);
    expect(b.io.inb(0x80)).toBe(0x55);
    expect(() => b.dev.loadState({ lastPostCode: 300, postHistory: [] }, 1)).toThrow(/lastPostCode/);
  });
});

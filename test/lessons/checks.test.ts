// A lesson step's checks against what the lab sees: counters count from the step's start,
// timeline events match through the inspector's own wording.
import { describe, expect, it } from 'vitest';
import { checkPasses, type MachineView } from '../../app/lessons/checks';
import { parseCheck } from '../../app/lessons/parse';
import type { InspectorSample, MachineStats, TimelineEvent } from '../../engine-ts/api';

const stats = (hypercall: number, xvdaWritten: number): MachineStats => ({
  instructions: 1e6, interrupts: 10, cycles: 1e6, guestNs: 1e6, wallMs: 1, mips: 1, halted: false,
  exits: { io: 5, mmio: 0, hypercall, halt: 0 },
  disks: [{ name: 'xvda', bus: 'xen', unit: 0, readBytes: 0, writtenBytes: xvdaWritten }],
  split: { coreMs: 0, hostCallMs: 0, timersMs: 0, idleWaitMs: 0, idleSkippedNs: 0 },
  jit: { enabled: false, share: 0, recentShare: 0, translations: 0, live: 0, liveBytes: 0, compileMs: 0 },
  lastSave: null,
});
const sample = (state: string): InspectorSample => ({
  guestNs: 0, devices: [], recording: true,
  timeline: { first: 0, lost: 0, time: new Float64Array(0), kind: new Uint8Array(0), dom: new Uint16Array(0), args: new Int32Array(0), text: [], text2: [] },
  xen: { domid: 1, hypercalls: [], ports: [], rings: [], devices: [], grants: { frames: 1, entries: [], maps: 0, unmaps: 0 },
    xenstore: { watches: [], nodes: [{ path: '/local/domain/1/device/vbd/51712/state', value: state, perms: ['n1'], gen: 3 }] } },
});
const ev = (e: Partial<TimelineEvent>): TimelineEvent => ({ seq: 0, time: 0, kind: 'xs-write', dom: 0, a: 0, b: 0, c: 0, text: null, text2: null, ...e });
const view = (v: Partial<MachineView>): MachineView => ({ console: '', sample: null, stats: null, statsAtStart: null, sampleAtStart: null, events: [], ...v });
const check = (line: string) => parseCheck(line, 'test', 2);

describe('lesson checks', () => {
  it('console patterns see the output, not only the echo', () => {
    const c = check('console /^hypervisor\\r?$/m');
    expect(checkPasses(c, view({ console: 'root# grep -o hypervisor /proc/cpuinfo\r\n' }))).toBe(false);
    expect(checkPasses(c, view({ console: 'root# grep -o hypervisor /proc/cpuinfo\r\nhypervisor\r\n' }))).toBe(true);
  });
  it('xenstore: exists, equals, matches', () => {
    const v = view({ sample: sample('4') });
    expect(checkPasses(check('xenstore /local/domain/1/device/vbd/51712/state'), v)).toBe(true);
    expect(checkPasses(check('xenstore /local/domain/1/device/vbd/51712/state = 4'), v)).toBe(true);
    expect(checkPasses(check('xenstore /local/domain/1/device/vbd/51712/state = 3'), v)).toBe(false);
    expect(checkPasses(check('xenstore /local/domain/1/device/vbd/51712/state ~ /^[34]$/'), v)).toBe(true);
    expect(checkPasses(check('xenstore /local/domain/1/device/vbd/51728/state'), v)).toBe(false);
  });
  it('counters count what the step added', () => {
    const c = check('counter exits.hypercall >= 100');
    expect(checkPasses(c, view({ stats: stats(150, 0), statsAtStart: stats(100, 0) }))).toBe(false);
    expect(checkPasses(c, view({ stats: stats(200, 0), statsAtStart: stats(100, 0) }))).toBe(true);
    const d = check('counter disk.xvda.written >= 1000000');
    expect(checkPasses(d, view({ stats: stats(0, 2e6), statsAtStart: stats(0, 1.5e6) }))).toBe(false);
    expect(checkPasses(d, view({ stats: stats(0, 3e6), statsAtStart: stats(0, 1.5e6) }))).toBe(true);
    expect(checkPasses(check('counter disk.sda.written >= 1'), view({ stats: stats(0, 3e6) }))).toBe(false);
  });
  it('events match by kind and by the words the timeline shows', () => {
    const c = check('event xs-write /backend\\/vbd\\/1\\/51712\\/state = 4/');
    const write = (v: string) => ev({ text: '/local/domain/0/backend/vbd/1/51712/state', text2: v });
    expect(checkPasses(c, view({ events: [write('2')] }))).toBe(false);
    expect(checkPasses(c, view({ events: [write('2'), write('4')] }))).toBe(true);
    expect(checkPasses(check('event upcall'), view({ events: [ev({ kind: 'upcall', dom: 1, b: 0xf3 })] }))).toBe(true);
    expect(checkPasses(check('event grant-map /ring\\)/'), view({ events: [ev({ kind: 'grant-map', dom: 1, a: 8, b: 0x1234, c: 1 })] }))).toBe(false);
    expect(checkPasses(check('event grant-map /ring\\)/'), view({ events: [ev({ kind: 'grant-map', dom: 1, a: 8, b: 0x1234, c: 3 })] }))).toBe(true);
  });
});

// The inspector's cost, measured inside `npm run bench:linux`: the shipped Xen snapshot
// (public/snapshots/linux-xen.pvsnap) resumed in this process with a PV disk hot-plugged, then
// the same typed workload — 32 MiB written to xvda with O_DIRECT (hypercalls, grants, ring,
// the timeline busy) and a shell loop — run with the inspector closed and open, alternating
// (closed, open, open, closed, ...). "Open" does what the page does while the inspector is
// shown: an inspector sample with the timeline every 100 ms and the counters every 500 ms.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { resumeMachine, timelineEvents, type MachineHandle } from '../../engine-ts/api/node';
import { FileStore } from '../../engine-ts/disk/file-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { ConsoleSession } from './console-session';

const WORKLOAD = 'dd if=/dev/zero of=/dev/xvda bs=1M count=32 oflag=direct 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done';

export interface InspectorFigures {
  rounds: number;
  /** Host wall seconds of each run, by mode. */
  closedS: number[];
  openS: number[];
  /** Samples the open runs took, and timeline events they read. */
  samples: number;
  events: number;
  error?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

export function inspectorSummary(f: InspectorFigures): string {
  if (f.error) return `Inspector open vs closed: failed (${f.error}).`;
  const c = median(f.closedS), o = median(f.openS);
  return [
    `Inspector open vs closed (the shipped Xen snapshot with a hot-plugged PV disk, \`${WORKLOAD}\`, ${f.rounds} runs each, alternating; median host wall s):`,
    '',
    '| inspector | runs (wall s) | median wall s |',
    '| --- | --- | ---: |',
    `| closed | ${f.closedS.map((x) => x.toFixed(2)).join(', ')} | ${c.toFixed(2)} |`,
    `| open (sample every 100 ms, counters every 500 ms) | ${f.openS.map((x) => x.toFixed(2)).join(', ')} | ${o.toFixed(2)} |`,
    '',
    `Open / closed: ${(o / c).toFixed(3)} (${((o / c - 1) * 100).toFixed(1)} %); the open runs took ${f.samples} samples and read ${f.events} timeline events.`,
  ].join('\n');
}

export async function measureInspector(coreWasm: string, root: string, rounds: number, verbose: boolean): Promise<InspectorFigures> {
  const fig: InspectorFigures = { rounds, closedS: [], openS: [], samples: 0, events: 0 };
  const snap = path.join(root, 'public/snapshots/linux-xen.pvsnap');
  if (!fs.existsSync(snap)) return { ...fig, error: 'public/snapshots/linux-xen.pvsnap is missing: build it with `node tools/run-ts.mjs tools/build-snapshots.ts`' };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-inspector-bench-'));
  const session = new ConsoleSession(verbose ? (b) => process.stderr.write(b) : null);
  let machine: MachineHandle | null = null;
  try {
    const file = path.join(tmp, 'xvda.vhd');
    await (await VhdDisk.create(await FileStore.open(file, 'create'), { type: 'dynamic', size: 64 << 20, now: new Date(), uniqueId: new Uint8Array(16).fill(1) })).close();
    const r = await resumeMachine(coreWasm, new Uint8Array(fs.readFileSync(snap)), { onConsole: (b) => session.events.onOutput(b) }, { pacing: 'fast' });
    machine = r.machine;
    void machine.run();
    await machine.addDisk({ bus: 'xen', file });
    let n = 0;
    const run = async (open: boolean): Promise<number> => {
      const k = ++n;
      let from: number | undefined;
      let ticks = 0;
      const timer = open ? setInterval(() => {
        ticks++;
        void machine!.inspect({ eventsFrom: from }).then((s) => {
          fig.samples++;
          fig.events += timelineEvents(s.timeline).length;
          from = s.timeline.first + s.timeline.time.length;
        });
        if (ticks % 5 === 0) void machine!.stats();
      }, 100) : null;
      const start = performance.now();
      const at = session.length;
      machine!.sendInput(new TextEncoder().encode(`${WORKLOAD}; echo "INSP""-END ${k}"\r`));
      const end = await session.waitFor(new RegExp(`INSP-END ${k}\\n`), 600_000, `inspector run ${k}`, at);
      if (timer) {
        clearInterval(timer);
        await machine!.inspect({ timeline: false }); // the inspector closes: the timeline stops recording
      }
      return (end.atMs - start) / 1000;
    };
    await run(false); // warm up: the disk's first blocks, the JIT
    for (let i = 0; i < rounds; i++) {
      for (const open of i % 2 === 0 ? [false, true] : [true, false]) {
        const s = await run(open);
        (open ? fig.openS : fig.closedS).push(s);
        process.stderr.write(`[inspector] ${open ? 'open  ' : 'closed'} ${s.toFixed(2)} s\n`);
      }
    }
  } catch (e) {
    fig.error = (e as Error).message;
  } finally {
    if (machine) { await machine.stop(); machine.dispose(); }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return fig;
}

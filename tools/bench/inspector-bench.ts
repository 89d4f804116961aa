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
import { imagesFromFiles, resumeMachine, type MachineHandle } from '../../engine-ts/api/node';
import { FileStore } from '../../engine-ts/disk/file-store';
import { VhdDisk } from '../../engine-ts/disk/vhd';
import { ConsoleSession } from './console-session';

const WORKLOAD = 'dd if=/dev/zero of=/dev/xvda bs=1M count=32 oflag=direct 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done';

export interface InspectorFigures {
  rounds: number;
  /** Host wall seconds of each run, by mode, and the process's CPU seconds (less sensitive to other load). */
  closedS: number[];
  openS: number[];
  closedCpuS: number[];
  openCpuS: number[];
  /** Samples the open runs took, and timeline events they read. */
  samples: number;
  events: number;
  error?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

export function inspectorSummary(f: InspectorFigures): string {
  if (f.error) return `Inspector open vs closed: failed (${f.error}).`;
  const c = median(f.closedS), o = median(f.openS);
  const cc = median(f.closedCpuS), oc = median(f.openCpuS);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  const pct = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)} %`;
  return [
    `Inspector open vs closed (the shipped Xen snapshot with a hot-plugged PV disk, \`${WORKLOAD}\`, ${f.rounds} runs each, alternating):`,
    '',
    '| inspector | host wall s per run | median | process CPU s per run | median |',
    '| --- | --- | ---: | --- | ---: |',
    `| closed | ${list(f.closedS)} | ${c.toFixed(2)} | ${list(f.closedCpuS)} | ${cc.toFixed(2)} |`,
    `| open (a sample every 100 ms, the counters every 500 ms) | ${list(f.openS)} | ${o.toFixed(2)} | ${list(f.openCpuS)} | ${oc.toFixed(2)} |`,
    '',
    `Open against closed: ${pct(o, c)} wall, ${pct(oc, cc)} CPU (medians); the open runs took ${f.samples} samples and read ${f.events} timeline events.`,
  ].join('\n');
}

export async function measureInspector(coreWasm: string, root: string, rounds: number, verbose: boolean): Promise<InspectorFigures> {
  const fig: InspectorFigures = { rounds, closedS: [], openS: [], closedCpuS: [], openCpuS: [], samples: 0, events: 0 };
  const snap = path.join(root, 'public/snapshots/linux-xen.pvsnap');
  if (!fs.existsSync(snap)) return { ...fig, error: 'public/snapshots/linux-xen.pvsnap is missing: build it with `node tools/run-ts.mjs tools/build-snapshots.ts`' };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-inspector-bench-'));
  const session = new ConsoleSession(verbose ? (b) => process.stderr.write(b) : null);
  let machine: MachineHandle | null = null;
  try {
    const file = path.join(tmp, 'xvda.vhd');
    await (await VhdDisk.create(await FileStore.open(file, 'create'), { type: 'dynamic', size: 64 << 20, now: new Date(), uniqueId: new Uint8Array(16).fill(1) })).close();
    const r = await resumeMachine(coreWasm, new Uint8Array(fs.readFileSync(snap)), { onConsole: (b) => session.events.onOutput(b) }, { pacing: 'fast', images: imagesFromFiles(['bzImage', 'initrd.img'].map((f) => path.join(root, 'public/guests/linux', f))) });
    machine = r.machine;
    void machine.run();
    await machine.addDisk({ bus: 'xen', file });
    let n = 0;
    const run = async (open: boolean): Promise<{ wallS: number; cpuS: number }> => {
      const k = ++n;
      let from: number | undefined;
      let ticks = 0;
      const timer = open ? setInterval(() => {
        ticks++;
        // The page decodes the events on its own thread; here only the worker's part counts.
        void machine!.inspect({ eventsFrom: from }).then((s) => {
          fig.samples++;
          fig.events += s.timeline.time.length;
          from = s.timeline.first + s.timeline.time.length;
        });
        if (ticks % 5 === 0) void machine!.stats();
      }, 100) : null;
      const start = performance.now();
      const cpu = process.cpuUsage();
      const at = session.length;
      machine!.sendInput(new TextEncoder().encode(`${WORKLOAD}; echo "INSP""-END ${k}"\r`));
      const end = await session.waitFor(new RegExp(`INSP-END ${k}\\n`), 600_000, `inspector run ${k}`, at);
      const used = process.cpuUsage(cpu);
      if (timer) {
        clearInterval(timer);
        await machine!.inspect({ timeline: false }); // the inspector closes: the timeline stops recording
      }
      return { wallS: (end.atMs - start) / 1000, cpuS: (used.user + used.system) / 1e6 };
    };
    await run(false); // warm up: the disk's first blocks, the JIT
    for (let i = 0; i < rounds; i++) {
      for (const open of i % 2 === 0 ? [false, true] : [true, false]) {
        const r = await run(open);
        (open ? fig.openS : fig.closedS).push(r.wallS);
        (open ? fig.openCpuS : fig.closedCpuS).push(r.cpuS);
        process.stderr.write(`[inspector] ${open ? 'open  ' : 'closed'} ${r.wallS.toFixed(2)} s wall, ${r.cpuS.toFixed(2)} s CPU\n`);
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

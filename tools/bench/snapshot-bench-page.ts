// The snapshot benchmark's browser side (snapshot-bench.ts serves it to headless Chromium):
// the procedure of snapshot-bench-steps.ts with the page's API (machines in Web Workers) and
// v86 on the page's main thread, as a page would run either. Inputs come from the bench's
// server (PAGE_FILES); the figures go back to Node through page.evaluate.
import { baseImagesReady, prepareMachines, resumeMachine } from '../../engine-ts/api';
import { FILES_URL, PAGE_FILES, runSteps, type PageOptions, type StepFigures, type V86Instance } from './snapshot-bench-steps';

declare global {
  interface Window {
    runSnapshotBench?: (o: PageOptions) => Promise<StepFigures>;
    snapshotBenchProgress?: (msg: string) => void;
  }
}

type PageFile = (typeof PAGE_FILES)[number];

async function fetchBytes(name: PageFile): Promise<ArrayBuffer> {
  const r = await fetch(FILES_URL + name);
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

async function runSnapshotBench(o: PageOptions): Promise<StepFigures> {
  const inputs: PageFile[] = ['shipped.pvsnap', 'v86-booted.bin', 'bios.bin', 'bzImage', 'initrd.img'];
  const [shipped, v86Booted, bios, bzimage, initrd] = await Promise.all(inputs.map(fetchBytes));
  // v86's npm build as the server has it (a URL in a variable: neither Vite nor tsc resolves it).
  const lib: PageFile = 'libv86.mjs';
  const { V86 } = (await import(/* @vite-ignore */ FILES_URL + lib)) as { V86: new (o: Record<string, unknown>) => V86Instance };
  const wasm: PageFile = 'v86.wasm';
  const v86 = {
    create: () => new V86({
      wasm_path: FILES_URL + wasm,
      bios: { buffer: bios },
      bzimage: { buffer: bzimage },
      initrd: { buffer: initrd },
      cmdline: o.cmdline,
      memory_size: o.memoryMiB << 20,
      autostart: false,
      disable_speaker: true,
      disable_keyboard: true,
      disable_mouse: true,
    }),
  };
  const pv = { resume: resumeMachine, workerAhead: (keep: boolean) => prepareMachines({ keep }) };
  const progress = (msg: string) => window.snapshotBenchProgress?.(msg);
  await baseImagesReady(); // (started when the page loaded, as the app's are)
  return runSteps(o.host, pv, v86, { shipped: new Uint8Array(shipped), v86Booted, runs: o.runs, kernel: new Uint8Array(bzimage.slice(0)), initrd: new Uint8Array(initrd.slice(0)) }, progress);
}

// As the app does when it loads (the guest's images as the page's files: their base views are made now).
prepareMachines({ baseImages: [FILES_URL + 'bzImage', FILES_URL + 'initrd.img'].map((u) => new URL(u, location.href).href) });
window.runSnapshotBench = runSnapshotBench;

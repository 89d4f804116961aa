// The Linux benchmark's browser side (linux-bench.ts serves it to headless Chromium): the
// procedure of linux-measure.ts with pvlab's page API (the machine in a Web Worker, as the
// app runs it) and v86 on the page's main thread (as a page embeds it). Inputs come from the
// bench's server (LINUX_PAGE_FILES in linux-measure.ts); the figures go back to Node through page.evaluate.
import { createMachine, prepareMachines } from '../../engine-ts/api';
import { LINUX_FILES_URL, measure, pvlabGuest, v86Guest, type LINUX_PAGE_FILES, type LinuxImage, type LinuxPageOptions, type LinuxPageRun, type V86Instance } from './linux-measure';

declare global {
  interface Window {
    runLinuxBench?: (o: LinuxPageOptions) => Promise<LinuxPageRun[]>;
    linuxBenchProgress?: (name: string, msg: string) => void;
  }
}

async function fetchBytes(name: (typeof LINUX_PAGE_FILES)[number]): Promise<ArrayBuffer> {
  const r = await fetch(LINUX_FILES_URL + name);
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

async function runLinuxBench(o: LinuxPageOptions): Promise<LinuxPageRun[]> {
  const [kernel, initrd, bios] = await Promise.all((['bzImage', 'initrd.img', 'bios.bin'] as const).map(fetchBytes));
  const image: LinuxImage = { kernel: new Uint8Array(kernel), initrd: new Uint8Array(initrd), cmdline: o.cmdline, memoryMiB: o.memoryMiB, decompress: o.decompress };
  const host = {
    bootTimeoutS: o.bootTimeoutS,
    workTimeoutS: o.workTimeoutS,
    meter: () => ({ stop: () => ({}) }), // (a page cannot see its CPU time)
    progress: (name: string, msg: string) => window.linuxBenchProgress?.(name, msg),
    echo: null,
  };
  const out: LinuxPageRun[] = [];
  for (const which of o.which) {
    const guest = which === 'pvlab'
      ? pvlabGuest(createMachine, image)
      : v86Guest(async () => {
        // v86's npm build as the server has it (a URL in a variable: neither Vite nor tsc resolves it).
        const lib: (typeof LINUX_PAGE_FILES)[number] = 'libv86.mjs';
        const wasm: (typeof LINUX_PAGE_FILES)[number] = 'v86.wasm';
        const { V86 } = (await import(/* @vite-ignore */ LINUX_FILES_URL + lib)) as { V86: new (opts: Record<string, unknown>) => V86Instance };
        return new V86({
          wasm_path: LINUX_FILES_URL + wasm,
          bios: { buffer: bios },
          bzimage: { buffer: kernel.slice(0) },
          initrd: { buffer: initrd.slice(0) },
          cmdline: o.cmdline,
          memory_size: o.memoryMiB << 20,
          autostart: true,
          disable_speaker: true,
          disable_keyboard: true,
          disable_mouse: true,
        });
      });
    const { figures, transcript } = await measure(guest, host);
    out.push({ figures, transcript: new TextDecoder('latin1').decode(transcript) });
  }
  return out;
}

// As the app does when it loads: compile the core and start a machine worker ahead.
prepareMachines();
window.runLinuxBench = runLinuxBench;

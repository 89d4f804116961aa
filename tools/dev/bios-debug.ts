// Development aid: run a firmware image for a few slices and print where the vCPU is.
import fs from 'node:fs';
import { LocalMachine } from '../../engine-ts/worker/local-machine';
import { resolveConfig } from '../../engine-ts/config/machine';
import { loadCoreModuleFromFile } from '../../engine-ts/worker/node-host';
export async function main(args: string[]): Promise<number> {
  const module = await loadCoreModuleFromFile('engine-wasm/build/core.wasm');
  const host = { idleWait: async () => {}, yieldToHost: async () => {}, wallNow: () => performance.now() };
  const m = await LocalMachine.create(module, resolveConfig({ memoryMiB: 16, pacing: 'fast', guest: { kind: 'bios', rom: new Uint8Array(fs.readFileSync(args[0])) } }),
    { onDebug: (b) => process.stdout.write(Buffer.from(b)), onPostCode: (c, p) => console.log(`POST ${p.toString(16)}: ${c}`) }, host);
  const s = m.board.vcpu;
  for (let i = 0; i < 5; i++) {
    const exit = m.board.runSlice(Number(args[1] ?? 10));
    const cs = s.seg('cs');
    console.log(`exit=${exit} cs=${cs.selector.toString(16)}/${cs.base.toString(16)} eip=${s.eip.toString(16)} exc=${JSON.stringify(s.lastException)} icount=${s.icount}`);
  }
  return 0;
}

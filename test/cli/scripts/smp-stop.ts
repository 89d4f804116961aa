// Run by test/cli/smp-stop.test.ts as a script of its own (node tools/run-ts.mjs): a 2-vCPU
// machine started and stopped with nothing else keeping Node's event loop alive, as a
// benchmark or a user's script has it.
import fs from 'node:fs';
import path from 'node:path';
import { createMachine } from '../../../engine-ts/api/node';

const root = process.cwd();
const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
  memoryMiB: 16, vcpus: 2, pacing: 'fast',
  guest: { kind: 'flat', image: new Uint8Array(fs.readFileSync(path.join(root, 'public/guests/hello.bin'))) },
}, {});
const running = m.run();
await new Promise((r) => setTimeout(r, 300));
await m.stop();
console.log(`stopped: ${JSON.stringify(await running)}`);
m.dispose();

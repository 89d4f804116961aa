// Writes test/fixtures/snapshots/hello-<format>-map<layout>.pvsnap: the hello guest (real
// mode, COM1) stopped after echoing "saved-line". Committed once per file format and vCPU
// layout; every later pvlab must still load each one (test/snapshot/fixtures.test.ts).
//   node tools/run-ts.mjs test/snapshot/make-fixture.ts
import fs from 'node:fs';
import path from 'node:path';
import { createMachine } from '../../engine-ts/api/node';
import * as MM from '../../engine-wasm/memory-map';
import { FORMAT_VERSION } from '../../engine-ts/snapshot/format';

export async function main(): Promise<number> {
  const root = process.cwd();
  let out = '';
  const m = await createMachine(path.join(root, 'engine-wasm/build/core.wasm'), {
    memoryMiB: 4, pacing: 'fast', rtcStartSeconds: 1_767_225_600,
    guest: { kind: 'flat', image: new Uint8Array(fs.readFileSync(path.join(root, 'public/guests/hello.bin'))), name: 'hello' },
  }, { onConsole: (b) => { out += new TextDecoder().decode(b); } });
  await m.run({ untilCycle: 5_000_000 }); // the guest sets up COM1
  m.sendInput(new TextEncoder().encode('saved-line\r'));
  await m.run({ untilCycle: 50_000_000 });
  if (!out.includes('saved-line')) throw new Error(`the guest did not echo: ${JSON.stringify(out)}`);
  const file = await m.snapshot({ console: out });
  const name = path.join(root, 'test/fixtures/snapshots', `hello-format${FORMAT_VERSION}-map${MM.MAP_VERSION}.pvsnap`);
  fs.writeFileSync(name, file);
  console.log(`wrote ${path.relative(root, name)} (${file.length} bytes)`);
  m.dispose();
  return 0;
}

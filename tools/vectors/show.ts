// Print one MOO test as JSON (debugging aid): node tools/run-ts.mjs tools/vectors/show.ts FILE INDEX
import fs from 'node:fs';
import zlib from 'node:zlib';
import { parseMoo } from './moo';
export function main(args: string[]): number {
  const [file, idx] = args;
  const data = fs.readFileSync(file);
  const raw = file.endsWith('.gz') ? zlib.gunzipSync(data) : data;
  const t = parseMoo(new Uint8Array(raw)).tests.find((x) => x.index === Number(idx));
  if (!t) { console.error(`no test #${idx} in ${file}`); return 1; }
  const hex = (n: number) => '0x' + n.toString(16);
  const regs = (r: Record<string, number | undefined>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, hex(v ?? 0)]));
  console.log(JSON.stringify({
    name: t.name, bytes: [...t.bytes].map(hex), init: regs(t.init.regs), final: regs(t.final.regs),
    initRam: t.init.ram.map(([a, v]) => `${hex(a)}=${hex(v)}`).join(' '), finalRam: t.final.ram.map(([a, v]) => `${hex(a)}=${hex(v)}`).join(' '),
    exception: t.exception, hash: t.hash,
  }, null, 1));
  return 0;
}

// The import boundaries (tools/check-layers.mjs) hold for the whole tree, and the check
// does catch each kind of breach.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module without type declarations
import { checkLayers } from '../tools/check-layers.mjs';

const check = checkLayers as (root: string) => string[];

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pvlab-layers-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

describe('import boundaries', () => {
  it('every import in this tree goes the right way', () => {
    expect(check(path.resolve(__dirname, '..'))).toEqual([]);
  });

  it('a device importing the PV layer is reported', () => {
    const root = tree({
      'engine-ts/pv/domain.ts': 'export const X = 1;\n',
      'engine-ts/devices/uart/uart.ts': "import { X } from '../../pv/domain';\nexport const Y = X;\n",
    });
    expect(check(root)).toEqual(['engine-ts/devices/uart/uart.ts -> engine-ts/pv/domain.ts: engine-ts/devices may not import engine-ts/pv']);
  });

  it('the page reaching past the API, and a layer below importing the API, are reported', () => {
    const root = tree({
      'engine-ts/api/index.ts': "export * from '../board/board';\n",
      'engine-ts/board/board.ts': "import type { M } from '../api/index';\nexport class Board {}\n",
      'app/App.tsx': "import { Board } from '../engine-ts/board/board';\nexport const b = Board;\n",
    });
    expect(check(root)).toEqual([
      'app/App.tsx -> engine-ts/board/board.ts: app may not import engine-ts/board',
      'engine-ts/board/board.ts -> engine-ts/api/index.ts: engine-ts/board may not import engine-ts/api',
    ]);
  });

  it('Atomics outside the worker layer, and a cycle between two files, are reported', () => {
    const root = tree({
      'engine-ts/pv/ring.ts': "import { b } from './b';\nexport const a = () => Atomics.load(new Int32Array(4), 0) + b();\n",
      'engine-ts/pv/b.ts': "import { a } from './ring';\nexport const b = () => 1;\nexport const c = a;\n",
      'engine-ts/worker/ok.ts': '// Atomics in a comment elsewhere is fine; here it is allowed anyway\nexport const w = () => Atomics.load(new Int32Array(4), 0);\n',
    });
    expect(check(root)).toEqual([
      'engine-ts/pv/ring.ts: uses Atomics, which only engine-ts/worker may touch',
      'import cycle: engine-ts/pv/b.ts -> engine-ts/pv/ring.ts',
    ]);
  });
});

// Test helper worker (see test-hook.ts): holds a library disk open for writing the way a
// machine worker does, so the e2e tests check the two-writer guard across realms.
import { openDisk, type LibraryDisk } from '../../engine-ts/api';

let disk: LibraryDisk | null = null;

self.onmessage = async (e: MessageEvent<{ op: 'open'; id: string } | { op: 'close' }>) => {
  try {
    if (e.data.op === 'open') {
      disk = await openDisk(e.data.id);
      self.postMessage({ ok: true });
    } else {
      await disk?.close();
      disk = null;
      self.postMessage({ ok: true });
    }
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message });
  }
};

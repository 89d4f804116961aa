// Test hook for the e2e tests (like window.__termText): lets a test read and write a library
// disk's virtual contents through the page's own IndexedDB. The page itself never uses it.
//   __disks.read(id, offset, length)  -> base64 of those bytes (offset/length: whole sectors)
//   __disks.write(id, offset, base64) -> opens the disk, writes, closes (which commits)
//   __disks.sha256(id)                -> hex SHA-256 of the whole virtual disk
//   __disks.hold(id) / release(id)    -> keep the disk open for writing in a Web Worker, as a
//                                        running machine does (disk-hold.worker.ts)
//   __disks.kill(id)                  -> terminate that worker without closing (a crashed machine)
import { diskLibrary, type LibraryDisk } from '../../engine-ts/api';

export interface DiskTestHook {
  read(id: string, offset: number, length: number): Promise<string>;
  write(id: string, offset: number, base64: string): Promise<void>;
  sha256(id: string): Promise<string>;
  hold(id: string): Promise<void>;
  release(id: string): Promise<void>;
  /** End the holding worker without closing the disk (a machine worker that died). */
  kill(id: string): void;
}

declare global {
  interface Window {
    __disks?: DiskTestHook;
  }
}

function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  return b;
}

export function installDiskTestHook(): () => void {
  const held = new Map<string, Worker>();
  const ask = (w: Worker, msg: unknown) => new Promise<void>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<{ ok: boolean; error?: string }>) => (e.data.ok ? resolve() : reject(new Error(e.data.error)));
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage(msg);
  });
  const withDisk = async <T>(id: string, readOnly: boolean, fn: (d: LibraryDisk) => Promise<T>): Promise<T> => {
    const d = await diskLibrary().open(id, { readOnly });
    try {
      return await fn(d);
    } finally {
      await d.close();
    }
  };
  window.__disks = {
    read: (id, offset, length) => withDisk(id, true, async (d) => {
      const out = new Uint8Array(length);
      await d.read(offset / 512, out);
      return toBase64(out);
    }),
    write: (id, offset, base64) => withDisk(id, false, (d) => d.write(offset / 512, fromBase64(base64))),
    sha256: (id) => withDisk(id, true, async (d) => {
      const all = new Uint8Array(d.size);
      await d.read(0, all);
      const h = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
      return Array.from(h, (x) => x.toString(16).padStart(2, '0')).join('');
    }),
    hold: async (id) => {
      const w = new Worker(new URL('./disk-hold.worker.ts', import.meta.url), { type: 'module', name: 'disk-hold' });
      try {
        await ask(w, { op: 'open', id });
      } catch (e) {
        w.terminate();
        throw e;
      }
      held.set(id, w);
    },
    release: async (id) => {
      const w = held.get(id);
      if (!w) return;
      held.delete(id);
      await ask(w, { op: 'close' });
      w.terminate();
    },
    kill: (id) => {
      held.get(id)?.terminate();
      held.delete(id);
    },
  };
  return () => {
    for (const w of held.values()) w.terminate(); // the browser releases the worker's locks
    delete window.__disks;
  };
}

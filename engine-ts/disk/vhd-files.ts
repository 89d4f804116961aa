// Opening VHD files from a Node host (CLI, headless machines): differencing parents are
// resolved through their locators relative to the child, then checked by unique id.
// Node-only (node:fs); the browser opens disks through engine-ts/api/disks.

import path from 'node:path';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FileStore } from './file-store';
import { VhdDisk, type OpenParent, type ParentRef } from './vhd';
import { VhdError } from './vhd-format';

/** Longest parent chain followed before assuming a loop. */
export const MAX_PARENT_DEPTH = 32;

/** Turn one locator text into a host path to try, or undefined. */
function candidatePath(name: string, childDir: string): string | undefined {
  if (/^file:/i.test(name)) {
    try {
      return fileURLToPath(name);
    } catch {
      return undefined;
    }
  }
  const p = path.sep === '/' ? name.replace(/\\/g, '/') : name;
  if (/^[A-Za-z]:[\\/]/.test(name) && path.sep === '/') return path.join(childDir, path.basename(p)); // a Windows drive path: try its name here
  return path.resolve(childDir, p);
}

export function fileParentResolver(childPath: string, depth = 0, found?: (p: string) => void): OpenParent {
  return async (ref: ParentRef, mode) => {
    if (depth >= MAX_PARENT_DEPTH) throw new VhdError(`parent chain is deeper than ${MAX_PARENT_DEPTH} (a loop?)`);
    const dir = path.dirname(childPath);
    const tried: string[] = [];
    for (const p of [...new Set(ref.names.map((n) => candidatePath(n, dir)).filter((p): p is string => !!p))]) {
      if (!(await isFile(p))) {
        tried.push(p);
        continue;
      }
      const store = await FileStore.open(p, mode.readOnly ? 'read' : 'read-write');
      let disk: VhdDisk;
      try {
        disk = await VhdDisk.open(store, { readOnly: mode.readOnly, openParent: fileParentResolver(p, depth + 1) });
      } catch (e) {
        await store.close();
        if (e instanceof VhdError) throw new VhdError(`parent ${p}: ${e.message}`);
        throw e;
      }
      if (disk.uniqueId !== ref.uniqueId) {
        tried.push(`${p} (unique id ${disk.uniqueId})`);
        await disk.close();
        continue;
      }
      found?.(p);
      return disk;
    }
    throw new VhdError(`parent with unique id ${ref.uniqueId} not found (tried: ${tried.join(', ') || 'no names recorded'})`);
  };
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function openVhd(file: string, mode: 'read' | 'read-write', extra: { writableParent?: boolean } = {}): Promise<VhdDisk> {
  const store = await FileStore.open(file, mode);
  try {
    return await VhdDisk.open(store, { readOnly: mode === 'read', openParent: fileParentResolver(file), ...extra });
  } catch (e) {
    await store.close();
    throw e;
  }
}



// The snapshot library: the .pvsnap files a browser keeps (IndexedDB, through idb-keyval), with
// what the page lists about each (name, date, size, machine, the console's last lines). A
// file is checked whole (readHeader: magic, format, sizes, checksum) before anything is
// stored, so a bad import leaves the library as it was. The host gives the clock and ids.

import { createStore, del, get, set, values, type UseStore } from 'idb-keyval';
import { readHeader, SnapshotError, type SnapshotHeader } from './format';

export interface SnapshotInfo {
  id: string;
  name: string;
  /** Host time it was stored, ms since 1970. */
  created: number;
  /** Bytes of the file. */
  size: number;
  sha256: string;
  /** What the machine was: "Debian Linux, 128 MiB, Xen PV devices". */
  machine: string;
  /** The console's last lines (plain text). */
  consoleTail: string;
  /** A delta's base (its SHA-256), or null for a full snapshot. */
  base: string | null;
}

export interface SnapshotLibraryHost {
  now(): number;
  newId(): string;
  /** Where records and files live (default: IndexedDB database 'pvlab-snapshot-library'). */
  store?: { records: UseStore; files: UseStore };
}

const ID_RE = /^snap-[0-9a-z]{8,32}$/;
const MAX_NAME = 120;

function plainTail(console: string, lines = 8): string {
  return console.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '').split('\n').slice(-lines).join('\n').trimEnd();
}

export function describeMachine(h: SnapshotHeader): string {
  const c = h.config;
  const guest = c.guest.name || c.guest.kind;
  return `${guest}, ${c.memoryMiB} MiB, ${c.xen ? 'Xen PV devices' : 'emulated devices'}${c.disks.length ? `, ${c.disks.length} disk(s)` : ''}`;
}

function checkName(name: string): string {
  const n = name.trim();
  if (!n) throw new SnapshotError('a snapshot name cannot be empty');
  if (n.length > MAX_NAME) throw new SnapshotError(`a snapshot name is at most ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(n)) throw new SnapshotError('a snapshot name cannot contain control characters');
  return n;
}

function parseInfo(raw: unknown): SnapshotInfo | undefined {
  const r = raw as Partial<SnapshotInfo> | null;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || !ID_RE.test(r.id)) return undefined;
  if (typeof r.name !== 'string' || typeof r.created !== 'number' || typeof r.size !== 'number' || typeof r.sha256 !== 'string') return undefined;
  if (typeof r.machine !== 'string' || typeof r.consoleTail !== 'string' || (r.base !== null && typeof r.base !== 'string')) return undefined;
  return r as SnapshotInfo;
}

export class SnapshotLibrary {
  private readonly records: UseStore;
  private readonly files: UseStore;

  constructor(private readonly host: SnapshotLibraryHost) {
    this.records = host.store?.records ?? createStore('pvlab-snapshot-library', 'records');
    this.files = host.store?.files ?? createStore('pvlab-snapshot-files', 'files');
  }

  /** Every snapshot, newest first. */
  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const raw of await values(this.records)) {
      const info = parseInfo(raw);
      if (info) out.push(info);
    }
    return out.sort((a, b) => b.created - a.created);
  }

  /** Check `file` whole, then store it. A bad file is a SnapshotError and nothing is stored. */
  async add(file: Uint8Array, name: string): Promise<SnapshotInfo> {
    const n = checkName(name);
    const { header, sha256 } = await readHeader(file);
    const info: SnapshotInfo = {
      id: this.host.newId(), name: n, created: this.host.now(), size: file.length, sha256,
      machine: describeMachine(header), consoleTail: plainTail(header.console), base: header.base,
    };
    if (!ID_RE.test(info.id)) throw new Error(`bad snapshot id ${info.id}`);
    // The file first, then the record that names it: a record never points at nothing.
    await set(info.id, file, this.files);
    await set(info.id, info, this.records);
    return info;
  }

  async file(id: string): Promise<Uint8Array> {
    const f = await get<unknown>(id, this.files);
    if (!(f instanceof Uint8Array)) throw new SnapshotError(`snapshot ${id} is not in the library`);
    return f;
  }

  async rename(id: string, name: string): Promise<void> {
    const info = parseInfo(await get(id, this.records));
    if (!info) throw new SnapshotError(`snapshot ${id} is not in the library`);
    await set(id, { ...info, name: checkName(name) }, this.records);
  }

  async delete(id: string): Promise<void> {
    await del(id, this.records);
    await del(id, this.files);
  }
}

let library: SnapshotLibrary | undefined;

/** This browser profile's snapshot library. */
export function snapshotLibrary(): SnapshotLibrary {
  library ??= new SnapshotLibrary({
    now: () => Date.now(),
    newId: () => `snap-${Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('')}`,
  });
  return library;
}

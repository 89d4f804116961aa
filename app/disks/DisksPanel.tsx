// The Disks panel: the VHD images kept in this browser (IndexedDB), through the disk library
// of engine-ts/api. Create, import (drop or pick a file), export, rename, delete, and pick the
// disk the next boot attaches (reported through onAttachChange).
import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { diskLibrary, type DiskInfo, type DiskLibrary, type StorageInfo } from '../../engine-ts/api';
import { downloadName, formatBytes, formatDate } from './format';
import { installDiskTestHook } from './test-hook';

const ATTACH_KEY = 'pvlab.attachedDisk';
const MAX_SIZE_MIB = 2040 * 1024;

interface Progress {
  what: string;
  done: number;
  total: number;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function persistNote(persisted: boolean | null): string {
  if (persisted === true) return 'Persistent storage granted: the browser will not evict your disks.';
  if (persisted === false) return 'Persistent storage not granted: the browser may evict disks when space runs low.';
  return '';
}

function readAttached(): string | null {
  try {
    return localStorage.getItem(ATTACH_KEY);
  } catch {
    return null;
  }
}

export function DisksPanel(props: { onAttachChange?: (id: string | null) => void }) {
  const [lib, setLib] = useState<DiskLibrary | null>(null);
  const [disks, setDisks] = useState<DiskInfo[] | null>(null);
  const [storage, setStorage] = useState<StorageInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState('');
  const [progress, setProgress] = useState<Progress | null>(null);
  const [attached, setAttached] = useState<string | null>(readAttached);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [newName, setNewName] = useState('');
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [createName, setCreateName] = useState('');
  const [createSize, setCreateSize] = useState('64');
  const [createType, setCreateType] = useState<'dynamic' | 'fixed'>('dynamic');
  const [dragging, setDragging] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  const onAttachRef = useRef(props.onAttachChange);
  onAttachRef.current = props.onAttachChange;

  const refresh = useCallback(async (l: DiskLibrary) => {
    try {
      const [list, st] = await Promise.all([l.list(), l.storage().catch(() => null)]);
      setDisks(list);
      setStorage(st);
    } catch (e) {
      setError(`Could not read the disk library: ${message(e)}`);
    }
  }, []);

  useEffect(() => {
    let l: DiskLibrary;
    try {
      l = diskLibrary();
    } catch (e) {
      setError(message(e));
      return;
    }
    setLib(l);
    void refresh(l);
    // Other tabs and machine workers change disks too; coalesce bursts of notices.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = l.onChange(() => {
      clearTimeout(timer);
      timer = setTimeout(() => void refresh(l), 200);
    });
    const removeHook = installDiskTestHook();
    return () => {
      off();
      clearTimeout(timer);
      removeHook();
    };
  }, [refresh]);

  // A selected disk that no longer exists is dropped.
  useEffect(() => {
    if (disks && attached && !disks.some((d) => d.id === attached)) setAttached(null);
  }, [disks, attached]);

  useEffect(() => {
    try {
      if (attached) localStorage.setItem(ATTACH_KEY, attached);
      else localStorage.removeItem(ATTACH_KEY);
    } catch {
      /* storage unavailable: the choice lasts for this page only */
    }
    onAttachRef.current?.(attached);
  }, [attached]);

  const run = useCallback(async (fn: (l: DiskLibrary) => Promise<string | void>) => {
    if (!lib) return;
    setError(null);
    setNote('');
    try {
      const done = await fn(lib);
      if (done) setNote(done);
    } catch (e) {
      setError(message(e));
    } finally {
      setProgress(null);
      await refresh(lib);
    }
  }, [lib, refresh]);

  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async (l) => {
      const mib = Number(createSize);
      if (!Number.isInteger(mib) || mib < 1 || mib > MAX_SIZE_MIB) throw new Error(`Size must be a whole number of MiB from 1 to ${MAX_SIZE_MIB}.`);
      const r = await l.create({ name: createName, type: createType, size: mib * 1024 * 1024 });
      setCreateName('');
      return `Created ${r.disk.name} (${r.disk.type}, ${formatBytes(r.disk.virtualSize)}). ${persistNote(r.persisted)}`;
    });
  };

  const importFiles = (files: FileList | File[] | null) => {
    const list = files ? Array.from(files) : [];
    if (list.length === 0) return;
    void run(async (l) => {
      const notes: string[] = [];
      for (const file of list) {
        const ac = new AbortController();
        abortRef.current = ac;
        setProgress({ what: `Importing ${file.name}`, done: 0, total: file.size });
        const r = await l.import(file, {
          signal: ac.signal,
          onProgress: (done, total) => setProgress({ what: `Importing ${file.name}`, done, total }),
        });
        notes.push(`Imported ${r.disk.name} (${r.disk.type}, ${formatBytes(r.disk.virtualSize)}).`);
        for (const w of r.warnings) notes.push(`Note: ${w}.`);
        notes.push(persistNote(r.persisted));
      }
      abortRef.current = null;
      return notes.filter(Boolean).join(' ');
    });
  };

  const exportDisk = (d: DiskInfo) => {
    void run(async (l) => {
      setProgress({ what: `Exporting ${d.name}`, done: 0, total: d.fileSize });
      const blob = await l.export(d.id, (done, total) => setProgress({ what: `Exporting ${d.name}`, done, total }));
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = downloadName(d.name);
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      return `Exported ${d.name} (${formatBytes(blob.size)}).`;
    });
  };

  const rename = (e: FormEvent, d: DiskInfo) => {
    e.preventDefault();
    void run(async (l) => {
      await l.rename(d.id, newName);
      setRenaming(null);
    });
  };

  const remove = (d: DiskInfo) => {
    void run(async (l) => {
      setConfirmDelete(null);
      await l.delete(d.id);
      return `Deleted ${d.name}.`;
    });
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    importFiles(e.dataTransfer.files);
  };

  const busy = progress !== null;
  return (
    <section className="disks" aria-labelledby="disks-heading">
      <h2 id="disks-heading">Disks</h2>
      <p className="disk-quota" data-testid="disk-quota">
        {storage
          ? `Browser storage: ${formatBytes(storage.usage)} used of ${formatBytes(storage.quota)} (${formatBytes(Math.max(0, storage.quota - storage.usage))} free)`
            + (storage.persisted === null ? '' : storage.persisted ? ' · persistent' : ' · not persistent (may be evicted)')
          : 'Browser storage: unknown'}
      </p>

      <form className="disk-create" onSubmit={create} aria-label="Create disk">
        <label>Disk name <input value={createName} onChange={(e) => setCreateName(e.target.value)} placeholder="data" disabled={busy} /></label>
        <label>Size (MiB) <input type="number" min={1} max={MAX_SIZE_MIB} step={1} value={createSize} onChange={(e) => setCreateSize(e.target.value)} disabled={busy} /></label>
        <label>Disk type{' '}
          <select value={createType} onChange={(e) => setCreateType(e.target.value as 'dynamic' | 'fixed')} disabled={busy}>
            <option value="dynamic">dynamic (grows as written)</option>
            <option value="fixed">fixed</option>
          </select>
        </label>
        <button type="submit" disabled={busy || !lib}>Create disk</button>
      </form>

      <div
        className={`disk-drop${dragging ? ' dragging' : ''}`}
        data-testid="disk-drop"
        role="group"
        aria-label="Import a disk image"
        onDragEnter={(e) => { e.preventDefault(); setDragging(true); }}
        onDragOver={(e) => e.preventDefault()}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <span>Drop a <code>.vhd</code> or raw <code>.img</code> here, or </span>
        <label className="disk-file">
          choose a file
          <input type="file" accept=".vhd,.img,.raw,.bin,.iso" aria-label="Import disk image file" disabled={busy || !lib}
            onChange={(e) => { importFiles(e.target.files); e.target.value = ''; }} />
        </label>
      </div>

      {progress && (
        <div className="disk-progress">
          <label>
            {progress.what}{' '}
            <progress max={Math.max(1, progress.total)} value={progress.done} aria-label={progress.what} />
          </label>
          <span>{formatBytes(progress.done)} of {formatBytes(progress.total)}</span>
          {abortRef.current && progress.what.startsWith('Importing') && (
            <button type="button" onClick={() => abortRef.current?.abort()}>Cancel import</button>
          )}
        </div>
      )}
      {error && <p className="disk-error" role="alert">{error}</p>}
      <p className="disk-note" role="status">{note}</p>

      {disks === null ? (
        <p>Loading disks…</p>
      ) : disks.length === 0 ? (
        <p className="disk-empty">No disks yet. Create one or import an image.</p>
      ) : (
        <table className="disk-table" aria-label="Disks">
          <thead>
            <tr>
              <th scope="col">Boot</th>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Virtual size</th>
              <th scope="col">VHD file</th>
              <th scope="col">Stored</th>
              <th scope="col">Modified</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {disks.map((d) => (
              <tr key={d.id} aria-label={d.name} data-disk-id={d.id}>
                <td>
                  <input type="radio" name="attach-disk" checked={attached === d.id} onChange={() => setAttached(d.id)}
                    aria-label={`Attach ${d.name} at next boot`} />
                </td>
                <td>
                  {renaming === d.id ? (
                    <form onSubmit={(e) => rename(e, d)} className="disk-rename">
                      <input autoFocus value={newName} aria-label={`New name for ${d.name}`} onChange={(e) => setNewName(e.target.value)}
                        onKeyDown={(e) => { if (e.key === 'Escape') setRenaming(null); }} />
                      <button type="submit">Save</button>
                      <button type="button" onClick={() => setRenaming(null)}>Cancel</button>
                    </form>
                  ) : (
                    <>
                      {d.name}
                      {d.inUse && <span className="disk-badge"> in use</span>}
                    </>
                  )}
                </td>
                <td>{d.type}</td>
                <td title={`${d.virtualSize} bytes`} data-bytes={d.virtualSize}>{formatBytes(d.virtualSize)}</td>
                <td title={`${d.fileSize} bytes`} data-bytes={d.fileSize}>{formatBytes(d.fileSize)}</td>
                <td title={`${d.storedBytes} bytes in IndexedDB`} data-bytes={d.storedBytes}>{formatBytes(d.storedBytes)}</td>
                <td>{formatDate(d.modified)}</td>
                <td className="disk-actions">
                  {confirmDelete === d.id ? (
                    <>
                      <span>Delete {d.name} and all its data?</span>
                      <button type="button" onClick={() => remove(d)} aria-label={`Confirm delete ${d.name}`}>Delete</button>
                      <button type="button" onClick={() => setConfirmDelete(null)}>Keep</button>
                    </>
                  ) : (
                    <>
                      <button type="button" disabled={busy} onClick={() => exportDisk(d)} aria-label={`Export ${d.name}`}>Export</button>
                      <button type="button" disabled={busy} onClick={() => { setRenaming(d.id); setNewName(d.name); }} aria-label={`Rename ${d.name}`}>Rename</button>
                      <button type="button" disabled={busy} onClick={() => setConfirmDelete(d.id)} aria-label={`Delete ${d.name}`}>Delete</button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {disks !== null && (
        <label className="disk-none">
          <input type="radio" name="attach-disk" checked={attached === null} onChange={() => setAttached(null)} />
          {' '}No disk at next boot
        </label>
      )}
    </section>
  );
}

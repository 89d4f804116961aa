// The Snapshots panel: machines saved in this browser (engine-ts snapshot library, IndexedDB).
// Resume one in a machine, export it as a .pvsnap file, rename, delete; import a file by
// dropping it or picking it (checked whole before anything is stored).
import { useCallback, useEffect, useState, type DragEvent } from 'react';
import { snapshotLibrary, type SnapshotInfo } from '../../engine-ts/api';
import { downloadName, formatBytes, formatDate } from '../disks/format';

/** Read a file in pieces, reporting progress (a snapshot can be hundreds of MiB). */
async function readWithProgress(file: File, onProgress: (done: number) => void): Promise<Uint8Array> {
  const out = new Uint8Array(file.size);
  const reader = file.stream().getReader();
  let off = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (off + value.length > out.length) throw new Error(`${file.name} changed while it was read`);
    out.set(value, off);
    off += value.length;
    onProgress(off);
  }
  return off === out.length ? out : out.subarray(0, off);
}

export function SnapshotsPanel(props: { machines: number[]; refresh: number; onResume: (machine: number, file: Uint8Array, name: string) => void }) {
  const [list, setList] = useState<SnapshotInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState('');
  const [progress, setProgress] = useState<{ what: string; done: number; total: number } | null>(null);
  const [target, setTarget] = useState(0);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [newName, setNewName] = useState('');
  const [dragging, setDragging] = useState(false);

  const reload = useCallback(async () => {
    try {
      setList(await snapshotLibrary().list());
    } catch (e) {
      setError(`The snapshot library is unavailable: ${(e as Error).message}`);
    }
  }, []);

  useEffect(() => { void reload(); }, [reload, props.refresh]);

  const importFile = useCallback(async (file: File) => {
    setError(null);
    setNote('');
    if (!/\.pvsnap$/i.test(file.name)) {
      setError(`${file.name} is not a .pvsnap file (disk images go to the Disks panel).`);
      return;
    }
    try {
      setProgress({ what: `Reading ${file.name}`, done: 0, total: file.size });
      const bytes = await readWithProgress(file, (done) => setProgress({ what: `Reading ${file.name}`, done, total: file.size }));
      setProgress({ what: `Checking ${file.name}`, done: file.size, total: file.size });
      const info = await snapshotLibrary().add(bytes, file.name.replace(/\.pvsnap$/i, ''));
      setNote(`Imported "${info.name}".`);
      await reload();
    } catch (e) {
      setError(`${file.name}: ${(e as Error).message}. Nothing was stored.`);
    } finally {
      setProgress(null);
    }
  }, [reload]);

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) void importFile(f);
  };

  const act = async (what: string, fn: () => Promise<void>) => {
    setError(null);
    try { await fn(); } catch (e) { setError(`${what}: ${(e as Error).message}`); }
    await reload();
  };

  const exportFile = (s: SnapshotInfo) => act(`Export ${s.name}`, async () => {
    const bytes = await snapshotLibrary().file(s.id);
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = downloadName(s.name, '.pvsnap');
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  const machines = props.machines;
  const into = machines.includes(target) ? target : machines[0];
  return (
    <section className="snapshots disks" aria-label="Snapshots">
      <h2>Snapshots</h2>
      <p className="disk-quota">Machines saved in this browser, as they were (Save snapshot on a machine). Resume one, or export it as a <code>.pvsnap</code> file.</p>
      <div className={`disk-drop${dragging ? ' dragging' : ''}`} onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={onDrop}>
        Drop a <code>.pvsnap</code> file here, or{' '}
        <label className="disk-file">
          choose one
          <input type="file" accept=".pvsnap" aria-label="Import snapshot" onChange={(e) => { const f = e.target.files?.[0]; e.target.value = ''; if (f) void importFile(f); }} />
        </label>
      </div>
      {progress && (
        <div className="disk-progress" role="status">
          {progress.what}… <progress value={progress.done} max={progress.total || 1} /> {formatBytes(progress.done)} of {formatBytes(progress.total)}
        </div>
      )}
      {error && <p className="disk-error" role="alert" data-testid="snapshot-error">{error}</p>}
      <p className="disk-note" data-testid="snapshot-note">{note}</p>
      {list && list.length === 0 && <p className="disk-empty">No snapshots yet.</p>}
      {list && list.length > 0 && (
        <>
          <label>Resume in{' '}
            <select value={into} onChange={(e) => setTarget(Number(e.target.value))} aria-label="Resume in machine">
              {machines.map((m) => <option key={m} value={m}>Machine {m + 1}</option>)}
            </select>
          </label>
          <table className="disk-table">
            <thead><tr><th>Name</th><th>Machine</th><th>Saved</th><th>Size</th><th>Console</th><th /></tr></thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.id} data-testid={`snapshot-${s.name}`}>
                  <td>{renaming === s.id ? (
                    <form className="disk-rename" onSubmit={(e) => { e.preventDefault(); void act('Rename', () => snapshotLibrary().rename(s.id, newName)).then(() => setRenaming(null)); }}>
                      <input value={newName} onChange={(e) => setNewName(e.target.value)} aria-label="New snapshot name" autoFocus />
                      <button type="submit">OK</button>
                      <button type="button" onClick={() => setRenaming(null)}>Cancel</button>
                    </form>
                  ) : s.name}{s.base && <span className="disk-badge"> delta</span>}</td>
                  <td>{s.machine}</td>
                  <td>{formatDate(s.created)}</td>
                  <td data-bytes>{formatBytes(s.size)}</td>
                  <td><pre className="snapshot-tail">{s.consoleTail.split('\n').slice(-3).join('\n')}</pre></td>
                  <td className="disk-actions">
                    <button onClick={() => void act(`Resume ${s.name}`, async () => props.onResume(into, await snapshotLibrary().file(s.id), `"${s.name}"`))} aria-label={`Resume ${s.name}`}>Resume</button>
                    <button onClick={() => void exportFile(s)} aria-label={`Export ${s.name}`}>Export</button>
                    <button onClick={() => { setRenaming(s.id); setNewName(s.name); }} aria-label={`Rename ${s.name}`}>Rename</button>
                    <button onClick={() => void act(`Delete ${s.name}`, () => snapshotLibrary().delete(s.id))} aria-label={`Delete ${s.name}`}>Delete</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

// The shipped snapshots (public/snapshots/manifest.json, built with the Linux guest): the
// bundled guest already at its shell. The page resumes one when a machine is configured
// exactly as the snapshot's machine was, and uses it as the base of share links.

export interface ShippedSnapshot {
  name: string;
  title: string;
  file: string;
  sha256: string;
  size: number;
  memoryMiB: number;
  xen: boolean;
  cmdline: string;
  nics?: Array<{ mac: string }>;
}

let manifest: Promise<ShippedSnapshot[]> | null = null;

/** The shipped snapshots this server has (none when they are not built). */
export function shippedSnapshots(): Promise<ShippedSnapshot[]> {
  manifest ??= fetch('snapshots/manifest.json')
    .then((r) => (r.ok ? r.json() : { snapshots: [] }))
    .then((m: { snapshots?: ShippedSnapshot[] }) => (Array.isArray(m.snapshots) ? m.snapshots : []))
    .catch(() => []);
  return manifest;
}

const files = new Map<string, Promise<Uint8Array>>();

/** A shipped snapshot's bytes (fetched once per page). */
export function shippedFile(s: ShippedSnapshot): Promise<Uint8Array> {
  let f = files.get(s.file);
  if (!f) {
    f = fetch(`snapshots/${s.file}`).then(async (r) => {
      if (!r.ok) throw new Error(`snapshots/${s.file}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    });
    f.catch(() => files.delete(s.file));
    files.set(s.file, f);
  }
  return f;
}

/** The shipped snapshot with this SHA-256 (a link's base). */
export async function shippedBySha(sha: string): Promise<ShippedSnapshot | undefined> {
  return (await shippedSnapshots()).find((s) => s.sha256 === sha);
}

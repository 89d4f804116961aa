// The shipped snapshots (public/snapshots/manifest.json, built with the Linux guest): the
// bundled guest already at its shell. The page resumes one when a machine is configured
// exactly as the snapshot's machine was, and uses it as the base of share links.
import { pageFile } from '../page-files';

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

/** A shipped snapshot's bytes (fetched once per page, shared by the machines that resume it). */
export function shippedFile(s: ShippedSnapshot): Promise<Uint8Array> {
  return pageFile(`snapshots/${s.file}`, `snapshots/${s.file} is listed in the manifest but not on this server`);
}

/** The shipped snapshot with this SHA-256 (a link's base). */
export async function shippedBySha(sha: string): Promise<ShippedSnapshot | undefined> {
  return (await shippedSnapshots()).find((s) => s.sha256 === sha);
}

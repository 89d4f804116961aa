// Files the page serves from public/ (guest images, shipped snapshots), fetched once per page.
// Machines starting together share one download: Chromium fails the second of two concurrent
// requests for the same large file with ERR_CACHE_WRITE_FAILURE ("Failed to fetch"). Whoever
// gets the bytes copies them (a machine's worker receives a copy), so sharing them is safe.

const fetched = new Map<string, Promise<Uint8Array>>();

/** A file from public/. A 404 (or an HTML page in its place) means it was not built: `notBuilt` says what to do. */
export function pageFile(url: string, notBuilt: string): Promise<Uint8Array> {
  let f = fetched.get(url);
  if (!f) {
    f = (async () => {
      const res = await fetch(url);
      if (res.status === 404 || (res.headers.get('content-type') ?? '').startsWith('text/html')) throw new Error(notBuilt);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
      return new Uint8Array(await res.arrayBuffer());
    })();
    fetched.set(url, f);
    f.catch(() => fetched.delete(url)); // a failure is tried again next time
  }
  return f;
}

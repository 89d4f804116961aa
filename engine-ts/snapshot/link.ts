// Share links: a delta snapshot (what differs from a base both sides have, a shipped
// snapshot named by its SHA-256) in the URL fragment, base64url. The fragment never reaches a
// server. Read back, it is checked like any snapshot before it is used.

import { fromBase64, toBase64 } from './bytes';
import { SnapshotError } from './format';

/** Largest snapshot a link carries (its fragment is 4/3 of this); larger ones go as files. */
export const LINK_MAX_BYTES = 768 * 1024;
const KEY = 'snap=';

/** The fragment (without '#') for a delta snapshot, or null when it is too big for a link. */
export function linkFragment(delta: Uint8Array): string | null {
  if (delta.length > LINK_MAX_BYTES) return null;
  return KEY + toBase64(delta, true);
}

/** The snapshot a link's fragment carries; null if the fragment is not a snapshot link. */
export function snapshotFromFragment(fragment: string): Uint8Array | null {
  const f = fragment.replace(/^#/, '');
  if (!f.startsWith(KEY)) return null;
  const text = f.slice(KEY.length);
  if (text.length > Math.ceil((LINK_MAX_BYTES * 4) / 3) + 4) throw new SnapshotError(`the link is too long to be a pvlab link (${text.length} characters)`);
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new SnapshotError('the link is damaged (it has characters a pvlab link never has)');
  const bytes = fromBase64(text);
  if (!bytes) throw new SnapshotError('the link is damaged (it is cut short)');
  return bytes;
}

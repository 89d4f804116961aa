// Xenstore path rules (docs/misc/xenstore.txt, spec §10): characters [A-Za-z0-9-/_@],
// no empty path, no doubled or trailing slash (except the root "/"), absolute paths up to
// 3072 bytes, relative ones (to /local/domain/<domid>) up to 2048. "@..." names special
// watch paths.

export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

const PATH_CHARS = /^[A-Za-z0-9\-/_@]+$/;

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Is `path` a valid absolute or relative node path (not a special watch path)? */
export function isValidPath(path: string): boolean {
  if (path.length === 0 || !PATH_CHARS.test(path)) return false;
  if (path.startsWith('@')) return false;
  if (path === '/') return true;
  if (path.endsWith('/') || path.includes('//')) return false;
  return path.startsWith('/') ? path.length <= XENSTORE_ABS_PATH_MAX : path.length <= XENSTORE_REL_PATH_MAX;
}

/** Special watch paths: "@introduceDomain", "@releaseDomain". */
export function isSpecialPath(path: string): boolean {
  return path.startsWith('@') && PATH_CHARS.test(path) && path.length <= XENSTORE_REL_PATH_MAX;
}

/** Absolute form of a valid path for a connection of domain `domid`, or null if invalid. */
export function canonicalize(domid: number, path: string): string | null {
  if (!isValidPath(path)) return null;
  if (path.startsWith('/')) return path;
  const abs = `${domainPath(domid)}/${path}`;
  return abs.length <= XENSTORE_ABS_PATH_MAX ? abs : null;
}

/** Path segments of an absolute path ("/" has none). */
export function segments(abs: string): string[] {
  return abs === '/' ? [] : abs.slice(1).split('/');
}

export function parentOf(abs: string): string {
  const i = abs.lastIndexOf('/');
  return i <= 0 ? '/' : abs.slice(0, i);
}

/** Is `child` equal to `parent` or below it? */
export function isChildOf(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  return child === parent || child.startsWith(parent + '/');
}

export declare const S_IFMT: number;
export declare const S_IFDIR: number;
export declare const S_IFREG: number;
export declare const S_IFLNK: number;
export declare const S_IFCHR: number;

export interface CpioEntry {
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'chardev';
  /** permission bits only (0o7777 at most) */
  mode: number;
  data?: Uint8Array;
  target?: string;
  major?: number;
  minor?: number;
}

export declare function writeNewc(entries: CpioEntry[], options?: { mtime?: number }): Uint8Array;

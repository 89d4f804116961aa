// A BlockStore over a host file (Node only: the browser never imports this module).
// Writes past the end leave holes that read as zeros, so a new fixed or dynamic image is
// sparse on file systems that support it.

import { open, type FileHandle } from 'node:fs/promises';
import { BlockStore, BlockStoreError, checkRange } from './block-store';

export type FileStoreMode = 'read' | 'read-write' | 'create';

export class FileStore implements BlockStore {
  private constructor(
    private handle: FileHandle | undefined,
    private length: number,
    readonly readOnly: boolean,
    readonly path: string,
  ) {}

  /** `create` makes a new empty file, replacing an existing one. */
  static async open(path: string, mode: FileStoreMode = 'read'): Promise<FileStore> {
    const flags = mode === 'read' ? 'r' : mode === 'read-write' ? 'r+' : 'w+';
    const handle = await open(path, flags);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new BlockStoreError(`${path} is not a regular file`);
      return new FileStore(handle, st.size, mode === 'read', path);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  get size(): number {
    return this.length;
  }

  private get fh(): FileHandle {
    if (!this.handle) throw new BlockStoreError(`${this.path}: store is closed`);
    return this.handle;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length, 'read');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new BlockStoreError(`${this.path}: file shrank under us at ${offset + done}`);
      done += bytesRead;
    }
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockStoreError(`${this.path}: store is read-only`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new BlockStoreError(`write: invalid offset ${offset}`);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.length = Math.max(this.length, offset + data.length);
  }

  async truncate(size: number): Promise<void> {
    if (this.readOnly) throw new BlockStoreError(`${this.path}: store is read-only`);
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockStoreError(`truncate: invalid size ${size}`);
    await this.fh.truncate(size);
    this.length = size;
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await this.fh.datasync();
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close();
  }
}

// Disks that travel inside a snapshot: read out of a quiesced machine's disk as its 64 KiB
// chunks that are not zero, and written back into a fresh disk when the snapshot resumes.
// The data is read only where the disk says it may hold data (BlockDevice.dataRanges: a
// dynamic VHD's allocated sectors), so an empty 2 GiB disk costs nothing.

import { SECTOR_SIZE, type BlockDevice } from '../disk/block-device';
import { DISK_CHUNK, MAX_DISK_DATA, SnapshotError, chunkLength, chunksOf } from './format';

const SECTORS_PER_CHUNK = DISK_CHUNK / SECTOR_SIZE;

function isZero(b: Uint8Array): boolean {
  const w = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
  let acc = 0;
  for (let i = 0; i < w.length; i++) acc |= w[i];
  return acc === 0;
}

/** The chunks of `dev` that are not zero (the machine is quiesced and the disk flushed). `name` is for errors. */
export async function readDiskChunks(dev: BlockDevice, name: string): Promise<Map<number, Uint8Array>> {
  const runs = dev.dataRanges ? await dev.dataRanges() : [{ sector: 0, count: dev.size / SECTOR_SIZE }];
  const wanted = new Set<number>();
  const last = chunksOf(dev.size) - 1;
  for (const r of runs) {
    const end = Math.min(last, Math.floor((r.sector + r.count - 1) / SECTORS_PER_CHUNK));
    for (let c = Math.floor(r.sector / SECTORS_PER_CHUNK); c <= end; c++) wanted.add(c);
  }
  const out = new Map<number, Uint8Array>();
  let bytes = 0;
  for (const c of [...wanted].sort((a, b) => a - b)) {
    const buf = new Uint8Array(chunkLength(dev.size, c));
    await dev.read(c * SECTORS_PER_CHUNK, buf);
    if (isZero(buf)) continue;
    bytes += buf.length;
    if (bytes > MAX_DISK_DATA) throw new SnapshotError(`disk ${name} holds more than ${MAX_DISK_DATA >> 20} MiB of data, more than a snapshot carries: export the disk and save the machine without carrying it`);
    out.set(c, buf);
  }
  return out;
}

/** Write carried chunks into `dev` (a fresh, empty disk of the carried size). */
export async function writeDiskChunks(dev: BlockDevice, size: number, chunks: Map<number, Uint8Array>): Promise<void> {
  if (dev.size !== size) throw new SnapshotError(`the disk made for the snapshot is ${dev.size} bytes; the snapshot's is ${size}`);
  for (const [c, data] of chunks) await dev.write(c * SECTORS_PER_CHUNK, data);
  await dev.flush();
}

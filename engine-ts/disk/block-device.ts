// What a disk looks like to the devices that use it (the IDE controller, blkback).
// The VHD driver implements it; so does a plain in-memory disk in tests.

export const SECTOR_SIZE = 512;

/**
 * Operations may be issued before earlier ones have settled (blkback keeps a whole ring of
 * requests going); the results must be as if each ran to completion in call order.
 */
export interface BlockDevice {
  /** Virtual size in bytes (a multiple of SECTOR_SIZE). */
  readonly size: number;
  readonly readOnly: boolean;
  /** Read whole sectors starting at `sector` into `dst` (dst.length a multiple of 512). */
  read(sector: number, dst: Uint8Array): Promise<void>;
  /** Write whole sectors. Rejects with an Error on a read-only disk or an I/O failure. */
  write(sector: number, src: Uint8Array): Promise<void>;
  /** Make every completed write durable. */
  flush(): Promise<void>;
  /** Tell the disk the range is unused (may be a no-op). */
  discard?(sector: number, count: number): Promise<void>;
  /**
   * Runs of sectors that may hold data, in order; every sector outside them reads as zero.
   * (Without it, the whole disk may hold data.)
   */
  dataRanges?(): Promise<SectorRun[]>;
}

export interface SectorRun { sector: number; count: number }

/** Merge sorted-or-not runs into sorted, disjoint ones. */
export function mergeRuns(runs: SectorRun[]): SectorRun[] {
  const out: SectorRun[] = [];
  for (const r of [...runs].sort((a, b) => a.sector - b.sector)) {
    const last = out[out.length - 1];
    if (last && r.sector <= last.sector + last.count) last.count = Math.max(last.count, r.sector + r.count - last.sector);
    else if (r.count > 0) out.push({ ...r });
  }
  return out;
}

/** A disk that counts the bytes read and written through it (the page's disk throughput). */
export class CountingDevice implements BlockDevice {
  readBytes = 0;
  writtenBytes = 0;
  readonly discard?: (sector: number, count: number) => Promise<void>;
  readonly dataRanges?: () => Promise<SectorRun[]>;

  constructor(readonly inner: BlockDevice & { close?(): Promise<void> }) {
    if (inner.discard) this.discard = (sector, count) => inner.discard!(sector, count);
    if (inner.dataRanges) this.dataRanges = () => inner.dataRanges!();
  }

  get size(): number { return this.inner.size; }
  get readOnly(): boolean { return this.inner.readOnly; }

  read(sector: number, dst: Uint8Array): Promise<void> {
    this.readBytes += dst.length;
    return this.inner.read(sector, dst);
  }

  write(sector: number, src: Uint8Array): Promise<void> {
    this.writtenBytes += src.length;
    return this.inner.write(sector, src);
  }

  flush(): Promise<void> { return this.inner.flush(); }

  async close(): Promise<void> { await this.inner.close?.(); }
}

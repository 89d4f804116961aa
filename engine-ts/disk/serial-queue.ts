// Runs async operations one at a time, in call order. A disk's metadata (BAT, bitmaps,
// the end of the file) changes across several awaits; two interleaved writes could
// otherwise allocate the same block twice.

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

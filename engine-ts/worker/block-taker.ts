// Page blocks of a snapshot shared out between threads (the page and a machine's worker): each
// takes the next index from one shared counter when it is free (see LocalMachine.resume).

/** The next block no thread has taken yet, or undefined when none is left. */
export function blockTaker(blocks: readonly number[], next: Int32Array): () => number | undefined {
  return () => {
    const k = Atomics.add(next, 0, 1);
    return k < blocks.length ? blocks[k] : undefined;
  };
}

// One end of a network cable into a machine's virtual switch, as seen from the host.
export interface LinkEndpoint {
  /** A frame going into the machine's switch. */
  send(frame: Uint8Array): void;
  /** Frames leaving the machine's switch (the callback may keep the array). */
  onFrame(cb: (frame: Uint8Array) => void): void;
}

// The guests the page offers. Files are served from public/guests/.
export interface GuestEntry {
  id: string;
  title: string;
  description: string;
  kind: 'flat';
  file: string;
  memoryMiB: number;
}

export const GUESTS: GuestEntry[] = [
  {
    id: 'hello',
    title: 'Hello guest',
    description: 'A few dozen real-mode instructions: prints a greeting over COM1 and echoes what you type (Ctrl-D halts).',
    kind: 'flat',
    file: 'guests/hello.bin',
    memoryMiB: 4,
  },
];

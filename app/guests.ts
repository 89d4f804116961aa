// The guests the page offers. Files are served from public/guests/.
export type GuestEntry =
  | { id: string; title: string; description: string; kind: 'flat'; file: string; memoryMiB: number }
  /** A bzImage (and optional initrd) the user picks from their computer. */
  | { id: string; title: string; description: string; kind: 'custom-linux'; cmdline: string; memoryMiB: number }
  | {
      id: string; title: string; description: string; kind: 'linux';
      kernel: string; initrd: string; manifest: string; cmdline: string; memoryMiB: number;
      /** Console text that marks each boot phase (for the status line). */
      phases: Array<{ match: string; label: string }>;
    };

export const GUESTS: GuestEntry[] = [
  {
    id: 'linux',
    title: 'Debian Linux',
    description: 'Debian 12 i386 686-pae kernel with a busybox initramfs, booted directly (Linux boot protocol, no BIOS). Type commands at the shell.',
    kind: 'linux',
    kernel: 'guests/linux/bzImage',
    initrd: 'guests/linux/initrd.img',
    manifest: 'guests/linux/manifest.json',
    cmdline: 'console=ttyS0,115200 tsc=reliable printk.time=1 init_on_free=1 cryptomgr.notests', // no crypto self-tests: half the boot
    memoryMiB: 128,
    phases: [
      { match: 'Linux version', label: 'booting the kernel' },
      { match: 'Run /init', label: 'starting /init' },
      { match: 'pvlab: ready', label: 'shell' },
    ],
  },
  {
    id: 'custom',
    title: 'Your own Linux (bzImage + initrd)',
    description: 'Boot a Linux bzImage of your choice (32-bit x86, boot protocol 2.06 or later) with an optional initrd and your own command line.',
    kind: 'custom-linux',
    cmdline: 'console=ttyS0,115200',
    memoryMiB: 128,
  },
  {
    id: 'hello',
    title: 'Hello guest',
    description: 'A few dozen real-mode instructions: prints a greeting over COM1 and echoes what you type (Ctrl-D halts).',
    kind: 'flat',
    file: 'guests/hello.bin',
    memoryMiB: 4,
  },
];

/**
 * The bundled Linux guest's images as absolute URLs: offered to resumed machines (for a reboot)
 * and made into base views when the page loads (the shipped snapshots are stored relative to them).
 */
export const LINUX_IMAGE_URLS = ['guests/linux/bzImage', 'guests/linux/initrd.img'].map((u) => new URL(u, location.href).href);

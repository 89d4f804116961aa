// Flat binary loader: copy an image into conventional memory and start it in real mode,
// like a boot sector (default load address 0x7C00).

import type { Board } from '../board';

export class ImageError extends Error {
  constructor(message: string) { super(message); this.name = 'ImageError'; }
}

export const DEFAULT_FLAT_LOAD = 0x7c00;

export function loadFlatBinary(board: Board, image: Uint8Array, loadAddr = DEFAULT_FLAT_LOAD): void {
  if (!Number.isInteger(loadAddr) || loadAddr < 0x500 || loadAddr >= 0xa0000)
    throw new ImageError(`load address 0x${loadAddr.toString(16)} is outside conventional memory (0x500-0x9FFFF)`);
  if (image.length === 0) throw new ImageError('image is empty');
  if (loadAddr + image.length > 0xa0000)
    throw new ImageError(`image of ${image.length} bytes does not fit below 640 KiB at 0x${loadAddr.toString(16)}`);
  board.ram.view(0, board.ram.size)!.set(image, loadAddr);
  const cpu = board.cpu;
  cpu.reset();
  const s = board.vcpu;
  // CS:IP = (addr >> 4):(addr & 0xF) so any address below 1 MiB is reachable; SS:SP just below the image.
  const cs = loadAddr >> 4;
  for (let i = 0; i < 6; i++) s.setSeg(i, { selector: 0, base: 0, limit: 0xffff, access: i === 1 ? 0x9b : 0x93 });
  s.setSeg('cs', { selector: cs, base: cs << 4, limit: 0xffff, access: 0x9b });
  s.eip = loadAddr & 0xf;
  s.setGpr('esp', 0x7000);
  s.setGpr('edx', 0x80); // boot drive, as a BIOS would pass it
  cpu.refresh();
}

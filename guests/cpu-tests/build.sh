#!/usr/bin/env bash
# Assembles the CPU test kernels (NASM, flat Multiboot binaries loaded at 1 MiB) into
# public/guests/cpu-tests/<name>.bin. The binaries are committed, so only people who
# change the sources need nasm (Debian package: nasm).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/../../public/guests/cpu-tests"
command -v nasm >/dev/null || { echo "cpu-tests: nasm is required (apt-get install nasm)" >&2; exit 1; }
mkdir -p "$out"
for src in "$here"/*.asm; do
  name=$(basename "$src" .asm)
  nasm -f bin -I "$here/" -o "$out/$name.bin.tmp" "$src"
  mv "$out/$name.bin.tmp" "$out/$name.bin"
  echo "cpu-tests: $name.bin ($(stat -c %s "$out/$name.bin") bytes)"
done

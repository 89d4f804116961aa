#!/usr/bin/env bash
# Builds the Linux guest (public/guests/linux/{bzImage,initrd.img,manifest.json}) from
# Debian's i386 packages. apt runs with a private state directory under .cache/, so
# the host's apt configuration, package lists and dpkg database are left untouched.
#
#   npm run guest:linux            build (fast when everything is already there)
#   PVLAB_APT_UPDATE=1 npm run guest:linux   refresh the package lists first
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="$repo/.cache/guests/linux"
out="$repo/public/guests/linux"
apt_dir="$work/apt"

# No "quiet": the boot log is part of what the lab shows. tsc=reliable skips the TSC
# watchdog (guest time is virtual); nokaslr keeps addresses equal to System.map;
# cryptomgr.notests skips the kernel's crypto self-tests (their RSA test vectors were
# about half of the boot's instructions).
CMDLINE=${PVLAB_CMDLINE:-"console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 tsc=reliable nokaslr printk.time=1 cryptomgr.notests"}

log() { printf 'guest:linux: %s\n' "$*"; }

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  cat >&2 <<MSG
guest:linux: this recipe needs Debian's apt-get and dpkg-deb, which this host lacks.
To supply the guest by hand, put these files in public/guests/linux/:
  bzImage      an i386 Linux kernel with the boot protocol header (Debian's
               /boot/vmlinuz-<version>-686-pae from linux-image-<version>-686-pae)
  initrd.img   a gzip'd cpio (newc) initramfs whose /init starts a shell on the console
  manifest.json  {"kernelVersion": "...", "cmdline": "console=ttyS0,115200 ...",
               "files": {"bzImage": {"sha256": "..."}, "initrd.img": {"sha256": "..."}}}
Or run this script on any Debian or Ubuntu machine and copy public/guests/linux/ over.
MSG
  exit 1
fi
command -v node >/dev/null || { echo "guest:linux: node is required" >&2; exit 1; }

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" \
  "$apt_dir/dpkg" "$work/debs"
[ -e "$apt_dir/dpkg/status" ] || : > "$apt_dir/dpkg/status"

# The host's sources (both one-line and deb822 styles), never its other settings files.
: > "$apt_dir/sources.list"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$apt_dir/sources.list"
rm -f "$apt_dir/sources.list.d/"*
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do cp "$f" "$apt_dir/sources.list.d/"; done
shopt -u nullglob

apt_opts=(
  -o "Dir::State=$apt_dir" -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/dpkg/status"
  -o "Dir::Cache=$apt_dir/cache" -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
  -o "APT::Architecture=i386" -o "APT::Architectures::=i386" -o "Acquire::Languages=none"
)
# apt drops to the _apt user for downloads, which cannot write into our cache as root.
[ "$(id -u)" = 0 ] && apt_opts+=(-o "APT::Sandbox::User=root")

# Refresh the private lists when missing, older than a day, or asked for.
lists_stamp="$apt_dir/lists/.updated"
if [ -n "${PVLAB_APT_UPDATE:-}" ] || [ ! -e "$lists_stamp" ] || [ -n "$(find "$lists_stamp" -mmin +1440)" ]; then
  log "updating private i386 package lists"
  # A mirror in mid-sync can fail one index; go on if what we need still resolves.
  if apt-get "${apt_opts[@]}" -q update >"$work/apt-update.log" 2>&1; then :; else
    log "warning: apt-get update reported errors (see .cache/guests/linux/apt-update.log)"
  fi
  touch "$lists_stamp"
fi

field() { apt-cache "${apt_opts[@]}" show "$1" 2>/dev/null | awk -v f="$2:" '$1 == f { sub(/^[^:]*: */, ""); print; exit }'; }

# linux-image-686-pae depends on exactly one versioned image package.
kpkg=$(field linux-image-686-pae Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*-686-pae\).*/\1/p' | head -n1)
[ -n "$kpkg" ] || { echo "guest:linux: cannot resolve linux-image-686-pae (see .cache/guests/linux/apt-update.log)" >&2; exit 1; }
kver=${kpkg#linux-image-}
kpkg_ver=$(apt-cache "${apt_opts[@]}" policy "$kpkg" | awk '/Candidate:/ { print $2 }')
bb_ver=$(apt-cache "${apt_opts[@]}" policy busybox-static | awk '/Candidate:/ { print $2 }')
[ -n "$kpkg_ver" ] && [ "$kpkg_ver" != "(none)" ] || { echo "guest:linux: no candidate for $kpkg" >&2; exit 1; }
[ -n "$bb_ver" ] && [ "$bb_ver" != "(none)" ] || { echo "guest:linux: no candidate for busybox-static" >&2; exit 1; }
log "kernel $kpkg $kpkg_ver, busybox-static $bb_ver"

# Up to date? Same package versions and the same recipe files as the last build.
recipe_hash=$( (cd "$here" && cat build.sh make-guest.mjs cpio-newc.mjs modinfo.mjs && find rootfs tools -type f | sort | xargs cat; echo "$CMDLINE") | sha256sum | cut -d' ' -f1)
stamp="$kpkg=$kpkg_ver busybox-static=$bb_ver recipe=$recipe_hash"
if [ -f "$out/manifest.json" ] && [ -f "$out/bzImage" ] && [ -f "$out/initrd.img" ] && [ "$(cat "$work/built.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "up to date: $out"
  exit 0
fi

deb_file() { # name version -> path of the downloaded .deb (apt escapes ':' as %3a)
  local v=${2//:/%3a}
  echo "$work/debs/${1}_${v}_i386.deb"
}
kdeb=$(deb_file "$kpkg" "$kpkg_ver")
bbdeb=$(deb_file busybox-static "$bb_ver")
need=()
[ -f "$kdeb" ] || need+=("$kpkg=$kpkg_ver")
[ -f "$bbdeb" ] || need+=("busybox-static=$bb_ver")
if [ ${#need[@]} -gt 0 ]; then
  log "downloading ${need[*]}"
  (cd "$work/debs" && apt-get "${apt_opts[@]}" -q download "${need[@]}")
fi
[ -f "$kdeb" ] && [ -f "$bbdeb" ] || { echo "guest:linux: download did not produce $kdeb and $bbdeb" >&2; exit 1; }

x="$work/extract"
rm -rf "$x"
mkdir -p "$x/kernel" "$x/busybox"
dpkg-deb -x "$kdeb" "$x/kernel"
dpkg-deb -x "$bbdeb" "$x/busybox"

# Small test programs for the guest (guests/linux/tools), freestanding i386 binaries.
mkdir -p "$x/extra/usr/bin"
gcc -m32 -static -nostdlib -ffreestanding -fno-pic -no-pie -Os -s -o "$x/extra/usr/bin/hwwatch" "$here/tools/hwwatch.c" ||
  { echo "guest:linux: building guests/linux/tools/hwwatch.c needs gcc -m32 (Debian package gcc-multilib)" >&2; exit 1; }
# nxtest runs code from writable pages and must be stopped by NX: its stack must not be executable.
gcc -m32 -static -nostdlib -ffreestanding -fno-pic -no-pie -Os -s -z noexecstack -o "$x/extra/usr/bin/nxtest" "$here/tools/nxtest.c" ||
  { echo "guest:linux: building guests/linux/tools/nxtest.c needs gcc -m32 (Debian package gcc-multilib)" >&2; exit 1; }

packages=$(printf '{"%s":"%s","busybox-static":"%s"}' "$kpkg" "$kpkg_ver" "$bb_ver")
node "$here/make-guest.mjs" --kernel-root "$x/kernel" --kernel-version "$kver" \
  --busybox "$x/busybox/bin/busybox" --out "$out" --packages "$packages" --cmdline "$CMDLINE" --extra-root "$x/extra"
echo "$stamp" > "$work/built.stamp"
log "wrote $out (bzImage, initrd.img, manifest.json)"

#!/usr/bin/env bash
# Boots the built guest (public/guests/linux) under qemu-system-i386 (TCG, headless)
# and checks that it reaches a shell that runs commands: uname, /proc/cpuinfo and the
# md5sum of the known test file. Prints PASS or FAIL; exit status 0 only on PASS.
#
#   bash guests/linux/qemu-check.sh [qemu -cpu model]    (default: pentium2,+pae)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir="$repo/public/guests/linux"
cpu=${1:-pentium2,+pae}
boot_timeout=${PVLAB_BOOT_TIMEOUT:-180}

fail() { echo "FAIL: $*"; exit 1; }
command -v qemu-system-i386 >/dev/null || fail "qemu-system-i386 not found (Debian package qemu-system-x86)"
for f in bzImage initrd.img manifest.json; do [ -f "$dir/$f" ] || fail "missing $dir/$f (run npm run guest:linux)"; done

json() { node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const v=process.argv[2].split(".").reduce((o,k)=>o?.[k],m);process.stdout.write(String(v??""))' "$dir/manifest.json" "$1"; }
kver=$(json kernelVersion)
md5=$(json testFile.md5)
tfile=$(json testFile.path)
cmdline=$(json cmdline)

tmp=$(mktemp -d)
log="$tmp/serial.log"
mkfifo "$tmp/in"
qemu_pid=""
cleanup() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start_ms=$(( $(date +%s%N) / 1000000 ))
qemu-system-i386 -M pc -cpu "$cpu" -m 256 -accel tcg -kernel "$dir/bzImage" -initrd "$dir/initrd.img" \
  -append "$cmdline" -display none -monitor none -serial stdio -no-reboot <"$tmp/in" >"$log" 2>&1 &
qemu_pid=$!
exec 3>"$tmp/in"

wait_for() { # regex seconds
  local end=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    grep -aqE "$1" "$log" && return 0
    kill -0 "$qemu_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

wait_for 'root@pvlab:[^ ]*# ' "$boot_timeout" || { tail -n 40 "$log"; fail "no shell prompt within ${boot_timeout}s (cpu $cpu)"; }
shell_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
shell_s=$(printf '%d.%03d' $((shell_ms / 1000)) $((shell_ms % 1000)))
printf 'uname -a\ngrep -m1 "^flags" /proc/cpuinfo\nmd5sum %s\necho CHECK-$((40+2))\n' "$tfile" >&3
wait_for '^CHECK-42' 60 || { tail -n 40 "$log"; fail "commands did not complete"; }
printf 'poweroff -f\n' >&3

tr -d '\r' <"$log" >"$tmp/clean.log"
ok=1
grep -aq "^Linux pvlab $kver " "$tmp/clean.log" || { echo "uname -a does not show Linux pvlab $kver"; ok=0; }
grep -aqE "^$md5 +$tfile" "$tmp/clean.log" || { echo "md5sum of $tfile is not $md5"; ok=0; }
grep -aq '^flags' "$tmp/clean.log" || { echo "no flags line from /proc/cpuinfo"; ok=0; }
if grep -aq 'job control turned off' "$tmp/clean.log"; then echo "shell has no job control"; ok=0; fi

echo "--- guest said:"
grep -aE '^(Linux pvlab|flags|[0-9a-f]{32} |pvlab: )' "$tmp/clean.log"
echo "--- kernel warnings:"
grep -aiE 'warn|error|fail|unable|taint|bug|call trace' "$tmp/clean.log" | grep -avE '^(grep|md5sum)' | head -n 40
[ -n "${PVLAB_KEEP_LOG:-}" ] && cp "$tmp/clean.log" "$PVLAB_KEEP_LOG"
if [ "$ok" = 1 ]; then
  echo "PASS: shell after ${shell_s}s under TCG (cpu $cpu, kernel $kver)"
else
  fail "see above (cpu $cpu)"
fi

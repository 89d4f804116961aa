#!/usr/bin/env bash
# Runs every CPU test kernel under qemu-system-i386 (TCG) and prints a summary.
#   bash guests/cpu-tests/run-qemu.sh [qemu -cpu model]     (default: pentium3)
# Each kernel reports PASS/FAIL/SKIP lines on port 0xE9 and exits through the
# isa-debug-exit device. QEMU's known gaps are passed as command-line words that make
# the kernels print SKIP for those checks (see QUIRKS below); on the pvlab core the
# kernels run with an empty command line, so every check is made.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bins="$here/../../public/guests/cpu-tests"
cpu=${1:-pentium3}
command -v qemu-system-i386 >/dev/null || { echo "qemu-system-i386 not found (Debian package qemu-system-x86)"; exit 2; }

# QEMU TCG does not check segment limits or the use of null data selectors; it flushes
# global TLB entries on a CR3 write (allowed: a TLB may drop entries at any time); its
# #PF error code for a reserved-bit fault has P=0 where the SDM says P=1. Its x87 keeps
# no last opcode, no FIP in FXSAVE, raises no DE for denormal loads and has no stack
# overflow/underflow detection (register tags are not checked). Its debug registers have no
# general detect (DR7.GD) and report one B bit in DR6 when one access hits two breakpoints.
# TCG has no virtual-8086 mode extensions (CR4.VME). QEMU 7.2 TCG takes a CR4 write that
# sets bit 20 (SMEP) although CPUID does not claim SMEP (no #GP; the kernel then stops making
# progress), and after INVLPG of one 4 KiB piece of a 2 MiB page it may still run a translated
# block cached for another piece of it (a data access there sees the new translation).
# irq: after delivering an event TCG runs one instruction before it looks at pending
# interrupts again (the SDM's next boundary is the handler's first instruction), and a
# faulting IRET leaves NMIs blocked (the SDM: IRET unblocks NMIs even when it faults).
declare -A QUIRKS=(
  [gates]="no-seg-limits"
  [paging]="no-global-tlb rsvd-no-p"
  [x87]="no-fpu-opcode no-fxsave-fip no-fpu-de no-fpu-stack-faults"
  [debug]="one-db-bit no-dr7-gd"
  [v86]="no-vme"
  [irq]="late-after-delivery nmi-blocked-after-faulting-iret"
  [nx]="no-cr4-smep-gp no-large-invlpg"
)
# Extra CPU flags so that optional checks run (NX needs CPUID 0x80000001 EDX bit 20).
declare -A CPU_FLAGS=(
  [paging]=",+nx"
  [nx]=",+nx"
)
# TCG looks at pending interrupts only between translation blocks, so an interrupt that an
# APIC write (EOI, TPR, self-IPI, NMI IPI) makes deliverable waits for the end of the block:
# irq runs with one instruction per block (-singlestep before QEMU 8.1, then a TCG option).
qv=$(qemu-system-i386 --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r qmaj qmin <<<"${qv:-0 0}"
if [ "$qmaj" -gt 8 ] || { [ "$qmaj" -eq 8 ] && [ "$qmin" -ge 1 ]; }; then one_insn="-accel tcg,one-insn-per-tb=on"; else one_insn="-accel tcg -singlestep"; fi
declare -A ACCEL=(
  [irq]="$one_insn"
)

total_fail=0
total_pass=0
total_skip=0
bad=()
for bin in "$bins"/*.bin; do
  name=$(basename "$bin" .bin)
  log=$(timeout 60 qemu-system-i386 -M pc -cpu "$cpu${CPU_FLAGS[$name]:-}" -m 64 ${ACCEL[$name]:--accel tcg} -kernel "$bin" -append "${QUIRKS[$name]:-}" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -debugcon stdio -display none -monitor none -serial none -no-reboot)
  rc=$?
  p=$(grep -c '^PASS ' <<<"$log")
  f=$(grep -c '^FAIL ' <<<"$log")
  s=$(grep -c '^SKIP ' <<<"$log")
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  status=ok
  if [ "$rc" != 1 ] || [ "$f" != 0 ] || ! grep -q '^SUMMARY' <<<"$log"; then status=FAILED; bad+=("$name"); fi
  printf '%-8s %-6s %4d passed %3d failed %3d skipped (qemu exit %d)\n' "$name" "$status" "$p" "$f" "$s" "$rc"
  grep -E '^(FAIL|SKIP)' <<<"$log" | sed 's/^/    /'
done
echo "cpu-tests on qemu -cpu $cpu: $total_pass passed, $total_fail failed, $total_skip skipped"
[ ${#bad[@]} -eq 0 ] || { echo "failing kernels: ${bad[*]}"; exit 1; }

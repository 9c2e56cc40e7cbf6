#!/bin/bash
# run.sh [--] CMD [ARGS...]: run CMD inside a small Linux guest whose only
# cgroup hierarchy is cgroup v2, and exit with CMD's exit code.
#
# The guest boots Debian's kernel (package linux-image-amd64) under qemu with
# TCG emulation and a busybox initramfs (mkinitramfs.sh), and sees the host's
# root filesystem, shared read-only over virtio-9p, under a writable overlay
# kept in the guest's RAM: /usr, the Go toolchain and cache, and this work
# tree are all there, and nothing the guest does reaches the host. CMD runs
# as root in the host's current directory (the guest has fresh tmpfs on /tmp
# and /run, but keeps that one directory visible) with the environment below.
#
# Environment:
#   VM_TIMEOUT  seconds before qemu is killed (default 1200); exit 124 then
#   VM_MEM      guest memory in MiB (default 2048)
#   VM_CPUS     guest CPUs (default 2)
#   VM_ENV      names of host variables to pass to CMD, e.g. "CI BERTH_BINARY"
#   VM_CACHE    where the initramfs is cached (default /var/cache/berth-vm)
#   VM_QUIET=1  hide the kernel's and the harness's own messages
#   VM_SYSTEMD=1  boot systemd (the host's) as the guest's PID 1; CMD runs
#               as a service of it (tests/systemd)
#
# Exit codes: CMD's; 124 on timeout; 125 when the VM itself failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
  echo "usage: tests/vm/run.sh [--] CMD [ARGS...]" >&2
  exit 2
fi
timeout_s=${VM_TIMEOUT:-1200}
mem=${VM_MEM:-2048}
cpus=${VM_CPUS:-2}

say() { [ "${VM_QUIET:-}" = 1 ] || echo "berth-vm: $*" >&2; }
die() { echo "berth-vm: $*" >&2; exit 125; }

[ "$(id -u)" = 0 ] || die "must run as root (qemu shares / with passthrough permissions)"

# ensure_packages: install what the VM needs, only when something is missing.
ensure_packages() {
  local p missing=""
  for p in linux-image-amd64 qemu-system-x86 busybox-static cpio kmod; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $p"
  done
  [ -z "$missing" ] && return
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # shellcheck disable=SC2086 # word splitting wanted
  apt-get install -y -q --no-install-recommends $missing >&2
}
ensure_packages

# The kernel the linux-image-amd64 meta-package points at now.
kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 |
  sed -n 's/^linux-image-\([^ ,]*\).*/\1/p')
kernel=/boot/vmlinuz-$kver
if [ -z "$kver" ] || [ ! -r "$kernel" ]; then
  die "no kernel for linux-image-amd64 ($kernel)"
fi
[ -d "/lib/modules/$kver" ] || die "no /lib/modules/$kver"
initrd=$("$here/mkinitramfs.sh" "$kver") || die "building the initramfs failed"

# quote: one shell word for the guest's /bin/sh, whatever the text holds.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# The job: a script the guest's init copies in through the host root share
# (so it may live in the host's /tmp, which the guest covers later).
jobdir=$(mktemp -d /tmp/berth-vm.XXXXXX)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local pid
  pid=$(cat "$jobdir/qemu.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    sleep 1
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$jobdir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Go in the guest: the host's caches are the lower layer of the overlay, so
# builds hit them and writes go to RAM; no network, no toolchain download.
gocache=/root/.cache/go-build gopath=/root/go gomodcache=/root/go/pkg/mod
if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ]; then
  gobin=$(command -v go || echo /usr/local/go/bin/go)
  { read -r gocache; read -r gopath; read -r gomodcache; } < <(
    "$gobin" env GOCACHE GOPATH GOMODCACHE)
fi
{
  echo "# written by tests/vm/run.sh"
  echo "export GOCACHE=$(quote "$gocache") GOPATH=$(quote "$gopath")"
  echo "export GOMODCACHE=$(quote "$gomodcache")"
  echo "export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOSUMDB=off"
  for name in ${VM_ENV:-}; do
    [ -n "${!name+set}" ] && echo "export $name=$(quote "${!name}")"
  done
  echo "dir=$(quote "$PWD")"
  # shellcheck disable=SC2016 # expanded in the guest
  echo 'cd "$dir" || { echo "berth-vm: no $dir in the guest (/tmp, /run are its own)" >&2; exit 125; }'
  printf 'exec'
  for arg in "$@"; do
    printf ' %s' "$(quote "$arg")"
  done
  echo
} > "$jobdir/job.sh"

# Kernel command line: serial console; quiet unless something is wrong;
# no cgroup v1 at all; no reboot loop: a panic ends qemu (-no-reboot).
append="console=ttyS0 edd=off panic=-1 cgroup_no_v1=all berthvm_job=$jobdir/job.sh"
append="$append $( [ "${VM_QUIET:-}" = 1 ] && echo "quiet loglevel=0" || echo "loglevel=4")"
if [ "${VM_SYSTEMD:-}" = 1 ]; then
  append="$append berthvm_systemd=1 systemd.unit=berth-vm.target systemd.show_status=0"
fi

say "booting $kver (TCG, ${mem} MiB, $cpus CPUs, timeout ${timeout_s}s): $*"
start=$(date +%s)
# qemu's console is the serial port on stdio; stdin is /dev/null so qemu
# leaves the terminal alone. sed drops the serial line's carriage returns
# (unbuffered, so output streams); tee keeps a copy to find the exit code.
# The pipeline runs in the background and the shell waits for it: bash runs
# a trap only between commands, and `wait` is where a signal can reach it.
{
  status=0
  timeout -k 10 "$timeout_s" qemu-system-x86_64 \
    -accel tcg -cpu max -m "$mem" -smp "$cpus" -nographic -no-reboot \
    -bios qboot.rom -nic none \
    -kernel "$kernel" -initrd "$initrd" -append "$append" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    -device virtio-rng-pci \
    -pidfile "$jobdir/qemu.pid" || status=$?
  echo "$status" > "$jobdir/qemu.rc"
} < /dev/null 2>&1 | sed -u 's/\r$//' | tee "$jobdir/console.log" &
wait $! || true
qemu_rc=$(cat "$jobdir/qemu.rc" 2>/dev/null || echo 125)
elapsed=$(($(date +%s) - start))

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  echo "berth-vm: timed out after ${timeout_s}s (VM_TIMEOUT); qemu killed" >&2
  exit 124
fi
# The last marker wins: the job's own output cannot fake the final one.
rc=$(sed -n 's/^VM-EXIT-CODE=\([0-9]*\)$/\1/p' "$jobdir/console.log" | tail -n 1)
if [ -z "$rc" ]; then
  die "the guest reported no exit code (qemu exit $qemu_rc, ${elapsed}s)"
fi
say "exit code $rc after ${elapsed}s"
exit "$rc"

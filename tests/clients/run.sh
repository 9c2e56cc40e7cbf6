#!/bin/bash
# tests/clients/run.sh [containerd|podman|docker|podman-rootless|all]...
#
# Proves that the real clients from Debian run containers with berth as their
# OCI runtime: containerd (ctr), podman and docker (podman also rootless,
# rootless.sh). The script installs the packages it needs, builds a one-layer busybox image locally (no registry),
# starts each daemon itself with its own sockets and directories under a
# temp dir, points it at the runtime, and runs the same checks with each
# client: run + output + exit code, a terminal, detached + exec, pause, stop,
# kill, rm, and nothing left behind. Every check prints PASS or FAIL; the last
# line is "clients: N passed, M failed, K skipped"; exit status 1 on any failure.
#
# Environment:
#   RUNTIME=/usr/sbin/runc   the runtime under test (default: ./berth of this
#                            repository, built if missing); runc is the control
#   STEP_TIMEOUT=60          seconds for one client command
#   TIME_LIMIT=540           seconds for the whole run; later steps FAIL unrun
#   ARGV_LOG=0               give the clients the runtime itself, not the
#                            wrapper that logs each call ($T/runtime-argv.log)
#   KEEP_LOG=FILE            copy the runtime call log to FILE at the end
#
# Everything it starts or makes (daemons, shims, containers, mounts, cgroups,
# the temp dir) is removed on exit, also on failure or Ctrl-C.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/berth}
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
TIME_LIMIT=${TIME_LIMIT:-540}
IMAGE_REF=localhost/berth-test/busybox:latest
# INSIDE: what a container prints about itself, for the checks of the
# process settings and limits (cgroup v1 paths first, then v2's).
INSIDE='read line; echo "in=$line uid=$(id -u) gid=$(id -g) cwd=$(pwd) foo=$FOO"
  touch /ro-test 2>/dev/null && ro=no || ro=yes
  echo "ro=$ro caps=$(sed -n "s/^CapEff:[[:space:]]*//p" /proc/self/status)"
  mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)
  pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)
  echo "mem=$mem pids=$pids"'

CG=berth-clients-$$ # parent of every cgroup the clients make here
CLIENT=setup
. "$HERE/lib.sh"
. "$HERE/containerd.sh"
. "$HERE/engine.sh"
. "$HERE/scenarios.sh"
. "$HERE/rootless.sh"

usage() { echo "usage: $0 [containerd|podman|docker|podman-rootless|all]..." >&2; exit 2; }
clients=()
for a in "${@:-all}"; do
  case $a in
    all) clients+=(containerd podman docker podman-rootless) ;;
    containerd | podman | docker | podman-rootless) clients+=("$a") ;;
    *) usage ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 2; }

# Packages: Debian's clients, installed only if missing. A package's own
# service start is suppressed (policy-rc.d), the tests start their own.
install_missing() {
  local want=(busybox-static) missing=() p
  for c in "${clients[@]}"; do
    case $c in
      containerd) want+=(containerd) ;;
      podman) want+=(podman) ;;
      docker) want+=(docker.io) ;;
      podman-rootless) want+=(podman slirp4netns uidmap curl) ;;
    esac
  done
  [ "$RUNTIME" = /usr/sbin/runc ] && want+=(runc)
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "installing ${missing[*]}"
  local policy=/usr/sbin/policy-rc.d made=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made=1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  local rc=$?
  [ -n "$made" ] && rm -f "$policy"
  return $rc
}
if ! install_missing; then echo "run.sh: apt-get install failed" >&2; exit 2; fi

if [ ! -x "$RUNTIME" ]; then
  if [ "$RUNTIME" = "$REPO/berth" ]; then
    make -C "$REPO" berth >/dev/null || { echo "run.sh: make berth failed" >&2; exit 2; }
  else
    echo "run.sh: RUNTIME=$RUNTIME is not executable" >&2; exit 2
  fi
fi

# A short temp dir: unix socket paths under it must stay under 108 bytes.
T=$(mktemp -d /tmp/berth-clients.XXXXXX)
trap cleanup EXIT
# Work from inside it: conmon writes an "oom" marker into its working
# directory when a container is OOM-killed, which would land in the caller's.
case "$RUNTIME" in /*) ;; *) RUNTIME=$(readlink -f "$RUNTIME") ;; esac
cd "$T"
trap 'exit 130' INT TERM
# podman's locks live in /dev/shm/libpod_lock: remove it after if we made it.
[ -e /dev/shm/libpod_lock ] || at_end "rm -f /dev/shm/libpod_lock"
# containerd (also docker's) makes /run/containerd/s for its shims' sockets.
[ -e /run/containerd ] || at_end "rmdir /run/containerd/s /run/containerd"
# podman leaves the runtime its default root (/run/runc, /run/berth).
rtroot=/run/$(basename "$RUNTIME")
[ -e "$rtroot" ] || at_end "rmdir $rtroot"
make_wrapper
say "runtime: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -n 1)), via $RT"
say "temp dir: $T"

IMAGE_TAR=$T/image.tar
runstep 120 "$HERE/mkimage.sh" "$IMAGE_TAR" "$IMAGE_REF"
expect "image built from busybox-static" 0
if [ "$RC" = 0 ]; then
  for c in "${clients[@]}"; do
    say "$c"
    case $c in
      containerd) containerd_suite ;;
      podman) podman_suite ;;
      docker) docker_suite ;;
      podman-rootless) rootless_podman_suite ;;
    esac
  done
fi

CLIENT=summary
if [ -n "${KEEP_LOG:-}" ]; then cp "$T/runtime-argv.log" "$KEEP_LOG"; fi
if [ "$FAILED" -gt 0 ]; then
  echo "failed:"
  printf '  %s\n' "${FAILS[@]}"
fi
echo "runtime calls: $(grep -c ' \[[0-9]*\] exit ' "$T/runtime-argv.log"), $(grep -cE ' \[[0-9]*\] exit [1-9]' "$T/runtime-argv.log") failed; took $((SECONDS - START)) s"
[ "$SKIPPED" -gt 0 ] && printf 'skipped:\n' && printf '  %s\n' "${SKIPS[@]}"
echo "clients: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ] && exit 0
exit 1

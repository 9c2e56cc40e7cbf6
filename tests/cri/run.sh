#!/bin/bash
# tests/cri/run.sh: Kubernetes' CRI validation suite (critest, cri-tools
# v1.37.0) through containerd 1.6's CRI plugin, once with the runtime
# handler "runc" and once with "berth" (both the io.containerd.runc.v2 shim,
# BinaryName runc / berth), then a check with ctr of a container that exits
# on its own. See tests/cri/README.md.
#
# Fails (exit 1) if berth fails a spec that passes with runc, or if the
# exit check fails; exit 2 if the harness itself could not run. The last line
# is "N passed, M failed" for berth.
#
# Environment:
#   BERTH=./berth           the runtime under test (built if missing)
#   RUNC=/usr/sbin/runc     the control
#   HANDLERS="runc berth"   which handlers to run critest with
#   CACHE=/var/cache/berth-tests   where critest and crictl are kept
#   CRITEST_PARALLEL=1      critest's -parallel (more needs the ginkgo CLI)
#   CRITEST_TIMEOUT=40m     the suite's time limit, per handler
#   CRITEST_FOCUS=REGEX     run only the specs matching REGEX (ginkgo.focus)
#   LOG_DIR=.build/cri      critest's output and JSON reports, containerd's log
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BERTH=${BERTH:-$REPO/berth}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
HANDLERS=${HANDLERS:-runc berth}
CACHE=${CACHE:-/var/cache/berth-tests}
CRITEST_PARALLEL=${CRITEST_PARALLEL:-1}
CRITEST_TIMEOUT=${CRITEST_TIMEOUT:-40m}
LOG_DIR=${LOG_DIR:-$REPO/.build/cri}
CRI_TOOLS=sigs.k8s.io/cri-tools@v1.37.0
SUBNET=10.219.113.0/24 BRIDGE=berth-cri0
. "$HERE/containerd.sh"
. "$HERE/critest.sh"

START=$SECONDS
say() { echo "== $*"; }
die() { echo "cri: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"

# Debian's packages, installed only if missing; their services not started.
install_missing() {
  local want=(containerd containernetworking-plugins busybox-static runc jq) missing=() p
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
install_missing || die "apt-get install failed"
build_cri_tools || die "building critest from $CRI_TOOLS failed"
if [ ! -x "$BERTH" ]; then
  [ "$BERTH" = "$REPO/berth" ] || die "BERTH=$BERTH is not executable"
  make -C "$REPO" berth >/dev/null || die "make berth failed"
fi
case "$BERTH" in /*) ;; *) BERTH=$(readlink -f "$BERTH") ;; esac

# Everything of the run lives in $T (short: unix socket paths < 108 bytes).
T=$(mktemp -d /tmp/berth-cri.XXXXXX) && [ -n "$T" ] || die "mktemp failed"
cleanup() {
  trap - EXIT INT TERM
  say "cleanup"
  remove_pods
  stop_containerd
  sweep
  # containerd made /run/containerd/s for the shims' sockets: remove it if
  # it was not there before and nothing else put a socket there since.
  [ -n "$MADE_RUN_CONTAINERD" ] && rmdir /run/containerd/s /run/containerd 2>/dev/null
  return 0
}
MADE_RUN_CONTAINERD= MADE_BRIDGE=
[ -e /run/containerd ] || MADE_RUN_CONTAINERD=1
ip link show "$BRIDGE" >/dev/null 2>&1 || MADE_BRIDGE=1
trap cleanup EXIT
trap 'exit 130' INT TERM
cri_cgroups > "$T/cgroups.before"
shm_segments > "$T/shm.before"
mkdir -p "$LOG_DIR"

say "runc: $RUNC ($("$RUNC" --version | head -n 1))"
say "berth: $BERTH ($("$BERTH" --version 2>&1 | head -n 1))"
say "containerd: $(containerd --version | cut -d' ' -f3); temp dir $T; logs in $LOG_DIR"
write_config
start_containerd || exit 2
"$HERE/mkimages.sh" "$T/images.tar" >/dev/null || die "mkimages.sh failed"
"${CTR[@]}" images import "$T/images.tar" >/dev/null || die "ctr images import failed"
write_images_file "$T/images.yaml"

FAILED_RUN=0
for h in $HANDLERS; do
  run_critest "$h" || FAILED_RUN=1
done
say "exit check: a container whose process exits on its own"
EXIT_CHECK=0
for h in $HANDLERS; do
  exit_check "$h" || EXIT_CHECK=1
done
cp "$D/containerd.log" "$LOG_DIR/containerd.log"

rc=0
compare_reports || rc=1
[ "$EXIT_CHECK" = 0 ] || rc=1
[ "$FAILED_RUN" = 0 ] || rc=2
cleanup
say "took $((SECONDS - START)) s"
summary_line
exit $rc

#!/bin/sh
# deps.sh [--test]: install the Debian packages berth's build needs (and,
# with --test, everything `make test` starts: the clients, containerd's CRI,
# CNI plugins, the qemu guest's kernel), only those missing, with one
# `apt-get update` when something is missing. Services the packages would
# start (containerd, docker) are kept stopped: the tests start their own.
set -eu
pkgs="busybox-static make gcc musl-tools git runc crun time jq hyperfine uidmap libseccomp-dev iproute2 strace umoci skopeo"
# The qemu guest's packages, without their recommends (a desktop's worth).
bare=""
if [ "${1:-}" = --test ]; then
  pkgs="$pkgs containerd podman docker.io containernetworking-plugins iptables nftables slirp4netns systemd"
  bare="qemu-system-x86 linux-image-amd64 cpio kmod"
fi
need() {
  out=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
  done
  echo "$out"
}
# shellcheck disable=SC2086 # word splitting wanted
missing=$(need $pkgs) missing_bare=$(need $bare)
if [ -n "$missing$missing_bare" ]; then
  echo "deps: installing$missing$missing_bare"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1
  fi
  rc=0
  apt-get update -q || rc=$?
  if [ "$rc" = 0 ] && [ -n "$missing" ]; then apt-get install -y -q $missing || rc=$?; fi
  if [ "$rc" = 0 ] && [ -n "$missing_bare" ]; then apt-get install -y -q --no-install-recommends $missing_bare || rc=$?; fi
  [ -n "$made" ] && rm -f "$policy"
  [ "$rc" = 0 ] || { echo "deps: apt-get failed ($rc)" >&2; exit "$rc"; }
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "deps: add /usr/local/go/bin to PATH" >&2
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
  echo "deps: Go 1.26 or newer is needed (https://go.dev/dl, unpacked in /usr/local/go)" >&2
  exit 1
}

#!/bin/sh
# deps.sh: install the Debian packages berth's build and tests need, only
# those missing (so it runs apt-get update only when it must install).
set -eu
pkgs="busybox-static make gcc musl-tools git runc crun time jq hyperfine uidmap libseccomp-dev iproute2 strace umoci skopeo"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q $missing
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "deps: add /usr/local/go/bin to PATH" >&2
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
  echo "deps: Go 1.26 or newer is needed (https://go.dev/dl, unpacked in /usr/local/go)" >&2
  exit 1
}

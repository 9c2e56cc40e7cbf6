#!/bin/sh
# demo.sh: from a fresh Debian machine to a running container. Installs what
# berth needs, builds it, makes a busybox bundle and runs it.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo $0)" >&2; exit 1; }
export PATH="$PATH:/usr/local/go/bin"
./scripts/deps.sh
make berth
bundle=${BUNDLE:-/tmp/berth-demo-bundle}
rm -rf "$bundle"
./scripts/mkbundle.sh "$bundle"
echo "demo: ./berth run --bundle $bundle demo"
./berth run --bundle "$bundle" "demo-$$"

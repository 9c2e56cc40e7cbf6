#!/bin/bash
# run.sh: `make test-systemd`. Boots the cgroup v2 guest of tests/vm with the
# host's systemd as PID 1 (VM_SYSTEMD=1) and runs guest.sh there: berth as a
# unit's main process (Type=notify, Restart=, stop, the journal). Ends with
# the line "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
BERTH=${BERTH:-$repo/berth}
[ -x "$BERTH" ] || { echo "test-systemd: $BERTH not found: make berth" >&2; exit 1; }
command -v jq >/dev/null || { echo "test-systemd: jq not found" >&2; exit 1; }
[ -x /lib/systemd/systemd ] || { echo "test-systemd: systemd is not installed (apt-get install systemd)" >&2; exit 1; }
# The guest sees the host's root read-only and has its own /tmp: helpers are
# built here, under the work tree, which the guest keeps visible.
out=$repo/.build/systemd
mkdir -p "$out"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
(cd "$repo/tests" && CGO_ENABLED=0 "$GO" build -o "$out/sdnotify" ./testdata/sdnotify)
export BERTH SDNOTIFY=$out/sdnotify
VM_SYSTEMD=1 VM_ENV="BERTH SDNOTIFY" VM_TIMEOUT=${VM_TIMEOUT:-1500} \
	"$repo/tests/vm/run.sh" -- bash "$here/guest.sh"

#!/bin/bash
# guest.sh: berth under systemd as PID 1. Runs inside the cgroup v2 guest
# booted by tests/vm/run.sh with VM_SYSTEMD=1 (see run.sh beside this file):
# units with Type=notify around `berth run`, restarts, stops, the journal.
# Prints one line per check and ends with "N passed, M failed".
set -u
BERTH=${BERTH:?}
SDNOTIFY=${SDNOTIFY:?}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
# why UNIT: what systemd and the journal say about a unit, after a failure.
why() {
	systemctl status --no-pager -l "$1" 2>&1 | sed 's/^/    /' | head -20
	journalctl --no-pager -u "$1" 2>&1 | tail -15 | sed 's/^/    /'
}
check() { # check DESC CMD...: ok when CMD succeeds
	local d=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local n=$(($1 * 5)); shift
	while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done
	return 1
}
state() { systemctl show -p ActiveState --value "$1"; }

[ "$(readlink /proc/1/exe)" = /usr/lib/systemd/systemd ] || [ "$(readlink /proc/1/exe)" = /lib/systemd/systemd ] ||
	{ echo "PID 1 is not systemd: $(readlink /proc/1/exe)"; echo "0 passed, 1 failed"; exit 1; }
echo "systemd $(systemctl --version | head -1 | cut -d' ' -f2) as PID 1; cgroup: $(stat -fc %T /sys/fs/cgroup)"

T=$(mktemp -d /tmp/berth-systemd.XXXXXX)
ROOT=$T/state
units=/run/systemd/system
cleanup() {
	for u in $units/berth-t-*.service; do
		[ -e "$u" ] || continue
		systemctl stop "$(basename "$u")" 2>/dev/null
		rm -f "$u"
	done
	systemctl daemon-reload
	for id in $("$BERTH" --root "$ROOT" list -q 2>/dev/null); do "$BERTH" --root "$ROOT" delete -f "$id"; done
}
trap cleanup EXIT

# bundle DIR CMD: a busybox bundle with sdnotify, the host dir $T/out bound
# at /out for markers.
mkdir -p "$T/out"
bundle() {
	local dir=$1; shift
	BERTH=$BERTH "$repo/scripts/mkbundle.sh" "$dir" sh -c "$*" >/dev/null || { bad "mkbundle $dir"; return 1; }
	cp "$SDNOTIFY" "$dir/rootfs/bin/sdnotify"
	mkdir -p "$dir/rootfs/out"
	# cgroupfs driver: the container's cgroup outside the unit's, which
	# systemd does not delegate (docs/systemd.md)
	jq --arg out "$T/out" --arg cg "/berth-test/$(basename "$dir")" '.process.terminal = false |
		.linux.cgroupsPath = $cg |
		.mounts += [{destination: "/out", type: "bind", source: $out, options: ["rbind", "rw"]}]' \
		"$dir/config.json" >"$dir/c.json" && mv "$dir/c.json" "$dir/config.json"
}
# unit NAME EXTRA-SERVICE-LINES BUNDLE: a runtime unit running berth run.
unit() {
	cat >"$units/berth-t-$1.service" <<UNIT
[Unit]
Description=berth test $1
[Service]
ExecStart=$BERTH --root $ROOT run --bundle $3 $1
$2
UNIT
	systemctl daemon-reload
}

echo "== Type=notify: active only after the workload's READY=1"
bundle "$T/b-notify" 'echo hello-journal; sleep 4; sdnotify READY=1 STATUS=serving; trap "echo term > /out/term; exit 42" TERM; while :; do sleep 0.2; done'
unit notify "Type=notify
TimeoutStartSec=120" "$T/b-notify"
systemctl start --no-block berth-t-notify.service
if wait_for 60 sh -c "$BERTH --root $ROOT list -q | grep -qx notify"; then ok "the container runs"; else bad "the container runs"; fi
sleep 1
s=$(state berth-t-notify.service)
if [ "$s" = activating ]; then ok "activating before READY=1"; else bad "activating before READY=1 (got $s)"; why berth-t-notify.service; fi
if wait_for 60 sh -c '[ "$(systemctl show -p ActiveState --value berth-t-notify.service)" = active ]'; then ok "active after READY=1"; else bad "active after READY=1 (got $(state berth-t-notify.service))"; fi
if [ "$(state berth-t-notify.service)" = failed ]; then
	echo "the notify unit failed: the checks that need it running are skipped"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
st=$(systemctl show -p StatusText --value berth-t-notify.service)
if [ "$st" = serving ]; then ok "STATUS= reached systemd"; else bad "STATUS= reached systemd (got '$st')"; fi
if wait_for 20 sh -c 'journalctl -u berth-t-notify.service -o cat | grep -q hello-journal'; then ok "the workload's output is in journalctl -u"; else
	bad "the workload's output is in journalctl -u"
	journalctl --no-pager -o verbose -g hello-journal 2>&1 | head -30 | sed 's/^/    /'
	journalctl --no-pager -u berth-t-notify.service 2>&1 | tail -5 | sed 's/^/    /'
fi

echo "== systemctl stop: SIGTERM reaches the workload"
systemctl stop berth-t-notify.service
if [ -e "$T/out/term" ]; then ok "the workload's TERM trap ran"; else bad "the workload's TERM trap ran"; fi
code=$(systemctl show -p ExecMainStatus --value berth-t-notify.service)
if [ "$code" = 42 ]; then ok "berth's exit status is the workload's (42)"; else bad "berth's exit status is the workload's (got $code)"; fi
if [ -z "$("$BERTH" --root "$ROOT" list -q)" ]; then ok "the container is gone after stop"; else bad "the container is gone after stop"; fi

echo "== Restart=on-failure"
bundle "$T/b-fail" 'sdnotify READY=1; sleep 1; exit 3'
unit fail "Type=notify
Restart=on-failure
RestartSec=1" "$T/b-fail"
systemctl start --no-block berth-t-fail.service
if wait_for 90 sh -c '[ "$(systemctl show -p NRestarts --value berth-t-fail.service)" -ge 2 ]'; then ok "restarted after exit 3"; else bad "restarted after exit 3 (NRestarts $(systemctl show -p NRestarts --value berth-t-fail.service))"; fi
systemctl stop berth-t-fail.service

echo "== Type=forking with run --detach --pid-file"
bundle "$T/b-fork" 'sdnotify READY=1; exec sleep 600'
cat >"$units/berth-t-fork.service" <<UNIT
[Unit]
Description=berth test fork
[Service]
Type=forking
PIDFile=$T/fork.pid
ExecStart=$BERTH --root $ROOT run --detach --pid-file $T/fork.pid --bundle $T/b-fork fork
ExecStopPost=$BERTH --root $ROOT delete --force fork
UNIT
systemctl daemon-reload
if timeout 120 systemctl start berth-t-fork.service; then ok "Type=forking starts"; else bad "Type=forking starts"; fi
mp=$(systemctl show -p MainPID --value berth-t-fork.service)
sp=$("$BERTH" --root "$ROOT" state fork 2>/dev/null | jq -r .pid)
if [ -n "$sp" ] && [ "$mp" = "$sp" ]; then ok "MainPID is the workload ($mp)"; else bad "MainPID is the workload (systemd $mp, berth $sp)"; fi
systemctl stop berth-t-fork.service
if [ -z "$("$BERTH" --root "$ROOT" list -q)" ]; then ok "stopped and deleted"; else bad "stopped and deleted"; fi

# More checks (the systemd cgroup driver) are added by tests/systemd/*.sh
# files named guest-*.sh beside this one, sourced here.
for f in "$here"/guest-*.sh; do
	[ -e "$f" ] || continue
	# shellcheck disable=SC1090
	. "$f"
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

# guest-cgroup.sh: the systemd cgroup driver (--systemd-cgroup), sourced by
# guest.sh in the systemd guest (its ok/bad counters, bundle, $BERTH, $ROOT,
# $T). Each container's cgroup is a transient scope of systemd's.

B() { "$BERTH" --root "$ROOT" "$@"; }
SB() { "$BERTH" --root "$ROOT" --systemd-cgroup "$@"; }
prop() { systemctl show -p "$2" --value "$1"; }
# limits DIR MEM PIDS: set memory (bytes, no swap) and pids limits.
limits() {
	jq --argjson m "$2" --argjson p "$3" '.linux.resources.memory = {limit: $m, swap: $m} |
		.linux.resources.pids = {limit: $p}' "$1/config.json" >"$1/c.json" && mv "$1/c.json" "$1/config.json"
}
# sdbundle NAME SCRIPT: $T/b-NAME runs SCRIPT on the rootfs of $T/b-sdbase
# (making a busybox rootfs is slow in the guest: one is shared), with the
# default cgroupsPath (":berth:<id>" under --systemd-cgroup).
sdbundle() {
	mkdir -p "$T/b-$1"
	jq --arg root "$T/b-sdbase/rootfs" --arg s "$2" '.root.path = $root | .process.args = ["sh", "-c", $s] |
		.linux.cgroupsPath = ""' \
		"$T/b-sdbase/config.json" >"$T/b-$1/config.json"
}
cgpath() { jq --arg p "$2" '.linux.cgroupsPath = $p' "$1/config.json" >"$1/c.json" && mv "$1/c.json" "$1/config.json"; }
# gone UNIT: systemd no longer knows the unit.
gone() { [ "$(prop "$1" LoadState)" = not-found ] && [ "$(prop "$1" ActiveState)" = inactive ]; }
sd_cleanup() {
	for id in sd1 sdoom sdpids sdbad1 sdbad2 sdbad3 sdbad4; do B delete -f "$id" >/dev/null 2>&1; done
	for u in berth-sd1.scope berth-sdoom.scope berth-sdpids.scope berth-sdbad2.scope berth-sdbad3.scope berth-sdbad4.scope h11-x.scope; do
		systemctl stop "$u" >/dev/null 2>&1
	done
}

echo "== --systemd-cgroup: a scope with the limits as properties"
bundle "$T/b-sdbase" true
sdbundle sd1 'echo $$ > /out/sd1.pid; cat /proc/self/cgroup > /out/sd1.cgroup; exec sleep 600'
limits "$T/b-sd1" 67108864 20
if SB run -d --bundle "$T/b-sd1" sd1 2>"$T/sd1.err"; then ok "run -d --systemd-cgroup"; else bad "run -d --systemd-cgroup: $(cat "$T/sd1.err")"; fi
u=berth-sd1.scope
[ "$(prop $u ActiveState)" = active ] && ok "$u is active" || bad "$u is active (got $(prop $u ActiveState))"
[ "$(prop $u ControlGroup)" = /system.slice/$u ] && ok "in system.slice" || bad "in system.slice (ControlGroup $(prop $u ControlGroup))"
[ "$(prop $u MemoryMax)" = 67108864 ] && ok "MemoryMax in systemctl show" || bad "MemoryMax in systemctl show (got $(prop $u MemoryMax))"
[ "$(prop $u TasksMax)" = 20 ] && ok "TasksMax in systemctl show" || bad "TasksMax in systemctl show (got $(prop $u TasksMax))"
[ "$(prop $u Delegate)" = yes ] && ok "Delegate=yes" || bad "Delegate=yes (got $(prop $u Delegate))"
pid=$(B state sd1 | jq -r .pid)
grep -qx "$pid" /sys/fs/cgroup/system.slice/$u/cgroup.procs && ok "the workload is in the scope's cgroup" || bad "the workload ($pid) is in the scope's cgroup"
[ "$(cat /sys/fs/cgroup/system.slice/$u/memory.max)" = 67108864 ] && ok "memory.max of the scope" || bad "memory.max of the scope"
[ "$(jq -r .systemdUnit "$ROOT/sd1/state.json")" = $u ] && ok "state records the unit" || bad "state records the unit"

echo "== update, pause, resume, events through the scope"
if B update --memory 134217728 --memory-swap 134217728 --pids-limit 30 sd1; then ok "update"; else bad "update"; fi
[ "$(prop $u MemoryMax)" = 134217728 ] && ok "update changes MemoryMax" || bad "update changes MemoryMax (got $(prop $u MemoryMax))"
[ "$(prop $u TasksMax)" = 30 ] && ok "update changes TasksMax" || bad "update changes TasksMax (got $(prop $u TasksMax))"
[ "$(cat /sys/fs/cgroup/system.slice/$u/pids.max)" = 30 ] && ok "update changes pids.max" || bad "update changes pids.max"
B pause sd1 && [ "$(cat /sys/fs/cgroup/system.slice/$u/cgroup.freeze)" = 1 ] && [ "$(B state sd1 | jq -r .status)" = paused ] &&
	ok "pause freezes the scope" || bad "pause freezes the scope"
B resume sd1 && [ "$(cat /sys/fs/cgroup/system.slice/$u/cgroup.freeze)" = 0 ] && ok "resume thaws it" || bad "resume thaws it"
n=$(B events --stats sd1 | jq -r .data.pids.current)
[ "${n:-0}" -ge 1 ] 2>/dev/null && ok "events --stats reads the scope ($n pids)" || bad "events --stats reads the scope (got '$n')"
if B delete -f sd1; then ok "delete -f"; else bad "delete -f"; fi
wait_for 10 gone $u && ok "delete removes the scope" || bad "delete removes the scope ($(prop $u LoadState) $(prop $u ActiveState))"
[ ! -e /sys/fs/cgroup/system.slice/$u ] && ok "and its cgroup" || bad "and its cgroup"

echo "== the limits take effect"
sdbundle oom 'exec dd if=/dev/zero of=/dev/null bs=64M count=1'
limits "$T/b-oom" 16777216 100
SB run --bundle "$T/b-oom" sdoom >"$T/oom.out" 2>&1
code=$?
[ $code = 137 ] && ok "OOM kill: exit 137" || bad "OOM kill: exit 137 (got $code: $(tail -c 300 "$T/oom.out"))"
wait_for 10 gone berth-sdoom.scope && ok "its scope is gone" || bad "its scope is gone"
sdbundle pids 'read m </sys/fs/cgroup/pids.max; echo pids=$m; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; exit 0'
limits "$T/b-pids" 67108864 5
SB run --bundle "$T/b-pids" sdpids >"$T/pids.out" 2>&1
grep -q "can't fork" "$T/pids.out" && grep -q pids=5 "$T/pids.out" && ok "pids limit: fork refused at 5" || bad "pids limit: fork refused at 5 ($(tail -c 300 "$T/pids.out"))"

echo "== bad input is refused and leaves no scope"
# refused ID WANT: run refused with one line containing WANT; no state and
# no scope (UNIT) left.
refused() {
	local id=$1 want=$2 unit=$3 err
	err=$(SB run --bundle "$T/b-$id" "$id" 2>&1 >/dev/null)
	if [ $? != 0 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && printf '%s' "$err" | grep -q -- "$want" &&
		[ ! -e "$ROOT/$id" ] && gone "$unit"; then
		ok "$id refused: $err"
	else
		bad "$id refused with '$want' and nothing left (got: $err; $unit $(prop "$unit" ActiveState))"
	fi
}
sdbundle sdbad1 true
cgpath "$T/b-sdbad1" "system.slice:h11"
refused sdbad1 "slice:prefix:name" h11-x.scope
sdbundle sdbad2 true
cgpath "$T/b-sdbad2" "nosuch-thing.slice:berth:sdbad2"
refused sdbad2 "slice nosuch-thing.slice does not exist" berth-sdbad2.scope
[ "$(prop nosuch-thing.slice ActiveState)" != active ] && ok "no slice made" || bad "no slice made"
sdbundle sdbad3 true
if err=$(unshare -m sh -c 'mount -t tmpfs none /run/systemd && "$0" --root "$1" --systemd-cgroup run --bundle "$2" sdbad3' "$BERTH" "$ROOT" "$T/b-sdbad3" 2>&1); then
	bad "no D-Bus: refused (it ran)"
elif printf '%s' "$err" | grep -q "cannot reach systemd" && [ ! -e "$ROOT/sdbad3" ] && gone berth-sdbad3.scope; then
	ok "no D-Bus refused: $err"
else
	bad "no D-Bus refused, nothing left (got: $err)"
fi
# A failure after the scope is made (the workload cannot be run): the
# scope goes with the container.
sdbundle sdbad4 true
jq '.process.args = ["/nonexistent"]' "$T/b-sdbad4/config.json" >"$T/c.json" && mv "$T/c.json" "$T/b-sdbad4/config.json"
refused sdbad4 "nonexistent" berth-sdbad4.scope
sd_cleanup

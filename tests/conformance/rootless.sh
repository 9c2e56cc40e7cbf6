#!/usr/bin/env bash
# rootless.sh: run the OCI runtime-tools validation suite as an unprivileged
# user: the programs, the runtime and the containers all run as a throwaway
# user this script creates (useradd, with /etc/subuid and /etc/subgid
# ranges) and removes at the end, with everything it left.
#
#   tests/conformance/rootless.sh [--only P1,P2,...] [RUNTIME ...]
#
# RUNTIME is NAME=PATH or a PATH, as for run.sh (default: berth=<repo>/berth,
# plus runc when on PATH). Must run as root (to create the user). Prints,
# per program and runtime, ok / not ok counts and the exit status, and the
# totals; results (TAP, stderr) go to $CONFORMANCE_RESULTS or a directory it
# prints. docs/rootless.md has the results and what differs from root's run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
die() {
	echo "conformance-rootless: $*" >&2
	exit 2
}
# shellcheck source=lib/suite.sh
source "$HERE/lib/suite.sh"

only="" specs=()
TIMEOUT=${CONFORMANCE_TIMEOUT:-60}
while (($#)); do
	case $1 in
	--only) only=${2:?--only needs a list}; shift ;;
	--only=*) only=${1#--only=} ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) specs+=("$1") ;;
	esac
	shift
done
((EUID == 0)) || die "run as root: the script creates the unprivileged user"
command -v newuidmap >/dev/null || die "newuidmap not found (apt-get install uidmap)"
if ((${#specs[@]} == 0)); then
	[[ -x $REPO/berth ]] || die "$REPO/berth not found: run 'make berth' first"
	specs=("berth=$REPO/berth")
	if command -v runc >/dev/null; then specs+=("runc=$(command -v runc)"); fi
fi

CACHE=${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-/var/cache}/berth-conformance}
suite_build
mapfile -t PROGRAMS < <(suite_programs)
if [[ -n $only ]]; then IFS=, read -ra PROGRAMS <<<"$only"; fi

USER_NAME=berth-rlc-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
useradd -m -s /bin/sh "$USER_NAME"
USER_UID=$(id -u "$USER_NAME") USER_GID=$(id -g "$USER_NAME")
HOME_DIR=/home/$USER_NAME
RES=${CONFORMANCE_RESULTS:-$CACHE/results/rootless-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$RES"

# in_user runs a command as the user, with its own runtime dir.
in_user() {
	setpriv --reuid "$USER_UID" --regid "$USER_GID" --clear-groups \
		env -i HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" \
		XDG_RUNTIME_DIR="$HOME_DIR/run" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"
}

# user_pids lists the processes of the user and of its subordinate uids.
user_pids() {
	local sub
	sub=$(awk -F: -v u="$USER_NAME" '$1 == u { print $2 }' /etc/subuid)
	ps -eo pid=,uid= | awk -v u="$USER_UID" -v s="${sub:-0}" \
		'$2 == u || (s > 0 && $2 >= s && $2 < s + 65536) { print $1 }'
}

cleanup() {
	local i pid
	trap - EXIT INT TERM
	for i in 1 2 3; do
		for pid in $(user_pids); do kill -9 "$pid" 2>/dev/null || true; done
		sleep 0.2
	done
	awk -v h="$HOME_DIR/" 'index($5, h) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	userdel -r "$USER_NAME" >/dev/null 2>&1 || echo "conformance-rootless: userdel $USER_NAME failed" >&2
	sed -i "/^$USER_NAME:/d" /etc/subuid /etc/subgid
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$HOME_DIR/run" "$HOME_DIR/bin"
chmod 700 "$HOME_DIR/run"
declare -A RT=()
NAMES=()
for spec in "${specs[@]}"; do
	name=${spec%%=*} path=${spec#*=}
	[[ $spec == *=* ]] || name=${path##*/}
	cp "$path" "$HOME_DIR/bin/$name"
	RT[$name]=$HOME_DIR/bin/$name
	NAMES+=("$name")
done
chown -R "$USER_UID:$USER_GID" "$HOME_DIR"

printf '%-32s' program
for name in "${NAMES[@]}"; do printf ' %18s' "$name ok/!ok/rc"; done
echo
declare -A TOT_OK=() TOT_NOK=()
for prog in "${PROGRAMS[@]}"; do
	printf '%-32s' "$prog"
	for name in "${NAMES[@]}"; do
		wd=$HOME_DIR/w/$name/$prog out=$RES/$name/$prog
		mkdir -p "$wd" "$RES/$name"
		cp "$SUITE_BIN/runtimetest" "$SUITE_BIN/rootfs-amd64.tar.gz" "$SUITE_BIN/$prog" "$wd/"
		chown -R "$USER_UID:$USER_GID" "$HOME_DIR/w"
		rc=0
		(cd "$wd" && in_user TMPDIR="$wd" RUNTIME="${RT[$name]}" timeout -k 5 "$TIMEOUT" "./$prog") \
			</dev/null >"$out.tap" 2>"$out.stderr" || rc=$?
		# Whatever the program left: its containers, then its processes.
		for id in $(in_user "${RT[$name]}" list -q 2>/dev/null); do
			in_user "${RT[$name]}" delete --force "$id" >/dev/null 2>&1 || true
		done
		ok=$(grep -c '^ok ' "$out.tap" || true) nok=$(grep -c '^not ok ' "$out.tap" || true)
		TOT_OK[$name]=$((${TOT_OK[$name]:-0} + ok)) TOT_NOK[$name]=$((${TOT_NOK[$name]:-0} + nok))
		printf ' %18s' "$ok/$nok/$rc"
		awk -v h="$wd/" 'index($5, h) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$wd" 2>/dev/null || true
	done
	echo
done
printf '%-32s' total
for name in "${NAMES[@]}"; do printf ' %18s' "${TOT_OK[$name]}/${TOT_NOK[$name]}"; done
echo
echo "conformance-rootless: TAP and stderr per program in $RES"

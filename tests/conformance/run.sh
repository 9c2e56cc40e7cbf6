#!/usr/bin/env bash
# run.sh: run the OCI runtime-tools validation suite against berth (and, for
# comparison, runc) and report ok / not ok counts per program.
#
#   tests/conformance/run.sh [options] [RUNTIME ...]
#
# RUNTIME is NAME=PATH or a PATH (NAME is then its basename). The suite calls
# each runtime with its default state root, which the harness takes to be
# /run/NAME (true of berth and runc). Default: berth=<repo>/berth, plus runc
# when it is on PATH. Must run as root. See README.md for what is measured.
#
# Options:
#   --check            the gate: exit 1 if berth fails an assertion that
#                      expected-failures.txt does not list, or passes one it
#                      lists (the list only shrinks). With runc (or any
#                      other runtime) in the run, the assertions it passes
#                      and berth does not are listed in any case
#   --only P1,P2,...   run only these validation programs
#   --timeout SECONDS  per program (default 60; env CONFORMANCE_TIMEOUT)
#
# Environment: CONFORMANCE_CACHE (suite build cache, default
# ${XDG_CACHE_HOME:-/var/cache}/berth-conformance), CONFORMANCE_RESULTS
# (results directory, default $CACHE/results/<time>), GO (go binary).
#
# Exit status: 0 done (and, with --check, the gate passed); 1 the gate failed, or
# the harness could not clean up after itself; 2 usage or build error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
EXPECTED=$HERE/expected-failures.txt
CHECK_RT=berth

die() {
	echo "conformance: $*" >&2
	exit 2
}

# shellcheck source=lib/suite.sh
source "$HERE/lib/suite.sh"
# shellcheck source=lib/cleanup.sh
source "$HERE/lib/cleanup.sh"
# shellcheck source=lib/report.sh
source "$HERE/lib/report.sh"

# --- arguments --------------------------------------------------------------

check=0 only="" specs=()
TIMEOUT=${CONFORMANCE_TIMEOUT:-60}
while (($#)); do
	case $1 in
	--check) check=1 ;;
	--only) only=${2:?--only needs a list}; shift ;;
	--only=*) only=${1#--only=} ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
	--timeout=*) TIMEOUT=${1#--timeout=} ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) specs+=("$1") ;;
	esac
	shift
done
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout: '$TIMEOUT' is not a number of seconds"
((EUID == 0)) || die "the suite creates real containers: run as root"

if ((${#specs[@]} == 0)); then
	[[ -x $REPO/berth ]] || die "$REPO/berth not found: run 'make berth' first"
	specs=("berth=$REPO/berth")
	if command -v runc >/dev/null; then specs+=("runc=$(command -v runc)"); fi
fi
RUNTIMES=()
declare -A RT_PATH=() RT_SUM=() RT_VERSION=()
for spec in "${specs[@]}"; do
	name=${spec%%=*} path=${spec#*=}
	[[ $spec == *=* ]] || name=${path##*/}
	[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "runtime name '$name': letters, digits, . _ - only"
	[[ -x $path ]] || die "runtime $name: '$path' is not an executable"
	[[ -z ${RT_PATH[$name]:-} ]] || die "runtime $name given twice"
	RUNTIMES+=("$name")
	RT_PATH[$name]=$(realpath "$path")
done
if ((check)) && [[ -z ${RT_PATH[$CHECK_RT]:-} ]]; then
	die "--check needs a runtime named $CHECK_RT"
fi

# --- build the suite --------------------------------------------------------

CACHE=${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-/var/cache}/berth-conformance}
suite_build
mapfile -t all_programs < <(suite_programs)
((${#all_programs[@]})) || die "no validation programs in $SUITE_BIN"
PROGRAMS=()
if [[ -n $only ]]; then
	IFS=, read -ra PROGRAMS <<<"$only"
	for prog in "${PROGRAMS[@]}"; do
		[[ -x $SUITE_BIN/$prog ]] || die "--only: no validation program '$prog'"
	done
else
	PROGRAMS=("${all_programs[@]}")
fi

# --- scratch space, results, and the safety net -------------------------------

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RES=${CONFORMANCE_RESULTS:-$CACHE/results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$RES"
if [[ -z ${CONFORMANCE_RESULTS:-} ]]; then ln -sfn "$RES" "$CACHE/results/latest"; fi

# All bundles of this run live below RUN_TMP; MARK (its unique name) is how
# cleanup recognises our containers' mounts. See lib/cleanup.sh.
# It must be world-searchable, like /tmp: in the user-namespace programs
# (linux_uid_mappings, linux_ns_nopath) the container's root is an unprivileged
# host user that has to reach the bundle.
umask 022
RUN_TMP=$(mktemp -d /tmp/berth-conformance.XXXXXX)
chmod 755 "$RUN_TMP"
MARK=${RUN_TMP##*/}
CLEANUP_LOG=$RES/cleanup.log
# The containers each runtime listed before the run (see delete_ours).
declare -A RUN_BEFORE=()
for rt in "${RUNTIMES[@]}"; do RUN_BEFORE[$rt]=$(container_ids "${RT_PATH[$rt]}" "/run/$rt"); done

# shellcheck disable=SC2317 # on_exit is called by the EXIT trap
# on_exit runs however the script ends (Ctrl-C included): whatever a program
# interrupted half-way left, and then RUN_TMP itself, goes.
on_exit() {
	local rc=$? rt
	trap - EXIT INT TERM
	CLEANUP_LOG=$RES/cleanup.log
	for rt in "${RUNTIMES[@]}"; do delete_ours "$RUN_TMP/bin/$rt" "/run/$rt" "${RUN_BEFORE[$rt]}"; done
	kill_ours
	for rt in "${RUNTIMES[@]}"; do delete_ours "$RUN_TMP/bin/$rt" "/run/$rt" "${RUN_BEFORE[$rt]}"; done
	if unmount_under "$RUN_TMP"; then rm -rf --one-file-system -- "$RUN_TMP"; fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# A copy of each runtime binary, so that a rebuild in the middle of the run
# (others work on the same tree) does not mix two versions in one result.
mkdir -p "$RUN_TMP/bin"
for rt in "${RUNTIMES[@]}"; do
	cp "${RT_PATH[$rt]}" "$RUN_TMP/bin/$rt"
	RT_SUM[$rt]=$(sha256sum <"$RUN_TMP/bin/$rt" | cut -d' ' -f1)
	RT_VERSION[$rt]=$("$RUN_TMP/bin/$rt" --version 2>/dev/null | paste -sd' ' || true)
	echo "conformance: $rt = ${RT_PATH[$rt]} (${RT_VERSION[$rt]})" >&2
done

# --- run ----------------------------------------------------------------------

# run_program RT PROG runs one validation program against one runtime in a
# fresh directory holding runtimetest and the rootfs tarball (the suite reads
# both from its working directory), then cleans up after it.
run_program() {
	local rt=$1 prog=$2 wd=$RUN_TMP/$1/$2 out=$RES/$1/$2 before rc t0
	mkdir -p "$wd" "$RES/$rt"
	# Copies, not links: the suite copies runtimetest into each bundle and
	# would copy a symlink as a symlink.
	cp "$SUITE_BIN/runtimetest" "$SUITE_BIN/rootfs-amd64.tar.gz" "$wd/"
	before=$(container_ids "$RUN_TMP/bin/$rt" "/run/$rt")
	CLEANUP_LOG=$out.cleanup
	rm -f "$CLEANUP_LOG"
	t0=$EPOCHREALTIME
	# timeout signals the program's whole process group; the runtimes'
	# detached children are cleanup_program's job. In the background, so
	# that Ctrl-C reaches on_exit at once (bash defers traps until a
	# foreground child ends; "wait" it interrupts).
	rc=0
	(cd "$wd" && TMPDIR=$wd RUNTIME=$RUN_TMP/bin/$rt exec timeout -k 10 "$TIMEOUT" "$SUITE_BIN/$prog") \
		</dev/null >"$out.tap" 2>"$out.stderr" &
	wait "$!" || rc=$?
	echo "$rc" >"$out.rc"
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f\n", b - a}' >"$out.secs"
	cleanup_program "$RUN_TMP/bin/$rt" "/run/$rt" "$before" "$wd"
	result "$rt" "$prog"
	printf 'conformance: %-6s %-32s %4d ok %3d not ok %d err  exit %-3s %5ss%s\n' "$rt" "$prog" \
		"$OK" "$NOK" "$ERR" "$RC" "$SECS" "$([[ -f $CLEANUP_LOG ]] && echo "  (cleaned up: see ${CLEANUP_LOG##*/})")" >&2
}

echo "conformance: ${#PROGRAMS[@]} programs x ${RUNTIMES[*]}; results in $RES" >&2
t_start=$EPOCHREALTIME
for rt in "${RUNTIMES[@]}"; do
	for prog in "${PROGRAMS[@]}"; do run_program "$rt" "$prog"; done
done
ELAPSED=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b - a}')

# --- report -------------------------------------------------------------------

{
	print_table
	echo
	print_totals
	echo "conformance: ${ELAPSED}s in all (suite $SUITE_MODULE@$SUITE_VERSION, timeout ${TIMEOUT}s per program)"
} | tee "$RES/table.txt"
write_summary
echo "conformance: TAP, stderr and exit status per program, and summary.json, in $RES"

# The comparison: what another runtime passes and berth does not, on this
# run. A report, not part of the gate.
status=0
if [[ -n ${RT_PATH[$CHECK_RT]:-} ]] && ((${#RUNTIMES[@]} > 1)); then
	compare_runtimes | tee "$RES/compare.txt" || true
fi
if ((check)); then check_expected | tee "$RES/check.txt" || status=1; fi
final_check || status=1
exit "$status"

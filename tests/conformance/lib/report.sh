# shellcheck shell=bash
# lib/report.sh: count, tabulate and compare the results of a run. Sourced by
# run.sh; needs RES (results directory), RUNTIMES (names), RT_PATH (name ->
# binary), RT_SUM, RT_VERSION, PROGRAMS, BASELINE (file) and CHECK_RT (the
# runtime it gates).
#
# Per runtime and program, RES/<runtime>/<program>.{tap,stderr,rc,secs} hold
# the TAP output, stderr, exit status and duration; .cleanup, when present,
# lists what the harness had to clean up after the program.

# tap_counts FILE prints "ok not_ok skipped errors" for a TAP file.
#   ok, not_ok  test points: lines that start with "ok " / "not ok " (the YAML
#               diagnostics below a test point are indented). "ok N # SKIP"
#               counts as ok, as TAP means it, and also as skipped.
#   errors      YAML blocks that belong to no test point and carry a non-empty
#               "error": the hook programs (prestart, poststart_fail, ...)
#               report failure only this way, with no test point at all.
#               Other unowned blocks (stdout dumps) are not errors.
tap_counts() {
	awk '
	/^ok /            { ok++; if (/# [Ss][Kk][Ii][Pp]/) sk++; owned = 1; next }
	/^not ok /        { no++; owned = 1; next }
	/^  ---/          { inyaml = 1; orphan = !owned; next }
	/^  \.\.\./       { inyaml = 0; owned = 0; next }
	inyaml && orphan && /^    "error": "./ { err++ }
	/^TAP version|^1\.\./ { owned = 0 }
	END               { printf "%d %d %d %d\n", ok, no, sk, err }' "$1" 2>/dev/null || echo "0 0 0 0"
}

# result RT PROG sets OK NOK SKIP ERR RC SECS for one program of one runtime
# (RC is "-" when the program was not run).
result() {
	local f=$RES/$1/$2
	read -r OK NOK SKIP ERR < <(tap_counts "$f.tap")
	RC=$(cat "$f.rc" 2>/dev/null || echo -)
	SECS=$(cat "$f.secs" 2>/dev/null || echo 0)
}

# failed: a program fails when it exits non-zero, prints any "not ok", or
# reports an error outside a test point. Some fail only by exit status.
failed() { [[ $RC != 0 || $NOK != 0 || $ERR != 0 ]]; }

# print_table prints one row per program: ok, not ok, errors and exit status
# per runtime. The mark compares the first runtime with the others: "<" it
# does worse than one of them (it fails where the other passes, or both pass
# or both fail and it has fewer ok), ">" it passes where one of them fails.
print_table() {
	local rt prog row mark ok0 fail0 fail
	row=$(printf '%-33s' " program")
	for rt in "${RUNTIMES[@]}"; do row+=$(printf ' | %-8s %4s %4s %3s %3s' "$rt" ok "!ok" err rc); done
	echo "$row"
	echo "${row//?/-}"
	for prog in "${PROGRAMS[@]}"; do
		row="" mark=" "
		for rt in "${RUNTIMES[@]}"; do
			result "$rt" "$prog"
			row+=$(printf ' | %-8s %4d %4d %3d %3s' "" "$OK" "$NOK" "$ERR" "$RC")
			fail=0
			if failed; then fail=1; fi
			if [[ $rt == "${RUNTIMES[0]}" ]]; then
				ok0=$OK fail0=$fail
			elif ((fail0 > fail || (fail0 == fail && ok0 < OK))); then
				mark="<"
			elif ((fail0 < fail)) && [[ $mark != "<" ]]; then
				mark=">"
			fi
		done
		printf '%s%-32s%s\n' "$mark" "$prog" "$row"
	done
}

# print_totals prints one line per runtime. The line starts with
# "conformance <runtime>:" so that no CI log scraper mistakes it for the
# project's own test summary.
print_totals() {
	local rt prog ok nok skip err nfail nto secs
	for rt in "${RUNTIMES[@]}"; do
		ok=0 nok=0 skip=0 err=0 nfail=0 nto=0 secs=0
		for prog in "${PROGRAMS[@]}"; do
			result "$rt" "$prog"
			((ok += OK, nok += NOK, skip += SKIP, err += ERR)) || true
			if failed; then ((nfail += 1)); fi
			if [[ $RC == 124 || $RC == 137 ]]; then ((nto += 1)); fi
			secs=$(awk -v a="$secs" -v b="$SECS" 'BEGIN{printf "%.1f", a + b}')
		done
		printf 'conformance %s: %d ok (%d of them skips), %d not ok, %d other errors; %d of %d programs failed (%d timed out); %ss\n' \
			"$rt" "$ok" "$skip" "$nok" "$err" "$nfail" "${#PROGRAMS[@]}" "$nto" "$secs"
	done
}

# json_str prints S as a JSON string (escaping backslashes and quotes).
json_str() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# write_summary writes RES/summary.json: per runtime, its totals and, per
# program, ok / not_ok / skipped / exit / seconds / failed.
write_summary() {
	local rt prog sep1="" sep2 ok nok skip err nfail
	{
		printf '{\n  "suite": %s,\n' "$(json_str "$SUITE_MODULE@$SUITE_VERSION")"
		printf '  "started": %s,\n  "seconds": %s,\n' "$(json_str "$STARTED")" "$ELAPSED"
		printf '  "timeout_seconds": %s,\n  "runtimes": {' "$TIMEOUT"
		for rt in "${RUNTIMES[@]}"; do
			ok=0 nok=0 skip=0 err=0 nfail=0 sep2=""
			for prog in "${PROGRAMS[@]}"; do
				result "$rt" "$prog"
				((ok += OK, nok += NOK, skip += SKIP, err += ERR)) || true
				if failed; then ((nfail += 1)); fi
			done
			printf '%s\n    %s: {\n      "path": %s,\n      "version": %s,\n      "sha256": %s,\n' "$sep1" \
				"$(json_str "$rt")" "$(json_str "${RT_PATH[$rt]}")" "$(json_str "${RT_VERSION[$rt]}")" \
				"$(json_str "${RT_SUM[$rt]}")"
			printf '      "ok": %d, "not_ok": %d, "skipped": %d, "errors": %d, "programs": %d, "programs_failed": %d,\n' \
				"$ok" "$nok" "$skip" "$err" "${#PROGRAMS[@]}" "$nfail"
			printf '      "results": {'
			for prog in "${PROGRAMS[@]}"; do
				result "$rt" "$prog"
				printf '%s\n        %s: {"ok": %d, "not_ok": %d, "skipped": %d, "errors": %d, "exit": %s, "seconds": %s, "failed": %s}' \
					"$sep2" "$(json_str "$prog")" "$OK" "$NOK" "$SKIP" "$ERR" \
					"$([[ $RC == - ]] && echo null || echo "$RC")" "$SECS" \
					"$(failed && echo true || echo false)"
				sep2=","
			done
			printf '\n      }\n    }'
			sep1=","
		done
		printf '\n  }\n}\n'
	} >"$RES/summary.json"
}

# The baseline file has one line per program: its name, the number of ok
# assertions CHECK_RT reached, and "pass" or "fail" (whether the program
# failed as a whole, see failed), or "racy" for the programs below, whose
# outcome flips from run to run with runc as well as berth: for them only the
# ok count is gated. Lines starting with # are comments.
#   poststart  the poststart hook and the workload append to one file, and
#              the test wants the workload's line first
#   pidfile    the workload is `true`; the test must still see it running
#              to kill it
RACY_PROGRAMS=" poststart pidfile "

# load_baseline fills BASE_OK and BASE_STATUS (program -> value).
load_baseline() {
	local prog n status
	[[ -f $BASELINE ]] || die "no baseline at $BASELINE (make one with --update-baseline)"
	while read -r prog n status _; do
		if [[ -z $prog || $prog == \#* ]]; then continue; fi
		BASE_OK[$prog]=$n
		BASE_STATUS[$prog]=${status:-fail}
	done <"$BASELINE"
}

# check_baseline compares this run of CHECK_RT with the baseline. It fails if
# any program reached fewer ok assertions, or fails where it passed (the only
# signal for programs with no assertions, such as the *_fail hook tests).
# Programs above their baseline are listed too, so that it gets raised.
check_baseline() {
	local prog base regressions=0 improved=0
	declare -gA BASE_OK=() BASE_STATUS=()
	load_baseline
	for prog in "${PROGRAMS[@]}"; do
		result "$CHECK_RT" "$prog"
		base=${BASE_OK[$prog]:-0}
		if ((OK < base)); then
			echo "conformance check: REGRESSION in $prog: $OK ok, baseline $base (see $RES/$CHECK_RT/$prog.tap)"
			((regressions += 1))
		elif [[ ${BASE_STATUS[$prog]:-fail} == pass ]] && failed; then
			echo "conformance check: REGRESSION in $prog: it passed, now it fails (exit $RC, $NOK not ok, $ERR errors; see $RES/$CHECK_RT/$prog.tap and .stderr)"
			((regressions += 1))
		elif ((OK > base)) || { [[ ${BASE_STATUS[$prog]:-fail} == fail ]] && ! failed; }; then
			echo "conformance check: $prog improved: $OK ok, baseline $base ${BASE_STATUS[$prog]:-fail}"
			((improved += 1))
		fi
	done
	for prog in "${!BASE_OK[@]}"; do
		[[ -e $SUITE_BIN/$prog ]] || echo "conformance check: baseline names unknown program $prog"
	done
	if ((improved)); then
		echo "conformance check: $improved program(s) above baseline: raise it with run.sh --update-baseline"
	fi
	if ((regressions)); then
		echo "conformance check: FAILED: $CHECK_RT regressed in $regressions program(s)"
		return 1
	fi
	echo "conformance check: $CHECK_RT at or above baseline in all ${#PROGRAMS[@]} programs"
}

# write_baseline writes this run of CHECK_RT as the new baseline. With
# --only, the programs not run keep their old lines.
write_baseline() {
	local prog commit
	declare -gA BASE_OK=() BASE_STATUS=()
	if [[ -f $BASELINE ]]; then load_baseline; fi
	for prog in "${PROGRAMS[@]}"; do
		result "$CHECK_RT" "$prog"
		BASE_OK[$prog]=$OK
		BASE_STATUS[$prog]=pass
		if failed; then BASE_STATUS[$prog]=fail; fi
		if [[ $RACY_PROGRAMS == *" $prog "* ]]; then BASE_STATUS[$prog]=racy; fi
	done
	commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	{
		echo "# OCI runtime-tools $SUITE_VERSION conformance baseline for $CHECK_RT, one line per"
		echo "# validation program: the 'ok' assertions it reached (skips included), and"
		echo "# whether the program passed as a whole (exit 0, no 'not ok', no error)."
		echo "# 'run.sh --check' fails if $CHECK_RT reaches fewer ok in any program, or"
		echo "# fails one marked pass (racy: only the count is gated, see lib/report.sh)."
		echo "# Written by 'run.sh --update-baseline' on"
		echo "# $(date -u +%Y-%m-%d), tree at commit $commit, binary: ${RT_VERSION[$CHECK_RT]}."
		for prog in "${!BASE_OK[@]}"; do
			printf '%-32s %4d %s\n' "$prog" "${BASE_OK[$prog]}" "${BASE_STATUS[$prog]}"
		done | sort
	} >"$BASELINE"
	echo "conformance: wrote $BASELINE"
}

# shellcheck shell=bash
# lib/report.sh: count, tabulate and compare the results of a run. Sourced by
# run.sh; needs RES (results directory), RUNTIMES (names), RT_PATH (name ->
# binary), RT_SUM, RT_VERSION, PROGRAMS, EXPECTED (the expectations file) and
# CHECK_RT (the runtime it gates).
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

# --- assertions ---------------------------------------------------------------
#
# An assertion is named by the program and its TAP line without the leading
# "ok " / "not ok " and without a "# SKIP" directive: "3 - devices c 10:229
# rwm is set correctly". The number is part of the name: several programs
# repeat one description ("exit status 1", "memory kernel is set correctly").
# A program also fails as a whole in two ways that print no "not ok":
#   (exit)   it exited non-zero (util.Fatal when the container cannot be
#            created; 124 is a timeout)
#   (error)  a YAML "error" block outside any test point (the hook programs)

# tap_items PROG FILE RC prints one line per assertion: "pass<TAB>KEY" or
# "fail<TAB>KEY", KEY as above; plus "fail<TAB>(exit)" and "fail<TAB>(error)".
tap_items() {
	awk -v rc="$3" '
	function key(s) { sub(/[ \t]+#[ \t]*([Ss][Kk][Ii][Pp]|[Tt][Oo][Dd][Oo]).*$/, "", s); sub(/[ \t]+$/, "", s); return s }
	/^ok /            { print "pass\t" key(substr($0, 4)); owned = 1; next }
	/^not ok /        { print "fail\t" key(substr($0, 8)); owned = 1; next }
	/^  ---/          { inyaml = 1; orphan = !owned; next }
	/^  \.\.\./       { inyaml = 0; owned = 0; next }
	inyaml && orphan && /^    "error": "./ { err = 1 }
	/^TAP version|^1\.\./ { owned = 0 }
	END {
		if (err) print "fail\t(error)"
		if (rc != "0") print "fail\t(exit)"
	}' "$2" 2>/dev/null || true
}

# items RT PROG: tap_items for one program of one runtime of this run.
items() {
	local f=$RES/$1/$2
	tap_items "$2" "$f.tap" "$(cat "$f.rc" 2>/dev/null || echo -)"
}

# desc KEY sets DESC to KEY without its test-point number. Assertions are
# matched by description, counting repeats: the programs that run runtimetest
# in the container number its checks in Go map order, which changes from
# run to run.
desc() {
	if [[ $1 =~ ^[0-9]+\ -\ (.*)$ ]]; then DESC=${BASH_REMATCH[1]}; else DESC=$1; fi
}

# The expectations file (expected-failures.txt) lists every assertion CHECK_RT
# is allowed to fail, one per line:
#   <program> <assertion> # <one-line reason>
# <assertion> is a KEY as above (an assertion failing twice is listed twice).
# A reason starting with "racy:" marks an outcome that flips from run to run
# (with runc too): it may fail, and is not reported when it passes. Blank
# lines and lines starting with # are comments.
#
# load_expected fills EXP_REASON ("prog<TAB>key" -> reason), EXP_N
# ("prog<TAB>description" -> how many lines list it), EXP_RACY (same index,
# set if any is racy), and counts malformed lines in EXP_BAD (printing them).
load_expected() {
	local line prog rest key reason n=0 DESC
	declare -gA EXP_REASON=() EXP_N=() EXP_RACY=()
	EXP_BAD=0
	[[ -f $EXPECTED ]] || die "no expectations file at $EXPECTED"
	while IFS= read -r line || [[ -n $line ]]; do
		((n += 1))
		if [[ -z ${line//[[:space:]]/} || $line == \#* ]]; then continue; fi
		prog=${line%%[[:space:]]*} rest=${line#"$prog"}
		key=${rest%% # *} reason=${rest#* # }
		key=${key#"${key%%[![:space:]]*}"} key=${key%"${key##*[![:space:]]}"}
		reason=${reason#"${reason%%[![:space:]]*}"}
		if [[ $rest != *" # "* || -z $key || -z $reason ]]; then
			echo "conformance check: ${EXPECTED##*/}:$n: needs '<program> <assertion> # <reason>': $line"
			((EXP_BAD += 1))
			continue
		fi
		if [[ -n ${EXP_REASON[$prog$'\t'$key]:-} ]]; then
			echo "conformance check: ${EXPECTED##*/}:$n: listed twice: $prog $key"
			((EXP_BAD += 1))
		fi
		EXP_REASON[$prog$'\t'$key]=$reason
		desc "$key"
		EXP_N[$prog$'\t'$DESC]=$((${EXP_N[$prog$'\t'$DESC]:-0} + 1))
		if [[ $reason == racy:* ]]; then EXP_RACY[$prog$'\t'$DESC]=1; fi
	done <"$EXPECTED"
}

# check_expected gates this run of CHECK_RT on the expectations file. It fails
# (returns 1) on (a) any failure that is not listed, (b) any listed failure
# that passed in this run (not racy), so the list only shrinks, and on
# malformed lines or lines naming unknown programs. With --only, entries of
# programs not run are not checked.
check_expected() {
	local prog key id kind n unexpected=0 fixed=0 unknown=0 racy_passed=0 DESC
	declare -A fails=() keys=() ran=()
	load_expected
	for prog in "${PROGRAMS[@]}"; do
		ran[$prog]=1
		while IFS=$'\t' read -r kind key; do
			[[ $kind == fail ]] || continue
			desc "$key"
			fails[$prog$'\t'$DESC]=$((${fails[$prog$'\t'$DESC]:-0} + 1))
			keys[$prog$'\t'$DESC]+="${keys[$prog$'\t'$DESC]:+, }${key%% - *}"
		done < <(items "$CHECK_RT" "$prog")
	done
	for id in "${!fails[@]}"; do
		n=$((fails[$id] - ${EXP_N[$id]:-0}))
		((n > 0)) || continue
		prog=${id%%$'\t'*} DESC=${id#*$'\t'}
		echo "conformance check: UNEXPECTED failure: $prog $DESC  (failed ${fails[$id]}x: ${keys[$id]}; listed ${EXP_N[$id]:-0}x; see $RES/$CHECK_RT/$prog.tap and .stderr)"
		((unexpected += n))
	done
	for id in "${!EXP_N[@]}"; do
		prog=${id%%$'\t'*} DESC=${id#*$'\t'}
		if [[ ! -e $SUITE_BIN/$prog ]]; then
			echo "conformance check: ${EXPECTED##*/} names unknown program $prog"
			((unknown += 1))
			continue
		fi
		[[ -n ${ran[$prog]:-} ]] || continue
		n=$((EXP_N[$id] - ${fails[$id]:-0}))
		((n > 0)) || continue
		if [[ -n ${EXP_RACY[$id]:-} ]]; then
			echo "conformance check: (racy, passed this time) $prog $DESC"
			((racy_passed += 1))
			continue
		fi
		echo "conformance check: NOW PASSES: $prog $DESC  (listed ${EXP_N[$id]}x, failed ${fails[$id]:-0}x) -- remove it from ${EXPECTED##*/}"
		((fixed += n))
	done
	if ((unexpected + fixed + unknown + EXP_BAD)); then
		echo "conformance check: FAILED: $unexpected unexpected failure(s), $fixed listed failure(s) now passing, $((unknown + EXP_BAD)) bad line(s) in $EXPECTED"
		return 1
	fi
	echo "conformance check: $CHECK_RT fails only what ${EXPECTED##*/} lists (${#EXP_REASON[@]} entries, $racy_passed racy one(s) passed) in ${#PROGRAMS[@]} programs"
}

# compare_runtimes lists, for every other runtime of this run, what it passes
# and CHECK_RT does not, in the programs CHECK_RT fails: assertions (by
# description, counting repeats), and the program as a whole (exit status,
# error block). Each line carries the reason from the expectations file, or
# that of the program's listed failure that stopped it ("not reached"), or
# "not listed". It is a report, not a gate: it returns 1 if there
# is anything to report, and run.sh prints it without failing the run.
compare_runtimes() {
	local rt prog kind key n total mine_fail reason DESC
	declare -A mine=() theirs=()
	declare -gA EXP_REASON=()
	if [[ -f $EXPECTED ]]; then load_expected >/dev/null; fi
	# reason_of PROG KEY: the listed reason for KEY, or for its description.
	reason_of() {
		local k
		if [[ -n ${EXP_REASON[$1$'\t'$2]:-} ]]; then echo "${EXP_REASON[$1$'\t'$2]}"; return; fi
		desc "$2"
		for k in "${!EXP_REASON[@]}"; do
			[[ $k == "$1"$'\t'* ]] || continue
			key=${k#*$'\t'}
			if [[ $key == "$DESC" || $key =~ ^[0-9]+\ -\ (.*)$ && ${BASH_REMATCH[1]} == "$DESC" ]]; then
				echo "${EXP_REASON[$k]}"
				return
			fi
		done
		# Not reached: a listed failure of the program stopped it early.
		for k in "${!EXP_REASON[@]}"; do
			if [[ $k == "$1"$'\t'* ]]; then echo "not reached; ${k#*$'\t'}: ${EXP_REASON[$k]}"; return; fi
		done
		echo "not listed"
	}
	for rt in "${RUNTIMES[@]}"; do
		[[ $rt != "$CHECK_RT" ]] || continue
		total=0
		for prog in "${PROGRAMS[@]}"; do
			mine=() theirs=() mine_fail=0
			while IFS=$'\t' read -r kind key; do
				if [[ $kind == fail ]]; then mine_fail=1; mine["F$key"]=1; continue; fi
				desc "$key"
				mine["P$DESC"]=$((${mine["P$DESC"]:-0} + 1))
			done < <(items "$CHECK_RT" "$prog")
			((mine_fail)) || continue # CHECK_RT passes the program: nothing it lacks
			while IFS=$'\t' read -r kind key; do
				if [[ $kind == fail ]]; then theirs["F$key"]=1; continue; fi
				desc "$key"
				theirs["P$DESC"]=$((${theirs["P$DESC"]:-0} + 1))
			done < <(items "$rt" "$prog")
			for key in "(exit)" "(error)"; do
				if [[ -n ${mine["F$key"]:-} && -z ${theirs["F$key"]:-} ]]; then
					echo "conformance compare: $rt passes, $CHECK_RT fails: $prog $key  [$(reason_of "$prog" "$key")]"
					((total += 1))
				fi
			done
			while IFS= read -r key; do
				[[ $key == P* ]] || continue
				n=$((theirs[$key] - ${mine[$key]:-0}))
				((n > 0)) || continue
				DESC=${key#P}
				echo "conformance compare: $rt passes, $CHECK_RT fails: $prog $DESC$( ((theirs[$key] > 1)) && echo " (${n} of ${theirs[$key]})")  [$(reason_of "$prog" "$DESC")]"
				((total += n))
			done < <(printf '%s\n' "${!theirs[@]}" | sort)
		done
		echo "conformance compare: $total assertion(s) $rt passes and $CHECK_RT does not, on this run"
	done
	((total == 0))
}

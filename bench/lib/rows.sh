# shellcheck shell=bash disable=SC2004,SC2034,SC2153,SC2154
# rows.sh: the rows of the benchmark, one function each. Sourced by bench/run
# after common.sh. Every row runs both runtimes, then emits one or more table
# rows, and checks that the runtime left nothing behind.

q() { printf '%q' "$1"; }

# rt_cmd RT: the quoted start of a command line for RT with its own --root.
rt_cmd() { printf '%q --root %q' "${BIN[$1]}" "$T/root-$1"; }

# 1. `run` of /bin/true: the whole lifecycle in one command.
row_run() {
	local rt cfg idf
	say "== 1/9 run /bin/true (create, start, wait, delete in one command)"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-run idf=$T/id-$rt-run
		mkcfg "$cfg" "$rt-run"
		hf run "$rt" "read id < $(q "$idf") && exec $(rt_cmd "$rt") run --bundle $(q "$cfg") \"\$id\"" \
			"$(q "$STEP") next $(q "$idf")"
		check_clean run "$rt"
	done
	emit run "run /bin/true" ms %.1f
	for rt in "${RUNTIMES[@]}"; do RUN_MEDIAN[$rt]=${R_VAL[$rt]:-}; done
}

# 1b. The physical floor: the same namespaces, a chroot and an exec of the
# workload with no runtime at all (util-linux's unshare), then each
# runtime's `run` as a multiple of it. Needs row "run" before it.
row_floor() {
	local rt floor
	say "== 1b/9 the floor: unshare -fpmuin chroot ROOTFS /bin/true (no runtime)"
	reset_row
	hf floor berth "exec unshare -fpmuin chroot $(q "$T/bundle/rootfs") /bin/true"
	floor=${R_VAL[berth]:-}
	for rt in "${RUNTIMES[@]}"; do R_VAL[$rt]=$floor R_ERR[$rt]=${R_ERR[berth]:-} R_DET[$rt]=${R_DET[berth]:-null}; done
	emit floor "floor: unshare -fpmuin + chroot + exec" ms %.1f noratio \
		"the same for every column: one measurement, no runtime"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		[ -n "$floor" ] && [ -n "${RUN_MEDIAN[$rt]:-}" ] &&
			R_VAL[$rt]=$(awk -v r="${RUN_MEDIAN[$rt]}" -v f="$floor" 'BEGIN { printf "%.2f", r / f }')
	done
	emit run_floor "  run / floor" x %.2f noratio "each runtime's run median over the floor's"
}

# 1c. `run --image` of the bench bundle's rootfs pulled as an image
# (scripts/mkimage.sh: one layer, Cmd /bin/true), berth only, then as a
# multiple of berth's `run` (issue 16: at most 1.5). Needs row "run" before
# it for the ratio. The image store is in the bench's temporary directory.
row_image() {
	local idf=$T/id-berth-image data=$T/imagedata log=$T/logs/image.log
	say "== 1c/9 run --image: the same rootfs as a pulled image (berth only)"
	reset_row
	if ! "$repo/scripts/mkimage.sh" "$T/layout" "$T/bundle/rootfs" /bin/true >"$log" 2>&1 ||
		! BERTH_DATA_DIR=$data "${BIN[berth]}" image pull "oci:$T/layout:bench" bench >>"$log" 2>&1; then
		R_ERR[berth]="could not make or pull the image: $(firstlines "$log")"
	else
		hf image berth "read id < $(q "$idf") && BERTH_DATA_DIR=$(q "$data") exec $(rt_cmd berth) run --image bench \"\$id\"" \
			"$(q "$STEP") next $(q "$idf")"
	fi
	check_clean image berth
	emit image "run --image, same rootfs" ms %.1f noratio "berth only: a container from a pulled image (docs/images.md)"
	if [ -n "${R_VAL[berth]:-}" ] && [ -n "${RUN_MEDIAN[berth]:-}" ]; then
		R_VAL[berth]=$(awk -v i="${R_VAL[berth]}" -v r="${RUN_MEDIAN[berth]}" 'BEGIN { printf "%.2f", i / r }')
	else
		R_VAL[berth]=""
	fi
	R_DET[berth]=null
	emit image_run "  run --image / run" x %.2f noratio "at most 1.5 (issue 16)"
}

# 2. create + start + delete as three commands, as containerd drives a
# runtime; then each of the three alone.
row_lifecycle() {
	local rt cfg idf c s
	say "== 2/9 create + start + delete --force (three commands), then each alone"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-csd idf=$T/id-$rt-csd c=$(rt_cmd "$rt")
		mkcfg "$cfg" "$rt-csd"
		hf csd "$rt" "read id < $(q "$idf") && $c create --bundle $(q "$cfg") \"\$id\" && $c start \"\$id\" && $c delete --force \"\$id\"" \
			"$(q "$STEP") next $(q "$idf")"
		check_clean "create+start+delete" "$rt"
	done
	emit csd "create + start + delete --force" ms %.1f

	say "   create alone (prepare: delete the previous container)"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-csd idf=$T/id-$rt-csd c=$(rt_cmd "$rt") s=$(q "$STEP")
		hf create "$rt" "read id < $(q "$idf") && exec $c create --bundle $(q "$cfg") \"\$id\"" \
			"$s fresh $(q "${BIN[$rt]}") $(q "$T/root-$rt") $(q "$idf")"
		check_clean create "$rt" expected # the last one is still there by design
	done
	emit create "  create alone" ms %.1f

	say "   start alone (prepare: create)"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-csd idf=$T/id-$rt-csd c=$(rt_cmd "$rt") s=$(q "$STEP")
		hf start "$rt" "read id < $(q "$idf") && exec $c start \"\$id\"" \
			"$s created $(q "${BIN[$rt]}") $(q "$T/root-$rt") $(q "$cfg") $(q "$idf")"
		check_clean start "$rt" expected
	done
	emit start "  start alone" ms %.1f

	say "   delete alone (prepare: create, start, wait for the workload to exit)"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-csd idf=$T/id-$rt-csd c=$(rt_cmd "$rt") s=$(q "$STEP")
		hf delete "$rt" "read id < $(q "$idf") && exec $c delete \"\$id\"" \
			"$s stopped $(q "${BIN[$rt]}") $(q "$T/root-$rt") $(q "$cfg") $(q "$idf")"
		check_clean delete "$rt"
	done
	emit delete "  delete alone (stopped container)" ms %.1f
}

# 3. exec of /bin/true into a running container (sleep 3600).
row_exec() {
	local rt cfg log note=""
	say "== 3/9 exec /bin/true into a running container"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		if ! "${BIN[$rt]}" exec --help >/dev/null 2>&1; then
			say "$rt: exec not implemented yet"
			R_TXT[$rt]="not implemented yet"
			note="$rt: exec not implemented yet ('$rt exec --help' fails)"
			printf '%s\n' "$note" >>"$T/notes"
			continue
		fi
		cfg=$T/cfg/$rt-exec log=$T/logs/$rt-exec.log
		mkcfg "$cfg" "$rt-exec" '.process.args = ["sleep", "3600"]'
		if ! "${BIN[$rt]}" --root "$T/root-$rt" create --bundle "$cfg" box </dev/null >"$log" 2>&1 ||
			! "${BIN[$rt]}" --root "$T/root-$rt" start box >>"$log" 2>&1; then
			R_ERR[$rt]="could not start the target container: $(firstlines "$log")"
		else
			hf exec "$rt" "exec $(rt_cmd "$rt") exec box /bin/true"
		fi
		"${BIN[$rt]}" --root "$T/root-$rt" delete --force box >>"$log" 2>&1 ||
			leak "$rt: delete --force of the exec target failed: $(firstlines "$log")"
		check_clean exec "$rt"
	done
	emit exec "exec /bin/true" ms %.1f "" "$note"
}

# 4. NPAR containers `run` at once: total wall time, failures.
row_parallel() {
	local rt dir i round t0 t1 tpl fails total rc walls errs
	say "== 4/9 $NPAR x run /bin/true in parallel ($PAR_ROUNDS round(s) per runtime)"
	reset_row
	local -A FAILS
	jq '.linux.cgroupsPath = "@CG@"' "$T/base.json" >"$T/par.tpl"
	tpl=$(<"$T/par.tpl")
	for rt in "${RUNTIMES[@]}"; do
		dir=$T/par/$rt walls="" fails=0 total=0 errs=""
		for i in $(seq "$NPAR"); do
			mkdir -p "$dir/$i"
			printf '%s\n' "${tpl//@CG@//$CGP/$rt-par-$i}" >"$dir/$i/config.json"
		done
		for round in $(seq "$PAR_ROUNDS"); do
			rm -f "$dir"/*.rc "$dir"/*.log
			t0=$(date +%s%N)
			for i in $(seq "$NPAR"); do
				(
					"${BIN[$rt]}" --root "$T/root-$rt" run --bundle "$dir/$i" "p$round-$i" </dev/null >"$dir/$i.log" 2>&1
					echo $? >"$dir/$i.rc"
				) &
			done
			wait
			t1=$(date +%s%N)
			walls+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') "
			for i in $(seq "$NPAR"); do
				total=$((total + 1))
				read -r rc <"$dir/$i.rc" 2>/dev/null || rc=missing
				if [ "$rc" != 0 ]; then
					fails=$((fails + 1))
					errs+="exit $rc: $(firstlines "$dir/$i.log")"$'\n'
				fi
			done
			check_clean "parallel round $round" "$rt"
		done
		# shellcheck disable=SC2086 # one number per word
		R_VAL[$rt]=$(printf '%s\n' $walls | median)
		FAILS[$rt]=$fails
		R_DET[$rt]=$(jq -nc --arg w "$walls" --argjson f "$fails" --argjson n "$total" --arg e "$errs" \
			'{wall_s: ($w | split(" ") | map(select(. != "") | tonumber)), failures: $f, runs: $n,
			  errors: ($e | split("\n") | map(select(. != "")) | group_by(.) | map({message: .[0], count: length}))}')
		if [ "$fails" != 0 ]; then
			printf '%s parallel: %d/%d runs failed; most frequent messages:\n' "$rt" "$fails" "$total" >>"$T/notes"
			printf '%s' "$errs" | sort | uniq -c | sort -rn | head -3 | sed 's/^/    /' >>"$T/notes"
		fi
	done
	emit parallel "$NPAR x run in parallel: wall time" s %.2f
	for rt in "${RUNTIMES[@]}"; do
		R_TXT[$rt]="${FAILS[$rt]}/$((NPAR * PAR_ROUNDS)) failed"
		R_VAL[$rt]=${FAILS[$rt]}
	done
	emit parallel_failures "$NPAR x run in parallel: failures" runs %d noratio
}

# 5. memory: the runtime's own processes during create, and what the
# container's memory cgroup is charged before the workload runs.
row_memory() {
	local rt cfg log s pid usage peak hwm memf peakf timer=""
	local -A RSS HWM ANON USE PEAK
	say "== 5/9 memory during create ($MEM_SAMPLES samples per runtime)"
	[ -x /usr/bin/time ] && timer=/usr/bin/time
	[ -n "$timer" ] || say "   /usr/bin/time not found (apt-get install time): no max RSS of the create process"
	for rt in "${RUNTIMES[@]}"; do
		cfg=$T/cfg/$rt-mem log=$T/logs/$rt-mem.log
		mkcfg "$cfg" "$rt-mem"
		memf=$(cg_memfile "$rt-mem" memory.usage_in_bytes memory.current)
		peakf=$(cg_memfile "$rt-mem" memory.max_usage_in_bytes memory.peak)
		RSS[$rt]="" HWM[$rt]="" ANON[$rt]="" USE[$rt]="" PEAK[$rt]=""
		for s in $(seq "$MEM_SAMPLES"); do
			if [ -n "$timer" ]; then
				$timer -o "$T/time.out" -f %M "${BIN[$rt]}" --root "$T/root-$rt" create --bundle "$cfg" "m$s" </dev/null >"$log" 2>&1
			else
				"${BIN[$rt]}" --root "$T/root-$rt" create --bundle "$cfg" "m$s" </dev/null >"$log" 2>&1
			fi || {
				R_ERR[$rt]="create failed: $(firstlines "$log")"
				check_clean memory "$rt" expected
				break
			}
			[ -n "$timer" ] && RSS[$rt]+="$(tail -1 "$T/time.out") "
			pid=$("${BIN[$rt]}" --root "$T/root-$rt" state "m$s" 2>/dev/null | jq -r '.pid // empty')
			hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid:-0}/status" 2>/dev/null)
			[ -n "$hwm" ] && HWM[$rt]+="$hwm "
			hwm=$(awk '/^RssAnon:/ { print $2 }' "/proc/${pid:-0}/status" 2>/dev/null)
			[ -n "$hwm" ] && ANON[$rt]+="$hwm "
			usage=$(cat "$memf" 2>/dev/null) && USE[$rt]+="$usage "
			peak=$(cat "$peakf" 2>/dev/null) && PEAK[$rt]+="$peak "
			"${BIN[$rt]}" --root "$T/root-$rt" delete --force "m$s" >>"$log" 2>&1 ||
				leak "$rt: delete --force m$s failed: $(firstlines "$log")"
			check_clean memory "$rt"
		done
	done
	local -A MEMERR
	for rt in "${RUNTIMES[@]}"; do MEMERR[$rt]=${R_ERR[$rt]:-}; done
	# memrow KEY NAME ARRAY-NAME DIVISOR-TO-MIB NOTE: one table row from
	# the samples; a create failure is reported on the first row only.
	memrow() {
		local -n arr=$3
		local rt
		reset_row
		for rt in "${RUNTIMES[@]}"; do
			if [ -n "${MEMERR[$rt]}" ]; then
				if [ "$1" = mem_create_rss ]; then R_ERR[$rt]=${MEMERR[$rt]}; else R_TXT[$rt]="FAILED"; fi
			elif [ -n "${arr[$rt]}" ]; then
				# shellcheck disable=SC2086
				R_VAL[$rt]=$(printf '%s\n' ${arr[$rt]} | median | awk -v d="$4" '{ printf "%.2f", $1 / d }')
				R_DET[$rt]=$(jq -nc --arg s "${arr[$rt]}" --arg u "$([ "$4" = 1024 ] && echo KiB || echo bytes)" \
					'{samples: ($s | split(" ") | map(select(. != "") | tonumber)), sample_unit: $u}')
			fi
		done
		emit "$1" "$2" MiB %.2f "" "$5"
	}
	memrow mem_create_rss "create: max RSS (ru_maxrss)" RSS 1024 \
		"largest RSS among the create process and the children it waited for (GNU time %M); the container's init outlives create and is the next row"
	memrow mem_init_hwm "init, created, not started: peak RSS" HWM 1024 \
		"VmHWM of the container's init process (still the runtime binary, blocked before exec)"
	memrow mem_init_anon "init, created, not started: anonymous RSS" ANON 1024 \
		"RssAnon of the container's init: its private memory, wherever the kernel charged it"
	memrow mem_cg_usage "memory cgroup charge after create" USE 1048576 \
		"$([ "$(cgroup_mode)" = v2 ] && echo memory.current || echo memory.usage_in_bytes) of the container's cgroup between create and start"
	memrow mem_cg_peak "memory cgroup peak during create" PEAK 1048576 \
		"$([ "$(cgroup_mode)" = v2 ] && echo memory.peak || echo memory.max_usage_in_bytes) of the container's cgroup"
}

# try_limit RT KIB: run /bin/true with linux.resources.memory.limit = KIB.
# Returns the runtime's status; LAST_ERR gets its message.
try_limit() {
	local rt=$1 kib=$2 cfg=$T/cfg/$1-lim log=$T/logs/$1-lim.log rc
	TRY_N=$((TRY_N + 1))
	mkcfg "$cfg" "$rt-lim" ".linux.resources.memory = {limit: $((kib * 1024))}"
	timeout 60 "${BIN[$rt]}" --root "$T/root-$rt" run --bundle "$cfg" "l$TRY_N" </dev/null >"$log" 2>&1
	rc=$?
	LAST_ERR=$(firstlines "$log")
	[ $rc = 124 ] && LAST_ERR="timed out after 60 s${LAST_ERR:+: $LAST_ERR}"
	[ $rc != 0 ] && [ -z "$LAST_ERR" ] && LAST_ERR="exit status $rc, no message"
	TRIES+="{\"kib\": $kib, \"ok\": $([ $rc = 0 ] && echo true || echo false)},"
	# a failed run may leave the container behind; that is a leak too
	check_clean "memory limit $kib KiB" "$rt"
	return $rc
}

# limit_works RT KIB: the limit works if all of LIMIT_TRIES runs succeed
# (near the threshold, single runs are flaky).
limit_works() {
	local i
	for i in $(seq "$LIMIT_TRIES"); do try_limit "$1" "$2" || return 1; done
}

# 6. the smallest linux.resources.memory.limit under which `run true`
# works, bisected in 256 KiB steps between 16 MiB and 256 KiB.
row_minlimit() {
	local rt lo hi mid fail_err step=256
	say "== 6/9 smallest memory limit that still runs /bin/true (bisect 16 MiB .. 256 KiB, 256 KiB steps, $LIMIT_TRIES tries each)"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		TRY_N=0 TRIES="" fail_err="" lo=1 hi=$((16 * 1024 / step))
		if ! limit_works "$rt" $((hi * step)); then
			R_ERR[$rt]="fails even at 16 MiB: $LAST_ERR"
		elif limit_works "$rt" $((lo * step)); then
			R_VAL[$rt]=0.25 R_TXT[$rt]="<= 256 KiB"
		else
			fail_err=$LAST_ERR
			while [ $((hi - lo)) -gt 1 ]; do
				mid=$(((lo + hi) / 2))
				if limit_works "$rt" $((mid * step)); then hi=$mid; else lo=$mid fail_err=$LAST_ERR; fi
			done
			R_VAL[$rt]=$(awk -v k=$((hi * step)) 'BEGIN { printf "%.2f", k / 1024 }')
			printf '%s min memory limit: fails at %d KiB: %s\n' "$rt" $((lo * step)) "$fail_err" >>"$T/notes"
		fi
		R_DET[$rt]=$(jq -nc --arg t "[${TRIES%,}]" --arg e "$fail_err" --argjson lo $((lo * step)) \
			--argjson n "$LIMIT_TRIES" \
			'{tries_per_limit: $n, tries: ($t | fromjson), largest_failing_kib: $lo, error_at_largest_failing: $e}')
	done
	emit minlimit "min memory limit that runs true" MiB %.2f
}

# 7. binary size.
row_size() {
	local rt size
	say "== 7/9 binary size"
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		size=$(stat -Lc %s "${BIN[$rt]}")
		[ "$rt" = berth ] && size=$(berth_elf_size "${BIN[$rt]}")
		R_VAL[$rt]=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
		R_DET[$rt]=$(jq -nc --argjson b "$size" --arg f "$(file -bL "${BIN[$rt]}" 2>/dev/null)" '{bytes: $b, file: $f}')
	done
	emit size "binary size" MiB %.2f "" "berth: without the image puller appended past its mapped segments (docs/images.md); the file is $(awk -v s="$(stat -Lc %s "${BIN[berth]}")" 'BEGIN { printf "%.2f", s / 1048576 }') MiB"
}

# berth_elf_size FILE: the bytes of FILE before an appended image puller
# (image/puller.go: a 32-byte trailer, "berth-image-pull", offset, length).
berth_elf_size() {
	if [ "$(tail -c 32 "$1" | head -c 16)" = berth-image-pull ]; then
		tail -c 16 "$1" | od -An -t u8 -N 8 | tr -d ' '
	else
		stat -Lc %s "$1"
	fi
}

# 8. create with docker's default seccomp profile against the same bundle
# without seccomp. The profile is moby's GetDefaultProfile for the base
# config (bench/cmd/seccompprofile, built with the repo's go.mod); the two
# configs differ only in linux.seccomp (and linux.cgroupsPath).
row_seccomp() {
	local rt cfg idf c s kind prof=$T/seccomp-docker.json log=$T/logs/seccompprofile.log perr=""
	local -A NONE_VAL NONE_ERR DOCKER_VAL DOCKER_ERR
	say "== 8/9 create with docker's default seccomp profile, against no seccomp (prepare: delete the previous container)"
	if ! (cd "$repo" && "${GO:-go}" run ./bench/cmd/seccompprofile) <"$T/base.json" 2>"$log" |
		jq -e '.linux.seccomp | select(.syscalls | length > 0)' >"$prof" 2>>"$log"; then
		perr="could not make docker's profile (go run ./bench/cmd/seccompprofile): $(firstlines "$log")"
	fi
	for kind in none docker; do
		reset_row
		for rt in "${RUNTIMES[@]}"; do
			cfg=$T/cfg/$rt-sc$kind idf=$T/id-$rt-sc$kind c=$(rt_cmd "$rt") s=$(q "$STEP")
			mkcfg "$cfg" "$rt-sc$kind"
			if [ "$kind" = docker ]; then
				if [ -n "$perr" ]; then
					R_ERR[$rt]=$perr
					continue
				fi
				jq --slurpfile sc "$prof" '.linux.seccomp = $sc[0]' "$cfg/config.json" >"$cfg/c.json" &&
					mv "$cfg/c.json" "$cfg/config.json"
			fi
			hf "seccomp_$kind" "$rt" "read id < $(q "$idf") && exec $c create --bundle $(q "$cfg") \"\$id\"" \
				"$s fresh $(q "${BIN[$rt]}") $(q "$T/root-$rt") $(q "$idf")"
			# the last container is still there by design; check_clean deletes it
			check_clean "create ($kind seccomp)" "$rt" expected
			if [ "$kind" = none ]; then
				NONE_VAL[$rt]=${R_VAL[$rt]:-} NONE_ERR[$rt]=${R_ERR[$rt]:-}
			else
				DOCKER_VAL[$rt]=${R_VAL[$rt]:-} DOCKER_ERR[$rt]=${R_ERR[$rt]:-}
			fi
		done
		if [ "$kind" = none ]; then
			emit seccomp_none "create, no seccomp" ms %.1f "" \
				"create of the busybox bundle without linux.seccomp, measured in the same row as the next"
		else
			emit seccomp_docker "create, docker's default seccomp" ms %.1f "" \
				"create of the same bundle with linux.seccomp = docker's default profile (moby/profiles/seccomp GetDefaultProfile, $(jq '.syscalls | length' "$prof" 2>/dev/null) rules, defaultAction $(jq -r .defaultAction "$prof" 2>/dev/null))"
		fi
	done
	reset_row
	for rt in "${RUNTIMES[@]}"; do
		if [ -n "${NONE_VAL[$rt]}" ] && [ -n "${DOCKER_VAL[$rt]}" ]; then
			R_VAL[$rt]=$(awk -v d="${DOCKER_VAL[$rt]}" -v n="${NONE_VAL[$rt]}" 'BEGIN { printf "%.2f", d - n }')
			R_DET[$rt]=$(jq -nc --argjson n "${NONE_VAL[$rt]}" --argjson d "${DOCKER_VAL[$rt]}" \
				'{create_none_ms: $n, create_docker_ms: $d}')
		else
			R_TXT[$rt]="-"
		fi
	done
	emit seccomp_cost "  seccomp cost (docker - none)" ms %.1f noratio \
		"difference of the two medians above, per runtime; the noise of either median is in it"
}

# 9. the cost per container of berth's protection of its own binary
# (CVE-2019-5736): the Go benchmarks in libcontainer/exe_linux_test.go,
# `go test -run X -bench Sealed -benchtime 200x ./libcontainer/` (compiled
# with go test -c first, to know the size of the binary they copy).
row_protect() {
	local out=$T/logs/sealed-bench.log bin=$T/libcontainer.test err="" name key bench size ns
	say "== 9/9 binary protection cost (go test -bench Sealed ./libcontainer/, 200 iterations each)"
	if ! (cd "$repo" && "${GO:-go}" test -c -o "$bin" ./libcontainer/) >"$out" 2>&1; then
		err="go test -c ./libcontainer/ failed: $(firstlines "$out")"
	elif ! (cd "$repo/libcontainer" && TMPDIR=$T "$bin" -test.run X -test.bench Sealed -test.benchtime 200x) >"$out" 2>&1; then
		err="go test -bench Sealed failed: $(firstlines "$out")"
	fi
	size=$(stat -c %s "$bin" 2>/dev/null || echo 0)
	for key in opentree memfd; do
		reset_row
		case $key in
		opentree) name="binary protection: read-only clone" bench=BenchmarkSealedExeOpenTree ;;
		memfd) name="binary protection: memfd copy (fallback; runc 1.1's method)" bench=BenchmarkSealedExeMemfdCopy ;;
		esac
		ns=$(awk -v b="$bench" '$1 ~ "^" b "(-[0-9]+)?$" && $4 == "ns/op" { print $3 }' "$out" 2>/dev/null)
		if [ -n "$ns" ]; then
			R_VAL[berth]=$(awk -v n="$ns" 'BEGIN { printf "%.1f", n / 1000 }')
			R_DET[berth]=$(jq -nc --argjson ns "$ns" --arg b "$bench" --argjson s "$size" \
				'{benchmark: $b, ns_per_op: $ns, iterations: 200, copied_binary_bytes: $s}')
		elif [ -n "$err" ]; then
			R_ERR[berth]=$err
		else
			R_ERR[berth]="$bench: no ns/op in the output: $(grep -v '^\(goos\|goarch\|pkg\|cpu\):' "$out" | firstlines /dev/stdin)"
		fi
		for rt in "${RUNTIMES[@]:1}"; do R_TXT[$rt]="-"; done
		emit "protect_$key" "$name" us %.1f noratio \
			"$bench ns/op, in microseconds; the binary sealed is a copy of the libcontainer test binary ($size bytes), not ./berth; berth uses the read-only clone (open_tree + mount_setattr) and falls back to the memfd copy where that fails; runc 1.1 copies itself into a sealed memfd on every start (not measured here)"
		# nothing of the runtimes ran; the benchmarks clean up after themselves in $T
	done
}

# 1d. `run` of /bin/true with --network bridge: berth alone (runc has no
# networking of its own), on a network of the bench's own (its config and
# leases in $T, a bridge and /24 no test uses), removed at the end. The
# difference to row "run" is what CNI costs: the bridge plugin (veth,
# host-local IPAM, masquerade rule) and the firewall plugin, ADD and DEL.
row_netbridge() {
	local cfg=$T/cfg/berth-net idf=$T/id-berth-net
	say "== 1d/9 run /bin/true --network bridge (berth only: CNI bridge + firewall, ADD and DEL)"
	reset_row
	mkcfg "$cfg" "berth-net"
	export BERTH_NETWORK_DIR=$T/net/cfg BERTH_NETWORK_RUN_DIR=$T/net/run
	if "${BIN[berth]}" network create bridge --subnet 10.250.77.0/24 --bridge berthbench0 >"$T/logs/netbridge.log" 2>&1; then
		hf netbridge berth "read id < $(q "$idf") && exec $(rt_cmd berth) run --network bridge --bundle $(q "$cfg") \"\$id\"" \
			"$(q "$STEP") next $(q "$idf")"
		check_clean netbridge berth
		"${BIN[berth]}" network rm bridge >>"$T/logs/netbridge.log" 2>&1 ||
			leak "berth: network rm bridge after 'netbridge': $(firstlines "$T/logs/netbridge.log")"
	else
		R_ERR[berth]="network create: $(firstlines "$T/logs/netbridge.log")"
	fi
	unset BERTH_NETWORK_DIR BERTH_NETWORK_RUN_DIR
	emit netbridge "run --network bridge" ms %.1f noratio \
		"berth only: the CNI bridge and firewall plugins' ADD and DEL (docs/networking.md)"
	if [ -n "${R_VAL[berth]:-}" ] && [ -n "${RUN_MEDIAN[berth]:-}" ]; then
		R_VAL[berth]=$(awk -v n="${R_VAL[berth]}" -v r="${RUN_MEDIAN[berth]}" 'BEGIN { printf "%.2f", n / r }')
	else
		R_VAL[berth]=""
	fi
	R_DET[berth]=null
	emit netbridge_run "  run --network bridge / run" x %.2f noratio "what a network costs over a plain run"
}

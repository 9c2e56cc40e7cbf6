# shellcheck shell=bash disable=SC2154
# common.sh: helpers for bench/run: preflight, configs, cgroups, cleanup and
# leak checks, the hyperfine wrapper, and recording rows (table + JSON).
# Sourced by bench/run; uses its globals (T, CGP, BIN, RUNTIMES, RUNS, ...).

say() { printf '%s\n' "$*"; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

preflight() {
	[ "$(id -u)" = 0 ] || die "run as root (containers with cgroups and namespaces)"
	local t
	for t in hyperfine jq; do
		command -v "$t" >/dev/null || die "$t not found: apt-get install $t"
	done
	[ "${RUNTIMES[0]}" = berth ] || die "BENCH_RUNTIMES must start with berth"
	[ -x "${BIN[berth]}" ] || die "${BIN[berth]} not found: run 'make berth' (or set BERTH)"
	for t in "${RUNTIMES[@]:1}"; do
		[ -n "${BIN[$t]:-}" ] || die "BENCH_RUNTIMES: unknown runtime '$t' (berth, runc15, runc, crun)"
		[ -x "${BIN[$t]}" ] || die "$t not found: apt-get install $t (or set ${t^^})"
	done
}

# cgroup_mode prints v2 (unified only) or v1 (legacy or hybrid).
cgroup_mode() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2; else echo v1; fi
}

# mkcfg DIR CGNAME [JQ-FILTER]: DIR/config.json from the base config, with
# linux.cgroupsPath /$CGP/CGNAME and FILTER applied.
mkcfg() {
	mkdir -p "$1"
	jq --arg cg "/$CGP/$2" ".linux.cgroupsPath = \$cg ${3:+| $3}" "$T/base.json" >"$1/config.json"
}

# cg_file CGNAME FILE-V1 FILE-V2: path of a memory-controller file of
# the cgroup /$CGP/CGNAME.
cg_memfile() {
	if [ "$(cgroup_mode)" = v2 ]; then
		echo "/sys/fs/cgroup/$CGP/$1/$3"
	else
		echo "/sys/fs/cgroup/memory/$CGP/$1/$2"
	fi
}

# cg_dirs [GLOB]: existing cgroup directories /$CGP/GLOB in every hierarchy
# (or /$CGP itself without GLOB).
cg_dirs() {
	local d
	for d in "/sys/fs/cgroup/$CGP${1:+/$1}" /sys/fs/cgroup/*/"$CGP${1:+/$1}"; do
		[ -d "$d" ] && echo "$d"
	done
}

# rm_cgroup_tree DIR...: kill whatever still runs in the cgroups (only ours:
# they are below /$CGP) and remove them, deepest first.
rm_cgroup_tree() {
	local top d p
	for top in "$@"; do
		[ -d "$top" ] || continue
		while read -r d; do
			for _ in $(seq 50); do
				if [ -f "$d/cgroup.procs" ]; then
					while read -r p; do kill -9 "$p" 2>/dev/null; done <"$d/cgroup.procs"
				fi
				rmdir "$d" 2>/dev/null && break
				[ -d "$d" ] || break
				sleep 0.02
			done
		done < <(find "$top" -depth -type d 2>/dev/null)
	done
}

# leak MSG: note something the runtime left behind (reported at the end).
leak() {
	say "  LEAK: $*"
	printf '%s\n' "$*" >>"$T/leaks"
}

# reap RT [EXPECTED]: delete --force every container left in RT's root.
# Leftovers are reported as leaks unless EXPECTED is "expected".
reap() {
	local rt=$1 root=$T/root-$1 dir id out
	[ -d "$root" ] || return 0
	for dir in "$root"/*; do
		[ -d "$dir" ] || continue
		id=${dir##*/}
		[ "${2:-}" = expected ] || leak "$rt: container $id still in --root after the row"
		out=$("${BIN[$rt]}" --root "$root" delete --force "$id" 2>&1) ||
			leak "$rt: delete --force $id failed: $out"
		[ -e "$root/$id" ] && leak "$rt: $root/$id still there after delete --force"
	done
}

# check_clean ROW RT [EXPECTED]: after a row, nothing of RT's may remain:
# no container in its root, no cgroup /$CGP/RT-*. Removes what it finds.
check_clean() {
	local row=$1 rt=$2 d
	reap "$rt" "${3:-}"
	for d in $(cg_dirs "$rt-*"); do
		leak "$rt: cgroup $d left after '$row' (procs: $(tr '\n' ' ' <"$d/cgroup.procs" 2>/dev/null))"
		rm_cgroup_tree "$d"
	done
}

cleanup() {
	local rc=$? j rt d
	trap - EXIT INT TERM
	for j in $(jobs -p); do kill "$j" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		for rt in "${RUNTIMES[@]}"; do reap "$rt" expected >/dev/null 2>&1; done
	fi
	if [ -n "${CGP:-}" ]; then
		# shellcheck disable=SC2046
		rm_cgroup_tree $(cg_dirs)
		for d in $(cg_dirs); do say "bench: could not remove cgroup $d" >&2; done
	fi
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		while read -r d; do umount -l "$d" 2>/dev/null && say "bench: unmounted leftover mount $d" >&2; done < <(
			awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		rm -rf "$T"
	fi
	exit "$rc"
}

# Per row, per runtime: R_VAL numeric value, R_ERR error message, R_TXT text
# shown instead of the value, R_DET JSON detail (e.g. hyperfine's result).
declare -A R_VAL R_ERR R_TXT R_DET
reset_row() { R_VAL=() R_ERR=() R_TXT=() R_DET=(); }

# firstlines FILE: the first 3 non-empty lines of FILE, joined by " | ".
firstlines() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | head -3 | paste -sd'|' | sed 's/|/ | /g'; }

# hf KEY RT CMD [PREPARE]: time CMD (run by sh) with hyperfine; PREPARE runs
# untimed before each run. One untimed probe first, whose output is kept: if
# the command fails, R_ERR gets the runtime's own error message. Sets R_VAL
# (median, ms) and R_DET (hyperfine's result: mean, stddev, min, max, times).
hf() {
	local key=$1 rt=$2 cmd=$3 prep=${4:-} log=$T/hf/$1-$2
	local args=(--style none --shell sh --warmup "$WARMUP" --runs "$RUNS"
		--export-json "$log.json" --command-name "$rt")
	if [ -n "$prep" ]; then
		args+=(--prepare "$prep")
		if ! sh -c "$prep" >"$log.probe" 2>&1 </dev/null; then
			R_ERR[$rt]="prepare failed: $(firstlines "$log.probe")"
			return 1
		fi
	fi
	if ! sh -c "$cmd" >"$log.probe" 2>&1 </dev/null; then
		R_ERR[$rt]=$(firstlines "$log.probe")
		[ -n "${R_ERR[$rt]}" ] || R_ERR[$rt]="exit status non-zero, no message"
		return 1
	fi
	if ! hyperfine "${args[@]}" "$cmd" >"$log.log" 2>&1 </dev/null; then
		R_ERR[$rt]="hyperfine: $(grep -iv warning "$log.log" | firstlines /dev/stdin)"
		return 1
	fi
	R_VAL[$rt]=$(jq '.results[0].median * 1000' "$log.json")
	R_DET[$rt]=$(jq -c '.results[0] | del(.command) | .unit = "s"' "$log.json")
}

# median: the median of the numbers on stdin (one a line); empty if none.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# emit KEY NAME UNIT FMT [NORATIO] [NOTE]: record the current row: one
# JSON object in $T/metrics/ (with NOTE, which explains the row), one line of
# the table. FMT formats values. Errors go to the notes under the table.
emit() {
	local key=$1 name=$2 unit=$3 fmt=$4 noratio=${5:-} note=${6:-} rt ratio line
	local -A cell ratios
	for rt in "${RUNTIMES[@]}"; do
		if [ -n "${R_ERR[$rt]:-}" ]; then
			cell[$rt]="FAILED"
			printf '%s %s: %s\n' "$rt" "${name#"${name%%[! ]*}"}" "${R_ERR[$rt]}" >>"$T/notes"
		elif [ -n "${R_TXT[$rt]:-}" ]; then
			cell[$rt]=${R_TXT[$rt]}
		elif [ -n "${R_VAL[$rt]:-}" ]; then
			# shellcheck disable=SC2059
			cell[$rt]="$(printf "$fmt" "${R_VAL[$rt]}") $unit"
		else
			cell[$rt]="-"
		fi
	done
	# berth/RT for every other runtime RT
	for rt in "${RUNTIMES[@]:1}"; do
		ratio=""
		if [ -z "$noratio" ] && [ -n "${R_VAL[berth]:-}" ] && [ -n "${R_VAL[$rt]:-}" ] &&
			[ -z "${R_ERR[berth]:-}" ] && [ -z "${R_ERR[$rt]:-}" ]; then
			ratio=$(awk -v b="${R_VAL[berth]}" -v r="${R_VAL[$rt]}" 'BEGIN { if (r != 0) printf "%.2f", b / r }')
		fi
		ratios[$rt]=${ratio:--}
	done
	line=$name
	for rt in "${RUNTIMES[@]}"; do line+=$'\t'${cell[$rt]}; done
	for rt in "${RUNTIMES[@]:1}"; do line+=$'\t'${ratios[$rt]}; done
	printf '%s\n' "$line" >>"$T/table.tsv"
	line=""
	for rt in "${RUNTIMES[@]}"; do line+="$rt ${cell[$rt]}, "; done
	for rt in "${RUNTIMES[@]:1}"; do line+="berth/$rt ${ratios[$rt]}, "; done
	say "  ${line%, }"
	{
		for rt in "${RUNTIMES[@]}"; do
			jq -nc --arg v "${R_VAL[$rt]:-}" --arg e "${R_ERR[$rt]:-}" --arg t "${R_TXT[$rt]:-}" \
				--argjson d "${R_DET[$rt]:-null}" --arg rt "$rt" \
				'{($rt): {value: (if $v == "" then null else ($v | tonumber) end),
				          error: (if $e == "" then null else $e end),
				          text: (if $t == "" then null else $t end), detail: $d}}'
		done
		for rt in "${RUNTIMES[@]:1}"; do
			jq -nc --arg r "${ratios[$rt]}" --arg rt "$rt" \
				'{ratios: {("berth/" + $rt): (if $r == "-" then null else ($r | tonumber) end)}}'
		done
	} | jq -sc --arg key "$key" --arg name "$name" --arg unit "$unit" --arg note "$note" \
		'{key: $key, name: $name, unit: $unit} + (map(del(.ratios)) | add) +
		 {ratios: (map(.ratios // {}) | add), ratio: (map(.ratios // {}) | add | (.["berth/runc15"] // .["berth/runc"])),
		  note: (if $note == "" then null else $note end)}' \
		>"$T/metrics/$(printf '%02d' "$(find "$T/metrics" -name '*.json' | wc -l)")-$key.json"
}

print_table() {
	local sep w rt head="" cols=$((${#RUNTIMES[@]} * 2 - 1))
	# the metric column is as wide as the longest name (at least 44)
	w=$(awk -F'\t' 'BEGIN { w = 44 } length($1) > w { w = length($1) } END { print w }' "$T/table.tsv")
	sep=$(printf '%*s' $((w + 1 + 21 * cols)) '' | tr ' ' -)
	for rt in "${RUNTIMES[@]:1}"; do head+="${head:+, }ratio berth/$rt"; done
	say ""
	say "${RUNTIMES[*]}: medians ($head; below 1 means berth is smaller/faster)"
	say "$sep"
	{
		printf 'metric'
		for rt in "${RUNTIMES[@]}"; do printf '\t%s' "$rt"; done
		for rt in "${RUNTIMES[@]:1}"; do printf '\tberth/%s' "$rt"; done
		printf '\n'
	} | awk -F'\t' -v w="$w" '{ printf "%-*s", w, $1; for (i = 2; i <= NF; i++) printf " %-20s", $i; printf "\n" }'
	say "$sep"
	awk -F'\t' -v w="$w" '{ printf "%-*s", w, $1; for (i = 2; i <= NF; i++) printf " %-20s", $i; printf "\n" }' "$T/table.tsv"
	say "$sep"
	say "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(nproc) CPUs)"
	if [ -s "$T/notes" ]; then
		say "notes and errors:"
		sed 's/^/  /' "$T/notes"
	fi
	if [ -s "$T/leaks" ]; then
		say "leftovers found (and removed) during the run:"
		sed 's/^/  /' "$T/leaks"
	else
		say "leftovers: none (containers, cgroups and state directories checked after every row)"
	fi
}

write_results() {
	local dir=$here/results out rt rts="{}"
	mkdir -p "$dir"
	out=$dir/$stamp${BENCH_RESULT_SUFFIX:-}.json
	for rt in "${RUNTIMES[@]}"; do
		rts=$(jq -c --arg rt "$rt" --arg p "${ORIG[$rt]}" --arg v "$("${BIN[$rt]}" --version 2>&1 | head -1)" \
			--arg sum "$(sha256sum <"${BIN[$rt]}" | cut -d' ' -f1)" \
			'. + {($rt): {path: $p, version: $v, sha256: $sum}}' <<<"$rts")
	done
	rts=$(jq -c --arg commit "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null)" \
		--arg dirty "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | wc -l)" \
		'.berth += {commit: $commit, tracked_files_modified: ($dirty | tonumber)}' <<<"$rts")
	jq -s --arg stamp "$stamp" --arg kernel "$(uname -r)" --arg cpus "$(nproc)" \
		--arg mode "$(cgroup_mode)" --arg quick "$QUICK" \
		--arg load0 "$LOAD_START" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson runs "$RUNS" \
		--argjson warmup "$WARMUP" --argjson npar "$NPAR" --argjson rounds "$PAR_ROUNDS" \
		--argjson memsamples "$MEM_SAMPLES" --argjson limittries "$LIMIT_TRIES" \
		--argjson runtimes "$rts" --rawfile leaks <(cat "$T/leaks" 2>/dev/null) \
		'{timestamp: $stamp,
		  host: {kernel: $kernel, cpus: ($cpus | tonumber), cgroups: $mode,
		         loadavg_start: $load0, loadavg_end: $load1},
		  settings: {quick: ($quick == "1"), runs: $runs, warmup: $warmup,
		             parallel: $npar, parallel_rounds: $rounds, memory_samples: $memsamples, limit_tries: $limittries},
		  runtimes: $runtimes,
		  metrics: .,
		  leaks: ($leaks | split("\n") | map(select(. != "")))}' \
		"$T"/metrics/*.json >"$out" || die "could not write $out"
	say "results: $out"
	if [ "${BENCH_JSON_STDOUT:-}" = 1 ]; then
		# for bench/v2guest, whose guest cannot write to the host
		echo "BENCH-JSON-BEGIN"
		jq -c -M . "$out" # -M: the guest's stdout is a terminal
		echo "BENCH-JSON-END"
	fi
}

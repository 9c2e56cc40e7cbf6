# shellcheck shell=bash
# lib/cleanup.sh: undo what one validation program left behind, and only that.
# Sourced by run.sh; needs RUN_TMP (this run's scratch directory) and MARK
# (its unique basename).
#
# Every program runs with TMPDIR=<its own directory under RUN_TMP>, so its
# bundles (ocitest*) and pid-file directories (oci-pid*) are made there, not in
# /tmp. "Ours" is therefore decided by path, never by name pattern alone:
#   containers  whose bundle is under RUN_TMP (state.json's "bundle");
#   processes   whose working directory is under RUN_TMP (runtimes, hooks,
#               an init that has not pivoted yet), or whose root mount, in
#               another mount namespace, is a bundle's rootfs (containers);
#   mounts      whose mount point is under the program's directory.
# Other people's containers, processes and /tmp/ocitest* are never touched.

SELF_MNT=$(readlink /proc/self/ns/mnt)

# note appends one line to the current program's cleanup log; a non-empty log
# means the harness itself left something behind.
note() { echo "$*" >>"$CLEANUP_LOG"; }

# container_ids RUNTIME ROOT prints the IDs the runtime lists under ROOT.
container_ids() { "$1" --root "$2" list -q 2>/dev/null || true; }

# delete_ours RUNTIME ROOT BEFORE force-deletes the containers of this run.
# BEFORE is the ID list taken before the program started: a container whose
# state cannot be read is ours only if it was not there before.
delete_ours() {
	local rt=$1 root=$2 before=$3 id state bundle
	while read -r id; do
		[[ -n $id ]] || continue
		if state=$("$rt" --root "$root" state "$id" 2>/dev/null); then
			bundle=$(sed -n 's/.*"bundle": *"\([^"]*\)".*/\1/p' <<<"$state")
			[[ $bundle == "$RUN_TMP"/* ]] || continue
		elif grep -qxF -- "$id" <<<"$before"; then
			continue
		fi
		if "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1; then
			note "deleted leftover container $id"
		else
			note "container $id: '$rt delete --force' failed"
		fi
	done < <(container_ids "$rt" "$root")
}

# our_pids prints the PIDs of processes this run started and left.
our_pids() {
	local ns=${SELF_MNT#mnt:[} f root mp
	ns=${ns%]}
	# Working directory under RUN_TMP (find's -lname reads the magic link).
	# (find fails when a process goes away under it: not an error here.)
	find /proc/[0-9]*/cwd -maxdepth 0 -lname "$RUN_TMP/*" 2>/dev/null | cut -d/ -f3 || true
	# In another mount namespace whose "/" is one of our bundles' rootfs: a
	# container of ours. (Only "/": our mounts may propagate into other
	# people's namespaces, and those processes are not ours.)
	find /proc/[0-9]*/ns/mnt -maxdepth 0 ! -lname "mnt:\[$ns\]" 2>/dev/null |
		while read -r f; do
			f=${f%/ns/mnt}
			while read -r _ _ _ root mp _; do
				[[ $mp == / && $root == *"$MARK"* ]] && { echo "${f#/proc/}"; break; }
			done 2>/dev/null <"$f/mountinfo" || true
		done || true
	return 0
}

# kill_ours SIGKILLs the processes our_pids finds and waits up to 5 s for them.
kill_ours() {
	local pids=() p i
	mapfile -t pids < <(our_pids | sort -un)
	((${#pids[@]})) || return 0
	for p in "${pids[@]}"; do
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		note "killed leftover process $p: $(tr '\0' ' ' 2>/dev/null </proc/"$p"/cmdline)"
		kill -KILL "$p" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		mapfile -t pids < <(our_pids)
		((${#pids[@]})) || return 0
		sleep 0.1
	done
	note "processes still alive after SIGKILL: ${pids[*]}"
}

# mounts_under DIR prints the mount points at or below DIR, deepest first,
# from our mount table (octal escapes such as \040 decoded).
mounts_under() {
	local dir=$1 mp slashes
	while read -r _ _ _ _ mp _; do
		printf -v mp '%b' "$mp"
		[[ $mp == "$dir" || $mp == "$dir"/* ]] || continue
		slashes=${mp//[!\/]/}
		printf '%d %s\n' "${#slashes}" "$mp"
	done </proc/self/mountinfo | sort -rn -k1,1 -u | cut -d' ' -f2-
}

# unmount_under DIR lazily unmounts everything below DIR, deepest first, in
# passes (mounts can be stacked on one point, and a shared mount propagated
# into itself shows up more than once). It fails if mounts remain.
unmount_under() {
	local dir=$1 mps=() mp pass
	for ((pass = 0; pass < 20; pass++)); do
		mapfile -t mps < <(mounts_under "$dir")
		((${#mps[@]})) || return 0
		((pass == 0)) && note "unmounting ${#mps[@]} mount point(s) left under $dir"
		for mp in "${mps[@]}"; do
			umount -l -- "$mp" 2>/dev/null || true
		done
	done
	note "still mounted after 20 passes: ${mps[*]}"
	return 1
}

# cleanup_program RUNTIME ROOT BEFORE WORKDIR: after one program, remove its
# containers, processes, mounts and directory. Deleting first lets the
# runtime undo cgroups and the like; killing catches what delete missed (a
# create that died half-way); the second delete clears their state.
cleanup_program() {
	local rt=$1 root=$2 before=$3 wd=$4
	delete_ours "$rt" "$root" "$before"
	kill_ours
	delete_ours "$rt" "$root" "$before"
	if unmount_under "$wd"; then
		# --one-file-system: never descend into a mount we failed to see.
		rm -rf --one-file-system -- "$wd" || note "could not remove $wd"
	else
		note "left $wd in place: it still has mounts"
	fi
}

# berth_init_pids prints the PIDs of all processes running "berth init".
berth_init_pids() {
	local f args
	for f in /proc/[0-9]*/cmdline; do
		{ mapfile -d '' -t args <"$f"; } 2>/dev/null || continue
		[[ ${#args[@]} -ge 2 && ${args[0]##*/} == berth && ${args[1]} == init ]] &&
			{ f=${f#/proc/}; echo "${f%/cmdline}"; }
	done
	return 0
}

# final_check verifies, after the whole run, that nothing of ours is left:
# no mount mentioning ocitest or MARK, no process of ours, no "berth init".
# It prints what it finds and fails if any of it is ours.
final_check() {
	local ours=0 n pids=()
	n=$(grep -c ocitest /proc/self/mountinfo || true)
	echo "conformance cleanup: $n ocitest mount(s) in /proc/self/mountinfo"
	if grep -qF -- "$MARK" /proc/self/mountinfo; then
		echo "conformance cleanup: ERROR: mounts of this run remain:" >&2
		grep -F -- "$MARK" /proc/self/mountinfo | head -5 >&2
		ours=1
	elif ((n > 0)); then
		echo "conformance cleanup: those are not this run's (left alone)"
	fi
	local inits=() mine=()
	mapfile -t inits < <(berth_init_pids | sort)
	mapfile -t pids < <(our_pids | sort -u)
	mapfile -t mine < <(comm -12 <(printf '%s\n' "${inits[@]}") <(printf '%s\n' "${pids[@]}") | grep . || true)
	echo "conformance cleanup: ${#inits[@]} 'berth init' process(es) running, ${#mine[@]} of them this run's"
	if ((${#pids[@]})); then
		echo "conformance cleanup: ERROR: processes of this run remain: ${pids[*]}" >&2
		ours=1
	fi
	return "$ours"
}

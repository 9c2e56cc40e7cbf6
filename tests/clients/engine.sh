# engine.sh: docker and podman against the runtime under test (sourced by
# run.sh). Their command lines are the same for what is tested here, so one
# set of checks (engine_checks) runs with either; each suite starts its
# client with its own directories under $T and the runtime configured.

# docker_suite: dockerd (Debian's docker.io) with its own data root, exec
# root, socket and pid file, no networking (--bridge none, no iptables), the
# cgroupfs driver, and the runtime added as "testrt" and made the default.
# dockerd starts its own containerd (under the exec root), which runs the
# io.containerd.runc.v2 shim with BinaryName = the runtime.
docker_suite() {
  CLIENT=docker
  local d=$T/docker
  mkdir -p "$d/data" "$d/exec" "$d/cli"
  echo '{}' > "$d/daemon.json" # not /etc/docker/daemon.json
  # dockerd 20.10 writes its trust key to /etc/docker/key.json.
  [ -e /etc/docker/key.json ] || at_end "rm -f /etc/docker/key.json"
  say "docker: starting dockerd ($(dockerd --version | cut -d' ' -f3 | tr -d ,))"
  setsid dockerd --config-file "$d/daemon.json" -H "unix://$d/docker.sock" \
    --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/docker.pid" \
    --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CG-docker" \
    --storage-driver overlay2 --add-runtime "testrt=$RT" --default-runtime testrt \
    --debug > "$d/dockerd.log" 2>&1 &
  local pid=$!
  at_exit "stop_pid $pid"
  # Debian's CLI (docker.io), not another docker on PATH; its config under $T.
  CLI=(env DOCKER_CONFIG="$d/cli" /usr/bin/docker -H "unix://$d/docker.sock")
  if ! poll 60 "${CLI[@]}" version >/dev/null 2>&1; then
    OUT=$(tail -n 20 "$d/dockerd.log"); MARK=$(argv_lines)
    fail "dockerd started" "no answer on $d/docker.sock in 60 s"
    return
  fi
  pass "dockerd started"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" info --format '{{.DefaultRuntime}} {{.CgroupDriver}}'
  expect "docker info: default runtime testrt, cgroupfs" 0 "^testrt cgroupfs$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" load -i "$IMAGE_TAR"
  expect "docker load" 0 "$IMAGE_REF"
  [ "$RC" = 0 ] || return
  RUNF=(--network none)
  SHIMS="$d/exec/containerd/containerd.sock moby" # for forget_shim_socket
  engine_checks dk-$$
}

# podman_suite: podman is daemonless: every command gets --root, --runroot
# and --tmpdir under $T, the runtime with --runtime, and cgroupfs; conmon
# (Debian's) calls the runtime.
podman_suite() {
  CLIENT=podman
  local d=$T/podman
  mkdir -p "$d/net"
  # podman passes --log and --log-format json only to runtimes it knows by
  # name: berth is added to that list, in a copy of the system's
  # containers.conf (CONTAINERS_CONF replaces it).
  sed '/^\[engine\]$/a runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "berth"]' \
    /usr/share/containers/containers.conf > "$d/containers.conf"
  CLI=(env CONTAINERS_CONF="$d/containers.conf" podman --root "$d/root" --runroot "$d/run" --tmpdir "$d/tmp"
    --network-config-dir "$d/net" --runtime "$RT" --cgroup-manager cgroupfs
    --events-backend file --storage-driver overlay)
  # podman writes outside --root/--runroot too (its blob cache, the network
  # run dir): remove what it made.
  [ -e /var/lib/containers ] || at_end "rm -rf /var/lib/containers"
  [ -e /run/containers ] || at_end "rm -rf /run/containers"
  say "podman: $(podman --version)"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" load -i "$IMAGE_TAR"
  expect "podman load" 0 "$IMAGE_REF"
  [ "$RC" = 0 ] || return
  at_exit "$TO ${CLI[*]} rm -f -a -t 0"
  SHIMS= # podman has no shims
  # podman asks for RLIMIT_NOFILE and RLIMIT_NPROC 1048576 by default, above
  # the limits it runs conmon and the runtime with (its own NOFILE, NPROC
  # 32768 here); raising a hard limit needs CAP_SYS_RESOURCE, which a
  # sandboxed root may lack (this machine's does; runc fails too). Ask for
  # limits under those.
  RUNF=(--network none --cgroup-parent "/$CG-podman"
    --ulimit "nofile=$(ulimit -Sn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  engine_checks pm-$$
}

# inspect NAME FORMAT: one field of `inspect`, or nothing.
inspect() { "${CLI[@]}" inspect -f "$2" "$1" 2>/dev/null; }
is_field() { [ "$(inspect "$1" "$2")" = "$3" ]; }
# expect_field CHECK NAME FORMAT WANT: PASS if the field becomes WANT within 10 s.
expect_field() {
  if poll 10 is_field "$2" "$3" "$4"; then pass "$1"; else
    OUT=""; fail "$1" "$3 is '$(inspect "$2" "$3")', want $4"
  fi
}
# cgroup_dir ID [CTRL]: the host directory of the container's cgroup (v1:
# of controller CTRL), found by the container's ID in its name.
cgroup_dir() {
  find "/sys/fs/cgroup/${2:-}" -maxdepth 4 -type d -path "*$CG*" -name "*$1*" 2>/dev/null | head -n 1
}

# engine_checks PREFIX: the checks, with CLI and RUNF (run flags) set.
engine_checks() {
  local p=$1 id f from
  from=$(argv_lines)
  at_exit "$TO ${CLI[*]} rm -f $p-exit $p-tty $p-d $p-k"

  # 1. A container that prints and exits with a code: `run` returns it.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm --name "$p-exit" "${RUNF[@]}" "$IMAGE_REF" \
    sh -c 'echo hello from $(cat /proc/1/cmdline); exit 7'
  expect "run: output and exit code 7" 7 "hello from sh-cecho hello"
  expect_called "run: the runtime created it" " create .*--bundle"

  # 2. A terminal (the runtime passes the pty over --console-socket).
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm -t --name "$p-tty" "${RUNF[@]}" "$IMAGE_REF" \
    sh -c 'tty; exit 3'
  expect "run -t: a terminal, exit code 3" 3 "/dev/pts/[0-9]+"
  expect_called "run -t: console socket passed" " create .*--console-socket"

  # 3. The process and its limits as config.json gives them: stdin from a
  # pipe, user, cwd, env, no capabilities, memory and pids limits seen from
  # inside (v1 paths, or v2's); then a read-only root (podman adds tmpfs
  # mounts with the "tmpcopyup" option on /tmp, /run, /var/tmp).
  runstep "$STEP_TIMEOUT" sh -c 'echo piped-in | "$@"' sh "${CLI[@]}" run --rm -i "${RUNF[@]}" \
    -u 1000:1000 -w /tmp -e FOO=bar --cap-drop ALL --memory 64m --pids-limit 50 \
    "$IMAGE_REF" sh -c "$INSIDE"
  expect "run -i -u -w -e: stdin, user, cwd, env" 0 "^in=piped-in uid=1000 gid=1000 cwd=/tmp foo=bar$"
  expect "run --cap-drop ALL" 0 " caps=0000000000000000$"
  expect "run --memory 64m --pids-limit 50: seen inside" 0 "^mem=67108864 pids=50$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm --read-only "${RUNF[@]}" "$IMAGE_REF" sh -c "$INSIDE"
  expect "run --read-only" 0 "^ro=yes "

  # 4. Detached; exec into it; top; pause/unpause; update; restart; stop.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name "$p-d" "${RUNF[@]}" "$IMAGE_REF" \
    sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
  expect "run -d" 0 "^[0-9a-f]{64}$"
  id=$(tail -n 1 <<<"$OUT")
  [ "$RC" = 0 ] && [ -n "$SHIMS" ] && forget_shim_socket $SHIMS "$id"
  if [ "$RC" != 0 ]; then
    id=
    OUT=""; MARK=$(argv_lines); fail "run -d: exec, top, pause, update, stop" "not run: the container did not start"
  else
    engine_detached "$p" "$id"
  fi

  # 5. Detached, killed (SIGKILL): exit code 137.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name "$p-k" "${RUNF[@]}" "$IMAGE_REF" sleep 300
  expect "run -d sleep" 0
  local kid
  kid=$(tail -n 1 <<<"$OUT")
  [ "$RC" = 0 ] || kid=
  [ -n "$kid" ] && [ -n "$SHIMS" ] && forget_shim_socket $SHIMS "$kid"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" kill "$p-k"
  expect "kill" 0
  expect_field "kill: exit code 137" "$p-k" '{{.State.Running}} {{.State.ExitCode}}' "false 137"

  # 6. rm; nothing of either container is left.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm "$p-d" "$p-k"
  expect "rm" 0
  runstep "$STEP_TIMEOUT" "${CLI[@]}" ps -a -q
  [ -z "$OUT" ] || RC="$RC, and lists containers"
  expect "ps -a: none left" 0
  check "no runtime state or cgroup left" "see above" eval "no_leftovers $id && no_leftovers $kid"
  engine_scenarios "$p"
  expect_forced_deletes "$from"
}

# engine_detached PREFIX ID: the checks on the running container PREFIX-d:
# exec, top, pause/unpause, update, stop (SIGTERM).
engine_detached() {
  local p=$1 id=$2 f
  expect_field "run -d: running" "$p-d" '{{.State.Running}}' true
  runstep "$STEP_TIMEOUT" "${CLI[@]}" exec "$p-d" \
    sh -c 'echo exec as pid $$ beside $(cat /proc/1/cmdline | tr "\0" " ")'
  expect "exec: output" 0 "exec as pid [0-9]+ beside sh -c trap"
  expect_called "exec: the runtime ran it" " exec .*$id"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" exec "$p-d" sh -c 'exit 5'
  expect "exec: exit code 5" 5
  runstep "$STEP_TIMEOUT" "${CLI[@]}" exec -u 1000:1000 -w /tmp -e FOO=bar "$p-d" \
    sh -c 'echo uid=$(id -u) cwd=$(pwd) foo=$FOO'
  expect "exec -u -w -e: user, cwd, env" 0 "^uid=1000 cwd=/tmp foo=bar$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" exec -t "$p-d" tty
  expect "exec -t: a terminal" 0 "/dev/pts/[0-9]+"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" top "$p-d"
  expect "top" 0 "sleep 1"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" pause "$p-d"
  expect "pause" 0
  expect_field "pause: paused" "$p-d" '{{.State.Paused}}' true
  runstep "$STEP_TIMEOUT" "${CLI[@]}" unpause "$p-d"
  expect "unpause" 0
  expect_field "unpause: running" "$p-d" '{{.State.Paused}} {{.State.Running}}' "false true"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" update --cpu-shares 512 "$p-d"
  expect "update --cpu-shares 512" 0
  local want=512 # cpu.shares on v1; on a pure v2 host, cpu.weight 20 (runc's conversion)
  f=$(cgroup_dir "$id" cpu)/cpu.shares
  [ -e /sys/fs/cgroup/cgroup.controllers ] && f=$(cgroup_dir "$id")/cpu.weight && want=20
  check "update: $(basename "$f") is $want on the host" "$f reads '$(cat "$f" 2>/dev/null)'" \
    grep -qx "$want" "$f"
  # restart: the same container ID is created again by the runtime.
  local pid0
  pid0=$(inspect "$p-d" '{{.State.Pid}}')
  runstep "$STEP_TIMEOUT" "${CLI[@]}" restart -t 20 "$p-d"
  expect "restart" 0
  expect_called "restart: created again" " create .*$id"
  expect_field "restart: running" "$p-d" '{{.State.Running}}' true
  check "restart: a new init" "pid $pid0 before and $(inspect "$p-d" '{{.State.Pid}}') after" \
    [ "$(inspect "$p-d" '{{.State.Pid}}')" != "$pid0" ]
  local t0=$SECONDS
  runstep "$STEP_TIMEOUT" "${CLI[@]}" stop -t 20 "$p-d"
  expect "stop" 0
  check "stop: SIGTERM handled, not killed after 20 s" "took $((SECONDS - t0)) s" [ $((SECONDS - t0)) -lt 15 ]
  expect_field "stop: exit code 0 (the trap ran)" "$p-d" '{{.State.Running}} {{.State.ExitCode}}' "false 0"
}

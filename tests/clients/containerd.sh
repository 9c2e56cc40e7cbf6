# containerd.sh: containerd + ctr against the runtime under test (sourced by
# run.sh). containerd runs from a generated config.toml with its own socket,
# root, state and opt dirs under $T; ctr runs containers through the
# io.containerd.runc.v2 shim with BinaryName = the runtime (--runc-binary)
# and its state under $T (--runc-root).

containerd_suite() {
  CLIENT=containerd
  local d=$T/containerd from
  from=$(argv_lines)
  mkdir -p "$d/fifo"
  # The CRI plugin is off: it wants CNI and is not what ctr uses. With CRI,
  # the runtime would be set the same way, in config.toml:
  #   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
  #     runtime_type = "io.containerd.runc.v2"
  #   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
  #     BinaryName = "/path/to/berth"
  cat > "$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
  say "containerd: starting ($(containerd --version | cut -d' ' -f3))"
  setsid containerd --config "$d/config.toml" --log-level debug > "$d/containerd.log" 2>&1 &
  local pid=$!
  at_exit "stop_pid $pid"
  local ns=berth-clients
  CTR=(ctr --address "$d/containerd.sock" --namespace "$ns")
  if ! poll 30 "${CTR[@]}" version >/dev/null 2>&1; then
    OUT=$(tail -n 20 "$d/containerd.log"); MARK=$(argv_lines)
    fail "containerd started" "no answer on $d/containerd.sock in 30 s"
    return
  fi
  pass "containerd started"

  runstep "$STEP_TIMEOUT" "${CTR[@]}" images import "$IMAGE_TAR"
  expect "ctr images import" 0 "$IMAGE_REF"
  [ "$RC" = 0 ] || return

  # ctr_run ID [FLAGS...] -- CMD...: `ctr run` of one container; every
  # container of the tests goes through here.
  ctr_run() {
    local id=$1 flags=()
    shift
    while [ "$1" != -- ]; do flags+=("$1"); shift; done
    shift
    forget_shim_socket "$d/containerd.sock" "$ns" "$id"
    at_exit "$TO ${CTR[*]} task rm -f $id; $TO ${CTR[*]} container rm $id"
    runstep "$STEP_TIMEOUT" "${CTR[@]}" run --runc-binary "$RT" --runc-root "$d/runc" \
      --fifo-dir "$d/fifo" --cgroup "/$CG-ctr/$id" "${flags[@]}" "$IMAGE_REF" "$id" "$@"
  }
  # task_status ID: RUNNING, PAUSED, STOPPED... as `ctr task ls` says.
  task_status() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
  is_status() { [ "$(task_status "$1")" = "$2" ]; }
  # expect_status NAME ID WANT SECS: PASS if the task gets to WANT in SECS.
  expect_status() {
    if poll "$4" is_status "$2" "$3"; then pass "$1"; else
      OUT=""; fail "$1" "status is '$(task_status "$2")', want $3"
    fi
  }

  # 1. A container that prints and exits with a code: ctr run returns it.
  local p=ctr-$$
  ctr_run "$p-exit" --rm -- sh -c 'echo hello from $(cat /proc/1/cmdline); exit 7'
  expect "run: output and exit code 7" 7 "hello from sh-cecho hello"
  expect_called "run: the runtime created it" " create .*--bundle .*$p-exit"

  # 2. A terminal: ctr needs one of its own, so script(1) gives it a pty;
  # the runtime hands the container's pty over --console-socket.
  local sq
  sq="${CTR[*]} run -t --rm --runc-binary $RT --runc-root $d/runc --fifo-dir $d/fifo"
  sq="$sq --cgroup /$CG-ctr/$p-tty $IMAGE_REF $p-tty sh -c 'tty; exit 3'"
  at_exit "$TO ${CTR[*]} task rm -f $p-tty; $TO ${CTR[*]} container rm $p-tty"
  runstep "$STEP_TIMEOUT" script -qefc "$sq" /dev/null
  expect "run -t: a terminal, exit code 3" 3 "/dev/pts/[0-9]+"
  expect_called "run -t: console socket passed" " create .*--console-socket"

  # 3. The process as config.json gives it: stdin from a pipe, cwd, env,
  # read-only root, capabilities (ctr's default set less CAP_CHOWN).
  at_exit "$TO ${CTR[*]} task rm -f $p-cfg; $TO ${CTR[*]} container rm $p-cfg"
  runstep "$STEP_TIMEOUT" sh -c 'echo piped-in | "$@"' sh "${CTR[@]}" run --rm \
    --runc-binary "$RT" --runc-root "$d/runc" --fifo-dir "$d/fifo" --cgroup "/$CG-ctr/$p-cfg" \
    --cwd /tmp --env FOO=bar --read-only --cap-drop CAP_CHOWN \
    "$IMAGE_REF" "$p-cfg" sh -c "$INSIDE"
  expect "run --cwd --env: stdin, cwd, env" 0 "^in=piped-in uid=0 gid=0 cwd=/tmp foo=bar$"
  expect "run --read-only --cap-drop CAP_CHOWN" 0 "^ro=yes caps=00000000a80425fa$"

  # 4. Detached (with a memory limit); exec into it; ps; pause/resume;
  # stop with SIGTERM.
  ctr_run "$p-d" -d --null-io --memory-limit 67108864 -- sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'
  expect "run -d" 0
  if [ "$RC" != 0 ]; then
    OUT=""; MARK=$(argv_lines); fail "run -d: exec, ps, pause, resume, SIGTERM" "not run: the container did not start"
  else
    ctr_detached "$p-d"
  fi

  # 5. Detached, killed with SIGKILL: ctr task rm reports exit code 137.
  ctr_run "$p-k" -d --null-io -- sleep 300
  expect "run -d sleep" 0
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task kill -s SIGKILL "$p-k"
  expect "task kill SIGKILL" 0
  expect_status "SIGKILL: STOPPED" "$p-k" STOPPED 15
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task rm "$p-k"
  expect "task rm: exit code 137" 0 "non-zero exit code 137"

  # 6. Remove the containers; nothing of them is left.
  runstep "$STEP_TIMEOUT" "${CTR[@]}" container rm "$p-d" "$p-k"
  expect "container rm" 0
  runstep "$STEP_TIMEOUT" "${CTR[@]}" container ls -q
  [ -z "$OUT" ] || RC="$RC, and lists containers"
  expect "container ls: none left" 0
  check "no runtime state or cgroup left" "see above" \
    eval "no_leftovers $p-exit && no_leftovers $p-tty && no_leftovers $p-cfg && no_leftovers $p-d && no_leftovers $p-k"
  ctr_scenarios "$p"
  expect_forced_deletes "$from"
}

# ctr_detached ID: the checks on the running task ID: exec, ps,
# pause/resume, SIGTERM and task rm.
ctr_detached() {
  local d=$T/containerd id=$1
  expect_status "run -d: task RUNNING" "$id" RUNNING 10
  local f=/sys/fs/cgroup/memory/$CG-ctr/$id/memory.limit_in_bytes
  [ -e /sys/fs/cgroup/cgroup.controllers ] && f=/sys/fs/cgroup/$CG-ctr/$id/memory.max
  check "run --memory-limit 64 MiB: set on the host" "$f reads '$(cat "$f" 2>/dev/null)'" \
    grep -qx 67108864 "$f"
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task exec --exec-id e1 --fifo-dir "$d/fifo" "$id" \
    sh -c 'echo exec as pid $$ beside $(cat /proc/1/cmdline | tr "\0" " ")'
  expect "exec: output" 0 "exec as pid [0-9]+ beside sh -c trap"
  expect_called "exec: the runtime ran it" " exec .*--process .*$id"
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task exec --exec-id e2 --fifo-dir "$d/fifo" "$id" sh -c 'exit 5'
  expect "exec: exit code 5" 5
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task ps "$id"
  expect "task ps: lists the processes" 0 "^[0-9]+ "
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task pause "$id"
  expect "task pause" 0
  expect_status "task pause: PAUSED" "$id" PAUSED 5
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task resume "$id"
  expect "task resume" 0
  expect_status "task resume: RUNNING" "$id" RUNNING 5
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task kill -s SIGTERM "$id"
  expect "task kill SIGTERM" 0
  expect_status "SIGTERM: STOPPED" "$id" STOPPED 15
  # ctr task rm warns "exit with non-zero exit code N" when N is not 0.
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task rm "$id"
  grep -q "non-zero exit code" <<<"$OUT" && RC="$RC, with a non-zero exit code"
  expect "task rm: exit code 0 (the trap ran)" 0
}

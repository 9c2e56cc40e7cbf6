# scenarios.sh: everyday docker/podman scenarios (sourced by run.sh, run by
# engine_checks after its own checks, with CLI and RUNF set): logs, bind
# mounts, a named volume, an OOM kill, a pids limit, a read-only root with a
# tmpfs, capabilities, kill with a signal, --init and a published port.
# A scenario that cannot work on this host whatever the runtime prints
# `SKIP <client>: <check>: why` (counted, not a failure).

SKIPPED=0 SKIPS=()
skip() { SKIPPED=$((SKIPPED + 1)); SKIPS+=("$CLIENT: $1: $2"); echo "SKIP $CLIENT: $1: $2"; }

# logs_have NAME REGEX: the container's logs match REGEX.
logs_have() { "${CLI[@]}" logs "$1" 2>&1 | grep -Eq -- "$2"; }

# engine_scenarios PREFIX
engine_scenarios() {
  local p=$1 dir port
  at_exit "$TO ${CLI[*]} rm -f $p-log $p-sig $p-web $p-v1"
  at_exit "$TO ${CLI[*]} volume rm -f $p-vol"

  # logs of a detached named container (stdout and stderr).
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name "$p-log" "${RUNF[@]}" "$IMAGE_REF" \
    sh -c 'echo out-line-1; echo err-line-2 >&2'
  expect "run -d (logs)" 0
  expect_field "logs: container exited 0" "$p-log" '{{.State.Running}} {{.State.ExitCode}}' "false 0"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" logs "$p-log"
  expect "logs: stdout shown" 0 "^out-line-1$"
  expect "logs: stderr shown" 0 "^err-line-2$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm "$p-log"

  # bind mounts: read-write (a file written inside is on the host), read-only.
  dir=$T/bind-$CLIENT
  mkdir -p "$dir" && echo from-host > "$dir/host.txt"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" -v "$dir:/data" "$IMAGE_REF" \
    sh -c 'cat /data/host.txt && echo from-container > /data/new.txt'
  expect "bind mount rw: host file read inside" 0 "^from-host$"
  check "bind mount rw: file written inside is on the host" "$dir/new.txt: '$(cat "$dir/new.txt" 2>&1)'" \
    grep -qx from-container "$dir/new.txt"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" -v "$dir:/data:ro" "$IMAGE_REF" \
    sh -c 'cat /data/host.txt; (echo x > /data/ro.txt) 2>/dev/null && echo write=ok || echo write=refused'
  expect "bind mount ro: readable, write refused" 0 "^write=refused$"
  check "bind mount ro: nothing written on the host" "$dir/ro.txt exists" [ ! -e "$dir/ro.txt" ]

  # A named volume outlives its container.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --name "$p-v1" "${RUNF[@]}" -v "$p-vol:/vol" "$IMAGE_REF" \
    sh -c 'echo kept-$$ > /vol/f; cat /vol/f'
  expect "volume: written in a first container" 0 "^kept-1$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm "$p-v1"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" -v "$p-vol:/vol" "$IMAGE_REF" cat /vol/f
  expect "volume: read in the next container" 0 "^kept-1$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" volume rm "$p-vol"
  expect "volume rm" 0

  # A memory limit OOM-kills a hog: 64 MiB in a shell variable under 32m.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" -m 32m --memory-swap 32m "$IMAGE_REF" \
    sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" x); echo survived ${#x}'
  expect "memory 32m: a 64 MiB hog is OOM-killed (137)" 137

  # A pids limit stops a fork loop: the shell's fork fails before 20 sleeps.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" --pids-limit 10 "$IMAGE_REF" \
    sh -c 'i=0; while [ $i -lt 20 ]; do i=$((i + 1)); sleep 30 & echo started $i; done; echo all-started'
  if [ "$RC" != 0 ] && grep -q "started 8" <<<"$OUT" && ! grep -q all-started <<<"$OUT" &&
    grep -qiE "fork|resource temporarily" <<<"$OUT"; then
    pass "pids-limit 10: forks beyond fail"
  else
    fail "pids-limit 10: forks beyond fail" "exit $RC; want a fork error after 8 or 9 started"
  fi

  # A read-only root with a writable tmpfs.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" --read-only --tmpfs /tmp "$IMAGE_REF" \
    sh -c 'touch /rootfile 2>/dev/null && echo root=rw || echo root=ro
      echo hi > /tmp/f && echo tmp=$(cat /tmp/f) && grep " /tmp tmpfs " /proc/mounts >/dev/null && echo tmp=tmpfs'
  expect "read-only root: write to / refused" 0 "^root=ro$"
  expect "read-only root: --tmpfs /tmp writable" 0 "^tmp=tmpfs$"

  # Capabilities: root without CAP_CHOWN cannot chown; --cap-add gives it back.
  local chown='touch /tmp/f && chown 1:1 /tmp/f 2>/dev/null && echo chown=ok || echo chown=refused'
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" --cap-drop ALL "$IMAGE_REF" sh -c "$chown"
  expect "cap-drop ALL: chown refused" 0 "^chown=refused$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "${RUNF[@]}" --cap-drop ALL --cap-add CHOWN "$IMAGE_REF" sh -c "$chown"
  expect "cap-drop ALL --cap-add CHOWN: chown works" 0 "^chown=ok$"

  # kill -s USR1 reaches the workload's trap.
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name "$p-sig" "${RUNF[@]}" "$IMAGE_REF" \
    sh -c 'trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 1; done'
  expect "run -d (signal)" 0
  if [ "$RC" = 0 ] && poll 10 logs_have "$p-sig" '^ready$'; then
    runstep "$STEP_TIMEOUT" "${CLI[@]}" kill -s USR1 "$p-sig"
    expect "kill -s USR1" 0
    expect_field "kill -s USR1: the trap ran (exit 0)" "$p-sig" '{{.State.Running}} {{.State.ExitCode}}' "false 0"
    check "kill -s USR1: the trap's output in the logs" "no got-usr1 in the logs" logs_have "$p-sig" '^got-usr1$'
  else
    fail "kill -s USR1" "the container did not start or print ready"
  fi
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm -f "$p-sig"

  # --init: docker-init (Debian's tini) / catatonit is PID 1, the command its child.
  local init=/usr/bin/docker-init
  [ "$CLIENT" = podman ] && init=/usr/libexec/podman/catatonit
  if [ ! -x "$init" ]; then
    skip "run --init" "$init missing (Debian package $([ "$CLIENT" = podman ] && echo catatonit || echo tini))"
  else
    runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm --init "${RUNF[@]}" "$IMAGE_REF" \
      sh -c 'echo pid=$$ init=$(tr "\0" " " < /proc/1/cmdline)'
    expect "run --init: an init is PID 1" 0 "^pid=[0-9]+ init=[^ ]*init -- sh -c"
  fi

  engine_port "$p"
}

# engine_port PREFIX: -p 127.0.0.1:PORT:80 to busybox httpd, fetched from
# the host. docker: a user-defined bridge network (dockerd runs without
# iptables here; its userland proxy forwards the port); podman: slirp4netns.
engine_port() {
  local p=$1 port net
  # A free port: from one derived from the script's pid, the next unused.
  port=$((20000 + $$ % 20000))
  [ "$CLIENT" = docker ] && port=$((port + 1))
  while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 2)); done
  if [ "$CLIENT" = docker ]; then
    runstep "$STEP_TIMEOUT" "${CLI[@]}" network create "$p-net"
    if [ "$RC" != 0 ]; then skip "publish a port" "docker network create: $(tail -n 1 <<<"$OUT")"; return; fi
    at_exit "$TO ${CLI[*]} network rm $p-net"
    net=(--network "$p-net")
  else
    net=(--network slirp4netns)
    # podman (rootful) keeps the container's network namespace in /run/netns.
    [ -e /run/netns ] || at_end "rmdir /run/netns"
  fi
  local f=() i # RUNF without its --network none
  for ((i = 0; i < ${#RUNF[@]}; i++)); do
    if [ "${RUNF[i]}" = --network ]; then i=$((i + 1)); else f+=("${RUNF[i]}"); fi
  done
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name "$p-web" "${f[@]}" "${net[@]}" \
    -p "127.0.0.1:$port:80" "$IMAGE_REF" \
    sh -c 'mkdir -p /www && echo hello-port > /www/index.html && exec httpd -f -p 80 -h /www'
  if [ "$RC" != 0 ]; then
    fail "publish a port: run -d -p 127.0.0.1:$port:80" "exit $RC"
  else
    local got
    poll 10 sh -c "wget -q -T 2 -O- http://127.0.0.1:$port/ 2>/dev/null | grep -q hello-port"
    got=$(wget -q -T 2 -O- "http://127.0.0.1:$port/" 2>&1)
    OUT=$got
    check "publish a port: httpd reached from the host" "wget 127.0.0.1:$port: '$got'" grep -qx hello-port <<<"$got"
  fi
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm -f "$p-web"
  [ "$CLIENT" = docker ] && runstep "$STEP_TIMEOUT" "${CLI[@]}" network rm "$p-net"
}

# ctr_scenarios PREFIX: those of the scenarios that ctr has flags for (run
# by containerd_suite, with ctr_run defined): bind mounts, a read-only root
# with a tmpfs mount, an OOM kill, capabilities, a signal. ctr has no logs,
# volumes, pids limit, --init or port publishing.
ctr_scenarios() {
  local p=$1 dir=$T/bind-ctr
  mkdir -p "$dir" && echo from-host > "$dir/host.txt"
  ctr_run "$p-bw" --rm --mount "type=bind,src=$dir,dst=/data,options=rbind:rw" -- \
    sh -c 'cat /data/host.txt && echo from-container > /data/new.txt'
  expect "bind mount rw: host file read inside" 0 "^from-host$"
  check "bind mount rw: file written inside is on the host" "$dir/new.txt: '$(cat "$dir/new.txt" 2>&1)'" \
    grep -qx from-container "$dir/new.txt"
  ctr_run "$p-br" --rm --mount "type=bind,src=$dir,dst=/data,options=rbind:ro" -- \
    sh -c 'cat /data/host.txt; (echo x > /data/ro.txt) 2>/dev/null && echo write=ok || echo write=refused'
  expect "bind mount ro: readable, write refused" 0 "^write=refused$"
  check "bind mount ro: nothing written on the host" "$dir/ro.txt exists" [ ! -e "$dir/ro.txt" ]

  ctr_run "$p-ro" --rm --read-only --mount "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev" -- \
    sh -c 'touch /rootfile 2>/dev/null && echo root=rw || echo root=ro
      echo hi > /tmp/f && grep " /tmp tmpfs " /proc/mounts >/dev/null && echo tmp=tmpfs'
  expect "read-only root: write to / refused" 0 "^root=ro$"
  expect "read-only root: tmpfs /tmp writable" 0 "^tmp=tmpfs$"

  ctr_run "$p-oom" --rm --memory-limit 33554432 -- \
    sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" x); echo survived ${#x}'
  expect "memory 32 MiB: a 64 MiB hog is OOM-killed (137)" 137

  local chown='touch /tmp/f && chown 1:1 /tmp/f 2>/dev/null && echo chown=ok || echo chown=refused'
  # ctr takes no "ALL": drop CAP_CHOWN alone; add CAP_SYS_ADMIN (bit 21),
  # which is not in ctr's default set.
  ctr_run "$p-c1" --rm --cap-drop CAP_CHOWN -- sh -c "$chown"
  expect "cap-drop CAP_CHOWN: chown refused" 0 "^chown=refused$"
  ctr_run "$p-c2" --rm --cap-add CAP_SYS_ADMIN -- \
    sh -c 'c=$(sed -n "s/^CapEff:[[:space:]]*//p" /proc/self/status); echo sys_admin=$(( (0x$c >> 21) & 1 )); '"$chown"
  expect "cap-add CAP_SYS_ADMIN: in the effective set" 0 "^sys_admin=1$"
  expect "cap-add CAP_SYS_ADMIN: default CAP_CHOWN kept" 0 "^chown=ok$"

  # kill -s SIGUSR1 reaches the trap (which exits 42); "ready" on the bind
  # mount says the trap is set.
  ctr_run "$p-sig" -d --null-io --mount "type=bind,src=$dir,dst=/data,options=rbind:rw" -- \
    sh -c 'trap "exit 42" USR1; echo ready > /data/ready; while :; do sleep 1; done'
  expect "run -d (signal)" 0
  if [ "$RC" = 0 ] && poll 10 [ -s "$dir/ready" ]; then
    runstep "$STEP_TIMEOUT" "${CTR[@]}" task kill -s SIGUSR1 "$p-sig"
    expect "task kill -s SIGUSR1" 0
    expect_status "SIGUSR1: STOPPED" "$p-sig" STOPPED 15
    runstep "$STEP_TIMEOUT" "${CTR[@]}" task rm "$p-sig"
    expect "SIGUSR1: the trap ran (exit code 42)" 0 "non-zero exit code 42"
  else
    fail "task kill -s SIGUSR1" "the container did not start or write /data/ready"
  fi
  runstep "$STEP_TIMEOUT" "${CTR[@]}" task rm -f "$p-sig"
  runstep "$STEP_TIMEOUT" "${CTR[@]}" container rm "$p-sig"
  expect "container rm (signal)" 0
}

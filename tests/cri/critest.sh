# critest.sh: building critest and crictl, running critest per runtime
# handler, reading its JSON report, and the ctr exit check, for
# tests/cri/run.sh (sourced, bash). Globals from run.sh: T, D, CTR, CRICTL,
# CACHE, CRI_TOOLS, LOG_DIR, CRITEST_*, BERTH, RUNC.

CRITEST_BIN=$CACHE/critest-${CRI_TOOLS##*@}
CRICTL_BIN=$CACHE/crictl-${CRI_TOOLS##*@}

# Specs skipped on purpose, each for a reason the runtime does not decide
# (tests/cri/README.md):
#  - they pull from a registry: the tests make no traffic beyond the host
#    and the namespaces they create, so the images are imported, never
#    pulled (Image Manager, Image Consistency, Image Identifier Consistency,
#    Image Volume; the hostnet-nginx image of portforward in host network);
#  - MaskedPaths masks /bin/ls and expects `sh -c ls` to fail: the shell of
#    busybox-static runs its applets without exec (a standalone shell);
#  - a host port: port mapping with a host port needs the portmap plugin,
#    which changes the host's iptables;
#  - containerd 1.6 answers NotFound to StopContainer and StopPodSandbox of
#    an unknown id (1.7 answers success): the Idempotence "not found" specs
#    of those two.
CRITEST_SKIP='Image Manager|Image Consistency|Image Identifier Consistency|Image Volume'
CRITEST_SKIP+='|portforward in host network|should support MaskedPaths|should support port mapping with host port'
CRITEST_SKIP+='|Idempotence Stop(Container|PodSandbox) should not return an error if not found'

# build_cri_tools: critest (a go test binary) and crictl from the Go module
# proxy, kept in $CACHE; rebuilt only when missing.
build_cri_tools() {
  [ -x "$CRITEST_BIN" ] && [ -x "$CRICTL_BIN" ] && return 0
  say "building critest and crictl from $CRI_TOOLS (a few minutes, once)"
  local dir src
  dir=$(cd /tmp && go mod download -json "$CRI_TOOLS" | jq -r .Dir) || return 1
  src=$(mktemp -d /tmp/berth-cri-tools.XXXXXX)
  # The module cache is read-only: build in a copy.
  cp -r "$dir/." "$src" && chmod -R u+w "$src" && mkdir -p "$CACHE" &&
    (cd "$src" && go test -c -o "$CRITEST_BIN.new" ./cmd/critest &&
      go build -o "$CRICTL_BIN.new" ./cmd/crictl) &&
    mv "$CRITEST_BIN.new" "$CRITEST_BIN" && mv "$CRICTL_BIN.new" "$CRICTL_BIN"
  local rc=$?
  rm -rf "$src" "$CRITEST_BIN.new" "$CRICTL_BIN.new"
  return $rc
}

# write_images_file FILE: critest's --test-images-file, naming the images
# mkimages.sh built.
write_images_file() {
  cat > "$1" <<EOF
defaultTestContainerImage: localhost/berth-cri/busybox:1.29-2
webServerTestImage: localhost/berth-cri/webserver:1
EOF
}

# run_critest HANDLER: the suite with the runtime handler HANDLER; output
# in $LOG_DIR/critest-HANDLER.log, the report in .json. 1 if critest
# produced no report (it exits non-zero when a spec fails: that is read
# from the report).
run_critest() {
  local h=$1 out=$LOG_DIR/critest-$1 t0=$SECONDS par=()
  # -parallel 1 upsets ginkgo ("Use of go test -parallel"); more needs its CLI.
  [ "$CRITEST_PARALLEL" -gt 1 ] && par=(-parallel "$CRITEST_PARALLEL")
  say "critest with runtime handler $h"
  rm -f "$out.json"
  "$CRITEST_BIN" -runtime-endpoint "unix://$D/containerd.sock" \
    -image-endpoint "unix://$D/containerd.sock" -runtime-handler "$h" \
    -test-images-file "$T/images.yaml" "${par[@]}" \
    -ginkgo.skip "$CRITEST_SKIP" ${CRITEST_FOCUS:+-ginkgo.focus "$CRITEST_FOCUS"} \
    -ginkgo.timeout "$CRITEST_TIMEOUT" -ginkgo.no-color \
    -ginkgo.json-report "$out.json" > "$out.log" 2>&1 < /dev/null
  grep -E '^(Ran [0-9]+ of|SUCCESS!|FAIL!)' "$out.log" | sed 's/^/   /'
  if [ ! -s "$out.json" ]; then
    echo "   no report from critest; its output ends:"; tail -n 20 "$out.log" | sed 's/^/   | /'
    return 1
  fi
  say "$h: $(counts "$h") ($((SECONDS - t0)) s)"
}

# results HANDLER: "STATE<TAB>SPEC" per spec (It nodes) of HANDLER's report.
results() {
  jq -r '.[].SpecReports[]? | select(.LeafNodeType == "It")
    | "\(.State)\t\((.ContainerHierarchyTexts // []) + [.LeafNodeText] | join(" "))"' \
    "$LOG_DIR/critest-$1.json" 2>/dev/null | sort -t$'\t' -k2
}

# counts HANDLER: "N passed, M failed, K skipped".
counts() {
  results "$1" | awk -F'\t' '{ n[$1]++ }
    END { printf "%d passed, %d failed, %d skipped", n["passed"], n["failed"] + n["timedout"] + n["panicked"] + n["interrupted"] + n["aborted"], n["skipped"] + n["pending"] }'
}

# compare_reports: list the specs berth fails that runc passes (1 if any),
# and those both fail.
compare_reports() {
  case " $HANDLERS " in *" runc "*) ;; *) return 0 ;; esac
  case " $HANDLERS " in *" berth "*) ;; *) return 0 ;; esac
  local worse both
  worse=$(join -t$'\t' -1 2 -2 2 <(results runc) <(results berth) |
    awk -F'\t' '$2 == "passed" && $3 != "passed" { print "  " $3 ": " $1 }')
  both=$(join -t$'\t' -1 2 -2 2 <(results runc) <(results berth) |
    awk -F'\t' '$2 != "passed" && $2 != "skipped" && $3 != "passed" && $3 != "skipped" { print "  " $1 }')
  [ -n "$both" ] && { echo "failed with both runc and berth:"; echo "$both"; }
  [ -z "$worse" ] && return 0
  echo "berth does not pass $(grep -c . <<<"$worse") specs that pass with runc:"
  echo "$worse"
  return 1
}

# summary_line: the last line, "N passed, M failed" for berth.
summary_line() {
  case " $HANDLERS " in
    *" berth "*) echo "$(counts berth | sed 's/, [0-9]* skipped$//')" ;;
    *) echo "0 passed, 0 failed (berth not run)" ;;
  esac
}

# exit_check HANDLER: a container whose process exits on its own (exit 3),
# through the runc shim with HANDLER's binary:
#  - with CRI (crictl, runtime handler HANDLER): reported CONTAINER_EXITED
#    with exit code 3, and the pod is removed;
#  - with ctr: the task is STOPPED, and `ctr task delete -f` removes it.
# Prints PASS/FAIL lines; 1 if any failed.
exit_check() {
  local h=$1 bin ok=0 id=berth-cri-exit-$1 pod cid st
  case $h in runc) bin=$RUNC ;; berth) bin=$BERTH ;; *) return 0 ;; esac
  check() { if [ "$2" = 0 ]; then echo "PASS $h: $1"; else echo "FAIL $h: $1${3:+: $3}"; ok=1; fi; }

  cat > "$T/pod-$h.json" <<EOF2
{"metadata": {"name": "$id", "namespace": "berth-cri", "uid": "$id", "attempt": 1},
 "log_directory": "$T/podlogs-$h", "linux": {}}
EOF2
  cat > "$T/ctr-$h.json" <<EOF2
{"metadata": {"name": "exits"}, "image": {"image": "localhost/berth-cri/busybox:1.29-2"},
 "command": ["sh", "-c", "exit 3"], "log_path": "exits.log", "linux": {}}
EOF2
  pod= cid= st=
  pod=$("${CRICTL[@]}" runp --runtime "$h" "$T/pod-$h.json" 2>"$T/crictl.err") &&
    cid=$("${CRICTL[@]}" create "$pod" "$T/ctr-$h.json" "$T/pod-$h.json" 2>"$T/crictl.err") &&
    "${CRICTL[@]}" start "$cid" >/dev/null 2>"$T/crictl.err"
  check "crictl: pod and container started" $? "$(grep -v 'level=warning' "$T/crictl.err" | tail -n 1)"
  local end=$((SECONDS + 15))
  while [ -n "$cid" ] && [ "$SECONDS" -lt "$end" ]; do
    st=$("${CRICTL[@]}" inspect -o json "$cid" 2>/dev/null | jq -r '"\(.status.state) \(.status.exitCode)"')
    [ "$st" = "CONTAINER_EXITED 3" ] && break
    sleep 0.2
  done
  check "crictl: a process that exits 3 is CONTAINER_EXITED, exit code 3" "$([ "$st" = "CONTAINER_EXITED 3" ]; echo $?)" "state '$st'"
  if [ -n "$pod" ]; then
    timeout 60 "${CRICTL[@]}" rmp -f "$pod" >/dev/null 2>"$T/crictl.err"
    check "crictl rmp -f: the pod is removed" $? "$(grep -v 'level=warning' "$T/crictl.err" | tail -n 1)"
  fi

  local ns=berth-cri-exit c=(ctr --address "$D/containerd.sock" --namespace berth-cri-exit)
  "${c[@]}" images ls -q | grep -q . || "${c[@]}" images import "$T/images.tar" >/dev/null
  timeout 60 "${c[@]}" run -d --null-io --runc-binary "$bin" --runc-root "$D/ctr-$h" \
    --cgroup "/berth-cri-exit-$$/$id" localhost/berth-cri/busybox:1.29-2 "$id" sh -c 'exit 3' >/dev/null 2>&1
  check "ctr run -d" $?
  end=$((SECONDS + 15))
  while [ "$SECONDS" -lt "$end" ]; do
    st=$("${c[@]}" task ls 2>/dev/null | awk -v id="$id" '$1 == id {print $3}')
    [ "$st" = STOPPED ] && break
    sleep 0.2
  done
  check "ctr: a process that exits on its own is STOPPED" "$([ "$st" = STOPPED ]; echo $?)" "status '$st'"
  local out
  out=$(timeout 60 "${c[@]}" task delete -f "$id" 2>&1)
  check "ctr task delete -f of the exited task" $? "$out"
  timeout 30 "${c[@]}" container rm "$id" >/dev/null 2>&1
  check "ctr container rm" $?
  [ -z "$(ls -A "$D/ctr-$h/$ns" 2>/dev/null)" ]
  check "no runtime state left" $? "$(ls "$D/ctr-$h/$ns" 2>/dev/null)"
  rmdir /sys/fs/cgroup/*/"berth-cri-exit-$$" /sys/fs/cgroup/"berth-cri-exit-$$" 2>/dev/null
  unset -f check
  return $ok
}

# containerd.sh: containerd with its CRI plugin for tests/cri/run.sh
# (sourced, bash). Its config, root, state, socket, CNI configuration and
# the runtimes' state all live under $T; the pods' network namespaces too
# (netns_mounts_under_state_dir). Globals from run.sh: T, BERTH, RUNC,
# SUBNET, BRIDGE, CACHE.

D= CTR=() CRICTL=() CONTAINERD_PID=

# write_config: $D/config.toml and the CNI network. Two runtime handlers,
# both the runc v2 shim: "runc" runs $RUNC, "berth" runs $BERTH, each with
# its own --root. The cgroupfs driver (SystemdCgroup = false), as in the
# clients tests; containerd 1.6 still hands the runtime a
# "slice:prefix:name" cgroupsPath (critest's pods have the parent test.slice).
write_config() {
  D=$T/containerd
  mkdir -p "$D/net.d" "$D/cni"
  cat > "$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
# Only the plugins CRI needs: the other snapshotters probe the host.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/berth-cri/pause:3.9"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # A pod's oom_score_adj no lower than containerd's own: lowering it needs
  # CAP_SYS_RESOURCE, which a container host may not have (runc: "failed to
  # update /proc/self/oom_score_adj: Permission denied").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        Root = "$D/runc"
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "$BERTH"
        Root = "$D/berth"
        SystemdCgroup = false
EOF
  # The pods' network: a bridge of our own with a /24 of our own, no
  # masquerade and no port mapping (portmap would change the host's
  # iptables): traffic goes only between the host and the pods. containerd
  # adds the loopback plugin itself. host-local keeps its leases under $T.
  cat > "$D/net.d/10-berth-cri.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "berth-cri",
 "plugins": [{"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
              "hairpinMode": true,
              "ipam": {"type": "host-local", "dataDir": "$D/cni",
                       "ranges": [[{"subnet": "$SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
}

# start_containerd: run it in the background (log: $D/containerd.log) and
# wait for its socket; 1 if it does not answer in 60 s.
start_containerd() {
  setsid containerd --config "$D/config.toml" --log-level info > "$D/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  CTR=(ctr --address "$D/containerd.sock" --namespace k8s.io)
  CRICTL=("$CRICTL_BIN" --config /dev/null --runtime-endpoint "unix://$D/containerd.sock"
    --image-endpoint "unix://$D/containerd.sock" --timeout 30s)
  local i
  for ((i = 0; i < 300; i++)); do
    "${CRICTL[@]}" info >/dev/null 2>&1 && return 0
    kill -0 "$CONTAINERD_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "containerd did not answer on $D/containerd.sock; its log ends:" >&2
  tail -n 20 "$D/containerd.log" >&2
  return 1
}

# remove_pods: every pod (and so its containers) left in containerd; then
# the containers and images ctr sees in the namespace.
remove_pods() {
  [ -S "$D/containerd.sock" ] || return 0
  timeout -k 5 120 "${CRICTL[@]}" rmp -a -f >/dev/null 2>&1
  local c
  for c in $(timeout 30 "${CTR[@]}" containers ls -q 2>/dev/null); do
    timeout 30 "${CTR[@]}" task rm -f "$c" >/dev/null 2>&1
    timeout 30 "${CTR[@]}" containers rm "$c" >/dev/null 2>&1
  done
}

# stop_containerd: SIGTERM, up to 20 s, then SIGKILL.
stop_containerd() {
  local pid=$CONTAINERD_PID i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  CONTAINERD_PID=
}

# cri_cgroups: the cgroup directories of CRI containers ("...cri-containerd...",
# or test.slice, critest's pod parent, should a runtime make it a directory)
# and of the exit check (berth-cri-exit-*) under every hierarchy, one a line.
cri_cgroups() {
  find /sys/fs/cgroup/ -mindepth 1 -maxdepth 5 -type d \
    \( -name '*cri-containerd*' -o -name test.slice -o -name 'berth-cri-exit-*' \) \
    -prune 2>/dev/null | sort
}

# shm_segments: the ids of the host's System V shared memory segments
# that nothing has attached, one a line.
shm_segments() { awk 'NR > 1 && $7 == 0 { print $2 }' /proc/sysvipc/shm | sort; }

# sweep: what a crash or a failed delete left. Processes whose command line
# names $T (shims, containerd), processes in the CRI cgroups made during the
# run, mounts under $T (rootfs, netns, shm), the CRI cgroups made during the
# run, the bridge if we made it, the shims' sockets, the shared memory
# segments critest's HostIpc specs make on the host (ipcmk) and leave, $T
# itself.
sweep() {
  local pid m f
  case $T in /tmp/berth-cri.?*) ;; *) return 1 ;; esac # never sweep for an empty $T
  for f in $(comm -13 "$T/cgroups.before" <(cri_cgroups)); do
    find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  done
  for pid in $(grep -lsF -- "$T" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
  done
  sleep 0.5
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  for f in $(comm -13 "$T/cgroups.before" <(cri_cgroups) | sort -r); do
    find "$f" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -n "${MADE_BRIDGE:-}" ] && ip link del "$BRIDGE" 2>/dev/null
  for f in $(comm -13 "$T/shm.before" <(shm_segments)); do ipcrm -m "$f" 2>/dev/null; done
  # containerd 1.6 puts the shims' sockets in /run/containerd/s, named by
  # sha256(address/namespace/id); a killed shim leaves its socket. The ids
  # are those of the task dirs containerd logged.
  local id
  for id in $(grep -oE 'io\.containerd\.runtime\.v2\.task/k8s\.io/[0-9a-f]{64}' "$D/containerd.log" 2>/dev/null | cut -d/ -f3 | sort -u); do
    rm -f "/run/containerd/s/$(printf '%s' "$D/containerd.sock/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
  done
  [ -n "${MADE_RUN_CONTAINERD:-}" ] && rm -rf /run/containerd
  rm -rf "$T"
}

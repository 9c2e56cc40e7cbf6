# rootless.sh: rootless podman with the runtime under test (sourced by
# run.sh as the client "podman-rootless"). A throwaway user (useradd, with
# /etc/subuid and /etc/subgid ranges) runs podman with its own storage, the
# cgroupfs manager and the runtime copied into its home (run.sh's logging
# wrapper lives in a directory the user cannot reach); podman runs the
# runtime as root of the user's namespace. Checks: load, run (root inside,
# mapped to the user), run -d with a published port through podman's
# rootless networking, exec, stop, rm, and that the runtime under test ran
# the container. The user and all it left are removed at the end.

rootless_podman_suite() {
  CLIENT=podman-rootless
  local user home uid rt name
  user=berth-rlp-$$ home=/home/berth-rlp-$$
  if ! useradd -m -s /bin/sh "$user" 2>/dev/null; then
    skip "rootless podman" "useradd $user failed"
    return
  fi
  at_end "rootless_podman_remove $user"
  uid=$(id -u "$user")
  grep -q "^$user:" /etc/subuid || { skip "rootless podman" "useradd gave $user no /etc/subuid range"; return; }
  name=$(basename "$RUNTIME")
  mkdir -p "$home/run" "$home/bin" "$home/www"
  chmod 700 "$home/run"
  cp "$RUNTIME" "$home/bin/$name"
  cp "$IMAGE_TAR" "$home/image.tar"
  echo hello-rootless > "$home/www/index.html"
  chown -R "$user:" "$home"
  rt=$home/bin/$name
  CLI=(setpriv --reuid "$uid" --regid "$uid" --clear-groups
    env -i -C "$home" HOME="$home" USER="$user" LOGNAME="$user" XDG_RUNTIME_DIR="$home/run" PATH=/usr/bin:/bin:/usr/sbin:/sbin
    podman --runtime "$rt" --cgroup-manager cgroupfs --events-backend file)
  runstep "$STEP_TIMEOUT" "${CLI[@]}" load -i "$home/image.tar"
  expect "podman load (the user's storage)" 0 "$IMAGE_REF"
  [ "$RC" = 0 ] || return
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run --rm "$IMAGE_REF" sh -c 'echo "uid=$(id -u) map=$(head -n 1 /proc/self/uid_map)"'
  expect "run: root inside, mapped to the user" 0 "uid=0 map= *0 +$uid +1\$"
  local port=$((20000 + $$ % 20000))
  runstep "$STEP_TIMEOUT" "${CLI[@]}" run -d --name web -p "127.0.0.1:$port:8080" -v "$home/www:/www" \
    "$IMAGE_REF" httpd -f -p 8080 -h /www
  expect "run -d with a published port" 0
  runstep "$STEP_TIMEOUT" "${CLI[@]}" inspect -f '{{.OCIRuntime}}' web
  expect "the runtime under test runs it" 0 "^$rt\$"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" exec web sh -c 'echo exec-ok; id -u'
  expect "exec" 0 "exec-ok"
  check "published port (rootless networking)" "curl on 127.0.0.1:$port did not get the page" \
    poll 10 sh -c "curl -s --max-time 2 http://127.0.0.1:$port/ | grep -q hello-rootless"
  runstep "$STEP_TIMEOUT" "${CLI[@]}" stop -t 2 web
  expect "stop" 0
  runstep "$STEP_TIMEOUT" "${CLI[@]}" rm web
  expect "rm" 0
  runstep "$STEP_TIMEOUT" "${CLI[@]}" ps -a -q
  expect "nothing left in podman" 0 '^$'
}

# rootless_podman_remove USER: kill what the user (or its subordinate uids)
# still runs, by PID, then remove it, its home and its subordinate ids.
rootless_podman_remove() {
  local user=$1 uid sub pid i
  uid=$(id -u "$user" 2>/dev/null) || return 0
  sub=$(awk -F: -v u="$user" '$1 == u { print $2 }' /etc/subuid)
  for i in 1 2 3; do
    for pid in $(ps -eo pid=,uid= | awk -v u="$uid" -v s="${sub:-0}" '$2 == u || (s > 0 && $2 >= s && $2 < s + 65536) { print $1 }'); do
      kill -9 "$pid" 2>/dev/null
    done
    sleep 0.3
  done
  awk -v h="/home/$user/" 'index($5, h) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  userdel -r "$user" >/dev/null 2>&1
  sed -i "/^$user:/d" /etc/subuid /etc/subgid
}

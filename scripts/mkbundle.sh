#!/bin/sh
# mkbundle.sh DIR [ARGS...]: make an OCI bundle in DIR from Debian's
# busybox-static: DIR/rootfs with busybox and its applets, and DIR/config.json
# from `berth spec` without a terminal, running ARGS (default: a greeting).
set -eu
dir=${1:?usage: mkbundle.sh DIR [ARGS...]}
shift
berth=${BERTH:-$(dirname "$0")/../berth}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkbundle: $busybox not found: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev"
cp "$busybox" "$dir/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
echo 'root:x:0:' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$berth" spec --bundle "$dir"
if [ $# -eq 0 ]; then
  set -- sh -c 'echo "hello from berth: $(hostname), pid $$, $(uname -sr)"'
fi
args=""
for a in "$@"; do
  esc=$(printf '%s' "$a" | sed 's/\\/\\\\/g; s/"/\\"/g')
  args="$args${args:+, }\"$esc\""
done
sed -i "s|\"terminal\": true|\"terminal\": false|; s|^\(\t*\)\"sh\"$|\1$(printf '%s' "$args" | sed 's/[\\|&]/\\&/g')|" "$dir/config.json"

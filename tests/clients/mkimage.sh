#!/bin/bash
# mkimage.sh OUT.tar [REF]: build a one-layer container image from Debian's
# busybox-static, without a registry, as a docker-archive tarball (the format
# of `docker save`). All three clients load it: `ctr images import`,
# `podman load` and `docker load`.
#
# Layout of the tarball:
#   manifest.json          [{"Config": "<cfg>.json", "RepoTags": [REF], "Layers": ["<l>/layer.tar"]}]
#   <cfg>.json             image config; <cfg> = sha256 of this file
#   <l>/layer.tar          the root filesystem; <l> = sha256 of layer.tar (= its diff_id)
#
# The layer is reproducible: entries sorted, owned by 0:0, mtime 0.
set -euo pipefail
out=${1:?usage: mkimage.sh OUT.tar [REF]}
ref=${2:-localhost/berth-test/busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkimage: $busybox not found: apt-get install busybox-static" >&2; exit 1; }
# (busybox-static's /bin/busybox needs no libc: the image holds nothing else.)

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
arc=$work/archive
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root} "$arc"
chmod 1777 "$root/tmp"

# busybox and one symlink per applet, as scripts/mkbundle.sh does.
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"

# The layer, reproducibly.
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
    -C "$root" -cf "$work/layer.tar" .
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir "$arc/$layer"
mv "$work/layer.tar" "$arc/$layer/layer.tar"

# The image config: what a client turns into config.json's process.
cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           "Cmd":["sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/clients/mkimage.sh: busybox-static"}]}
EOF
cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$arc/$cfg.json"

printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
  "$cfg" "$ref" "$layer" > "$arc/manifest.json"

tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
    -C "$arc" -cf "$out" manifest.json "$cfg.json" "$layer"
echo "mkimage: $out: $ref (layer sha256:$layer)"

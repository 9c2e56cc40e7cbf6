#!/bin/sh
# mkimage.sh LAYOUT ROOTFS [CMD...]: an OCI image layout in LAYOUT holding one
# image tagged "bench": ROOTFS as its one (uncompressed) layer, CMD (default
# /bin/true) as its Cmd. For `berth image pull oci:LAYOUT:bench`; needs only
# tar, sha256sum and jq.
set -eu
lay=${1:?usage: mkimage.sh LAYOUT ROOTFS [CMD...]}
rootfs=${2:?usage: mkimage.sh LAYOUT ROOTFS [CMD...]}
shift 2
[ $# -gt 0 ] || set -- /bin/true
mkdir -p "$lay/blobs/sha256"
blob() { # FILE: move FILE into blobs/ and print its digest and size
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$lay/blobs/sha256/$d"
	echo "sha256:$d $s"
}
tar -C "$rootfs" --numeric-owner --sort=name -cf "$lay/layer.tmp" .
set -- "$(jq -cn '$ARGS.positional' --args "$@")"
read -r ldig lsize <<EOT
$(blob "$lay/layer.tmp")
EOT
jq -cn --arg l "$ldig" --argjson cmd "$1" \
	'{architecture: "amd64", os: "linux", config: {Cmd: $cmd}, rootfs: {type: "layers", diff_ids: [$l]}}' >"$lay/config.tmp"
read -r cdig csize <<EOT
$(blob "$lay/config.tmp")
EOT
jq -cn --arg c "$cdig" --argjson cs "$csize" --arg l "$ldig" --argjson ls "$lsize" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
	  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
	  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}' >"$lay/manifest.tmp"
read -r mdig msize <<EOT
$(blob "$lay/manifest.tmp")
EOT
jq -cn --arg m "$mdig" --argjson ms "$msize" \
	'{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
	  annotations: {"org.opencontainers.image.ref.name": "bench"}}]}' >"$lay/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"

#!/bin/bash
# mkinitramfs.sh KVER: build (once) the berth test VM's initramfs for kernel
# KVER and print its path.
#
# The initramfs holds busybox-static, stage 1 (init) and stage 2 (guest.sh),
# and the modules that the guest needs before it can see the host's root:
# virtio-pci, 9p over virtio, overlayfs, virtio-rng; each with its
# dependencies, copied from /lib/modules/KVER and listed in load order.
#
# The result is cached in $VM_CACHE (default /var/cache/berth-vm) under a
# name that hashes every input, so a change to the scripts, busybox or the
# kernel's modules builds a new one.
set -euo pipefail

kver=${1:?usage: mkinitramfs.sh KVER}
here=$(cd "$(dirname "$0")" && pwd)
cache=${VM_CACHE:-/var/cache/berth-vm}
busybox=${BUSYBOX:-/bin/busybox}

# The modules stage 1 loads; their dependencies are found below.
wanted="virtio_pci 9pnet_virtio 9p overlay virtio_rng"

# deps_first MOD: print MOD's dependencies (recursively), then MOD, each
# once: that is the order insmod needs.
declare -A seen=()
order=()
deps_first() {
  local mod=$1 dep
  [ -n "${seen[$mod]:-}" ] && return
  seen[$mod]=1
  for dep in $(modinfo -k "$kver" -F depends "$mod" | tr ',' ' '); do
    deps_first "$dep"
  done
  order+=("$mod")
}
for mod in $wanted; do
  deps_first "$mod"
done

files=()
for mod in "${order[@]}"; do
  files+=("$(modinfo -k "$kver" -n "$mod")")
done

# The cache key covers everything that goes in.
key=$( (echo "$kver ${order[*]}"; cat "$here/init" "$here/guest.sh" "$0" \
  "$busybox" "${files[@]}") | sha256sum | cut -c1-16)
out=$cache/initramfs-$kver-$key.cpio.gz
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

echo "berth-vm: building $out (modules: ${order[*]})" >&2
mkdir -p "$cache"
tree=$(mktemp -d "$cache/tree.XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,dev,proc,sys,lib/modules,host,rw,newroot}
cp "$busybox" "$tree/bin/busybox"
cp "$here/init" "$tree/init"
cp "$here/guest.sh" "$tree/guest.sh"
chmod 0755 "$tree/init" "$tree/bin/busybox"

# Copy each module by its base name, uncompressed (busybox insmod may not
# read .ko.xz / .ko.zst), and write the load order for init.
for f in "${files[@]}"; do
  name=$(basename "$f")
  case "$f" in
    *.ko.xz) xz -dc "$f" > "$tree/lib/modules/${name%.xz}"; name=${name%.xz} ;;
    *.ko.zst) zstd -qdc "$f" > "$tree/lib/modules/${name%.zst}"; name=${name%.zst} ;;
    *.ko.gz) gzip -dc "$f" > "$tree/lib/modules/${name%.gz}"; name=${name%.gz} ;;
    *) cp "$f" "$tree/lib/modules/$name" ;;
  esac
  echo "$name" >> "$tree/lib/modules/load-order"
done

# newc is the format the kernel unpacks; write to a temp name, then rename,
# so a concurrent run never boots a half-written file.
(cd "$tree" && find . -print0 | cpio --null -o -H newc --quiet) |
  gzip -1 > "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
# Old builds for this kernel are stale now.
for old in "$cache"/initramfs-"$kver"-*.cpio.gz; do
  [ "$old" = "$out" ] || rm -f "$old"
done
echo "$out"

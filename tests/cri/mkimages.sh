#!/bin/bash
# mkimages.sh OUT.tar: the images critest needs, built locally from Debian's
# busybox-static (no registry), as one docker-archive tarball that
# `ctr -n k8s.io images import` loads. Every image shares one busybox layer
# and has a small layer of its own (/etc files, a web page).
#
#   localhost/berth-cri/busybox:1.29-2   defaultTestContainerImage (the
#                                        images file); Cmd sh
#   localhost/berth-cri/webserver:1      webServerTestImage: busybox httpd
#                                        on port 80 serving /www/index.html
#   localhost/berth-cri/pause:3.9        containerd's sandbox_image: /pause,
#                                        a script that blocks in the shell's
#                                        read on a fifo, a process named
#                                        pause and no child (critest looks
#                                        for "sleep" in the pod's processes)
#   registry.k8s.io/e2e-test-images/nginx:1.14-2
#   registry.k8s.io/e2e-test-images/httpd:2.4.39-4
#                                        critest names them in its code (no
#                                        flag): busybox httpd on port 80;
#                                        "nginx" is a script of that name
#                                        with "master process" in its
#                                        command line and /var/run/nginx.pid
#   registry.k8s.io/e2e-test-images/nonewprivs:1.3
#                                        critest names it in its code: a
#                                        static setuid-root program (cc
#                                        -static) printing "Effective uid: N"
#   gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest
#                                        critest names it in its code (no
#                                        flag); user default-user (1000),
#                                        member of group-defined-in-image
#                                        (50000) in /etc/group
#
# Layout of the tarball (the format of `docker save`):
#   manifest.json   [{"Config": "<cfg>.json", "RepoTags": [...], "Layers": [...]}, ...]
#   <cfg>.json      image config; <cfg> = its sha256
#   <l>/layer.tar   a layer; <l> = its sha256 (= its diff_id)
# The layers are reproducible: entries sorted, owned by 0:0, mtime 0.
set -euo pipefail
out=${1:?usage: mkimages.sh OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkimages: $busybox not found: apt-get install busybox-static" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-cri-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
arc=$work/archive
mkdir -p "$arc"

# layer DIR: tar DIR reproducibly into the archive; prints its sha256.
layer() {
  local sum
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$1" -cf "$work/layer.tar" .
  sum=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  mkdir -p "$arc/$sum"
  mv "$work/layer.tar" "$arc/$sum/layer.tar"
  echo "$sum"
}

# The base layer: busybox and one hard link per applet, as in the busybox
# image (critest masks /bin/ls: a symlink would mask busybox itself), and
# the two commands critest execs that busybox-static lacks.
base=$work/base
mkdir -p "$base"/{bin,etc,tmp,proc,sys,dev,root,var/run,usr/sbin}
chmod 1777 "$base/tmp"
cp "$busybox" "$base/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -f "$base/bin/busybox" "$base/bin/$applet"
done
cat > "$base/bin/pgrep" <<'EOF'
#!/bin/sh
# pgrep NAME: the pids of the processes whose name holds NAME (busybox-static has no pgrep)
rc=1
for d in /proc/[0-9]*; do
  c=$(cat "$d/comm" 2>/dev/null) || continue
  case $c in *"$1"*) echo "${d#/proc/}"; rc=0 ;; esac
done
exit $rc
EOF
cat > "$base/bin/ipcs" <<'EOF'
#!/bin/sh
# ipcs -m: the System V shared memory segments of this IPC namespace, "key shmid"
# (busybox-static has no ipcs)
echo "key shmid"
awk 'NR > 1 { printf "0x%08x %s\n", $1, $2 }' /proc/sysvipc/shm
EOF
# It stands in for nginx (critest's pid namespace specs): a process named
# nginx, "master process" in its command line, its pid in /var/run/nginx.pid.
cat > "$base/usr/sbin/nginx" <<'EOF'
#!/bin/sh
# not nginx: busybox httpd on port 80, under a process named nginx
trap 'exit 0' TERM INT
echo $$ > /var/run/nginx.pid
httpd -f -p 80 -h /www &
wait
EOF
chmod 755 "$base/bin/pgrep" "$base/bin/ipcs" "$base/usr/sbin/nginx"
base_sum=$(layer "$base")

MANIFEST=()
# image NAME REFS CONFIG: an image of the base layer and the layer made of
# $work/NAME (files written by the caller); CONFIG is the JSON of the image
# config's "config" object; REFS is a space-separated list of tags.
image() {
  local name=$1 refs=$2 config=$3 top cfg tags
  top=$(layer "$work/$name")
  cat > "$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":$config,
 "rootfs":{"type":"layers","diff_ids":["sha256:$base_sum","sha256:$top"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/cri/mkimages.sh: busybox-static"},
            {"created":"1970-01-01T00:00:00Z","created_by":"tests/cri/mkimages.sh: $name"}]}
EOF
  cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  mv "$work/config.json" "$arc/$cfg.json"
  tags=$(printf '"%s",' $refs)
  MANIFEST+=("{\"Config\":\"$cfg.json\",\"RepoTags\":[${tags%,}],\"Layers\":[\"$base_sum/layer.tar\",\"$top/layer.tar\"]}")
}

PATHENV='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
etc() { # etc NAME PASSWD GROUP: NAME's layer with these /etc files
  mkdir -p "$work/$1/etc"
  printf '%b' "$2" > "$work/$1/etc/passwd"
  printf '%b' "$3" > "$work/$1/etc/group"
}
ROOT_PW='root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'
ROOT_GR='root:x:0:\nnogroup:x:65534:\n'

etc busybox "$ROOT_PW" "$ROOT_GR"
image busybox "localhost/berth-cri/busybox:1.29-2" "{$PATHENV,\"Cmd\":[\"sh\"],\"WorkingDir\":\"/\"}"

etc webserver "${ROOT_PW}www-data:x:33:33:www-data:/www:/bin/false\n" "${ROOT_GR}www-data:x:33:\n"
mkdir -p "$work/webserver/www"
echo '<html><body>berth cri test web server</body></html>' > "$work/webserver/www/index.html"
image webserver "localhost/berth-cri/webserver:1" \
  "{$PATHENV,\"Cmd\":[\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"],\"ExposedPorts\":{\"80/tcp\":{}},\"WorkingDir\":\"/\"}"

# critest names these two in its code (no flag replaces them): nginx for
# the pid namespace specs, httpd for the multi-container pod. Both serve
# /www on port 80 with busybox httpd.
for name in nginx httpd; do
  etc $name "${ROOT_PW}www-data:x:33:33:www-data:/www:/bin/false\n" "${ROOT_GR}www-data:x:33:\n"
  mkdir -p "$work/$name/www"
  echo "<html><body>berth cri test $name</body></html>" > "$work/$name/www/index.html"
done
image nginx "registry.k8s.io/e2e-test-images/nginx:1.14-2" \
  "{$PATHENV,\"Cmd\":[\"nginx\",\"nginx: master process\"],\"WorkingDir\":\"/\"}"
image httpd "registry.k8s.io/e2e-test-images/httpd:2.4.39-4" \
  "{$PATHENV,\"Cmd\":[\"sh\",\"-c\",\"echo httpd: serving /www on port 80; exec httpd -f -p 80 -h /www\"],\"WorkingDir\":\"/\"}"

# nonewprivs (named in critest's code): a setuid-root program that prints
# its effective uid, as the original does; busybox drops a setuid bit.
etc nonewprivs "$ROOT_PW" "$ROOT_GR"
mkdir -p "$work/nonewprivs/usr/local/bin"
printf '%s\n' '#include <stdio.h>' '#include <unistd.h>' \
  'int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }' > "$work/nnp.c"
${CC:-cc} -static -O2 -o "$work/nonewprivs/usr/local/bin/nnp" "$work/nnp.c" ||
  { echo "mkimages: cannot build the nonewprivs program with ${CC:-cc} -static" >&2; exit 1; }
chmod 4755 "$work/nonewprivs/usr/local/bin/nnp"
image nonewprivs "registry.k8s.io/e2e-test-images/nonewprivs:1.3" \
  "{$PATHENV,\"Cmd\":[\"/usr/local/bin/nnp\"],\"WorkingDir\":\"/\"}"

etc pause "$ROOT_PW" "$ROOT_GR"
mkfifo "$work/pause/pause.fifo"
printf '%s\n' '#!/bin/sh' '# pause: waits in read on a fifo that nobody writes' \
  "trap 'exit 0' TERM INT" 'exec 3<> /pause.fifo' 'while :; do read -r x <&3; done' > "$work/pause/pause"
chmod 755 "$work/pause/pause"
image pause "localhost/berth-cri/pause:3.9" \
  "{$PATHENV,\"Entrypoint\":[\"/pause\"],\"WorkingDir\":\"/\"}"

etc group "${ROOT_PW}default-user:x:1000:1000::/:/bin/sh\n" \
  "${ROOT_GR}default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"
image group "gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest" \
  "{$PATHENV,\"Cmd\":[\"sh\"],\"User\":\"default-user\",\"WorkingDir\":\"/\"}"

(IFS=,; echo "[${MANIFEST[*]}]") > "$arc/manifest.json"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$arc" -cf "$out" $(ls "$arc")
echo "mkimages: $out: ${#MANIFEST[@]} images"

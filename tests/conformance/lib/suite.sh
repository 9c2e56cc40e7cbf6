# shellcheck shell=bash
# lib/suite.sh: build the OCI runtime-tools validation suite once into the
# cache. Sourced by run.sh; needs HERE (this directory's parent) and CACHE.
#
# Layout of $CACHE/suite-<key>/ (key: suite version, pinned module files, Go
# version, so that changing any of them builds afresh):
#   src/   runtime-tools copied from the Go module cache, plus our go.mod/go.sum
#   bin/   runtimetest, rootfs-amd64.tar.gz and one binary per validation program
#   bin/.complete  written last: a build that died half-way is never used

SUITE_MODULE=github.com/opencontainers/runtime-tools
SUITE_VERSION=v0.9.0

# find_go sets GO: $GO if given, else go on PATH, else Go's default install.
find_go() {
	GO=${GO:-}
	if [[ -z $GO ]]; then
		if command -v go >/dev/null; then GO=go
		elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
		else die "Go not found: put it on PATH or set GO=/path/to/go"
		fi
	fi
}

# suite_build sets SUITE_BIN to a directory holding the built suite, building
# it first unless an identical build is already cached.
suite_build() {
	find_go
	# The pinned module files must build this exact suite; no workspace,
	# no toolchain download, no silent go.mod edits.
	export GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
	local key
	key=$({ echo "$SUITE_VERSION"; cat "$HERE/suite.mod" "$HERE/suite.sum"; "$GO" env GOVERSION; } |
		sha256sum | cut -c1-12)
	local dir=$CACHE/suite-$key
	SUITE_BIN=$dir/bin
	[[ -f $SUITE_BIN/.complete ]] && return 0

	mkdir -p "$CACHE"
	# One builder at a time: a second run waits, then finds the build done.
	exec {lockfd}>"$CACHE/.build.lock"
	flock "$lockfd"
	if [[ -f $SUITE_BIN/.complete ]]; then
		exec {lockfd}>&-
		return 0
	fi
	echo "conformance: building $SUITE_MODULE@$SUITE_VERSION into $dir" >&2
	local modsrc
	modsrc=$(cd "$CACHE" && "$GO" mod download -json "$SUITE_MODULE@$SUITE_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
		die "go mod download $SUITE_MODULE@$SUITE_VERSION failed (is the module proxy reachable?)"
	[[ -d $modsrc/validation ]] || die "module source not found at '$modsrc'"

	rm -rf "$dir"
	mkdir -p "$dir"
	# The module cache is read-only; the copy must be writable to add go.mod.
	cp -r "$modsrc" "$dir/src"
	chmod -R u+w "$dir/src"
	cp "$HERE/suite.mod" "$dir/src/go.mod"
	cp "$HERE/suite.sum" "$dir/src/go.sum"

	mkdir -p "$dir/bin.tmp"
	(
		cd "$dir/src"
		"$GO" mod download
		# runtimetest runs inside the busybox rootfs: it must be static.
		CGO_ENABLED=0 "$GO" build -o "$dir/bin.tmp/runtimetest" ./cmd/runtimetest
		# -o <dir>/ builds every main package below validation/ (not util).
		CGO_ENABLED=0 "$GO" build -o "$dir/bin.tmp/" ./validation/...
	) >&2 || die "building the suite failed (see above)"
	cp "$dir/src/rootfs-amd64.tar.gz" "$dir/bin.tmp/"
	touch "$dir/bin.tmp/.complete"
	mv "$dir/bin.tmp" "$SUITE_BIN"
	exec {lockfd}>&-
}

# suite_programs prints the names of the validation programs, sorted.
suite_programs() {
	local f
	for f in "$SUITE_BIN"/*; do
		case ${f##*/} in runtimetest | rootfs-*.tar.gz) continue ;; esac
		[[ -x $f ]] && echo "${f##*/}"
	done | sort
}

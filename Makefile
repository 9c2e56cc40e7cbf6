# berth: `make` builds ./berth; `make test` runs everything (as root): unit
# tests, integration tests, the OCI conformance suite, and the integration
# tests again in a cgroup v2 guest; `make bench` compares berth with runc.
# Go from /usr/local/go works without it on PATH (a fresh root shell).
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
VERSION ?= 0.1.0
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOFLAGS_BUILD := -trimpath -buildvcs=false -tags osusergo,netgo

.PHONY: all berth test unit fuzz integration conformance clients vm-test test-systemd bench demo clean deps

all: berth

# Where musl-gcc is installed (Debian's musl-tools; scripts/deps.sh installs
# it) berth links musl instead of glibc: a static glibc probes the CPU's
# caches with CPUID at every start, ~0.6 ms per process where CPUID traps to
# a hypervisor, and berth starts two processes per container
# (docs/performance.md). Debian's static libseccomp links with it (see
# seccomp/musl_linux.go); the kernel and libseccomp headers come from
# /usr/include, after musl's own. Without musl-gcc: glibc, as before.
MUSL_GCC := $(shell command -v musl-gcc 2>/dev/null)
SECCOMP_A := $(shell gcc -print-file-name=libseccomp.a 2>/dev/null)
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
ifneq ($(MUSL_GCC),)
BUILD_ENV := CC=musl-gcc CGO_CFLAGS='-O2 -idirafter /usr/include -idirafter /usr/include/$(MULTIARCH)' \
	CGO_LDFLAGS='-L$(CURDIR)/.build/musl'
BUILD_TAGS := ,musl
endif

berth:
ifneq ($(MUSL_GCC),)
	mkdir -p .build/musl && ln -sf $(SECCOMP_A) .build/musl/libseccomp.a
endif
	$(BUILD_ENV) CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD)$(BUILD_TAGS) -ldflags '$(LDFLAGS) -extldflags -static' -o berth .
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '-s -w' -o .build/berth-pull ./image/cmd/berth-pull
	.build/berth-pull --append-to berth

deps:
	./scripts/deps.sh --test

# The README's test command: unit tests, the integration tests that drive the
# built binary against busybox bundles in temporary directories, the OCI
# conformance suite, the real clients, Kubernetes' CRI validation suite
# through containerd, the integration tests again on pure cgroup v2, and
# berth in systemd units with systemd as the guest's PID 1.
test: deps berth unit fuzz integration conformance clients cri vm-test test-systemd

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./libcontainer/... ./rootfs/... ./cgroups/... ./network/... ./internal/... ./seccomp/... ./image/...

# A short run of each fuzz target (config.json, IDs, the init protocol, mount
# options, and jsonlite against encoding/json: the evidence behind jsonlite); the corpus is in */testdata/fuzz. Longer: FUZZ_RUNS=200000.
FUZZ_RUNS ?= 3000
fuzz:
	for t in FuzzParseSpec FuzzValidateID FuzzSyncMessage; do \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZ_RUNS)x ./libcontainer/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseOptions$$' -fuzztime $(FUZZ_RUNS)x ./rootfs/
	$(GO) test -run '^$$' -fuzz '^FuzzSameAsEncodingJSON$$' -fuzztime $(FUZZ_RUNS)x ./internal/jsonlite/

integration: berth
	BERTH_BINARY=$(CURDIR)/berth $(GO) test -count=1 -timeout 20m ./tests/...

# berth vs runc here, then berth vs runc vs crun in the cgroup v2 guest
# (bench/README.md); BENCH_V2=0 skips the guest (~5 minutes under TCG).
BENCH_V2 ?= 1
bench: berth
	./bench/run
	if [ "$(BENCH_V2)" = 1 ]; then ./bench/v2guest; fi

# The OCI runtime-tools validation suite against berth; fails on any failure
# not listed, with its reason, in tests/conformance/expected-failures.txt.
.PHONY: conformance
conformance: berth
	GO=$(GO) ./tests/conformance/run.sh --check berth=$(CURDIR)/berth

# The same suite with runc beside berth, for comparison.
.PHONY: conformance-compare
conformance-compare: berth
	GO=$(GO) ./tests/conformance/run.sh berth=$(CURDIR)/berth runc=$$(command -v runc)

# containerd (ctr), podman and docker from Debian, started by the script,
# with berth as their runtime (tests/clients/README.md); clients-runc is the
# same with runc, to tell a client setup problem from a berth one.
clients: berth
	tests/clients/run.sh all

clients-runc:
	RUNTIME=$$(command -v runc) tests/clients/run.sh all

# Kubernetes' CRI validation suite (critest) through containerd's CRI
# plugin, with the runtime handlers runc and berth (tests/cri/README.md);
# fails if berth fails a spec that passes with runc.
.PHONY: cri
cri: berth
	tests/cri/run.sh

# The integration tests again, in a qemu guest with pure cgroup v2 (this
# host is hybrid): tests/vm/README.md.
vm-test test-v2: berth
	VM_TIMEOUT=$${VM_TIMEOUT:-2700} tests/vm/run.sh -- sh -c 'BERTH_BINARY=$(CURDIR)/berth go test -count=1 -timeout 40m ./tests/...'


# berth as a systemd unit's main process, in the cgroup v2 guest with the
# host's systemd as PID 1 (tests/systemd/run.sh; docs/systemd.md).
test-systemd: berth
	tests/systemd/run.sh

demo: berth
	./scripts/demo.sh

clean:
	rm -f berth

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestBadContainerIDs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	for _, id := range []string{"a/b", "..", ".", "../escape", "with space", "semi;colon", "dollar$", strings.Repeat("x", 300)} {
		e.expectRefused([]string{"invalid container id"}, "create", "--bundle", b, id)
		e.expectRefused([]string{"invalid container id"}, "run", "--bundle", b, id)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) > 0 {
		t.Fatalf("bad IDs left entries in the state root: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.root), "escape")); err == nil {
		t.Fatal("an ID escaped the state root")
	}
}

func TestDuplicateIDIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "100"})
	e.mustBerth("create", "--bundle", b, "dup")
	pid := e.state("dup")["pid"]
	e.expectRefused([]string{"already exists", "dup"}, "create", "--bundle", b, "dup")
	e.expectRefused([]string{"already exists", "dup"}, "run", "--bundle", b, "dup")
	if st := e.state("dup"); st["pid"] != pid || st["status"] != "created" {
		t.Fatalf("the first container was disturbed: %v", st)
	}
}

// Each broken bundle is refused with a message naming the problem, and
// leaves no state, cgroup, mount or process.
func TestBadBundlesAreRefusedCleanly(t *testing.T) {
	e := newEnv(t)
	cg := "berth-test-bad-" + strconv.Itoa(os.Getpid())
	withCG := func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cg }
	type badCase struct {
		name   string
		bundle func() string
		want   []string
	}
	cases := []badCase{
		{"missing bundle", func() string { return "/nonexistent/bundle" }, []string{"/nonexistent/bundle", "no such file"}},
		{"missing config.json", func() string { return t.TempDir() }, []string{"config.json", "no such file"}},
		{"missing rootfs", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" })
		}, []string{"root.path", "no-such-rootfs"}},
		{"malformed JSON", func() string {
			d := e.bundle([]string{"true"})
			os.WriteFile(filepath.Join(d, "config.json"), []byte("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {\n"), 0o644)
			return d
		}, []string{"malformed JSON", "line"}},
		{"wrong JSON type", func() string {
			d := e.bundle([]string{"true"})
			os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"ociVersion": "1.0.0", "process": {"args": "sh"}}`), 0o644)
			return d
		}, []string{"process.args", "line 1"}},
		{"empty args", func() string {
			return e.bundle([]string{}, withCG)
		}, []string{"process.args is empty"}},
		{"executable not found", func() string {
			return e.bundle([]string{"no-such-program"}, withCG)
		}, []string{"no-such-program", "not found"}},
		{"executable path missing", func() string {
			return e.bundle([]string{"/bin/no-such-program"}, withCG)
		}, []string{"/bin/no-such-program", "no such file"}},
		{"unknown namespace", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			})
		}, []string{"unknown namespace type", "bogus"}},
		{"relative cwd", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) { s.Process.Cwd = "tmp" })
		}, []string{"process.cwd", "not absolute"}},
		{"bind source missing", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent/src", Options: []string{"rbind"}})
			})
		}, []string{"/data", "/nonexistent/src"}},
	}
	// Limits the cgroup code refuses before anything exists.
	v2 := func() bool { _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); return err == nil }()
	if v2 {
		cases = append(cases, badCase{"swap below the memory limit", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) {
				lim, swap := int64(64<<20), int64(32<<20)
				s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim, Swap: &swap}}
			})
		}, []string{"memory.swap", "below the memory limit"}})
	} else {
		cases = append(cases, badCase{"swappiness out of range", func() string {
			return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) {
				sw := uint64(101)
				s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: &sw}}
			})
		}, []string{"swappiness 101", "0-100"}})
		if _, err := os.Stat("/sys/fs/cgroup/net_cls"); err != nil {
			cases = append(cases, badCase{"limit for an unmounted controller", func() string {
				return e.bundle([]string{"true"}, withCG, func(s *specs.Spec) {
					id := uint32(0x100001)
					s.Linux.Resources = &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: &id}}
				})
			}, []string{"net_cls", "does not mount"}})
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bundle()
			id := "bad" + strconv.Itoa(i)
			e.expectRefused(tc.want, "create", "--bundle", b, id)
			e.assertNothingLeft(id, cg, b)
			e.expectRefused(tc.want, "run", "--bundle", b, id)
			e.assertNothingLeft(id, cg, b)
		})
	}
}

func TestCommandsOnMissingContainer(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"start", "ghost"}, {"state", "ghost"}, {"kill", "ghost"}, {"kill", "ghost", "KILL"},
		{"delete", "ghost"},
	} {
		e.expectRefused([]string{"ghost", "does not exist"}, args...)
	}
	// As with runc: forcing the removal of what is not there succeeds.
	e.mustBerth("delete", "--force", "ghost")
	e.expectRefused([]string{"missing container ID"}, "start")
	e.expectRefused([]string{"unknown signal"}, "kill", "ghost", "NOSUCHSIG")
}

func TestStartOnlyFromCreated(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "100"})
	e.mustBerth("create", "--bundle", b, "once")
	e.mustBerth("start", "once")
	e.expectRefused([]string{"not in the created state", "running"}, "start", "once")
	e.mustBerth("kill", "once", "KILL")
	e.waitStatus("once", "stopped")
	e.expectRefused([]string{"not in the created state", "stopped"}, "start", "once")
}

func TestTerminalWithoutConsoleSocketIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) { s.Process.Terminal = true })
	e.expectRefused([]string{"--console-socket"}, "create", "--bundle", b, "tty")
	e.assertNothingLeft("tty", "", b)
}

// An unprivileged user that cannot read the bundle gets one clear line
// naming it, and nothing is left (rootless mode itself: rootless_test.go).
func TestUnprivilegedUserUnreadableBundle(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	os.Chmod(b, 0o755)
	root := t.TempDir()
	os.Chmod(root, 0o777)
	cmd := exec.Command(berthBinary, "--root", root, "run", "--bundle", b, "rootless")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bundle "+b) || !strings.Contains(string(out), "permission denied") || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("as uid 65534: %v, %q", err, out)
	}
	if ents, _ := os.ReadDir(root); len(ents) > 0 {
		t.Fatalf("left %v in the state root", ents)
	}
}

// Bad process and rootfs settings, each refused with one line and nothing
// left behind.
func TestBadRuntimeSpecFields(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		edit func(*specs.Spec)
		want []string
	}{
		"rlimit name": {func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_BOGUS", Hard: 1, Soft: 1})
		}, []string{"RLIMIT_BOGUS"}},
		"rootfs propagation": {func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, []string{"rootfsPropagation", "sideways"}},
		"namespace path of the wrong type": {func(s *specs.Spec) {
			setNSPath(s, specs.NetworkNamespace, "/proc/self/ns/mnt")
		}, []string{"/proc/self/ns/mnt"}},
		"hook not executable": {func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/etc/passwd"}}}
		}, []string{"createRuntime hook", "/etc/passwd"}},
		"hook missing": {func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/nonexistent/hook"}}}
		}, []string{"prestart hook", "/nonexistent/hook"}},
		"personality": {func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: "BSD"}
		}, []string{"personality", "BSD"}},
	} {
		b := e.bundle([]string{"true"}, tc.edit, func(s *specs.Spec) { s.Linux.CgroupsPath = "/berth-test-badspec" })
		id := "badspec-" + strings.ReplaceAll(name, " ", "-")
		e.expectRefused(tc.want, "run", "--bundle", b, id)
		e.assertNothingLeft(id, "berth-test-badspec", b)
	}
}

// Package tests holds berth's integration tests. Each drives the built
// binary (BERTH_BINARY, default ../berth) against busybox bundles made in
// temporary directories, with a state root of its own, and removes every
// container, mount and cgroup it made, even when it fails.
package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var berthBinary = func() string {
	if b := os.Getenv("BERTH_BINARY"); b != "" {
		return b
	}
	b, _ := filepath.Abs("../berth")
	return b
}()

const busybox = "/bin/busybox"

// env is one test's world: a state root and the bundles it made.
type env struct {
	t    *testing.T
	root string // --root for every berth call of this test
}

// newEnv makes a state root and registers the cleanup that force-deletes
// every container left in it and then checks that nothing leaked.
func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("integration tests need root")
	}
	if _, err := os.Stat(berthBinary); err != nil {
		t.Fatalf("berth binary %s: %v (run make first)", berthBinary, err)
	}
	if _, err := os.Stat(busybox); err != nil {
		t.Fatalf("%s: %v (apt-get install busybox-static)", busybox, err)
	}
	e := &env{t: t, root: t.TempDir()}
	t.Cleanup(func() {
		ids, _, _ := e.berth("list", "-q")
		for _, id := range strings.Fields(ids) {
			e.berth("delete", "--force", id)
		}
		left, _ := os.ReadDir(e.root)
		if len(left) > 0 {
			t.Errorf("state root %s not empty after cleanup: %d entries", e.root, len(left))
		}
	})
	return e
}

// berth runs the binary with this test's root; it returns stdout, stderr
// and the exit code.
func (e *env) berth(args ...string) (string, string, int) {
	return e.berthIn(nil, args...)
}

// berthIn is berth with stdin. Output goes through files, not pipes: a
// detached container inherits berth's stdio and would hold a pipe open.
func (e *env) berthIn(stdin []byte, args ...string) (string, string, int) {
	e.t.Helper()
	dir := e.t.TempDir()
	files := make([]*os.File, 3)
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	files[0].Write(stdin)
	files[0].Seek(0, 0)
	cmd := exec.Command(berthBinary, append([]string{"--root", e.root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start berth: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			e.t.Fatalf("berth %v: %v", args, err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		e.t.Errorf("berth %v: timed out", args)
	}
	out, _ := os.ReadFile(files[1].Name())
	errs, _ := os.ReadFile(files[2].Name())
	if cmd.ProcessState == nil {
		e.t.FailNow()
	}
	return string(out), string(errs), cmd.ProcessState.ExitCode()
}

// mustBerth runs berth and fails the test unless it exits 0.
func (e *env) mustBerth(args ...string) string {
	e.t.Helper()
	out, errs, code := e.berth(args...)
	if code != 0 {
		e.t.Fatalf("berth %v: exit %d: %s", args, code, errs)
	}
	return out
}

// bundle makes a busybox bundle running args, with the spec adjusted by
// each edit. The default spec is `berth spec` with terminal off.
func (e *env) bundle(args []string, edits ...func(*specs.Spec)) string {
	e.t.Helper()
	dir := e.t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	for _, d := range []string{bin, filepath.Join(dir, "rootfs", "etc"), filepath.Join(dir, "rootfs", "tmp"),
		filepath.Join(dir, "rootfs", "proc"), filepath.Join(dir, "rootfs", "sys"), filepath.Join(dir, "rootfs", "dev")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(bin, applet))
		}
	}
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	e.mustBerth("spec", "--bundle", dir)
	e.editSpec(dir, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = args
	})
	for _, edit := range edits {
		e.editSpec(dir, edit)
	}
	return dir
}

// editSpec rewrites dir/config.json through fn.
func (e *env) editSpec(dir string, fn func(*specs.Spec)) {
	e.t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		e.t.Fatal(err)
	}
	fn(&s)
	if data, err = json.MarshalIndent(&s, "", "  "); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// run runs a bundle in the foreground and returns what the workload printed
// (stdout and stderr together) and berth's exit code.
func (e *env) run(id, bundle string) (string, int) {
	e.t.Helper()
	out, errs, code := e.berth("run", "--bundle", bundle, id)
	return out + errs, code
}

// state returns `berth state id` decoded.
func (e *env) state(id string) map[string]any {
	e.t.Helper()
	out := e.mustBerth("state", id)
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("state %s: %v: %q", id, err, out)
	}
	return st
}

// waitStatus polls until the container has the status, or fails.
func (e *env) waitStatus(id, want string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errs, _ := e.berth("state", id)
		var st map[string]any
		json.Unmarshal([]byte(out), &st)
		if st["status"] == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: status %v, want %s (%s)", id, st["status"], want, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mountsMentioning counts host mounts whose mount point or source contains s.
func mountsMentioning(t *testing.T, s string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), s)
}

// cgroupDirs lists the container's cgroup directories that exist on the host
// for a cgroup named name directly below the root of each hierarchy.
func cgroupDirs(name string) []string {
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if m, _ := filepath.Glob("/sys/fs/cgroup/" + name); len(m) > 0 {
		matches = append(matches, m...)
	}
	return matches
}

// pidAlive reports whether a host process exists and is not a zombie.
func pidAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

func itoa(n int) string { return strconv.Itoa(n) }

// newBerthCmd is an exec.Cmd for berth with this test's root, for tests that
// need to pass descriptors or signal berth itself.
func newBerthCmd(e *env, args ...string) *exec.Cmd {
	return exec.Command(berthBinary, append([]string{"--root", e.root}, args...)...)
}

// ptr is unsafe.Pointer for ioctl arguments.
func ptr[T any](v *T) unsafe.Pointer { return unsafe.Pointer(v) }

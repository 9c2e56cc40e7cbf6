// Package tests holds berth's integration tests. Each drives the built
// binary (BERTH_BINARY, default ../berth) against busybox bundles made in
// temporary directories, with a state root of its own, and removes every
// container, mount and cgroup it made, even when it fails.
package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	t       *testing.T
	root    string          // --root for every berth call of this test
	bundles []string        // made by bundle, checked for mounts at the end
	ids     map[string]bool // created or run by this test, checked for cgroups
}

// newEnv makes a state root and registers the cleanup that force-deletes
// every container left in it and then checks that nothing leaked: no state,
// no init process holding the root or a bundle, no mount under a bundle, and
// no cgroup named after a container it made (checkNothingLeft). Being the
// first cleanup registered, it runs after every cleanup the test adds.
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
	e := &env{t: t, root: t.TempDir(), ids: map[string]bool{}}
	t.Cleanup(func() {
		ids, _, _ := e.berth("list", "-q")
		for _, id := range strings.Fields(ids) {
			e.berth("delete", "--force", id)
		}
		e.checkNothingLeft()
	})
	return e
}

// checkNothingLeft is the end-of-test leak check of newEnv.
func (e *env) checkNothingLeft() {
	t := e.t
	t.Helper()
	if left, _ := os.ReadDir(e.root); len(left) > 0 {
		t.Errorf("state root %s not empty after cleanup: %d entries", e.root, len(left))
	}
	dirs := append([]string{e.root}, e.bundles...)
	if !waitUntil(5*time.Second, func() bool { return len(initProcesses(dirs...)) == 0 }) {
		t.Errorf("berth init processes left behind: %v", initProcesses(dirs...))
	}
	for _, b := range e.bundles {
		if n := mountsMentioning(t, b); n > 0 {
			t.Errorf("%d mounts under bundle %s left behind", n, b)
		}
	}
	for id := range e.ids {
		if d := cgroupDirs(id); len(d) > 0 {
			t.Errorf("cgroup of container %s left behind: %v", id, d)
		}
	}
}

// noteID remembers the container a create or run names (its last argument),
// so that checkNothingLeft looks for its default cgroup.
func (e *env) noteID(args []string) {
	if len(args) < 2 || (args[0] != "create" && args[0] != "run") {
		return
	}
	id := args[len(args)-1]
	if validTestID.MatchString(id) && id != "." && id != ".." {
		e.ids[id] = true
	}
}

var validTestID = regexp.MustCompile(`^[A-Za-z0-9_.+-]{1,128}$`)

// waitUntil polls cond every 10 ms until it holds or the timeout passes; it
// reports whether it held. Use it instead of a fixed sleep.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor is waitUntil that fails the test, naming what never happened.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
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
	e.noteID(args)
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
	e.bundles = append(e.bundles, dir)
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
	var st map[string]any
	var errs string
	if !waitUntil(10*time.Second, func() bool {
		var out string
		out, errs, _ = e.berth("state", id)
		st = nil
		json.Unmarshal([]byte(out), &st)
		return st["status"] == want
	}) {
		e.t.Fatalf("container %s: status %v, want %s (%s)", id, st["status"], want, errs)
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

// expectRefused runs berth, wants a non-zero exit and exactly one line on
// stderr containing each of want.
func (e *env) expectRefused(want []string, args ...string) {
	e.t.Helper()
	out, errs, code := e.berth(args...)
	if code == 0 {
		e.t.Errorf("berth %v succeeded (%q); want a refusal", args, out)
		return
	}
	if lines := strings.Split(strings.TrimRight(errs, "\n"), "\n"); len(lines) != 1 {
		e.t.Errorf("berth %v: want one line of error, got %d: %q", args, len(lines), errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			e.t.Errorf("berth %v: error %q does not mention %q", args, errs, w)
		}
	}
}

// assertNothingLeft checks that no trace of container id remains: state
// dir, cgroup (named cg), init process, or mount under the bundle.
func (e *env) assertNothingLeft(id, cg, bundle string) {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		e.t.Errorf("state dir of %s left behind", id)
	}
	if cg != "" {
		if dirs := cgroupDirs(cg); len(dirs) > 0 {
			e.t.Errorf("cgroup left behind: %v", dirs)
		}
	}
	if bundle != "" && mountsMentioning(e.t, bundle) > 0 {
		e.t.Errorf("mounts under %s left behind", bundle)
	}
	if pids := initProcesses(e.root, bundle); len(pids) > 0 {
		e.t.Errorf("berth init processes left behind: %v", pids)
	}
}

// initProcesses lists the host PIDs of "berth init" processes that hold a
// file under one of dirs: this test's state root or bundles (other tests and tools may
// run their own containers on the same machine).
func initProcesses(dirs ...string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if string(cmd) == "berth\x00init\x00" && pidAlive(pid) && holdsPathUnder(pid, dirs...) {
			out = append(out, pid)
		}
	}
	return out
}

// holdsPathUnder reports whether the process has its cwd or an open file
// under one of dirs.
func holdsPathUnder(pid int, dirs ...string) bool {
	base := "/proc/" + strconv.Itoa(pid)
	links := []string{base + "/cwd"}
	fds, _ := os.ReadDir(base + "/fd")
	for _, fd := range fds {
		links = append(links, base+"/fd/"+fd.Name())
	}
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if d != "" && strings.HasPrefix(target, d) {
				return true
			}
		}
	}
	return false
}

// waitFileContains waits until the file at path contains s.
func waitFileContains(t *testing.T, path, s string) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s to contain %q", path, s), func() bool {
		data, _ := os.ReadFile(path)
		return strings.Contains(string(data), s)
	})
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(data))
}

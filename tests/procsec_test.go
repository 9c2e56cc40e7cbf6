package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Process security: what berth hands a container's process (descriptors,
// ids, working directory, profiles) and what it refuses.

// berthWithFiles runs berth with extra descriptors (fd 3 on) and a timeout;
// it returns stdout and stderr together and the exit code (-1 on timeout).
func berthWithFiles(e *env, files []*os.File, args ...string) (string, int) {
	e.t.Helper()
	out, err := os.Create(filepath.Join(e.t.TempDir(), "out"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	cmd := newBerthCmd(e, args...)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	code := 0
	select {
	case <-done:
		code = cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		code = -1
	}
	data, _ := os.ReadFile(out.Name())
	return string(data), code
}

// hostMarker makes a host file with a unique content and returns its path
// and the content.
func hostMarker(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host-secret")
	secret := "HOST-SECRET-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

// escapeScript tries to reach path on the host through each descriptor the
// process holds (CVE-2024-21626), and says when it is done.
func escapeScript(path string) []string {
	up := strings.Repeat("../", 20)
	return []string{"sh", "-c", "for n in 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /proc/self/fd/$n/" + up + path + " 2>/dev/null; done; echo ESCAPE-DONE"}
}

// With --preserve-fds N and fewer descriptors open in the caller, the
// numbers beyond are berth's own (the state directory, the Go runtime's
// files): berth refuses, and the workload never runs.
func TestPreserveFDsRefusesBerthsOwn(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle(escapeScript(path))
	for _, verb := range []string{"run", "create"} {
		id := "h1-psfd-" + verb
		out, code := berthWithFiles(e, nil, verb, "--preserve-fds", "3", "--bundle", b, id)
		if code == 0 || strings.Contains(out, secret) || strings.Contains(out, "ESCAPE-DONE") {
			t.Fatalf("%s --preserve-fds 3 with no caller fds: exit %d, output %q; want a refusal before the workload runs", verb, code, out)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "preserved-fd 3") {
			t.Errorf("%s: want one line naming preserved-fd 3, got %q", verb, out)
		}
		e.assertNothingLeft(id, id, b)
		// Nothing can be left holding the container's lock either.
		if _, code := berthWithFiles(e, nil, "start", id); code <= 0 {
			t.Errorf("start %s after the refused create: exit %d, want a quick failure", id, code)
		}
		if _, code := berthWithFiles(e, nil, "delete", "--force", id); code != 0 {
			t.Errorf("delete --force %s after the refused create: exit %d", id, code)
		}
	}
	// One caller fd (3) and a range beyond it: 4 and 5 are not the caller's.
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, code := berthWithFiles(e, []*os.File{f}, "run", "--preserve-fds", "3", "--bundle", b, "h1-psfd-part")
	if code == 0 || strings.Contains(out, secret) || !strings.Contains(out, "preserved-fd 4") {
		t.Fatalf("run --preserve-fds 3 with only fd 3 open: exit %d, output %q", code, out)
	}
	e.assertNothingLeft("h1-psfd-part", "h1-psfd-part", b)
}

// The same for exec, where berth's own descriptors are the container's
// cgroup directory and its v1 tasks files.
func TestExecPreserveFDsRefusesBerthsOwn(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "-d", "--bundle", b, "h1-psfd-exec")
	args := append([]string{"exec", "--preserve-fds", "3", "h1-psfd-exec"}, escapeScript(path)...)
	out, code := berthWithFiles(e, nil, args...)
	if code == 0 || strings.Contains(out, secret) || strings.Contains(out, "ESCAPE-DONE") {
		t.Fatalf("exec --preserve-fds 3 with no caller fds: exit %d, output %q; want a refusal", code, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "preserved-fd") {
		t.Errorf("want one line naming the preserved fd, got %q", out)
	}
	if ps := e.mustBerth("ps", "h1-psfd-exec"); strings.Count(strings.TrimSpace(ps), "\n") != 1 {
		t.Errorf("container runs more than its init after the refused exec:\n%s", ps)
	}
	e.mustBerth("delete", "--force", "h1-psfd-exec")
}

// A count beyond RLIMIT_NOFILE is refused at once, without allocating for it.
func TestPreserveFDsBeyondLimit(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	for _, n := range []string{"2000000", "-1"} {
		e.expectRefused([]string{"--preserve-fds " + n}, "run", "--preserve-fds", n, "--bundle", b, "h1-psfd-big")
		e.assertNothingLeft("h1-psfd-big", "h1-psfd-big", b)
	}
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), "h1-psfd-big2")
	e.expectRefused([]string{"RLIMIT_NOFILE"}, "exec", "--preserve-fds", "2000000", "h1-psfd-big2", "true")
}

// The caller's own descriptors do reach the workload, by run and by exec,
// and only those the caller asked for.
func TestPreserveFDsPassesCallersFD(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in"), []byte("CALLER-FD-CONTENT\n"), 0o644)
	open := func() *os.File {
		f, err := os.Open(filepath.Join(dir, "in"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	// fd 3 is preserved; fd 4, also open in the caller, is not asked for.
	b := e.bundle([]string{"sh", "-c", "cat <&3; test -e /proc/self/fd/4 && echo FD4-LEAKED; echo END"})
	out, code := berthWithFiles(e, []*os.File{open(), open()}, "run", "--preserve-fds", "1", "--bundle", b, "h1-psfd-ok")
	if code != 0 || !strings.Contains(out, "CALLER-FD-CONTENT") || strings.Contains(out, "FD4-LEAKED") || !strings.Contains(out, "END") {
		t.Fatalf("run --preserve-fds 1: exit %d, output %q", code, out)
	}
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), "h1-psfd-ok2")
	out, code = berthWithFiles(e, []*os.File{open(), open()}, "exec", "--preserve-fds", "1", "h1-psfd-ok2",
		"sh", "-c", "cat <&3; test -e /proc/self/fd/4 && echo FD4-LEAKED; echo END")
	if code != 0 || !strings.Contains(out, "CALLER-FD-CONTENT") || strings.Contains(out, "FD4-LEAKED") {
		t.Fatalf("exec --preserve-fds 1: exit %d, output %q", code, out)
	}
}

// While create waits for start, init holds only what it needs: stdio, its
// socket, the exec FIFO, and the Go runtime's own descriptors. Nothing
// of the caller's that was not asked for, no handle on berth's binary or
// a directory.
func TestInitHoldsOnlyItsFDs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	stray, err := os.Open("/dev/null") // the caller's, not preserved
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	files := make([]*os.File, 8) // the stray one lands on fd 10
	files[7] = stray
	if out, code := berthWithFiles(e, files, "create", "--bundle", b, "h1-initfds"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, out)
	}
	pid := int(e.state("h1-initfds")["pid"].(float64))
	ents, err := os.ReadDir("/proc/" + itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		fd, _ := strconv.Atoi(ent.Name())
		target, _ := os.Readlink("/proc/" + itoa(pid) + "/fd/" + ent.Name())
		switch {
		case fd <= 2,
			strings.HasPrefix(target, "socket:"), // the init socket
			strings.HasSuffix(target, "/exec.fifo"),
			target == "anon_inode:[eventpoll]", target == "anon_inode:[eventfd]", // Go's netpoller
			strings.HasPrefix(filepath.Base(target), "cpu.") && strings.HasPrefix(target, "/"): // Go's GOMAXPROCS cgroup files
		default:
			t.Errorf("init holds fd %d -> %q while it waits for start", fd, target)
		}
	}
	e.mustBerth("delete", "--force", "h1-initfds")
}

// noMountNS drops the mount (and cgroup) namespace from a spec: the
// container shares the host's mount table and only has a chroot.
func noMountNS(s *specs.Spec) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace && n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

// exec into a container without a mount namespace starts in the container's
// root, not in the caller's working directory on the host.
func TestExecNoMountNSStartsInsideRoot(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle([]string{"sleep", "1000"}, noMountNS)
	e.mustBerth("run", "-d", "--bundle", b, "h1-nomnt-cwd")
	cmd := newBerthCmd(e, "exec", "h1-nomnt-cwd", "sh", "-c", "cat ./"+filepath.Base(path)+"; pwd; ls")
	cmd.Dir = filepath.Dir(path) // the caller's cwd holds the secret
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), secret) || !strings.Contains(string(out), "bin") {
		t.Fatalf("exec from the host directory of a secret printed %q: want the container's root", out)
	}
	cmd = newBerthCmd(e, "exec", "--cwd", "/etc", "h1-nomnt-cwd", "cat", "passwd")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "nobody:x:65534") || strings.Contains(string(out), "daemon:") {
		t.Fatalf("exec --cwd /etc: %v: %q, want the container's /etc/passwd", err, out)
	}
	e.mustBerth("delete", "--force", "h1-nomnt-cwd")
}

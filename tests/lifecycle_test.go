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

// The workload is PID 1 of its own PID namespace and sees no host process.
func TestWorkloadIsPID1AndSeesNoHostProcess(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "echo pid=$$; ls /proc | grep -c '^[0-9]'"})
	out, code := e.run("pid1", b)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] != "pid=1" {
		t.Fatalf("workload printed %q, want pid=1 and a process count", out)
	}
	// sh and ls (and grep): a handful, not the host's hundreds.
	if n, _ := strconv.Atoi(lines[1]); n < 1 || n > 3 {
		t.Fatalf("workload sees %s processes in /proc, want at most 3", lines[1])
	}
}

func TestHostnameIsConfigured(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"hostname"}, func(s *specs.Spec) { s.Hostname = "berth-test-host" })
	out, code := e.run("host", b)
	if code != 0 || strings.TrimSpace(out) != "berth-test-host" {
		t.Fatalf("hostname printed %q (exit %d), want berth-test-host", out, code)
	}
	if h, _ := os.Hostname(); h == "berth-test-host" {
		t.Fatal("the host's hostname changed")
	}
}

func TestExitCodeComesBack(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0}, {"exit 3", 3}, {"exit 255", 255},
	} {
		b := e.bundle([]string{"sh", "-c", tc.script})
		if out, code := e.run("exit"+strconv.Itoa(tc.want), b); code != tc.want {
			t.Errorf("%q: exit %d, want %d (%s)", tc.script, code, tc.want, out)
		}
	}
}

// A foreground run forwards the signals it gets to the workload, and reports
// a death by signal N as 128+N.
func TestRunForwardsSignalsAndReportsSignalDeath(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done"})
	for _, tc := range []struct {
		name string
		send func(cmd *exec.Cmd, id string)
		want int
	}{
		{"SIGTERM to berth run", func(cmd *exec.Cmd, id string) { cmd.Process.Signal(syscall.SIGTERM) }, 42},
		{"berth kill KILL", func(cmd *exec.Cmd, id string) { e.mustBerth("kill", id, "KILL") }, 128 + 9},
	} {
		id := "sig" + strconv.Itoa(tc.want)
		cmd := exec.Command(berthBinary, "--root", e.root, "run", "--bundle", b, id)
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(id, "running")
		waitFileContains(t, out.Name(), "ready")
		tc.send(cmd, id)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != tc.want {
			data, _ := os.ReadFile(out.Name())
			t.Errorf("%s: exit %d, want %d; output %q", tc.name, code, tc.want, data)
		}
	}
}

func TestReadonlyBindMountRefusesWrites(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "file"), []byte("from host\n"), 0o644)
	b := e.bundle([]string{"sh", "-c", "cat /data/file; echo x > /data/new && echo WROTE; echo y > /rw/new && echo RW-OK"},
		func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
				specs.Mount{Destination: "/rw", Type: "bind", Source: t.TempDir(), Options: []string{"bind", "rw"}})
		})
	out, _ := e.run("robind", b)
	if !strings.Contains(out, "from host") {
		t.Fatalf("bind mount content not visible: %q", out)
	}
	if strings.Contains(out, "WROTE") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("write to ro bind mount was not refused: %q", out)
	}
	if _, err := os.Stat(filepath.Join(src, "new")); err == nil {
		t.Fatal("file appeared in the host directory behind the ro mount")
	}
	if !strings.Contains(out, "RW-OK") {
		t.Fatalf("write to rw bind mount failed: %q", out)
	}
}

// create -> created, start -> running, the workload exits -> stopped, and
// delete leaves no state, cgroup or process.
func TestStateTransitionsAndDeleteLeavesNothing(t *testing.T) {
	e := newEnv(t)
	cg := "berth-test-lifecycle-" + strconv.Itoa(os.Getpid())
	b := e.bundle([]string{"sh", "-c", "read line; echo got $line"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cg })
	if out, errs, code := e.berthIn([]byte{}, "create", "--bundle", b, "life"); code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	st := e.state("life")
	if st["status"] != "created" {
		t.Fatalf("after create: status %v", st["status"])
	}
	pid := int(st["pid"].(float64))
	if !pidAlive(pid) {
		t.Fatalf("init pid %d is not alive after create", pid)
	}
	if len(cgroupDirs(cg)) == 0 {
		t.Fatalf("no cgroup %s after create", cg)
	}
	e.mustBerth("start", "life")
	// stdin of create was empty: read gets EOF and the workload exits.
	e.waitStatus("life", "stopped")
	if st := e.state("life"); st["pid"].(float64) != 0 {
		t.Fatalf("stopped container reports pid %v", st["pid"])
	}
	e.mustBerth("delete", "life")
	if _, _, code := e.berth("state", "life"); code == 0 {
		t.Fatal("state of a deleted container succeeded")
	}
	if dirs := cgroupDirs(cg); len(dirs) > 0 {
		t.Fatalf("cgroup left after delete: %v", dirs)
	}
	if pidAlive(pid) {
		t.Fatalf("init pid %d alive after delete", pid)
	}
	if _, err := os.Stat(filepath.Join(e.root, "life")); !os.IsNotExist(err) {
		t.Fatalf("state dir left after delete: %v", err)
	}
}

func TestRunningContainerKillAndDeleteForce(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "--detach", "--bundle", b, "sleeper")
	e.waitStatus("sleeper", "running")
	pid := int(e.state("sleeper")["pid"].(float64))
	if _, errs, code := e.berth("delete", "sleeper"); code == 0 || !strings.Contains(errs, "running") {
		t.Fatalf("delete of a running container: exit %d, %q; want a refusal naming its status", code, errs)
	}
	e.mustBerth("kill", "sleeper", "KILL")
	e.waitStatus("sleeper", "stopped")
	if pidAlive(pid) {
		t.Fatal("killed init still alive")
	}
	e.mustBerth("delete", "sleeper")

	e.mustBerth("run", "-d", "-b", b, "sleeper2")
	pid = int(e.state("sleeper2")["pid"].(float64))
	e.mustBerth("delete", "--force", "sleeper2")
	if pidAlive(pid) {
		t.Fatal("delete --force left the init alive")
	}
}

func TestListShowsContainers(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("create", "--bundle", b, "listed-a")
	e.mustBerth("create", "--bundle="+b, "listed-b")
	q := strings.Fields(e.mustBerth("list", "-q"))
	if strings.Join(q, ",") != "listed-a,listed-b" {
		t.Fatalf("list -q: %v", q)
	}
	table := e.mustBerth("list")
	if !strings.HasPrefix(table, "ID") || !strings.Contains(table, "listed-a") || !strings.Contains(table, "created") {
		t.Fatalf("list table: %q", table)
	}
	js := e.mustBerth("list", "--format", "json")
	if !strings.Contains(js, `"id":"listed-b"`) || !strings.Contains(js, `"status":"created"`) {
		t.Fatalf("list json: %q", js)
	}
}

// --no-pivot moves the rootfs onto / and chroots instead of pivot_root; the
// workload still sees only its rootfs. --no-new-keyring keeps the caller's
// session keyring.
func TestNoPivotAndNoNewKeyring(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"})
	os.WriteFile(filepath.Join(b, "rootfs", "marker-no-pivot"), nil, 0o644)
	out, _, code := e.berth("run", "--no-pivot", "--no-new-keyring", "--bundle", b, "nopivot")
	if code != 0 || !strings.Contains(out, "marker-no-pivot") || strings.Contains(out, "work") {
		t.Fatalf("--no-pivot: exit %d, root listing %q", code, out)
	}
}

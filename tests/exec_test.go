package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startSleeper runs a detached container whose init writes a marker file
// in its own /tmp, and returns its ID.
func startSleeper(e *env, id string, edits ...func(*specs.Spec)) {
	e.t.Helper()
	edits = append(edits, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Hostname = "exec-host"
	})
	b := e.bundle([]string{"sh", "-c", "echo from-init > /tmp/marker; exec sleep 1000"}, edits...)
	e.mustBerth("run", "--detach", "--bundle", b, id)
	e.waitStatus(id, "running")
}

func TestExecJoinsTheContainer(t *testing.T) {
	e := newEnv(t)
	// With a cgroup namespace (berth spec adds one only on cgroup v2
	// hosts, as runc): the exec'd process must see init's cgroup as "/".
	startSleeper(e, "ex", func(s *specs.Spec) {
		for _, n := range s.Linux.Namespaces {
			if n.Type == specs.CgroupNamespace {
				return
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	})
	initPid := int(e.state("ex")["pid"].(float64))
	out := e.mustBerth("exec", "ex", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; cat /tmp/marker; cat /proc/self/cgroup")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != "sleep 1000" || lines[1] != "exec-host" || lines[2] != "from-init" {
		t.Fatalf("exec does not see the container's PID 1, hostname and files: %q", out)
	}
	hostCgroup, _ := os.ReadFile("/proc/" + strconv.Itoa(initPid) + "/cgroup")
	for _, l := range strings.Split(strings.TrimSpace(string(hostCgroup)), "\n") {
		if strings.Contains(l, ":memory:") || strings.Contains(l, ":pids:") {
			// The container has a cgroup namespace: its init's cgroup is "/".
			ctrl := strings.Split(l, ":")[1]
			if !strings.Contains(out, ":"+ctrl+":/\n") {
				t.Errorf("exec'd process not in the container's %s cgroup: %q", ctrl, out)
			}
		}
	}
}

func TestExecExitCodeUserEnvCwd(t *testing.T) {
	e := newEnv(t)
	startSleeper(e, "ex2")
	out, _, code := e.berth("exec", "-u", "65534:65534", "-g", "10", "-e", "FOO=bar", "--cwd", "/tmp", "ex2",
		"sh", "-c", "id -u; id -g; id -G; echo $FOO; pwd; exit 7")
	if code != 7 {
		t.Fatalf("exit %d, want 7 (%q)", code, out)
	}
	if f := strings.Fields(out); len(f) != 6 || f[0] != "65534" || f[1] != "65534" || f[3] != "10" || f[4] != "bar" || f[5] != "/tmp" {
		t.Fatalf("exec'd process saw %q: want uid/gid 65534, groups incl. 10, FOO=bar, cwd /tmp", out)
	}
}

func TestExecDetachedWithPidFileAndProcessJSON(t *testing.T) {
	e := newEnv(t)
	startSleeper(e, "ex3")
	dir := t.TempDir()
	proc := specs.Process{Args: []string{"sh", "-c", "echo $MODE > /tmp/from-process-json; sleep 1000"}, Cwd: "/", Env: []string{"MODE=json"}}
	data, _ := json.Marshal(proc)
	os.WriteFile(filepath.Join(dir, "process.json"), data, 0o644)
	pidFile := filepath.Join(dir, "exec.pid")
	e.mustBerth("exec", "--detach", "--pid-file", pidFile, "--process", filepath.Join(dir, "process.json"), "ex3")
	raw, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(string(raw))
	if err != nil || !pidAlive(pid) {
		t.Fatalf("pid file %q: exec'd process not alive", raw)
	}
	waitFor(t, 5*time.Second, "the process from process.json to run with its env", func() bool {
		out, _, _ := e.berth("exec", "ex3", "cat", "/tmp/from-process-json")
		return strings.TrimSpace(out) == "json"
	})
	e.mustBerth("delete", "--force", "ex3")
	waitFor(t, 5*time.Second, "delete --force to end the exec'd process", func() bool { return !pidAlive(pid) })
}

func TestExecRefusals(t *testing.T) {
	e := newEnv(t)
	startSleeper(e, "ex4")
	e.expectRefused([]string{"nothere", "not found"}, "exec", "ex4", "nothere")
	e.expectRefused([]string{"no command"}, "exec", "ex4")
	e.expectRefused([]string{"--user", "uid"}, "exec", "-u", "root", "ex4", "true")
	e.expectRefused([]string{"does not exist"}, "exec", "ghost", "true")
	e.expectRefused([]string{"--process", "no such file"}, "exec", "--process", "/nonexistent.json", "ex4")
	e.mustBerth("kill", "ex4", "KILL")
	e.waitStatus("ex4", "stopped")
	e.expectRefused([]string{"stopped"}, "exec", "ex4", "true")
}

func TestExecWithTerminal(t *testing.T) {
	e := newEnv(t)
	startSleeper(e, "ex5")
	sock, got := receiveConsole(t)
	e.mustBerth("exec", "-t", "-d", "--console-socket", sock, "ex5", "sh", "-c", "tty; sleep 2")
	select {
	case m := <-got:
		defer m.Close()
		m.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := m.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "/dev/pts/") {
			t.Fatalf("exec'd process's tty: %q", buf[:n])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no terminal arrived on the console socket")
	}
}

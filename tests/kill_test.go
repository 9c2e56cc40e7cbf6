package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// containerd's runc shim (pkg/process/utils.go, checkKillError) treats a
// kill as "already gone" only when the error says "container not running"
// (or "no such process", "does not exist"); it runs `kill --all ID 9` after
// every exit and expects exit 0. These run berth the way go-runc does:
// `kill [--all] ID SIGNAL`, exit code and stderr.
func TestKillStoppedContainerAsContainerdShim(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	e.mustBerth("run", "-d", "-b", b, "h3-kill-stopped")
	e.waitStatus("h3-kill-stopped", "stopped")

	for _, sig := range []string{"9", "KILL", "0"} {
		_, errs, code := e.berth("kill", "h3-kill-stopped", sig)
		// runc 1.1.5: exit 1, "container not running".
		if code != 1 || strings.TrimSpace(errs) != "berth: container not running" {
			t.Errorf("kill of a stopped container with %s: exit %d, %q; want 1 and runc's text \"container not running\"", sig, code, errs)
		}
	}
	for _, args := range [][]string{{"kill", "--all", "h3-kill-stopped", "9"}, {"kill", "-a", "h3-kill-stopped", "0"}, {"kill", "--all", "h3-kill-stopped", "SIGTERM"}} {
		if _, errs, code := e.berth(args...); code != 0 || errs != "" {
			t.Errorf("berth %v on a stopped container: exit %d, %q; want 0 and nothing, as runc", args, code, errs)
		}
	}
	if _, errs, code := e.berth("kill", "h3-kill-nosuch", "9"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Errorf("kill of a missing container: exit %d, %q", code, errs)
	}
	e.mustBerth("delete", "h3-kill-stopped")
}

// Signal 0 is sent (it checks that the process exists) and harms nothing.
func TestKillSignalZero(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "-d", "-b", b, "h3-kill-zero")
	e.waitStatus("h3-kill-zero", "running")
	e.mustBerth("kill", "h3-kill-zero", "0")
	e.mustBerth("kill", "-a", "h3-kill-zero", "0")
	e.waitStatus("h3-kill-zero", "running")
	if _, errs, code := e.berth("kill", "h3-kill-zero", "65"); code == 0 || !strings.Contains(errs, "0-64") {
		t.Errorf("signal 65: exit %d, %q; want a refusal", code, errs)
	}
	e.mustBerth("delete", "-f", "h3-kill-zero")
}

// hostPids is `berth ps --format json`.
func (e *env) hostPids(id string) []int {
	e.t.Helper()
	var pids []int
	if err := json.Unmarshal([]byte(e.mustBerth("ps", "--format", "json", id)), &pids); err != nil {
		e.t.Fatal(err)
	}
	return pids
}

// waitDead fails unless every pid is gone (or a zombie) within 5 s.
func waitDead(t *testing.T, what string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for pidAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: process %d still alive", what, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// SIGKILL to a paused container thaws it so that the processes die, as runc
// does: for init alone and for --all.
func TestKillPausedContainer(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "sleep 1000 & sleep 1000"})
	for _, all := range []bool{false, true} {
		id := "h3-kill-paused"
		args := []string{"kill", id, "KILL"}
		if all {
			id += "-all"
			args = []string{"kill", "--all", id, "KILL"}
		}
		e.mustBerth("run", "-d", "-b", b, id)
		e.waitStatus(id, "running")
		time.Sleep(100 * time.Millisecond) // let sh start its children
		pids := e.hostPids(id)
		if len(pids) < 2 {
			t.Fatalf("%s: want init and its child, got %v", id, pids)
		}
		e.mustBerth("pause", id)
		e.waitStatus(id, "paused")
		e.mustBerth(args...)
		waitDead(t, strings.Join(args, " "), pids)
		e.waitStatus(id, "stopped")
		e.mustBerth("delete", id)
	}
}

// noPIDNamespace drops the container's PID namespace: it shares the host's.
func noPIDNamespace(s *specs.Spec) {
	var keep []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			keep = append(keep, ns)
		}
	}
	s.Linux.Namespaces = keep
}

// With the host's PID namespace, init's death does not take the others
// with it: `kill KILL` kills every process in the container's cgroup, also
// once init is gone (runc 1.2 and later); `kill --all` on a stopped
// container signals what is left.
func TestKillHostPIDNamespaceKillsCgroup(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "sleep 1000 & sleep 1000"}, noPIDNamespace)
	e.mustBerth("run", "-d", "-b", b, "h3-kill-hostpid")
	e.waitStatus("h3-kill-hostpid", "running")
	time.Sleep(100 * time.Millisecond)
	pids := e.hostPids("h3-kill-hostpid")
	if len(pids) < 2 {
		t.Fatalf("want init and its children, got %v", pids)
	}
	e.mustBerth("kill", "h3-kill-hostpid", "KILL")
	waitDead(t, "kill KILL with the host's PID namespace", pids)
	e.mustBerth("delete", "h3-kill-hostpid")

	// init exits and leaves a child behind in the cgroup.
	orphan := e.bundle([]string{"sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & exit 0"}, noPIDNamespace)
	for _, args := range [][]string{{"kill", "h3-kill-orphan", "KILL"}, {"kill", "--all", "h3-kill-orphan", "KILL"}} {
		e.mustBerth("run", "-d", "-b", orphan, "h3-kill-orphan")
		e.waitStatus("h3-kill-orphan", "stopped")
		left := e.hostPids("h3-kill-orphan")
		if len(left) != 1 {
			t.Fatalf("want the orphaned sleep in the cgroup, got %v", left)
		}
		e.mustBerth(args...)
		waitDead(t, strings.Join(args, " ")+" once init is gone", left)
		e.mustBerth("delete", "h3-kill-orphan")
	}
}

// `ps` of a stopped container prints ps's header and no process, exit 0,
// as runc does.
func TestPsStoppedContainer(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	e.mustBerth("run", "-d", "-b", b, "h3-ps-stopped")
	e.waitStatus("h3-ps-stopped", "stopped")
	out := e.mustBerth("ps", "h3-ps-stopped")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "PID") {
		t.Errorf("ps of a stopped container: %q; want only the header", out)
	}
	if js := strings.TrimSpace(e.mustBerth("ps", "-f", "json", "h3-ps-stopped")); js != "[]" {
		t.Errorf("ps -f json of a stopped container: %q", js)
	}
	e.mustBerth("delete", "h3-ps-stopped")
}

// A --root that does not exist is an error (runc 1.2 and later), not an
// empty table, and list does not create it (runc 1.1 did).
func TestListMissingRoot(t *testing.T) {
	newEnv(t)
	missing := filepath.Join(t.TempDir(), "nosuch")
	out, err := exec.Command(berthBinary, "--root", missing, "list").CombinedOutput()
	if err == nil || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), missing) {
		t.Errorf("list --root %s: %v, %q; want one line naming the root", missing, err, out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("list created %s", missing)
	}
}

// Ten concurrent `delete -f` of one container all succeed: a container that
// vanishes while one waits for the lock is what --force asked for.
func TestDeleteForceConcurrent(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	for round := 0; round < 3; round++ {
		e.mustBerth("run", "-d", "-b", b, "h3-race-del")
		e.waitStatus("h3-race-del", "running")
		pids := e.hostPids("h3-race-del")
		var wg sync.WaitGroup
		codes := make([]int, 10)
		errs := make([]string, 10)
		for i := range codes {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := newBerthCmd(e, "delete", "-f", "h3-race-del").CombinedOutput()
				errs[i] = string(out)
				if err != nil {
					codes[i] = 1
				}
			}(i)
		}
		wg.Wait()
		for i, c := range codes {
			if c != 0 {
				t.Errorf("round %d: concurrent delete -f %d failed: %q", round, i, errs[i])
			}
		}
		waitDead(t, "concurrent delete -f", pids)
		if _, err := os.Stat(filepath.Join(e.root, "h3-race-del")); err == nil {
			t.Fatalf("state left after concurrent delete -f")
		}
	}
}

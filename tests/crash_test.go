package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// berthDying runs berth with BERTH_TEST_DIE_AT=step and checks that it did
// die there, by SIGKILL.
func (e *env) berthDying(step string, args ...string) {
	e.t.Helper()
	cmd := newBerthCmd(e, args...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_DIE_AT="+step)
	// A file, not a pipe: an init left behind would hold a pipe open.
	f, err := os.Create(e.t.TempDir() + "/out")
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != -1 {
		e.t.Fatalf("berth %v with %s: %v %q; want it killed at the step", args, step, err, out)
	}
}

// forceDelete removes whatever a dead berth left; "does not exist" is fine.
func (e *env) forceDelete(id string) {
	e.t.Helper()
	if _, errs, code := e.berth("delete", "--force", id); code != 0 && !strings.Contains(errs, "does not exist") {
		e.t.Fatalf("delete --force %s after a crash: %s", id, errs)
	}
	if out := e.mustBerth("list", "-q"); strings.Contains(out, id) {
		e.t.Fatalf("list still shows %s after delete --force", id)
	}
}

// Kill berth at each step of create, start, exec and delete; delete --force
// then leaves no process, cgroup, mount or state, and the ID works again.
func TestKilledAnywhereLeavesNothing(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cg })
	check := func(id string) {
		t.Helper()
		e.forceDelete(id)
		e.assertNothingLeft(id, cg, b)
		e.mustBerth("run", "-d", "--bundle", b, id) // the ID is free again
		e.mustBerth("delete", "--force", id)
		e.assertNothingLeft(id, cg, b)
	}
	steps := []string{"create:state-saved", "create:spawned", "create:plan-sent", "create:ready"}
	if unified() {
		steps = append(steps, "create:cgroup-joined") // on v1 init joins by itself
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			e.berthDying(step, "create", "--bundle", b, "crash")
			check("crash")
			e.berthDying(step, "run", "--bundle", b, "crash") // the foreground path too
			check("crash")
		})
	}
	t.Run("start:fifo-opened", func(t *testing.T) {
		e.mustBerth("create", "--bundle", b, "crash")
		e.berthDying("start:fifo-opened", "start", "crash")
		check("crash")
	})
	t.Run("exec:spawned", func(t *testing.T) {
		e.mustBerth("run", "-d", "--bundle", b, "crash")
		e.berthDying("exec:spawned", "exec", "crash", "sleep", "999")
		time.Sleep(100 * time.Millisecond)
		if out := e.mustBerth("exec", "crash", "ps"); strings.Contains(out, "999") {
			t.Fatalf("a half-made exec left a process: %s", out)
		}
		check("crash")
	})
	for _, step := range []string{"delete:killed", "delete:cgroup-removed"} {
		t.Run(step, func(t *testing.T) {
			e.mustBerth("run", "-d", "--bundle", b, "crash")
			e.berthDying(step, "delete", "--force", "crash")
			check("crash")
		})
	}
}

// A state.json truncated or corrupted on disk gives a clear error, and the
// container can still be deleted with --force.
func TestCorruptStateFile(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	for name, content := range map[string]string{"truncated": `{"ociVersion": "1.`, "garbage": "\x00\x01garbage", "empty": ""} {
		id := "corrupt-" + name
		e.mustBerth("run", "-d", "--bundle", b, id)
		pid := int(e.state(id)["pid"].(float64))
		os.WriteFile(e.root+"/"+id+"/state.json", []byte(content), 0o600)
		e.expectRefused([]string{id, "state is unreadable"}, "state", id)
		e.expectRefused([]string{id, "state is unreadable"}, "delete", id)
		if out, errs, code := e.berth("list"); code != 0 || !strings.Contains(errs, id) {
			t.Fatalf("list with a corrupt entry: exit %d, %q %q; want it listed as a warning", code, out, errs)
		}
		e.mustBerth("delete", "--force", id)
		if _, err := os.Stat(e.root + "/" + id); !os.IsNotExist(err) {
			t.Fatalf("delete --force left the state dir of %s", id)
		}
		// The init itself is orphaned: its record was lost. Clean it up here.
		if pidAlive(pid) {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
}

// A state.json whose recorded spec is damaged (valid JSON, wrong types):
// the commands that do not need the spec still work; exec, which does,
// names the problem; delete --force still removes everything, the init and
// its cgroup included.
func TestCorruptSpecInStateFile(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cg })
	e.mustBerth("run", "-d", "--bundle", b, "badspec")
	path := e.root + "/badspec/state.json"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	pid := int(st["initPid"].(float64))
	st["config"] = map[string]any{"process": "not an object"}
	data, _ = json.Marshal(st)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.state("badspec")["status"]; got != "running" {
		t.Fatalf("state with a damaged spec: status %v, want running", got)
	}
	e.expectRefused([]string{"badspec", "state is unreadable", "config"}, "exec", "badspec", "true")
	e.mustBerth("delete", "--force", "badspec")
	e.assertNothingLeft("badspec", cg, b)
	if pidAlive(pid) {
		t.Fatalf("init %d still alive after delete --force", pid)
	}
}

package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// logHook appends "<name> <state json>" to log; it runs /bin/sh, which both
// the host and the busybox rootfs have.
func logHook(name, log string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "` + name + ` $(cat)" >> ` + log}}
}

func TestHooksRunInOrderWithState(t *testing.T) {
	e := newEnv(t)
	hostLog := filepath.Join(t.TempDir(), "hooks.log")
	b := e.bundle([]string{"sleep", "100"}, func(s *specs.Spec) { s.Root.Readonly = false })
	rootfsLog := filepath.Join(b, "rootfs", "hooks.log")
	e.editSpec(b, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{logHook("prestart", hostLog)},
			CreateRuntime:   []specs.Hook{logHook("createRuntime", hostLog)},
			CreateContainer: []specs.Hook{logHook("createContainer", hostLog)},
			// runs after pivot_root: its paths are the container's
			StartContainer: []specs.Hook{logHook("startContainer", "/hooks.log")},
			Poststart:      []specs.Hook{logHook("poststart", hostLog)},
			Poststop:       []specs.Hook{logHook("poststop", hostLog), {Path: "/bin/false"}},
		}
	})
	e.mustBerth("create", "--bundle", b, "hooked")
	pid := int(e.state("hooked")["pid"].(float64))
	e.mustBerth("start", "hooked")
	e.mustBerth("delete", "--force", "hooked") // the failing poststop hook is only a warning

	data, _ := os.ReadFile(hostLog)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var names []string
	for _, l := range lines {
		name, js, _ := strings.Cut(l, " ")
		names = append(names, name)
		var st specs.State
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("%s hook got no state JSON on stdin: %q", name, js)
		}
		if st.ID != "hooked" || st.Pid != pid || st.Bundle != b {
			t.Errorf("%s hook got state %+v, want id hooked, pid %d, bundle %s", name, st, pid, b)
		}
	}
	if got := strings.Join(names, ","); got != "prestart,createRuntime,createContainer,poststart,poststop" {
		t.Fatalf("host hooks ran as %s", got)
	}
	inside, _ := os.ReadFile(rootfsLog)
	if !strings.HasPrefix(string(inside), "startContainer {") {
		t.Fatalf("startContainer hook did not run inside the container: %q", inside)
	}
}

func TestFailingCreateRuntimeHookAbortsCreate(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/berth-test-hookfail"
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook says no; exit 3"}}}}
	})
	e.expectRefused([]string{"createRuntime hook", "hook says no"}, "create", "--bundle", b, "hookfail")
	e.assertNothingLeft("hookfail", "berth-test-hookfail", b)
}

func TestHookTimeout(t *testing.T) {
	e := newEnv(t)
	one := 1
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
	})
	e.expectRefused([]string{"createContainer hook", "timed out"}, "run", "--bundle", b, "hookslow")
	e.assertNothingLeft("hookslow", "", b)
}

func TestFailingStartContainerHookFailsStart(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "100"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo refused >&2; exit 1"}}}}
	})
	e.mustBerth("create", "--bundle", b, "startfail")
	e.expectRefused([]string{"startContainer hook", "refused"}, "start", "startfail")
	e.waitStatus("startfail", "stopped")
}

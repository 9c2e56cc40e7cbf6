package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// exec exits 255 when it cannot start the process (as runc), so that a
// caller tells "the exec failed" from "the process exited 1"; the
// process's own status passes through.
func TestCLIExecFailureExits255(t *testing.T) {
	e := newEnv(t)
	const id = "h5-cli-exec"
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), id)
	for name, args := range map[string][]string{
		"missing binary":            {"exec", id, "/no/such/binary"},
		"no such container":         {"exec", "h5-cli-nothere", "true"},
		"pid file in a missing dir": {"exec", "--pid-file", filepath.Join(t.TempDir(), "no", "pid"), id, "sleep", "1234"},
		"no command":                {"exec", id},
	} {
		if _, errs, code := e.berth(args...); code != 255 || !strings.HasPrefix(errs, "berth: exec failed: ") {
			t.Errorf("%s: exit %d, %q; want 255 and one line", name, code, errs)
		}
	}
	if out, _ := exec0("pgrep", "-f", "sleep 1234"); out != "" {
		t.Errorf("the exec whose pid file failed left its process: %s", out)
	}
	e.mustBerth("pause", id)
	_, errs, code := e.berth("exec", id, "true")
	e.mustBerth("resume", id)
	if code != 255 || !strings.Contains(errs, "--ignore-paused") {
		t.Errorf("paused: exit %d, %q; want 255", code, errs)
	}
	for want, script := range map[int]string{0: "exit 0", 1: "exit 1", 7: "exit 7", 255: "exit 255"} {
		if _, _, code := e.berth("exec", id, "sh", "-c", script); code != want {
			t.Errorf("exec %q: exit %d, want the process's %d", script, code, want)
		}
	}
	// A missing container ID is a usage error: 1, as runc.
	if _, _, code := e.berth("exec"); code != 1 {
		t.Errorf("exec without arguments: exit %d, want 1", code)
	}
}

// exec0 runs a host command and returns its output.
func exec0(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

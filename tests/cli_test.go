package tests

import (
	"os"
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

// Flags after the container ID, wherever runc (urfave/cli v1) took them;
// for exec and ps what follows the ID is the command's own; "--" ends the
// flags.
func TestCLIFlagsAfterArguments(t *testing.T) {
	e := newEnv(t)
	const id = "h5-cli-flags"
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", id, "--bundle", b, "-d")
	if st := e.state(id); st["status"] != "running" {
		t.Fatalf("run ID --bundle B -d: status %v", st["status"])
	}
	e.mustBerth("update", id, "--pids-limit", "42")
	// v1 or v2, as the container sees its cgroup
	if got := e.mustBerth("exec", id, "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"); strings.TrimSpace(got) != "42" {
		t.Errorf("update ID --pids-limit 42: pids.max %q / %q, want 42", got, pidsMax(id))
	}
	e.mustBerth("update", id, "--pids-limit=43")
	if pm := pidsMax(id); pm != "" && pm != "43" {
		t.Errorf("update ID --pids-limit=43: pids.max %q", pm)
	}
	// exec: -l and -t -e belong to the command, not to berth.
	if out := e.mustBerth("exec", id, "ls", "-l", "/dev/null"); !strings.HasPrefix(out, "crw") {
		t.Errorf("exec ID ls -l: %q; want ls's long listing", out)
	}
	if out := e.mustBerth("exec", id, "sh", "-c", `echo "$@"`, "x", "-t", "-e", "A=1", "--", "-d"); out != "-t -e A=1 -- -d\n" {
		t.Errorf("exec ID sh -c ... -t -e A=1 -- -d: %q", out)
	}
	if out := e.mustBerth("exec", "--env", "A=2", "--", id, "sh", "-c", "echo $A"); out != "2\n" {
		t.Errorf("exec --env A=2 -- ID: %q", out)
	}
	if out := e.mustBerth("ps", id, "-o", "pid,comm"); !strings.Contains(out, "COMMAND") || !strings.Contains(out, "sleep") {
		t.Errorf("ps ID -o pid,comm: %q; want ps's own columns", out)
	}
	// "--" ends the flags: what follows is an argument.
	if _, errs, code := e.berth("update", id, "--", "--pids-limit", "44"); code == 0 || !strings.Contains(errs, "too many arguments") {
		t.Errorf("update ID -- --pids-limit 44: exit %d, %q; want too many arguments", code, errs)
	}
	if pm := pidsMax(id); pm != "" && pm != "43" {
		t.Errorf("after the refused update: pids.max %q, want 43", pm)
	}
	if _, errs, code := e.berth("update", id, "--pids-limit"); code == 0 || !strings.Contains(errs, "--pids-limit needs a value") {
		t.Errorf("update ID --pids-limit: exit %d, %q", code, errs)
	}
	if out := e.mustBerth("state", id, "--help"); !strings.Contains(out, "state") {
		t.Errorf("state ID --help: %q", out)
	}
	e.mustBerth("kill", id, "KILL", "--all")
	e.waitStatus(id, "stopped")
	e.mustBerth("delete", id, "--force")
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Errorf("delete ID --force left the state dir")
	}
}

// pidsMax is the container's v1 pids.max on the host, "" without one.
func pidsMax(id string) string {
	data, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", id, "pids.max"))
	return strings.TrimSpace(string(data))
}

// Every command's -h and --help print its help and exit 0, touching
// nothing (checkpoint and restore used to run and fail); so does
// `help CMD`, and -h after an ID.
func TestCLIHelpEverywhere(t *testing.T) {
	e := newEnv(t)
	list, _, _ := e.berth("--help")
	_, cmds, ok := strings.Cut(list, "Commands:\n")
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	if !ok || cmds == "" {
		t.Fatalf("berth --help lists no commands: %q", list)
	}
	n := 0
	for _, line := range strings.Split(cmds, "\n") {
		name := strings.TrimSuffix(strings.Fields(line)[0], ",")
		n++
		tries := [][]string{{name, "-h"}, {name, "--help"}, {"help", name}}
		if name != "exec" && name != "ps" { // after the ID, -h is exec's and ps's command's
			tries = append(tries, []string{name, "h5-cli-help", "-h"})
		}
		for _, args := range tries {
			out, errs, code := e.berth(args...)
			if code != 0 || !strings.Contains(out, "berth "+name+" - ") || errs != "" {
				t.Errorf("berth %v: exit %d, stdout %.60q, stderr %q; want its help and 0", args, code, out, errs)
			}
		}
	}
	if n < 17 {
		t.Errorf("only %d commands listed", n)
	}
	if left, _ := os.ReadDir(e.root); len(left) != 0 {
		t.Errorf("help left %d entries in the state root", len(left))
	}
}

// --debug writes debug lines for create, start, exec and delete: logrus
// text to stderr, or JSON lines with --log-format json, or to --log.
func TestCLIDebug(t *testing.T) {
	e := newEnv(t)
	const id = "h5-cli-debug"
	b := e.bundle([]string{"sleep", "1000"})
	textLine := func(stderr string) bool {
		for _, l := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(l, "time=") && strings.Contains(l, " level=debug msg=\"") {
				return true
			}
		}
		return false
	}
	for _, step := range [][]string{{"create", "--bundle", b, id}, {"start", id}, {"exec", id, "true"}} {
		if _, errs, code := e.berth(append([]string{"--debug"}, step...)...); code != 0 || !textLine(errs) {
			t.Errorf("--debug %s: exit %d, stderr %q; want level=debug lines", step[0], code, errs)
		}
		if _, errs, _ := e.berth(step[0], "-h"); errs != "" {
			t.Errorf("%s without --debug wrote %q", step[0], errs)
		}
	}
	_, errs, code := e.berth("--debug", "--log-format", "json", "exec", id, "true")
	if code != 0 || !strings.Contains(errs, `{"level":"debug","msg":"`) {
		t.Errorf("--debug --log-format json exec: exit %d, stderr %q; want JSON debug lines", code, errs)
	}
	if _, errs, _ := e.berth("exec", id, "true"); errs != "" {
		t.Errorf("exec without --debug wrote %q", errs)
	}
	logFile := filepath.Join(t.TempDir(), "log.json")
	_, errs, code = e.berth("--debug", "--log", logFile, "--log-format", "json", "delete", "--force", id)
	data, _ := os.ReadFile(logFile)
	if code != 0 || errs != "" || !strings.Contains(string(data), `"level":"debug","msg":"delete: done"`) {
		t.Errorf("--debug --log FILE delete: exit %d, stderr %q, log %q; want the debug lines in the file", code, errs, data)
	}
}

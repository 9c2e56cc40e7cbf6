package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// decoy is a host process that no berth command may touch, with a fake
// cgroup directory (a plain directory, outside cgroupfs) that lists it.
type decoy struct {
	pid   int
	start string // /proc/<pid>/stat field 22
	cg    string
}

func newDecoy(t *testing.T) *decoy {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	d := &decoy{pid: cmd.Process.Pid, start: fields[19], cg: filepath.Join(t.TempDir(), "cg")}
	os.Mkdir(d.cg, 0o755)
	for _, f := range []string{"cgroup.procs", "tasks"} {
		os.WriteFile(filepath.Join(d.cg, f), []byte(strconv.Itoa(d.pid)+"\n"), 0o644)
	}
	return d
}

// untouched fails unless the decoy process lives and its directory is there.
func (d *decoy) untouched(t *testing.T, what string) {
	t.Helper()
	if !pidAlive(d.pid) {
		t.Fatalf("%s: the decoy process %d was killed", what, d.pid)
	}
	if _, err := os.Stat(filepath.Join(d.cg, "cgroup.procs")); err != nil {
		t.Fatalf("%s: the decoy directory was removed: %v", what, err)
	}
}

// plantState writes a state.json that, if trusted, makes berth kill the
// decoy, rmdir its directory and run a poststop hook that creates marker.
func plantState(t *testing.T, dir, id string, d *decoy, marker string) {
	t.Helper()
	state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":%q,"bundle":"/nonexistent","rootfs":"/nonexistent",`+
		`"created":"2026-01-01T00:00:00Z","initPid":%d,"initStart":%s,"cgroupPaths":{"":%q,"devices":%q,"freezer":%q},`+
		`"config":{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"/"},`+
		`"hooks":{"poststop":[{"path":"/bin/sh","args":["sh","-c","touch %s"]}]},`+
		`"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}}`, id, d.pid, d.start, d.cg, d.cg, d.cg, marker)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A state root or container directory that someone else could have written
// is refused by every command that reads state, with one line naming it; a
// planted state never gets its pids killed, its directories removed or its
// hook run as root (issue 21 S8).
func TestPlantedStateInUntrustedDirIsRefused(t *testing.T) {
	e := newEnv(t)
	d := newDecoy(t)
	marker := filepath.Join(t.TempDir(), "hook-ran")
	const id = "h3-trust-planted"
	dir := filepath.Join(e.root, id)
	t.Cleanup(func() { os.Chmod(e.root, 0o700); os.Chown(e.root, 0, 0); os.RemoveAll(dir) })
	for _, tc := range []struct {
		name, path string
		setup      func()
	}{
		{"root mode 0777", e.root, func() { os.Chmod(e.root, 0o777) }},
		{"root mode 0770", e.root, func() { os.Chmod(e.root, 0o770) }},
		{"root owned by another user", e.root, func() { os.Chown(e.root, 65534, 65534) }},
		{"container dir mode 0777", dir, func() { os.Chmod(dir, 0o777) }},
		{"container dir owned by another user", dir, func() { os.Chown(dir, 65534, 65534) }},
	} {
		os.Chmod(e.root, 0o700)
		os.Chown(e.root, 0, 0)
		os.RemoveAll(dir)
		plantState(t, dir, id, d, marker)
		tc.setup()
		for _, args := range [][]string{
			{"delete", "--force", id}, {"delete", id}, {"kill", id, "KILL"}, {"kill", "--all", id, "KILL"},
			{"state", id}, {"ps", id}, {"pause", id}, {"resume", id}, {"events", "--stats", id},
			{"exec", id, "true"}, {"start", id}, {"update", "--pids-limit", "10", id},
		} {
			_, errs, code := e.berth(args...)
			if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.path) {
				t.Errorf("%s: berth %v: exit %d, %q; want one line naming %s", tc.name, args, code, errs, tc.path)
			}
		}
		if tc.path == e.root {
			if _, errs, code := e.berth("list"); code == 0 || !strings.Contains(errs, e.root) {
				t.Errorf("%s: list: exit %d, %q; want a refusal naming the root", tc.name, code, errs)
			}
		} else if out, _, _ := e.berth("list", "-q"); strings.Contains(out, id) {
			t.Errorf("%s: list shows the planted container", tc.name)
		}
		d.untouched(t, tc.name)
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: the planted poststop hook ran", tc.name)
		}
	}
}

// stateFile is the path of a container's state.json under the test's root.
func (e *env) stateFile(id string) string { return filepath.Join(e.root, id, "state.json") }

// recordedCgroups returns the cgroup directories state.json records.
func (e *env) recordedCgroups(id string) map[string]string {
	e.t.Helper()
	data, err := os.ReadFile(e.stateFile(id))
	if err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		CgroupPaths map[string]string `json:"cgroupPaths"`
	}
	if err := json.Unmarshal(data, &st); err != nil || len(st.CgroupPaths) == 0 {
		e.t.Fatalf("state.json of %s: %v, no cgroupPaths", id, err)
	}
	return st.CgroupPaths
}

// setCgroupPaths rewrites the cgroupPaths of a container's state.json.
func (e *env) setCgroupPaths(id string, paths map[string]string) {
	e.t.Helper()
	data, err := os.ReadFile(e.stateFile(id))
	if err != nil {
		e.t.Fatal(err)
	}
	var st map[string]json.RawMessage
	if err := json.Unmarshal(data, &st); err != nil {
		e.t.Fatal(err)
	}
	st["cgroupPaths"], _ = json.Marshal(paths)
	data, _ = json.Marshal(st)
	if err := os.WriteFile(e.stateFile(id), data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// noneLeft fails if a process, a cgroup directory or the state directory of
// a deleted container is left.
func (e *env) noneLeft(what, id string, pids []int, cgroups map[string]string) {
	e.t.Helper()
	waitDead(e.t, what, pids)
	for ctrl, dir := range cgroups {
		if _, err := os.Stat(dir); err == nil {
			e.t.Errorf("%s: cgroup %q directory %s left", what, ctrl, dir)
		}
	}
	if _, err := os.Lstat(filepath.Join(e.root, id)); err == nil {
		e.t.Errorf("%s: state directory left", what)
	}
}

// cgroupPaths that state.json records are used only when they are on the
// cgroup filesystem: a decoy directory elsewhere is never read for pids to
// kill nor removed, and `delete -f` still removes the real container.
func TestCgroupPathsOutsideCgroupfsAreNotUsed(t *testing.T) {
	e := newEnv(t)
	d := newDecoy(t)
	b := e.bundle([]string{"sleep", "1000"})
	const id = "h3-trust-cgpaths"
	e.mustBerth("run", "-d", "-b", b, id)
	e.waitStatus(id, "running")
	pids := e.hostPids(id)
	real := e.recordedCgroups(id)
	for _, bad := range []string{d.cg, "/sys/fs/cgroup/devices/../../../" + d.cg} {
		planted := map[string]string{}
		for ctrl := range real {
			planted[ctrl] = bad
		}
		e.setCgroupPaths(id, planted)
		for _, args := range [][]string{{"kill", "--all", id, "KILL"}, {"delete", id}, {"ps", id}, {"pause", id}} {
			if _, errs, code := e.berth(args...); code == 0 || !strings.Contains(errs, "cgroupPaths") {
				t.Errorf("cgroupPaths %s: berth %v: exit %d, %q; want a refusal naming cgroupPaths", bad, args, code, errs)
			}
		}
		d.untouched(t, "cgroupPaths "+bad)
	}
	e.mustBerth("delete", "-f", id)
	d.untouched(t, "delete -f")
	e.noneLeft("delete -f with planted cgroupPaths", id, pids, real)
}

// `delete -f` of a running container whose state.json cannot be read kills
// and removes it through its default cgroup, in each of the six ways the
// file can be broken (issue 21 L1).
func TestDeleteForceUnreadableState(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "sleep 1000 & sleep 1000"})
	other := filepath.Join(t.TempDir(), "nosuch.json")
	for mode, corrupt := range map[string]func(path string, data []byte){
		"empty":     func(p string, _ []byte) { os.WriteFile(p, nil, 0o600) },
		"truncated": func(p string, data []byte) { os.WriteFile(p, data[:len(data)/2], 0o600) },
		"garbage":   func(p string, _ []byte) { os.WriteFile(p, []byte("\x00\x01garbage{{"), 0o600) },
		"directory": func(p string, _ []byte) { os.Remove(p); os.Mkdir(p, 0o700); os.WriteFile(p+"/x", nil, 0o600) },
		"other-id": func(p string, data []byte) {
			os.WriteFile(p, bytes.Replace(data, []byte(`"id":"h3-corrupt-other-id"`), []byte(`"id":"h3-someone-else"`), 1), 0o600)
		},
		"symlink": func(p string, _ []byte) { os.Remove(p); os.Symlink(other, p) },
	} {
		id := "h3-corrupt-" + mode
		e.mustBerth("run", "-d", "-b", b, id)
		e.waitStatus(id, "running")
		time.Sleep(50 * time.Millisecond)
		pids := e.hostPids(id)
		cgs := e.recordedCgroups(id)
		data, _ := os.ReadFile(e.stateFile(id))
		corrupt(e.stateFile(id), data)
		if _, errs, code := e.berth("state", id); code == 0 {
			t.Fatalf("%s: state of the broken file succeeded", mode)
		} else if !strings.Contains(errs, "unreadable") {
			t.Errorf("%s: state: %q", mode, errs)
		}
		if _, errs, code := e.berth("delete", "-f", id); code != 0 {
			t.Errorf("%s: delete -f: exit %d, %q", mode, code, errs)
		}
		e.noneLeft(mode+": delete -f", id, pids, cgs)
	}
}

// When the processes cannot be found without state.json (a cgroupsPath
// other than the default), `delete -f` refuses and keeps the record rather
// than orphan them.
func TestDeleteForceUnreadableStateCustomCgroupRefuses(t *testing.T) {
	e := newEnv(t)
	const id = "h3-corrupt-custom"
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "h3-corrupt-custom-cg" })
	e.mustBerth("run", "-d", "-b", b, id)
	e.waitStatus(id, "running")
	pids := e.hostPids(id)
	cgs := e.recordedCgroups(id)
	data, _ := os.ReadFile(e.stateFile(id))
	os.WriteFile(e.stateFile(id), []byte("garbage"), 0o600)
	_, errs, code := e.berth("delete", "-f", id)
	if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "cannot be found") {
		t.Errorf("delete -f: exit %d, %q; want a one-line refusal", code, errs)
	}
	if _, err := os.Stat(e.stateFile(id)); err != nil {
		t.Errorf("the record was removed: %v", err)
	}
	for _, pid := range pids {
		if !pidAlive(pid) {
			t.Errorf("process %d was killed", pid)
		}
	}
	os.WriteFile(e.stateFile(id), data, 0o600)
	e.mustBerth("delete", "-f", id)
	e.noneLeft("delete -f once restored", id, pids, cgs)
}

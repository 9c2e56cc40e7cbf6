package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd cgroup driver on a host whose init is not systemd (this
// one): --systemd-cgroup is refused with one line, before anything is
// made. Its work with systemd is tested in the systemd guest
// (tests/systemd/guest-cgroup.sh).
func TestSystemdCgroupRefusedWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/private"); err == nil {
		t.Skip("systemd runs here: tests/systemd covers the driver")
	}
	e := newEnv(t)
	for i, tc := range []struct {
		path string
		want []string
	}{
		{"", []string{"--systemd-cgroup", "cannot reach systemd", "/run/systemd/private"}},
		{"system.slice:h11:sd", []string{"--systemd-cgroup", "cannot reach systemd"}},
		{"/h11-sd/x", []string{"linux.cgroupsPath", "slice:prefix:name"}},
		{"nosuffix:h11:x", []string{"linux.cgroupsPath", "is not a slice name"}},
		{"system.slice:h11:a b", []string{"linux.cgroupsPath", "not a valid systemd unit name"}},
	} {
		id := "h11-sdref-" + itoa(i)
		b := e.bundle([]string{"true"})
		e.editSpecPath(b, tc.path)
		for _, verb := range []string{"run", "create"} {
			e.expectRefused(tc.want, "--systemd-cgroup", verb, "--bundle", b, id)
			e.assertNothingLeft(id, id, b)
		}
	}
}

func (e *env) editSpecPath(b, path string) {
	data, err := os.ReadFile(filepath.Join(b, "config.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(data, &m)
	m["linux"].(map[string]any)["cgroupsPath"] = path
	data, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(b, "config.json"), data, 0o644)
}

// A state file that names a systemd unit other than the scope of its own
// cgroup is refused: delete must never stop another unit (sshd.service);
// delete --force then removes what it finds without the state, as for any
// corrupt state (destroyUnreadable), and stops no unit.
func TestSystemdUnitInStateConfined(t *testing.T) {
	e := newEnv(t)
	id := "h11-sdstate"
	b := e.bundle([]string{"sleep", "100"})
	e.mustBerth("create", "--bundle", b, id)
	path := filepath.Join(e.root, id, "state.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(orig, &st); err != nil {
		t.Fatal(err)
	}
	st["systemdUnit"] = "sshd.service"
	data, _ := json.Marshal(st)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"delete", id}, {"update", "--pids-limit", "5", id}} {
		_, errs, code := e.berth(args...)
		if code == 0 || !strings.Contains(errs, "sshd.service") || !strings.Contains(errs, "not the scope") {
			t.Errorf("%s with a foreign unit in state: exit %d, %q", args[0], code, errs)
		}
	}
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustBerth("delete", "--force", id)
}

package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func rule(allow bool, typ byte, major, minor int64, perms string) *deviceRule {
	return &deviceRule{typ: typ, major: major, minor: minor, perms: perms, allow: allow}
}

const wild = wildcard

// The rules apply as the kernel applies writes to devices.allow/deny.
func TestDeviceStateFollowsTheKernel(t *testing.T) {
	s, err := newDeviceState([]*deviceRule{
		rule(false, 'a', wild, wild, "rwm"),
		rule(true, 'c', 1, 3, "rw"),
		rule(true, 'c', 1, 3, "m"),   // merged into the same exception
		rule(true, 'c', 1, 5, "rwm"), // then partly taken back
		rule(false, 'c', 1, 5, "w"),
		rule(true, 'b', 8, 0, "r"), // then wholly taken back
		rule(false, 'b', 8, 0, "r"),
		rule(false, 'c', 9, 9, "rwm"), // a deny of nothing allowed: no exception
		rule(true, 'c', wild, wild, "m"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range s.exceptions {
		got = append(got, e.String())
	}
	want := []string{"c 1:3 rwm", "c 1:5 rm", "c *:* m"}
	if s.defaultAllow || !reflect.DeepEqual(got, want) {
		t.Errorf("state: default allow %v, exceptions %q; want false, %q", s.defaultAllow, got, want)
	}
	s, _ = newDeviceState([]*deviceRule{rule(true, 'c', 1, 3, "r"), rule(true, 'a', wild, wild, "rwm"), rule(false, 'b', 8, wild, "w")})
	if !s.defaultAllow || len(s.exceptions) != 1 || s.exceptions[0].String() != "b 8:* w" {
		t.Errorf("allow-all then a deny: %+v", s)
	}
	for _, bad := range []*deviceRule{rule(true, 'p', 1, 1, "r"), rule(true, 'c', 1, 1, "rx"), rule(true, 'c', 1, 1, "")} {
		if _, err := newDeviceState([]*deviceRule{bad}); err == nil {
			t.Errorf("rule %q was accepted", bad)
		}
	}
}

// An update that keeps the rules writes nothing; one that changes them
// grants before it revokes and never denies everything first.
func TestDeviceTransitionWritesOnlyTheDifference(t *testing.T) {
	base := []*deviceRule{rule(false, 'a', wild, wild, "rwm"), rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 1, 5, "rwm")}
	have, _ := newDeviceState(base)
	same, _ := newDeviceState(base)
	if w := transition(have, same); len(w) != 0 {
		t.Errorf("same rules: writes %v; want none", w)
	}
	next, _ := newDeviceState(append(base[:2:2], rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 1, 7, "r")))
	want := []deviceWrite{{"devices.allow", "c 1:7 r"}, {"devices.deny", "c 1:5 rwm"}}
	if w := transition(have, next); !reflect.DeepEqual(w, want) {
		t.Errorf("changed rules: writes %v; want %v", w, want)
	}
	fresh := &deviceState{defaultAllow: true} // a new v1 cgroup
	want = []deviceWrite{{"devices.deny", "a"}, {"devices.allow", "c 1:3 rwm"}, {"devices.allow", "c 1:5 rwm"}}
	if w := transition(fresh, same); !reflect.DeepEqual(w, want) {
		t.Errorf("new cgroup: writes %v; want %v", w, want)
	}
}

// What a process in the cgroup can open, checked on the host: through the
// v1 device files and through the v2 eBPF program.
func TestDeviceRulesOnTheHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	rules := []*deviceRule{rule(false, 'a', wild, wild, "rwm"), rule(true, 'c', 1, 3, "rwm"), rule(true, 'c', 1, 5, "r")}
	// /dev/null (1:3) opens for writing; /dev/zero (1:5) for reading only;
	// /dev/full (1:7) not at all.
	const script = `for t in "null-w >/dev/null" "zero-r </dev/zero" "zero-w >/dev/zero" "full-r </dev/full"; do
	  set -- $t; if (eval ": $2") 2>/dev/null; then echo "$1 ok"; else echo "$1 denied"; fi; done`
	want := "null-w ok\nzero-r ok\nzero-w denied\nfull-r denied\n"
	for _, v := range []struct{ name, mount, file string }{
		{"v1", "/sys/fs/cgroup/devices", "devices.list"},
		{"v2", "/sys/fs/cgroup/unified", "cgroup.procs"},
		{"v2", "/sys/fs/cgroup", "cgroup.controllers"},
	} {
		if _, err := os.Stat(filepath.Join(v.mount, v.file)); err != nil || (v.mount == "/sys/fs/cgroup" && !IsUnified()) {
			continue
		}
		t.Run(v.name+" "+v.mount, func(t *testing.T) {
			dir, err := os.MkdirTemp(v.mount, "berth-devtest-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(dir)
			set := setDevicesV1
			if v.name == "v2" {
				set = setDevicesV2
			}
			for round := 0; round < 2; round++ { // the second replaces the first
				if err := set(dir, rules); err != nil {
					t.Fatal(err)
				}
			}
			if v.name == "v2" {
				cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				ids, err := attachedDevicePrograms(cg)
				unix.Close(cg)
				if err != nil || len(ids) != 1 {
					t.Errorf("programs attached after two sets: %v (%v); want one", ids, err)
				}
			}
			if got := runIn(t, dir, script); got != want {
				t.Errorf("in the cgroup:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// runIn runs sh -c script in the cgroup dir and returns its output.
func runIn(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", "echo 0 > "+filepath.Join(dir, "cgroup.procs")+" && "+script)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	return string(out)
}

package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A memory hog under a 32 MiB limit is OOM-killed: exit 137.
func TestMemoryHogIsOOMKilled(t *testing.T) {
	e := newEnv(t)
	limit := int64(32 << 20)
	b := e.bundle([]string{"sh", "-c", `x=$(head -c 67108864 /dev/zero | tr "\0" x); echo survived`}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	if out, code := e.run("hog", b); code != 137 || strings.Contains(out, "survived") {
		t.Fatalf("hog under 32 MiB: exit %d (%q), want 137", code, out)
	}
}

// A pids limit of 10 stops a fork loop at 10 processes: init and the
// exec'd shell, plus the 8 sleeps it could fork before the ninth was refused.
func TestForkLoopStopsAtPidsLimit(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	n := int64(10)
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + cg
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &n}
	})
	e.mustBerth("run", "-d", "--bundle", b, "forkloop")
	defer e.berth("delete", "--force", "forkloop")
	out, _, _ := e.berth("exec", "forkloop", "sh", "-c", "i=0; while :; do sleep 100 & i=$((i+1)); echo $i; done")
	f := strings.Fields(out)
	if len(f) == 0 || f[len(f)-1] != "8" {
		t.Fatalf("forks before the refusal: %q, want 8 (10 with init and the shell)", out)
	}
	if got := readTrim(t, cgroupFile(cg, "pids.current", "pids", "pids.current")); got != "9" {
		t.Fatalf("pids.current after the shell died: %s, want 9 (init and 8 sleeps)", got)
	}
}

// A 50% cpu quota is written, and a busy loop shows throttling in cpu.stat.
func TestCPUQuotaThrottles(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	quota, period := int64(50000), uint64(100000)
	b := e.bundle([]string{"sh", "-c", "while :; do :; done"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + cg
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	})
	e.mustBerth("run", "-d", "--bundle", b, "busy")
	defer e.berth("delete", "--force", "busy")
	stat := cgroupFile(cg, "cpu.stat", "cpu", "cpu.stat")
	var data []byte
	throttled := func() bool {
		data, _ = os.ReadFile(stat)
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "nr_throttled" {
				if n, _ := strconv.Atoi(f[1]); n > 0 {
					return true
				}
			}
		}
		return false
	}
	if !waitUntil(5*time.Second, throttled) {
		t.Fatalf("no throttling after 5 s at 50%% quota: %s", data)
	}
}

// A device rule applies: with everything allowed but one device, a twin of
// that device made by mknod cannot be opened, while without the rule it can.
// (The device is /dev/fuse or /dev/net/tun, whichever the host has: the
// devices every container gets, like /dev/null, are allowed after the
// spec's rules, as runc does.)
func TestDeviceDenyRule(t *testing.T) {
	e := newEnv(t)
	var major, minor int64
	for _, d := range []struct {
		path         string
		major, minor int64
	}{{"/dev/fuse", 10, 229}, {"/dev/net/tun", 10, 200}} {
		if _, err := os.Stat(d.path); err == nil {
			major, minor = d.major, d.minor
			break
		}
	}
	if major == 0 {
		t.Skip("neither /dev/fuse nor /dev/net/tun on this host")
	}
	script := "mknod /tmp/twin c " + strconv.FormatInt(major, 10) + " " + strconv.FormatInt(minor, 10) + " && (exec 3</tmp/twin) 2>&1 && echo OPENED"
	run := func(id string, deny bool) string {
		b := e.bundle([]string{"sh", "-c", script}, func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD")
			s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD")
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
			if deny {
				s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
					specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: &major, Minor: &minor, Access: "rwm"})
			}
		})
		out, _ := e.run(id, b)
		return out
	}
	if out := run("devallow", false); !strings.Contains(out, "OPENED") {
		t.Fatalf("without the deny rule the twin did not open (the test would prove nothing): %q", out)
	}
	if out := run("devdeny", true); strings.Contains(out, "OPENED") || !strings.Contains(out, "Operation not permitted") {
		t.Fatalf("with the deny rule: %q, want the open refused", out)
	}
}

// Bad cgroup input: a clear error and nothing left behind.
func TestBadCgroupInput(t *testing.T) {
	e := newEnv(t)
	neg, tiny, small := int64(-5), uint64(100), int64(50)
	bad := "q"
	for name, tc := range map[string]struct {
		edit func(*specs.Spec)
		want string
	}{
		"cpu period too short":  {func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{Period: &tiny, Quota: &small} }, "cpu"},
		"negative memory":       {func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &neg} }, "memory"},
		"unified key":           {func(s *specs.Spec) { s.Linux.Resources.Unified = map[string]string{"memory.bogus": "1"} }, "unified"},
		"device type":           {func(s *specs.Spec) { s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Type: bad, Access: "rwm"}} }, "devices"},
		"device access":         {func(s *specs.Spec) { s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Type: "c", Access: "xyz"}} }, "access"},
		"path outside the tree": {func(s *specs.Spec) { s.Linux.CgroupsPath = "/../../../etc" }, ""},
	} {
		b := e.bundle([]string{"true"}, tc.edit)
		id := "cgbad-" + strings.ReplaceAll(name, " ", "-")
		out, errs, code := e.berth("run", "--bundle", b, id)
		if name == "path outside the tree" {
			// Cleaned to the root's /etc cgroup: it must not touch the host's /etc.
			if _, err := os.Stat("/etc/cgroup.procs"); err == nil {
				t.Fatal("a cgroupsPath escaped into /etc")
			}
			e.berth("delete", "--force", id)
			continue
		}
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: exit %d, %q %q; want one line about %s", name, code, out, errs, tc.want)
		}
		e.assertNothingLeft(id, "", b)
	}
}

func TestUpdateOnStoppedContainerIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	e.mustBerth("run", "--keep", "--bundle", b, "stopped")
	e.expectRefused([]string{"stopped"}, "update", "--memory", "64m", "stopped")
	e.expectRefused([]string{"stopped"}, "pause", "stopped")
}

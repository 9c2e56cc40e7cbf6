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

// unified reports whether the host runs cgroup v2 only.
func unified() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// cgroupFile is the host path of a cgroup's file: v2 names first (with the
// v1 controller and name given for hybrid and legacy hosts).
func cgroupFile(cg, v2name, v1ctrl, v1name string) string {
	if unified() {
		return filepath.Join("/sys/fs/cgroup", cg, v2name)
	}
	return filepath.Join("/sys/fs/cgroup", v1ctrl, cg, v1name)
}

func cgName(t *testing.T) string {
	return "berth-test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + strconv.Itoa(os.Getpid())
}

// Limits from the spec are in the cgroup files, and the workload sees them
// through its own /sys/fs/cgroup.
func TestResourceLimitsAreApplied(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	limit, pids, quota, period := int64(32<<20), int64(42), int64(20000), uint64(100000)
	inside := "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
	b := e.bundle([]string{"sh", "-c", inside + "; sleep 1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + cg
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	})
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := newBerthCmd(e, "run", "-d", "--bundle", b, "limits")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(out.Name())
		t.Fatalf("run: %v: %s", err, data)
	}
	if got := readTrim(t, cgroupFile(cg, "memory.max", "memory", "memory.limit_in_bytes")); got != strconv.FormatInt(limit, 10) {
		t.Errorf("memory limit on the host: %s, want %d", got, limit)
	}
	if got := readTrim(t, cgroupFile(cg, "pids.max", "pids", "pids.max")); got != "42" {
		t.Errorf("pids.max on the host: %s, want 42", got)
	}
	if unified() {
		if got := readTrim(t, cgroupFile(cg, "cpu.max", "", "")); got != "20000 100000" {
			t.Errorf("cpu.max: %q", got)
		}
	} else if got := readTrim(t, cgroupFile(cg, "", "cpu", "cpu.cfs_quota_us")); got != "20000" {
		t.Errorf("cpu.cfs_quota_us: %q", got)
	}
	waitFileContains(t, out.Name(), strconv.FormatInt(limit, 10))

	// update changes the live limits, and state keeps them for later.
	e.mustBerth("update", "--memory", "48m", "--pids-limit", "7", "limits")
	if got := readTrim(t, cgroupFile(cg, "memory.max", "memory", "memory.limit_in_bytes")); got != strconv.Itoa(48<<20) {
		t.Errorf("memory after update: %s", got)
	}
	if got := readTrim(t, cgroupFile(cg, "pids.max", "pids", "pids.max")); got != "7" {
		t.Errorf("pids.max after update: %s", got)
	}
	e.berthIn([]byte(`{"pids": {"limit": 9}}`), "update", "--resources", "-", "limits")
	if got := readTrim(t, cgroupFile(cg, "pids.max", "pids", "pids.max")); got != "9" {
		t.Errorf("pids.max after update --resources -: %s", got)
	}
	e.expectRefused([]string{"--memory", "size"}, "update", "--memory", "lots", "limits")
	e.expectRefused([]string{"--resources", "JSON"}, "update", "--resources", "/dev/null", "limits")

	e.mustBerth("delete", "--force", "limits")
	if dirs := cgroupDirs(cg); len(dirs) > 0 {
		t.Fatalf("cgroup left after delete: %v", dirs)
	}
}

func TestPidsLimitStopsForks(t *testing.T) {
	e := newEnv(t)
	n := int64(5)
	b := e.bundle([]string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait"}, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &n}
	})
	out, _ := e.run("pidslimit", b)
	if !strings.Contains(out, "can't fork") && !strings.Contains(out, "Resource temporarily unavailable") {
		t.Fatalf("8 forks under pids.max=5 all succeeded: %q", out)
	}
}

func TestPauseResumePsEvents(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.01; done"}, func(s *specs.Spec) {
		s.Root.Readonly = false
	})
	e.mustBerth("run", "-d", "--bundle", b, "pz")
	e.waitStatus("pz", "running")
	tick := filepath.Join(b, "rootfs", "tmp", "tick")
	waitFileContains(t, tick, "")
	e.mustBerth("pause", "pz")
	if st := e.state("pz")["status"]; st != "paused" {
		t.Fatalf("status after pause: %v", st)
	}
	before := readTrim(t, tick)
	time.Sleep(200 * time.Millisecond)
	if after := readTrim(t, tick); after != before {
		t.Fatal("a paused container kept running")
	}
	e.expectRefused([]string{"paused"}, "exec", "pz", "true")
	e.expectRefused([]string{"not running", "paused"}, "pause", "pz")
	e.mustBerth("resume", "pz")
	e.waitStatus("pz", "running")
	waitFor(t, 5*time.Second, "a resumed container to run again", func() bool {
		data, _ := os.ReadFile(tick)
		return strings.TrimSpace(string(data)) != before
	})

	var pids []int
	if err := json.Unmarshal([]byte(e.mustBerth("ps", "--format", "json", "pz")), &pids); err != nil {
		t.Fatal(err)
	}
	initPid := int(e.state("pz")["pid"].(float64))
	found := false
	for _, p := range pids {
		found = found || p == initPid
	}
	if !found {
		t.Fatalf("ps json %v lacks init %d", pids, initPid)
	}
	if table := e.mustBerth("ps", "pz"); !strings.Contains(table, "PID") || !strings.Contains(table, strconv.Itoa(initPid)) {
		t.Fatalf("ps table: %q", table)
	}

	var ev struct {
		Type string
		ID   string
		Data struct {
			Pids   struct{ Current uint64 }
			Memory struct{ Usage struct{ Usage uint64 } }
		}
	}
	if err := json.Unmarshal([]byte(e.mustBerth("events", "--stats", "pz")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.ID != "pz" || ev.Data.Pids.Current < 1 || ev.Data.Memory.Usage.Usage == 0 {
		t.Fatalf("events --stats: %+v", ev)
	}
	// pause of a stopped container, and delete --force of a paused one.
	e.mustBerth("pause", "pz")
	e.mustBerth("delete", "--force", "pz")
}

func TestFeaturesAndUnsupportedCommands(t *testing.T) {
	e := newEnv(t)
	var f struct {
		OCIVersionMax string
		Hooks         []string
		Linux         struct{ Namespaces []string }
	}
	if err := json.Unmarshal([]byte(e.mustBerth("features")), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax == "" || len(f.Hooks) != 6 || len(f.Linux.Namespaces) != 8 {
		t.Fatalf("features: %+v", f)
	}
	e.expectRefused([]string{"not supported"}, "checkpoint", "x")
	e.expectRefused([]string{"not supported"}, "restore", "x")
}

// berth's init is not charged to the container for its own start: a
// container runs `true` under a 1 MiB memory limit (runc needs about 2.5).
// Init joins its cgroup only once its mounts are made (v1: by itself; v2,
// under a memory limit: at its request, as v2 counts kernel memory too).
func TestRunsUnderOneMiBMemoryLimit(t *testing.T) {
	e := newEnv(t)
	limit := int64(1 << 20)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	if out, code := e.run("onemib", b); code != 0 {
		t.Fatalf("under a 1 MiB limit: exit %d: %s", code, out)
	}
}

// events streams stats every --interval, and reports an OOM kill.
func TestEventsStreamAndOOM(t *testing.T) {
	e := newEnv(t)
	limit := int64(16 << 20)
	// A child shell hoards 64 MiB in a variable and is OOM-killed; init lives on.
	b := e.bundle([]string{"sh", "-c", `sleep 1; while :; do sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" x)'; sleep 0.2; done`}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	})
	e.mustBerth("run", "-d", "--bundle", b, "oomy")
	out, err := os.Create(filepath.Join(t.TempDir(), "events"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := newBerthCmd(e, "events", "--interval", "200ms", "oomy")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFileContains(t, out.Name(), `"type":"oom"`)
	data, _ := os.ReadFile(out.Name())
	if n := strings.Count(string(data), `"type":"stats"`); n < 2 {
		t.Fatalf("events streamed %d stats events before the OOM: %s", n, data)
	}
}

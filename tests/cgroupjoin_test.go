package tests

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// threadCgroups returns, for every thread of pid, its cgroup in each
// hierarchy ("N:controllers" -> path), from /proc/<pid>/task/<tid>/cgroup.
func threadCgroups(t *testing.T, pid string) map[string]map[string]string {
	t.Helper()
	tids, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatalf("threads of %s: %v", pid, err)
	}
	out := map[string]map[string]string{}
	for _, tid := range tids {
		data, err := os.ReadFile("/proc/" + pid + "/task/" + tid.Name() + "/cgroup")
		if err != nil {
			t.Fatalf("cgroups of thread %s of %s: %v", tid.Name(), pid, err)
		}
		out[tid.Name()] = map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.SplitN(l, ":", 3)
			if len(f) == 3 {
				out[tid.Name()][f[0]+":"+f[1]] = f[2]
			}
		}
	}
	return out
}

// expectIn fails unless every thread of pid is in cgroup path in every
// hierarchy the host has (every v1 controller, name=systemd and, on hybrid
// hosts, the unified one): init and exec join the v1 hierarchies thread by
// thread, so a thread or a hierarchy left behind would show here.
func expectIn(t *testing.T, what, pid, path string) {
	t.Helper()
	for tid, cgs := range threadCgroups(t, pid) {
		if len(cgs) == 0 {
			t.Fatalf("%s (pid %s): thread %s has no cgroups", what, pid, tid)
		}
		for h, p := range cgs {
			if p != path {
				t.Errorf("%s (pid %s, thread %s): in %q in hierarchy %s, want %q", what, pid, tid, p, h, path)
			}
		}
	}
}

// tasksOf lists the threads in a v1 cgroup's tasks file (nil on a v2 host).
func tasksOf(t *testing.T, ctrl, cg string) []string {
	if unified() {
		return nil
	}
	return strings.Fields(readTrim(t, filepath.Join("/sys/fs/cgroup", ctrl, cg, "tasks")))
}

func TestWorkloadAndExecAreWhollyInTheCgroup(t *testing.T) {
	e := newEnv(t)
	cg := cgName(t)
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cg })
	e.mustBerth("run", "-d", "--bundle", b, "whole")
	t.Cleanup(func() { e.berth("delete", "--force", "whole") })
	initPid := itoa(int(e.state("whole")["pid"].(float64)))
	expectIn(t, "init", initPid, "/"+cg)

	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	e.mustBerth("exec", "-d", "--pid-file", pidFile, "whole", "sleep", "999")
	execPid := readTrim(t, pidFile)
	expectIn(t, "exec'd process", execPid, "/"+cg)

	// No thread of init's or exec's setup stayed in the memory and
	// freezer cgroups: only the two workloads are there.
	want := []string{initPid, execPid}
	sort.Strings(want)
	for _, ctrl := range []string{"memory", "freezer", "pids"} {
		if got := tasksOf(t, ctrl, cg); got != nil {
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s cgroup's tasks: %v, want the two workloads %v", ctrl, got, want)
			}
		}
	}

	// exec --cgroup: into a cgroup below the container's, in every
	// hierarchy; one that does not exist is refused.
	var subs []string
	for _, dir := range cgroupDirs(cg) {
		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} { // v1 cpuset: empty in a new cgroup
			if v, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				os.WriteFile(filepath.Join(sub, f), v, 0)
			}
		}
	}
	t.Cleanup(func() {
		for _, s := range subs {
			os.Remove(s)
		}
	})
	pidFile2 := filepath.Join(t.TempDir(), "exec2.pid")
	e.mustBerth("exec", "-d", "--cgroup", "sub", "--pid-file", pidFile2, "whole", "sleep", "998")
	expectIn(t, "exec --cgroup sub", readTrim(t, pidFile2), "/"+cg+"/sub")
	e.expectRefused([]string{"cgroup"}, "exec", "--cgroup", "nosuch", "whole", "true")
	e.expectRefused([]string{"cgroup"}, "exec", "--cgroup", "../../escape", "whole", "true")

	e.mustBerth("delete", "--force", "whole")
	if dirs := cgroupDirs(cg); len(dirs) > 0 {
		t.Fatalf("cgroup left after delete: %v", dirs)
	}
}

package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Cgroup paths from the config, the state and the command line: each stays
// inside the cgroup tree (docs/security.md, S3 and S4), and the cases runc
// defines (a systemd-form path, an existing busy or frozen cgroup, exec
// --cgroup CONTROLLER:PATH) behave as in runc.

// cgMounts maps each mounted controller ("" for cgroup2) to its mount point.
func cgMounts(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(tail) < 3 || !strings.HasPrefix(f[4], "/sys/fs/cgroup") {
			continue
		}
		switch tail[0] {
		case "cgroup2":
			out[""] = f[4]
		case "cgroup":
			for _, o := range strings.Split(tail[2], ",") {
				if _, seen := out[o]; !seen && o != "rw" && o != "ro" && o != "xattr" {
					out[o] = f[4]
				}
			}
		}
	}
	return out
}

// procCgroups maps each controller of /proc/<pid>/cgroup to its path.
func procCgroups(t *testing.T, text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

func hostCgroups(t *testing.T, pid string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	return procCgroups(t, string(data))
}

// plantVictim makes a directory outside the cgroup tree with an empty
// subdirectory, what the old code made files in and rmdir'ed.
func plantVictim(t *testing.T) string {
	t.Helper()
	top, err := os.MkdirTemp("/tmp", "h2cg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	victim := filepath.Join(top, "victim")
	if err := os.MkdirAll(filepath.Join(victim, "emptysub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return victim
}

func assertVictim(t *testing.T, victim, when string) {
	t.Helper()
	ents, err := os.ReadDir(victim)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if err != nil || !slices.Equal(names, []string{"emptysub"}) {
		t.Fatalf("%s: the directory outside the cgroup tree changed: %v %v", when, names, err)
	}
}

// rmdirChain removes dir and its parents up to (not including) stop, each
// only if empty.
func rmdirChain(dir, stop string) {
	for d := dir; d != stop && strings.HasPrefix(d, stop+"/"); d = filepath.Dir(d) {
		os.Remove(d)
	}
}

func initPid(e *env, id string) string {
	e.t.Helper()
	return fmt.Sprint(int(e.state(id)["pid"].(float64)))
}

// A relative or absolute cgroupsPath with ".." stays in the cgroup tree for
// create, update, exec --cgroup and delete; a state.json whose paths leave
// the tree is refused.
func TestCgpathEscapeStaysInTree(t *testing.T) {
	mounts := cgMounts(t)
	for _, abs := range []bool{false, true} {
		name := map[bool]string{false: "relative", true: "absolute"}[abs]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			victim := plantVictim(t)
			cgPath := "../../../../../../../.." + victim
			want := victim // below berth's own cgroup (the root here), or the hierarchy's top
			if abs {
				cgPath = "/../../../../../../.." + victim
			}
			own := hostCgroups(t, "self")
			t.Cleanup(func() {
				for ctrl, mnt := range mounts {
					base := mnt
					if !abs {
						base = filepath.Join(mnt, own[ctrl])
					}
					rmdirChain(filepath.Join(base, victim), base)
				}
			})
			id := "h2-cgpath-" + name
			b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = cgPath })
			e.mustBerth("run", "-d", "--bundle", b, id)
			assertVictim(t, victim, "run")
			pid := initPid(e, id)
			got := hostCgroups(t, pid)
			for _, ctrl := range []string{"devices", "pids", ""} {
				p, ok := got[ctrl]
				if _, mounted := mounts[ctrl]; !ok || !mounted {
					continue
				}
				wantPath := want
				if !abs {
					wantPath = filepath.Join(own[ctrl], want)
				}
				if p != wantPath {
					t.Errorf("%q cgroup of init is %s, want %s (cleaned as runc does)", ctrl, p, wantPath)
				}
			}

			pidsCtrl := "pids"
			if _, ok := mounts["pids"]; !ok {
				pidsCtrl = ""
			}
			e.mustBerth("update", "--pids-limit", "77", id)
			limit, err := os.ReadFile(filepath.Join(mounts[pidsCtrl], got[pidsCtrl], "pids.max"))
			if strings.TrimSpace(string(limit)) != "77" {
				t.Errorf("pids.max after update: %q %v, want 77", limit, err)
			}
			assertVictim(t, victim, "update")

			e.expectRefused([]string{"is not a sub cgroup path"}, "exec", "--cgroup", cgPath, id, "true")
			e.expectRefused([]string{"is not a sub cgroup path"}, "exec", "--cgroup", "../"+filepath.Base(victim)+"2", id, "true")
			if pidsCtrl != "" {
				e.expectRefused([]string{"is not a sub cgroup path"}, "exec", "--cgroup", "pids:"+cgPath, id, "true")
			}
			assertVictim(t, victim, "exec --cgroup")

			// A state.json that records a path outside the tree (planted,
			// or from an older berth) is refused, not written to.
			restore := plantCgroupPath(e, id, pidsCtrl, victim)
			e.expectRefused([]string{"below", "cgroup"}, "update", "--pids-limit", "5", id)
			e.expectRefused([]string{"below", "cgroup"}, "exec", id, "true")
			assertVictim(t, victim, "update with a planted state.json")
			restore()

			e.mustBerth("delete", "--force", id)
			assertVictim(t, victim, "delete")
			for ctrl, p := range got {
				if mnt, ok := mounts[ctrl]; ok && strings.HasSuffix(p, victim) {
					if _, err := os.Stat(filepath.Join(mnt, p)); err == nil {
						t.Errorf("cgroup %s left after delete", filepath.Join(mnt, p))
					}
				}
			}
		})
	}
}

// plantCgroupPath records path as the container's cgroup of ctrl in its
// state.json; restore puts the real one back.
func plantCgroupPath(e *env, id, ctrl, path string) (restore func()) {
	e.t.Helper()
	statePath := filepath.Join(e.root, id, "state.json")
	orig, err := os.ReadFile(statePath)
	if err != nil {
		e.t.Fatal(err)
	}
	var st map[string]any
	dec := json.NewDecoder(bytes.NewReader(orig))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		e.t.Fatal(err)
	}
	st["cgroupPaths"].(map[string]any)[ctrl] = path
	planted, _ := json.Marshal(st)
	if err := os.WriteFile(statePath, planted, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return func() {
		if err := os.WriteFile(statePath, orig, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
}

// hugepageLimits[].pageSize is a size, never a path, for create and update.
func TestCgpathHugepageSizeIsNotAPath(t *testing.T) {
	e := newEnv(t)
	victim := plantVictim(t)
	bad := "2MB/../../../../../../../.." + victim + "/x"
	limits := []specs.LinuxHugepageLimit{{Pagesize: bad, Limit: 2 << 20}}
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.Resources.HugepageLimits = limits })
	e.expectRefused([]string{"pageSize", "2MB/.."}, "run", "-d", "--bundle", b, "h2-cgpath-huge")
	e.assertNothingLeft("h2-cgpath-huge", "h2-cgpath-huge", b)
	assertVictim(t, victim, "create")

	b = e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "-d", "--bundle", b, "h2-cgpath-huge2")
	res := filepath.Join(t.TempDir(), "res.json")
	data, _ := json.Marshal(specs.LinuxResources{HugepageLimits: limits})
	os.WriteFile(res, data, 0o644)
	e.expectRefused([]string{"pageSize"}, "update", "-r", res, "h2-cgpath-huge2")
	data, _ = json.Marshal(specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1}}})
	os.WriteFile(res, data, 0o644)
	e.expectRefused([]string{"pageSize", "3MB", "not a huge page size of this host"}, "update", "-r", res, "h2-cgpath-huge2")
	assertVictim(t, victim, "update")
}

// containerd 1.6's CRI passes "slice:prefix:name" without the systemd
// driver; runc's cgroupfs driver takes it as a plain relative path.
func TestCgpathSystemdFormIsAPlainPath(t *testing.T) {
	e := newEnv(t)
	id := "h2-cgpath-sysd"
	cg := "h2cg.slice:cri-containerd:" + id
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = cg })
	e.mustBerth("run", "-d", "--bundle", b, id)
	mounts, own := cgMounts(t), hostCgroups(t, "self")
	got := hostCgroups(t, initPid(e, id))
	var dirs []string
	for _, ctrl := range []string{"devices", ""} {
		if _, ok := mounts[ctrl]; !ok {
			continue
		}
		if want := filepath.Join(own[ctrl], cg); got[ctrl] != want {
			t.Errorf("%q cgroup of init: %s, want %s", ctrl, got[ctrl], want)
		}
		dirs = append(dirs, filepath.Join(mounts[ctrl], got[ctrl]))
	}
	e.mustBerth("delete", "--force", id)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left after delete", d)
		}
	}
}

// preexisting makes a cgroup named name in the hierarchy of ctrl, and
// removes it (with whatever setup undoes) at the end.
func preexisting(t *testing.T, ctrl, name string, undo func(dir string)) string {
	t.Helper()
	mnt, ok := cgMounts(t)[ctrl]
	if !ok {
		t.Skipf("no %q hierarchy", ctrl)
	}
	dir := filepath.Join(mnt, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		undo(dir)
		for _, d := range []string{filepath.Join(dir, "child"), dir} {
			os.Remove(d)
		}
	})
	return dir
}

// A pre-existing frozen cgroup (or a frozen parent) is refused at once, as
// runc does, instead of hanging, and the user's cgroup stays.
func TestCgpathFrozenCgroupRefused(t *testing.T) {
	e := newEnv(t)
	name := fmt.Sprintf("h2cg-frozen-%d", os.Getpid())
	ctrl, file, frozen, thawed := "freezer", "freezer.state", "FROZEN", "THAWED"
	if _, ok := cgMounts(t)["freezer"]; !ok {
		ctrl, file, frozen, thawed = "", "cgroup.freeze", "1", "0"
	}
	dir := preexisting(t, ctrl, name, func(dir string) { os.WriteFile(filepath.Join(dir, file), []byte(thawed), 0) })
	if err := os.WriteFile(filepath.Join(dir, file), []byte(frozen), 0); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/" + name, "/" + name + "/child"} {
		b := e.bundle([]string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = path })
		id := "h2-cgpath-frozen"
		e.expectRefused([]string{"container's cgroup unexpectedly frozen", "linux.cgroupsPath"}, "run", "-d", "--bundle", b, id)
		e.assertNothingLeft(id, "", b)
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("the user's frozen cgroup is gone: %v", err)
		}
		for _, d := range cgroupDirs(strings.TrimPrefix(path, "/")) {
			if d != dir {
				t.Errorf("cgroup %s made for a refused create", d)
			}
		}
	}
}

// A pre-existing cgroup that holds processes is an error, as in runc 1.5;
// the user's cgroup and its process stay.
func TestCgpathBusyCgroupRefused(t *testing.T) {
	e := newEnv(t)
	name := fmt.Sprintf("h2cg-busy-%d", os.Getpid())
	ctrl := "pids"
	if _, ok := cgMounts(t)["pids"]; !ok {
		ctrl = ""
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	dir := preexisting(t, ctrl, name, func(string) { sleeper.Process.Kill(); sleeper.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(sleeper.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	b := e.bundle([]string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + name })
	id := "h2-cgpath-busy"
	e.expectRefused([]string{"container's cgroup is not empty: 1 process(es) found", "linux.cgroupsPath"}, "run", "-d", "--bundle", b, id)
	e.assertNothingLeft(id, "", b)
	if _, err := os.Stat(dir); err != nil || !pidAlive(sleeper.Process.Pid) {
		t.Fatalf("the user's cgroup or its process is gone: %v", err)
	}
	for _, d := range cgroupDirs(name) {
		if d != dir {
			t.Errorf("cgroup %s made for a refused create", d)
		}
	}
}

// exec --cgroup CONTROLLER[,CONTROLLER]:PATH on v1, and the plain PATH.
func TestCgpathExecSubCgroups(t *testing.T) {
	e := newEnv(t)
	mounts := cgMounts(t)
	name := fmt.Sprintf("h2cg-sub-%d", os.Getpid())
	id := "h2-cgpath-sub"
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + name })
	e.mustBerth("run", "-d", "--bundle", b, id)
	t.Cleanup(func() { e.berth("delete", "--force", id) })
	mk := func(ctrl, sub string) {
		dir := filepath.Join(mounts[ctrl], name, sub)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		if ctrl == "cpuset" { // no process can join a v1 cpuset without CPUs
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				os.WriteFile(filepath.Join(dir, f), v, 0)
			}
		}
	}
	for ctrl := range mounts {
		if _, err := os.Stat(filepath.Join(mounts[ctrl], name)); err == nil {
			mk(ctrl, "sub")
		}
	}
	check := func(out string, want map[string]string) {
		t.Helper()
		got := procCgroups(t, out)
		for ctrl, w := range want {
			if _, ok := mounts[ctrl]; ok && !strings.HasSuffix(got[ctrl], w) {
				t.Errorf("%q cgroup of the exec'd process: %q, want it to end in %q\n%s", ctrl, got[ctrl], w, out)
			}
		}
	}
	out := e.mustBerth("exec", "--cgroup", "sub", id, "cat", "/proc/self/cgroup")
	check(out, map[string]string{"devices": "/sub", "": "/sub"})
	e.expectRefused([]string{"is not a sub cgroup path"}, "exec", "--cgroup", "../"+name+"-x", id, "true")
	if _, v1 := mounts["memory"]; !v1 {
		e.expectRefused([]string{"memory"}, "exec", "--cgroup", "memory:sub", id, "true")
		return
	}
	mk("memory", "submem")
	mk("cpu", "subcpu")
	mk("cpuacct", "subcpu")
	out = e.mustBerth("exec", "--cgroup", "memory:submem", "--cgroup", "cpu,cpuacct:subcpu", id, "cat", "/proc/self/cgroup")
	check(out, map[string]string{"memory": "/submem", "cpu": "/subcpu", "cpuacct": "/subcpu"})
	if d := procCgroups(t, out)["devices"]; strings.HasSuffix(d, "/sub") || strings.HasSuffix(d, "/submem") || strings.HasSuffix(d, "/subcpu") {
		t.Errorf("devices cgroup %q: want the container's own", d)
	}
	e.expectRefused([]string{"unknown controller", "nosuchctl"}, "exec", "--cgroup", "nosuchctl:x", id, "true")
	e.expectRefused([]string{"../x is not a sub cgroup path"}, "exec", "--cgroup", "memory:../x", id, "true")
}

// runc 1.5's limits on this kind of host: pids.limit 0 is written as 1,
// update sets cpu.idle, and hugetlb limits go to the unified hierarchy of a
// hybrid host that has hugetlb only there.
func TestCgpathRunc15Limits(t *testing.T) {
	e := newEnv(t)
	mounts := cgMounts(t)
	name := fmt.Sprintf("h2cg-lim-%d", os.Getpid())
	id := "h2-cgpath-lim"
	zero := int64(0)
	_, v1huge := mounts["hugetlb"]
	_, hybrid := mounts[""]
	hybrid = hybrid && mounts[""] != "/sys/fs/cgroup"
	hugeInUnified := false
	if c, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil && hybrid && !v1huge {
		hugeInUnified = slices.Contains(strings.Fields(string(c)), "hugetlb")
	}
	_, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB")
	huge := err == nil && (hugeInUnified || v1huge)
	if c, err2 := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && err2 == nil && mounts[""] == "/sys/fs/cgroup" {
		huge = slices.Contains(strings.Fields(string(c)), "hugetlb") // a v2 host
	}
	// On a v2 host init is in its cgroup while its Go runtime starts
	// threads: a pids.max of 1 from create would stop it, so the limit
	// comes with update there.
	v2 := mounts[""] == "/sys/fs/cgroup"
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + name
		if !v2 {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &zero}
		}
		if huge {
			s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
		}
	})
	e.mustBerth("run", "-d", "--bundle", b, id)
	file := func(ctrl, f string) string {
		if _, ok := mounts[ctrl]; !ok {
			ctrl = ""
		}
		data, err := os.ReadFile(filepath.Join(mounts[ctrl], name, f))
		if err != nil {
			t.Errorf("%v", err)
		}
		return strings.TrimSpace(string(data))
	}
	if v2 {
		if _, errs, code := e.berthIn([]byte(`{"pids":{"limit":0}}`), "update", "-r", "-", id); code != 0 {
			t.Fatalf("update -r pids.limit 0: %s", errs)
		}
	}
	if got := file("pids", "pids.max"); got != "1" {
		t.Errorf("pids.max for pids.limit 0: %q, want 1 (as runc 1.5)", got)
	}
	e.mustBerth("update", "--cpu-idle", "1", id)
	if got := file("cpu", "cpu.idle"); got != "1" {
		t.Errorf("cpu.idle after update --cpu-idle 1: %q", got)
	}
	if huge {
		f := "hugetlb.2MB.max"
		if v1huge {
			f = "hugetlb.2MB.limit_in_bytes"
		}
		if got := file("hugetlb", f); got != "4194304" {
			t.Errorf("%s: %q, want 4194304", f, got)
		}
	}
	e.mustBerth("delete", "--force", id)
	if dirs := cgroupDirs(name); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
}

// A cgroupsPath that cleans to a hierarchy's top is refused in one line
// that names the field, and nothing is left.
func TestCgpathHierarchyTopRefused(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/..", "/../../.."} {
		b := e.bundle([]string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = path })
		e.expectRefused([]string{"linux.cgroupsPath", "names the top of the cgroup hierarchy"}, "run", "-d", "--bundle", b, "h2-cgpath-top")
		e.assertNothingLeft("h2-cgpath-top", "", b)
	}
}

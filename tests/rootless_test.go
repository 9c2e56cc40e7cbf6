package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rootless tests: berth run by an unprivileged user that each test creates
// and removes (rootless_user_test.go). docs/rootless.md says what they show.

// TestRootlessSpecRun: `berth spec --rootless` writes runc's rootless config
// for the caller, and `berth run` of it works as the user: the workload is
// root in a user namespace that maps 0 to the user's uid.
func TestRootlessSpecRun(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("spec", []string{"sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; test -c /dev/null && echo > /dev/null && echo devnull-ok"})
	var s specs.Spec
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if m := s.Linux.UIDMappings; len(m) != 1 || m[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: uint32(u.uid), Size: 1}) {
		t.Errorf("spec --rootless: uidMappings %+v, want 0 -> %d size 1", m, u.uid)
	}
	if m := s.Linux.GIDMappings; len(m) != 1 || m[0].HostID != uint32(u.gid) {
		t.Errorf("spec --rootless: gidMappings %+v, want 0 -> %d size 1", m, u.gid)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Errorf("spec --rootless: has a network namespace")
		}
	}
	if s.Linux.Resources != nil {
		t.Errorf("spec --rootless: linux.resources %+v, want none", s.Linux.Resources)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && (m.Type != "none" || m.Source != "/sys" || !strings.Contains(strings.Join(m.Options, ","), "rbind")) {
			t.Errorf("spec --rootless: /sys mount %+v, want a bind of the host's /sys", m)
		}
		for _, o := range m.Options {
			if strings.HasPrefix(o, "gid=") || strings.HasPrefix(o, "uid=") {
				t.Errorf("spec --rootless: mount %s keeps option %s", m.Destination, o)
			}
		}
	}
	out, errs, code := u.berth(dir, "run", "h10-rl-run")
	if code != 0 {
		t.Fatalf("run as %s: exit %d: %s%s", u.name, code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || lines[0] != "0" {
		t.Fatalf("workload output %q: want id -u 0 first", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "0" || f[1] != itoa(u.uid) || f[2] != "1" {
		t.Errorf("uid_map %q: want 0 %d 1", lines[1], u.uid)
	}
	if f := strings.Fields(lines[2]); len(f) != 3 || f[0] != "0" || f[1] != itoa(u.gid) || f[2] != "1" {
		t.Errorf("gid_map %q: want 0 %d 1", lines[2], u.gid)
	}
	if lines[3] != "devnull-ok" {
		t.Errorf("/dev/null in the container: %q", lines[3])
	}
	if strings.TrimSpace(errs) != "" {
		t.Errorf("run printed to stderr: %q", errs)
	}
	if _, err := os.Stat(u.stateDir("h10-rl-run")); !os.IsNotExist(err) {
		t.Errorf("state dir %s left after run: %v", u.stateDir("h10-rl-run"), err)
	}
	if fi, err := os.Stat(filepath.Join(u.runtimeDir, "berth")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("default state root $XDG_RUNTIME_DIR/berth: %v, mode %v; want 0700", err, fi)
	}
}

// TestRootlessSubordinateRange: a config mapping 0 to the user and
// 1..65536 to its /etc/subuid range runs (newuidmap/newgidmap write the
// maps), and a file uid 1000 makes in a bound host directory is owned on
// the host by the subordinate id start+999.
func TestRootlessSubordinateRange(t *testing.T) {
	u := newRootlessUser(t)
	shared := u.mkdir("shared")
	os.Chmod(shared, 0o777)
	dir := u.bundle("sub", []string{"sh", "-c", "id; cat /proc/self/uid_map; echo oom=$(cat /proc/self/oom_score_adj); touch /mnt/made-by-1000"}, u.subordinateMaps, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		oom := 100 // set before the unshare: init cannot open it after (nsenter.c)
		s.Process.OOMScoreAdj = &oom
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: shared, Options: []string{"rbind"}})
	})
	out, errs, code := u.berth(dir, "run", "h10-rl-sub")
	if code != 0 {
		t.Fatalf("run as %s: exit %d: %s%s", u.name, code, out, errs)
	}
	if !strings.Contains(out, "uid=1000") || !strings.Contains(strings.Join(strings.Fields(out), " "), fmt.Sprintf("1 %d 65536", u.subUID)) {
		t.Errorf("workload output %q: want uid=1000 and the map 1 %d 65536", out, u.subUID)
	}
	if !strings.Contains(out, "oom=100") {
		t.Errorf("workload output %q: want process.oomScoreAdj 100", out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(shared, "made-by-1000"), &st); err != nil {
		t.Fatalf("file made by uid 1000: %v (output %q)", err, out)
	}
	if st.Uid != u.subUID+999 || st.Gid != u.subGID+999 {
		t.Errorf("file made by uid 1000 is owned by %d:%d on the host, want %d:%d", st.Uid, st.Gid, u.subUID+999, u.subGID+999)
	}
	// Detached, init waits on its exec FIFO as uid 1000 (a subordinate
	// id on the host, which the user cannot chown the FIFO to).
	u.editSpecAs(dir, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} })
	u.mustBerth(dir, "run", "-d", "h10-rl-subd")
	if out := u.mustBerth(dir, "exec", "h10-rl-subd", "id", "-u"); strings.TrimSpace(out) != "1000" {
		t.Errorf("exec into the detached container: %q, want 1000", out)
	}
	u.mustBerth(dir, "delete", "--force", "h10-rl-subd")
}

// TestRootlessDetached: a detached rootless container is the user's alone:
// listed for the user and not for root, whose --root pointing at the
// user's state is refused; exec, ps and kill work as the user; pause says
// why it cannot; kill and delete leave no process, state or mount.
func TestRootlessDetached(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("det", []string{"sleep", "1000"})
	id := "h10-rl-det"
	u.mustBerth(dir, "run", "-d", id)
	list := u.mustBerth(dir, "list")
	if !strings.Contains(list, id) || !strings.Contains(list, u.name) {
		t.Errorf("user's list %q: want %s owned by %s", list, id, u.name)
	}
	if out, _ := exec.Command(berthBinary, "list", "-q").CombinedOutput(); strings.Contains(string(out), id) {
		t.Errorf("root's list shows the user's container: %q", out)
	}
	if out, err := exec.Command(berthBinary, "--root", filepath.Join(u.runtimeDir, "berth"), "kill", id, "KILL").CombinedOutput(); err == nil || !strings.Contains(string(out), "not by the caller") {
		t.Errorf("root acting on the user's state root: %v %q; want a refusal", err, out)
	}
	var state struct{ Pid int }
	if err := json.Unmarshal([]byte(u.mustBerth(dir, "state", id)), &state); err != nil || state.Pid <= 0 {
		t.Fatalf("state as the user: %v %+v", err, state)
	}
	if out := u.mustBerth(dir, "exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map"); !strings.HasPrefix(out, "0\n") || !strings.Contains(strings.Join(strings.Fields(out), " "), fmt.Sprintf("0 %d 1", u.uid)) {
		t.Errorf("exec as the user: %q; want uid 0 mapped to %d", out, u.uid)
	}
	u.mustBerth(dir, "exec", "-d", id, "sleep", "999")
	ps := u.mustBerth(dir, "ps", id)
	if !strings.Contains(ps, "sleep 1000") || !strings.Contains(ps, "sleep 999") {
		t.Errorf("ps as the user: %q; want both processes", ps)
	}
	_, errs, code := u.berth(dir, "pause", id)
	if code == 0 || !strings.Contains(errs, "rootless") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("pause without a delegated cgroup: exit %d, %q; want one line saying rootless", code, errs)
	}
	_, errs, code = u.berth(dir, "update", "--memory", "100000000", id)
	if code == 0 || !strings.Contains(errs, "rootless") {
		t.Errorf("update without a delegated cgroup: exit %d, %q; want a refusal saying rootless", code, errs)
	}
	_, errs, code = u.berth(dir, "events", "--stats", id)
	if code != 1 || !strings.Contains(errs, "rootless") || strings.Contains(errs, "panic") {
		t.Errorf("events --stats without a cgroup: exit %d, %q; want a refusal saying rootless", code, errs)
	}
	u.mustBerth(dir, "kill", id, "KILL")
	waitFor(t, 5*time.Second, "init to die", func() bool { return !pidAlive(state.Pid) })
	u.mustBerth(dir, "delete", id)
	if _, err := os.Stat(u.stateDir(id)); !os.IsNotExist(err) {
		t.Errorf("state dir left after delete: %v", err)
	}
	if n := mountsMentioning(t, dir); n > 0 {
		t.Errorf("%d mounts under the bundle left after delete", n)
	}
	if waitUntil(2*time.Second, func() bool { return len(u.processes()) == 0 }); len(u.processes()) > 0 {
		t.Errorf("processes of the user left after delete: %v", u.processes())
	}
}

// TestRootlessForeignRange: a map to host ids outside the user's own id and
// its /etc/subuid range is refused in one line naming the range, before any
// state exists.
func TestRootlessForeignRange(t *testing.T) {
	u := newRootlessUser(t)
	foreign := u.subUID + 65536*16
	dir := u.bundle("foreign", []string{"true"}, u.subordinateMaps, func(s *specs.Spec) {
		s.Linux.UIDMappings[1].HostID = foreign
	})
	out, errs, code := u.berth(dir, "run", "h10-rl-foreign")
	want := fmt.Sprintf("%d-%d", foreign, foreign+65535)
	if code == 0 || !strings.Contains(errs, want) || !strings.Contains(errs, "rootless") || !strings.Contains(errs, "linux.uidMappings") {
		t.Errorf("foreign range: exit %d, %q; want a refusal naming linux.uidMappings and %s", code, out+errs, want)
	}
	if n := strings.Count(strings.TrimSpace(errs), "\n") + 1; n > 3 {
		t.Errorf("refusal takes %d lines: %q", n, errs)
	}
	if _, err := os.Stat(u.stateDir("h10-rl-foreign")); !os.IsNotExist(err) {
		t.Errorf("state dir left after the refusal: %v", err)
	}
}

// TestRootlessRefusals: what an unprivileged user's container cannot have
// is refused up front, naming the field and rootless mode, leaving no
// state; linux.devices are bound from the host instead of made.
func TestRootlessRefusals(t *testing.T) {
	u := newRootlessUser(t)
	cases := []struct {
		name string
		edit func(*specs.Spec)
		want string
	}{
		{"ext4 mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "ext4", Source: "/dev/sda1"})
		}, "ext4 filesystem"},
		{"proc without pid ns", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.PIDNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}, "PID namespace"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.panic": "1"} }, "linux.sysctl"},
		{"net sysctl without netns", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, "network namespace"},
		{"additional gids", func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{0} }, "process.user.additionalGids"},
		{"unmapped uid", func(s *specs.Spec) { // refused for root alike
			s.Process.User.UID = 1000
		}, "process.user.uid 1000"},
		{"unmapped uid, automatic maps", func(s *specs.Spec) {
			s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
			s.Process.User.UID = 70000
		}, "process.user.uid 70000: rootless mode"},
		{"unmapped mount gid", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"gid=5"}})
		}, "gid=5"},
		{"oom score", func(s *specs.Spec) { v := -1000; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj"},
		{"net device", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"lo": {}}
		}, "linux.netDevices"},
		{"device the host lacks", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/h10-nonesuch", Type: "c", Major: 1, Minor: 3}}
		}, "linux.devices[0] /dev/h10-nonesuch"},
		{"device the host has otherwise", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 5}}
		}, "different device"},
	}
	for i, c := range cases {
		dir := u.bundle(fmt.Sprintf("refuse%d", i), []string{"true"}, c.edit)
		id := fmt.Sprintf("h10-rl-refuse%d", i)
		_, errs, code := u.berth(dir, "run", id)
		if c.name == "unmapped uid" {
			errs = strings.TrimSpace(errs) + " rootless" // the generic refusal (usermap.go) is enough
		}
		if code == 0 || !strings.Contains(errs, c.want) || !strings.Contains(errs, "rootless") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: exit %d, %q; want one line naming %q and rootless mode", c.name, code, errs, c.want)
		}
		if _, err := os.Stat(u.stateDir(id)); !os.IsNotExist(err) {
			t.Errorf("%s: state dir left: %v", c.name, err)
		}
	}
	// A device node cannot be made in a user namespace: the host's is bound.
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse on this host to bind")
	}
	dir := u.bundle("dev", []string{"sh", "-c", "ls -l /dev/fuse"}, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	})
	if out, errs, code := u.berth(dir, "run", "h10-rl-dev"); code != 0 || !strings.HasPrefix(out, "c") || !strings.Contains(out, "10,") {
		t.Errorf("linux.devices /dev/fuse: exit %d, %q %q; want the host's node bound", code, out, errs)
	}
}

// TestRootlessLimitsWarning: without a delegated cgroup the container runs
// without limits, and berth says so once.
func TestRootlessLimitsWarning(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("limits", []string{"echo", "ran"}, func(s *specs.Spec) {
		limit := int64(64 << 20)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	})
	out, errs, code := u.berth(dir, "run", "h10-rl-limits")
	if code != 0 || strings.TrimSpace(out) != "ran" {
		t.Fatalf("run with limits, no delegated cgroup: exit %d, %q %q", code, out, errs)
	}
	if n := strings.Count(errs, "linux.resources"); n != 1 || !strings.Contains(errs, "rootless") {
		t.Errorf("stderr %q: want one warning about linux.resources in rootless mode", errs)
	}
}

// TestRootlessDelegatedCgroup: with a cgroup subtree delegated to the user,
// a rootless container's memory limit is set there and enforced (the
// kernel's OOM killer kills the workload), pause works, and delete removes
// the container's cgroup. On a v1 or hybrid host the v1 hierarchies are
// delegated; in tests/vm (cgroup v2) the unified one, with berth in a leaf.
func TestRootlessDelegatedCgroup(t *testing.T) {
	u := newRootlessUser(t)
	name := "h10-deleg-" + u.name
	dirs := u.delegate(name)
	limit := int64(32 << 20)
	withLimit := func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + name + "/c1"
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	}
	dir := u.bundle("oom", []string{"sh", "-c", "tail /dev/zero; echo tail=$?"}, withLimit)
	out, errs, code := u.berth(dir, "run", "h10-rl-oom")
	if code != 0 || !strings.Contains(out, "tail=137") {
		t.Errorf("memory hog under a %d-byte limit: exit %d, %q %q; want tail killed (137)", limit, code, out, errs)
	}
	if strings.Contains(errs, "linux.resources") {
		t.Errorf("warned about limits with a delegated cgroup: %q", errs)
	}
	dir = u.bundle("paused", []string{"sleep", "1000"}, withLimit)
	u.mustBerth(dir, "run", "-d", "h10-rl-paused")
	u.mustBerth(dir, "pause", "h10-rl-paused")
	if st := u.mustBerth(dir, "state", "h10-rl-paused"); !strings.Contains(st, `"paused"`) {
		t.Errorf("state after pause: %s", st)
	}
	u.mustBerth(dir, "resume", "h10-rl-paused")
	u.mustBerth(dir, "delete", "--force", "h10-rl-paused")
	for _, d := range dirs {
		if left, _ := filepath.Glob(filepath.Join(d, "c1")); len(left) > 0 {
			t.Errorf("container cgroup %v left after delete", left)
		}
	}
}

// TestRootlessStateRoot: without XDG_RUNTIME_DIR the user's state goes to
// /tmp/berth-<uid>, made 0700; one there that another user made is
// refused, naming it. --rootless takes runc's values, and false makes a
// cgroup the user cannot write an error.
func TestRootlessStateRoot(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("root", []string{"sleep", "100"})
	fallback := fmt.Sprintf("/tmp/berth-%d", u.uid)
	os.RemoveAll(fallback)
	t.Cleanup(func() { os.RemoveAll(fallback) })
	if out, errs, code := u.berthEnv(nil, dir, "create", "h10-rl-root"); code != 0 {
		t.Fatalf("create without XDG_RUNTIME_DIR: exit %d: %s%s", code, out, errs)
	}
	fi, err := os.Stat(filepath.Join(fallback, "h10-rl-root"))
	if root, err2 := os.Stat(fallback); err != nil || err2 != nil || root.Mode().Perm() != 0o700 || root.Sys().(*syscall.Stat_t).Uid != uint32(u.uid) {
		t.Errorf("state under %s: %v %v %v; want the container there, the root 0700 and the user's", fallback, fi, err, err2)
	}
	if out, _, _ := u.berthEnv(nil, dir, "list", "-q"); strings.TrimSpace(out) != "h10-rl-root" {
		t.Errorf("list without XDG_RUNTIME_DIR: %q", out)
	}
	u.berthEnv(nil, dir, "delete", "--force", "h10-rl-root")
	os.RemoveAll(fallback)
	os.Mkdir(fallback, 0o700) // made by root: not the user's
	_, errs, code := u.berthEnv(nil, dir, "run", "h10-rl-root2")
	if code == 0 || !strings.Contains(errs, fallback) || !strings.Contains(errs, "owned by uid 0") {
		t.Errorf("a state root another user made: exit %d, %q; want a refusal naming it", code, errs)
	}
	_, errs, code = u.berth(dir, "--rootless", "false", "run", "h10-rl-strict")
	if code == 0 || !strings.Contains(errs, "cgroup") {
		t.Errorf("--rootless false as a user: exit %d, %q; want the cgroup error", code, errs)
	}
	if _, err := os.Stat(u.stateDir("h10-rl-strict")); !os.IsNotExist(err) {
		t.Errorf("--rootless false: state dir left: %v", err)
	}
	_, errs, code = u.berth(dir, "--rootless", "maybe", "list")
	if code == 0 || !strings.Contains(errs, "--rootless") {
		t.Errorf("--rootless maybe: exit %d, %q", code, errs)
	}
}

// TestRootlessAutoUserNS: as crun, berth gives an unprivileged user's
// container the user namespace its config lacks: `berth spec` (root's
// config: no user namespace, a network namespace, sysfs, devpts gid=5)
// runs as the user, mapped 0 -> the user and 1.. -> its subordinate ids.
func TestRootlessAutoUserNS(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("auto", nil)
	os.Remove(filepath.Join(dir, "config.json"))
	u.mustBerth(dir, "spec")
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map; ls /sys/kernel >/dev/null && echo sys-ok; stat -c %g /dev/pts/ptmx"}
	data, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
	out, errs, code := u.berth(dir, "run", "h10-rl-auto")
	if code != 0 {
		t.Fatalf("root's config as %s: exit %d: %s%s", u.name, code, out, errs)
	}
	norm := strings.Join(strings.Fields(out), " ")
	want := fmt.Sprintf("0 0 %d 1 1 %d 65536 sys-ok", u.uid, u.subUID)
	if !strings.HasPrefix(norm, want) {
		t.Errorf("workload output %q, want it to start %q", norm, want)
	}
}

// TestRootlessAsUserNamespaceRoot: berth run as root of a user's namespace,
// as rootless podman runs it, keeps its state in $XDG_RUNTIME_DIR/berth
// (not the host's /run/berth, which it cannot trust), runs a config without
// a user namespace of its own without a cgroup, and binds the device nodes
// it cannot make.
func TestRootlessAsUserNamespaceRoot(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("nsroot", []string{"sh", "-c", "id -u; cat /proc/self/uid_map; echo x > /dev/null && echo null-ok"}, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.UserNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces, s.Linux.UIDMappings, s.Linux.GIDMappings = ns, nil, nil
	})
	u.asNSRoot = true
	out, errs, code := u.berth(dir, "run", "-d", "h10-rl-nsroot")
	if code != 0 {
		t.Fatalf("run -d as root of the user's namespace: exit %d: %s%s", code, out, errs)
	}
	if _, err := os.Stat(u.stateDir("h10-rl-nsroot")); err != nil {
		t.Errorf("state not in $XDG_RUNTIME_DIR/berth: %v", err)
	}
	u.mustBerth(dir, "delete", "--force", "h10-rl-nsroot")
	out, errs, code = u.berth(dir, "run", "h10-rl-nsroot2")
	norm := strings.Join(strings.Fields(out), " ")
	if code != 0 || !strings.HasPrefix(norm, fmt.Sprintf("0 0 %d 1 null-ok", u.uid)) {
		t.Errorf("run as root of the user's namespace: exit %d, %q %q", code, out, errs)
	}
}

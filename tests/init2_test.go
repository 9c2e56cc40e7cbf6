package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// asUser runs the process as uid:gid.
func asUser(uid, gid uint32) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.User = specs.User{UID: uid, GID: gid} }
}

// A cwd that root can enter and the process's user cannot (/root, 0700)
// works, as in runc: init enters it before it drops its privileges. The
// same for exec with --user.
func TestCwdOnlyRootCanEnter(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo no-read; exec sleep 1000"},
		asUser(1000, 1000), func(s *specs.Spec) { s.Process.Cwd = "/root" })
	if err := os.MkdirAll(filepath.Join(b, "rootfs", "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(b, "rootfs", "root"), 0o700)
	id := "h7-cwd-1"
	e.mustBerth("run", "--detach", "--bundle", b, id)
	e.waitStatus(id, "running")
	out := e.mustBerth("exec", "--user", "1001:1001", id, "sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo no-read")
	if f := strings.Fields(out); len(f) != 3 || f[0] != "/root" || f[1] != "1001" || f[2] != "no-read" {
		t.Fatalf("exec --user 1001 in cwd /root (0700): %q, want /root, 1001, no-read", out)
	}
	e.mustBerth("delete", "--force", id)
	// A foreground run, to see what init's workload printed.
	e.editSpec(b, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo no-read"}
	})
	out, code := e.run("h7-cwd-2", b)
	if f := strings.Fields(out); code != 0 || len(f) != 3 || f[0] != "/root" || f[1] != "1000" || f[2] != "no-read" {
		t.Fatalf("run as 1000 in cwd /root (0700): %q (exit %d), want /root, 1000, no-read", out, code)
	}
}

// A startContainer hook runs under the workload's seccomp filter, as in
// runc: a profile that refuses mkdir makes a hook that runs mkdir fail.
func TestStartContainerHookRunsUnderSeccomp(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		e := newEnv(t)
		b := e.bundle([]string{"true"}, withSeccomp(allowAllBut(
			specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
		)), func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Process.NoNewPrivileges = nnp
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/mkdir", Args: []string{"mkdir", "/hookdir"}}}}
		})
		out, code := e.run("h7-scmp-hook", b)
		if _, err := os.Stat(filepath.Join(b, "rootfs", "hookdir")); err == nil || code == 0 || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("noNewPrivileges %v: a startContainer hook ran mkdir despite the filter: exit %d: %q", nnp, code, out)
		}
	}
}

// createContainer hooks run in the container's root: a relative path in a
// hook is one inside the rootfs.
func TestCreateContainerHookRunsInRootfs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "touch ./lib/x"}}}}
	})
	os.MkdirAll(filepath.Join(b, "rootfs", "lib"), 0o755)
	if out, code := e.run("h7-cc-hook", b); code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs", "lib", "x")); err != nil {
		t.Fatalf("createContainer hook's ./lib/x is not <rootfs>/lib/x: %v", err)
	}
}

// HOME: kept when set and not empty; from /etc/passwd when empty or
// missing. A variable given several times is set once, to its last value.
func TestProcessEnvHomeAndDuplicates(t *testing.T) {
	e := newEnv(t)
	for i, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"PATH=/bin", "HOME=/custom"}, "HOME=/custom"},
		{[]string{"PATH=/bin", "HOME="}, "HOME=/root"},
		{[]string{"PATH=/bin"}, "HOME=/root"},
	} {
		b := e.bundle([]string{"env"}, func(s *specs.Spec) {
			s.Process.Env = append(c.env, "DUP=1", "OTHER=x", "DUP=2")
		})
		out, code := e.run("h7-env-"+strconv.Itoa(i), b)
		lines := strings.Fields(out)
		count := map[string]int{}
		for _, l := range lines {
			k, _, _ := strings.Cut(l, "=")
			count[k]++
		}
		if code != 0 || !strings.Contains(out, c.want+"\n") || !strings.Contains(out, "DUP=2\n") || count["DUP"] != 1 || count["HOME"] != 1 {
			t.Errorf("env %q: got %q (exit %d), want %s once and DUP=2 once", c.env, out, code, c.want)
		}
	}
}

// startContainer hooks without an env of their own get process.env.
func TestStartContainerHookGetsProcessEnv(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Env = append(s.Process.Env, "H7_HOOK_VAR=from-process")
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo \"$H7_HOOK_VAR\" > /hookenv"}}}}
	})
	if out, code := e.run("h7-hook-env", b); code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	data, _ := os.ReadFile(filepath.Join(b, "rootfs", "hookenv"))
	if strings.TrimSpace(string(data)) != "from-process" {
		t.Fatalf("startContainer hook saw H7_HOOK_VAR=%q, want from-process", data)
	}
}

// A user without the exec bit of a file but with CAP_DAC_OVERRIDE may run
// it, as execve allows.
func TestExecWithDacOverride(t *testing.T) {
	e := newEnv(t)
	caps := []string{"CAP_DAC_OVERRIDE"}
	b := e.bundle([]string{"/opt/echo", "ran"}, asUser(1000, 1000), func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	})
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(b, "rootfs", "opt"), 0o755)
	if err := os.WriteFile(filepath.Join(b, "rootfs", "opt", "echo"), data, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, code := e.run("h7-dac", b); code != 0 || strings.TrimSpace(out) != "ran" {
		t.Fatalf("uid 1000 with CAP_DAC_OVERRIDE running a 0700 root file: %q (exit %d)", out, code)
	}
	// Without the capability it is refused.
	e.editSpec(b, func(s *specs.Spec) { s.Process.Capabilities = &specs.LinuxCapabilities{} })
	if out, code := e.run("h7-dac-2", b); code == 0 {
		t.Fatalf("uid 1000 without CAP_DAC_OVERRIDE ran a 0700 root file: %q", out)
	}
}

// withUserNS gives the container a user namespace mapping 0 to host 200000,
// and lets that uid reach the bundle.
func withUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
}

func openBundle(b string) {
	os.Chmod(b, 0o755)
	os.Chmod(filepath.Dir(b), 0o755)
}

// linux.timeOffsets are in the time namespace before the workload runs,
// with and without a user namespace; exec enters the container's time
// namespace and sees the same offsets.
func TestTimeOffsetsRunAndExec(t *testing.T) {
	timens := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1000}, "boottime": {Secs: 2000, Nanosecs: 7}}
	}
	const script = "tr -s ' ' < /proc/self/timens_offsets | sort; readlink /proc/self/ns/time"
	for name, edits := range map[string][]func(*specs.Spec){
		"plain":  {timens},
		"userns": {timens, withUserNS},
	} {
		e := newEnv(t)
		b := e.bundle([]string{"sh", "-c", script}, edits...)
		openBundle(b)
		out, code := e.run("h7-timens-"+name, b)
		want := "boottime 2000 7 monotonic 1000 0 "
		if f := strings.Fields(out); code != 0 || len(f) != 7 || strings.Join(f[:6], " ")+" " != want {
			t.Errorf("%s: run: %q (exit %d), want offsets %q", name, out, code, want)
		}
		e.editSpec(b, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} })
		id := "h7-timens-x-" + name
		e.mustBerth("run", "--detach", "--bundle", b, id)
		e.waitStatus(id, "running")
		pid := int(e.state(id)["pid"].(float64))
		initNS, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/time")
		initMnt, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
		out, errs, code := e.berth("exec", id, "sh", "-c", script+"; readlink /proc/self/ns/mnt")
		if f := strings.Fields(out); code != 0 || len(f) != 8 || strings.Join(f[:6], " ")+" " != want || f[6] != initNS || f[7] != initMnt {
			t.Errorf("%s: exec: %q (exit %d, %s), want offsets %q and init's namespaces %s %s", name, out, code, errs, want, initNS, initMnt)
		}
		e.mustBerth("delete", "--force", id)
	}
}

// joinUserNSOf makes the container join the user namespace of pid, with no
// mappings of its own.
func joinUserNSOf(pid int) func(*specs.Spec) {
	return func(s *specs.Spec) {
		setNSPath(s, specs.UserNamespace, "/proc/"+strconv.Itoa(pid)+"/ns/user")
		s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
	}
}

// A container that joins another's user namespace by path is left created
// by create (init can still open the exec FIFO after the join), and start
// runs it, in that namespace.
func TestJoinUserNamespaceByPathCreateStart(t *testing.T) {
	e := newEnv(t)
	a := e.bundle([]string{"sleep", "1000"}, withUserNS)
	openBundle(a)
	e.mustBerth("run", "--detach", "--bundle", a, "h7-userns-a")
	e.waitStatus("h7-userns-a", "running")
	apid := int(e.state("h7-userns-a")["pid"].(float64))
	userNS, _ := os.Readlink("/proc/" + strconv.Itoa(apid) + "/ns/user")

	b := e.bundle([]string{"sleep", "1000"}, joinUserNSOf(apid))
	openBundle(b)
	e.mustBerth("create", "--bundle", b, "h7-userns-b")
	if st := e.state("h7-userns-b")["status"]; st != "created" {
		t.Fatalf("after create: status %v, want created", st)
	}
	e.mustBerth("start", "h7-userns-b")
	e.waitStatus("h7-userns-b", "running")
	out := e.mustBerth("exec", "h7-userns-b", "sh", "-c", "readlink /proc/self/ns/user; readlink /proc/1/ns/user; tr -s ' ' < /proc/self/uid_map")
	if f := strings.Fields(out); len(f) != 5 || f[0] != userNS || f[1] != userNS || f[3] != "200000" {
		t.Fatalf("exec in the joined user namespace: %q, want %s (0 -> 200000) for both", out, userNS)
	}
}

// Joining a user namespace together with a network namespace that this
// user namespace does not own (one of the host's) works: that one is
// joined before the user namespace, as runc does.
func TestJoinUserAndForeignNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	a := e.bundle([]string{"sleep", "1000"}, withUserNS)
	openBundle(a)
	e.mustBerth("run", "--detach", "--bundle", a, "h7-userns-c")
	e.waitStatus("h7-userns-c", "running")
	apid := int(e.state("h7-userns-c")["pid"].(float64))
	netns := newNetns(t)
	b := e.bundle([]string{"sh", "-c", "ip -o link | grep -c berthv0@; readlink /proc/self/ns/user"}, joinUserNSOf(apid), func(s *specs.Spec) {
		setNSPath(s, specs.NetworkNamespace, netns)
	})
	openBundle(b)
	userNS, _ := os.Readlink("/proc/" + strconv.Itoa(apid) + "/ns/user")
	out, code := e.run("h7-userns-d", b)
	if f := strings.Fields(out); code != 0 || len(f) != 2 || f[0] != "1" || f[1] != userNS {
		t.Fatalf("run joining a user namespace and the host-owned network namespace %s: %q (exit %d), want its veth and %s", netns, out, code, userNS)
	}
}

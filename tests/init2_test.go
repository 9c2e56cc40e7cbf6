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
		if _, err := os.Stat(filepath.Join(b, "rootfs", "hookdir")); err == nil || code == 0 {
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

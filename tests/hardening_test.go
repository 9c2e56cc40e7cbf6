package tests

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: a process in the container sees `berth exec`'s process
// (it joins the container's PID namespace), opens /proc/<pid>/exe, and once
// berth has exec'd the workload reopens it for writing, to overwrite the
// host's binary. berth runs from a read-only clone of its binary: the reopen
// must fail. The test holds the exec'd berth in a paused container to open
// the link; it never writes.
func TestHostBinaryCannotBeReopenedForWriting(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "-d", "--bundle", b, "cve5736")
	e.mustBerth("pause", "cve5736")
	cmd := newBerthCmd(e, "exec", "--ignore-paused", "-d", "cve5736", "sleep", "999")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		e.berth("resume", "cve5736") // a frozen exec would never end
		cmd.Wait()
	}()
	var host unix.Stat_t
	unix.Stat(berthBinary, &host)
	// The attacker sees the exec'd berth once it is in the container's PID
	// namespace; before that (a clone not yet exec'd, started in the
	// container's cgroup on v2) it is out of the container's reach.
	pidNS, _ := os.Readlink("/proc/" + itoa(int(e.state("cve5736")["pid"].(float64))) + "/ns/pid")
	var exe *os.File
	for i := 0; exe == nil; i++ {
		if i > 500 {
			t.Fatal("the exec'd berth never appeared in the container's cgroup")
		}
		time.Sleep(10 * time.Millisecond)
		var pids []int
		json.Unmarshal([]byte(e.mustBerth("ps", "--format", "json", "cve5736")), &pids)
		for _, pid := range pids {
			if ns, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid"); ns != pidNS {
				continue
			}
			f, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/exe", unix.O_PATH, 0)
			if err != nil {
				continue
			}
			var st unix.Stat_t
			unix.Fstat(int(f.Fd()), &st)
			if st.Ino == host.Ino && st.Dev == host.Dev {
				exe = f
				break
			}
			f.Close()
		}
	}
	defer exe.Close()
	e.mustBerth("resume", "cve5736")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exec: %v", err)
	}
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(exe.Fd())), os.O_WRONLY, 0)
	if err == nil {
		w.Close()
		t.Fatal("the host's berth binary could be opened for writing through the exec'd process's /proc/<pid>/exe")
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("reopen for writing failed with %v, want EROFS (read-only clone)", err)
	}
}

// CVE-2024-21626: no descriptor of berth's reaches the workload, and
// process.cwd cannot go through /proc/self/fd to one.
func TestNoDescriptorLeaksAndCwdStaysInside(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"ls", "/proc/self/fd"})
	out, code := e.run("fdleak", b)
	// 0, 1, 2 and the directory ls is reading.
	if code != 0 || len(strings.Fields(out)) != 4 {
		t.Fatalf("workload's descriptors: %q (exit %d), want 0 1 2 and ls's own", out, code)
	}
	for fd := 3; fd < 12; fd++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(fd)
		b := e.bundle([]string{"pwd"}, func(s *specs.Spec) { s.Process.Cwd = cwd })
		out, code := e.run("cwd"+strconv.Itoa(fd), b)
		if code == 0 {
			t.Fatalf("cwd %s was accepted; the workload is in %q", cwd, out)
		}
		if !strings.Contains(out, "process.cwd") {
			t.Fatalf("cwd %s: unclear error %q", cwd, out)
		}
	}
}

// CVE-2021-30465 class: a mount destination that is a symlink pointing out
// of the rootfs is resolved inside the rootfs, never on the host.
func TestSymlinkedMountDestinationStaysInRootfs(t *testing.T) {
	e := newEnv(t)
	hostDir := t.TempDir()
	b := e.bundle([]string{"stat", "-f", "-c", "%T", "/evil/"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/evil", Type: "tmpfs", Source: "tmpfs"})
	})
	if err := os.Symlink(hostDir, filepath.Join(b, "rootfs", "evil")); err != nil {
		t.Fatal(err)
	}
	out, code := e.run("symlinkdest", b)
	if ents, _ := os.ReadDir(hostDir); len(ents) > 0 || mountsMentioning(t, hostDir) > 0 {
		t.Fatalf("the mount followed the symlink to the host directory %s", hostDir)
	}
	// Refusing the dangling link is as safe as resolving it in the rootfs;
	// either way the error must name the mount.
	if code != 0 && !strings.Contains(out, "/evil") {
		t.Fatalf("exit %d without naming the destination: %s", code, out)
	}
	if code == 0 && out != "tmpfs\n" {
		t.Fatalf("the link resolved in the rootfs, but /evil/ is on %q, not the tmpfs", out)
	}
	e.assertNothingLeft("symlinkdest", "", b)
}

// CVE-2025-31133 class: masking with a /dev/null that is not the null
// device, or masking a path that is a symlink, is refused.
func TestMaskingIsNotRedirected(t *testing.T) {
	e := newEnv(t)
	fake := filepath.Join(t.TempDir(), "fake-null")
	os.WriteFile(fake, []byte("not a device"), 0o644)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/null", Type: "bind", Source: fake, Options: []string{"bind"}})
	})
	e.expectRefused([]string{"/dev/null", "not the null device"}, "run", "--bundle", b, "fakenull")
	e.assertNothingLeft("fakenull", "", b)

	b = e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/shadow-link")
	})
	os.Symlink("/etc/passwd", filepath.Join(b, "rootfs", "etc", "shadow-link"))
	e.expectRefused([]string{"masked path /etc/shadow-link"}, "run", "--bundle", b, "masklink")
	e.assertNothingLeft("masklink", "", b)
}

// CVE-2022-29162: no capability reaches the inheritable or ambient sets
// unless the spec asks for it.
func TestNoInheritableOrAmbientCapsByDefault(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"grep", "-E", "^Cap(Inh|Amb)", "/proc/self/status"})
	out, code := e.run("capinh", b)
	if code != 0 || strings.Count(out, "0000000000000000") != 2 {
		t.Fatalf("inheritable/ambient caps: %q", out)
	}
}

// Until it execs the workload, init is not dumpable: a process of the
// container (root, but without CAP_SYS_PTRACE) can neither ptrace it nor
// read its memory or environment.
func TestInitIsNotDumpable(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	e.mustBerth("create", "--bundle", b, "dumpable")
	out, _, code := e.berth("exec", "dumpable", "sh", "-c", "cat /proc/1/environ >/dev/null && echo READ; cat /proc/1/cmdline")
	if strings.Contains(out, "READ") {
		t.Fatalf("a container process read init's environment (exit %d): %q", code, out)
	}
	if !strings.Contains(out, "berth") {
		t.Fatalf("the process at PID 1 is not berth's init: %q", out)
	}
}

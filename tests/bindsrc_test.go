package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Bind mounts whose source only the host's root can reach (under a 0700
// directory of root's), into a container with a new user namespace: berth
// clones each source before init, root of that namespace only, would have
// to resolve it (libcontainer/bindsrc_linux.go).

// rootOnlySource makes, under a root-owned 0700 directory, a source
// directory holding "file", a 0700 subdirectory "own" owned by the
// container's root (host uid 100000) holding "file", and a tmpfs on "sub"
// holding "file", which only a recursive bind shows. (A plain bind of a
// directory holding a submount is refused in a user namespace: the kernel
// locks the submount, so "own" is the plain bind's source.)
func rootOnlySource(t *testing.T) string {
	t.Helper()
	hidden := filepath.Join(t.TempDir(), "hidden")
	src := filepath.Join(hidden, "src")
	for _, d := range []string{hidden, src, filepath.Join(src, "own"), filepath.Join(src, "sub")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(src, 0o755)
	os.Chmod(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "file"), []byte("h15-top\n"), 0o644)
	os.WriteFile(filepath.Join(src, "own", "file"), []byte("h15-own\n"), 0o600)
	if err := os.Chown(filepath.Join(src, "own"), 100000, 100000); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(src, "own", "file"), 100000, 100000)
	os.WriteFile(filepath.Join(src, "sub", "file"), []byte("h15-hidden\n"), 0o644) // under the tmpfs
	if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(src, "sub", "file"), []byte("h15-sub\n"), 0o644)
	return src
}

// bindSrcBundle binds src/own on /b1 (bind, ro) and src on /b2 (rbind), with a user
// namespace mapping the container's 0 to host 100000 when userns.
func bindSrcBundle(e *env, src string, userns bool, args ...string) string {
	b := e.bundle(args, func(s *specs.Spec) {
		if userns {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/b1", Type: "bind", Source: filepath.Join(src, "own"), Options: []string{"bind", "ro", "nosuid"}},
			specs.Mount{Destination: "/b2", Type: "bind", Source: src, Options: []string{"rbind"}})
	})
	// The namespace's root (host uid 100000) must reach the rootfs.
	for _, d := range []string{b, filepath.Dir(b)} {
		os.Chmod(d, 0o755)
	}
	os.Mkdir(filepath.Join(b, "rootfs", "b1"), 0o755)
	os.Mkdir(filepath.Join(b, "rootfs", "b2"), 0o755)
	return b
}

// bindSrcScript prints what the workload sees through both mounts: the
// files, the submount's (b2 is recursive), and whether /b1 is read-only
// (and stays so: the write must fail).
const bindSrcScript = `cat /b1/file /b2/file /b2/own/file /b2/sub/file; ` +
	`awk '$5=="/b1"{split($6,o,",");print "b1-"o[1]}' /proc/self/mountinfo; ` +
	`if touch /b1/new 2>/dev/null; then echo b1-writable; fi`

const bindSrcWant = "h15-own h15-top h15-own h15-sub b1-ro"

// noFDUnder fails when process pid holds a descriptor naming a path under dir.
func noFDUnder(t *testing.T, pid int, dir string) {
	t.Helper()
	fdDir := "/proc/" + itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if l, _ := os.Readlink(filepath.Join(fdDir, ent.Name())); strings.HasPrefix(l, dir) || strings.HasPrefix(l, "/b1") || strings.HasPrefix(l, "/b2") {
			t.Errorf("process %d holds fd %s -> %s", pid, ent.Name(), l)
		}
	}
}

// TestBindSrcUserNSRun: run reads through both mounts.
func TestBindSrcUserNSRun(t *testing.T) {
	e := newEnv(t)
	src := rootOnlySource(t)
	b := bindSrcBundle(e, src, true, "sh", "-c", bindSrcScript)
	out, code := e.run("h15-bindsrc-run", b)
	if got := strings.Join(strings.Fields(out), " "); code != 0 || got != bindSrcWant {
		t.Errorf("workload saw %q (exit %d); want %q", out, code, bindSrcWant)
	}
}

// TestBindSrcUserNSExec: a detached container, then exec, reads through
// both mounts; neither init nor the exec'd process holds a clone.
func TestBindSrcUserNSExec(t *testing.T) {
	e := newEnv(t)
	src := rootOnlySource(t)
	b := bindSrcBundle(e, src, true, "sleep", "100")
	id := "h15-bindsrc-exec"
	e.mustBerth("run", "-d", "--bundle", b, id)
	pid := int(e.state(id)["pid"].(float64))
	noFDUnder(t, pid, filepath.Dir(src))
	out, errs, code := e.berth("exec", id, "sh", "-c", bindSrcScript+"; ls -l /proc/self/fd/")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	got := strings.Join(strings.Fields(strings.Join(lines[:min(len(lines), 5)], "\n")), " ")
	if code != 0 || got != bindSrcWant {
		t.Errorf("exec saw %q (exit %d, %s); want %q", out, code, errs, bindSrcWant)
	}
	if strings.Contains(out, "/b1") || strings.Contains(out, "/b2") || strings.Contains(out, src) {
		t.Errorf("exec'd process holds a descriptor on a bind source:\n%s", out)
	}
	e.mustBerth("delete", "-f", id)
	e.assertNothingLeft(id, "", b)
}

// TestBindSrcPlain: without a user namespace the same mounts work as
// before (init binds the sources itself). The container's root, host root
// without CAP_DAC_OVERRIDE, cannot read inside "own" (uid 100000's).
func TestBindSrcPlain(t *testing.T) {
	e := newEnv(t)
	src := rootOnlySource(t)
	b := bindSrcBundle(e, src, false, "sh", "-c", strings.Replace(bindSrcScript, "/b1/file /b2/file /b2/own/file", "/b2/file", 1))
	out, code := e.run("h15-bindsrc-plain", b)
	want := "h15-top h15-sub b1-ro"
	if got := strings.Join(strings.Fields(out), " "); code != 0 || got != want {
		t.Errorf("workload saw %q (exit %d); want %q", out, code, want)
	}
}

// TestBindSrcUserNSLocked: the clones are of the container's own copies
// of the host's mounts, which the kernel locks: the container's root, even
// with CAP_SYS_ADMIN, cannot unmount the submount of the rbind to see what
// it hides on the host, and the mount is a slave of the host's (mounts
// made inside do not reach the host).
func TestBindSrcUserNSLocked(t *testing.T) {
	e := newEnv(t)
	src := rootOnlySource(t)
	b := bindSrcBundle(e, src, true, "sh", "-c", `umount /b2/sub 2>/dev/null && echo unmounted; cat /b2/sub/file; `+
		`awk '$5=="/b2"{print ($7 ~ /^shared/) ? "b2-shared" : "b2-not-shared"}' /proc/self/mountinfo; `+
		`mount -t tmpfs none /b2/own && echo mounted`)
	e.editSpec(b, func(s *specs.Spec) {
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_SYS_ADMIN")
	})
	out, code := e.run("h15-bindsrc-lock", b)
	if got, want := strings.Join(strings.Fields(out), " "), "h15-sub b2-not-shared mounted"; code != 0 || got != want {
		t.Errorf("workload saw %q (exit %d); want %q", out, code, want)
	}
	if n := mountsMentioning(t, src+"/own"); n > 0 {
		t.Errorf("a mount made in the container reached the host: %d mounts on %s/own", n, src)
	}
}

// TestBindSrcIdmapLocked: the same holds for an idmapped rbind (its clone
// is made in the container's mount namespace too): the submount stays.
func TestBindSrcIdmapLocked(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := rootOnlySource(t)
	b := bindSrcBundle(e, src, true, "sh", "-c", `umount /b2/sub 2>/dev/null && echo unmounted; cat /b2/sub/file`)
	e.editSpec(b, func(s *specs.Spec) {
		s.Mounts[len(s.Mounts)-1].Options = []string{"rbind", "idmap"}
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_SYS_ADMIN")
	})
	out, code := e.run("h15-bindsrc-idlock", b)
	if got := strings.Join(strings.Fields(out), " "); code != 0 || got != "h15-sub" {
		t.Errorf("workload saw %q (exit %d); want h15-sub (the submount cannot be unmounted)", out, code)
	}
}

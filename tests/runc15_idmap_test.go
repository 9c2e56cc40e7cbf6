package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Idmapped mounts (mounts[].uidMappings/gidMappings, idmap, ridmap): what
// the workload sees through the mount and what the host finds on disk.

func idmap(containerID, hostID, size uint32) []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: containerID, HostID: hostID, Size: size}}
}

// ownedDir makes a host directory owned by uid:uid, writable by its owner.
func ownedDir(t *testing.T, uid int) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, uid, uid); err != nil {
		t.Fatal(err)
	}
	return d
}

func hostOwner(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return itoa(int(st.Uid)) + ":" + itoa(int(st.Gid))
}

// TestRunc15IdmapNoUserNS: without a container user namespace, a source
// owned by 1000 appears as root's through a {1000 -> 0} mapping, and a
// file root creates through it is 1000's on the host.
func TestRunc15IdmapNoUserNS(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 1000)
	os.WriteFile(filepath.Join(src, "file"), []byte("x"), 0o644)
	os.Chown(filepath.Join(src, "file"), 1000, 1000)
	b := e.bundle([]string{"sh", "-c", "touch /mnt/new && stat -c %u:%g /mnt /mnt/new /one"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind"},
				UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)},
			// An idmapped bind mount of a file.
			specs.Mount{Destination: "/one", Type: "none", Source: filepath.Join(src, "file"), Options: []string{"bind"},
				UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)})
	})
	out, code := e.run("h13-idmap-1", b)
	if code != 0 || strings.Fields(out) == nil || strings.Join(strings.Fields(out), " ") != "0:0 0:0 0:0" {
		t.Errorf("workload saw %q (exit %d); want 0:0 for the dir, the new file and the file mount", out, code)
	}
	if got := hostOwner(t, filepath.Join(src, "new")); got != "1000:1000" {
		t.Errorf("file made through the idmapped mount is %s on the host, want 1000:1000", got)
	}
}

// TestRunc15IdmapUserNS: in a user namespace (0 -> 100000), "idmap" with
// no mapping of its own takes the container's: the host's root-owned
// directory is root's in the container (not nobody's), and what container
// root makes there is root's on the host.
func TestRunc15IdmapUserNS(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 0)
	b := e.bundle([]string{"sh", "-c", "touch /mnt/new && stat -c %u:%g /mnt /mnt/new /plain"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = idmap(0, 100000, 65536), idmap(0, 100000, 65536)
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind", "idmap"}},
			specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"bind"}})
	})
	// The namespace's root is host uid 100000: it must reach the rootfs
	// and the plain mount's source.
	for _, d := range []string{b, filepath.Dir(b), filepath.Dir(src), filepath.Dir(filepath.Dir(src))} {
		os.Chmod(d, 0o755)
	}
	os.Mkdir(filepath.Join(b, "rootfs", "mnt"), 0o755)
	os.Mkdir(filepath.Join(b, "rootfs", "plain"), 0o755)
	out, code := e.run("h13-idmap-2", b)
	if code != 0 || strings.Join(strings.Fields(out), " ") != "0:0 0:0 65534:65534" {
		t.Errorf("workload saw %q (exit %d); want 0:0 0:0 through the idmapped mount, 65534:65534 through the plain one", out, code)
	}
	if got := hostOwner(t, filepath.Join(src, "new")); got != "0:0" {
		t.Errorf("file made through the idmapped mount is %s on the host, want 0:0", got)
	}
}

// TestRunc15IdmapTwoMappings: two mounts of one source with different
// mappings each write with their own ids.
func TestRunc15IdmapTwoMappings(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 0)
	for name, uid := range map[string]int{"a": 1000, "b": 2000} {
		os.Mkdir(filepath.Join(src, name), 0o755)
		os.Chown(filepath.Join(src, name), uid, uid)
	}
	b := e.bundle([]string{"sh", "-c", "touch /ma/a/f /mb/b/g && stat -c %u /ma/a /mb/a /mb/b"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/ma", Type: "bind", Source: src, Options: []string{"bind"},
				UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)},
			specs.Mount{Destination: "/mb", Type: "bind", Source: src, Options: []string{"bind"},
				UIDMappings: idmap(2000, 0, 1), GIDMappings: idmap(2000, 0, 1)})
	})
	out, code := e.run("h13-idmap-3", b)
	if code != 0 || strings.Join(strings.Fields(out), " ") != "0 65534 0" {
		t.Errorf("workload saw %q (exit %d); want 0 65534 0", out, code)
	}
	if a, g := hostOwner(t, filepath.Join(src, "a", "f")), hostOwner(t, filepath.Join(src, "b", "g")); a != "1000:1000" || g != "2000:2000" {
		t.Errorf("files on the host: %s and %s, want 1000:1000 and 2000:2000", a, g)
	}
}

// TestRunc15IdmapRecursive: with rbind, "ridmap" idmaps the mounts below
// the source too, "idmap" only the top one.
func TestRunc15IdmapRecursive(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 1000)
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "uid=1000,gid=1000,mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	for opt, want := range map[string]string{"idmap": "0 1000", "ridmap": "0 0"} {
		b := e.bundle([]string{"stat", "-c", "%u", "/mnt", "/mnt/sub"}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"rbind", opt},
				UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)})
		})
		out, code := e.run("h13-idmap-r"+opt, b)
		if code != 0 || strings.Join(strings.Fields(out), " ") != want {
			t.Errorf("%s: workload saw %q (exit %d); want %q", opt, out, code, want)
		}
	}
}

// TestRunc15IdmapFDsClosed: while the container waits for start, init
// holds no detached mount of an idmapped source.
func TestRunc15IdmapFDsClosed(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 1000)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind"},
			UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)})
	})
	e.mustBerth("create", "--bundle", b, "h13-idmap-fds")
	pid := int(e.state("h13-idmap-fds")["pid"].(float64))
	dir := "/proc/" + itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, ent.Name())); strings.Contains(l, "src") || l == "/" {
			t.Errorf("init holds fd %s -> %s", ent.Name(), l)
		}
	}
	e.mustBerth("delete", "-f", "h13-idmap-fds")
}

// TestRunc15IdmapJoined: the detached mounts reach init through nsenter
// too (a joined network namespace), and "idmap" in a container that joins
// another's user namespace takes that namespace's mapping.
func TestRunc15IdmapJoined(t *testing.T) {
	e := newEnv(t)
	requireIdmap(e)
	src := ownedDir(t, 0)
	userns := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = idmap(0, 100000, 65536), idmap(0, 100000, 65536)
	}
	reach := func(b string) {
		for _, d := range []string{b, filepath.Dir(b), filepath.Dir(src), filepath.Dir(filepath.Dir(src))} {
			os.Chmod(d, 0o755)
		}
		os.Mkdir(filepath.Join(b, "rootfs", "mnt"), 0o755)
	}
	mount := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind", "idmap"}})
	}
	b := e.bundle([]string{"sh", "-c", "touch /mnt/viansenter && stat -c %u /mnt"}, userns, mount,
		func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, newNetns(t)) })
	reach(b)
	if out, code := e.run("h13-idmap-nsenter", b); code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("through nsenter: workload saw %q (exit %d); want 0", out, code)
	}
	if got := hostOwner(t, filepath.Join(src, "viansenter")); got != "0:0" {
		t.Errorf("through nsenter: file is %s on the host, want 0:0", got)
	}

	holder := e.bundle([]string{"sleep", "60"}, userns)
	reach(holder)
	e.mustBerth("run", "-d", "--bundle", holder, "h13-idmap-holder")
	pid := int(e.state("h13-idmap-holder")["pid"].(float64))
	b = e.bundle([]string{"sh", "-c", "touch /mnt/joined && stat -c %u /mnt"}, mount, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/" + itoa(pid) + "/ns/user"})
	})
	reach(b)
	if out, code := e.run("h13-idmap-joined", b); code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("joined user namespace: workload saw %q (exit %d); want 0", out, code)
	}
	if got := hostOwner(t, filepath.Join(src, "joined")); got != "0:0" {
		t.Errorf("joined user namespace: file is %s on the host, want 0:0", got)
	}
	e.mustBerth("delete", "-f", "h13-idmap-holder")
}

// requireIdmap skips the test where the temp directories' filesystem
// cannot be idmapped (tmpfs before Linux 6.3: the cgroup v2 guest's /tmp).
func requireIdmap(e *env) {
	e.t.Helper()
	src := e.t.TempDir()
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: src, Options: []string{"bind"},
			UIDMappings: idmap(1000, 0, 1), GIDMappings: idmap(1000, 0, 1)})
	})
	if out, code := e.run("h13-idmap-probe", b); code != 0 && strings.Contains(out, "support idmapped mounts") {
		e.t.Skipf("the temp directory's filesystem cannot be idmapped here: %s", strings.TrimSpace(out))
	}
}

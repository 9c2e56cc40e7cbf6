package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// withoutMountNS drops the mount (and cgroup) namespace from the spec.
func withoutMountNS(s *specs.Spec) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace && n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

// callerMountsRootfs mounts a tmpfs at dir holding what dir held, as
// containerd and podman mount a container's rootfs themselves, plus a
// tmpfs of the caller's at dir/data, each with a file of the caller's.
func callerMountsRootfs(t *testing.T, dir string) {
	t.Helper()
	saved := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", saved).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if out, err := exec.Command("cp", "-a", saved+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "caller-file"), []byte("mine"), 0o644)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(data, unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(data, "caller-file"), []byte("mine"), 0o644)
}

// A container without a mount namespace: delete, and a create that fails,
// take off the mounts berth stacked on root.path, and leave the caller's
// own mounts at root.path and under it (with their files) in place.
func TestNoMountNSKeepsCallersRootfsMount(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"}, withoutMountNS)
	rootfsDir := filepath.Join(b, "rootfs")
	callerMountsRootfs(t, rootfsDir)
	check := func(when string) {
		t.Helper()
		for _, f := range []string{"caller-file", "data/caller-file"} {
			if _, err := os.Stat(filepath.Join(rootfsDir, f)); err != nil {
				t.Fatalf("%s: the caller's %s is gone: %v", when, f, err)
			}
		}
		if n := mountsMentioning(t, rootfsDir); n != 2 {
			t.Fatalf("%s: %d mounts at or under the rootfs, want the caller's 2", when, n)
		}
	}
	e.mustBerth("run", "-d", "--bundle", b, "h4-nomnt-1")
	if n := mountsMentioning(t, rootfsDir); n <= 2 {
		t.Fatal("no mount of the container in the host's table: the test proves nothing")
	}
	e.mustBerth("delete", "--force", "h4-nomnt-1")
	check("after delete")

	e.editSpec(b, func(s *specs.Spec) { s.Process.Args = []string{"cat", "/caller-file"} })
	if out, code := e.run("h4-nomnt-2", b); code != 0 || out != "mine" {
		t.Fatalf("run: exit %d: %q", code, out)
	}
	check("after run")

	e.editSpec(b, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent-h4", Options: []string{"bind"}})
	})
	if out, code := e.run("h4-nomnt-3", b); code == 0 || !strings.Contains(out, "nonexistent-h4") {
		t.Fatalf("a bind of a missing source: exit %d: %q", code, out)
	}
	check("after a failed create")
}

// Mount targets through symlinks of the image that dangle, as a component
// (/var/run -> ../run with no /run) or at the end, are made inside the
// rootfs (runc 1.5); links to absolute host-like paths and above the root
// never make anything outside it.
func TestMountTargetThroughDanglingSymlinks(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("from-host-dir\n"), 0o644)
	hostLike := "/tmp/h4-xyz-" + itoa(os.Getpid())
	bind := func(dest string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"bind"}}
	}
	b := e.bundle([]string{"cat", "/run/a/f", "/made/f", hostLike + "/sub/f", "/esc/f"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, bind("/var/run/a"), bind("/last"), bind("/abs/sub"), bind("/up/esc"))
	})
	rootfs := filepath.Join(b, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "var"), 0o755)
	for link, target := range map[string]string{"var/run": "../run", "last": "/made", "abs": hostLike, "up": "../../.."} {
		if err := os.Symlink(target, filepath.Join(rootfs, link)); err != nil {
			t.Fatal(err)
		}
	}
	out, code := e.run("h4-danglink", b)
	if code != 0 || out != strings.Repeat("from-host-dir\n", 4) {
		t.Fatalf("exit %d: %q", code, out)
	}
	for _, p := range []string{hostLike, filepath.Join(b, "..", "..", "esc"), filepath.Join(b, "..", "esc"), filepath.Join(b, "esc")} {
		if _, err := os.Lstat(p); err == nil {
			os.RemoveAll(p)
			t.Errorf("%s was made outside the rootfs", p)
		}
	}
	for _, p := range []string{"run/a", "made", hostLike[1:] + "/sub", "esc"} {
		if fi, err := os.Stat(filepath.Join(rootfs, p)); err != nil || !fi.IsDir() {
			t.Errorf("rootfs/%s: %v, want a directory made inside the rootfs", p, err)
		}
	}
}

// A missing process.cwd is made before the root goes read-only.
func TestReadonlyRootMissingCwd(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"pwd"}, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process.Cwd = "/work/here"
	})
	if out, code := e.run("h4-rocwd", b); code != 0 || out != "/work/here\n" {
		t.Fatalf("exit %d: %q", code, out)
	}
}

// A read-only /dev (a tmpfs with "ro", then devpts on /dev/pts): what goes
// under it is made before it turns read-only, as runc does.
func TestReadonlyDevTmpfs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "touch /dev/x 2>/dev/null && echo WRITABLE; test -c /dev/pts/ptmx && echo PTS; " +
		"echo hi > /dev/null && echo NULL; awk '$5 == \"/dev\" { split($6, o, \",\"); print o[1] }' /proc/self/mountinfo"}, func(s *specs.Spec) {
		for i, m := range s.Mounts {
			if m.Destination == "/dev" {
				s.Mounts[i].Options = append(m.Options, "ro")
			}
		}
	})
	if out, code := e.run("h4-rodev", b); code != 0 || out != "PTS\nNULL\nro\n" {
		t.Fatalf("exit %d: %q, want /dev/pts and /dev/null there and /dev read-only", code, out)
	}
}

// mountOptsIn returns the per-mount options of each mount point the
// workload printed as "<mount point> <options>" lines.
func mountOptsIn(out string) map[string][]string {
	got := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			got[f[0]] = strings.Split(f[1], ",")
		}
	}
	return got
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// A bind mount whose config sets flags gets exactly those: the source's
// ro, nosuid, nodev and noexec that were not asked for are cleared (runc
// 1.1.5 and 1.5). One without any flag keeps its source's.
func TestBindMountFlagsAreExactlyTheConfigs(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	if err := unix.Mount(src, src, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(src, unix.MNT_DETACH) })
	if err := unix.Mount("", src, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOEXEC|unix.MS_NOSUID, ""); err != nil {
		t.Fatal(err)
	}
	b := e.bundle([]string{"awk", `$5 ~ "^/b" { print $5, $6 }`, "/proc/self/mountinfo"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/b1", Type: "bind", Source: src, Options: []string{"bind", "nosuid", "nodev"}},
			specs.Mount{Destination: "/b2", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
			specs.Mount{Destination: "/b3", Type: "bind", Source: src, Options: []string{"bind"}})
	})
	out, code := e.run("h4-bindflags", b)
	got := mountOptsIn(out)
	if code != 0 || len(got) != 3 {
		t.Fatalf("exit %d: %q", code, out)
	}
	for _, c := range []struct {
		dest      string
		want, not []string
	}{
		{"/b1", []string{"rw", "nosuid", "nodev"}, []string{"ro", "noexec"}},
		{"/b2", []string{"ro"}, []string{"nosuid", "noexec", "nodev"}},
		{"/b3", []string{"ro", "nosuid", "noexec"}, nil},
	} {
		for _, o := range c.want {
			if !hasOpt(got[c.dest], o) {
				t.Errorf("%s: options %v, want %s", c.dest, got[c.dest], o)
			}
		}
		for _, o := range c.not {
			if hasOpt(got[c.dest], o) {
				t.Errorf("%s: options %v, did not ask for %s", c.dest, got[c.dest], o)
			}
		}
	}
}

// A destination written as the host path of a place inside the rootfs is
// that place (runc takes "<rootfs>/final" as /final).
func TestMountDestinationAsHostPathInRootfs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"stat", "-f", "-c", "%T", "/final/"})
	rootfs := filepath.Join(b, "rootfs")
	e.editSpec(b, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: rootfs + "/final", Type: "tmpfs", Source: "tmpfs"})
	})
	if out, code := e.run("h4-hostdest", b); code != 0 || out != "tmpfs\n" {
		t.Fatalf("exit %d: %q, want a tmpfs at /final", code, out)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, rootfs)); err == nil {
		t.Fatalf("made %s inside the rootfs", filepath.Join(rootfs, rootfs))
	}
}

// Mount options runc 1.5 accepts: nosymfollow, iversion, noiversion,
// defaults on a tmpfs; the recursive clearing ones (rexec, rdev, ratime,
// ...) and rnosymfollow on a bind, by their effect on every mount of it.
func TestRuncMountOptions(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := unix.Mount("tmpfs", src, "tmpfs", unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_NOATIME, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(src, unix.MNT_DETACH) })
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_NOATIME, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	b := e.bundle([]string{"awk", `$5 ~ "^/(t|r)" { print $5, $6 }`, "/proc/self/mountinfo"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"defaults", "nosymfollow", "iversion", "noiversion", "size=1m"}},
			specs.Mount{Destination: "/r", Type: "bind", Source: src, Options: []string{"rbind", "rexec", "rdev", "ratime", "rrelatime", "rnorelatime",
				"rnostrictatime", "rdiratime", "rnosymfollow"}})
	})
	out, code := e.run("h4-runcopts", b)
	got := mountOptsIn(out)
	if code != 0 || len(got) != 3 {
		t.Fatalf("exit %d: %q", code, out)
	}
	if !hasOpt(got["/t"], "nosymfollow") {
		t.Errorf("/t: options %v, want nosymfollow", got["/t"])
	}
	for _, p := range []string{"/r", "/r/sub"} {
		if !hasOpt(got[p], "nosymfollow") || hasOpt(got[p], "noexec") || hasOpt(got[p], "nodev") || hasOpt(got[p], "noatime") {
			t.Errorf("%s: options %v, want nosymfollow and none of noexec, nodev, noatime", p, got[p])
		}
	}
}

// A tmpfs takes the mode of the directory it covers; an explicit mode=
// wins; on a directory made for it, tmpfs's 1777 (runc 1.5).
func TestTmpfsModes(t *testing.T) {
	e := newEnv(t)
	tmpfs := func(dest string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	b := e.bundle([]string{"stat", "-c", "%a %n", "/covers", "/explicit", "/new"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, tmpfs("/covers", "nosuid"), tmpfs("/explicit", "mode=750"), tmpfs("/new"))
	})
	for _, d := range []string{"covers", "explicit"} {
		p := filepath.Join(b, "rootfs", d)
		os.Mkdir(p, 0o700)
		os.Chmod(p, 0o710|os.ModeSticky)
	}
	want := "1710 /covers\n750 /explicit\n1777 /new\n"
	if out, code := e.run("h4-tmpfsmode", b); code != 0 || out != want {
		t.Fatalf("exit %d:\n%s\nwant:\n%s", code, out, want)
	}
}

// Masked paths: a duplicate is masked once, and the masked directories
// share one read-only tmpfs (runc 1.5).
func TestMaskedPathsOnceAndShared(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"awk", `$5 ~ "^/m" { print $5, $3, $6 }`, "/proc/self/mountinfo"}, func(s *specs.Spec) {
		s.Linux.MaskedPaths = []string{"/m1", "/m2", "/m1/", "/mf", "/m2", "/mf"}
	})
	for _, d := range []string{"m1", "m2"} {
		os.Mkdir(filepath.Join(b, "rootfs", d), 0o755)
	}
	os.WriteFile(filepath.Join(b, "rootfs", "mf"), []byte("secret"), 0o644)
	out, code := e.run("h4-masked", b)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d: %q, want one mount on each of /m1, /m2, /mf", code, out)
	}
	dev := map[string]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		dev[f[0]] = f[1]
		if !hasOpt(strings.Split(f[2], ","), "ro") && f[0] != "/mf" {
			t.Errorf("%s is not read-only: %s", f[0], l)
		}
	}
	if dev["/m1"] == "" || dev["/m1"] != dev["/m2"] {
		t.Fatalf("masked directories on different filesystems: %q", out)
	}
}

package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// "rro" makes a bind mount read-only with every mount under it; plain "ro"
// leaves submounts writable.
func TestRecursiveReadOnlyBind(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	script := "touch /ro/sub/f 2>/dev/null && echo RO-SUB-WRITABLE; touch /rro/sub/f 2>/dev/null && echo RRO-SUB-WRITABLE; touch /rro/f 2>/dev/null && echo RRO-WRITABLE; echo done"
	b := e.bundle([]string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/ro", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/rro", Type: "bind", Source: src, Options: []string{"rbind", "rro"}})
	})
	out, code := e.run("rro", b)
	if code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if strings.Contains(out, "RRO") {
		t.Fatalf("rro left something writable: %q", out)
	}
	if !strings.Contains(out, "RO-SUB-WRITABLE") {
		t.Fatalf("plain ro made the submount read-only too (the test would prove nothing): %q", out)
	}
}

// tmpcopyup (podman's --read-only and --tmpfs): the tmpfs starts with what
// the image had there, and writes go to the tmpfs, not the image.
func TestTmpfsCopyUp(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "cat /data/from-image; ls -l /data/link | grep -c from-image; echo new > /data/new && echo WROTE"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "rprivate", "nosuid", "nodev", "tmpcopyup"}})
	})
	os.Mkdir(filepath.Join(b, "rootfs", "data"), 0o755)
	os.WriteFile(filepath.Join(b, "rootfs", "data", "from-image"), []byte("image content\n"), 0o644)
	os.Symlink("from-image", filepath.Join(b, "rootfs", "data", "link"))
	out, code := e.run("copyup", b)
	if code != 0 || !strings.Contains(out, "image content\n1\nWROTE") {
		t.Fatalf("tmpcopyup: exit %d: %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs", "data", "new")); err == nil {
		t.Fatal("the write went through to the image")
	}
}

// The container's /sys/fs/cgroup (the default spec's "cgroup" mount, ro,
// nosuid, nodev, noexec): every mount under it has those flags (on v1 and
// hybrid hosts a tmpfs with one bind per hierarchy, set all at once), and
// its files cannot be written.
func TestCgroupMountIsReadOnlyEverywhere(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", `awk '$5 ~ "^/sys/fs/cgroup" { print $5, $6 }' /proc/self/mountinfo; ` +
		`for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do [ -e $f ] && { echo 1 > $f && echo WROTE $f; }; done; true`})
	out, code := e.run("cgro", b)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) == 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	mounts := 0
	for _, l := range lines {
		if strings.Contains(l, "WROTE") {
			t.Errorf("a cgroup file was writable: %s", l)
			continue
		}
		f := strings.Fields(l)
		if len(f) != 2 {
			continue // the shell's complaint about the read-only file
		}
		mounts++
		opts := "," + f[1] + ","
		for _, want := range []string{"ro", "nosuid", "nodev", "noexec"} {
			if !strings.Contains(opts, ","+want+",") {
				t.Errorf("%s mounted %s: no %s", f[0], f[1], want)
			}
		}
	}
	if want := 1; !unified() {
		want = len(cgroupHierarchies(t)) + 1 // the tmpfs and one bind each
		if mounts != want {
			t.Errorf("%d mounts under /sys/fs/cgroup, want %d: %q", mounts, want, out)
		}
	} else if mounts != want {
		t.Errorf("%d mounts under /sys/fs/cgroup, want %d: %q", mounts, want, out)
	}
}

// cgroupHierarchies lists the host's cgroup hierarchies, from
// /proc/self/cgroup (one line each).
func cgroupHierarchies(t *testing.T) []string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Targets through symlinks, dangling or not, are made inside the rootfs,
// where the link points as seen from the rootfs; never outside it.
func TestWalkCreateStaysInRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (openat2 in a test rootfs is fine, but the harness expects root)")
	}
	outside := t.TempDir()
	root := filepath.Join(outside, "a", "b", "rootfs")
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	hostAbs := filepath.Join(outside, "host-abs")
	links := map[string]string{
		"var/run": "../run",   // dangling, as a component
		"abs":     hostAbs,    // an absolute host-like path
		"up":      "../../..", // climbs above the rootfs
		"last":    "/made",    // dangling, as the last component
		"flast":   "fmade",    // dangling, the last component of a file target
		"loop":    "loop",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	fd, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	r := &Rootfs{rootFd: fd}
	for _, tc := range []struct {
		dest, want string // want: where it lands, relative to the rootfs
		file       bool
	}{
		{"/var/run/x", "run/x", false},
		{"/abs/sub", filepath.Join(hostAbs, "sub"), false},
		{"/up/esc/sub", "esc/sub", false},
		{"/last", "made", false},
		{"/flast", "fmade", true},
		{"/var/../up/../dd/../d2", "d2", false},
		{"/x/y/f", "x/y/f", true},
	} {
		var f *os.File
		if tc.file {
			f, err = r.mountTarget(tc.dest, false)
		} else {
			f, err = r.mkdirAll(tc.dest)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.dest, err)
		}
		got, _ := os.Readlink(procFdPath(f))
		f.Close()
		if want := filepath.Join(root, tc.want); got != want {
			t.Errorf("%s: made %s, want %s", tc.dest, got, want)
		}
		fi, err := os.Stat(got)
		if err != nil || fi.IsDir() == tc.file {
			t.Errorf("%s: %v (dir %v)", tc.dest, err, fi != nil && fi.IsDir())
		}
	}
	for _, p := range []string{hostAbs, filepath.Join(outside, "esc"), filepath.Join(outside, "a", "esc")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made outside the rootfs", p)
		}
	}
	for _, bad := range []string{"/loop/x", "/file/x"} {
		if f, err := r.mkdirAll(bad); err == nil {
			f.Close()
			t.Errorf("%s: made, want an error", bad)
		}
	}
}

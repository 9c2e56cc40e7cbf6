package libcontainer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConfinedCgroupPath(t *testing.T) {
	var fs unix.Statfs_t
	if unix.Statfs(cgroupMount, &fs) != nil {
		t.Skip("no " + cgroupMount)
	}
	bad := []string{"", "devices/x", "/tmp/x", "/sys/fs/cgroup", "/sys/fs/cgroup/../../etc", "/sys/fs/cgroup/devices/../../../etc", "/sys/fs/cgroupx/y", t.TempDir()}
	for _, p := range bad {
		if err := confinedCgroupPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
	// A cgroup that does not exist (any more) is judged by its parent.
	ents, _ := os.ReadDir(cgroupMount)
	for _, e := range ents {
		p := filepath.Join(cgroupMount, e.Name(), "h3-no-such-cgroup")
		var st unix.Statfs_t
		if unix.Statfs(filepath.Join(cgroupMount, e.Name()), &st) == nil &&
			(st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			if err := confinedCgroupPath(p); err != nil {
				t.Errorf("%q refused: %v", p, err)
			}
		}
	}
}

func TestCheckTrustedDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	if err := checkTrustedDir("d", dir, false); err != nil {
		t.Fatalf("0700 dir of ours: %v", err)
	}
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		os.Chmod(dir, mode)
		if err := checkTrustedDir("d", dir, false); !errors.Is(err, ErrUntrusted) {
			t.Errorf("mode %o: %v", mode, err)
		}
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, 65534, 65534)
	if err := checkTrustedDir("d", dir, false); !errors.Is(err, ErrUntrusted) {
		t.Errorf("owned by 65534: %v", err)
	}
	os.Chown(dir, 0, 0)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if err := checkTrustedDir("d", link, false); !errors.Is(err, ErrUntrusted) {
		t.Errorf("symlink as a container dir: %v", err)
	}
	if err := checkTrustedDir("d", link, true); err != nil {
		t.Errorf("symlink as a root: %v", err)
	}
}

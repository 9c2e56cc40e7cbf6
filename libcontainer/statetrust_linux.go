package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
)

// What berth reads from a state directory decides which processes it
// signals, which directories it removes and which hooks it runs, as root.
// So the state root and each container directory must be the caller's and
// writable by nobody else; and the cgroup directories a state file names
// must be on the cgroup filesystem (docs/security.md).

const cgroupMount = "/sys/fs/cgroup"

// checkTrustedDir refuses a directory that is not the caller's or that group
// or others may write. follow says whether path may be a symlink (the state
// root may be, a container directory may not). A missing path is returned
// as the stat error, for the caller to treat as "no container".
func checkTrustedDir(what, path string, follow bool) error {
	var st unix.Stat_t
	stat := unix.Lstat
	if follow {
		stat = unix.Stat
	}
	if err := stat(path, &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	switch uid := uint32(os.Geteuid()); {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%w: %s %s is not a directory", ErrUntrusted, what, path)
	case st.Uid != uid:
		return fmt.Errorf("%w: %s %s is owned by uid %d, not by the caller (uid %d)", ErrUntrusted, what, path, st.Uid, uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w: %s %s is writable by group or others (mode %04o)", ErrUntrusted, what, path, st.Mode&0o7777)
	}
	return nil
}

// checkTrusted checks the state root and the container's directory. A
// missing one is not an error here: the callers report ErrNotExist.
func checkTrusted(root, dir string) error {
	if err := checkTrustedDir("state root", root, true); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := checkTrustedDir("container state directory", dir, false); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkedCgroup returns the manager for the recorded cgroup paths (nil when
// none are recorded), once each is confined to the cgroup filesystem.
func (c *Container) checkedCgroup() (*cgroups.Manager, error) {
	if len(c.CgroupPaths) == 0 {
		return nil, nil
	}
	for ctrl, p := range c.CgroupPaths {
		if err := confinedCgroupPath(p); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: cgroupPaths[%q]: %v", ErrCorruptState, c.ID, stateFile, ctrl, err)
		}
	}
	cg, err := cgroups.Load(c.CgroupPaths)
	if err == nil && c.SystemdUnit != "" {
		if err = cg.UseSystemdUnit(c.SystemdUnit, c.ID); err != nil {
			err = fmt.Errorf("%w: %s: %s: %v", ErrCorruptState, c.ID, stateFile, err)
		}
	}
	return cg, err
}

// confinedCgroupPath checks that p is a clean absolute path below
// /sys/fs/cgroup and that the deepest part of it that exists is, after
// symlinks, still below it and on a cgroup filesystem (statfs), so that no
// recorded path can name a host file.
func confinedCgroupPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || !strings.HasPrefix(p, cgroupMount+"/") {
		return fmt.Errorf("%q is not a clean path below %s", p, cgroupMount)
	}
	for q := p; ; q = filepath.Dir(q) {
		real, err := filepath.EvalSymlinks(q)
		if errors.Is(err, os.ErrNotExist) && q != cgroupMount {
			continue // removed already: look at its parent
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(real, cgroupMount+"/") && real != cgroupMount {
			return fmt.Errorf("%q resolves to %s, outside %s", p, real, cgroupMount)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(real, &fs); err != nil {
			return &os.PathError{Op: "statfs", Path: real, Err: err}
		}
		if fs.Type != unix.CGROUP_SUPER_MAGIC && fs.Type != unix.CGROUP2_SUPER_MAGIC {
			return fmt.Errorf("%q is not on a cgroup filesystem", p)
		}
		return nil
	}
}

package rootfs

import (
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// mountCgroup gives the container a view of its own cgroup at the mount's
// destination. On a unified host that is cgroup2 itself (a fresh mount in a
// cgroup namespace, else a bind of the container's directory). On v1 and
// hybrid hosts it is a tmpfs with one bind per controller, each showing
// only the container's own cgroup directory.
func (r *Rootfs) mountCgroup(m specs.Mount, o mountOpts) error {
	target, err := r.mountTarget(m.Destination, true)
	if err != nil {
		return err
	}
	defer target.Close()
	if unified, ok := r.cfg.CgroupPaths[""]; ok && len(r.cfg.CgroupPaths) == 1 {
		// A bind of the container's own cgroup directory shows exactly what
		// a fresh cgroup2 mount in its cgroup namespace would, and needs
		// init to be neither in the cgroup nor in the namespace yet: init
		// joins both late, so that its own start is not charged to the
		// container (see libcontainer/init_linux.go).
		if err := linux.Mount(unified, procFdPath(target), "bind", unix.MS_BIND, ""); err != nil {
			return err
		}
		return r.remountAt(m.Destination, o.flags|unix.MS_BIND)
	}
	if err := linux.Mount("tmpfs", procFdPath(target), "tmpfs", o.flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return err
	}
	names := make([]string, 0, len(r.cfg.CgroupPaths))
	for name := range r.cfg.CgroupPaths {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		dir := strings.TrimPrefix(name, "name=")
		if name == "" {
			dir = "unified"
		}
		sub, err := r.mkdirAll(filepath.Join(m.Destination, dir))
		if err != nil {
			return err
		}
		err = linux.Mount(r.cfg.CgroupPaths[name], procFdPath(sub), "bind", unix.MS_BIND, "")
		sub.Close()
		if err != nil {
			return err
		}
	}
	// The mount's flags (ro, nosuid, nodev, noexec), on the tmpfs and every
	// bind at once: one mount_setattr instead of a remount per hierarchy.
	if attr := mountAttrs(o.flags); attr != 0 {
		return r.setRecursiveAttr(m.Destination, attr, 0)
	}
	return nil
}

// mountAttrs translates the mount(2) flags that mount_setattr can set.
func mountAttrs(flags uintptr) uint64 {
	var attr uint64
	for flag, a := range map[uintptr]uint64{
		unix.MS_RDONLY: unix.MOUNT_ATTR_RDONLY, unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID,
		unix.MS_NODEV: unix.MOUNT_ATTR_NODEV, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
	} {
		if flags&flag != 0 {
			attr |= a
		}
	}
	return attr
}

package rootfs

import (
	"errors"
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
		if r.cfg.NewCgroupNS {
			err := linux.Mount("cgroup2", procFdPath(target), "cgroup2", o.flags, "")
			// EPERM without the rights over the cgroup namespace's owner;
			// EBUSY where the host's cgroup2 came in with a bind of /sys.
			// Either way, a bind of the container's own cgroup does.
			if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EBUSY) {
				return err
			}
		}
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
		dest := filepath.Join(m.Destination, dir)
		sub, err := r.mkdirAll(dest)
		if err != nil {
			return err
		}
		err = linux.Mount(r.cfg.CgroupPaths[name], procFdPath(sub), "bind", unix.MS_BIND, "")
		sub.Close()
		if err == nil {
			err = r.remountAt(dest, o.flags|unix.MS_BIND)
		}
		if err != nil {
			return err
		}
	}
	if o.flags&unix.MS_RDONLY != 0 {
		return r.remountAt(m.Destination, o.flags|unix.MS_BIND)
	}
	return nil
}

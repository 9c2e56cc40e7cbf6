package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/mountinfo"

	"github.com/berth-project/berth/internal/linux"
)

// hideHostProcSys takes the host's full proc and sysfs mounts out of the
// container's mount namespace before --no-pivot moves the rootfs onto /.
// The old root stays in the namespace under the new one, and the kernel
// lets a process mount a new proc (in a user and pid namespace of its
// own) wherever a full proc mount is visible in its mount namespace: the
// host's would make a bare /proc mountable inside the container. Each is
// detached, or where that is not allowed covered with a tmpfs, as runc
// does. Its own, under the rootfs, stay.
func hideHostProcSys(rootfs string) error {
	points, err := fullProcSysMounts(rootfs)
	if err != nil {
		return err
	}
	for _, p := range points {
		// No unmount may reach the host's mount table.
		if err := unix.Mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				continue // gone with a mount above it
			}
			return &os.PathError{Op: "make slave", Path: p, Err: err}
		}
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
			err = linux.Mount("tmpfs", p, "tmpfs", 0, "size=0k")
		}
		if err != nil {
			return fmt.Errorf("--no-pivot: hide the host's %s: %w", p, err)
		}
	}
	return nil
}

// fullProcSysMounts lists the mount points of proc and sysfs mounts of the
// whole filesystem (root "/") outside rootfs, from /proc/self/mountinfo.
func fullProcSysMounts(rootfs string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts, err := mountinfo.Parse(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mounts {
		if (m.FSType != "proc" && m.FSType != "sysfs") || m.Root != "/" {
			continue
		}
		if mp := m.Mountpoint; mp != rootfs && !strings.HasPrefix(mp, rootfs+"/") {
			out = append(out, mp)
		}
	}
	return out, nil
}

package rootfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// A container without a mount namespace of its own (Config.SharedMountNS)
// leaves its mounts in the caller's mount table: Prepare binds the rootfs
// onto itself, and every later mount sits on that bind. The caller may
// have a mount of its own at root.path (containerd and podman mount the
// rootfs themselves), below berth's bind. So the parent records which
// mount root.path lies on before the container exists (MountBelow), and
// DetachOwnMounts takes off only what was stacked on it since.

// MountBelow returns the mount ID that path lies on now: unique for the
// boot where the kernel has them (6.8), the reusable one elsewhere.
func MountBelow(path string) (uint64, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	id, _, err := mountID(fd)
	return id, err
}

// mountID returns the ID of the mount fd is on, and whether fd is that
// mount's root.
func mountID(fd int) (uint64, bool, error) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID_UNIQUE|unix.STATX_MNT_ID, &stx)
	if err != nil {
		return 0, false, os.NewSyscallError("statx", err)
	}
	root := stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
	return stx.Mnt_id, root, nil
}

// DetachOwnMounts lazily detaches the mounts stacked at rootfs on top of
// the mount below (as MountBelow returned it before the container was
// made): berth's recursive bind, and with it every mount the container
// made under it. The caller's own mounts at or under rootfs stay. It
// returns how many it detached. below == 0 (not recorded) detaches
// nothing.
func DetachOwnMounts(rootfs string, below uint64) int {
	n := 0
	for below != 0 && n < 16 {
		f, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return n
		}
		id, root, err := mountID(int(f.Fd()))
		// Only a mount whose root is rootfs itself, and not the one below.
		if err == nil && id != below && root {
			err = unix.Unmount(procFdPath(f), unix.MNT_DETACH)
		} else if err == nil {
			err = os.ErrExist // nothing more of ours
		}
		f.Close()
		if err != nil {
			return n
		}
		n++
	}
	return n
}

package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// Enter makes the rootfs the root of the mount namespace: pivot_root, or
// with --no-pivot a move mount plus chroot (weaker: the old root stays
// reachable to a process with CAP_SYS_CHROOT, which is why it is opt-in).
func (r *Rootfs) Enter() error {
	defer r.Close()
	if r.cfg.NoPivot {
		return r.moveRoot()
	}
	return r.pivotRoot()
}

// pivotRoot uses pivot_root(".", "."): the old root is stacked under the new
// one and then lazily unmounted, so no directory is needed for it inside the
// image (the trick runc and lxc use).
func (r *Rootfs) pivotRoot() error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldRoot)
	if err := unix.Fchdir(int(r.rootFd.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	if err := linux.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return os.NewSyscallError("fchdir old root", err)
	}
	// The old root may be shared with the host: make it a slave first so the
	// unmount below does not propagate to the host's mount table.
	if err := linux.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := linux.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

func (r *Rootfs) moveRoot() error {
	if err := unix.Fchdir(int(r.rootFd.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	if err := linux.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: r.cfg.Rootfs, Err: err}
	}
	return unix.Chdir("/")
}

// Finalize runs after Enter, inside the new root: masked and read-only
// paths, then the read-only root and the requested root propagation.
func (r *Rootfs) Finalize() error {
	for _, p := range r.cfg.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	for _, p := range r.cfg.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	if r.cfg.Readonly {
		if err := remount("/", unix.MS_BIND|unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	if r.cfg.Propagation != "" {
		flag, _ := PropagationFlag(r.cfg.Propagation)
		if err := linux.Mount("", "/", "", flag, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", r.cfg.Propagation, err)
		}
	}
	return nil
}

func readonlyPath(path string) error {
	if err := linux.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	return remount(path, unix.MS_BIND|unix.MS_RDONLY|unix.MS_REC)
}

// maskPath hides path: a directory under an empty read-only tmpfs, a file
// under /dev/null.
func maskPath(path string) error {
	err := linux.Mount("/dev/null", path, "", unix.MS_BIND, "")
	if errors.Is(err, unix.ENOTDIR) {
		err = linux.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// Enter makes the rootfs the root of the mount namespace: pivot_root, or
// with --no-pivot a move mount plus chroot (weaker: the old root stays
// reachable to a process with CAP_SYS_CHROOT, which is why it is opt-in).
func (r *Rootfs) Enter() error {
	defer r.Close()
	if r.cfg.SharedMountNS {
		// No namespace of its own to pivot: chroot into the rootfs mount.
		if err := unix.Fchdir(int(r.rootFd.Fd())); err != nil {
			return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
		}
		if err := unix.Chroot("."); err != nil {
			return &os.PathError{Op: "chroot", Path: r.cfg.Rootfs, Err: err}
		}
		return unix.Chdir("/")
	}
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
	if err := hideHostProcSys(filepath.Clean(r.cfg.Rootfs)); err != nil {
		return err
	}
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
	if err := maskPaths(r.cfg.MaskedPaths); err != nil {
		return err
	}
	// A missing process.cwd is made now, while the root is writable (runc
	// does the same); / is the container's, so its links stay inside.
	if r.cfg.Cwd != "" {
		if err := os.MkdirAll(r.cfg.Cwd, 0o755); err != nil {
			return fmt.Errorf("process.cwd %s: %w", r.cfg.Cwd, err)
		}
	}
	if err := r.makeReadonlyLater(); err != nil {
		return err
	}
	if r.cfg.Readonly {
		if err := remount("/", unix.MS_BIND|unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	if r.cfg.Propagation != "" && !r.cfg.SharedMountNS {
		flag, _ := PropagationFlag(r.cfg.Propagation)
		if err := linux.Mount("", "/", "", flag, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", r.cfg.Propagation, err)
		}
	}
	return nil
}

// openNoFollow opens path inside the (new) root for use as a mount target,
// refusing symlinks anywhere in it and magic links (/proc/self/fd/...), so
// that a racing process cannot swap a path for a link elsewhere
// (CVE-2025-31133 class). ENOENT comes back as is: a missing path is skipped.
func openNoFollow(path string) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_IN_ROOT,
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func readonlyPath(path string) error {
	f, err := openNoFollow(path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := linux.Mount(procFdPath(f), procFdPath(f), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	g, err := openNoFollow(path) // the new mount, not the directory under it
	if err != nil {
		return err
	}
	defer g.Close()
	return remount(procFdPath(g), unix.MS_BIND|unix.MS_RDONLY|unix.MS_REC)
}

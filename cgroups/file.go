package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// How cgroup files are opened: never by a path string alone. A cgroup
// directory is opened beneath a handle on its hierarchy's mount with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) and must be on a cgroup
// filesystem (fstatfs); its file is then opened beneath that directory's
// handle, and must be one name. So no config field (a cgroupsPath, a huge
// page size, a linux.resources.unified key) can steer a read or a write out
// of the cgroup tree, as runc's cgroups.OpenFile ensures.

const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// mountFor is the mount point of the hierarchy dir is in, and dir relative
// to it.
func mountFor(dir string) (string, string, error) {
	if err := loadHost(); err != nil {
		return "", "", err
	}
	best := ""
	consider := func(h hierarchy) {
		if within(h.mountpoint, dir) && len(h.mountpoint) > len(best) {
			best = h.mountpoint
		}
	}
	if host.v2 != nil {
		consider(*host.v2)
	}
	for _, h := range host.v1 {
		consider(h)
	}
	if best == "" {
		return "", "", fmt.Errorf("%s is not in a cgroup hierarchy", dir)
	}
	rel, err := filepath.Rel(best, dir)
	return best, rel, err
}

// openat2 opens name beneath dirfd, retrying on EINTR and EAGAIN. Before
// Linux 5.6 (ENOSYS) it is openat without following a last symlink: the
// path was checked lexically, and cgroupfs has no symlinks.
func openat2(dirfd int, name string, flags int) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveBeneath}
	for {
		fd, err := unix.Openat2(dirfd, name, how)
		if err == unix.ENOSYS {
			return unix.Openat(dirfd, name, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		}
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// openDir opens the cgroup directory dir (O_PATH) and checks that it is on
// a cgroup filesystem.
func openDir(dir string) (int, error) {
	mnt, rel, err := mountFor(dir)
	if err != nil {
		return -1, err
	}
	// Not kept open: a long-lived handle on a host mount is one more
	// descriptor that must never reach a container.
	mfd, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: mnt, Err: err}
	}
	fd, err := openat2(mfd, rel, unix.O_PATH|unix.O_DIRECTORY)
	unix.Close(mfd)
	if err != nil {
		return -1, &os.PathError{Op: "openat2", Path: dir, Err: err}
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstatfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not on a cgroup filesystem", dir)
	}
	return fd, nil
}

// openFile opens the file name of the cgroup directory dir.
func openFile(dir, name string, flags int) (*os.File, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("%q is not a cgroup file name", name)
	}
	dfd, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	path := filepath.Join(dir, name)
	fd, err := openat2(dfd, name, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// writeFile writes one value to a cgroup file, which must exist.
func writeFile(dir, file, value string) error {
	f, err := openFile(dir, file, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		_, err = f.Write([]byte(value))
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, filepath.Join(dir, file), unwrapPath(err))
	}
	return nil
}

// readBytes reads a cgroup file whole.
func readBytes(dir, file string) ([]byte, error) {
	f, err := openFile(dir, file, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func readFile(dir, file string) (string, error) {
	data, err := readBytes(dir, file)
	return strings.TrimSpace(string(data)), err
}

// unwrapPath drops an *os.PathError's path (the message names it already),
// keeping what errors.Is looks for.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

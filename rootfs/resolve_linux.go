package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Paths inside the rootfs come from the image and the config: untrusted.
// They are resolved by the kernel with openat2(RESOLVE_IN_ROOT), so that
// "..", absolute symlinks and links planted by the image all stay inside the
// rootfs, and magic links (/proc/self/fd/N) are refused. One syscall when
// the path exists; creating a missing one walks up only as far as needed.

const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens unsafePath inside the rootfs as an O_PATH handle.
func (r *Rootfs) openInRoot(unsafePath string, flags uint64) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | flags, Resolve: inRoot}
	fd, err := unix.Openat2(int(r.rootFd.Fd()), unsafePath, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open in rootfs", Path: unsafePath, Err: err}
	}
	return os.NewFile(uintptr(fd), unsafePath), nil
}

// openMounted opens dest again after something was mounted on it: a handle
// taken before the mount names the directory underneath, not the new mount.
func (r *Rootfs) openMounted(dest string) (*os.File, error) {
	return r.openInRoot(dest, 0)
}

// mkdirAll makes unsafePath and its missing parents as directories inside
// the rootfs and returns an O_PATH handle on it. Each new directory is made
// with mkdirat in its parent's handle and reopened without following a
// link, so a racing rename cannot send it elsewhere.
func (r *Rootfs) mkdirAll(unsafePath string) (*os.File, error) {
	f, err := r.openInRoot(unsafePath, unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	clean := filepath.Clean("/" + unsafePath)
	if clean == "/" {
		return nil, err
	}
	parent, err := r.mkdirAll(filepath.Dir(clean))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	base := filepath.Base(clean)
	if err := unix.Mkdirat(int(parent.Fd()), base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir in rootfs", Path: clean, Err: err}
	}
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mkdir %s in rootfs: %w", clean, &os.PathError{Op: "open", Path: clean, Err: err})
	}
	return os.NewFile(uintptr(fd), clean), nil
}

package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp fills the tmpfs just mounted (mounted, a handle on its root)
// with a copy of the directory it covers (under, the handle taken before
// the mount: through it the image's files stay readable). This is the
// "tmpcopyup" option podman gives its --read-only and --tmpfs mounts. The
// tmpfs has the mode of that directory from its mount data (or the
// config's mode=); it gets its owner here.
func copyUp(under, mounted *os.File) error {
	src, err := openDirAt(int(under.Fd()), ".")
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openDirAt(int(mounted.Fd()), ".")
	if err != nil {
		return err
	}
	defer dst.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if err := unix.Fchown(int(dst.Fd()), int(st.Uid), int(st.Gid)); err != nil {
		return os.NewSyscallError("fchown", err)
	}
	return copyEntries(src, dst)
}

// copyTree copies the directory src into the directory dst, keeping modes
// exactly (no umask), owners and symlinks; device nodes, fifos and sockets
// are skipped. It runs while / is still the host's, on a tree the image
// (or a process racing in it) controls: every entry is opened from its
// parent's handle with O_NOFOLLOW and its type taken from the opened
// handle, links are read with readlinkat, and no path string is ever
// resolved, so an entry swapped for a symlink to the host is copied as
// the link it is, never followed (CVE-2021-30465 class).
func copyTree(src, dst *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if err := copyEntries(src, dst); err != nil {
		return err
	}
	return setOwnerMode(dst, &st)
}

// copyEntries copies what src holds into dst, recursing into directories.
func copyEntries(src, dst *os.File) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name); err != nil {
			return err
		}
	}
	return nil
}

// errChanged: an entry was swapped for another while it was copied.
var errChanged = errors.New("changed while being copied")

// copyEntry copies one entry of src, by name, into dst. A process racing
// in the image may swap it at any time: a few tries, then an error.
func copyEntry(src, dst *os.File, name string) error {
	for try := 0; ; try++ {
		err := copyEntryOnce(src, dst, name)
		if !errors.Is(err, errChanged) {
			return err
		}
		if try == 8 {
			return fmt.Errorf("copy %s: it kept changing while it was copied", name)
		}
	}
}

// copyEntryOnce takes the entry as it is now: a handle on it that follows
// no link, and its type from that handle. A link is read, and a directory
// opened, through the handle; a file is opened for reading by name and
// must be the same inode (an O_PATH handle cannot be read).
func copyEntryOnce(src, dst *os.File, name string) error {
	fd, err := unix.Openat(int(src.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	entry := os.NewFile(uintptr(fd), name)
	defer entry.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := readlinkAt(fd, "")
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, int(dst.Fd()), name); err != nil {
			return &os.PathError{Op: "symlink", Path: name, Err: err}
		}
		if err := unix.Fchownat(int(dst.Fd()), name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lchown", Path: name, Err: err}
		}
		return nil
	case unix.S_IFDIR:
		from, err := openDirAt(fd, ".")
		if err != nil {
			return err
		}
		defer from.Close()
		if err := unix.Mkdirat(int(dst.Fd()), name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: name, Err: err}
		}
		to, err := openDirAt(int(dst.Fd()), name)
		if err != nil {
			return err
		}
		defer to.Close()
		return copyTree(from, to)
	case unix.S_IFREG:
		return copyFile(src, dst, name, &st)
	}
	return nil // device nodes, fifos and sockets are not copied
}

// openDirAt opens the directory name in dir without following a symlink.
func openDirAt(dir int, name string) (*os.File, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// copyFile copies the regular file name, whose handle's stat is want. It
// is opened without following a link and without blocking, and must be
// the inode that was stat'ed.
func copyFile(src, dst *os.File, name string, want *unix.Stat_t) error {
	fd, err := unix.Openat(int(src.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return errChanged
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	in := os.NewFile(uintptr(fd), name)
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if st.Dev != want.Dev || st.Ino != want.Ino {
		return errChanged
	}
	ofd, err := unix.Openat(int(dst.Fd()), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	out := os.NewFile(uintptr(ofd), name)
	_, err = io.Copy(out, in)
	if err == nil {
		err = setOwnerMode(out, &st)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// setOwnerMode gives f the owner and the exact mode of st: owner first,
// since chown clears the set-id bits.
func setOwnerMode(f *os.File, st *unix.Stat_t) error {
	if err := unix.Fchown(int(f.Fd()), int(st.Uid), int(st.Gid)); err != nil {
		return &os.PathError{Op: "chown", Path: f.Name(), Err: err}
	}
	if err := unix.Fchmod(int(f.Fd()), st.Mode&0o7777); err != nil {
		return &os.PathError{Op: "chmod", Path: f.Name(), Err: err}
	}
	return nil
}

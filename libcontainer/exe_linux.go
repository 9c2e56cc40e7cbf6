package libcontainer

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The binary that `berth init` runs from must not be writable through
// /proc/<pid>/exe: a process in the container can open that link while init
// (or an exec'd process) is still berth, and write to the host's berth once
// it is gone (CVE-2019-5736). berth execs itself from a private, detached,
// read-only mount of its own binary: open_tree clones the mount holding
// the file, mount_setattr makes the clone read-only, and no mount table
// ever shows it. Writes through the link then fail with EROFS. That costs two
// syscalls; where they are refused (old kernels, no CAP_SYS_ADMIN), berth
// falls back to a sealed memfd copy, as runc 1.1 always did (a full copy of
// the binary each time).

// sealedExe returns a handle on this binary that is safe to exec, through
// /proc/self/fd/N; it must stay open until the exec has happened.
func sealedExe() (*os.File, error) {
	return seal("/proc/self/exe")
}

// seal is sealedExe for any binary.
func seal(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr)
		if err == nil {
			return os.NewFile(uintptr(fd), "berth-exe"), nil
		}
		unix.Close(fd)
	}
	return memfdCopy(path)
}

// ExeLength, when set, is how much of the binary file f is berth itself
// (-1: all of it): the image puller appended after it (image/puller.go) is
// not copied.
var ExeLength func(f *os.File) int64

// memfdCopy copies the binary into a sealed memfd.
func memfdCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("berth", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "berth-memfd")
	var from io.Reader = src
	if ExeLength != nil {
		if n := ExeLength(src); n > 0 {
			from = io.LimitReader(src, n)
		}
	}
	if _, err := io.Copy(f, from); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("seal own binary", err)
	}
	return f, nil
}

// Package linux wraps each system call berth makes once, at the bottom:
// EINTR is retried where the call can be interrupted, and every error comes
// back as an *os.SyscallError or *os.PathError naming the call and the path.
// Nothing above this package calls unix.* for these operations directly.
package linux

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func retry(fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Flock applies an advisory lock (unix.LOCK_*) to fd.
func Flock(fd int, how int) error {
	return os.NewSyscallError("flock", retry(func() error { return unix.Flock(fd, how) }))
}

// Mount mounts source on target.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := retry(func() error { return unix.Mount(source, target, fstype, flags, data) }); err != nil {
		return &os.PathError{Op: "mount " + source, Path: target, Err: err}
	}
	return nil
}

// Unmount detaches target.
func Unmount(target string, flags int) error {
	if err := retry(func() error { return unix.Unmount(target, flags) }); err != nil {
		return &os.PathError{Op: "umount", Path: target, Err: err}
	}
	return nil
}

// PivotRoot makes newRoot the root and moves the old root to putOld.
func PivotRoot(newRoot, putOld string) error {
	if err := unix.PivotRoot(newRoot, putOld); err != nil {
		return &os.PathError{Op: "pivot_root", Path: newRoot, Err: err}
	}
	return nil
}

// Mknod creates a device node.
func Mknod(path string, mode uint32, dev int) error {
	if err := unix.Mknod(path, mode, dev); err != nil {
		return &os.PathError{Op: "mknod", Path: path, Err: err}
	}
	return nil
}

// Sethostname sets the UTS hostname.
func Sethostname(name string) error {
	return os.NewSyscallError("sethostname", unix.Sethostname([]byte(name)))
}

// Setdomainname sets the UTS domain name.
func Setdomainname(name string) error {
	return os.NewSyscallError("setdomainname", unix.Setdomainname([]byte(name)))
}

// Prctl calls prctl(2).
func Prctl(option int, arg2, arg3, arg4, arg5 uintptr) error {
	return os.NewSyscallError("prctl", unix.Prctl(option, arg2, arg3, arg4, arg5))
}

// Exec replaces the process image.
func Exec(path string, argv, env []string) error {
	if err := unix.Exec(path, argv, env); err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	return nil
}

// PidfdOpen returns a pidfd for pid.
func PidfdOpen(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	return fd, os.NewSyscallError("pidfd_open", err)
}

// PidfdSendSignal signals the process behind pidfd.
func PidfdSendSignal(pidfd int, sig unix.Signal) error {
	return os.NewSyscallError("pidfd_send_signal", unix.PidfdSendSignal(pidfd, sig, nil, 0))
}

// Setsid makes the caller a session leader.
func Setsid() error {
	_, err := unix.Setsid()
	return os.NewSyscallError("setsid", err)
}

// Mkfifo creates a named pipe.
func Mkfifo(path string, mode uint32) error {
	if err := unix.Mkfifo(path, mode); err != nil {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// The credential calls below change the calling thread only, as the raw
// system calls do. syscall.Setuid and friends instead stop every thread of
// the process to change them all (~0.2 ms each in init). Init needs only
// the thread that execs: the others end at execve, having run nothing but
// the Go runtime.

// SetgroupsThread sets the calling thread's supplementary groups.
func SetgroupsThread(gids []uint32) error {
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	_, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0)
	return os.NewSyscallError("setgroups", errnoErr(e))
}

// SetresgidThread sets the calling thread's real, effective and saved gid.
func SetresgidThread(rgid, egid, sgid uint32) error {
	_, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(rgid), uintptr(egid), uintptr(sgid))
	return os.NewSyscallError("setresgid", errnoErr(e))
}

// SetresuidThread sets the calling thread's real, effective and saved uid.
func SetresuidThread(ruid, euid, suid uint32) error {
	_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(ruid), uintptr(euid), uintptr(suid))
	return os.NewSyscallError("setresuid", errnoErr(e))
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

package libcontainer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// --pidfd-socket PATH (create, run, exec), as runc: berth connects to the
// unix stream socket at PATH and sends one message whose data is the kind of
// process ("standard" for a container's init, "setns" for an exec'd one)
// and whose SCM_RIGHTS carry a pidfd of the process that becomes the
// workload. A supervisor (containerd's shim) then waits on it and signals it
// without PID races.

// Process kinds runc names in the message.
const (
	pidfdInit = "standard"
	pidfdExec = "setns"
)

// dialPidfdSocket connects to path; "" is no socket. It runs before
// anything is made, so that a bad path leaves nothing behind.
func dialPidfdSocket(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket: %w", os.NewSyscallError("socket", err))
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("--pidfd-socket %s: %w", path, os.NewSyscallError("connect", err))
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sendPidfd sends a pidfd of pid (berth's child, not yet reaped: the PID
// cannot have been reused) over sock, and closes sock.
func sendPidfd(sock *os.File, pid int, kind string) error {
	if sock == nil {
		return nil
	}
	defer sock.Close()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: %w", os.NewSyscallError("pidfd_open", err))
	}
	defer unix.Close(pidfd)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(kind), unix.UnixRights(pidfd), nil, 0); err != nil {
		return fmt.Errorf("--pidfd-socket %s: send the pidfd: %w", sock.Name(), os.NewSyscallError("sendmsg", err))
	}
	return nil
}

package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sd_notify for containers (systemd units with Type=notify).
//
// When berth runs with NOTIFY_SOCKET set (systemd sets it for the unit's
// main process), the container gets a notify socket of its own: berth binds
// <root>/<id>/notify/notify.sock, bind-mounts that directory at
// containerNotifyDir and names the socket in the workload's NOTIFY_SOCKET.
// Whoever starts the workload (`run`, or `start` after `create`) reads what
// the workload sends and forwards the known assignments to systemd's socket.
// berth itself never sends READY=1 on its own: the unit stays "activating"
// until the workload says it is ready.
//
// MAINPID: `run --detach` and `start` return once READY=1 is forwarded, and
// add MAINPID= with the workload's host pid to it, since berth is gone after
// that. A foreground `run` stays the unit's main process and sends no
// MAINPID: its exit code is the workload's (what Restart= reads), and its
// delete of the container must not be cut short by systemd's stop of a
// service whose "main" process already exited.
const (
	notifyDirName      = "notify"
	notifySockName     = "notify.sock"
	containerNotifyDir = "/run/berth-notify"
)

// forwardedNotify are the assignments passed on to systemd. MAINPID is
// berth's to set (a pid in the container's namespace means nothing to
// systemd), and FDSTORE needs descriptors, which are not passed on.
var forwardedNotify = []string{"READY=", "STATUS=", "RELOADING=", "STOPPING=", "WATCHDOG=",
	"WATCHDOG_USEC=", "EXTEND_TIMEOUT_USEC=", "ERRNO=", "BUSERROR=", "MONOTONIC_USEC="}

// hostNotifySocket is systemd's socket from berth's environment, or "".
func hostNotifySocket() string { return os.Getenv("NOTIFY_SOCKET") }

// addNotifyMount gives the spec the container's notify socket: a bind mount
// of the state directory's notify/ and NOTIFY_SOCKET in the environment.
// The caller clears Bundle.Raw.
func addNotifyMount(spec *specs.Spec, stateDir string) {
	spec.Mounts = append(spec.Mounts, specs.Mount{
		Destination: containerNotifyDir, Type: "bind",
		Source:  filepath.Join(stateDir, notifyDirName),
		Options: []string{"bind", "nosuid", "nodev", "noexec"},
	})
	if spec.Process != nil {
		spec.Process.Env = mergeEnv(spec.Process.Env, []string{"NOTIFY_SOCKET=" + containerNotifyDir + "/" + notifySockName})
	}
}

// notifyListener is the container's end of sd_notify, bound in its state
// directory.
type notifyListener struct {
	fd   int
	host string // systemd's socket: a path, or "@name" for an abstract one
}

// makeNotifyDir makes the directory that holds the container's socket.
func makeNotifyDir(stateDir string) error {
	if err := os.Mkdir(filepath.Join(stateDir, notifyDirName), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("notify socket directory: %w", err)
	}
	return nil
}

// listenNotify binds (or binds again, after a create whose listener went
// away with its process) the container's notify socket in stateDir.
func listenNotify(stateDir, host string) (*notifyListener, error) {
	if err := makeNotifyDir(stateDir); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, notifyDirName, notifySockName)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	unix.Unlink(path)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket %s: %w", path, os.NewSyscallError("bind", err))
	}
	// Any user of the container may notify, as with systemd's own socket.
	if err := os.Chmod(path, 0o777); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	return &notifyListener{fd: fd, host: host}, nil
}

func (l *notifyListener) Close() {
	if l != nil && l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// forward passes what the workload (host pid pid) sends on to systemd until
// the workload exits or, with detached, until it has sent READY=1, which
// then carries MAINPID=pid. It returns errNotReady when detached and the
// workload exited first.
func (l *notifyListener) forward(pid int, detached bool) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("workload %d: %w", pid, os.NewSyscallError("pidfd_open", err))
	}
	mainPid := 0
	if detached {
		mainPid = pid
	}
	defer unix.Close(pidfd)
	out, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(out)
	to := &unix.SockaddrUnix{Name: l.host}
	buf := make([]byte, 16<<10)
	fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return os.NewSyscallError("poll", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			n, _, err := unix.Recvfrom(l.fd, buf, unix.MSG_DONTWAIT)
			if err != nil && err != unix.EAGAIN && err != unix.EINTR {
				return os.NewSyscallError("recvfrom", err)
			}
			if msg, ready := filterNotify(string(buf[:max(n, 0)]), mainPid); msg != "" {
				if err := unix.Sendto(out, []byte(msg), 0, to); err != nil {
					return fmt.Errorf("NOTIFY_SOCKET %s: %w", l.host, os.NewSyscallError("sendto", err))
				}
				if ready && detached {
					return nil
				}
			}
			continue // drain the socket before looking at the workload
		}
		if fds[1].Revents != 0 {
			if detached {
				return errNotReady
			}
			return nil
		}
	}
}

var errNotReady = errors.New("the workload exited before it sent READY=1")

// filterNotify keeps the assignments systemd should see, one a line, and
// adds MAINPID= after READY=1 unless mainPid is 0; ready reports READY=1.
func filterNotify(msg string, mainPid int) (out string, ready bool) {
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		for _, p := range forwardedNotify {
			if strings.HasPrefix(line, p) {
				b.WriteString(line + "\n")
				ready = ready || line == "READY=1"
				break
			}
		}
	}
	if ready && mainPid != 0 {
		b.WriteString("MAINPID=" + strconv.Itoa(mainPid) + "\n")
	}
	return b.String(), ready
}

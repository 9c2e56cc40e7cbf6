package libcontainer

import (
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/seccomp"
)

// fdSeccompListener is the socket connected to linux.seccomp.listenerPath,
// opened by the parent (the path is on the host) and used by init.
const fdSeccompListener = "_BERTH_FD_SECCOMP_LISTENER"

// compileSeccomp compiles the spec's profile, and connects to its listener
// when it has NOTIFY rules. Called before anything is created, so a bad
// profile leaves nothing behind.
func compileSeccomp(spec *specs.Spec) (*seccomp.Program, *os.File, error) {
	s := spec.Linux.Seccomp
	if s == nil {
		return nil, nil, nil
	}
	prog, err := cachedProgram(s)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	if !prog.Notify {
		return prog, nil, nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: s.ListenerPath}); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("linux.seccomp.listenerPath %s: %w", s.ListenerPath, err)
	}
	return prog, os.NewFile(uintptr(fd), "seccomp-listener"), nil
}

// loadSeccomp installs the plan's filter and hands a notify fd to the
// listener with the container's state, as the runtime spec describes.
func loadSeccomp(plan *Plan) error {
	fd, err := plan.Seccomp.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	listener, err := inheritedFD(fdSeccompListener)
	if err != nil || listener == nil {
		return fmt.Errorf("seccomp notify: no listener socket")
	}
	defer listener.Close()
	st := specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: plan.HostPid,
		Metadata: plan.Spec.Linux.Seccomp.ListenerMetadata,
	}
	if plan.State != nil {
		st.State = *plan.State
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(int(listener.Fd()), data, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("seccomp notify: send to listener: %w", err)
	}
	return nil
}

package libcontainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
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
//
// Everything the hand-over needs is made before the filter goes on: from
// then until the agent holds the notify fd, a syscall the profile notifies
// (fcntl, close, read, even mmap) would wait for an answer that cannot come
// (runc issue 4328). Between Load and sendmsg there is no other syscall, and
// no allocation that could ask the kernel for memory.
func loadSeccomp(plan *Plan) error {
	if !plan.Seccomp.Notify {
		if _, err := plan.Seccomp.Load(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
		return nil
	}
	listener, err := inheritedFD(fdSeccompListener)
	if err != nil || listener == nil {
		return errors.New("seccomp notify: no listener socket")
	}
	defer listener.Close()
	lfd := int(listener.Fd())
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
	rights := unix.UnixRights(0) // the notify fd's number goes in after Load
	fd, err := plan.Seccomp.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	defer unix.Close(fd)
	binary.NativeEndian.PutUint32(rights[unix.CmsgLen(0):], uint32(fd))
	if err := unix.Sendmsg(lfd, data, rights, nil, 0); err != nil {
		return fmt.Errorf("seccomp notify: send to listener: %w", err)
	}
	return nil
}

package libcontainer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
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

// seccompCache holds compiled profiles by the SHA-256 of the profile's JSON
// (and the compiler's version): libseccomp takes ~25 ms to compile docker's
// default profile, and every container of a docker or podman host uses the
// same one. The directory is root's, 0700; a damaged entry is compiled again.
var seccompCache = "/var/cache/berth/seccomp"

func cachedProgram(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	key, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(seccomp.CompilerVersion+"\n"), key...))
	path := filepath.Join(seccompCache, hex.EncodeToString(sum[:])+".json")
	if data, err := os.ReadFile(path); err == nil {
		var p seccomp.Program
		if json.Unmarshal(data, &p) == nil && len(p.Insns) > 0 {
			return &p, nil
		}
	}
	prog, skipped, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		logrus.Debugf("linux.seccomp: syscalls unknown to libseccomp, skipped: %v", skipped)
	}
	if data, err := json.Marshal(prog); err == nil && os.MkdirAll(filepath.Dir(path), 0o700) == nil {
		if err := writeFileAtomic(path, data, 0o600, true); err != nil {
			logrus.Debugf("seccomp cache: %v", err) // only a missed speed-up
		}
	}
	return prog, nil
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

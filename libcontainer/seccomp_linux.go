package libcontainer

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/logs"
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

// seccompCache holds compiled profiles: libseccomp takes ~25 ms to compile
// docker's default profile, and every container of a docker or podman host
// uses the same one. An entry is named by a hash of the profile's JSON (and
// the compiler's version) and holds that JSON itself, which must match: so
// the hash need not resist collisions (FNV; crypto/sha256 would link 0.15 MB
// of FIPS code into every berth process), and a forged or colliding entry is
// a cache miss, never another profile's filter. The directory is root's,
// 0700; a damaged entry is compiled again.
var seccompCache = "/var/cache/berth/seccomp"

type cacheEntry struct {
	Key     string           `json:"key"`
	Program *seccomp.Program `json:"program"`
}

func cachedProgram(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	profile, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	key := seccomp.CompilerVersion + "\n" + string(profile)
	h := fnv.New128a()
	h.Write([]byte(key))
	path := filepath.Join(seccompCache, hex.EncodeToString(h.Sum(nil))+".json")
	if data, err := os.ReadFile(path); err == nil {
		var e cacheEntry
		if json.Unmarshal(data, &e) == nil && e.Key == key && e.Program != nil && len(e.Program.Insns) > 0 {
			return e.Program, nil
		}
	}
	prog, skipped, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		logs.Debugf("linux.seccomp: syscalls unknown to libseccomp, skipped: %v", skipped)
	}
	if data, err := json.Marshal(cacheEntry{key, prog}); err == nil && os.MkdirAll(filepath.Dir(path), 0o700) == nil {
		if err := writeFileAtomic(path, data, 0o600, true); err != nil {
			logs.Debugf("seccomp cache: %v", err) // only a missed speed-up
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

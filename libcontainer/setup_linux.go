package libcontainer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
	"github.com/berth-project/berth/rootfs"
)

// capSet is process.capabilities resolved to capability numbers.
type capSet struct {
	bounding, effective, permitted, inheritable, ambient []capability.Cap
	set                                                  bool
}

var capByName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

func newCapSet(c *specs.LinuxCapabilities) (*capSet, error) {
	cs := &capSet{}
	if c == nil {
		return cs, nil
	}
	cs.set = true
	last, err := capability.LastCap()
	if err != nil {
		return nil, err
	}
	conv := func(field string, names []string) ([]capability.Cap, error) {
		var out []capability.Cap
		for _, n := range names {
			cp, ok := capByName[n] // capabilities(7) names only: "cap_chown" is not one
			if !ok {
				return nil, fmt.Errorf("process.capabilities.%s: unknown capability %q", field, n)
			}
			if cp <= last { // known to berth but not to this kernel: nothing to grant
				out = append(out, cp)
			}
		}
		return out, nil
	}
	for _, f := range []struct {
		name string
		in   []string
		out  *[]capability.Cap
	}{
		{"bounding", c.Bounding, &cs.bounding}, {"effective", c.Effective, &cs.effective},
		{"permitted", c.Permitted, &cs.permitted}, {"inheritable", c.Inheritable, &cs.inheritable},
		{"ambient", c.Ambient, &cs.ambient},
	} {
		if *f.out, err = conv(f.name, f.in); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// dropBounding limits the bounding set, then asks the kernel to keep the
// permitted set across the coming setuid.
func (cs *capSet) dropBounding() error {
	if !cs.set {
		return nil
	}
	caps, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	caps.Clear(capability.BOUNDING)
	caps.Set(capability.BOUNDING, cs.bounding...)
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("set capability bounding set: %w", err)
	}
	return linux.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0)
}

// apply sets the final effective, permitted, inheritable and ambient sets.
func (cs *capSet) apply() error {
	if !cs.set {
		return nil
	}
	if err := linux.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return err
	}
	caps, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	caps.Clear(capability.CAPS)
	caps.Set(capability.EFFECTIVE, cs.effective...)
	caps.Set(capability.PERMITTED, cs.permitted...)
	caps.Set(capability.INHERITABLE, cs.inheritable...)
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	// Ambient caps must also be permitted and inheritable; the kernel
	// refuses the others, and so does berth, silently, as runc does.
	capability.ResetAmbient()
	for _, c := range cs.ambient {
		capability.SetAmbient(true, c)
	}
	return nil
}

// switchUser sets supplementary groups, gid and uid, in that order (after
// setuid the process could no longer change its groups).
func switchUser(p *specs.Process) error {
	u := p.User
	// This thread only: it is the one that execs (internal/linux).
	groups := u.AdditionalGids
	if err := linux.SetgroupsThread(groups); err != nil && !(errors.Is(err, unix.EPERM) && len(groups) == 0) {
		return fmt.Errorf("process.user.additionalGids %v: %s%w", groups, unmapped(err), err)
	}
	if err := linux.SetresgidThread(u.GID, u.GID, u.GID); err != nil {
		return fmt.Errorf("process.user.gid %d: %s%w", u.GID, unmapped(err), err)
	}
	if err := linux.SetresuidThread(u.UID, u.UID, u.UID); err != nil {
		return fmt.Errorf("process.user.uid %d: %s%w", u.UID, unmapped(err), err)
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	return nil
}

// unmapped explains the EINVAL of setresuid, setresgid and setgroups.
func unmapped(err error) string {
	if errors.Is(err, unix.EINVAL) {
		return "not mapped in the container's user namespace: "
	}
	return ""
}

// openCwd opens process.cwd, resolved inside the container's root with no
// magic links: "/proc/self/fd/N" can never lead to a descriptor that
// reaches the host (CVE-2024-21626). A missing cwd is created, as runc does.
func openCwd(cwd string) (int, error) {
	// Resolved from the process's root, never from whatever the working
	// directory happens to be.
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(root)
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(root, cwd, &how)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return -1, fmt.Errorf("process.cwd %q: %w", cwd, unwrapPathErr(err))
		}
		fd, err = unix.Openat2(root, cwd, &how)
	}
	if err != nil {
		return -1, fmt.Errorf("process.cwd %q: %w", cwd, os.NewSyscallError("openat2", err))
	}
	return fd, nil
}

// processEnv is process.env as runc 1.5 makes it: a variable given several
// times is set once, to its last value, where it last appears; HOME, when
// missing or empty, comes from the container's /etc/passwd (or is "/").
func processEnv(p *specs.Process) []string {
	seen := make(map[string]bool, len(p.Env))
	env := make([]string, 0, len(p.Env)+1)
	for i := len(p.Env) - 1; i >= 0; i-- {
		key, _, _ := strings.Cut(p.Env[i], "=")
		if seen[key] {
			continue
		}
		seen[key] = true
		env = append(env, p.Env[i])
	}
	slices.Reverse(env)
	for i, e := range env {
		if e == "HOME=" {
			env[i] = "HOME=" + homeOf(int(p.User.UID))
			return env
		}
	}
	if !seen["HOME"] {
		env = append(env, "HOME="+homeOf(int(p.User.UID)))
	}
	return env
}

func homeOf(uid int) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 6 && fields[2] == strconv.Itoa(uid) && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}

// lookPath finds the workload's executable the way execvp would, inside the
// container, so that a missing one is reported at create and named.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := isExecutable(file); err != nil {
			return "", fmt.Errorf("exec: %q: %w", file, err)
		}
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[len("PATH="):]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

func isExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return unwrapPathErr(err)
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	// With the effective ids and capabilities, as execve checks: a user
	// with CAP_DAC_OVERRIDE may run a file whose x bit is not its own.
	return unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS)
}

var rlimitByName = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

func setRlimits(limits []specs.POSIXRlimit) error {
	for _, l := range limits {
		res, ok := rlimitByName[l.Type]
		if !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", l.Type)
		}
		rl := unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		if err := unix.Prlimit(0, res, &rl, nil); err != nil {
			return fmt.Errorf("process.rlimits %q: %w", l.Type, os.NewSyscallError("prlimit", err))
		}
	}
	return nil
}

// applySysctl writes linux.sysctl through the container's own /proc.
func applySysctl(sysctl map[string]string) error {
	for k, v := range sysctl {
		if strings.Contains(k, "..") || strings.HasPrefix(k, "/") {
			return fmt.Errorf("linux.sysctl: invalid key %q", k)
		}
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %q=%q: %w", k, v, unwrapPathErr(err))
		}
	}
	return nil
}

// closeExecFrom marks every descriptor >= from close-on-exec, in one
// close_range(2) call (Linux 5.11); older kernels get the /proc/self/fd walk.
func closeExecFrom(from int) error {
	if err := unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < from {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

// setupConsole creates the container's terminal in its own devpts, makes it
// the controlling terminal and stdio, and sends the master to the parent.
// For init (not exec) the slave is also bound onto /dev/console.
func setupConsole(s *syncSocket, p *specs.Process, console bool) error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", unwrapPathErr(err))
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return os.NewSyscallError("unlockpt", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return os.NewSyscallError("ptsname", err)
	}
	ptsPath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := os.OpenFile(ptsPath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", ptsPath, unwrapPathErr(err))
	}
	defer slave.Close()
	// The user gets its terminal; the group stays the one devpts gave it
	// (gid=5, tty, in the usual mount options), as in runc.
	if err := unix.Fchown(int(slave.Fd()), int(p.User.UID), -1); err != nil {
		return os.NewSyscallError("fchown pts", err)
	}
	if console {
		if err := rootfs.MountConsole(slave); err != nil {
			return fmt.Errorf("/dev/console: %w", err)
		}
	}
	if p.ConsoleSize != nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)})
	}
	if err := s.send(syncMsg{Type: msgConsole}, int(master.Fd())); err != nil {
		return err
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	return os.NewSyscallError("ioctl TIOCSCTTY", unix.IoctlSetInt(0, unix.TIOCSCTTY, 0))
}

package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// Descriptors handed to `berth init`, numbered in this one place.
//
// The first PreserveFDs descriptors after stdio (3 .. 3+N-1) are the
// caller's, passed through to the workload with the same numbers
// (--preserve-fds, LISTEN_FDS). berth's own follow them, and init learns
// their numbers from the environment variable named here; it marks them
// close-on-exec so that the workload never inherits one (CVE-2024-21626).
const (
	fdInitSock = "_BERTH_FD_INITSOCK" // the init protocol socket (sync.go)
	fdExecFifo = "_BERTH_FD_FIFO"     // O_PATH handle on exec.fifo; absent with StartBySocket
	fdExe      = "_BERTH_FD_EXE"      // the sealed binary init was exec'd from (spawn_linux.go)
)

// claimCallerFDs checks that descriptors 3 .. 3+n-1 are the caller's, to be
// passed on with --preserve-fds, and keeps every other descriptor the
// caller left open (>= 3+n) from reaching init, hooks or the workload.
// Create and Exec call it before they make anything.
//
// A number in the range that the caller did not leave open may be one of
// berth's own (the Go runtime's cgroup files, the state directory, a v1
// tasks file): handing that over gives the workload a host handle
// (CVE-2024-21626 class). The test is the close-on-exec flag, which
// tells the two apart whenever it is made: every descriptor that reached
// berth through execve lacks it, and every one berth opens has it (Go
// opens all with O_CLOEXEC).
func claimCallerFDs(n int) error {
	if n < 0 {
		return fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return os.NewSyscallError("getrlimit", err)
	}
	if uint64(n) > rl.Max-3 {
		return fmt.Errorf("--preserve-fds %d: more descriptors than the open-file limit allows (RLIMIT_NOFILE %d)", n, rl.Max)
	}
	if err := checkCallerFDs(n); err != nil {
		return err
	}
	// Stray descriptors of the caller (not close-on-exec) would otherwise
	// be inherited by init and every hook berth runs.
	if err := unix.CloseRange(uint(3+n), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil && !errors.Is(err, unix.ENOSYS) {
		return os.NewSyscallError("close_range", err)
	}
	return nil
}

// checkCallerFDs verifies that each of 3 .. 3+n-1 is open and came from
// the caller (see claimCallerFDs).
func checkCallerFDs(n int) error {
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return fmt.Errorf("--preserve-fds %d: unable to use preserved-fd %d: it is not open in berth's caller", n, fd)
		}
		if flags&unix.FD_CLOEXEC != 0 {
			return fmt.Errorf("--preserve-fds %d: unable to use preserved-fd %d: it was not passed by berth's caller", n, fd)
		}
	}
	return nil
}

// handOver appends files to cmd.ExtraFiles after the preserved ones and
// records each one's number in cmd.Env under its name. It checks the
// preserved range once more: nothing berth opened may be handed over.
func handOver(cmd *exec.Cmd, preserve int, named map[string]*os.File) error {
	if err := checkCallerFDs(preserve); err != nil {
		return err
	}
	for i := 0; i < preserve; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	for name, f := range named {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		cmd.Env = append(cmd.Env, name+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	}
	return nil
}

// inheritedFD is init's side of handOver.
func inheritedFD(name string) (*os.File, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(name)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", name, v)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// closeInherited closes the descriptor handed over as name, which init
// does not need past its own exec (the sealed binary): init holds only
// what it uses while it waits.
func closeInherited(name string) {
	if f, err := inheritedFD(name); err == nil && f != nil {
		f.Close()
	}
}

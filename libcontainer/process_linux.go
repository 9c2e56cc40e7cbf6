package libcontainer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// procStat returns the start time (field 22, clock ticks after boot) and the
// state letter (field 3) of pid, from /proc/<pid>/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) may hold spaces and parentheses: fields after it are
	// counted from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := bytes.Fields(data[i+2:])
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return start, fields[0][0], nil
}

// initAlive reports whether the recorded init still runs: same PID, same start
// time, and not a zombie.
func (c *Container) initAlive() bool {
	if c.InitPID <= 0 {
		return false
	}
	start, state, err := procStat(c.InitPID)
	return err == nil && start == c.InitStart && state != 'Z'
}

// openInit returns a pidfd for the container's init, verified against the
// recorded start time after opening, so a signal can never reach a process
// that reused the PID. It fails with ErrNotRunning if init is gone.
func (c *Container) openInit() (int, error) {
	if c.InitPID <= 0 {
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, c.ID)
	}
	fd, err := linux.PidfdOpen(c.InitPID)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, fmt.Errorf("%w: %s", ErrNotRunning, c.ID)
		}
		return -1, err
	}
	if !c.initAlive() {
		unix.Close(fd)
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, c.ID)
	}
	return fd, nil
}

// waitGone polls until pidfd's process has exited (a pidfd of a process that
// is not our child is readable once it exits). It gives up after timeoutMs.
func waitGone(pidfd int, timeoutMs int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeoutMs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

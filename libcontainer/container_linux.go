package libcontainer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/internal/logs"
)

// Status derives the container's status from the system, never from what
// was written: init's PID and start time tell whether it lives, the exec
// FIFO whether it has been started, the freezer whether it is paused.
func (c *Container) Status() specs.ContainerState {
	if c.Creating || c.InitPID == 0 {
		if c.lockedByOther() {
			return specs.StateCreating
		}
		return specs.StateStopped // its create died half-way
	}
	if !c.initAlive() {
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, execFifo)); err == nil {
		return specs.StateCreated
	}
	if cg := c.cgroup(); cg != nil && cg.Paused() {
		return StatePaused
	}
	return specs.StateRunning
}

// lockedByOther reports whether another process holds the container's lock.
func (c *Container) lockedByOther() bool {
	if c.lock != nil {
		return false
	}
	probe := &Container{dir: c.dir, State: State{ID: c.ID}}
	err := probe.Lock(true)
	probe.Unlock()
	return errors.Is(err, ErrLocked)
}

// cgroup is checkedCgroup for callers that only look: nil when no cgroup
// is recorded or the recorded one is refused.
func (c *Container) cgroup() *cgroups.Manager {
	cg, err := c.checkedCgroup()
	if err != nil {
		return nil
	}
	return cg
}

// Start lets a created container's init exec the workload, and returns once
// it has (init's end of the FIFO closes on exec).
func Start(root, id string) error {
	c, err := Load(root, id)
	if err != nil {
		return err
	}
	if err := c.Lock(false); err != nil {
		return err
	}
	defer c.Unlock()
	if err := c.reload(); err != nil {
		return err
	}
	if st := c.Status(); st != specs.StateCreated {
		return fmt.Errorf("%w: %s is %s", ErrNotCreated, id, st)
	}
	var notify *notifyListener
	if c.NotifySocket != "" {
		// Bound again here (create's listener went with its process),
		// before the workload can run.
		if notify, err = listenNotify(c.dir, c.NotifySocket); err != nil {
			return err
		}
		defer notify.Close()
	}
	fifoPath := filepath.Join(c.dir, execFifo)
	opened := make(chan *os.File, 1)
	go func() {
		// Blocks until init's write end is open; init is already waiting
		// in that open unless it died, which the loop below notices.
		f, err := os.OpenFile(fifoPath, os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			opened <- f
		}
	}()
	var f *os.File
	for f == nil {
		select {
		case f = <-opened:
		case <-time.After(50 * time.Millisecond):
			if !c.initAlive() {
				return fmt.Errorf("%w: %s: its init exited before start", ErrNotRunning, id)
			}
		}
	}
	tracePoint("start:fifo-opened")
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read exec fifo: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: %s: its init exited before start", ErrNotRunning, id)
	}
	if err := os.Remove(fifoPath); err != nil {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	if len(data) > 1 {
		// init failed between the FIFO and execve and said why after its
		// first byte (a startContainer hook).
		return fmt.Errorf("start %s: %s", id, data[1:])
	}
	c.runPoststart()
	if notify != nil {
		// As runc: start returns once the workload said READY=1, which
		// goes to systemd with MAINPID=; others may lock meanwhile.
		c.Unlock()
		if err := notify.forward(c.InitPID, true); err != nil {
			return fmt.Errorf("%s: sd_notify: %w", id, err)
		}
	}
	return nil
}

// runPoststart runs the poststart hooks; the spec makes a failure a warning.
func (c *Container) runPoststart() {
	if s := c.summary(); s != nil {
		for _, err := range warnHooks(s.Hooks, c.ociState(specs.StateRunning), hookPoststart) {
			logs.Warn(err)
		}
	}
}

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
	"github.com/berth-project/berth/internal/linux"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/rootfs"
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

func (c *Container) cgroup() *cgroups.Manager {
	if len(c.CgroupPaths) == 0 {
		return nil
	}
	cg, err := cgroups.Load(c.CgroupPaths)
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
	checkpoint("start:fifo-opened")
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

// Signal sends sig to the container's init, or with all to every process in
// its cgroup.
func Signal(root, id string, sig unix.Signal, all bool) error {
	c, err := Load(root, id)
	if err != nil {
		return err
	}
	st := c.Status()
	if st == specs.StateStopped || st == specs.StateCreating {
		return fmt.Errorf("%w: %s is %s", ErrNotRunning, id, st)
	}
	if all {
		return c.signalAll(sig)
	}
	fd, err := c.openInit()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return linux.PidfdSendSignal(fd, sig)
}

// signalAll signals every process of the container's cgroup. A frozen
// cgroup is thawed after a SIGKILL so that the processes can die.
func (c *Container) signalAll(sig unix.Signal) error {
	cg := c.cgroup()
	if cg == nil {
		return fmt.Errorf("%s: no cgroup recorded: cannot find all its processes", c.ID)
	}
	if sig == unix.SIGKILL && cg.Kill() {
		return nil // the kernel killed them all, frozen or not, with no race
	}
	pids, err := cg.Pids()
	if err != nil {
		return fmt.Errorf("list processes of %s: %w", c.ID, err)
	}
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	if sig == unix.SIGKILL {
		cg.Thaw()
	}
	return nil
}

// Delete removes a container: its processes (only with force unless it is
// stopped or merely created), its cgroup and its state directory. With
// force it also removes a container whose state file is unreadable.
//
// With force, a container that does not exist is not an error: the caller
// wants it gone, and it is (containerd's shims and podman rely on this, as
// with runc).
func Delete(root, id string, force bool) error {
	checkpoint("delete:begin")
	c, err := Load(root, id)
	if force && errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil && !(force && errors.Is(err, ErrCorruptState)) {
		return err
	}
	if err := c.Lock(false); err != nil {
		return err
	}
	defer c.Unlock()
	if err := c.reload(); err != nil {
		if !(force && errors.Is(err, ErrCorruptState)) {
			return err
		}
		return os.RemoveAll(c.dir) // nothing readable to undo
	}
	switch st := c.Status(); st {
	case specs.StateRunning, StatePaused:
		if !force {
			return fmt.Errorf("%w: cannot delete %s: it is %s (stop it first, or use --force)", ErrNotStopped, id, st)
		}
	}
	return c.destroy()
}

// destroy kills whatever still runs, waits for it, removes the cgroup and
// the state directory. Preconditions: lock held.
func (c *Container) destroy() error {
	if fd, err := c.openInit(); err == nil {
		linux.PidfdSendSignal(fd, unix.SIGKILL)
		waitGone(fd, 5000)
		unix.Close(fd)
	}
	checkpoint("delete:killed")
	if cg := c.cgroup(); cg != nil {
		if cg.Exists() {
			c.signalAll(unix.SIGKILL)
		}
		// Also when only some directories were made (a create killed
		// early): Destroy skips the ones that are not there.
		if err := removeCgroup(cg); err != nil {
			return err
		}
		checkpoint("delete:cgroup-removed")
	}
	summary := c.summary()
	if summary != nil && !summary.hasNS(specs.MountNamespace) && c.Rootfs != "" {
		rootfs.DetachOwnMounts(c.Rootfs, c.RootfsMountBelow) // its mounts are in our mount table
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state %s: %w", c.dir, err)
	}
	checkpoint("delete:done")
	if summary != nil {
		for _, err := range warnHooks(summary.Hooks, c.ociState(specs.StateStopped), hookPoststop) {
			logs.Warn(err)
		}
	}
	return nil
}

// removeCgroup retries while killed processes are still leaving the cgroup.
func removeCgroup(cg *cgroups.Manager) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = cg.Destroy(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

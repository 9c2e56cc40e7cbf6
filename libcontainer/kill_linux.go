package libcontainer

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/internal/linux"
)

// errNoCgroup: the container has no cgroup (recorded, or left on the host).
var errNoCgroup = errors.New("no cgroup")

// Signal sends sig to the container's init, or with all to every process in
// its cgroup, as runc does, because containerd's shim relies on it:
//   - init gone: the error is exactly ErrNotRunning, runc's text, which is
//     how the shim recognises an already-exited process;
//   - with all, whatever is left in the cgroup is signalled, and a stopped
//     container with nothing left is success (the shim runs `kill --all`
//     after every exit);
//   - SIGKILL to a container without a PID namespace of its own kills its
//     whole cgroup, since init's death does not take the rest with it;
//   - SIGKILL to a paused container thaws it, so that the processes die.
//
// Signal 0 is sent as any other: it checks that the process exists.
func Signal(root, id string, sig unix.Signal, all bool) error {
	c, err := Load(root, id)
	if err != nil {
		return err
	}
	st := c.Status()
	if st == specs.StateCreating {
		return fmt.Errorf("%w: %s is %s", ErrNotRunning, id, st)
	}
	if all || (sig == unix.SIGKILL && !c.ownPIDNamespace()) {
		err := c.signalAll(sig)
		switch {
		case !errors.Is(err, errNoCgroup):
			return err
		case all && st == specs.StateStopped:
			return nil // nothing left to signal
		case all:
			return err
		}
		// No cgroup and no PID namespace of its own: init is all we know.
	}
	if st == specs.StateStopped {
		return ErrNotRunning
	}
	fd, err := c.openInit()
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return ErrNotRunning // it exited since Status looked
		}
		return err
	}
	defer unix.Close(fd)
	if err := linux.PidfdSendSignal(fd, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal init of %s: %w", id, err)
	}
	if sig == unix.SIGKILL && st == StatePaused {
		if cg := c.cgroup(); cg != nil {
			cg.Thaw() // a frozen process does not die until thawed
		}
	}
	return nil
}

// ownPIDNamespace reports whether the container has a new PID namespace
// (listed without a path), whose init's death kills every process in it. An
// unreadable config counts as no: killing the whole cgroup is the safe side.
func (c *Container) ownPIDNamespace() bool {
	s := c.summary()
	if s == nil || s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}

// signalAll signals every process of the container's cgroup.
func (c *Container) signalAll(sig unix.Signal) error {
	cg, err := c.checkedCgroup()
	if err != nil {
		return err
	}
	if cg == nil && len(c.CgroupPaths) == 0 && c.Status() != specs.StateStopped {
		return c.signalWithoutCgroup(sig) // rootless without a delegated cgroup
	}
	if cg == nil || !cg.Exists() {
		return fmt.Errorf("%w for %s: cannot find all its processes", errNoCgroup, c.ID)
	}
	if err := signalCgroup(cg, sig); err != nil {
		return fmt.Errorf("signal the processes of %s: %w", c.ID, err)
	}
	return nil
}

// signalCgroup signals every process in cg. A SIGKILL goes through
// cgroup.kill where there is one; else the cgroup is frozen while its
// processes are listed and killed, so that none forks past the list. It
// is thawed afterwards, a paused one too, so that the processes can die.
func signalCgroup(cg *cgroups.Manager, sig unix.Signal) error {
	if sig == unix.SIGKILL {
		if cg.Kill() {
			cg.Thaw()
			return nil
		}
		if !cg.Paused() {
			cg.Freeze(true) // best effort: the kill below works without it
		}
		defer cg.Thaw()
	}
	pids, err := cg.Pids()
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	var first error
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH && first == nil {
			first = fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	return first
}

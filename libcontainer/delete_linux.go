package libcontainer

import (
	"errors"
	"fmt"
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

// Delete removes a container: its processes (only with force unless it is
// stopped or merely created), its cgroup and its state directory.
//
// With force, a container that does not exist, or stops existing while we
// wait for its lock, is not an error: the caller wants it gone, and it is
// (containerd's shims and podman rely on this, as with runc). And a
// container whose state file cannot be read is removed from what can be
// found without it (destroyUnreadable).
func Delete(root, id string, force bool) error {
	tracePoint("delete:begin")
	gone := func(err error) bool { return force && errors.Is(err, ErrNotExist) }
	corrupt := func(err error) bool { return force && errors.Is(err, ErrCorruptState) }
	c, err := Load(root, id)
	if gone(err) {
		return nil
	}
	if err != nil && !corrupt(err) {
		return err
	}
	if err := c.Lock(false); err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	defer c.Unlock()
	if err := c.reload(); err != nil {
		if gone(err) {
			return nil
		}
		if !corrupt(err) {
			return err
		}
		return c.destroyUnreadable(err)
	}
	if _, err := c.checkedCgroup(); err != nil {
		if !corrupt(err) {
			return err
		}
		return c.destroyUnreadable(err)
	}
	switch st := c.Status(); st {
	case specs.StateRunning, StatePaused:
		if !force {
			return fmt.Errorf("%w: cannot delete %s: it is %s (stop it first, or use --force)", ErrNotStopped, id, st)
		}
	}
	return c.destroy()
}

// BeforeRemove, when set, is called by delete once a container's processes
// and cgroup are gone and before its state is removed, with the state root,
// the ID, and the bundle and annotations it was created with (both empty
// when its state could not be read): the image verbs remove the bundle they
// generated (image.RemoveBundle). An error keeps the state.
var BeforeRemove func(root, id, bundle string, annotations map[string]string) error

// destroy kills whatever still runs, waits for it, removes the cgroup and
// the state directory. Preconditions: lock held, cgroup paths checked.
func (c *Container) destroy() error {
	c.returnDevices()
	c.killInit()
	tracePoint("delete:killed")
	if cg := c.cgroup(); cg != nil {
		if cg.Exists() {
			c.signalAll(unix.SIGKILL)
		}
		// Also when only some directories were made (a create killed
		// early): Destroy skips the ones that are not there.
		if err := removeCgroup(cg); err != nil {
			return err
		}
		tracePoint("delete:cgroup-removed")
	}
	if err := c.detachNetwork(); err != nil {
		logs.Warn(err) // what DEL could not undo stays; the container goes
	}
	summary := c.summary()
	if summary != nil && !summary.hasNS(specs.MountNamespace) && c.Rootfs != "" {
		rootfs.DetachOwnMounts(c.Rootfs, c.RootfsMountBelow) // its mounts are in our mount table
	}
	if BeforeRemove != nil {
		if err := BeforeRemove(filepath.Dir(c.dir), c.ID, c.Bundle, c.Annotations); err != nil {
			return err // the state stays: delete can be tried again
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state %s: %w", c.dir, err)
	}
	tracePoint("delete:done")
	if summary != nil {
		for _, err := range warnHooks(summary.Hooks, c.ociState(specs.StateStopped), hookPoststop) {
			logs.Warn(err)
		}
	}
	return nil
}

// killInit SIGKILLs the recorded init, if it still runs, and waits for it.
func (c *Container) killInit() {
	if fd, err := c.openInit(); err == nil {
		linux.PidfdSendSignal(fd, unix.SIGKILL)
		waitGone(fd, 5000)
		unix.Close(fd)
	}
}

// destroyUnreadable is `delete --force` of a container whose state file
// cannot be read (cause). It kills and removes what can be found without
// it: the init it names, if it could be read that far, and the cgroup
// named after the ID in each hierarchy (where create puts it unless
// linux.cgroupsPath says otherwise), with every process in it. When that
// cgroup is not there, the container's processes cannot be found: the
// record is kept and the caller told, so that nothing is orphaned.
// Preconditions: lock held.
func (c *Container) destroyUnreadable(cause error) error {
	cg, err := cgroups.New(cgroups.Config{ID: c.ID})
	if err != nil {
		return fmt.Errorf("%v; its default cgroup cannot be found either (%v): not deleting %s", cause, err, c.dir)
	}
	if !cg.Exists() {
		return fmt.Errorf("%v; no cgroup named %s exists either, so its processes cannot be found: not deleting %s (remove it by hand once they are gone)", cause, c.ID, c.dir)
	}
	c.killInit()
	for i := 0; ; i++ {
		err := signalCgroup(cg, unix.SIGKILL)
		pids, perr := cg.Pids()
		if err == nil && perr == nil && len(pids) == 0 {
			break
		}
		if i == 100 {
			return fmt.Errorf("%v; processes %v of its cgroup do not die (%v): not deleting %s", cause, pids, errors.Join(err, perr), c.dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := removeCgroup(cg); err != nil {
		return fmt.Errorf("%v; %w: not deleting %s", cause, err, c.dir)
	}
	if BeforeRemove != nil {
		if err := BeforeRemove(filepath.Dir(c.dir), c.ID, "", nil); err != nil {
			return fmt.Errorf("%v; %w: not deleting %s", cause, err, c.dir)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state %s: %w", c.dir, err)
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

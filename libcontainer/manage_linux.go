package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/cgroups"
)

// loadRunning loads a container, locks it, and returns its cgroup; it fails
// unless the container's status is one of want.
func loadWithCgroup(root, id string, want ...specs.ContainerState) (*Container, *cgroups.Manager, error) {
	c, err := Load(root, id)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Lock(false); err != nil {
		return nil, nil, err
	}
	if err := c.reload(); err != nil {
		c.Unlock()
		return nil, nil, err
	}
	st := c.Status()
	ok := false
	for _, w := range want {
		ok = ok || st == w
	}
	if !ok {
		c.Unlock()
		return nil, nil, fmt.Errorf("%w: %s is %s", ErrNotRunning, id, st)
	}
	cg, err := c.cgroupErr()
	if err != nil {
		c.Unlock()
		return nil, nil, err
	}
	return c, cg, nil
}

// Pause freezes every process of a running container.
func Pause(root, id string) error {
	c, cg, err := loadWithCgroup(root, id, specs.StateRunning, specs.StateCreated)
	if err != nil {
		return err
	}
	defer c.Unlock()
	return cg.Freeze(true)
}

// Resume thaws a paused container.
func Resume(root, id string) error {
	c, cg, err := loadWithCgroup(root, id, StatePaused)
	if err != nil {
		return err
	}
	defer c.Unlock()
	return cg.Freeze(false)
}

// Pids lists the host PIDs of every process in the container.
func Pids(root, id string) ([]int, error) {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return nil, err
	}
	defer c.Unlock()
	return cg.Pids()
}

// Update changes a live container's limits: fields set in res replace the
// container's, and the result is recorded for later commands.
func Update(root, id string, res *specs.LinuxResources) error {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return err
	}
	defer c.Unlock()
	spec, err := c.spec()
	if err != nil {
		return err
	}
	merged := mergeResources(spec.Linux.Resources, res)
	if err := cg.Update(merged, spec.Linux.Devices); err != nil {
		return err
	}
	spec.Linux.Resources = merged
	c.RawConfig = nil // re-encoded by save
	return c.save()
}

// mergeResources overlays the set fields of upd on cur.
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	out := specs.LinuxResources{}
	if cur != nil {
		out = *cur
	}
	if upd == nil {
		return &out
	}
	if m := upd.Memory; m != nil {
		base := specs.LinuxMemory{}
		if out.Memory != nil {
			base = *out.Memory
		}
		setIf(&base.Limit, m.Limit)
		setIf(&base.Reservation, m.Reservation)
		setIf(&base.Swap, m.Swap)
		setIf(&base.Kernel, m.Kernel) //nolint:staticcheck // still in the spec
		setIf(&base.KernelTCP, m.KernelTCP)
		setIf(&base.Swappiness, m.Swappiness)
		setIf(&base.CheckBeforeUpdate, m.CheckBeforeUpdate)
		out.Memory = &base
	}
	if c := upd.CPU; c != nil {
		base := specs.LinuxCPU{}
		if out.CPU != nil {
			base = *out.CPU
		}
		setIf(&base.Shares, c.Shares)
		setIf(&base.Quota, c.Quota)
		setIf(&base.Burst, c.Burst)
		setIf(&base.Period, c.Period)
		setIf(&base.RealtimeRuntime, c.RealtimeRuntime)
		setIf(&base.RealtimePeriod, c.RealtimePeriod)
		setIf(&base.Idle, c.Idle)
		if c.Cpus != "" {
			base.Cpus = c.Cpus
		}
		if c.Mems != "" {
			base.Mems = c.Mems
		}
		out.CPU = &base
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	return &out
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

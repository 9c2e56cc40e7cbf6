package libcontainer

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// process.execCPUAffinity, and runc 1.5's reset: the workload never keeps
// the CPU pinning of whoever ran berth (taskset, a pinned systemd unit).
// Affinity is per thread: init is locked to the thread that execs.

// setInitialCPUAffinity applies execCPUAffinity.initial, before the move
// into the container's cgroup.
func setInitialCPUAffinity(p *specs.Process) error {
	if p.ExecCPUAffinity == nil || p.ExecCPUAffinity.Initial == "" {
		return nil
	}
	return setCPUAffinity("process.execCPUAffinity.initial", p.ExecCPUAffinity.Initial)
}

// setFinalCPUAffinity, once in the container's cgroup, applies
// execCPUAffinity.final or, without it, every CPU: the kernel narrows the
// mask to the cgroup's cpuset.
func setFinalCPUAffinity(p *specs.Process) error {
	if p.ExecCPUAffinity != nil && p.ExecCPUAffinity.Final != "" {
		return setCPUAffinity("process.execCPUAffinity.final", p.ExecCPUAffinity.Final)
	}
	var all unix.CPUSet
	for i := 0; i < maxCPUs; i++ {
		all.Set(i)
	}
	// Best effort, as runc: a failure leaves the inherited affinity.
	_ = unix.SchedSetaffinity(0, &all)
	return nil
}

func setCPUAffinity(field, list string) error {
	cpus, err := parseCPUList(list)
	if err != nil {
		return fmt.Errorf("%s %q: %w", field, list, err)
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(int(c))
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("%s %q: %w", field, list, os.NewSyscallError("sched_setaffinity", err))
	}
	return nil
}

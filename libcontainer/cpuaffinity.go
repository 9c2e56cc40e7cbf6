package libcontainer

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxCPUs bounds a CPU number in process.execCPUAffinity (the size of the
// mask sched_setaffinity takes here, unix.CPUSet).
const maxCPUs = 1024

// parseCPUList parses a list like "0-1,3" into the CPU numbers it names.
func parseCPUList(s string) ([]uint, error) {
	var cpus []uint
	err := parseIDList(s, maxCPUs, "CPU", func(i uint) { cpus = append(cpus, i) })
	return cpus, err
}

func validateCPUAffinity(a *specs.CPUAffinity) error {
	if a == nil {
		return nil
	}
	if _, err := parseCPUList(a.Initial); err != nil {
		return invalid("process.execCPUAffinity.initial %q: %v", a.Initial, err)
	}
	if _, err := parseCPUList(a.Final); err != nil {
		return invalid("process.execCPUAffinity.final %q: %v", a.Final, err)
	}
	return nil
}

package libcontainer

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
)

// A container created rootless without a delegated cgroup has none of its
// own (cgroups/rootless.go): no cgroup path is recorded. Its processes are
// then found through its PID namespace (every process in it), or without
// one of its own through init's descendants; and what needs a cgroup
// (pause, resume, update) says so.

// noCgroup is the error of a verb that needs the container's cgroup.
func noCgroup(verb, id string) error {
	return fmt.Errorf("cannot %s %s: %w", verb, id, cgroups.ErrNotDelegated)
}

// pidsWithoutCgroup lists the host PIDs of the container's processes.
// Preconditions: no cgroup recorded.
func (c *Container) pidsWithoutCgroup() ([]int, error) {
	if c.Status() == specs.StateStopped || c.InitPID <= 0 {
		return nil, nil
	}
	init := c.InitPID
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var initNS unix.Stat_t
	ownNS := c.ownPIDNamespace() && unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", init), &initNS) == nil
	parent := map[int]int{}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ownNS {
			var st unix.Stat_t
			if unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st) == nil && st.Dev == initNS.Dev && st.Ino == initNS.Ino {
				out = append(out, pid)
			}
			continue
		}
		if pp := ppidOf(pid); pp > 0 {
			parent[pid] = pp
		}
	}
	if ownNS {
		return out, nil
	}
	for pid := range parent { // init and its descendants
		for p := pid; p > 1; p = parent[p] {
			if p == init {
				out = append(out, pid)
				break
			}
		}
	}
	return out, nil
}

// ppidOf reads the parent PID from /proc/<pid>/stat ("pid (comm) S ppid").
func ppidOf(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// signalWithoutCgroup signals every process pidsWithoutCgroup finds.
func (c *Container) signalWithoutCgroup(sig unix.Signal) error {
	pids, err := c.pidsWithoutCgroup()
	if err != nil {
		return fmt.Errorf("signal the processes of %s: %w", c.ID, err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal the processes of %s: kill %d: %w", c.ID, pid, err)
		}
	}
	return nil
}

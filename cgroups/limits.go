package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// How linux.resources become cgroup file writes, for v1 and for v2. The
// writes and their order follow runc's (opencontainers/cgroups), including
// its conversions for v2; New turns the resources into steps at once, so
// that a bad value is refused before anything exists.

// step is one write to one file of a controller's directory ("" is the v2
// directory), or a function for what takes more than one write.
type step struct {
	ctrl, file, value string
	run               func(dir string) error
	optional          bool // the file may be missing (an optional kernel feature)
	devices           bool // the device rules, not a limit (rootless.go)
}

func (s step) apply(dir string) error {
	if s.run != nil {
		return s.run(dir)
	}
	err := writeFile(dir, s.file, s.value)
	if s.optional && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// limitSteps turns r (nil: none) and the device rules into steps.
func limitSteps(r *specs.LinuxResources, rules []*deviceRule, v2 bool) ([]step, error) {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	ctrl := func(name string) string { return v1name(name, v2) }
	var out []step
	add := func(s ...step) { out = append(out, s...) }
	if c := r.CPU; c != nil {
		if c.Cpus != "" {
			add(step{ctrl: ctrl("cpuset"), file: "cpuset.cpus", value: c.Cpus})
		}
		if c.Mems != "" {
			add(step{ctrl: ctrl("cpuset"), file: "cpuset.mems", value: c.Mems})
		}
	}
	if v2 {
		add(step{devices: true, run: func(dir string) error { return setDevicesV2(dir, rules) }})
	} else {
		add(step{ctrl: "devices", devices: true, run: func(dir string) error { return setDevicesV1(dir, rules) }})
	}
	mem, err := memorySteps(r.Memory, v2)
	if err != nil {
		return nil, err
	}
	add(mem...)
	add(cpuSteps(r.CPU, v2)...)
	if p := r.Pids; p != nil && p.Limit != nil {
		// As runc 1.5 writes it: a negative limit is none, and 0 is 1
		// (what systemd makes of TasksMax=0, so that both drivers agree).
		v := "max"
		switch {
		case *p.Limit > 0:
			v = strconv.FormatInt(*p.Limit, 10)
		case *p.Limit == 0:
			v = "1"
		}
		add(step{ctrl: ctrl("pids"), file: "pids.max", value: v})
	}
	add(blockIOSteps(r.BlockIO, v2)...)
	huge, err := hugetlbSteps(r.HugepageLimits, v2)
	if err != nil {
		return nil, err
	}
	add(huge...)
	if n := r.Network; n != nil && !v2 {
		if n.ClassID != nil {
			add(step{ctrl: "net_cls", file: "net_cls.classid", value: strconv.FormatUint(uint64(*n.ClassID), 10)})
		}
		for _, p := range n.Priorities {
			add(step{ctrl: "net_prio", file: "net_prio.ifpriomap", value: p.Name + " " + strconv.FormatUint(uint64(p.Priority), 10)})
		}
	}
	for dev, l := range r.Rdma {
		v := dev
		if l.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		add(step{ctrl: ctrl("rdma"), file: "rdma.max", value: v})
	}
	if len(r.Unified) > 0 && !v2 {
		return nil, errors.New("linux.resources.unified needs a cgroup v2 host; this host uses cgroup v1 controllers")
	}
	for file, v := range r.Unified {
		if strings.ContainsAny(file, "/\x00") || file == "" || file == "." || file == ".." {
			return nil, fmt.Errorf("linux.resources.unified: %q is not a cgroup file name", file)
		}
		add(step{file: file, value: v})
	}
	return out, nil
}

// memorySteps: v1 writes the memory and memory+swap limits in whichever
// order the kernel accepts (the limit may not exceed memory+swap); v2 has
// swap alone, so memory+swap becomes swap = memory+swap - memory.
func memorySteps(m *specs.LinuxMemory, v2 bool) ([]step, error) {
	if m == nil {
		return nil, nil
	}
	val := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	limit, swap, reservation := val(m.Limit), val(m.Swap), val(m.Reservation)
	if !v2 {
		var out []step
		if limit != 0 || swap != 0 {
			out = append(out, step{ctrl: "memory", run: func(dir string) error { return setMemoryV1(dir, limit, swap) }})
		}
		if reservation != 0 {
			out = append(out, step{ctrl: "memory", file: "memory.soft_limit_in_bytes", value: strconv.FormatInt(reservation, 10)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			out = append(out, step{ctrl: "memory", file: "memory.oom_control", value: "1"})
		}
		if s := m.Swappiness; s != nil && int64(*s) != -1 {
			if *s > 100 {
				return nil, fmt.Errorf("linux.resources.memory.swappiness %d: must be 0-100", *s)
			}
			out = append(out, step{ctrl: "memory", file: "memory.swappiness", value: strconv.FormatUint(*s, 10)})
		}
		if m.KernelTCP != nil {
			out = append(out, step{ctrl: "memory", file: "memory.kmem.tcp.limit_in_bytes", value: strconv.FormatInt(*m.KernelTCP, 10)})
		}
		return out, nil
	}
	v2swap, err := swapV2(limit, swap)
	if err != nil {
		return nil, err
	}
	var out []step
	if m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && limit > 0 {
		out = append(out, step{run: func(dir string) error { return checkUsage(dir, limit) }})
	}
	if v := v2num(v2swap); v != "" || swap > 0 {
		if v == "" {
			v = "0"
		}
		out = append(out, step{file: "memory.swap.max", value: v, optional: v == "max" || v == "0"})
	}
	if v := v2num(limit); v != "" {
		out = append(out, step{file: "memory.max", value: v})
	}
	if v := v2num(reservation); v != "" {
		out = append(out, step{file: "memory.low", value: v})
	}
	return out, nil
}

// swapV2 is v2's swap limit from the spec's memory+swap: swap = memory+swap
// - memory; 0 is unset, -1 none.
func swapV2(limit, swap int64) (int64, error) {
	switch {
	case limit == -1 && swap == 0:
		return -1, nil // as v1: no memory limit means no swap limit either
	case swap == -1 || swap == 0:
		return swap, nil
	case limit == 0 || limit == -1:
		return 0, errors.New("linux.resources.memory.swap needs a memory limit")
	case swap < limit:
		return 0, fmt.Errorf("linux.resources.memory.swap %d is below the memory limit %d (it is memory+swap)", swap, limit)
	}
	return swap - limit, nil
}

// v2num is a v2 limit: "" for unset (0), "max" for none (-1).
func v2num(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func checkUsage(dir string, limit int64) error {
	cur, err := readFile(dir, "memory.current")
	if err != nil {
		return err
	}
	if n, err := strconv.ParseInt(cur, 10, 64); err == nil && n >= limit {
		return fmt.Errorf("memory limit %d is at or below the current usage %d", limit, n)
	}
	return nil
}

func setMemoryV1(dir string, limit, swap int64) error {
	if limit == -1 && swap == 0 {
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
			swap = -1
		}
	}
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		if errors.Is(err, unix.EBUSY) {
			usage, _ := readFile(dir, "memory.usage_in_bytes")
			return fmt.Errorf("memory limit %d is below what the cgroup uses (%s bytes)", limit, usage)
		}
		return err
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	if limit != 0 && swap != 0 {
		cur, err := readFile(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		// Raising: memory+swap first, so that the limit never exceeds it.
		if n, _ := strconv.ParseUint(cur, 10, 64); swap == -1 || n < uint64(swap) {
			if err := setSwap(); err != nil {
				return err
			}
			return setLimit()
		}
	}
	if err := setLimit(); err != nil {
		return err
	}
	return setSwap()
}

// cpuSteps: v1 writes shares (checked: the kernel clamps them), the CFS
// and realtime period and quota pairs; v2 has cpu.weight (converted from
// shares as runc does), cpu.max and cpu.max.burst.
func cpuSteps(c *specs.LinuxCPU, v2 bool) []step {
	if c == nil {
		return nil
	}
	var out []step
	if c.Idle != nil {
		out = append(out, step{ctrl: v1name("cpu", v2), file: "cpu.idle", value: strconv.FormatInt(*c.Idle, 10)})
	}
	if v2 {
		if c.Shares != nil && *c.Shares != 0 {
			out = append(out, step{file: "cpu.weight", value: strconv.FormatUint(sharesToWeight(*c.Shares), 10)})
		}
		quota, period := c.Quota, c.Period
		if (quota != nil && *quota != 0) || (period != nil && *period != 0) {
			v, p := "max", uint64(100000)
			if quota != nil && *quota > 0 {
				v = strconv.FormatInt(*quota, 10)
			}
			if period != nil && *period != 0 {
				p = *period
			}
			out = append(out, step{file: "cpu.max", value: v + " " + strconv.FormatUint(p, 10)})
		}
		if c.Burst != nil {
			out = append(out, step{file: "cpu.max.burst", value: strconv.FormatUint(*c.Burst, 10)})
		}
		return out
	}
	if c.Shares != nil && *c.Shares != 0 {
		shares := *c.Shares
		out = append(out, step{ctrl: "cpu", run: func(dir string) error { return setShares(dir, shares) }})
	}
	u := func(p *uint64) string {
		if p == nil || *p == 0 {
			return ""
		}
		return strconv.FormatUint(*p, 10)
	}
	i := func(p *int64) string {
		if p == nil || *p == 0 {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	for _, pair := range [][4]string{
		{"cpu.cfs_period_us", u(c.Period), "cpu.cfs_quota_us", i(c.Quota)},
		{"cpu.rt_period_us", u(c.RealtimePeriod), "cpu.rt_runtime_us", i(c.RealtimeRuntime)},
	} {
		if pair[1] != "" || pair[3] != "" {
			pair := pair
			out = append(out, step{ctrl: "cpu", run: func(dir string) error { return writePair(dir, pair) }})
		}
	}
	if c.Burst != nil {
		out = append(out, step{ctrl: "cpu", file: "cpu.cfs_burst_us", value: strconv.FormatUint(*c.Burst, 10), optional: true})
	}
	return out
}

// v1name is the controller a step writes to: its v1 hierarchy, or the one
// v2 directory ("").
func v1name(ctrl string, v2 bool) string {
	if v2 {
		return ""
	}
	return ctrl
}

// writePair writes a period and its quota (or runtime): a period the
// kernel refuses against the old quota is written again after the quota.
func writePair(dir string, p [4]string) error {
	retry := false
	if p[1] != "" {
		if err := writeFile(dir, p[0], p[1]); err != nil {
			if !errors.Is(err, unix.EINVAL) || p[3] == "" {
				return err
			}
			retry = true
		}
	}
	if p[3] != "" {
		if err := writeFile(dir, p[2], p[3]); err != nil {
			return err
		}
	}
	if retry {
		return writeFile(dir, p[0], p[1])
	}
	return nil
}

func setShares(dir string, shares uint64) error {
	if err := writeFile(dir, "cpu.shares", strconv.FormatUint(shares, 10)); err != nil {
		return err
	}
	got, err := readFile(dir, "cpu.shares")
	if err != nil {
		return err
	}
	if n, _ := strconv.ParseUint(got, 10, 64); n > shares {
		return fmt.Errorf("linux.resources.cpu.shares %d: the minimum is %d", shares, n)
	} else if n < shares {
		return fmt.Errorf("linux.resources.cpu.shares %d: the maximum is %d", shares, n)
	}
	return nil
}

// sharesToWeight maps v1 shares (2-262144, default 1024) onto v2's weight
// (1-10000, default 100) with runc's curve, which keeps the default.
func sharesToWeight(shares uint64) uint64 {
	switch {
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612.0-7.0/34.0)))
}

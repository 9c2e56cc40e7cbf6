package libcontainer

import (
	"time"

	occg "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Event is one line of `berth events`, in runc's format (which containerd's
// go-runc decodes): {"type":"stats","id":...,"data":{...}} or
// {"type":"oom","id":...}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data *Stats `json:"data,omitempty"`
}

// Stats is runc's stats document.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb"`
}

type CPUStats struct {
	Usage struct {
		Total  uint64   `json:"total,omitempty"`
		Percpu []uint64 `json:"percpu,omitempty"`
		Kernel uint64   `json:"kernel"`
		User   uint64   `json:"user"`
	} `json:"usage,omitempty"`
	Throttling struct {
		Periods          uint64 `json:"periods,omitempty"`
		ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
		ThrottledTime    uint64 `json:"throttledTime,omitempty"`
	} `json:"throttling,omitempty"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
}

type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// ContainerStats reads the container's cgroup counters.
func ContainerStats(root, id string) (*Stats, error) {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return nil, err
	}
	c.Unlock() // reading counters needs no lock
	st, err := cg.Stats()
	if err != nil {
		return nil, err
	}
	return convertStats(st), nil
}

// Events sends a stats event every interval and an "oom" event for each
// OOM kill in the container's cgroup, until the cgroup is gone or emit
// fails. OOM kills are looked for ten times an interval.
func Events(root, id string, interval time.Duration, emit func(Event) error) error {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return err
	}
	c.Unlock()
	ooms, _ := cg.OOMKills()
	next := time.Now()
	for cg.Exists() {
		if n, err := cg.OOMKills(); err == nil {
			for ; ooms < n; ooms++ {
				if err := emit(Event{Type: "oom", ID: id}); err != nil {
					return err
				}
			}
		}
		if !time.Now().Before(next) {
			st, err := cg.Stats()
			if err != nil {
				return nil // removed under us: the stream ends
			}
			if err := emit(Event{Type: "stats", ID: id, Data: convertStats(st)}); err != nil {
				return err
			}
			next = time.Now().Add(interval)
		}
		time.Sleep(interval / 10)
	}
	return nil
}

func convertStats(in *occg.Stats) *Stats {
	s := &Stats{Hugetlb: map[string]HugetlbStats{}}
	cu := in.CpuStats.CpuUsage
	s.CPU.Usage.Total, s.CPU.Usage.Percpu = cu.TotalUsage, cu.PercpuUsage
	s.CPU.Usage.Kernel, s.CPU.Usage.User = cu.UsageInKernelmode, cu.UsageInUsermode
	td := in.CpuStats.ThrottlingData
	s.CPU.Throttling.Periods, s.CPU.Throttling.ThrottledPeriods, s.CPU.Throttling.ThrottledTime = td.Periods, td.ThrottledPeriods, td.ThrottledTime
	mem := func(d occg.MemoryData) MemoryEntry {
		return MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
	}
	ms := in.MemoryStats
	s.Memory = MemoryStats{Cache: ms.Cache, Usage: mem(ms.Usage), Swap: mem(ms.SwapUsage),
		Kernel: mem(ms.KernelUsage), KernelTCP: mem(ms.KernelTCPUsage), Raw: ms.Stats}
	s.Pids = PidsStats{Current: in.PidsStats.Current, Limit: in.PidsStats.Limit}
	blk := func(in []occg.BlkioStatEntry) []BlkioEntry {
		var out []BlkioEntry
		for _, e := range in {
			out = append(out, BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	b := in.BlkioStats
	s.Blkio = BlkioStats{
		IoServiceBytesRecursive: blk(b.IoServiceBytesRecursive), IoServicedRecursive: blk(b.IoServicedRecursive),
		IoQueuedRecursive: blk(b.IoQueuedRecursive), IoServiceTimeRecursive: blk(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive: blk(b.IoWaitTimeRecursive), IoMergedRecursive: blk(b.IoMergedRecursive),
		IoTimeRecursive: blk(b.IoTimeRecursive), SectorsRecursive: blk(b.SectorsRecursive),
	}
	for size, h := range in.HugetlbStats {
		s.Hugetlb[size] = HugetlbStats{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return s
}

package cgroups

import (
	"math"
	"strings"
)

// Stats is runc's stats document, which `berth events --stats` prints.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb"`
}

// CPUStats is CPU time used (ns) and CFS throttling.
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

// MemoryEntry is one memory counter family, in bytes.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// MemoryStats is the memory controller's counters; Raw is memory.stat.
type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

// PidsStats is the task count and its limit (0: none).
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioEntry is one device's counter for one operation.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// BlkioStats is block I/O per device, in cgroup v1's layout.
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

// HugetlbStats is one huge page size's usage, peak usage and failures.
type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

const (
	nsPerTick = 1e9 / 100 // cpuacct.stat counts USER_HZ ticks, 100 a second on Linux's ABIs
	nsPerUsec = 1e3
)

// statReader fills its part of Stats from one controller's directory.
type statReader struct {
	ctrl string
	read func(*files, *Stats)
}

var (
	v1Readers = []statReader{{"cpu", cpuV1}, {"cpuacct", cpuacctV1}, {"memory", memoryV1},
		{"pids", pidsV1}, {"blkio", blkioV1}, {"hugetlb", hugetlbV1}}
	v2Readers = []statReader{{"", cpuV2}, {"", memoryV2}, {"", pidsV2}, {"", ioV2}, {"", hugetlbV2}}
)

// readStats reads the counters of the cgroup at paths (controller to
// directory, "" for the unified one). What the kernel or the host's
// cgroup layout lacks stays zero, so one reader serves every kernel.
func readStats(paths map[string]string, v2 bool) (*Stats, error) {
	s := &Stats{Hugetlb: map[string]HugetlbStats{}}
	readers := v1Readers
	if v2 {
		readers = v2Readers
	}
	for _, r := range readers {
		dir, ok := paths[r.ctrl]
		if !ok || dir == "" {
			continue
		}
		f := &files{dir: dir}
		if r.read(f, s); f.err != nil {
			return nil, f.err
		}
	}
	return s, nil
}

// oomKills returns how many tasks the OOM killer has killed in the cgroup.
func oomKills(paths map[string]string, v2 bool) (uint64, error) {
	f := &files{dir: paths["memory"]}
	name := "memory.oom_control"
	if v2 {
		f.dir, name = paths[""], "memory.events"
	}
	if f.dir == "" {
		return 0, nil
	}
	n := f.keyed(name)["oom_kill"]
	return n, f.err
}

func cpuV1(f *files, s *Stats) {
	st := f.keyed("cpu.stat")
	t := &s.CPU.Throttling
	t.Periods, t.ThrottledPeriods, t.ThrottledTime = st["nr_periods"], st["nr_throttled"], st["throttled_time"]
}

func cpuacctV1(f *files, s *Stats) {
	u := &s.CPU.Usage
	u.Total = f.value("cpuacct.usage")
	u.Percpu, _ = read(f, "cpuacct.usage_percpu", parseList)
	st := f.keyed("cpuacct.stat")
	u.User, u.Kernel = st["user"]*nsPerTick, st["system"]*nsPerTick
}

func memoryV1(f *files, s *Stats) {
	m := &s.Memory
	m.Raw = f.keyed("memory.stat")
	m.Cache = m.Raw["cache"]
	for _, e := range []struct {
		prefix string
		entry  *MemoryEntry
	}{{"memory.", &m.Usage}, {"memory.memsw.", &m.Swap}, {"memory.kmem.", &m.Kernel}, {"memory.kmem.tcp.", &m.KernelTCP}} {
		*e.entry = MemoryEntry{Usage: f.value(e.prefix + "usage_in_bytes"), Max: f.value(e.prefix + "max_usage_in_bytes"),
			Failcnt: f.value(e.prefix + "failcnt"), Limit: f.value(e.prefix + "limit_in_bytes")}
	}
}

func pidsV1(f *files, s *Stats) { pids(f, s, false) }

func pidsV2(f *files, s *Stats) { pids(f, s, true) }

// pids counts the processes when the cgroup has no pids controller and
// countProcs is set, as runc does on v2.
func pids(f *files, s *Stats, countProcs bool) {
	cur, ok := read(f, "pids.current", parseValue)
	if !ok && countProcs {
		s.Pids.Current, _ = read(f, "cgroup.procs", func(s string) (uint64, error) { return uint64(strings.Count(s, "\n")), nil })
		return
	}
	s.Pids.Current = cur
	if s.Pids.Limit = f.value("pids.max"); s.Pids.Limit == math.MaxUint64 {
		s.Pids.Limit = 0 // runc has always reported "no limit" as 0
	}
}

// blkioNames name the v1 blkio files, in BlkioStats' field order.
var blkioNames = []string{"io_service_bytes", "io_serviced", "io_queued", "io_service_time",
	"io_wait_time", "io_merged", "time", "sectors"}

// blkioV1 takes the first family of files that has entries, in the
// library's order: bfq (debug, then plain), cfq, throttle. A family is
// judged by its last file's entries (sectors, or io_serviced for the two
// file families), like the library, so the chosen family is the same.
func blkioV1(f *files, s *Stats) {
	b := &s.Blkio
	fields := []*[]BlkioEntry{&b.IoServiceBytesRecursive, &b.IoServicedRecursive, &b.IoQueuedRecursive,
		&b.IoServiceTimeRecursive, &b.IoWaitTimeRecursive, &b.IoMergedRecursive, &b.IoTimeRecursive, &b.SectorsRecursive}
	for _, fam := range []struct {
		prefix, suffix string
		n              int
	}{{"blkio.bfq.", "_recursive", 8}, {"blkio.bfq.", "_recursive", 2}, {"blkio.", "_recursive", 8},
		{"blkio.throttle.", "_recursive", 2}, {"blkio.throttle.", "", 2}} {
		last, _ := read(f, fam.prefix+blkioNames[fam.n-1]+fam.suffix, parseBlkio)
		if f.err != nil || len(last) == 0 {
			continue
		}
		*fields[fam.n-1] = last
		for i := range fam.n - 1 {
			*fields[i], _ = read(f, fam.prefix+blkioNames[i]+fam.suffix, parseBlkio)
		}
		return
	}
}

func ioV2(f *files, s *Stats) { s.Blkio, _ = read(f, "io.stat", parseIOStat) }

func cpuV2(f *files, s *Stats) {
	st := f.keyed("cpu.stat")
	u, t := &s.CPU.Usage, &s.CPU.Throttling
	u.Total, u.User, u.Kernel = st["usage_usec"]*nsPerUsec, st["user_usec"]*nsPerUsec, st["system_usec"]*nsPerUsec
	t.Periods, t.ThrottledPeriods, t.ThrottledTime = st["nr_periods"], st["nr_throttled"], st["throttled_usec"]*nsPerUsec
}

func memoryV2(f *files, s *Stats) {
	m := &s.Memory
	m.Raw = f.keyed("memory.stat")
	m.Cache = m.Raw["file"]
	m.Usage = MemoryEntry{Usage: f.value("memory.current"), Limit: f.value("memory.max"),
		Max: f.value("memory.peak"), Failcnt: f.keyed("memory.events")["max"]}
	swap, ok := read(f, "memory.swap.current", parseValue)
	if !ok {
		return
	}
	// v1's memsw counts memory plus swap; runc reports v2 the same way, and
	// leaves the peak out since the two peaks do not add up.
	m.Swap = MemoryEntry{Usage: swap + m.Usage.Usage, Limit: f.value("memory.swap.max")}
	if m.Swap.Limit != math.MaxUint64 {
		m.Swap.Limit += min(m.Usage.Limit, math.MaxUint64-m.Swap.Limit) // saturate: memory.max may be "max"
	}
}

// hugetlbV1 and hugetlbV2 prefer the .rsvd counters (reservations too,
// since Linux 5.7), as the library does.
func hugetlbV1(f *files, s *Stats) {
	for _, size := range f.pageSizes(".usage_in_bytes") {
		p := "hugetlb." + size
		if _, ok := read(f, p+".rsvd.usage_in_bytes", parseValue); ok {
			p += ".rsvd"
		}
		s.Hugetlb[size] = HugetlbStats{Usage: f.value(p + ".usage_in_bytes"),
			Max: f.value(p + ".max_usage_in_bytes"), Failcnt: f.value(p + ".failcnt")}
	}
}

// hugetlbV2 leaves Max zero: v2 has no peak, and hugetlb.<size>.max is a
// limit, which this document has no field for.
func hugetlbV2(f *files, s *Stats) {
	for _, size := range f.pageSizes(".current") {
		p := "hugetlb." + size
		usage, ok := read(f, p+".rsvd.current", parseValue)
		if !ok {
			usage = f.value(p + ".current")
		}
		s.Hugetlb[size] = HugetlbStats{Usage: usage, Failcnt: f.keyed(p + ".events")["max"]}
	}
}

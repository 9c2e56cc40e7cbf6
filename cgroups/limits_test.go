package cgroups

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func p[T any](v T) *T { return &v }

// writes lists the plain file writes of steps as "ctrl:file=value", and
// "ctrl:(func)" for the steps that run code.
func writes(steps []step) []string {
	var out []string
	for _, s := range steps {
		if s.run != nil {
			out = append(out, s.ctrl+":(func)")
		} else {
			out = append(out, s.ctrl+":"+s.file+"="+s.value)
		}
	}
	return out
}

// What v2 gets for v1-shaped spec values, the conversions as runc makes them.
func TestLimitStepsV2(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: p(int64(100 << 20)), Swap: p(int64(150 << 20)), Reservation: p(int64(50 << 20))},
		CPU:            &specs.LinuxCPU{Shares: p(uint64(1024)), Quota: p(int64(50000)), Cpus: "0", Burst: p(uint64(1000))},
		Pids:           &specs.LinuxPids{Limit: p(int64(0))},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		BlockIO:        &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}}},
		Unified:        map[string]string{"memory.high": "90000000"},
	}
	steps, err := limitSteps(r, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		":cpuset.cpus=0", ":(func)", // devices
		":memory.swap.max=52428800", ":memory.max=104857600", ":memory.low=52428800",
		":cpu.weight=100", ":cpu.max=50000 100000", ":cpu.max.burst=1000",
		":pids.max=1", ":io.max=8:0 rbps=1000",
		":hugetlb.2MB.max=4194304", ":hugetlb.2MB.rsvd.max=4194304", ":memory.high=90000000",
	}
	if got := writes(steps); !reflect.DeepEqual(got, want) {
		t.Errorf("v2 steps:\n got %q\nwant %q", got, want)
	}
	for shares, weight := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 512: 59} {
		if got := sharesToWeight(shares); got != weight {
			t.Errorf("sharesToWeight(%d) = %d; want %d", shares, got, weight)
		}
	}
	if blkioToIOWeight(10) != 1 || blkioToIOWeight(1000) != 10000 || blkioToIOWeight(0) != 1 {
		t.Errorf("blkioToIOWeight: 10 -> %d, 1000 -> %d, 0 -> %d", blkioToIOWeight(10), blkioToIOWeight(1000), blkioToIOWeight(0))
	}
}

func TestLimitStepsV1(t *testing.T) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: p(int64(1 << 20)), Swappiness: p(uint64(10)), DisableOOMKiller: p(true), KernelTCP: p(int64(1 << 20))},
		CPU:     &specs.LinuxCPU{Shares: p(uint64(512)), Period: p(uint64(100000)), Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: p(int64(7))},
		Network: &specs.LinuxNetwork{ClassID: p(uint32(0x100001)), Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 2}}},
	}
	steps, err := limitSteps(r, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cpuset:cpuset.mems=0", "devices:(func)", "memory:(func)", "memory:memory.oom_control=1",
		"memory:memory.swappiness=10", "memory:memory.kmem.tcp.limit_in_bytes=1048576",
		"cpu:(func)", "cpu:(func)", "pids:pids.max=7", "net_cls:net_cls.classid=1048577", "net_prio:net_prio.ifpriomap=lo 2",
	}
	if got := writes(steps); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 steps:\n got %q\nwant %q", got, want)
	}
}

// Bad values are refused before anything is made.
func TestLimitStepsRefuse(t *testing.T) {
	for _, tc := range []struct {
		r    *specs.LinuxResources
		v2   bool
		want string
	}{
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: p(uint64(101))}}, false, "swappiness 101"},
		{&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, false, "needs a cgroup v2 host"},
		{&specs.LinuxResources{Unified: map[string]string{"../x": "1"}}, true, "not a cgroup file name"},
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: p(int64(10))}}, true, "needs a memory limit"},
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(20)), Swap: p(int64(10))}}, true, "below the memory limit"},
	} {
		if _, err := limitSteps(tc.r, nil, tc.v2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("limitSteps(%+v, v2 %v) = %v; want an error with %q", tc.r, tc.v2, err, tc.want)
		}
	}
}

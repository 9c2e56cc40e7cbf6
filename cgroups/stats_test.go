package cgroups

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeCgroup writes files (path under the root: content; a trailing "/"
// makes a directory) and returns the paths a hybrid host would record.
func fakeCgroup(t *testing.T, files map[string]string) (string, map[string]string) {
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths := map[string]string{"": filepath.Join(root, "unified")}
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb"} {
		paths[c] = filepath.Join(root, c)
	}
	return root, paths
}

func opsFile(n uint64) string {
	return fmt.Sprintf("8:0 Read %d\n8:16 Write %d\nTotal %d\n", n, 2*n, 3*n)
}

func ops(n uint64) []BlkioEntry { return []BlkioEntry{{8, 0, "Read", n}, {8, 16, "Write", 2 * n}} }

const v1Unlimited = "9223372036854771712\n"

var v1Files = map[string]string{
	"cpu/cpu.stat":                 "nr_periods 10\nnr_throttled 3\nthrottled_time 4000\nnr_bursts 0\nburst_time 0\n",
	"cpuacct/cpuacct.usage":        "123456789\n",
	"cpuacct/cpuacct.usage_percpu": "100 200 300 \n",
	"cpuacct/cpuacct.stat":         "user 150\nsystem 50\n",
	"memory/memory.stat":           "cache 4096\nrss 8192\ntotal_cache 4096\n",
	"memory/memory.usage_in_bytes": "12288\n", "memory/memory.max_usage_in_bytes": "20480\n",
	"memory/memory.failcnt": "1\n", "memory/memory.limit_in_bytes": v1Unlimited,
	"memory/memory.memsw.usage_in_bytes": "16384\n", "memory/memory.memsw.max_usage_in_bytes": "24576\n",
	"memory/memory.memsw.failcnt": "2\n", "memory/memory.memsw.limit_in_bytes": "1048576\n",
	// no memory.kmem.limit_in_bytes: Linux 6.x removed it
	"memory/memory.kmem.usage_in_bytes": "512\n", "memory/memory.kmem.max_usage_in_bytes": "1024\n",
	"memory/memory.kmem.failcnt":            "0\n",
	"memory/memory.kmem.tcp.usage_in_bytes": "64\n", "memory/memory.kmem.tcp.max_usage_in_bytes": "128\n",
	"memory/memory.kmem.tcp.failcnt": "3\n", "memory/memory.kmem.tcp.limit_in_bytes": v1Unlimited,
	"pids/pids.current": "3\n", "pids/pids.max": "max\n",
	"blkio/blkio.io_service_bytes_recursive": opsFile(1), "blkio/blkio.io_serviced_recursive": opsFile(2),
	"blkio/blkio.io_queued_recursive": opsFile(3), "blkio/blkio.io_service_time_recursive": opsFile(4),
	"blkio/blkio.io_wait_time_recursive": opsFile(5), "blkio/blkio.io_merged_recursive": opsFile(6),
	"blkio/blkio.time_recursive": "8:0 7\n", "blkio/blkio.sectors_recursive": "8:0 8\n",
	"blkio/blkio.throttle.io_serviced":   opsFile(9), // there are cfq files: not read
	"hugetlb/hugetlb.2MB.usage_in_bytes": "2097152\n", "hugetlb/hugetlb.2MB.max_usage_in_bytes": "4194304\n",
	"hugetlb/hugetlb.2MB.failcnt": "1\n", "hugetlb/hugetlb.2MB.limit_in_bytes": v1Unlimited,
	"hugetlb/hugetlb.1GB.usage_in_bytes": "0\n", "hugetlb/hugetlb.1GB.max_usage_in_bytes": "0\n",
	"hugetlb/hugetlb.1GB.failcnt": "0\n", "hugetlb/hugetlb.1GB.rsvd.usage_in_bytes": "1073741824\n",
	"hugetlb/hugetlb.1GB.rsvd.max_usage_in_bytes": "2147483648\n", "hugetlb/hugetlb.1GB.rsvd.failcnt": "4\n",
	"unified/cpu.stat": "usage_usec 999\n", // the hybrid host's empty v2 dir: not read
}

var v2Files = map[string]string{
	"unified/cpu.stat":       "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n",
	"unified/memory.stat":    "anon 100\nfile 200\nkernel 50\n",
	"unified/memory.current": "300\n", "unified/memory.max": "max\n", "unified/memory.peak": "400\n",
	"unified/memory.events":       "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
	"unified/memory.swap.current": "10\n", "unified/memory.swap.max": "500\n",
	"unified/pids.current": "4\n", "unified/pids.max": "max\n",
	"unified/io.stat":             "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n259:0 rbytes=10 wbytes=20 rios=30 wios=40\n",
	"unified/hugetlb.2MB.current": "2097152\n", "unified/hugetlb.2MB.max": "max\n",
	"unified/hugetlb.2MB.events": "max 2\n", "unified/hugetlb.2MB.events.local": "max 2\n",
	"unified/hugetlb.1GB.current": "0\n", "unified/hugetlb.1GB.rsvd.current": "1073741824\n",
	"unified/hugetlb.1GB.events":   "max 0\n",
	"memory/memory.usage_in_bytes": "777\n", // a v1 dir: not read
}

// with returns files changed by edits; an empty content deletes a file.
func with(files map[string]string, edits ...string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for i := 0; i < len(edits); i += 2 {
		if out[edits[i]] = edits[i+1]; edits[i+1] == "" {
			delete(out, edits[i])
		}
	}
	return out
}

func TestReadStats(t *testing.T) {
	v1Memory := func(s *Stats) {
		s.Memory = MemoryStats{Cache: 4096, Raw: map[string]uint64{"cache": 4096, "rss": 8192, "total_cache": 4096},
			Usage:  MemoryEntry{Usage: 12288, Max: 20480, Failcnt: 1, Limit: 9223372036854771712},
			Swap:   MemoryEntry{Usage: 16384, Max: 24576, Failcnt: 2, Limit: 1048576},
			Kernel: MemoryEntry{Usage: 512, Max: 1024}, KernelTCP: MemoryEntry{Usage: 64, Max: 128, Failcnt: 3, Limit: 9223372036854771712}}
	}
	v2Common := func(s *Stats) {
		s.CPU.Usage.Total, s.CPU.Usage.User, s.CPU.Usage.Kernel = 100000, 60000, 40000
		s.CPU.Throttling.Periods, s.CPU.Throttling.ThrottledPeriods, s.CPU.Throttling.ThrottledTime = 5, 2, 7000
		s.Memory.Cache, s.Memory.Raw = 200, map[string]uint64{"anon": 100, "file": 200, "kernel": 50}
		s.Blkio.IoServiceBytesRecursive = []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}, {259, 0, "Read", 10}, {259, 0, "Write", 20}}
		s.Blkio.IoServicedRecursive = []BlkioEntry{{8, 0, "Read", 3}, {8, 0, "Write", 4}, {259, 0, "Read", 30}, {259, 0, "Write", 40}}
		s.Hugetlb = map[string]HugetlbStats{"2MB": {Usage: 2097152, Failcnt: 2}, "1GB": {Usage: 1073741824}}
	}
	for _, tc := range []struct {
		name  string
		v2    bool
		files map[string]string
		drop  []string // controllers left out of paths
		want  func(*Stats)
	}{
		{name: "v1", files: v1Files, want: func(s *Stats) {
			s.CPU.Usage.Total, s.CPU.Usage.Percpu = 123456789, []uint64{100, 200, 300}
			s.CPU.Usage.User, s.CPU.Usage.Kernel = 1500000000, 500000000
			s.CPU.Throttling.Periods, s.CPU.Throttling.ThrottledPeriods, s.CPU.Throttling.ThrottledTime = 10, 3, 4000
			v1Memory(s)
			s.Pids = PidsStats{Current: 3} // "max": no limit
			s.Blkio = BlkioStats{IoServiceBytesRecursive: ops(1), IoServicedRecursive: ops(2), IoQueuedRecursive: ops(3),
				IoServiceTimeRecursive: ops(4), IoWaitTimeRecursive: ops(5), IoMergedRecursive: ops(6),
				IoTimeRecursive: []BlkioEntry{{8, 0, "", 7}}, SectorsRecursive: []BlkioEntry{{8, 0, "", 8}}}
			s.Hugetlb = map[string]HugetlbStats{"2MB": {2 << 20, 4 << 20, 1}, "1GB": {1 << 30, 2 << 30, 4}}
		}},
		{name: "v1 missing controllers and files", drop: []string{"cpu", "pids", "blkio"}, files: with(v1Files,
			"cpuacct/cpuacct.usage_percpu", "", "cpuacct/cpuacct.stat", "", "memory/memory.usage_in_bytes", "-4096\n",
			"hugetlb/hugetlb.2MB.failcnt", ""), want: func(s *Stats) {
			s.CPU.Usage.Total = 123456789
			v1Memory(s)
			s.Memory.Usage.Usage = 0 // negative, as buggy kernels report
			s.Hugetlb = map[string]HugetlbStats{"2MB": {Usage: 2097152, Max: 4194304}, "1GB": {1 << 30, 2 << 30, 4}}
		}},
		{name: "v1 blkio prefers bfq", files: map[string]string{"blkio/blkio.sectors_recursive": "Total 0\n",
			"blkio/blkio.bfq.io_service_bytes_recursive": opsFile(1), "blkio/blkio.bfq.io_serviced_recursive": opsFile(2),
			"blkio/blkio.throttle.io_service_bytes": opsFile(3), "blkio/blkio.throttle.io_serviced": opsFile(4)},
			want: func(s *Stats) { s.Blkio = BlkioStats{IoServiceBytesRecursive: ops(1), IoServicedRecursive: ops(2)} }},
		{name: "v1 blkio falls back to throttle", files: map[string]string{"blkio/blkio.sectors_recursive": "Total 0\n",
			"blkio/blkio.io_serviced_recursive": "Total 0\n", "blkio/blkio.throttle.io_service_bytes_recursive": "",
			"blkio/blkio.throttle.io_service_bytes": opsFile(3), "blkio/blkio.throttle.io_serviced": opsFile(4)},
			want: func(s *Stats) { s.Blkio = BlkioStats{IoServiceBytesRecursive: ops(3), IoServicedRecursive: ops(4)} }},
		{name: "v2", v2: true, files: v2Files, want: func(s *Stats) {
			v2Common(s)
			s.Memory.Usage = MemoryEntry{Usage: 300, Limit: math.MaxUint64, Max: 400, Failcnt: 5}
			s.Memory.Swap = MemoryEntry{Usage: 310, Limit: math.MaxUint64} // memory+swap, like v1
			s.Pids = PidsStats{Current: 4}
		}},
		{name: "v2 limits", v2: true, files: with(v2Files, "unified/memory.max", "1000\n", "unified/memory.swap.current", "0\n",
			"unified/pids.max", "100\n"), want: func(s *Stats) {
			v2Common(s)
			s.Memory.Usage = MemoryEntry{Usage: 300, Limit: 1000, Max: 400, Failcnt: 5}
			s.Memory.Swap = MemoryEntry{Usage: 300, Limit: 1500}
			s.Pids = PidsStats{Current: 4, Limit: 100}
		}},
		{name: "v2 no pids controller, swap or peak", v2: true, files: with(v2Files, "unified/pids.current", "",
			"unified/pids.max", "", "unified/cgroup.procs", "1\n2\n3\n", "unified/memory.swap.current", "",
			"unified/memory.peak", ""), want: func(s *Stats) {
			v2Common(s)
			s.Memory.Usage = MemoryEntry{Usage: 300, Limit: math.MaxUint64, Failcnt: 5}
			s.Pids = PidsStats{Current: 3}
		}},
		{name: "v2 empty", v2: true, files: map[string]string{"unified/": ""}, want: func(*Stats) {}},
		{name: "v2 not in paths", v2: true, files: v2Files, drop: []string{""}, want: func(*Stats) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, paths := fakeCgroup(t, tc.files)
			for _, c := range tc.drop {
				delete(paths, c)
			}
			got, err := readStats(paths, tc.v2)
			if err != nil {
				t.Fatal(err)
			}
			want := &Stats{Hugetlb: map[string]HugetlbStats{}}
			tc.want(want)
			if got.Hugetlb == nil || !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestReadStatsErrors(t *testing.T) {
	for _, tc := range []struct {
		v2        bool
		bad, text string
	}{
		{false, "memory/memory.usage_in_bytes", "12x\n"},
		{false, "memory/memory.stat", "cache\n"},
		{false, "memory/memory.stat/", ""}, // EISDIR: only ENOENT is skipped
		{false, "cpuacct/cpuacct.usage_percpu", "1 x\n"},
		{false, "cpu/cpu.stat", "nr_periods many\n"},
		{false, "pids/pids.max", "-\n"},
		{false, "blkio/blkio.bfq.io_serviced_recursive", "x:0 Read 1\n"},
		{false, "blkio/blkio.io_merged_recursive", "8:0\n"},
		{false, "hugetlb/hugetlb.2MB.failcnt", "oops\n"},
		{true, "unified/cpu.stat", "usage_usec\n"},
		{true, "unified/memory.events", "max x\n"},
		{true, "unified/io.stat", "8:x rbytes=1\n"},
		{true, "unified/io.stat", "8:0 rbytes=z\n"},
		{true, "unified/hugetlb.2MB.events", "max -\n"},
	} {
		t.Run(tc.bad, func(t *testing.T) {
			files := v1Files
			if tc.v2 {
				files = v2Files
			}
			files = with(files, tc.bad, tc.text)
			if tc.text == "" { // a directory in place of the file
				files = with(files, strings.TrimSuffix(tc.bad, "/"), "", tc.bad, "dir")
			}
			root, paths := fakeCgroup(t, files)
			got, err := readStats(paths, tc.v2)
			want := "read " + filepath.Join(root, tc.bad) + ": "
			if err == nil || got != nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %v, %v; want an error starting %q", got, err, want)
			}
		})
	}
}

func TestStatsOOMKills(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v2    bool
		files map[string]string
		want  uint64
		err   bool
	}{
		{"v1", false, map[string]string{"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"}, 3, false},
		{"v2", true, map[string]string{"unified/memory.events": v2Files["unified/memory.events"]}, 1, false},
		{"v1 missing", false, map[string]string{"unified/memory.events": "oom_kill 1\n"}, 0, false},
		{"v2 missing", true, map[string]string{"memory/memory.oom_control": "oom_kill 1\n"}, 0, false},
		{"v1 malformed", false, map[string]string{"memory/memory.oom_control": "oom_kill x\n"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, paths := fakeCgroup(t, tc.files)
			n, err := oomKills(paths, tc.v2)
			if n != tc.want || (err != nil) != tc.err || err != nil && !strings.Contains(err.Error(), root) {
				t.Errorf("got %d, %v; want %d (error: %v)", n, err, tc.want, tc.err)
			}
		})
	}
}

// TestReadStatsOnHostV1Memory reads a real v1 memory cgroup with a task in it.
func TestReadStatsOnHostV1Memory(t *testing.T) {
	const mem = "/sys/fs/cgroup/memory"
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(mem); err != nil {
		t.Skip("no cgroup v1 memory controller:", err)
	}
	dir, err := os.MkdirTemp(mem, "berth-stats-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	// v1 leaves a moved task's charges behind (and Linux 6.x refuses
	// move_charge_at_immigrate), so the child execs sleep once moved; exec,
	// so that killing it empties the cgroup.
	cmd := exec.Command("sh", "-c", "read x; exec sleep 1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // before the rmdir above
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	var st *Stats
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err = readStats(map[string]string{"memory": dir}, false); err != nil {
			t.Fatal(err)
		}
		if st.Memory.Usage.Usage > 0 || time.Now().After(deadline) {
			break
		}
	}
	if st.Memory.Usage.Usage == 0 || len(st.Memory.Raw) == 0 {
		t.Errorf("usage %d, memory.stat %v: want both non-empty", st.Memory.Usage.Usage, st.Memory.Raw)
	}
}

package cgroups

import (
	"math"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/dbus"
)

func TestParseSystemdPath(t *testing.T) {
	for _, tc := range []struct {
		path     string
		rootless bool
		slice    string
		unit     string
		err      string
	}{
		{"", false, "system.slice", "berth-c1.scope", ""},
		{"", true, "user.slice", "berth-c1.scope", ""},
		{"machine.slice:docker:abc", false, "machine.slice", "docker-abc.scope", ""},
		{":crio:abc", false, "system.slice", "crio-abc.scope", ""},
		{"a-b.slice::abc", false, "a-b.slice", "abc.scope", ""},
		{"-.slice:p:n", false, "-.slice", "p-n.scope", ""},
		{"system.slice/x", false, "", "", "slice:prefix:name"},
		{"/berth/c1", false, "", "", "slice:prefix:name"},
		{"a:b:c:d", false, "", "", "slice:prefix:name"},
		{"system:p:n", false, "", "", `"system" is not a slice name`},
		{"a--b.slice:p:n", false, "", "", "is not a slice name"},
		{"a/b.slice:p:n", false, "", "", "is not a slice name"},
		{"system.slice:p:", false, "", "", "not a valid systemd unit name"},
		{"system.slice:p:a/b", false, "", "", "not a valid systemd unit name"},
		{"system.slice:p:a b", false, "", "", "not a valid systemd unit name"},
		{"system.slice:p:x.slice", false, "", "", "not a slice"},
	} {
		slice, unit, err := parseSystemdPath(tc.path, "c1", tc.rootless)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "linux.cgroupsPath") {
				t.Errorf("%q: error %v, want one with %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || slice != tc.slice || unit != tc.unit {
			t.Errorf("%q: %q %q %v, want %q %q", tc.path, slice, unit, err, tc.slice, tc.unit)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{
		"system.slice": "/system.slice", "-.slice": "/",
		"a-b-c.slice": "/a.slice/a-b.slice/a-b-c.slice", "user-1000.slice": "/user.slice/user-1000.slice",
		".slice": "", "a-.slice": "", "-a.slice": "", "a.scope": "", "../x.slice": "",
	} {
		got, err := expandSlice(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	dir, err := scopeDir("/", "a-b.slice", "p-n.scope")
	if err != nil || dir != "/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope" {
		t.Errorf("scopeDir: %q %v", dir, err)
	}
}

func TestRangeToBits(t *testing.T) {
	for in, want := range map[string][]byte{
		"0": {1}, "1": {2}, "0-3": {0x0f}, "0,2": {5}, "8": {0, 1}, "0-9": {0xff, 3}, "7, 9": {0x80, 2},
	} {
		got, err := rangeToBits(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: % x %v, want % x", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-", "-1", "0-99999999"} {
		if _, err := rangeToBits(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func u64p(v uint64) *uint64 { return &v }

func TestResourceProps(t *testing.T) {
	w := uint16(500)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20)},
		CPU: &specs.LinuxCPU{Shares: u64p(1024), Quota: i64(12345), Period: u64p(100000),
			Cpus: "0-1", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(42)},
		BlockIO: &specs.LinuxBlockIO{Weight: &w},
		Unified: map[string]string{"memory.high": "1048576", "io.max": "8:0 rbps=1"},
	}
	got, err := resourceProps(r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"MemoryMax": uint64(64 << 20), "MemoryLow": uint64(32 << 20), "MemorySwapMax": uint64(32 << 20),
		"CPUWeight": uint64(100), "CPUQuotaPeriodUSec": uint64(100000),
		"CPUQuotaPerSecUSec": uint64(130000), // 123450 rounded up to 10 ms
		"AllowedCPUs":        []byte{3}, "AllowedMemoryNodes": []byte{1},
		"TasksMax": uint64(42), "IOWeight": uint64(1 + 490*9999/990), "MemoryHigh": uint64(1 << 20),
	}
	if len(got) != len(want) {
		t.Errorf("got %d properties, want %d: %v", len(got), len(want), got)
	}
	for _, p := range got {
		if !reflect.DeepEqual(p.Value.Value, want[p.Name]) {
			t.Errorf("%s = %v, want %v", p.Name, p.Value.Value, want[p.Name])
		}
	}
	// They and the scope's own are what the wire format takes.
	if _, err := dbus.Marshal("a(sv)", scopeProps("c1", "system.slice", 1, got)); err != nil {
		t.Error(err)
	}
}

func TestResourcePropsEdges(t *testing.T) {
	inf := uint64(math.MaxUint64)
	for _, tc := range []struct {
		name string
		r    specs.LinuxResources
		want []sdProp
		err  string
	}{
		{"none", specs.LinuxResources{}, nil, ""},
		{"no memory limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			[]sdProp{prop("MemoryMax", "t", inf), prop("MemorySwapMax", "t", inf)}, ""},
		{"swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}}, nil, "swap"},
		{"quota without period", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000)}},
			[]sdProp{prop("CPUQuotaPerSecUSec", "t", uint64(500000))}, ""},
		{"no quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64p(50000)}},
			[]sdProp{prop("CPUQuotaPeriodUSec", "t", uint64(50000)), prop("CPUQuotaPerSecUSec", "t", inf)}, ""},
		{"pids unlimited", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, []sdProp{prop("TasksMax", "t", inf)}, ""},
		{"pids 0", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, []sdProp{prop("TasksMax", "t", uint64(1))}, ""},
		{"unified max", specs.LinuxResources{Unified: map[string]string{"pids.max": "max"}}, []sdProp{prop("TasksMax", "t", inf)}, ""},
		{"unified bad", specs.LinuxResources{Unified: map[string]string{"memory.max": "lots"}}, nil, "memory.max"},
		{"bad cpus", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "x"}}, nil, "linux.resources.cpu"},
	} {
		got, err := resourceProps(&tc.r)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestUseSystemdUnit(t *testing.T) {
	m := &Manager{paths: map[string]string{"": "/sys/fs/cgroup/system.slice/berth-c1.scope"}}
	for _, bad := range []string{"sshd.service", "berth-c2.scope", "../berth-c1.scope", ""} {
		if err := m.UseSystemdUnit(bad, "c1"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := m.UseSystemdUnit("berth-c1.scope", "c1"); err != nil || m.SystemdUnit() != "berth-c1.scope" {
		t.Errorf("the scope of the cgroup: %v", err)
	}
}

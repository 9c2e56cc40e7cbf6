package cgroups

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	miHybrid = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:34 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	pcHybrid = "4:memory:/user.slice/me\n3:devices:/\n2:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/user.slice\n"
	miV2     = "25 20 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
	// A v1 container's view: each mount shows the container's cgroup at its
	// top, the space in a mount point escaped, and an unrelated cgroup mount
	// elsewhere that must not win.
	miNested = `100 90 0:50 /docker/abc /elsewhere/devices ro - cgroup cgroup rw,devices
101 90 0:51 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
102 90 0:52 /docker/abc /sys/fs/cgroup/mem\040ory rw - cgroup cgroup rw,memory
`
	pcNested = "3:devices:/docker/abc/sub\n4:memory:/docker/abc\n"
)

// The layout and paths, from mountinfo and /proc/self/cgroup alone.
func TestParseLayoutPaths(t *testing.T) {
	for name, tc := range map[string]struct {
		mi, pc, inner string
		unified       bool
		want          map[string]string
		err           string
	}{
		"hybrid relative": {mi: miHybrid, pc: pcHybrid, inner: "c1", want: map[string]string{
			"":             "/sys/fs/cgroup/unified/user.slice/c1",
			"cpu":          "/sys/fs/cgroup/cpu,cpuacct/c1",
			"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/c1",
			"devices":      "/sys/fs/cgroup/devices/c1",
			"memory":       "/sys/fs/cgroup/memory/user.slice/me/c1",
			"name=systemd": "/sys/fs/cgroup/systemd/user.slice/c1",
		}},
		"hybrid absolute": {mi: miHybrid, pc: pcHybrid, inner: "/a/b", want: map[string]string{
			"":             "/sys/fs/cgroup/unified/a/b",
			"cpu":          "/sys/fs/cgroup/cpu,cpuacct/a/b",
			"cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/a/b",
			"devices":      "/sys/fs/cgroup/devices/a/b",
			"memory":       "/sys/fs/cgroup/memory/a/b",
			"name=systemd": "/sys/fs/cgroup/systemd/a/b",
		}},
		"v2":                      {mi: miV2, pc: "0::/user.slice/x\n", inner: "c1", unified: true, want: map[string]string{"": "/sys/fs/cgroup/user.slice/x/c1"}},
		"v2 systemd-form name":    {mi: miV2, pc: "0::/\n", inner: cleanPath("k.slice:cri-containerd:id"), unified: true, want: map[string]string{"": "/sys/fs/cgroup/k.slice:cri-containerd:id"}},
		"v2 relative escape":      {mi: miV2, pc: "0::/x\n", inner: cleanPath("../../../../srv/victim"), unified: true, want: map[string]string{"": "/sys/fs/cgroup/x/srv/victim"}},
		"v2 absolute escape":      {mi: miV2, pc: "0::/x\n", inner: cleanPath("/../../etc"), unified: true, want: map[string]string{"": "/sys/fs/cgroup/etc"}},
		"own outside the ns view": {mi: miV2, pc: "0::/../../elsewhere\n", inner: "c1", unified: true, want: map[string]string{"": "/sys/fs/cgroup/c1"}},
		"v2 root refused":         {mi: miV2, pc: "0::/\n", inner: cleanPath("/.."), unified: true, err: "names the top of the cgroup hierarchy"},
		"v2 own cgroup at root":   {mi: miV2, pc: "0::/\n", inner: cleanPath(".."), unified: true, err: "names the top"},
		"nested": {mi: miNested, pc: pcNested, inner: "c1", want: map[string]string{
			"devices": "/sys/fs/cgroup/devices/sub/c1",
			"memory":  "/sys/fs/cgroup/mem ory/c1",
		}},
		"nested own above the mount": {mi: miNested, pc: "3:devices:/docker\n4:memory:/other\n", inner: "c1", want: map[string]string{
			"devices": "/sys/fs/cgroup/devices/c1",
			"memory":  "/sys/fs/cgroup/mem ory/c1",
		}},
		"no devices controller": {mi: "31 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", pc: "4:memory:/\n", inner: "c", err: "devices"},
		"nothing mounted":       {mi: "30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", pc: "", inner: "c", err: "no cgroup hierarchy"},
		"v2 hidden by a tmpfs": {mi: miV2 + "26 25 0:24 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", pc: "0::/\n", inner: "c",
			err: "no cgroup hierarchy"},
		"bad mountinfo": {mi: "garbage\n", pc: "", inner: "c", err: "mountinfo line 1"},
	} {
		l, err := parseLayout(strings.NewReader(tc.mi), strings.NewReader(tc.pc))
		var got map[string]string
		if err == nil {
			if l.unified != tc.unified {
				t.Errorf("%s: unified %v, want %v", name, l.unified, tc.unified)
			}
			got, err = l.paths(tc.inner)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, %v; want an error with %q", name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, %v\nwant %v", name, got, err, tc.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"a/b":                         "a/b",
		"../../../../srv/victim":      "srv/victim",
		"a/../../b":                   "b",
		"..":                          ".",
		"/../../etc":                  "/etc",
		"/a/./b/":                     "/a/b",
		"test.slice:cri-containerd:x": "test.slice:cri-containerd:x",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Recorded paths (state.json) must each be below their own hierarchy.
func TestCheckRecorded(t *testing.T) {
	l, err := parseLayout(strings.NewReader(miHybrid), strings.NewReader(pcHybrid))
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{"devices": "/sys/fs/cgroup/devices/c", "": "/sys/fs/cgroup/unified/c"}
	if err := l.checkRecorded(ok); err != nil {
		t.Errorf("%v: %v", ok, err)
	}
	for _, bad := range []map[string]string{
		{"devices": "/srv/victim"},
		{"devices": "/sys/fs/cgroup/devices/../../../srv"},
		{"devices": "/sys/fs/cgroup/devices"},
		{"devices": "/sys/fs/cgroup/memory/c"},
		{"": "/sys/fs/cgroup/c"},
		{"pids": "/sys/fs/cgroup/pids/c"},
		{"devices": "relative/c"},
	} {
		if err := l.checkRecorded(bad); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestParseSubCgroups(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want SubCgroups
		err  string
	}{
		{nil, nil, ""},
		{[]string{"sub"}, SubCgroups{"": "sub"}, ""},
		{[]string{"memory:submem", "cpu,cpuacct:subcpu"}, SubCgroups{"memory": "submem", "cpu": "subcpu", "cpuacct": "subcpu"}, ""},
		{[]string{"a", "b"}, nil, "missing <controller>"},
		{[]string{",memory:x"}, nil, "empty <controller>"},
		{[]string{"memory:x", "memory,cpu:y"}, nil, "memory given more than once"},
	} {
		got, err := ParseSubCgroups(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, %v; want %q", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
	m := &Manager{paths: map[string]string{"memory": "/sys/fs/cgroup/memory/c", "cpu": "/sys/fs/cgroup/cpu/c"}}
	for sub, want := range map[string]string{"submem": "/sys/fs/cgroup/memory/c/submem", "a/../b": "/sys/fs/cgroup/memory/c/b", "..": "is not a sub cgroup path", "../c2": "is not a sub cgroup path"} {
		got, err := m.subDir("memory", SubCgroups{"memory": sub})
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("subDir(memory:%s) = %q, want %q", sub, got, want)
		}
	}
}

func TestPageSizes(t *testing.T) {
	for kb, want := range map[uint64]string{64: "64KB", 2048: "2MB", 1048576: "1GB", 32768: "32MB", 1536: "1536KB"} {
		if got := pageSizeName(kb); got != want {
			t.Errorf("pageSizeName(%d) = %q, want %q", kb, got, want)
		}
	}
	for _, bad := range []string{"2MB/../../../../srv/x", "2mb", "MB", "02MB", "2MB ", "../2MB", ""} {
		if _, err := hugetlbSteps([]specs.LinuxHugepageLimit{{Pagesize: bad, Limit: 1}}, true); err == nil || !strings.Contains(err.Error(), "pageSize") {
			t.Errorf("pageSize %q: %v, want refused", bad, err)
		}
	}
}

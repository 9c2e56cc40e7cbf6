package mountinfo

import (
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":             "/plain",
		`/a\040b`:            "/a b",
		`/tab\011nl\012`:     "/tab\tnl\n",
		`/back\134slash`:     `/back\slash`,
		`/short\04`:          `/short\04`,
		`/notoctal\09a`:      `/notoctal\09a`,
		`/toobig\777`:        `/toobig\777`,
		`/end\`:              `/end\`,
		`/two\040\040spaces`: "/two  spaces",
		`\1234`:              "S4",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	in := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 /a\040b /sys/fs/cgroup/cpu\040x rw,relatime shared:1 master:2 - cgroup cgroup rw,cpu,cpuacct

40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{Root: "/", Mountpoint: "/sys/fs/cgroup", FSType: "tmpfs", Source: "tmpfs", VFSOptions: "rw,mode=755"},
		{Root: "/a b", Mountpoint: "/sys/fs/cgroup/cpu x", FSType: "cgroup", Source: "cgroup", VFSOptions: "rw,cpu,cpuacct"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mounts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"1 2 3 / /x rw", "1 2 / /x - tmpfs", "1 2 0:1 / /x rw -"} {
		if _, err := Parse(strings.NewReader(bad + "\n")); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

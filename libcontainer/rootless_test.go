package libcontainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSubIDRanges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(file, []byte("alice:100000:65536\n1001:300000:10\nbob:165536:65536\nbroken\nalice:x:1\n"), 0o644)
	got, err := subIDRanges(file, "alice", "1001")
	if err != nil {
		t.Fatal(err)
	}
	want := []idRange{{100000, 65536}, {300000, 10}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("subIDRanges = %v, want %v", got, want)
	}
	for _, c := range []struct {
		start, size uint64
		ok          bool
	}{
		{100000, 65536, true}, {100001, 10, true}, {99999, 2, false}, {100000, 65537, false},
		{165536, 1, false}, {300000, 10, true}, {300005, 6, false}, {100000, 0, false},
	} {
		if covered(got, c.start, c.size) != c.ok {
			t.Errorf("covered(%d, %d) = %v, want %v", c.start, c.size, !c.ok, c.ok)
		}
	}
	if r, err := subIDRanges(filepath.Join(t.TempDir(), "missing"), "alice", "1"); err != nil || r != nil {
		t.Errorf("missing file: %v %v, want no ranges and no error", r, err)
	}
}

func TestToRootlessLikeRunc(t *testing.T) {
	s := ExampleSpec()
	ToRootless(s)
	if s.Linux.Resources != nil {
		t.Errorf("resources kept: %+v", s.Linux.Resources)
	}
	var types []string
	for _, n := range s.Linux.Namespaces {
		types = append(types, string(n.Type))
	}
	if got := strings.Join(types, ","); strings.Contains(got, "network") || !strings.HasSuffix(got, "user") {
		t.Errorf("namespaces %s: want no network, user last", got)
	}
	if m := s.Linux.UIDMappings; len(m) != 1 || int(m[0].HostID) != os.Geteuid() || m[0].Size != 1 {
		t.Errorf("uidMappings %+v", m)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && (m.Source != "/sys" || m.Options[0] != "rbind") {
			t.Errorf("/sys mount %+v", m)
		}
		for _, o := range m.Options {
			if strings.HasPrefix(o, "gid=") || strings.HasPrefix(o, "uid=") {
				t.Errorf("%s keeps %s", m.Destination, o)
			}
		}
	}
}

func TestCheckRootlessMounts(t *testing.T) {
	base := func() *specs.Spec {
		s := ExampleSpec()
		ToRootless(s)
		return s
	}
	s := base()
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys2", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}})
	if rewritten, err := checkRootlessMounts(s); err != nil || !rewritten {
		t.Fatalf("sysfs without a network namespace: %v %v, want a rewrite", rewritten, err)
	}
	if m := s.Mounts[len(s.Mounts)-1]; m.Source != "/sys" || m.Options[0] != "rbind" || m.Options[1] != "ro" {
		t.Errorf("rewritten sysfs: %+v", m)
	}
	for _, c := range []struct {
		m    specs.Mount
		want string
	}{
		{specs.Mount{Destination: "/x", Type: "xfs", Source: "/dev/sdb"}, "xfs filesystem"},
		{specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"uid=1000"}}, "uid 1000 is not mapped"},
		{specs.Mount{Destination: "/x", Type: "fuse.sshfs", Source: "host:/"}, ""},
		{specs.Mount{Destination: "/x", Type: "none", Source: "/dev/sdb", Options: []string{"rbind"}}, ""},
	} {
		s := base()
		s.Mounts = append(s.Mounts, c.m)
		_, err := checkRootlessMounts(s)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.m, err, c.want)
		}
	}
}

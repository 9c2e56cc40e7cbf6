package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runcDevicesList is the devices.list runc 1.1.5 leaves for a spec that
// denies every device (read on this host, sorted).
var runcDevicesList = []string{
	"b *:* m", "c *:* m", "c 10:200 rwm", "c 136:* rwm", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",
	"c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm",
}

func denyAll() *specs.LinuxResources {
	return &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
}

func kmsg() []specs.LinuxDevice {
	return []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11}}
}

func i64(n int64) *int64 { return &n }

// stateList is what devices.list would show for rules, sorted.
func stateList(t *testing.T, res *specs.LinuxResources, devs []specs.LinuxDevice) []string {
	t.Helper()
	rules, err := deviceRules(res, devs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newDeviceState(rules)
	if err != nil {
		t.Fatal(err)
	}
	if s.defaultAllow {
		return []string{"a *:* rwm"}
	}
	var out []string
	for _, e := range s.exceptions {
		out = append(out, e.String())
	}
	sort.Strings(out)
	return out
}

// linux.devices creates nodes and grants nothing: a deny-all spec gets
// runc's default allowances and nothing else, whatever it lists.
func TestDeviceRulesListedDevicesGrantNothing(t *testing.T) {
	for name, devs := range map[string][]specs.LinuxDevice{
		"no devices": nil,
		"/dev/kmsg":  kmsg(),
		"a block device and a fifo": {
			{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0}, {Path: "/dev/fifo", Type: "p"},
			{Path: "/dev/ttyS0", Type: "u", Major: 4, Minor: 64},
		},
	} {
		if got := stateList(t, denyAll(), devs); !reflect.DeepEqual(got, runcDevicesList) {
			t.Errorf("%s: devices.list %q; want runc's %q", name, got, runcDevicesList)
		}
	}
	// Without any rule of its own the spec gets the same list.
	if got := stateList(t, nil, kmsg()); !reflect.DeepEqual(got, runcDevicesList) {
		t.Errorf("no linux.resources: %q; want %q", got, runcDevicesList)
	}
	// The spec's own rule is what grants /dev/kmsg.
	res := denyAll()
	res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "r"})
	if got := stateList(t, res, kmsg()); !contains(got, "c 1:11 r") || contains(got, "c 1:11 rwm") {
		t.Errorf("an explicit allowance of 1:11 r: %q", got)
	}
}

// As runc: a linux.devices entry at the path of a default device replaces
// that default, allowance included.
func TestDeviceRulesListedDefaultPathDropsItsAllowance(t *testing.T) {
	got := stateList(t, denyAll(), []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}})
	if contains(got, "c 1:3 rwm") || !contains(got, "c 1:5 rwm") || !contains(got, "c *:* m") {
		t.Errorf("devices.list %q: want runc's defaults without c 1:3", got)
	}
}

// Access strings: r, w and m count, other letters are dropped (runc's
// "rwa"), none of the three is refused, empty means rwm.
func TestDeviceRulesAccess(t *testing.T) {
	for access, want := range map[string]string{"rwa": "rw", "mr": "rm", "rmX": "rm", "": "rwm", "wm": "wm"} {
		r, err := specDeviceRule(specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: access})
		if err != nil || r.perms != want {
			t.Errorf("access %q: %v, %v; want %q", access, r, err, want)
		}
	}
	for _, access := range []string{"x", "a", "xyz"} {
		_, err := deviceRules(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}, {Type: "c", Access: access}}}, nil)
		if err == nil || !strings.Contains(err.Error(), "linux.resources.devices[1]: access") {
			t.Errorf("access %q: %v; want an error naming linux.resources.devices[1]", access, err)
		}
	}
}

// The rules of a deny-all spec listing /dev/kmsg, applied on the host
// through v1's files and v2's eBPF program (the same rule list feeds both):
// kmsg stays closed, the defaults open, mknod works.
func TestDeviceRulesDenyKmsgOnTheHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	rules, err := deviceRules(denyAll(), kmsg())
	if err != nil {
		t.Fatal(err)
	}
	const script = `d=$(mktemp -d); mknod $d/kmsg c 1 11 && echo mknod ok
	  for t in "kmsg-r <$d/kmsg" "kmsg-w >$d/kmsg" "null-w >/dev/null" "zero-r </dev/zero" "urandom-r </dev/urandom"; do
	  set -- $t; if (eval ": $2") 2>/dev/null; then echo "$1 ok"; else echo "$1 denied"; fi; done; rm -r $d`
	want := "mknod ok\nkmsg-r denied\nkmsg-w denied\nnull-w ok\nzero-r ok\nurandom-r ok\n"
	for _, v := range []struct{ name, mount, file string }{
		{"v1", "/sys/fs/cgroup/devices", "devices.list"},
		{"v2", "/sys/fs/cgroup/unified", "cgroup.procs"},
		{"v2", "/sys/fs/cgroup", "cgroup.controllers"},
	} {
		if _, err := os.Stat(filepath.Join(v.mount, v.file)); err != nil || (v.mount == "/sys/fs/cgroup" && !IsUnified()) {
			continue
		}
		t.Run(v.name+" "+v.mount, func(t *testing.T) {
			dir, err := os.MkdirTemp(v.mount, "berth-devrules-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(dir)
			set := setDevicesV1
			if v.name == "v2" {
				set = setDevicesV2
			}
			if err := set(dir, rules); err != nil {
				t.Fatal(err)
			}
			if got := runIn(t, dir, script); got != want {
				t.Errorf("in the cgroup:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

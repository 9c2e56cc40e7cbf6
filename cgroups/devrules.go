package cgroups

import (
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceRule is one device cgroup rule, as written to v1's devices.allow or
// devices.deny: type 'a' (every device), 'b' or 'c'; wildcard numbers are -1.
type deviceRule struct {
	typ          byte
	major, minor int64
	perms        string // some of "rwm"
	allow        bool
}

const wildcard = -1

func (r *deviceRule) String() string {
	num := func(n int64) string {
		if n == wildcard {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), r.perms)
}

// defaultAllowedDevices are runc's default allowances (its specconv
// AllowedDevices), in its order, appended after the spec's own rules. Those
// with a path are the nodes runc creates; runc drops one when linux.devices
// lists the same path (the spec's device takes its place), and so does berth.
var defaultAllowedDevices = []struct {
	path string
	rule deviceRule
}{
	{"", deviceRule{'c', wildcard, wildcard, "m", true}}, // mknod of any device, not its use
	{"", deviceRule{'b', wildcard, wildcard, "m", true}},
	{"/dev/null", deviceRule{'c', 1, 3, "rwm", true}},
	{"/dev/random", deviceRule{'c', 1, 8, "rwm", true}},
	{"/dev/full", deviceRule{'c', 1, 7, "rwm", true}},
	{"/dev/tty", deviceRule{'c', 5, 0, "rwm", true}},
	{"/dev/zero", deviceRule{'c', 1, 5, "rwm", true}},
	{"/dev/urandom", deviceRule{'c', 1, 9, "rwm", true}},
	{"", deviceRule{'c', 136, wildcard, "rwm", true}}, // /dev/pts/*
	{"", deviceRule{'c', 5, 2, "rwm", true}},          // /dev/ptmx
	{"", deviceRule{'c', 10, 200, "rwm", true}},       // /dev/net/tun
}

// deviceRules are the spec's rules, then the default allowances. Listing a
// device in linux.devices only creates its node: access to it is granted
// by linux.resources.devices alone (as runc; a deny-all spec that lists
// /dev/kmsg must not get to read the kernel log).
func deviceRules(r *specs.LinuxResources, devs []specs.LinuxDevice) ([]*deviceRule, error) {
	var out []*deviceRule
	if r != nil {
		for i, d := range r.Devices {
			rule, err := specDeviceRule(d)
			if err != nil {
				return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
			}
			out = append(out, rule)
		}
	}
next:
	for _, d := range defaultAllowedDevices {
		for _, dev := range devs {
			if d.path != "" && dev.Path == d.path {
				continue next
			}
		}
		rule := d.rule
		out = append(out, &rule)
	}
	return out, nil
}

// specDeviceRule converts one rule of linux.resources.devices. An access
// string keeps its r, w and m and drops any other letter, as runc does
// (runc's own tests write "rwa"); one with none of the three is refused.
// An empty one means rwm.
func specDeviceRule(d specs.LinuxDeviceCgroup) (*deviceRule, error) {
	r := &deviceRule{typ: 'a', major: wildcard, minor: wildcard, perms: normPerms(d.Access), allow: d.Allow}
	switch d.Type {
	case "", "a":
	case "c", "b":
		r.typ = d.Type[0]
	default:
		return nil, fmt.Errorf("type %q is not one of a, b, c", d.Type)
	}
	if d.Major != nil {
		r.major = *d.Major
	}
	if d.Minor != nil {
		r.minor = *d.Minor
	}
	if d.Access == "" {
		r.perms = "rwm"
	}
	if r.perms == "" {
		return nil, fmt.Errorf("access %q holds none of r, w, m", d.Access)
	}
	return r, nil
}

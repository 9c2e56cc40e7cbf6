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

// defaultAllowedDevices are the rules every container gets after its own,
// so that the devices berth creates in /dev work (as runc does).
var defaultAllowedDevices = []*deviceRule{
	{'c', 1, 3, "rwm", true},          // null
	{'c', 1, 5, "rwm", true},          // zero
	{'c', 1, 7, "rwm", true},          // full
	{'c', 1, 8, "rwm", true},          // random
	{'c', 1, 9, "rwm", true},          // urandom
	{'c', 5, 0, "rwm", true},          // tty
	{'c', 5, 2, "rwm", true},          // ptmx
	{'c', 136, wildcard, "rwm", true}, // pts
}

// deviceRules are the spec's rules, then the defaults, then one allowing
// each of linux.devices (the container gets those nodes, so it may use them).
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
	out = append(out, defaultAllowedDevices...)
	for _, d := range devs {
		t := d.Type
		switch t {
		case "u":
			t = "c"
		case "p":
			continue // a FIFO: nothing for the device cgroup
		}
		major, minor := d.Major, d.Minor
		rule, err := specDeviceRule(specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &major, Minor: &minor, Access: "rwm"})
		if err != nil {
			return nil, fmt.Errorf("linux.devices %s: %w", d.Path, err)
		}
		out = append(out, rule)
	}
	return out, nil
}

func specDeviceRule(d specs.LinuxDeviceCgroup) (*deviceRule, error) {
	r := &deviceRule{typ: 'a', major: wildcard, minor: wildcard, perms: d.Access, allow: d.Allow}
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
	if r.perms == "" {
		r.perms = "rwm"
	}
	if normPerms(r.perms) == "" || len(r.perms) > 3 || trimPerms(r.perms) != "" {
		return nil, fmt.Errorf("access %q is not a combination of r, w, m", d.Access)
	}
	return r, nil
}

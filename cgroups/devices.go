package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The device cgroup, both versions. runc's cgroup library brings the
// systemd driver, D-Bus and cilium/ebpf with its version of this: 0.4 MB of
// a binary that every berth process maps (docs/performance.md).

// deviceState is what the kernel keeps for a v1 device cgroup: a default
// (allow or deny every device) and exceptions to it. A list of rules is
// applied to one the way the kernel applies writes to devices.allow and
// devices.deny, so that v2's eBPF program decides exactly as v1 would.
type deviceState struct {
	defaultAllow bool
	exceptions   []deviceException
}

type deviceException struct {
	typ          byte   // 'b' or 'c'
	major, minor int64  // wildcard for any
	perms        string // a subset of "rwm", in that order
}

// newDeviceState applies rules to a cgroup that denies every device.
func newDeviceState(rules []*deviceRule) (*deviceState, error) {
	s := &deviceState{}
	for _, r := range rules {
		if err := s.apply(r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// apply is the kernel's devcgroup_update_access: "a" resets to a default;
// a rule that agrees with the default takes access away from the exception
// naming exactly that device; one that disagrees adds to it.
func (s *deviceState) apply(r *deviceRule) error {
	if r.typ == 'a' {
		s.defaultAllow, s.exceptions = r.allow, nil
		return nil
	}
	if r.typ != 'b' && r.typ != 'c' {
		return fmt.Errorf("device rule %q: type must be a, b or c", r)
	}
	perms := normPerms(r.perms)
	if perms == "" || trimPerms(r.perms) != "" {
		return fmt.Errorf("device rule %q: access must be some of r, w and m", r)
	}
	for i := range s.exceptions {
		e := &s.exceptions[i]
		if e.typ != r.typ || e.major != r.major || e.minor != r.minor {
			continue
		}
		if r.allow == s.defaultAllow {
			e.perms = permsMinus(e.perms, perms)
			if e.perms == "" {
				s.exceptions = append(s.exceptions[:i], s.exceptions[i+1:]...)
			}
		} else {
			e.perms = normPerms(e.perms + perms)
		}
		return nil
	}
	if r.allow != s.defaultAllow {
		s.exceptions = append(s.exceptions, deviceException{r.typ, r.major, r.minor, perms})
	}
	return nil
}

// normPerms is the set of r, w, m in p, in that order.
func normPerms(p string) string {
	out := ""
	for _, c := range "rwm" {
		if strings.ContainsRune(p, c) {
			out += string(c)
		}
	}
	return out
}

func trimPerms(p string) string { return strings.Trim(p, "rwm") }

func permsMinus(p, minus string) string {
	return normPerms(strings.Map(func(c rune) rune {
		if strings.ContainsRune(minus, c) {
			return -1
		}
		return c
	}, p))
}

func (e deviceException) String() string {
	return (&deviceRule{typ: e.typ, major: e.major, minor: e.minor, perms: e.perms}).String()
}

// readDeviceState parses devices.list. The kernel lists exceptions only
// for a default-deny cgroup; a default-allow one shows as "a *:* rwm".
func readDeviceState(dir string) (*deviceState, error) {
	data, err := os.ReadFile(filepath.Join(dir, "devices.list"))
	if err != nil {
		return nil, err
	}
	s := &deviceState{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		if f[0] == "a" {
			return &deviceState{defaultAllow: true}, nil
		}
		maj, min, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("devices.list: bad line %q", line)
		}
		e := deviceException{typ: f[0][0], perms: normPerms(f[2])}
		if e.major, err = parseDevNum(maj); err == nil {
			e.minor, err = parseDevNum(min)
		}
		if err != nil {
			return nil, fmt.Errorf("devices.list: bad line %q", line)
		}
		s.exceptions = append(s.exceptions, e)
	}
	return s, nil
}

func parseDevNum(s string) (int64, error) {
	if s == "*" {
		return wildcard, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// setDevicesV1 takes a v1 device cgroup from what it has to what r asks,
// writing only the difference: a running container's devices stay usable
// through an update that does not change them (no "deny all" first).
func setDevicesV1(dir string, rules []*deviceRule) error {
	want, err := newDeviceState(rules)
	if err != nil {
		return err
	}
	have, err := readDeviceState(dir)
	if err != nil {
		return err
	}
	for _, w := range transition(have, want) {
		if err := os.WriteFile(filepath.Join(dir, w.file), []byte(w.rule), 0); err != nil {
			return fmt.Errorf("write %q to %s: %w", w.rule, w.file, err)
		}
	}
	return nil
}

type deviceWrite struct{ file, rule string }

// transition is the list of writes that takes have to want. The exceptions
// of a default-allow cgroup cannot be read back, so from or to one the
// cgroup is reset and every exception written.
func transition(have, want *deviceState) []deviceWrite {
	grant, revoke := "devices.allow", "devices.deny"
	if want.defaultAllow {
		grant, revoke = revoke, grant
	}
	var out []deviceWrite
	if have.defaultAllow || want.defaultAllow {
		out = append(out, deviceWrite{revoke, "a"})
		have = &deviceState{defaultAllow: want.defaultAllow}
	}
	// Grants first, then what goes: a device in use never loses access
	// that it keeps in the end.
	for _, w := range want.exceptions {
		if add := permsMinus(w.perms, have.find(w).perms); add != "" {
			out = append(out, deviceWrite{grant, deviceException{w.typ, w.major, w.minor, add}.String()})
		}
	}
	for _, h := range have.exceptions {
		if drop := permsMinus(h.perms, want.find(h).perms); drop != "" {
			out = append(out, deviceWrite{revoke, deviceException{h.typ, h.major, h.minor, drop}.String()})
		}
	}
	return out
}

// find is the exception for exactly e's device, or an empty one.
func (s *deviceState) find(e deviceException) deviceException {
	for _, x := range s.exceptions {
		if x.typ == e.typ && x.major == e.major && x.minor == e.minor {
			return x
		}
	}
	return deviceException{}
}

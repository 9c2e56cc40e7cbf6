package libcontainer

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateIDMappings(t *testing.T) {
	m := func(c, h, n uint32) specs.LinuxIDMapping {
		return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
	}
	many := make([]specs.LinuxIDMapping, maxIDMapLines+1)
	for i := range many {
		many[i] = m(uint32(i), uint32(1000+i), 1)
	}
	for _, c := range []struct {
		name string
		maps []specs.LinuxIDMapping
		want string // "" for valid
	}{
		{"none", nil, ""},
		{"one", []specs.LinuxIDMapping{m(0, 100000, 65536)}, ""},
		{"adjacent", []specs.LinuxIDMapping{m(0, 100000, 10), m(10, 100010, 10)}, ""},
		{"largest", []specs.LinuxIDMapping{m(0, 0, 4294967295)}, ""},
		{"max-lines", many[:maxIDMapLines], ""},
		{"size0", []specs.LinuxIDMapping{m(0, 1, 0)}, "f[0]: size is 0"},
		{"c-overlap", []specs.LinuxIDMapping{m(0, 100, 10), m(9, 200, 10)}, "f[1]: its containerID range overlaps that of f[0]"},
		{"h-overlap", []specs.LinuxIDMapping{m(0, 100, 10), m(10, 105, 10)}, "f[1]: its hostID range overlaps that of f[0]"},
		{"c-minus1", []specs.LinuxIDMapping{m(1, 0, 4294967295)}, "f[0]: containerID 1 + size 4294967295"},
		{"h-minus1", []specs.LinuxIDMapping{m(0, 4294967295, 1)}, "f[0]: hostID 4294967295 + size 1"},
		{"too-many", many, "f: 341 entries"},
		{"too-long", bigIDs(300), "f: 300 entries take"},
	} {
		err := validateIDMappings("f", c.maps)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidSpec)):
			t.Errorf("%s: got %v, want an invalid-spec error with %q", c.name, err, c.want)
		}
	}
}

func TestValidateUser(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
	for _, c := range []struct {
		u    specs.User
		want string
	}{
		{specs.User{UID: 999, GID: 999, AdditionalGids: []uint32{0, 5}}, ""},
		{specs.User{UID: unchangedID}, "process.user.uid 4294967295"},
		{specs.User{GID: unchangedID}, "process.user.gid 4294967295"},
		{specs.User{AdditionalGids: []uint32{1, unchangedID}}, "additionalGids[1] 4294967295"},
		{specs.User{UID: 1000}, "uid 1000 is not mapped"},
		{specs.User{GID: 1000}, "gid 1000 is not mapped"},
		{specs.User{AdditionalGids: []uint32{1000}}, "additionalGids[0] 1000 is not mapped"},
	} {
		err := validateUserIDs(c.u)
		if err == nil {
			err = validateUserMapped(c.u, maps, maps)
		}
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: got %v, want %q", c.u, err, c.want)
		}
	}
}

// bigIDs is n mappings whose lines are long: together more than a page.
func bigIDs(n int) []specs.LinuxIDMapping {
	var maps []specs.LinuxIDMapping
	for i := 0; i < n; i++ {
		maps = append(maps, specs.LinuxIDMapping{ContainerID: 1000000000 + uint32(i), HostID: 2000000000 + uint32(i), Size: 1})
	}
	return maps
}

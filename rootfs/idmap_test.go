package rootfs

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestIdmapped(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	for _, c := range []struct {
		m                   specs.Mount
		idmapped, recursive bool
	}{
		{specs.Mount{Type: "bind", Options: []string{"bind"}}, false, false},
		{specs.Mount{Type: "bind", Options: []string{"bind", "idmap"}}, true, false},
		{specs.Mount{Type: "bind", Options: []string{"rbind", "ridmap"}}, true, true},
		{specs.Mount{Type: "bind", Options: []string{"bind"}, UIDMappings: maps, GIDMappings: maps}, true, false},
	} {
		if i, r := Idmapped(c.m); i != c.idmapped || r != c.recursive {
			t.Errorf("%v: idmapped %v recursive %v, want %v %v", c.m.Options, i, r, c.idmapped, c.recursive)
		}
		if o := parseOptions(c.m.Options, c.m.Type); len(o.data) != 0 {
			t.Errorf("%v: %v passed on as filesystem data", c.m.Options, o.data)
		}
	}
}

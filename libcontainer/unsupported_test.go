package libcontainer

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2, 5")
	if err != nil || len(got) != 4 || got[3] != 5 {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"x", "3-1", "1024", "1-", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateUnsupported(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	for want, s := range map[string]*specs.Spec{
		"linux.intelRdt":          {Linux: &specs.Linux{IntelRdt: &specs.LinuxIntelRdt{}}},
		"linux.personality.flags": {Linux: &specs.Linux{Personality: &specs.LinuxPersonality{Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE", "X"}}}},
		"needs both":              {Linux: &specs.Linux{}, Mounts: []specs.Mount{{Type: "bind", Options: []string{"bind"}, UIDMappings: maps}}},
		"only bind mounts":        {Linux: &specs.Linux{}, Mounts: []specs.Mount{{Type: "tmpfs", Options: []string{"idmap"}, UIDMappings: maps, GIDMappings: maps}}},
		"needs a user namespace":  {Linux: &specs.Linux{}, Mounts: []specs.Mount{{Type: "bind", Options: []string{"rbind", "ridmap"}}}},
	} {
		err := validateUnsupported(s)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	ok := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}}},
		Mounts: []specs.Mount{{Type: "bind", Options: []string{"rbind", "ridmap"}}}}
	if err := validateUnsupported(ok); err != nil {
		t.Errorf("ridmap in a user namespace: %v", err)
	}
}

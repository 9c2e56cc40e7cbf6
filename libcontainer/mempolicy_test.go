package libcontainer

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseMemoryPolicy(t *testing.T) {
	mp, err := parseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-2,5,64",
		Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}})
	if err != nil {
		t.Fatal(err)
	}
	if mp.mode != 2|1<<15 || mp.nodes[0] != 0b100111 || mp.nodes[1] != 1 {
		t.Errorf("got mode %#x nodes %b %b", mp.mode, mp.nodes[0], mp.nodes[1])
	}
	for _, bad := range []specs.LinuxMemoryPolicy{
		{Mode: "MPOL_X", Nodes: "0"},
		{Mode: specs.MpolBind, Nodes: ""},
		{Mode: specs.MpolBind, Nodes: "2-1"},
		{Mode: specs.MpolBind, Nodes: "1024"},
		{Mode: specs.MpolBind, Nodes: "-1"},
		{Mode: specs.MpolLocal, Nodes: "0"},
		{Mode: specs.MpolInterleave, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFNumaBalancing}},
		{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_X"}},
	} {
		if _, err := parseMemoryPolicy(&bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := parseMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred}); err != nil {
		t.Errorf("MPOL_PREFERRED with no nodes (local allocation): %v", err)
	}
}

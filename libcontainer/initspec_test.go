package libcontainer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// What the parent sends, init gets back: every part of the spec init
// reads survives decodePlan unchanged.
func TestInitSpecKeepsWhatInitUses(t *testing.T) {
	full := ExampleSpec()
	full.Hostname, full.Domainname = "h", "d"
	full.Process.Capabilities.Ambient = []string{"CAP_CHOWN"}
	full.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 9, Soft: 8}}
	full.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 3}
	full.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
	full.Hooks = &specs.Hooks{
		CreateContainer: []specs.Hook{{Path: "/bin/cc", Args: []string{"cc", "x"}, Env: []string{"A=1"}}},
		StartContainer:  []specs.Hook{{Path: "/bin/sc"}},
	}
	full.Mounts = append(full.Mounts, specs.Mount{Destination: "/m", Type: "bind", Source: "/s",
		Options: []string{"rbind", "ro"}})
	full.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3}}
	full.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	full.Linux.RootfsPropagation = "rslave"
	full.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	full.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}
	full.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: "meta"}
	full.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}}
	// The plan's spec goes either encoded here or as the bundle's own
	// config.json, compacted (Bundle.Raw): init must get the same either way.
	dir := t.TempDir()
	indented, _ := json.MarshalIndent(full, "", "\t")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), indented, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, full.Root.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Raw, []byte("\n")) || !json.Valid(b.Raw) {
		t.Fatalf("Bundle.Raw is not compact JSON: %.80s", b.Raw)
	}
	for _, sent := range []*Plan{
		{ID: "c", Spec: full, Rootfs: "/r", NoWait: true, JoinTasks: []string{"/t"}},
		{ID: "c", Spec: b.Spec, RawSpec: b.Raw, Rootfs: "/r", NoWait: true, JoinTasks: []string{"/t"}},
	} {
		checkPlanRoundTrip(t, sent, full)
	}
	if _, err := decodePlan([]byte(`{"id":"x"}`)); err == nil {
		t.Errorf("a plan without a spec was accepted")
	}
}

func checkPlanRoundTrip(t *testing.T, sent *Plan, full *specs.Spec) {
	t.Helper()
	msg, err := planMsg(sent)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(msg)
	var back syncMsg
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	got, err := decodePlan(back.Plan)
	if err != nil {
		t.Fatal(err)
	}
	g, f := got.Spec, full
	for name, pair := range map[string][2]any{
		"process": {g.Process, f.Process}, "root": {g.Root, f.Root}, "hostname": {g.Hostname, f.Hostname},
		"domainname": {g.Domainname, f.Domainname}, "mounts": {g.Mounts, f.Mounts}, "hooks": {g.Hooks, f.Hooks},
		"namespaces": {g.Linux.Namespaces, f.Linux.Namespaces}, "devices": {g.Linux.Devices, f.Linux.Devices},
		"sysctl": {g.Linux.Sysctl, f.Linux.Sysctl}, "propagation": {g.Linux.RootfsPropagation, f.Linux.RootfsPropagation},
		"masked": {g.Linux.MaskedPaths, f.Linux.MaskedPaths}, "readonly": {g.Linux.ReadonlyPaths, f.Linux.ReadonlyPaths},
		"personality":       {g.Linux.Personality, f.Linux.Personality},
		"memory policy":     {g.Linux.MemoryPolicy, f.Linux.MemoryPolicy},
		"listener metadata": {g.Linux.Seccomp.ListenerMetadata, f.Linux.Seccomp.ListenerMetadata},
		"plan fields":       {[]any{got.ID, got.Rootfs, got.NoWait, got.JoinTasks}, []any{sent.ID, sent.Rootfs, sent.NoWait, sent.JoinTasks}},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("raw spec %v: %s: init got %+v, the parent sent %+v", sent.RawSpec != nil, name, pair[0], pair[1])
		}
	}
	if g.Linux.Resources != nil {
		t.Errorf("init decoded linux.resources, which it does not use")
	}
}

func ptr[T any](v T) *T { return &v }

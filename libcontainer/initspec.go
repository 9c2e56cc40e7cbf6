package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/jsonlite"
)

// How init decodes its plan cheaply.
//
// encoding/json, the first time it decodes into a type, builds an encoder
// for every type reachable from it: for specs.Spec that is ~100 types
// (Windows, VM, every cgroup resource...), 0.5 ms of a fresh process's time,
// on init's critical path. Init reads only the parts below, so it decodes
// the plan into these types, which reach only what init uses (0.2 ms). The
// parent encodes the whole spec as usual; the fields left out here are
// skipped by the decoder. A field init starts to use must be added here:
// TestInitSpecKeepsWhatInitUses checks the round trip.

// wirePlan is a Plan as init decodes it: Spec is shadowed by the smaller
// initSpec (encoding/json lets the outer field win and never visits the
// embedded one).
type wirePlan struct {
	Plan
	Spec *initSpec `json:"spec"`
}

type initSpec struct {
	Version    string         `json:"ociVersion"`
	Process    *specs.Process `json:"process,omitempty"`
	Root       *specs.Root    `json:"root,omitempty"`
	Hostname   string         `json:"hostname,omitempty"`
	Domainname string         `json:"domainname,omitempty"`
	Mounts     []specs.Mount  `json:"mounts,omitempty"`
	Hooks      *specs.Hooks   `json:"hooks,omitempty"`
	Linux      *initLinux     `json:"linux,omitempty"`
}

type initLinux struct {
	Namespaces        []specs.LinuxNamespace   `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice      `json:"devices,omitempty"`
	Sysctl            map[string]string        `json:"sysctl,omitempty"`
	RootfsPropagation string                   `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                 `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                 `json:"readonlyPaths,omitempty"`
	Personality       *specs.LinuxPersonality  `json:"personality,omitempty"`
	MemoryPolicy      *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
	Seccomp           *struct {
		ListenerMetadata string `json:"listenerMetadata,omitempty"`
	} `json:"seccomp,omitempty"`
}

// decodePlan decodes a plan message's payload for init.
func decodePlan(raw []byte) (*Plan, error) {
	var w wirePlan
	if err := jsonlite.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	if w.Spec == nil || w.Spec.Process == nil || w.Spec.Linux == nil {
		return nil, fmt.Errorf("init protocol: plan without a spec, process or linux section")
	}
	p := w.Plan
	p.Spec = w.Spec.spec()
	return &p, nil
}

func (s *initSpec) spec() *specs.Spec {
	l := s.Linux
	out := &specs.Spec{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname,
		Domainname: s.Domainname, Mounts: s.Mounts, Hooks: s.Hooks,
		Linux: &specs.Linux{
			Namespaces: l.Namespaces, Devices: l.Devices, Sysctl: l.Sysctl,
			RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, Personality: l.Personality, MemoryPolicy: l.MemoryPolicy,
		},
	}
	if l.Seccomp != nil {
		out.Linux.Seccomp = &specs.LinuxSeccomp{ListenerMetadata: l.Seccomp.ListenerMetadata}
	}
	return out
}

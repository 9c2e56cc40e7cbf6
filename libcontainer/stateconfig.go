package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/jsonlite"
)

// The spec in state.json is decoded only when a command needs it.
//
// The first decode of a specs.Spec in a process costs ~0.5 ms (encoding/json
// builds encoders for every type reachable from it; docs/performance.md),
// and most commands (state, kill, pause, ps, list) never read it. Exec and
// update decode it whole (spec); start and delete read only the hooks and
// the namespaces (summary), which reach a handful of types.

// spec returns the container's spec, decoding it on first use.
func (c *Container) spec() (*specs.Spec, error) {
	if c.Config != nil {
		return c.Config, nil
	}
	var ls linuxSpec
	if err := c.decodeConfig(&ls); err != nil {
		return nil, err
	}
	s := &ls.Spec
	if s.Process == nil || s.Linux == nil {
		return nil, fmt.Errorf("%w: %s: %s has no process or linux section", ErrCorruptState, c.ID, stateFile)
	}
	c.Config = s
	return c.Config, nil
}

// configSummary is what start and delete read of the spec.
type configSummary struct {
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	Linux *struct {
		Namespaces []specs.LinuxNamespace `json:"namespaces,omitempty"`
	} `json:"linux,omitempty"`
}

// summary returns the hooks and namespaces of the container's spec, or nil
// when none is recorded (a create that died before writing it) or it cannot
// be read.
func (c *Container) summary() *configSummary {
	if c.Config != nil {
		s := &configSummary{Hooks: c.Config.Hooks}
		if c.Config.Linux != nil {
			s.Linux = &struct {
				Namespaces []specs.LinuxNamespace `json:"namespaces,omitempty"`
			}{c.Config.Linux.Namespaces}
		}
		return s
	}
	var s configSummary
	if c.decodeConfig(&s) != nil {
		return nil
	}
	return &s
}

// hasNS is hasNS on the summarised spec.
func (s *configSummary) hasNS(t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	return hasNS(&specs.Spec{Linux: &specs.Linux{Namespaces: s.Linux.Namespaces}}, t)
}

func (c *Container) decodeConfig(v any) error {
	if len(c.RawConfig) == 0 || string(c.RawConfig) == "null" {
		return fmt.Errorf("%w: %s: %s records no config", ErrCorruptState, c.ID, stateFile)
	}
	if err := jsonlite.Unmarshal(c.RawConfig, v); err != nil {
		return fmt.Errorf("%w: %s: %s: config: %v (delete it with 'berth delete --force %s')", ErrCorruptState, c.ID, stateFile, err, c.ID)
	}
	return nil
}

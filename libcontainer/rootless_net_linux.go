package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/network"
)

// Rootless networking (network/slirp_linux.go): for an unprivileged
// caller --network bridge is a network namespace of the container's user
// namespace (init is cloned into it) and slirp4netns attached to it once
// init exists; the state records slirp4netns (its PID, its API socket)
// before the workload can start, and delete stops it.

// resolveSlirp prepares a rootless caller's --network bridge.
func resolveSlirp(cr *creation, req *network.Request, stateDir string) error {
	if !hasNS(cr.bundle.Spec, specs.UserNamespace) {
		return fmt.Errorf("--network %s: a rootless container needs a user namespace (linux.namespaces) to own its network namespace", req.Network)
	}
	s, err := network.PrepareSlirp(req, stateDir)
	if err != nil {
		return err
	}
	cr.slirp = s
	return nil
}

// startSlirp, once init exists in its namespaces, starts slirp4netns on
// init's network namespace, records its PID, and leaves its configuration
// (tap0, the ports) to finishNetwork's wait. Preconditions: lock held.
func startSlirp(cr *creation, c *Container) error {
	if cr.slirp == nil {
		return nil
	}
	ready, err := c.Slirp.Start(c.InitPID)
	if err != nil {
		return err
	}
	if err := c.save(); err != nil {
		return err
	}
	tracePoint("create:slirp-started")
	cr.netAdded = make(chan error, 1)
	go func() { cr.netAdded <- ready() }()
	return nil
}

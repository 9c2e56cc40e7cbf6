package libcontainer

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/network"
)

// Standalone networking (--network, --publish): the spec is adjusted
// before anything is made; for a CNI network the parent makes the network
// namespace itself (bind-mounted under the network run dir, recorded in
// state first, so that DEL finds it after any crash), hands it to init as
// it hands the namespace it makes for speed (netns_linux.go), and runs ADD
// while init sets up, before the workload can start.

// resolveNetwork applies --network/--publish (or the bundle's annotations)
// to the spec and prepares the attachment. It runs before the namespaces
// are planned and before anything exists.
func resolveNetwork(cr *creation) error {
	opts, spec := cr.opts, cr.bundle.Spec
	netName, publish := opts.Network, opts.Publish
	fromConfig := netName == "" && len(publish) == 0
	if fromConfig {
		netName = spec.Annotations[network.AnnotationNetwork]
		if p := spec.Annotations[network.AnnotationPublish]; p != "" {
			publish = strings.Split(p, ",")
		}
	}
	req, err := network.ParseRequest(netName, publish)
	if err != nil || req == nil {
		if err != nil && fromConfig {
			err = fmt.Errorf("annotations %s/%s: %w", network.AnnotationNetwork, network.AnnotationPublish, err)
		}
		return err
	}
	if fromConfig && !annotationMayNetwork(spec, req) {
		return nil
	}
	l := spec.Linux
	var kept []specs.LinuxNamespace
	for _, n := range l.Namespaces {
		if n.Type != specs.NetworkNamespace {
			kept = append(kept, n)
		}
	}
	l.Namespaces = kept
	cr.bundle.Raw = nil
	if req.Network == network.Host {
		return nil
	}
	// A new namespace: lo only (none), or the one made here (a network).
	l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	if !req.Attaches() {
		return nil
	}
	cr.netLate = hasNS(spec, specs.UserNamespace)
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return fmt.Errorf("state root: %w", err)
	}
	dir := filepath.Join(root, opts.ID)
	if unprivileged() {
		return resolveSlirp(cr, req, dir)
	}
	if cr.net, err = network.DefaultStore().Prepare(req, opts.ID, spec.Hostname, dir); err != nil {
		return err
	}
	for _, f := range []string{"hosts", "resolv.conf"} {
		if !hasMount(spec, "/etc/"+f) {
			spec.Mounts = append(spec.Mounts, specs.Mount{
				Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(dir, f),
				Options: []string{"rbind", "rprivate"},
			})
		}
	}
	return nil
}

// annotationMayNetwork says whether the bundle's annotations may choose
// the network. Annotations are not the operator's: containerd passes a
// pod's on (Kubernetes users write them), podman an image's. So they only
// ever attach a container whose config asks for a new network namespace
// of its own, and never to the host's: they cannot take a CRI container
// out of its pod's namespace (which has a path) nor around a policy that
// forbids hostNetwork, and where the config shares the host's namespace
// (no entry) it stays shared.
func annotationMayNetwork(spec *specs.Spec, req *network.Request) bool {
	return req.Network != network.Host && hasNS(spec, specs.NetworkNamespace) && nsPath(spec, specs.NetworkNamespace) == ""
}

func hasMount(spec *specs.Spec, dest string) bool {
	for _, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == dest {
			return true
		}
	}
	return false
}

// withoutNetNS is the spec as the namespace planner sees it when the
// parent makes the network namespace: without one to make.
func withoutNetNS(spec *specs.Spec) *specs.Spec {
	s, l := *spec, *spec.Linux
	l.Namespaces = nil
	for _, n := range spec.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			l.Namespaces = append(l.Namespaces, n)
		}
	}
	s.Linux = &l
	return &s
}

// recordNetwork puts what create is about to attach into the state, before
// it is saved, and writes the files init binds in (hosts, resolv.conf).
func recordNetwork(c *Container, cr *creation) error {
	c.NetDevices = netDevices(cr.bundle.Spec)
	c.Slirp = cr.slirp
	if c.Network = cr.net; cr.net != nil {
		return cr.net.WriteFiles()
	}
	return nil
}

// finishNetwork, once init is ready, moves linux.netDevices in if the
// parent could not earlier, and waits for ADD: the workload may start.
func (p *InitProcess) finishNetwork(cr *creation) error {
	if err := p.moveDevicesLate(cr); err != nil {
		return err
	}
	if cr.netAdded != nil {
		err := <-cr.netAdded
		cr.netAdded = nil
		if err != nil {
			return err
		}
		tracePoint("create:network-added")
	}
	return nil
}

// setupNetwork makes the attachment's namespace, once the state records
// it, and starts ADD (cr.netAdded delivers its result). With initPid nil
// it makes a new namespace and hands it to init (cr.netns); otherwise it
// takes the one init was cloned into (with a user namespace, which must
// own it). Preconditions: lock held, state saved with c.Network set.
func setupNetwork(cr *creation, initPid *int) error {
	from := ""
	if initPid != nil {
		from = "/proc/" + strconv.Itoa(*initPid) + "/ns/net"
		var own, its unix.Stat_t
		if err := unix.Stat(from, &its); err != nil {
			return fmt.Errorf("init's network namespace: %w", err)
		}
		if unix.Stat("/proc/self/ns/net", &own) == nil && own.Ino == its.Ino && own.Dev == its.Dev {
			return fmt.Errorf("--network %s: init is in the host's network namespace", cr.net.Network)
		}
	}
	f, err := cr.net.Setup(from)
	if err != nil {
		return err
	}
	if initPid == nil {
		ready := make(chan netnsResult, 1)
		ready <- netnsResult{f: f}
		cr.netns = ready
	} else {
		f.Close()
	}
	cr.netAdded = make(chan error, 1)
	go func() { cr.netAdded <- cr.net.Add() }()
	return nil
}

// detachNetwork undoes a container's attachment. Preconditions: lock held.
func (c *Container) detachNetwork() error {
	if c.Slirp != nil {
		return c.Slirp.Stop()
	}
	if c.Network == nil {
		return nil
	}
	return c.Network.Teardown()
}

package libcontainer

import (
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/network"
)

// linux.netDevices: the host interfaces go into the container's network
// namespace as soon as it exists. When the parent makes it (no user
// namespace: the common case, and always with --network) that is before
// init is spawned; otherwise once init is ready, before the workload runs.
// delete moves them back under their host names while the namespace still
// exists (a physical device would come back by itself when it goes, but
// under its container name; a virtual one would be destroyed).

// netDevices is the spec's linux.netDevices as host name -> container name.
func netDevices(spec *specs.Spec) map[string]string {
	if spec.Linux == nil || len(spec.Linux.NetDevices) == 0 {
		return nil
	}
	devs := map[string]string{}
	for host, d := range spec.Linux.NetDevices {
		name := d.Name
		if name == "" {
			name = host
		}
		devs[host] = name
	}
	return devs
}

// checkNetDevices refuses netDevices without a network namespace of the
// container's, and devices that are not there, before anything exists.
func checkNetDevices(spec *specs.Spec) error {
	devs := netDevices(spec)
	if devs == nil {
		return nil
	}
	if !hasNS(spec, specs.NetworkNamespace) {
		return invalid("linux.netDevices: the container has no network namespace of its own to move them into")
	}
	names := map[string]string{}
	for host, name := range devs {
		if other, dup := names[name]; dup {
			return invalid("linux.netDevices: %q and %q both become %q", other, host, name)
		}
		names[name] = host
	}
	return network.CheckDevices(devs)
}

// moveDevicesLate moves the devices into init's namespace when the parent
// did not make it. Preconditions: init is ready (in its namespaces).
func (p *InitProcess) moveDevicesLate(cr *creation) error {
	c := p.Container
	if len(c.NetDevices) == 0 || cr.devicesMoved {
		return nil
	}
	ns, err := os.Open("/proc/" + strconv.Itoa(c.InitPID) + "/ns/net")
	if err != nil {
		return err
	}
	defer ns.Close()
	return network.MoveDevices(c.NetDevices, ns)
}

// returnDevices moves the container's devices back to the host, from the
// namespace of its init (or of its network attachment, which outlives
// init). What cannot be moved is logged: the container goes all the same.
func (c *Container) returnDevices() {
	if len(c.NetDevices) == 0 {
		return
	}
	var ns *os.File
	if fd, err := c.openInit(); err == nil {
		ns, _ = os.Open("/proc/" + strconv.Itoa(c.InitPID) + "/ns/net")
		unix.Close(fd)
	}
	if ns == nil && c.Network != nil {
		ns, _ = os.Open(c.Network.Netns)
	}
	if ns == nil {
		return // gone with its namespace: physical devices are back already
	}
	defer ns.Close()
	if err := network.ReturnDevices(c.NetDevices, ns); err != nil {
		logs.Warn(err)
	}
}

package cgroups

import (
	"fmt"

	occg "github.com/opencontainers/cgroups"
	devices "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultAllowedDevices are the device-cgroup rules every container gets after
// its own, so that the devices berth creates in /dev work (as runc does).
var defaultAllowedDevices = []*devices.Rule{
	{Type: devices.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true},                  // null
	{Type: devices.CharDevice, Major: 1, Minor: 5, Permissions: "rwm", Allow: true},                  // zero
	{Type: devices.CharDevice, Major: 1, Minor: 7, Permissions: "rwm", Allow: true},                  // full
	{Type: devices.CharDevice, Major: 1, Minor: 8, Permissions: "rwm", Allow: true},                  // random
	{Type: devices.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true},                  // urandom
	{Type: devices.CharDevice, Major: 5, Minor: 0, Permissions: "rwm", Allow: true},                  // tty
	{Type: devices.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true},                  // ptmx
	{Type: devices.CharDevice, Major: 136, Minor: devices.Wildcard, Permissions: "rwm", Allow: true}, // pts
}

// convertResources maps linux.resources onto the cgroup library's type. The
// device rules are the spec's, then the defaults, then one allowing each of
// linux.devices (the container gets those nodes, so it may use them).
func convertResources(r *specs.LinuxResources, devs []specs.LinuxDevice) (*occg.Resources, error) {
	out := &occg.Resources{}
	if r == nil {
		r = &specs.LinuxResources{}
	}
	for i, d := range r.Devices {
		rule, err := deviceRule(d)
		if err != nil {
			return nil, fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		out.Devices = append(out.Devices, rule)
	}
	out.Devices = append(out.Devices, defaultAllowedDevices...)
	for _, d := range devs {
		t := d.Type
		switch t {
		case "u":
			t = "c"
		case "p":
			continue // a FIFO: nothing for the device cgroup
		}
		major, minor := d.Major, d.Minor
		rule, err := deviceRule(specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &major, Minor: &minor, Access: "rwm"})
		if err != nil {
			return nil, fmt.Errorf("linux.devices %s: %w", d.Path, err)
		}
		out.Devices = append(out.Devices, rule)
	}
	setMemory(out, r.Memory)
	setCPU(out, r.CPU)
	if p := r.Pids; p != nil && p.Limit != nil {
		limit := *p.Limit
		if limit <= 0 {
			limit = -1 // the spec's "unlimited"
		}
		out.PidsLimit = &limit
	}
	setBlockIO(out, r.BlockIO)
	for _, h := range r.HugepageLimits {
		out.HugetlbLimit = append(out.HugetlbLimit, &occg.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			out.NetClsClassid = *n.ClassID
		}
		for _, p := range n.Priorities {
			out.NetPrioIfpriomap = append(out.NetPrioIfpriomap, &occg.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
		}
	}
	if len(r.Rdma) > 0 {
		out.Rdma = map[string]occg.LinuxRdma{}
		for k, v := range r.Rdma {
			out.Rdma[k] = occg.LinuxRdma{HcaHandles: v.HcaHandles, HcaObjects: v.HcaObjects}
		}
	}
	if len(r.Unified) > 0 {
		if !IsUnified() {
			return nil, fmt.Errorf("linux.resources.unified needs a cgroup v2 host; this host uses cgroup v1 controllers")
		}
		out.Unified = r.Unified
	}
	return out, nil
}

func deviceRule(d specs.LinuxDeviceCgroup) (*devices.Rule, error) {
	t := devices.WildcardDevice
	switch d.Type {
	case "", "a":
	case "c":
		t = devices.CharDevice
	case "b":
		t = devices.BlockDevice
	default:
		return nil, fmt.Errorf("type %q is not one of a, b, c", d.Type)
	}
	major, minor := int64(devices.Wildcard), int64(devices.Wildcard)
	if d.Major != nil {
		major = *d.Major
	}
	if d.Minor != nil {
		minor = *d.Minor
	}
	perm := devices.Permissions(d.Access)
	if perm == "" {
		perm = "rwm"
	}
	if !perm.IsValid() {
		return nil, fmt.Errorf("access %q is not a combination of r, w, m", d.Access)
	}
	return &devices.Rule{Type: t, Major: major, Minor: minor, Permissions: perm, Allow: d.Allow}, nil
}

func throttles(in []specs.LinuxThrottleDevice) []*occg.ThrottleDevice {
	var out []*occg.ThrottleDevice
	for _, t := range in {
		out = append(out, occg.NewThrottleDevice(t.Major, t.Minor, t.Rate))
	}
	return out
}

func setInt(dst *int64, v *int64) {
	if v != nil {
		*dst = *v
	}
}

func setUint(dst *uint64, v *uint64) {
	if v != nil {
		*dst = *v
	}
}

func setMemory(out *occg.Resources, m *specs.LinuxMemory) {
	if m == nil {
		return
	}
	setInt(&out.Memory, m.Limit)
	setInt(&out.MemoryReservation, m.Reservation)
	setInt(&out.MemorySwap, m.Swap)
	out.MemorySwappiness = m.Swappiness
	if m.DisableOOMKiller != nil {
		out.OomKillDisable = *m.DisableOOMKiller
	}
	if m.CheckBeforeUpdate != nil {
		out.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
	}
}

func setCPU(out *occg.Resources, c *specs.LinuxCPU) {
	if c == nil {
		return
	}
	setUint(&out.CpuShares, c.Shares)
	setInt(&out.CpuQuota, c.Quota)
	setUint(&out.CpuPeriod, c.Period)
	out.CpuBurst = c.Burst
	setInt(&out.CpuRtRuntime, c.RealtimeRuntime)
	setUint(&out.CpuRtPeriod, c.RealtimePeriod)
	out.CpusetCpus, out.CpusetMems = c.Cpus, c.Mems
	out.CPUIdle = c.Idle
}

func setBlockIO(out *occg.Resources, b *specs.LinuxBlockIO) {
	if b == nil {
		return
	}
	if b.Weight != nil {
		out.BlkioWeight = *b.Weight
	}
	if b.LeafWeight != nil {
		out.BlkioLeafWeight = *b.LeafWeight
	}
	for _, wd := range b.WeightDevice {
		var w, lw uint16
		if wd.Weight != nil {
			w = *wd.Weight
		}
		if wd.LeafWeight != nil {
			lw = *wd.LeafWeight
		}
		out.BlkioWeightDevice = append(out.BlkioWeightDevice, occg.NewWeightDevice(wd.Major, wd.Minor, w, lw))
	}
	out.BlkioThrottleReadBpsDevice = throttles(b.ThrottleReadBpsDevice)
	out.BlkioThrottleWriteBpsDevice = throttles(b.ThrottleWriteBpsDevice)
	out.BlkioThrottleReadIOPSDevice = throttles(b.ThrottleReadIOPSDevice)
	out.BlkioThrottleWriteIOPSDevice = throttles(b.ThrottleWriteIOPSDevice)
}

package libcontainer

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/rootfs"
	"github.com/berth-project/berth/seccomp"
)

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

// Features is the OCI features document for this build and host.
func Features() *features.Features {
	yes, no := true, false
	var ns []string
	for t := range nsFlag {
		ns = append(ns, string(t))
	}
	sort.Strings(ns)
	var caps []string
	for name := range capByName {
		caps = append(caps, name)
	}
	sort.Strings(caps)
	v2 := cgroups.IsUnified()
	v1 := !v2
	rdma := hostHasController("rdma")
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{hookPrestart, hookCreateRuntime, hookCreateContainer, hookStartContainer, hookPoststart, hookPoststop},
		MountOptions:  rootfs.KnownOptions(),
		Linux: &features.Linux{
			Namespaces:   ns,
			Capabilities: caps,
			// --systemd-cgroup: on v2 hosts, as root
			Cgroup: &features.Cgroup{V1: &v1, V2: &v2, Systemd: &v2, SystemdUser: &no, Rdma: &rdma},
			Seccomp: &features.Seccomp{
				Enabled: &yes, Actions: sorted(seccomp.Actions()), Operators: sorted(seccomp.Operators()),
				Archs: sorted(seccomp.Archs()), KnownFlags: sorted(seccomp.Flags()), SupportedFlags: sorted(seccomp.SupportedFlags()),
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			MemoryPolicy:    &features.MemoryPolicy{Modes: memoryPolicyModes(), Flags: memoryPolicyFlags()},
			NetDevices:      &features.NetDevices{Enabled: &yes},
		},
		Annotations: map[string]string{"io.github.berth-project.berth.version": "see berth --version"},
	}
}

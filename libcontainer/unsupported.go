package libcontainer

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/rootfs"
)

// A runtime must never ignore a setting it cannot honour: each config field
// berth decodes but does not carry out is refused here, naming the field,
// rather than left to run the container without it.

// validateUnsupported refuses the container-wide fields berth does not
// implement (process fields: validateProcessUnsupported).
func validateUnsupported(s *specs.Spec) error {
	for i, m := range s.Mounts {
		if err := validateMountIdmap(s, i, m); err != nil {
			return err
		}
	}
	l := s.Linux
	if l.IntelRdt != nil {
		return invalid("linux.intelRdt is set, but berth does not support Intel RDT (resctrl)")
	}
	if l.MemoryPolicy != nil {
		if err := validateMemoryPolicy(l.MemoryPolicy); err != nil {
			return err
		}
	}
	if l.MountLabel != "" && !selinuxEnabled() {
		return invalid("linux.mountLabel is set, but SELinux is disabled or not supported on this host")
	}
	if p := l.Personality; p != nil {
		for _, f := range p.Flags {
			if _, ok := personalityFlags[f]; !ok {
				return invalid("linux.personality.flags: unknown flag %q", f)
			}
		}
	}
	return validateResourcesUnsupported(l.Resources)
}

// validateMountIdmap checks an idmapped mount (rootfs/idmap_linux.go):
// a bind mount, with both maps or neither (then the container's user
// namespace gives them).
func validateMountIdmap(s *specs.Spec, i int, m specs.Mount) error {
	idmapped, _ := rootfs.Idmapped(m)
	if !idmapped {
		return nil
	}
	field := fmt.Sprintf("mounts[%d]", i)
	if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
		return invalid("%s (%s): an idmapped mount needs both uidMappings and gidMappings", field, m.Destination)
	}
	if m.Type != "bind" && !hasOption(m.Options, "bind") && !hasOption(m.Options, "rbind") {
		return invalid("%s (%s): only bind mounts can be idmapped, not type %q", field, m.Destination, m.Type)
	}
	if len(m.UIDMappings) == 0 && !hasNS(s, specs.UserNamespace) {
		return invalid("%s (%s): option idmap/ridmap without uidMappings/gidMappings needs a user namespace to take them from", field, m.Destination)
	}
	if err := validateIDMappings(field+".uidMappings", m.UIDMappings); err != nil {
		return err
	}
	return validateIDMappings(field+".gidMappings", m.GIDMappings)
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

func validateResourcesUnsupported(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) && cgroups.IsUnified() {
		return invalid("linux.resources.network is set, but cgroup v2 has no net_cls/net_prio controllers")
	}
	if len(r.Rdma) > 0 && !hostHasController("rdma") {
		return invalid("linux.resources.rdma is set, but this host's kernel has no rdma cgroup controller")
	}
	return nil
}

// validateProcessUnsupported refuses the process fields berth does not
// implement (for run and exec).
func validateProcessUnsupported(p *specs.Process) error {
	return validateCPUAffinity(p.ExecCPUAffinity)
}

// hostHasController reports whether the kernel has cgroup controller name
// (/proc/cgroups lists every controller built in, mounted or not).
func hostHasController(name string) bool {
	f, err := os.Open("/proc/cgroups")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 && fs[0] == name {
			return true
		}
	}
	return false
}

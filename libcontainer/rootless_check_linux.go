package libcontainer

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// What an unprivileged caller's container cannot have is refused before
// anything is made, each time naming the config field and rootless mode.
// Device nodes are not among them: init binds the host's nodes in a user
// namespace, as runc does (rootfs/dev_linux.go).

// checkRootless refuses what an unprivileged caller cannot have.
func checkRootless(b *Bundle) error {
	s := b.Spec
	if !unprivileged() {
		return nil
	}
	if autoUserNS(s) {
		b.Raw = nil // re-encoded for state.json and the plan
	}
	if nsPath(s, specs.UserNamespace) == "" {
		if err := checkRootlessIDMaps(s.Linux); err != nil {
			return err
		}
		if err := checkRootlessUser(s); err != nil {
			return err
		}
	}
	if rewritten, err := checkRootlessMounts(s); err != nil {
		return err
	} else if rewritten {
		b.Raw = nil // re-encoded for state.json and the plan
	}
	if len(s.Linux.NetDevices) > 0 {
		return invalid("linux.netDevices: rootless mode: moving a host network device into the container needs CAP_NET_ADMIN on the host")
	}
	if err := checkRootlessDevices(s.Linux.Devices); err != nil {
		return err
	}
	return checkRootlessProcess(s.Process)
}

// checkRootlessDevices refuses a device that cannot be bound from the host
// in place of the node a user namespace cannot make: the host has no such
// node at that path, or a different one.
func checkRootlessDevices(devs []specs.LinuxDevice) error {
	for i, d := range devs {
		var st unix.Stat_t
		what := fmt.Sprintf("linux.devices[%d] %s: rootless mode: a device node cannot be made in a user namespace, so the host's is bound instead, but", i, d.Path)
		if err := unix.Stat(d.Path, &st); err != nil {
			return invalid("%s the host has none (%v)", what, err)
		}
		typ := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b", unix.S_IFIFO: "p"}[st.Mode&unix.S_IFMT]
		want := d.Type
		if want == "u" {
			want = "c"
		}
		if typ != want || (typ != "p" && (int64(unix.Major(st.Rdev)) != d.Major || int64(unix.Minor(st.Rdev)) != d.Minor)) {
			return invalid("%s the host's is a different device (%s %d:%d, not %s %d:%d)", what, typ, unix.Major(st.Rdev), unix.Minor(st.Rdev), d.Type, d.Major, d.Minor)
		}
	}
	return nil
}

// checkRootlessUser refuses a process user the namespace cannot have.
func checkRootlessUser(s *specs.Spec) error {
	u := s.Process.User
	if !mapped(s.Linux.UIDMappings, u.UID) {
		return invalid("process.user.uid %d: rootless mode: not mapped by linux.uidMappings", u.UID)
	}
	if !mapped(s.Linux.GIDMappings, u.GID) {
		return invalid("process.user.gid %d: rootless mode: not mapped by linux.gidMappings", u.GID)
	}
	if len(u.AdditionalGids) > 0 && ownIDOnly(s.Linux.GIDMappings, os.Getegid()) {
		return invalid("process.user.additionalGids: rootless mode: with only the user's own gid mapped the kernel denies setgroups (map a range from /etc/subgid in linux.gidMappings)")
	}
	for _, g := range u.AdditionalGids {
		if !mapped(s.Linux.GIDMappings, g) {
			return invalid("process.user.additionalGids: gid %d: rootless mode: not mapped by linux.gidMappings", g)
		}
	}
	return nil
}

func mapped(maps []specs.LinuxIDMapping, id uint32) bool {
	for _, m := range maps {
		if uint64(id) >= uint64(m.ContainerID) && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// userNSMountable are the filesystem types the kernel lets a user
// namespace's root mount (FS_USERNS_MOUNT); "bind" mounts are allowed too.
var userNSMountable = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devpts": true, "mqueue": true, "cgroup": true,
	"cgroup2": true, "overlay": true, "fuse": true, "ramfs": true, "binfmt_misc": true,
}

// checkRootlessMounts refuses mounts the kernel refuses an unprivileged
// user, and rewrites a sysfs that cannot be mounted into a bind of the
// host's /sys, as runc does (reported by rewritten).
func checkRootlessMounts(s *specs.Spec) (rewritten bool, err error) {
	newNS := func(t specs.LinuxNamespaceType) bool { return hasNS(s, t) && nsPath(s, t) == "" }
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if isBindMount(m) {
			continue
		}
		typ := strings.SplitN(m.Type, ".", 2)[0] // fuse.sshfs
		field := fmt.Sprintf("mounts[%d] (%s on %s)", i, m.Type, m.Destination)
		switch {
		case !userNSMountable[typ]:
			return false, invalid("%s: rootless mode: the kernel does not let an unprivileged user mount a %s filesystem (mount it on the host and bind it in)", field, m.Type)
		case typ == "proc" && !newNS(specs.PIDNamespace):
			return false, invalid("%s: rootless mode: proc can be mounted only in a PID namespace of the container's own", field)
		case typ == "mqueue" && !newNS(specs.IPCNamespace):
			return false, invalid("%s: rootless mode: mqueue can be mounted only in an ipc namespace of the container's own", field)
		case typ == "sysfs" && !newNS(specs.NetworkNamespace):
			// The kernel wants a network namespace of the user's own.
			*m = specs.Mount{Destination: m.Destination, Type: "none", Source: "/sys", Options: append([]string{"rbind"}, m.Options...)}
			rewritten = true
			continue
		}
		for _, o := range m.Options {
			k, v, _ := strings.Cut(o, "=")
			id, err := strconv.ParseUint(v, 10, 32)
			if err != nil || (k != "uid" && k != "gid") {
				continue
			}
			maps := s.Linux.UIDMappings
			if k == "gid" {
				maps = s.Linux.GIDMappings
			}
			if nsPath(s, specs.UserNamespace) == "" && !mapped(maps, uint32(id)) {
				return false, invalid("%s: option %s: rootless mode: %s %d is not mapped in the user namespace", field, o, k, id)
			}
		}
	}
	return rewritten, nil
}

func isBindMount(m *specs.Mount) bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// checkRootlessProcess refuses process settings only the host's root may
// raise: an oom_score_adj below the caller's, rlimits above its hard ones.
func checkRootlessProcess(p *specs.Process) error {
	if p.OOMScoreAdj != nil {
		data, err := os.ReadFile("/proc/self/oom_score_adj")
		cur, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && *p.OOMScoreAdj < cur {
			return invalid("process.oomScoreAdj %d: rootless mode: below the caller's own (%d), which needs CAP_SYS_RESOURCE on the host", *p.OOMScoreAdj, cur)
		}
	}
	for _, rl := range p.Rlimits {
		res, ok := rlimitByName[rl.Type]
		if !ok {
			continue // refused by name elsewhere
		}
		var cur unix.Rlimit
		if unix.Getrlimit(res, &cur) == nil && rl.Hard > cur.Max {
			return invalid("process.rlimits %s: rootless mode: hard limit %d is above the caller's own (%d), which needs CAP_SYS_RESOURCE on the host", rl.Type, rl.Hard, cur.Max)
		}
	}
	return nil
}

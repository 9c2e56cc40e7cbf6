package libcontainer

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// User namespace maps for an unprivileged caller. The kernel lets a process
// without CAP_SETUID on the host write one map line only: its own id, size 1,
// and for gid_map only once setgroups is "deny". Anything more goes through
// the setuid helpers newuidmap/newgidmap (Debian's uidmap), which allow the
// caller's own id and the ranges /etc/subuid and /etc/subgid give it. berth
// checks the ranges itself first, so that a range the user does not own is
// refused before anything is made, with the range named.

// ownIDOnly reports whether m maps exactly one id, the caller's own.
func ownIDOnly(m []specs.LinuxIDMapping, own int) bool {
	return len(m) == 1 && m[0].Size == 1 && int(m[0].HostID) == own
}

// needsIDMapHelper reports whether an unprivileged caller needs
// newuidmap/newgidmap for the container's maps.
func needsIDMapHelper(l *specs.Linux) bool {
	return unprivileged() && (!ownIDOnly(l.UIDMappings, os.Geteuid()) || !ownIDOnly(l.GIDMappings, os.Getegid()))
}

// checkRootlessIDMaps refuses, up front, maps an unprivileged caller may
// not write: a host range that is neither its own id nor inside its
// /etc/subuid or /etc/subgid ranges.
func checkRootlessIDMaps(l *specs.Linux) error {
	if !unprivileged() {
		return nil
	}
	name, _ := userName(os.Geteuid())
	for _, f := range []struct {
		field, file string
		maps        []specs.LinuxIDMapping
		own         int
	}{
		{"linux.uidMappings", "/etc/subuid", l.UIDMappings, os.Geteuid()},
		{"linux.gidMappings", "/etc/subgid", l.GIDMappings, os.Getegid()},
	} {
		if len(f.maps) == 0 {
			return invalid("%s: rootless mode: a new user namespace needs a map (berth spec --rootless writes one)", f.field)
		}
		if ownIDOnly(f.maps, f.own) {
			continue
		}
		ranges, err := subIDRanges(f.file, name, strconv.Itoa(os.Geteuid()))
		if err != nil {
			return err
		}
		ranges = append(ranges, idRange{uint64(f.own), 1})
		for _, m := range f.maps {
			if !covered(ranges, uint64(m.HostID), uint64(m.Size)) {
				return invalid("%s: rootless mode: host ids %d-%d (container %d, size %d) are not the user's own id (%d) nor in its ranges in %s",
					f.field, m.HostID, uint64(m.HostID)+uint64(m.Size)-1, m.ContainerID, m.Size, f.own, f.file)
			}
		}
		if _, err := exec.LookPath(helperFor(f.file)); err != nil {
			return fmt.Errorf("%s: rootless mode: maps beyond the user's own id need %s (Debian's uidmap package): %w", f.field, helperFor(f.file), err)
		}
	}
	return nil
}

func helperFor(file string) string {
	if strings.HasSuffix(file, "subuid") {
		return "newuidmap"
	}
	return "newgidmap"
}

type idRange struct{ start, size uint64 }

// covered reports whether [start, start+size) lies inside one of ranges
// (shadow's newuidmap wants each map line inside one allowed range).
func covered(ranges []idRange, start, size uint64) bool {
	for _, r := range ranges {
		if size > 0 && start >= r.start && start+size <= r.start+r.size {
			return true
		}
	}
	return false
}

// subIDRanges reads the ranges of name (or its numeric uid) from an
// /etc/subuid-style file: "owner:start:count" lines.
func subIDRanges(file, name, uid string) ([]idRange, error) {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("rootless: %w", err)
	}
	var out []idRange
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || (f[0] != name && f[0] != uid) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		size, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, idRange{start, size})
		}
	}
	return out, nil
}

// writeIDMapsRootless writes init's maps as an unprivileged caller: its own
// id directly (setgroups "deny" first, as the kernel requires for gid_map),
// anything more through newuidmap/newgidmap.
// Preconditions: checkRootlessIDMaps passed; pid waits in its new user
// namespace (nsenter's "idmap" message).
func writeIDMapsRootless(pid int, l *specs.Linux) error {
	dir := "/proc/" + strconv.Itoa(pid)
	if ownIDOnly(l.UIDMappings, os.Geteuid()) {
		if err := os.WriteFile(dir+"/uid_map", formatIDMap(l.UIDMappings), 0); err != nil {
			return fmt.Errorf("linux.uidMappings: %w", unwrapPathErr(err))
		}
	} else if err := runIDMapHelper("newuidmap", "linux.uidMappings", pid, l.UIDMappings); err != nil {
		return err
	}
	if ownIDOnly(l.GIDMappings, os.Getegid()) {
		if err := os.WriteFile(dir+"/setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: setgroups: %w", unwrapPathErr(err))
		}
		if err := os.WriteFile(dir+"/gid_map", formatIDMap(l.GIDMappings), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: %w", unwrapPathErr(err))
		}
		return nil
	}
	return runIDMapHelper("newgidmap", "linux.gidMappings", pid, l.GIDMappings)
}

func runIDMapHelper(helper, field string, pid int, maps []specs.LinuxIDMapping) error {
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	out, err := exec.Command(helper, args...).CombinedOutput()
	if err != nil {
		msg := strings.Join(strings.Fields(string(out)), " ")
		return fmt.Errorf("%s: rootless mode: %s %s: %w: %s", field, helper, strings.Join(args[1:], " "), err, msg)
	}
	return nil
}

func formatIDMap(m []specs.LinuxIDMapping) []byte {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return []byte(b.String())
}

// autoUserNS gives an unprivileged caller's container the user namespace
// it needs, as crun does, when the config has none, or maps for a new one
// that has none: the caller's own ids map to 0, and its /etc/subuid and
// /etc/subgid ranges follow from 1 (when newuidmap/newgidmap are there).
// It reports whether it changed the spec.
func autoUserNS(s *specs.Spec) bool {
	if !hasNS(s, specs.UserNamespace) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	} else if nsPath(s, specs.UserNamespace) != "" || len(s.Linux.UIDMappings) > 0 {
		return false
	}
	s.Linux.UIDMappings = autoIDMap(os.Geteuid(), "/etc/subuid", "newuidmap")
	s.Linux.GIDMappings = autoIDMap(os.Getegid(), "/etc/subgid", "newgidmap")
	return true
}

// AutoIDMaps are the uid and gid maps autoUserNS gives an unprivileged
// caller's container (the image store unpacks its layers under them).
func AutoIDMaps() (uids, gids []specs.LinuxIDMapping) {
	return autoIDMap(os.Geteuid(), "/etc/subuid", "newuidmap"), autoIDMap(os.Getegid(), "/etc/subgid", "newgidmap")
}

func autoIDMap(own int, file, helper string) []specs.LinuxIDMapping {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(own), Size: 1}}
	if _, err := exec.LookPath(helper); err != nil {
		return maps
	}
	name, _ := userName(os.Geteuid())
	ranges, _ := subIDRanges(file, name, strconv.Itoa(os.Geteuid()))
	next := uint64(1)
	for _, r := range ranges {
		if next+r.size > 1<<32-1 {
			break
		}
		maps = append(maps, specs.LinuxIDMapping{ContainerID: uint32(next), HostID: uint32(r.start), Size: uint32(r.size)})
		next += r.size
	}
	return maps
}

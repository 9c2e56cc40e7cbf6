package libcontainer

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// User-namespace id mappings and the ids a process may take.

// maxIDMapLines is the kernel's limit on the lines of uid_map and gid_map
// (340 since Linux 4.15).
const maxIDMapLines = 340

// unchangedID is (uid_t)-1: setresuid and setresgid read it as "leave this
// id as it is", so a process asking for it would stay root.
const unchangedID = math.MaxUint32

// validateIDMappings checks linux.uidMappings or linux.gidMappings (field)
// as the kernel will when they are written, so that a bad one is named
// here instead of failing init's start with EINVAL.
func validateIDMappings(field string, maps []specs.LinuxIDMapping) error {
	if len(maps) > maxIDMapLines {
		return invalid("%s: %d entries, the kernel takes at most %d", field, len(maps), maxIDMapLines)
	}
	// The map is written in one write(2), which the kernel takes only
	// below a page.
	size := 0
	for _, m := range maps {
		size += len(fmt.Sprintf("%d %d %d\n", m.ContainerID, m.HostID, m.Size))
	}
	if size >= os.Getpagesize() {
		return invalid("%s: %d entries take %d bytes as a map, the kernel takes less than %d", field, len(maps), size, os.Getpagesize())
	}
	for i, m := range maps {
		if m.Size == 0 {
			return invalid("%s[%d]: size is 0", field, i)
		}
		// The kernel refuses a range that reaches (uid_t)-1.
		if uint64(m.ContainerID)+uint64(m.Size) > math.MaxUint32 {
			return invalid("%s[%d]: containerID %d + size %d goes past the largest id, %d", field, i, m.ContainerID, m.Size, uint32(math.MaxUint32-1))
		}
		if uint64(m.HostID)+uint64(m.Size) > math.MaxUint32 {
			return invalid("%s[%d]: hostID %d + size %d goes past the largest id, %d", field, i, m.HostID, m.Size, uint32(math.MaxUint32-1))
		}
		for j, o := range maps[:i] {
			if overlap(m.ContainerID, m.Size, o.ContainerID, o.Size) {
				return invalid("%s[%d]: its containerID range overlaps that of %s[%d]", field, i, field, j)
			}
			if overlap(m.HostID, m.Size, o.HostID, o.Size) {
				return invalid("%s[%d]: its hostID range overlaps that of %s[%d]", field, i, field, j)
			}
		}
	}
	return nil
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

// validateUserIDs refuses (uid_t)-1 as process.user.uid, gid or an
// additional gid, wherever the process comes from.
func validateUserIDs(u specs.User) error {
	if u.UID == unchangedID {
		return invalid("process.user.uid %d is (uid_t)-1, which means \"unchanged\" to setresuid: the process would stay root", u.UID)
	}
	if u.GID == unchangedID {
		return invalid("process.user.gid %d is (gid_t)-1, which means \"unchanged\" to setresgid: the process would stay in group root", u.GID)
	}
	for i, g := range u.AdditionalGids {
		if g == unchangedID {
			return invalid("process.user.additionalGids[%d] %d is (gid_t)-1, not a group", i, g)
		}
	}
	return nil
}

// validateUserMapped refuses ids that the container's user namespace does
// not map (uids by uidMaps, gids by gidMaps): the process cannot take them.
func validateUserMapped(u specs.User, uidMaps, gidMaps []specs.LinuxIDMapping) error {
	if !idMapped(uidMaps, u.UID) {
		return invalid("process.user.uid %d is not mapped by the user namespace's linux.uidMappings", u.UID)
	}
	if !idMapped(gidMaps, u.GID) {
		return invalid("process.user.gid %d is not mapped by the user namespace's linux.gidMappings", u.GID)
	}
	for i, g := range u.AdditionalGids {
		if !idMapped(gidMaps, g) {
			return invalid("process.user.additionalGids[%d] %d is not mapped by the user namespace's linux.gidMappings", i, g)
		}
	}
	return nil
}

func idMapped(maps []specs.LinuxIDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return true
		}
	}
	return false
}

// readIDMap reads a uid_map or gid_map of /proc: the kernel's view of a
// user namespace that exists.
func readIDMap(path string) ([]specs.LinuxIDMapping, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var maps []specs.LinuxIDMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		var n [3]uint32
		for i, s := range fields {
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
			}
			n[i] = uint32(v)
		}
		maps = append(maps, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return maps, sc.Err()
}

// validateUserMappedIn is validateUserMapped against the user namespace of
// process pid (a running container's init), as the kernel maps it.
func validateUserMappedIn(pid int, u specs.User) error {
	dir := "/proc/" + strconv.Itoa(pid)
	uidMaps, err := readIDMap(dir + "/uid_map")
	if err != nil {
		return fmt.Errorf("read the container's uid map: %w", err)
	}
	gidMaps, err := readIDMap(dir + "/gid_map")
	if err != nil {
		return fmt.Errorf("read the container's gid map: %w", err)
	}
	return validateUserMapped(u, uidMaps, gidMaps)
}

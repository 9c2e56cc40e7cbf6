package rootfs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/mountinfo"
)

// UnmountUnder lazily unmounts every mount at or below rootfs in the
// caller's mount table, deepest first: what a container without a mount
// namespace of its own left there (see Config.SharedMountNS). It returns
// how many it unmounted.
func UnmountUnder(rootfs string) int {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	mounts, err := mountinfo.Parse(f)
	if err != nil {
		return 0
	}
	root := filepath.Clean(rootfs)
	var points []string
	for _, m := range mounts {
		if m.Mountpoint == root || strings.HasPrefix(m.Mountpoint, root+"/") {
			points = append(points, m.Mountpoint)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	n := 0
	for _, mp := range points {
		if unix.Unmount(mp, unix.MNT_DETACH) == nil {
			n++
		}
	}
	return n
}

package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/mountinfo"
)

// The host's cgroup layout: which mode, where each hierarchy is mounted,
// and the cgroups berth itself runs in. parseLayout computes it from
// mountinfo and /proc/self/cgroup alone; the process reads its own once.

const cgroupRoot = "/sys/fs/cgroup"

// v1Controllers are the v1 hierarchies a container gets a directory in
// when the host mounts them ("name=systemd" is systemd's named hierarchy).
var v1Controllers = []string{
	"cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "pids", "blkio",
	"hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd",
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mountpoint string
	root       string // the cgroup the mount shows at its top (mountinfo's root)
}

// layout is the host's cgroup layout.
type layout struct {
	unified bool                 // cgroup v2 only: a cgroup2 mount at cgroupRoot
	v2      *hierarchy           // the cgroup2 mount: cgroupRoot, or cgroupRoot/unified on a hybrid host; nil if none
	v1      map[string]hierarchy // by controller; empty on a v2 host
	own     map[string]string    // /proc/self/cgroup: controller ("" for v2) -> path
}

// hybrid reports v1 controllers with a cgroup2 mount beside them.
func (l *layout) hybrid() bool { return !l.unified && l.v2 != nil }

var host struct {
	once sync.Once
	*layout
	err error
}

func loadHost() error {
	host.once.Do(func() {
		mi, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			host.err = err
			return
		}
		defer mi.Close()
		own, err := os.Open("/proc/self/cgroup")
		if err != nil {
			host.err = err
			return
		}
		defer own.Close()
		host.layout, host.err = parseLayout(mi, own)
	})
	return host.err
}

// IsUnified reports whether the host runs cgroup v2 only.
func IsUnified() bool {
	return loadHost() == nil && host.unified
}

// parseLayout reads the layout from a mountinfo and a /proc/self/cgroup.
// The last mount at a mount point is the one seen there. A v1 controller
// mounted more than once is taken from its first mount below cgroupRoot,
// or else its first mount.
func parseLayout(mountinfoR, procCgroup io.Reader) (*layout, error) {
	mounts, err := mountinfo.Parse(mountinfoR)
	if err != nil {
		return nil, err
	}
	l := &layout{v1: map[string]hierarchy{}}
	var atRoot, atUnified *mountinfo.Info
	for i, m := range mounts {
		switch m.Mountpoint {
		case cgroupRoot:
			atRoot = &mounts[i]
		case cgroupRoot + "/unified":
			atUnified = &mounts[i]
		}
	}
	switch {
	case atRoot != nil && atRoot.FSType == "cgroup2":
		l.unified, l.v2 = true, &hierarchy{mountpoint: cgroupRoot, root: atRoot.Root}
	case atUnified != nil && atUnified.FSType == "cgroup2":
		l.v2 = &hierarchy{mountpoint: atUnified.Mountpoint, root: atUnified.Root}
	}
	if !l.unified {
		l.v1 = v1Mounts(mounts)
	}
	if l.v2 == nil && len(l.v1) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted at " + cgroupRoot)
	}
	if l.own, err = parseProcCgroup(procCgroup); err != nil {
		return nil, err
	}
	return l, nil
}

func v1Mounts(mounts []mountinfo.Info) map[string]hierarchy {
	out := map[string]hierarchy{}
	for _, pass := range []func(string) bool{
		func(mp string) bool { return strings.HasPrefix(mp, cgroupRoot+"/") },
		func(string) bool { return true },
	} {
		for _, m := range mounts {
			if m.FSType != "cgroup" || !pass(m.Mountpoint) {
				continue
			}
			for _, opt := range strings.Split(m.VFSOptions, ",") {
				if _, seen := out[opt]; !seen && slices.Contains(v1Controllers, opt) {
					out[opt] = hierarchy{mountpoint: m.Mountpoint, root: m.Root}
				}
			}
		}
	}
	return out
}

// parseProcCgroup parses /proc/self/cgroup ("4:cpu,cpuacct:/a/b", "0::/x").
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return out, nil
}

// paths maps each controller to the container's directory ("" is the
// unified hierarchy: the only one on a v2 host, the controller-less one on
// a hybrid host). inner is a lexically clean cgroupsPath (cleanPath): an
// absolute one is taken from each hierarchy's top; a relative one from the
// cgroup berth runs in there, as runc does. Every directory is checked to
// be below its hierarchy's mount.
func (l *layout) paths(inner string) (map[string]string, error) {
	paths := map[string]string{}
	add := func(ctrl string, h hierarchy) error {
		p := filepath.Join(h.mountpoint, inner)
		if !filepath.IsAbs(inner) {
			own, ok := l.own[ctrl]
			if !ok {
				return fmt.Errorf("/proc/self/cgroup has no %q line", ctrl)
			}
			p = filepath.Join(h.mountpoint, ownBelow(h.root, own), inner)
		}
		if p == h.mountpoint {
			return fmt.Errorf("names the top of the cgroup hierarchy %s, which holds the host's processes", p)
		}
		if !within(h.mountpoint, p) {
			return fmt.Errorf("%s is not below the cgroup hierarchy %s", p, h.mountpoint)
		}
		paths[ctrl] = p
		return nil
	}
	if l.v2 != nil {
		if err := add("", *l.v2); err != nil {
			return nil, err
		}
	}
	if l.unified {
		return paths, nil
	}
	if _, ok := l.v1["devices"]; !ok {
		// Without it nothing keeps the container from the host's devices.
		return nil, fmt.Errorf("the devices cgroup controller is not mounted")
	}
	for ctrl, h := range l.v1 {
		if err := add(ctrl, h); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// ownBelow is where berth's own cgroup own is below a mount whose top is the
// cgroup root: "." when it is not below it (outside a cgroup namespace's
// view, shown with "..", or above the mount's top).
func ownBelow(root, own string) string {
	if hasDotDot(root) || hasDotDot(own) || !filepath.IsAbs(own) {
		return "."
	}
	rel, err := filepath.Rel(root, own)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "."
	}
	return rel
}

func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

// within reports whether the clean absolute path p is dir or below it.
func within(dir, p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && (p == dir || strings.HasPrefix(p, dir+"/") || dir == "/")
}

// mountOf is the hierarchy a recorded path of ctrl must be below.
func (l *layout) mountOf(ctrl string) (hierarchy, bool) {
	if ctrl == "" {
		if l.v2 == nil {
			return hierarchy{}, false
		}
		return *l.v2, true
	}
	h, ok := l.v1[ctrl]
	return h, ok
}

// checkRecorded refuses recorded paths (state.json) that are not each
// strictly below the mount of its hierarchy on this host.
func (l *layout) checkRecorded(paths map[string]string) error {
	if _, v1 := paths["devices"]; l.unified && (v1 || len(paths) != 1) {
		return fmt.Errorf("cgroup v2 host, but %d cgroup paths recorded: %v", len(paths), paths)
	}
	for ctrl, p := range paths {
		h, ok := l.mountOf(ctrl)
		if !ok {
			return fmt.Errorf("recorded cgroup path %s: this host does not mount the %q hierarchy", p, ctrl)
		}
		if !within(h.mountpoint, p) || p == h.mountpoint {
			return fmt.Errorf("recorded cgroup path %s is not below the cgroup hierarchy %s", p, h.mountpoint)
		}
	}
	return nil
}

// cleanPath is linux.cgroupsPath made lexically clean as runc does
// (LexicallyCleanPath): a relative path is cleaned as if below "/" and made
// relative again, so that ".." cannot climb above where it starts.
func cleanPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	rel, _ := filepath.Rel("/", filepath.Clean("/"+p))
	return rel
}

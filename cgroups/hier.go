package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The host's cgroup layout: which mode, where each v1 hierarchy is mounted,
// and the cgroups berth itself runs in. Each is read once per process.

const cgroupRoot = "/sys/fs/cgroup"

// v1Controllers are the v1 hierarchies a container gets a directory in
// when the host mounts them ("name=systemd" is systemd's named hierarchy).
var v1Controllers = []string{
	"cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "pids", "blkio",
	"hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd",
}

// hierarchy is one mounted v1 hierarchy.
type hierarchy struct {
	mountpoint string
	root       string // the cgroup the mount shows at its top (mountinfo's root)
}

var host struct {
	once    sync.Once
	unified bool                 // cgroup v2 only
	hybrid  bool                 // v1 controllers and a cgroup2 mount at cgroupRoot/unified
	v1      map[string]hierarchy // by controller
	own     map[string]string    // /proc/self/cgroup: controller ("" for v2) -> path
	err     error
}

func loadHost() error {
	host.once.Do(func() {
		var st unix.Statfs_t
		if err := unix.Statfs(cgroupRoot, &st); err != nil {
			host.err = &os.PathError{Op: "statfs", Path: cgroupRoot, Err: err}
			return
		}
		host.unified = st.Type == unix.CGROUP2_SUPER_MAGIC
		if !host.unified {
			host.hybrid = unix.Statfs(cgroupRoot+"/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
			if host.v1, host.err = readV1Mounts(); host.err != nil {
				return
			}
		}
		host.own, host.err = readOwnCgroups()
	})
	return host.err
}

// IsUnified reports whether the host runs cgroup v2 only.
func IsUnified() bool {
	loadHost()
	return host.unified
}

// readV1Mounts finds the v1 hierarchies in /proc/self/mountinfo.
func readV1Mounts() (map[string]hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]hierarchy{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 0:30 /root /sys/fs/cgroup/cpu rw,... shared:1 - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 || tail[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(tail[2], ",") {
			if _, seen := out[opt]; !seen && isV1Controller(opt) {
				out[opt] = hierarchy{mountpoint: unescapeOctal(fields[4]), root: unescapeOctal(fields[3])}
			}
		}
	}
	return out, sc.Err()
}

func isV1Controller(name string) bool {
	for _, c := range v1Controllers {
		if c == name {
			return true
		}
	}
	return false
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readOwnCgroups parses /proc/self/cgroup ("4:memory:/a/b", "0::/x").
func readOwnCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// resolvePaths maps each controller to the container's directory ("" is the
// unified hierarchy: the only one on a v2 host, the controller-less one on a
// hybrid host). An absolute inner path is taken from each hierarchy's top;
// a relative one from the cgroup berth runs in there, as runc does.
func resolvePaths(inner string) (map[string]string, error) {
	if err := loadHost(); err != nil {
		return nil, err
	}
	under := func(mountpoint, mountRoot, ctrl string) (string, error) {
		if filepath.IsAbs(inner) {
			return filepath.Join(mountpoint, inner), nil
		}
		own, ok := host.own[ctrl]
		if !ok {
			return "", fmt.Errorf("/proc/self/cgroup has no %q line", ctrl)
		}
		rel, err := filepath.Rel(mountRoot, own)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "." // berth's own cgroup is above the mount's top
		}
		return filepath.Join(mountpoint, rel, inner), nil
	}
	paths := map[string]string{}
	if host.unified || host.hybrid {
		mnt := cgroupRoot
		if host.hybrid {
			mnt += "/unified"
		}
		p, err := under(mnt, "/", "")
		if err != nil {
			return nil, err
		}
		paths[""] = p
	}
	if host.unified {
		return paths, nil
	}
	if _, ok := host.v1["devices"]; !ok {
		// Without it nothing keeps the container from the host's devices.
		return nil, fmt.Errorf("the devices cgroup controller is not mounted")
	}
	for ctrl, h := range host.v1 {
		p, err := under(h.mountpoint, h.root, ctrl)
		if err != nil {
			return nil, err
		}
		paths[ctrl] = p
	}
	return paths, nil
}

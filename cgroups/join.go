package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// How a process gets into its cgroup without waiting on the kernel.
//
// Writing a PID to cgroup.procs takes the kernel's global
// cgroup_threadgroup_rwsem for writing, and that waits for an RCU grace
// period: 9-20 ms on these machines, on every create and exec. Two ways in
// skip that lock:
//   - on a cgroup v1 hierarchy, a thread writing "0" to a cgroup's tasks file
//     moves only itself, and the kernel takes no global lock for that
//     (Linux 6.0, "cgroup: Optimize single thread migration"). The thread
//     that later execs the workload does it (JoinFiles), so the workload
//     starts wholly inside, as every thread after the exec is its;
//   - on a cgroup v2 hierarchy, clone3(CLONE_INTO_CGROUP) starts the
//     process inside (CloneDir).

// JoinFiles opens the tasks file of the cgroup (or of sub, below it) in
// every cgroup v1 hierarchy, for writing. It returns none on a cgroup v2
// host. The named hierarchies (name=systemd, misc), which berth joins only
// where they exist, are skipped when their directory is missing, as Prepare
// skips them.
func (m *Manager) JoinFiles(sub string) ([]*os.File, error) {
	if IsUnified() {
		return nil, nil
	}
	paths := m.paths
	var files []*os.File
	for _, ctrl := range joinOrder(paths) {
		path, err := subPath(paths[ctrl], sub)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(path, "tasks"), os.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			if optional(ctrl) {
				continue
			}
			closeAll(files)
			return nil, fmt.Errorf("join cgroup: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

// CloneDir opens, for clone3(CLONE_INTO_CGROUP), the cgroup v2 directory a
// process (an exec's) is to start in: on a v2 host the cgroup itself (or
// sub, below it); on a hybrid host the cgroup's directory in the unified
// hierarchy, where a missing one is skipped (as Prepare skips it). It
// returns nil where there is none.
func (m *Manager) CloneDir(sub string) (*os.File, error) {
	dir, ok := m.paths[""]
	if !ok {
		return nil, nil
	}
	path, err := subPath(dir, sub)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if !IsUnified() {
			return nil, nil
		}
		return nil, fmt.Errorf("join cgroup: %w", err)
	}
	return f, nil
}

// HybridCloneDir makes the container's directory in a hybrid host's unified
// hierarchy ahead of Prepare (which may still be at work when init starts),
// and opens it for CLONE_INTO_CGROUP. It returns nil on any other host: on
// a v2 host init must not start in its cgroup, which would charge init's own
// start to the container's memory limit.
func (m *Manager) HybridCloneDir() *os.File {
	dir, ok := m.paths[""]
	if !ok || IsUnified() {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil // skipped, as Prepare skips it
	}
	f, _ := m.CloneDir("")
	return f
}

// joinOrder lists the v1 hierarchies of paths in the order to join them:
// the freezer last, so that a process joining a paused container (exec
// --ignore-paused) is frozen only once it is in every other hierarchy,
// where `ps` and `delete` look for it.
func joinOrder(paths map[string]string) []string {
	var order []string
	for ctrl := range paths {
		if ctrl != "" && ctrl != "freezer" { // "": the unified hierarchy, CloneDir
			order = append(order, ctrl)
		}
	}
	sort.Strings(order)
	if _, ok := paths["freezer"]; ok {
		order = append(order, "freezer")
	}
	return order
}

// subPath is dir/sub, refusing a sub that leaves dir.
func subPath(dir, sub string) (string, error) {
	path := filepath.Join(dir, sub)
	if path != dir && !strings.HasPrefix(path, dir+"/") {
		return "", fmt.Errorf("bad sub-cgroup path %q: it leaves the container's cgroup", sub)
	}
	return path, nil
}

// optional reports the hierarchies that berth joins only where they exist.
func optional(ctrl string) bool {
	return strings.HasPrefix(ctrl, "name=") || ctrl == "misc"
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

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

// JoinFiles opens the tasks file of the cgroup (or of its sub-cgroup in
// sub, below it) in every cgroup v1 hierarchy, for writing. It returns none on a cgroup v2
// host. The named hierarchies (name=systemd, misc), which berth joins only
// where they exist, are skipped when their directory is missing, as Prepare
// skips them.
func (m *Manager) JoinFiles(sub SubCgroups) ([]*os.File, error) {
	if IsUnified() {
		return nil, nil
	}
	if err := m.checkSub(sub); err != nil {
		return nil, err
	}
	var files []*os.File
	for _, ctrl := range joinOrder(m.paths) {
		path, err := m.subDir(ctrl, sub)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		f, err := openFile(path, "tasks", unix.O_WRONLY)
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
// its sub-cgroup in sub); on a hybrid host the cgroup's directory in the
// unified hierarchy, where a missing one is skipped (as Prepare skips it).
// It returns nil where there is none.
func (m *Manager) CloneDir(sub SubCgroups) (*os.File, error) {
	if _, ok := m.paths[""]; !ok {
		return nil, nil
	}
	if err := m.checkSub(sub); err != nil {
		return nil, err
	}
	path, err := m.subDir("", sub)
	if err != nil {
		return nil, err
	}
	if !IsUnified() && os.Geteuid() != 0 {
		// A hybrid host's unified hierarchy has no controllers, and a user
		// may not move a process there from the root cgroup (the common
		// ancestor's cgroup.procs is root's): skipped (rootless.go).
		return nil, nil
	}
	fd, err := openDir(path)
	if err != nil {
		if !IsUnified() {
			return nil, nil
		}
		return nil, fmt.Errorf("join cgroup: %w", err)
	}
	return os.NewFile(uintptr(fd), path), nil
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
	f, _ := m.CloneDir(nil)
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

// SubCgroups are the sub-cgroups of `exec --cgroup`, by controller: ""
// gives one path for every hierarchy.
type SubCgroups map[string]string

// ParseSubCgroups parses `exec --cgroup` values as runc does: either one
// PATH, or any number of CONTROLLER[,CONTROLLER]:PATH (cgroup v1).
func ParseSubCgroups(args []string) (SubCgroups, error) {
	if len(args) == 0 {
		return nil, nil
	}
	sub := SubCgroups{}
	for _, a := range args {
		ctrls, path, ok := strings.Cut(a, ":")
		if !ok {
			if len(args) != 1 {
				return nil, fmt.Errorf("exec --cgroup %s: missing <controller>: prefix (needed when --cgroup is given more than once)", a)
			}
			sub[""] = a
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c == "" {
				return nil, fmt.Errorf("exec --cgroup %s: empty <controller> prefix", a)
			}
			if _, dup := sub[c]; dup {
				return nil, fmt.Errorf("exec --cgroup: controller %s given more than once", c)
			}
			sub[c] = path
		}
	}
	return sub, nil
}

// checkSub refuses a controller the container has no hierarchy for, and
// any controller on a cgroup v2 host, which has one hierarchy.
func (m *Manager) checkSub(sub SubCgroups) error {
	for c := range sub {
		if c == "" {
			continue
		}
		if IsUnified() {
			return fmt.Errorf("exec --cgroup %s:...: this cgroup v2 host has no per-controller hierarchies; give the path alone", c)
		}
		if _, ok := m.paths[c]; !ok {
			return fmt.Errorf("exec --cgroup: unknown controller %s", c)
		}
	}
	return nil
}

// subDir is the directory ctrl's hierarchy is joined in: the container's,
// or its sub-cgroup from sub; a path that leaves the container's cgroup is
// refused in runc's words.
func (m *Manager) subDir(ctrl string, sub SubCgroups) (string, error) {
	dir := m.paths[ctrl]
	s, ok := sub[""]
	if !ok {
		s = sub[ctrl]
	}
	if s == "" {
		return dir, nil
	}
	path := filepath.Join(dir, s)
	if path != dir && !strings.HasPrefix(path, dir+"/") {
		return "", fmt.Errorf("exec --cgroup: %s is not a sub cgroup path", s)
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

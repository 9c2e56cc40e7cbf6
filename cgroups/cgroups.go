// Package cgroups makes a container's cgroup on the host, in whatever mode
// the host runs (unified v2, hybrid, legacy v1), sets the spec's
// linux.resources in it, and gives later commands a handle on it from the
// paths recorded in state.json. It never imports libcontainer; it returns
// errors and does not log.
//
// It is berth's own code, not runc's cgroup library: that library's types
// pull in go-systemd, D-Bus and net, 1.0 MB of a binary that every berth
// process maps (docs/performance.md). The files it writes, their order and
// the v2 conversions follow runc's. hier.go finds the host's layout,
// limits.go and blkio.go turn resources into writes, devices.go and
// devicebpf.go own the device rules, freeze.go the freezer, join.go how
// processes get in, stats.go the counters; systemd.go and sdunit.go are
// the systemd driver (--systemd-cgroup), whose cgroup is a scope that
// systemd makes, and whose files are then written as here.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager is one container's cgroup.
type Manager struct {
	paths map[string]string // controller -> directory; "" is the unified hierarchy
	steps []step            // the limits, for Prepare
	name  string            // what the messages of New's manager call it
	// viewPaths are the caller's own cgroups when the container has none
	// (Disable), for its "cgroup" mount.
	viewPaths map[string]string
	unit      *sdUnit // the systemd driver's scope (sdunit.go), or nil
}

// Config says where the cgroup goes and what it limits.
type Config struct {
	ID        string                // container ID: the default cgroup name
	Path      string                // linux.cgroupsPath, may be empty
	Resources *specs.LinuxResources // may be nil
	// Devices are linux.devices. They grant nothing: only their paths
	// matter, dropping runc's default allowance for the same path.
	Devices []specs.LinuxDevice
	// Systemd asks for the systemd driver (--systemd-cgroup): Path is
	// "slice:prefix:name" and the cgroup a transient scope (sdunit.go).
	Systemd bool
}

// New resolves the cgroup for cfg and checks its limits without touching
// the host. An empty path means "<id>" below berth's own cgroup, as runc
// does; a relative path is relative to berth's own cgroup; an absolute one
// to the hierarchy root. The path is cleaned lexically first (cleanPath), so
// that ".." cannot leave the cgroup tree. Without the systemd driver a path
// in systemd's "slice:prefix:name" form is a plain relative path, as runc's
// cgroupfs driver takes it (containerd's CRI passes one).
func New(cfg Config) (*Manager, error) {
	inner := cfg.ID
	if cfg.Path != "" {
		inner = cleanPath(cfg.Path)
	}
	steps, err := resourceSteps(cfg.Resources, cfg.Devices)
	if err != nil {
		return nil, err
	}
	if cfg.Systemd {
		return newSystemd(cfg, steps)
	}
	paths, err := host.paths(inner)
	if err != nil {
		if cfg.Path != "" {
			return nil, fmt.Errorf("linux.cgroupsPath %q: %w", cfg.Path, err)
		}
		return nil, fmt.Errorf("cgroup %s: %w", cfg.ID, err)
	}
	m := &Manager{paths: paths, steps: steps}
	if err := m.mounted(steps); err != nil {
		return nil, err
	}
	m.name = fmt.Sprintf("cgroup %s", cfg.ID)
	if cfg.Path != "" {
		m.name = fmt.Sprintf("linux.cgroupsPath %q", cfg.Path)
	}
	return m, nil
}

func resourceSteps(r *specs.LinuxResources, devs []specs.LinuxDevice) ([]step, error) {
	rules, err := deviceRules(r, devs)
	if err != nil {
		return nil, err
	}
	if err := loadHost(); err != nil {
		return nil, err
	}
	steps, err := limitSteps(r, rules, host.unified)
	if err == nil && r != nil {
		err = checkPageSizes(r.HugepageLimits)
	}
	return hugetlbOnUnified(steps), err
}

// Load returns the manager for a cgroup created earlier, from its paths
// (state.json). Each must be below its hierarchy's mount on this host.
func Load(paths map[string]string) (*Manager, error) {
	if err := loadHost(); err != nil {
		return nil, err
	}
	if err := host.checkRecorded(paths); err != nil {
		return nil, err
	}
	return &Manager{paths: paths}, nil
}

// Paths maps each controller ("" for the unified hierarchy) to its directory.
func (m *Manager) Paths() map[string]string { return m.paths }

// Prepare creates the cgroup and sets its limits, with no process in it
// yet; init joins later. The two are apart so that the (slow, on v1)
// directory and limit writes overlap with starting init.
func (m *Manager) Prepare() error {
	if len(m.paths) == 0 {
		return nil // disabled (rootless.go)
	}
	if m.unit != nil {
		return nil // systemd makes the scope with init in it: Join
	}
	if err := m.mkdirs(); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if err := m.apply(m.steps); err != nil {
		return fmt.Errorf("apply cgroup limits: %w", err)
	}
	if dir, ok := m.paths["cpuset"]; ok && !host.unified {
		return inheritCpuset(dir) // where the spec set none
	}
	return nil
}

// Update applies new limits to a live cgroup; devices are linux.devices
// (see Config.Devices).
func (m *Manager) Update(res *specs.LinuxResources, devices []specs.LinuxDevice) error {
	steps, err := resourceSteps(res, devices)
	if err != nil {
		return err
	}
	if m.unit != nil {
		props, err := resourceProps(res)
		if err != nil {
			return err
		}
		if err := m.unit.set(props); err != nil {
			return err
		}
	}
	if err := m.apply(steps); err != nil {
		return fmt.Errorf("update cgroup limits: %w", err)
	}
	return nil
}

// mounted refuses a limit for a controller the host does not mount: it
// could not be enforced.
func (m *Manager) mounted(steps []step) error {
	for _, s := range steps {
		if _, ok := m.paths[s.ctrl]; !ok {
			return fmt.Errorf("linux.resources: %s needs the %s cgroup controller, which this host does not mount", s.file, s.ctrl)
		}
	}
	return nil
}

// apply runs steps in order.
func (m *Manager) apply(steps []step) error {
	if err := m.mounted(steps); err != nil {
		return err
	}
	for _, s := range steps {
		if err := s.apply(m.paths[s.ctrl]); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs makes the cgroup's directory in every hierarchy. The named v1
// hierarchies and a hybrid host's unified one are made where possible.
func (m *Manager) mkdirs() error {
	if host.unified {
		return mkdirV2(m.paths[""])
	}
	for ctrl, dir := range m.paths {
		var err error
		if err = os.Mkdir(dir, 0o755); errors.Is(err, os.ErrNotExist) {
			err = os.MkdirAll(dir, 0o755) // a parent is missing too
		} else if errors.Is(err, os.ErrExist) {
			err = nil
		}
		if err == nil && ctrl == "cpuset" {
			// The kernel makes a cpuset empty, and no process can join an
			// empty one, nor can a child get CPUs its parent lacks.
			err = inheritCpuset(filepath.Dir(dir))
		}
		if err != nil && !optional(ctrl) && ctrl != "" {
			return err
		}
	}
	return nil
}

// mkdirV2 makes dir with every controller of its parent enabled for it,
// enabling them from the root down where they are not yet (what a v2
// cgroup needs before its limit files exist).
func mkdirV2(dir string) error {
	mnt := host.v2.mountpoint
	rel, err := filepath.Rel(mnt, dir)
	if err != nil || !within(mnt, dir) || dir == mnt {
		return fmt.Errorf("cgroup %s is not below %s", dir, mnt)
	}
	cur := mnt
	for _, name := range strings.Split(rel, "/") {
		if err := enableControllers(cur); err != nil {
			return err
		}
		cur = filepath.Join(cur, name)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

func enableControllers(dir string) error {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	on, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	var missing []string
	for _, c := range strings.Fields(avail) {
		if !strings.Contains(" "+on+" ", " "+c+" ") {
			missing = append(missing, "+"+c)
		}
	}
	if len(missing) == 0 || writeFile(dir, "cgroup.subtree_control", strings.Join(missing, " ")) == nil {
		return nil
	}
	for _, c := range missing { // one by one: some may be refused (threaded cgroups)
		writeFile(dir, "cgroup.subtree_control", c)
	}
	return nil
}

// inheritCpuset copies the CPUs and memory nodes of dir's parent into dir
// where dir has none, its ancestors first, up to the hierarchy's top.
func inheritCpuset(dir string) error {
	parent := filepath.Dir(dir)
	var st unix.Statfs_t
	if unix.Statfs(parent, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		return nil
	}
	if _, err := os.Stat(filepath.Join(parent, "cpuset.cpus")); err != nil {
		return nil
	}
	if err := inheritCpuset(parent); err != nil {
		return err
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(dir, f)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		from, err := readFile(parent, f)
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, from); err != nil {
			return err
		}
	}
	return nil
}

// Exists reports whether the cgroup is still there.
func (m *Manager) Exists() bool {
	dir, ok := m.paths["devices"]
	if !ok {
		dir, ok = m.paths[""]
	}
	_, err := os.Stat(dir)
	return ok && err == nil
}

// Destroy removes the cgroup directories (and any below them). It retries
// while the kernel still holds exiting processes, and is a no-op for
// directories already gone.
func (m *Manager) Destroy() error {
	var failed []string
	if m.unit != nil {
		if err := m.unit.stop(); err != nil {
			failed = append(failed, err.Error())
		}
	}
	for _, dir := range m.paths {
		if err := removeCgroup(dir); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if failed != nil {
		return fmt.Errorf("remove cgroup: %s", strings.Join(failed, "; "))
	}
	return nil
}

func removeCgroup(dir string) error {
	if unix.Rmdir(dir) == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	// EBUSY while the kernel finishes with the last exiting processes.
	for delay, try := 1, 0; ; delay, try = delay*2, try+1 {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || try == 10 {
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		sleepMillis(delay)
	}
}

// Pids lists every process in the cgroup and the cgroups below it.
func (m *Manager) Pids() ([]int, error) {
	dir, ok := m.paths["devices"]
	if !ok {
		dir = m.paths[""]
	}
	return pidsUnder(dir)
}

func pidsUnder(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		procs, err := readFile(path, "cgroup.procs")
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(procs) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, err
}

// Kill kills every process in the cgroup at once through cgroup.kill (v2,
// Linux 5.14). It reports false where that file does not exist.
func (m *Manager) Kill() bool {
	dir, ok := m.paths[""]
	if !ok || !IsUnified() {
		return false
	}
	return writeFile(dir, "cgroup.kill", "1") == nil
}

// Join moves pid into the cgroup, or into its sub-cgroups in sub (`exec
// --cgroup`), in every hierarchy.
func (m *Manager) Join(pid int, sub SubCgroups) error {
	if m.unit != nil && !m.unit.started {
		return m.startScope(pid)
	}
	if err := m.checkSub(sub); err != nil {
		return err
	}
	order := joinOrder(m.paths)
	if _, ok := m.paths[""]; ok {
		order = append([]string{""}, order...)
	}
	for _, ctrl := range order {
		dir, err := m.subDir(ctrl, sub)
		if err != nil {
			return err
		}
		err = writeFile(dir, "cgroup.procs", strconv.Itoa(pid))
		if err != nil && !(optional(ctrl) || ctrl == "" && !host.unified) {
			return fmt.Errorf("join cgroup: %w%s", err, joinHint(err))
		}
	}
	return nil
}

// joinHint explains the v2 refusals of a join into a cgroup below one that
// holds processes, which is where a relative cgroupsPath lands when berth
// runs as a systemd service's main process.
func joinHint(err error) string {
	if host.unified && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EBUSY)) {
		return " (cgroup v2 keeps processes out of cgroups with children: under a systemd unit, set linux.cgroupsPath outside the unit's cgroup or use --systemd-cgroup)"
	}
	return ""
}

// Stats reads the cgroup's counters.
func (m *Manager) Stats() (*Stats, error) {
	st, err := readStats(m.paths, IsUnified())
	if err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", err)
	}
	return st, nil
}

// OOMKills returns how many processes the kernel's OOM killer has killed in
// the cgroup.
func (m *Manager) OOMKills() (uint64, error) { return oomKills(m.paths, IsUnified()) }

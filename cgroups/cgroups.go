// Package cgroups is berth's adapter over github.com/opencontainers/cgroups:
// it turns a spec's cgroupsPath and linux.resources into a cgroup on the
// host, in whatever mode the host runs (unified v2, hybrid, legacy v1), and
// gives later commands a handle on it from the paths recorded in state.json.
// It never imports libcontainer; it returns errors and does not log.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"strings"

	occg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrSystemdPath is returned for a "slice:prefix:name" cgroupsPath while the
// systemd driver is not in use.
var ErrSystemdPath = errors.New("cgroupsPath in the systemd form slice:prefix:name needs --systemd-cgroup")

// Manager is one container's cgroup.
type Manager struct {
	m   occg.Manager
	res *specs.LinuxResources // what New was given, for what the library does not set
}

// Config says where the cgroup goes and what it limits.
type Config struct {
	ID        string                // container ID: the default cgroup name
	Path      string                // linux.cgroupsPath, may be empty
	Resources *specs.LinuxResources // may be nil
	// Devices are linux.devices: each is created in the container and so
	// allowed in the device cgroup, after linux.resources.devices.
	Devices []specs.LinuxDevice
}

// IsUnified reports whether the host runs cgroup v2 only.
func IsUnified() bool { return occg.IsCgroup2UnifiedMode() }

// New resolves the cgroup for cfg without touching the host. An empty path
// means "<id>" below berth's own cgroup, as runc does; a relative path is
// relative to berth's own cgroup; an absolute one to the hierarchy root.
func New(cfg Config) (*Manager, error) {
	cg := &occg.Cgroup{}
	switch {
	case cfg.Path == "":
		cg.Name = cfg.ID
	case strings.Count(cfg.Path, ":") == 2 && !strings.HasPrefix(cfg.Path, "/"):
		return nil, fmt.Errorf("%w (got %q)", ErrSystemdPath, cfg.Path)
	default:
		cg.Path = cfg.Path
	}
	res, err := convertResources(cfg.Resources, cfg.Devices)
	if err != nil {
		return nil, err
	}
	cg.Resources = res
	m, err := newManager(cg, nil)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", describe(cfg), err)
	}
	return &Manager{m: m, res: cfg.Resources}, nil
}

// Load returns the manager for a cgroup created earlier, from its paths.
func Load(paths map[string]string) (*Manager, error) {
	cg := &occg.Cgroup{Resources: &occg.Resources{SkipDevices: true}}
	m, err := newManager(cg, paths)
	if err != nil {
		return nil, fmt.Errorf("cgroup %v: %w", paths, err)
	}
	return &Manager{m: m}, nil
}

// newManager is the library's manager.NewWithPaths without its systemd
// driver, which berth refuses anyway: that driver brings D-Bus and the net
// package into the binary, 0.6 MB that every berth process maps and
// initialises.
func newManager(cg *occg.Cgroup, paths map[string]string) (occg.Manager, error) {
	if !IsUnified() {
		return fs.NewManager(cg, paths)
	}
	if len(paths) > 1 {
		return nil, fmt.Errorf("cgroup v2 host, but %d cgroup paths recorded: %v", len(paths), paths)
	}
	return fs2.NewManager(cg, paths[""])
}

func describe(cfg Config) string {
	if cfg.Path != "" {
		return cfg.Path
	}
	return cfg.ID
}

// Paths maps each controller ("" for the unified hierarchy) to its directory.
func (m *Manager) Paths() map[string]string { return m.m.GetPaths() }

// Prepare creates the cgroup and sets its limits, with no process in it
// yet; Join moves the container's init in later. The two are apart so that
// the (slow, on v1) directory and limit writes overlap with starting init.
func (m *Manager) Prepare() error {
	if err := m.m.Apply(-1); err != nil { // -1: create, attach nothing
		return fmt.Errorf("create cgroup: %w", err)
	}
	c, err := m.m.GetCgroups()
	if err != nil {
		return err
	}
	if err := m.m.Set(c.Resources); err != nil {
		return fmt.Errorf("apply cgroup limits: %w", err)
	}
	if m.res != nil {
		return m.setKernelTCP(m.res.Memory)
	}
	return nil
}

// Pids lists every process in the cgroup and its descendants.
func (m *Manager) Pids() ([]int, error) { return m.m.GetAllPids() }

// Paused reports whether the cgroup is frozen.
func (m *Manager) Paused() bool {
	st, err := m.m.GetFreezerState()
	return err == nil && st == occg.Frozen
}

// Thaw unfreezes the cgroup, so that processes in it can be killed and reaped.
func (m *Manager) Thaw() error { return m.m.Freeze(occg.Thawed) }

// Kill kills every process in the cgroup at once through cgroup.kill (v2,
// Linux 5.14). It reports false where that file does not exist.
func (m *Manager) Kill() bool {
	dir, ok := m.m.GetPaths()[""]
	if !ok || !IsUnified() {
		return false
	}
	return os.WriteFile(dir+"/cgroup.kill", []byte("1"), 0) == nil
}

// Exists reports whether the cgroup is still there.
func (m *Manager) Exists() bool { return m.m.Exists() }

// Destroy removes the cgroup directories. It retries while the kernel still
// holds exiting processes, and is a no-op for directories already gone.
func (m *Manager) Destroy() error {
	if err := m.m.Destroy(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// Join moves pid into the cgroup, or into sub, a cgroup below it
// (`exec --cgroup`).
func (m *Manager) Join(pid int, sub string) error {
	if err := m.m.AddPid(sub, pid); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	return nil
}

// Freeze freezes (true) or thaws (false) every process in the cgroup.
func (m *Manager) Freeze(frozen bool) error {
	st := occg.Thawed
	if frozen {
		st = occg.Frozen
	}
	if err := m.m.Freeze(st); err != nil {
		return fmt.Errorf("freeze cgroup: %w", err)
	}
	return nil
}

// Update applies new limits to a live cgroup; devices are linux.devices,
// which stay allowed.
func (m *Manager) Update(res *specs.LinuxResources, devices []specs.LinuxDevice) error {
	r, err := convertResources(res, devices)
	if err != nil {
		return err
	}
	if err := m.m.Set(r); err != nil {
		return fmt.Errorf("update cgroup limits: %w", err)
	}
	if res != nil {
		return m.setKernelTCP(res.Memory)
	}
	return nil
}

// Stats reads the cgroup's counters.
func (m *Manager) Stats() (*occg.Stats, error) {
	st, err := m.m.GetStats()
	if err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", err)
	}
	return st, nil
}

// OOMKills returns how many processes the kernel's OOM killer has killed in
// the cgroup.
func (m *Manager) OOMKills() (uint64, error) { return m.m.OOMKillCount() }

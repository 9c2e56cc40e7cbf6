package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/dbus"
)

// The systemd driver's talk with systemd, on its private socket
// (internal/dbus): a container's cgroup is a transient scope that systemd
// makes when init exists (StartTransientUnit with init's pid), with the
// limits as properties and Delegate=yes; berth then writes the same limits
// and everything else (devices, freezer, stats) to the scope's files, as
// the cgroupfs driver does. delete stops the scope.
//
//	berth                                   systemd (org.freedesktop.systemd1.Manager)
//	New:     connect, authenticate          the slice's cgroup must exist
//	Join:    StartTransientUnit(scope, "replace", props, [])  -> job
//	         until ActiveState is "active" (or JobRemoved says otherwise)
//	Update:  SetUnitProperties(scope, true, props)
//	Destroy: StopUnit(scope, "replace"), until the unit is gone; ResetFailedUnit

const (
	sdPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	sdManager = "org.freedesktop.systemd1.Manager"
	sdProps   = "org.freedesktop.DBus.Properties"
)

// sdTimeout bounds each wait on systemd's jobs.
var sdTimeout = 10 * time.Second

// sdUnit is a container's scope.
type sdUnit struct {
	name, slice, id string
	limits          []sdProp // the resources' properties, for start
	started         bool
	conn            *dbus.Conn
	jobs            map[string]string // unit -> result of its last JobRemoved seen
}

// systemdSocket is the private socket of the caller's manager: the
// system's for root, the user's own otherwise.
func systemdSocket() string {
	if os.Geteuid() == 0 {
		return "/run/systemd/private"
	}
	return filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "systemd", "private")
}

func (u *sdUnit) connect() error {
	if u.conn != nil {
		return nil
	}
	sock := systemdSocket()
	c, err := dbus.Dial(sock)
	if err != nil {
		return fmt.Errorf("--systemd-cgroup: cannot reach systemd (is it the init system?): %w", err)
	}
	c.Dest = "org.freedesktop.systemd1"
	u.jobs = map[string]string{}
	c.Signal = func(member string, body []any) {
		if member == "JobRemoved" && len(body) == 4 {
			unit, _ := body[2].(string)
			u.jobs[unit], _ = body[3].(string)
		}
	}
	u.conn = c
	return nil
}

func (u *sdUnit) close() {
	if u.conn != nil {
		u.conn.Close()
		u.conn = nil
	}
}

func (u *sdUnit) call(member, sig string, args ...any) ([]any, error) {
	if err := u.connect(); err != nil {
		return nil, err
	}
	return u.conn.Call(sdPath, sdManager, member, sig, args...)
}

// managerCgroup is the cgroup of the manager the slices are below: "/"
// for the system's, the user manager's own for a user's.
func (u *sdUnit) managerCgroup() (string, error) {
	if os.Geteuid() == 0 {
		return "/", nil
	}
	if err := u.connect(); err != nil {
		return "", err
	}
	r, err := u.conn.Call(sdPath, sdProps, "Get", "ss", sdManager, "ControlGroup")
	if err != nil {
		return "", fmt.Errorf("--systemd-cgroup: the user manager's cgroup: %w", err)
	}
	v, _ := r[0].(dbus.Variant)
	cg, ok := v.Value.(string)
	if !ok || cg == "" {
		return "", errors.New("--systemd-cgroup: the user manager has no cgroup")
	}
	return cg, nil
}

// activeState is the unit's ActiveState, "" if systemd has no such unit.
func (u *sdUnit) activeState() (string, error) {
	r, err := u.call("GetUnit", "s", u.name)
	if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	path, _ := r[0].(dbus.ObjectPath)
	r, err = u.conn.Call(path, sdProps, "Get", "ss", "org.freedesktop.systemd1.Unit", "ActiveState")
	if isDBusError(err, "org.freedesktop.DBus.Error.UnknownObject") {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	v, _ := r[0].(dbus.Variant)
	s, _ := v.Value.(string)
	return s, nil
}

func isDBusError(err error, name string) bool {
	var de *dbus.Error
	return errors.As(err, &de) && de.Name == name
}

// start makes the scope with pid in it and waits until it is active. A
// leftover failed unit of the same name is reset and the start tried once
// more, as runc does.
func (u *sdUnit) start(pid int) error {
	props := scopeProps(u.id, u.slice, pid, u.limits)
	noAux := []struct {
		Name  string
		Props []sdProp
	}{}
	delete(u.jobs, u.name)
	_, err := u.call("StartTransientUnit", "ssa(sv)a(sa(sv))", u.name, "replace", props, noAux)
	if isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		u.call("ResetFailedUnit", "s", u.name)
		_, err = u.call("StartTransientUnit", "ssa(sv)a(sa(sv))", u.name, "replace", props, noAux)
	}
	if err != nil {
		return fmt.Errorf("systemd: start %s: %w", u.name, err)
	}
	u.started = true
	return u.await(func(state string) (bool, error) {
		switch state {
		case "active":
			return true, nil
		case "failed", "inactive", "":
			// Its start job is over, yet it is not active: it failed, or
			// ended at once (init died).
			if res, ok := u.jobs[u.name]; ok {
				return false, fmt.Errorf("systemd: start %s: job %s, unit %q", u.name, res, state)
			}
		}
		return false, nil
	})
}

// await polls the unit's ActiveState until done says so, reading systemd's
// signals meanwhile, for at most sdTimeout.
func (u *sdUnit) await(done func(state string) (bool, error)) error {
	deadline := time.Now().Add(sdTimeout)
	for {
		state, err := u.activeState()
		if err != nil {
			return fmt.Errorf("systemd: %s: %w", u.name, err)
		}
		if ok, err := done(state); ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("systemd: %s: still %q after %s", u.name, state, sdTimeout)
		}
		seen := len(u.jobs)
		err = u.conn.Wait(20*time.Millisecond, func() bool { return len(u.jobs) != seen })
		if err != nil && !errors.Is(err, dbus.ErrTimeout) {
			return fmt.Errorf("systemd: %s: %w", u.name, err)
		}
	}
}

// set changes the scope's properties for as long as it runs.
func (u *sdUnit) set(props []sdProp) error {
	if len(props) == 0 {
		return nil
	}
	if _, err := u.call("SetUnitProperties", "sba(sv)", u.name, true, props); err != nil {
		return fmt.Errorf("systemd: set the properties of %s: %w", u.name, err)
	}
	return nil
}

// stop stops the scope and waits until systemd has unloaded it.
func (u *sdUnit) stop() error {
	defer u.close()
	_, err := u.call("StopUnit", "ss", u.name, "replace")
	if err != nil && !isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
		return fmt.Errorf("systemd: stop %s: %w", u.name, err)
	}
	err = u.await(func(state string) (bool, error) {
		if state == "failed" {
			u.call("ResetFailedUnit", "s", u.name)
		}
		return state == "" || state == "inactive", nil
	})
	return err
}

// SystemdUnit is the scope of a container made by the systemd driver, ""
// for the cgroupfs driver.
func (m *Manager) SystemdUnit() string {
	if m.unit == nil {
		return ""
	}
	return m.unit.name
}

// UseSystemdUnit makes a manager from Load act through the scope unit, as
// the one New made did (state.json records it). The unit must be the
// scope whose cgroup the manager has: nothing else is ever stopped.
func (m *Manager) UseSystemdUnit(unit, id string) error {
	dir := m.paths[""]
	if !strings.HasSuffix(unit, ".scope") || !validUnitName(unit) || len(m.paths) != 1 || filepath.Base(dir) != unit {
		return fmt.Errorf("recorded systemd unit %q is not the scope of the cgroup %s", unit, dir)
	}
	m.unit = &sdUnit{name: unit, id: id, started: true}
	return nil
}

// newSystemd resolves the scope for cfg: the systemd driver's New.
func newSystemd(cfg Config, steps []step) (*Manager, error) {
	slice, unit, err := parseSystemdPath(cfg.Path, cfg.ID, os.Geteuid() != 0)
	if err != nil {
		return nil, err
	}
	limits, err := resourceProps(cfg.Resources)
	if err != nil {
		return nil, err
	}
	u := &sdUnit{name: unit, slice: slice, id: cfg.ID, limits: limits}
	if err := u.connect(); err != nil {
		return nil, err
	}
	if !host.unified {
		u.close()
		return nil, errors.New("--systemd-cgroup: berth's systemd driver needs a cgroup v2 host; this one uses cgroup v1 controllers")
	}
	base, err := u.managerCgroup()
	if err == nil {
		cfg.Path, err = scopeDir(base, slice, unit)
	}
	if err != nil {
		u.close()
		return nil, err
	}
	// systemd would make a missing slice on the fly; a typo would then
	// put the container where nobody looks.
	if _, err := os.Stat(filepath.Dir(cfg.Path)); err != nil {
		u.close()
		return nil, fmt.Errorf("linux.cgroupsPath: slice %s does not exist (%s)", slice, filepath.Dir(cfg.Path))
	}
	m := &Manager{paths: map[string]string{"": cfg.Path}, steps: steps, unit: u}
	m.name = fmt.Sprintf("systemd unit %s", unit)
	return m, nil
}

// startScope has systemd make the scope with pid, the container's init, in
// it, checks that it is where it was expected (init mounts that path), and
// writes the limits to its files.
func (m *Manager) startScope(pid int) error {
	defer m.unit.close() // later commands connect again
	if err := m.unit.start(pid); err != nil {
		return err
	}
	procs, err := readFile(m.paths[""], "cgroup.procs")
	if err != nil || !slices.Contains(strings.Fields(procs), strconv.Itoa(pid)) {
		return fmt.Errorf("systemd: scope %s: init (pid %d) is not in %s", m.unit.name, pid, m.paths[""])
	}
	if err := m.apply(m.steps); err != nil {
		return fmt.Errorf("apply cgroup limits: %w", err)
	}
	return nil
}

package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// A container's cgroup may exist before create (made by hand, or by a
// higher-level tool). runc 1.5 refuses one that holds processes (it only
// warned up to 1.1) and one that is frozen: init would join it and stop
// before it could say it is ready, and create would wait forever.

// CheckFresh refuses an existing cgroup that holds processes, or that is
// frozen (or would be: a new cgroup below a frozen one starts frozen). It
// runs once the container's ID is taken, as runc checks (an existing
// container's cgroup is "already exists"), and before anything is made.
func (m *Manager) CheckFresh() error {
	if err := m.checkFresh(); err != nil {
		return fmt.Errorf("%s: %w", m.name, err)
	}
	return nil
}

func (m *Manager) checkFresh() error {
	ctrls := make([]string, 0, len(m.paths))
	for ctrl := range m.paths {
		ctrls = append(ctrls, ctrl)
	}
	sort.Strings(ctrls)
	for _, ctrl := range ctrls {
		pids, err := pidsUnder(m.paths[ctrl])
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read the processes of %s: %w", m.paths[ctrl], err)
		}
		if len(pids) > 0 {
			return fmt.Errorf("container's cgroup is not empty: %d process(es) found in %s", len(pids), m.paths[ctrl])
		}
	}
	var ctrl, file string
	switch {
	case host.unified:
		ctrl, file = "", "cgroup.events"
	case m.paths["freezer"] != "":
		ctrl, file = "freezer", "freezer.state"
	default:
		return nil
	}
	h, _ := host.mountOf(ctrl)
	if dir, ok := frozenAt(m.paths[ctrl], h.mountpoint, file); ok {
		return fmt.Errorf("container's cgroup unexpectedly frozen (%s says so in %s: thaw it first)", file, dir)
	}
	return nil
}

// frozenAt finds the nearest of dir and its ancestors below mountpoint
// that exists, and reports whether it is frozen.
func frozenAt(dir, mountpoint, file string) (string, bool) {
	for d := dir; d != mountpoint && within(mountpoint, d); d = filepath.Dir(d) {
		v, err := readFile(d, file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return d, err == nil && isFrozen(file, v)
	}
	return "", false
}

func isFrozen(file, v string) bool {
	if file == "freezer.state" {
		return v == "FROZEN" || v == "FREEZING"
	}
	for _, line := range strings.Split(v, "\n") {
		if line == "frozen 1" {
			return true
		}
	}
	return false
}

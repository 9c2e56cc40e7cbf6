package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Rootless cgroups. An ordinary user may make a cgroup only inside a
// subtree delegated to it: on cgroup v2, a directory it owns (systemd's
// Delegate=yes, or one chowned by an administrator). Anywhere else the
// container runs in the caller's own cgroup, without limits.

// ErrNotDelegated says why a container has no cgroup of its own.
var ErrNotDelegated = errors.New("it runs rootless without a cgroup of its own (that needs a cgroup subtree delegated to the user: a directory the user owns; docs/rootless.md)")

// Delegated reports whether the caller may make the cgroup and write its
// limits: the deepest existing ancestor of each of its directories, and
// that ancestor's cgroup.procs, are writable by the caller. On a v1 or
// hybrid host berth asks it of every v1 hierarchy (a hybrid host's unified
// one, without controllers, is skipped for a user).
func (m *Manager) Delegated() bool {
	for ctrl, dir := range m.paths {
		if ctrl == "" && !IsUnified() {
			continue // a hybrid host's, without controllers: optional
		}
		if !writableAncestor(dir) {
			return false
		}
	}
	return len(m.paths) > 0
}

func writableAncestor(dir string) bool {
	for d := dir; d != cgroupRoot && d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		return unix.Access(d, unix.W_OK) == nil && unix.Access(filepath.Join(d, "cgroup.procs"), unix.W_OK) == nil
	}
	return false
}

// Disable drops the cgroup: nothing is made, joined or limited, and no
// path is recorded. It reports whether the config asked for limits (beyond
// device rules, which a user namespace enforces by itself: no mknod), which
// now do not apply.
func (m *Manager) Disable() (droppedLimits bool) {
	for _, s := range m.steps {
		if !s.devices {
			droppedLimits = true
		}
	}
	m.viewPaths = ownPaths()
	m.paths, m.steps = map[string]string{}, nil
	return droppedLimits
}

// ViewPaths are the directories a "cgroup" mount shows the container: its
// own cgroup's, or for a disabled one the caller's cgroups it runs in (as
// runc shows them to a rootless container).
func (m *Manager) ViewPaths() map[string]string {
	if len(m.paths) == 0 {
		return m.viewPaths
	}
	return m.paths
}

// ownPaths are the directories of the cgroups berth itself runs in, in
// every hierarchy (the top of one, when it runs there).
func ownPaths() map[string]string {
	if loadHost() != nil {
		return nil
	}
	out := map[string]string{}
	add := func(ctrl string, h hierarchy) {
		if own, ok := host.own[ctrl]; ok {
			out[ctrl] = filepath.Join(h.mountpoint, ownBelow(h.root, own))
		}
	}
	if host.v2 != nil {
		add("", *host.v2)
	}
	for ctrl, h := range host.v1 {
		add(ctrl, h)
	}
	return out
}

// SkipDevices drops the device rules: a user cannot write devices.deny (v1)
// nor load a device BPF program (v2), and needs neither: in its user
// namespace no device node can be made, and the nodes bound from the host
// keep their host permissions.
func (m *Manager) SkipDevices() {
	var keep []step
	for _, s := range m.steps {
		if !s.devices {
			keep = append(keep, s)
		}
	}
	m.steps = keep
}

// CheckMove refuses, on a cgroup v2 host, a cgroup that the caller could
// make but not move processes into: the kernel wants the common ancestor
// of the source and target cgroups to be writable (cgroup.procs), so a user
// must run berth inside the subtree delegated to it.
func (m *Manager) CheckMove() error {
	target, ok := m.paths[""]
	if !ok || !IsUnified() {
		return nil
	}
	own := ownPaths()[""]
	common := own
	for !within(common, target) {
		common = filepath.Dir(common)
	}
	if unix.Access(filepath.Join(common, "cgroup.procs"), unix.W_OK) != nil {
		return fmt.Errorf("cgroup %s: rootless mode: berth runs in cgroup %s, outside the subtree delegated to the user, and the kernel lets a user move processes only within a subtree it owns (start berth inside it, e.g. with systemd-run --user --scope)", target, own)
	}
	return nil
}

package cgroups

import (
	"fmt"
	"strings"
	"time"
)

// Freezing: v1 has freezer.state, which passes through FREEZING and may
// stay there while a process is in an uninterruptible sleep; v2 has
// cgroup.freeze, with cgroup.events telling when it took effect.

// Freeze freezes (true) or thaws (false) every process in the cgroup.
func (m *Manager) Freeze(frozen bool) error {
	var err error
	if IsUnified() {
		err = freezeV2(m.paths[""], frozen)
	} else if dir, ok := m.paths["freezer"]; ok {
		err = freezeV1(dir, frozen)
	} else {
		err = fmt.Errorf("the freezer cgroup controller is not mounted")
	}
	if err != nil {
		return fmt.Errorf("freeze cgroup: %w", err)
	}
	return nil
}

// Thaw unfreezes the cgroup, so that processes in it can be killed and reaped.
func (m *Manager) Thaw() error { return m.Freeze(false) }

// Paused reports whether the cgroup is frozen.
func (m *Manager) Paused() bool {
	if IsUnified() {
		v, err := readFile(m.paths[""], "cgroup.freeze")
		return err == nil && v == "1"
	}
	v, err := readFile(m.paths["freezer"], "freezer.state")
	return err == nil && v == "FROZEN"
}

// freezeV1 asks for FROZEN until the state says so, thawing now and then
// to let a process that blocks the freeze make progress (as runc does); it
// gives up after ~1000 tries and leaves the cgroup thawed.
func freezeV1(dir string, frozen bool) (err error) {
	if !frozen {
		return writeFile(dir, "freezer.state", "THAWED")
	}
	defer func() {
		if err != nil {
			writeFile(dir, "freezer.state", "THAWED")
		}
	}()
	for i := 0; i < 1000; i++ {
		if i%50 == 49 {
			writeFile(dir, "freezer.state", "THAWED")
			time.Sleep(10 * time.Millisecond)
		}
		if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
			return err
		}
		if i%25 == 24 {
			time.Sleep(10 * time.Microsecond)
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return err
		}
		switch state {
		case "FROZEN":
			return nil
		case "FREEZING":
			continue
		default:
			return fmt.Errorf("freezer.state is %s while freezing", state)
		}
	}
	return fmt.Errorf("%s: still FREEZING after 1000 tries", dir)
}

// freezeV2 writes cgroup.freeze and waits (up to ~2 s) for cgroup.events
// to report the result.
func freezeV2(dir string, frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeFile(dir, "cgroup.freeze", want); err != nil {
		return err
	}
	for delay := 1; delay < 2048; delay *= 2 {
		events, err := readFile(dir, "cgroup.events")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(events, "\n") {
			if line == "frozen "+want {
				return nil
			}
		}
		sleepMillis(delay)
	}
	if frozen {
		writeFile(dir, "cgroup.freeze", "0")
	}
	return fmt.Errorf("%s: cgroup.events does not say frozen %s", dir, want)
}

func sleepMillis(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

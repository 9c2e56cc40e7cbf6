package libcontainer

import (
	"time"

	"github.com/berth-project/berth/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Event is one line of `berth events`, in runc's format (which containerd's
// go-runc decodes): {"type":"stats","id":...,"data":{...}} or
// {"type":"oom","id":...}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data *Stats `json:"data,omitempty"`
}

// The stats document's types live in package cgroups, which reads them.
type (
	Stats        = cgroups.Stats
	CPUStats     = cgroups.CPUStats
	MemoryEntry  = cgroups.MemoryEntry
	MemoryStats  = cgroups.MemoryStats
	PidsStats    = cgroups.PidsStats
	BlkioEntry   = cgroups.BlkioEntry
	BlkioStats   = cgroups.BlkioStats
	HugetlbStats = cgroups.HugetlbStats
)

// ContainerStats reads the container's cgroup counters.
func ContainerStats(root, id string) (*Stats, error) {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return nil, err
	}
	c.Unlock() // reading counters needs no lock
	if cg == nil {
		return nil, noCgroup("read the counters of", id)
	}
	st, err := cg.Stats()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Events sends a stats event every interval and an "oom" event for each
// OOM kill in the container's cgroup, until the cgroup is gone or emit
// fails. OOM kills are looked for ten times an interval.
func Events(root, id string, interval time.Duration, emit func(Event) error) error {
	c, cg, err := loadWithCgroup(root, id, specs.StateCreated, specs.StateRunning, StatePaused)
	if err != nil {
		return err
	}
	c.Unlock()
	if cg == nil {
		return noCgroup("watch", id)
	}
	ooms, _ := cg.OOMKills()
	next := time.Now()
	for cg.Exists() {
		if n, err := cg.OOMKills(); err == nil {
			for ; ooms < n; ooms++ {
				if err := emit(Event{Type: "oom", ID: id}); err != nil {
					return err
				}
			}
		}
		if !time.Now().Before(next) {
			st, err := cg.Stats()
			if err != nil {
				return nil // removed under us: the stream ends
			}
			if err := emit(Event{Type: "stats", ID: id, Data: st}); err != nil {
				return err
			}
			next = time.Now().Add(interval)
		}
		time.Sleep(interval / 10)
	}
	return nil
}

package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The journal relay of a foreground `run` under systemd.
//
// systemd connects a unit's stdout and stderr to the journal and names the
// stream in JOURNAL_STREAM ("dev:ino"). journald files each line under the
// unit of the process that wrote it, found by its cgroup; a container's
// cgroup is not the unit's (on cgroup v2 it cannot be below it while berth
// holds the unit's cgroup), so the workload's own writes would be missing
// from `journalctl -u`. Under a journal stream berth therefore gives the
// workload pipes and copies them, unchanged, to its own stdout and stderr:
// the lines are written by berth, in the unit's cgroup.

// relay copies a pipe's read end to one of berth's outputs.
type relay struct {
	w    *os.File // the workload's end, closed in berth once init has it
	done chan struct{}
}

// journalRelays returns the workload's stdout and stderr for a foreground
// run: pipes when berth's own is the journal stream, otherwise nil (the
// workload gets berth's).
func journalRelays() (stdout, stderr *relay) {
	stream := os.Getenv("JOURNAL_STREAM")
	if stream == "" {
		return nil, nil
	}
	if isStream(os.Stdout, stream) {
		stdout = startRelay(os.Stdout)
	}
	if isStream(os.Stderr, stream) {
		stderr = startRelay(os.Stderr)
	}
	return stdout, stderr
}

// isStream reports whether f is the socket JOURNAL_STREAM names.
func isStream(f *os.File, stream string) bool {
	dev, ino, ok := strings.Cut(stream, ":")
	if !ok {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	return strconv.FormatUint(st.Dev, 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

func startRelay(out *os.File) *relay {
	r, w, err := os.Pipe()
	if err != nil {
		return nil // the workload writes to the stream itself, as before
	}
	rl := &relay{w: w, done: make(chan struct{})}
	go func() {
		io.Copy(out, r)
		r.Close()
		close(rl.done)
	}()
	return rl
}

// file is the workload's end, or nil.
func (r *relay) file() *os.File {
	if r == nil {
		return nil
	}
	return r.w
}

// started closes berth's copy of the workload's end, so that the copy
// ends when the container's last writer does.
func (r *relay) started() {
	if r != nil {
		r.w.Close()
	}
}

// drain waits a little for the copy to reach the end: the container is
// deleted by then, so its processes, the writers, are gone.
func (r *relay) drain() {
	if r != nil {
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
		}
	}
}

package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/jsonlite"
	"github.com/berth-project/berth/internal/linux"
	"github.com/berth-project/berth/network"
)

// Files inside a container's state directory <root>/<id>.
const (
	stateFile = "state.json" // State, replaced atomically
	execFifo  = "exec.fifo"  // exists from create until start: "created"
)

// State is what berth records about a container in state.json. Status is not
// stored: it is derived from the process each time (see Container.Status).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// InitPID is the host PID of the container's init (0 while creating);
	// InitStart its start time in clock ticks after boot, so that a reused
	// PID is never mistaken for the container.
	InitPID   int    `json:"initPid"`
	InitStart uint64 `json:"initStart"`
	// Creating is true from the first write until init reports ready. A
	// container left Creating by a create that died is "stopped".
	Creating bool `json:"creating,omitempty"`
	// CgroupPaths maps a controller ("" for the unified hierarchy) to the
	// container's cgroup directory on the host.
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// SystemdUnit is the container's scope under --systemd-cgroup: later
	// commands act through it (cgroups/sdunit.go).
	SystemdUnit string `json:"systemdUnit,omitempty"`
	// NotifySocket is systemd's NOTIFY_SOCKET at create: `start` forwards
	// the workload's sd_notify messages there (notify_linux.go).
	NotifySocket string `json:"notifySocket,omitempty"`
	// RootfsMountBelow is, for a container without a mount namespace, the
	// mount root.path lay on before create: delete detaches only what was
	// stacked on it since (rootfs.DetachOwnMounts), never the caller's.
	RootfsMountBelow uint64 `json:"rootfsMountBelow,omitempty"`
	// Config is the spec the container was created from, so that no later
	// command needs to read config.json again. It is stored as RawConfig
	// and decoded on first use (stateconfig.go): use spec() or summary().
	// Network is the container's attachment to a berth network
	// (--network), recorded before it is made; delete undoes it.
	Network *network.Attachment `json:"network,omitempty"`
	// Slirp is a rootless container's slirp4netns (rootless_net_linux.go),
	// stopped on delete.
	Slirp *network.Slirp `json:"slirp,omitempty"`
	// NetDevices are linux.netDevices: host name -> name in the container,
	// moved back on delete (netdev_linux.go).
	NetDevices map[string]string `json:"netDevices,omitempty"`
	Config     *specs.Spec       `json:"-"`
	RawConfig  json.RawMessage   `json:"config"`
}

// Container is one entry under the state root. Methods whose doc says
// "Preconditions: lock held" must be called between lock and unlock.
type Container struct {
	State
	dir  string   // <root>/<id>
	lock *os.File // the directory, flock'ed; nil when not held
}

// createDir makes <root>/<id> and takes its lock. The mkdir is the atomic
// step that makes exactly one of many concurrent creates of one ID win.
func createDir(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	mode := os.FileMode(0o711)
	if unprivileged() {
		mode = 0o700 // as runc: nobody else may even look up a rootless user's containers
	}
	if err := os.MkdirAll(root, mode); err != nil {
		return nil, fmt.Errorf("state root %s: %w", root, unwrapPathErr(err))
	}
	if err := checkTrustedDir("state root", root, true); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExist, id)
		}
		return nil, fmt.Errorf("state dir %s: %w", dir, unwrapPathErr(err))
	}
	c := &Container{dir: dir, State: State{ID: id}}
	if err := c.Lock(false); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return c, nil
}

// Load reads the container's state without locking. The state file is only
// ever replaced by rename, so a reader sees a whole old or a whole new one.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c := &Container{dir: filepath.Join(root, id), State: State{ID: id}}
	if err := checkTrusted(root, c.dir); err != nil {
		return nil, err
	}
	if err := c.reload(); err != nil {
		return c, err
	}
	return c, nil
}

// reload re-reads state.json. A directory without a state file is a create
// in progress (or one that died before writing it): it loads with InitPID 0.
func (c *Container) reload() error {
	data, err := readNoFollow(filepath.Join(c.dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, derr := os.Stat(c.dir); derr != nil {
				return fmt.Errorf("%w: %s", ErrNotExist, c.ID)
			}
			return nil
		}
		return fmt.Errorf("%w: %s: %w", ErrCorruptState, c.ID, unwrapPathErr(err))
	}
	var st State
	if err := jsonlite.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%w: %s: %s: %v (delete it with 'berth delete --force %s')", ErrCorruptState, c.ID, stateFile, err, c.ID)
	}
	if st.ID != c.ID {
		return fmt.Errorf("%w: %s: %s names container %q", ErrCorruptState, c.ID, stateFile, st.ID)
	}
	c.State = st
	return nil
}

// readNoFollow reads a file that must not be a symlink (ELOOP otherwise).
func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Lock takes the container's flock. With nonblock it fails with ErrLocked
// instead of waiting. It fails with ErrNotExist if the directory was removed
// while we waited (a concurrent delete won).
func (c *Container) Lock(nonblock bool) error {
	f, err := os.OpenFile(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotExist, c.ID)
		}
		return fmt.Errorf("lock %s: %w", c.dir, unwrapPathErr(err))
	}
	how := unix.LOCK_EX
	if nonblock {
		how |= unix.LOCK_NB
	}
	if err := linux.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s", ErrLocked, c.ID)
		}
		return fmt.Errorf("lock %s: %w", c.dir, err)
	}
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(c.dir, &now) != nil || held.Ino != now.Ino {
		f.Close()
		return fmt.Errorf("%w: %s", ErrNotExist, c.ID)
	}
	c.lock = f
	return nil
}

// Unlock releases the lock; safe to call when it is not held.
func (c *Container) Unlock() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// save writes state.json: temp file, rename. Not fsync'ed: a state file
// only describes processes, which do not outlive a power loss either, and
// the rename alone keeps it whole across a crash of berth (a cut-off one is
// what `delete --force` is for). runc does not fsync it either; on a
// disk-backed --root the fsyncs cost ~1 ms each, three per create.
// Preconditions: lock held.
func (c *Container) save() error {
	if c.Config != nil && c.RawConfig == nil { // encoded once; Update clears it
		raw, err := json.Marshal(c.Config)
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		c.RawConfig = raw
	}
	data, err := json.Marshal(&c.State)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(c.dir, stateFile), data, 0o600, false)
}

// writeFileAtomic replaces path with data so that readers see the old or the
// new content, never a mix, even across a crash of berth; durable adds an
// fsync, for files that must also survive a crash of the machine.
func writeFileAtomic(path string, data []byte, mode os.FileMode, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPathErr(err))
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil && mode != 0o600 { // CreateTemp makes it 0600
		err = tmp.Chmod(mode)
	}
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.dir }

// List loads every container under root. Entries that cannot be read are
// returned with their error so that `list` can show them instead of failing.
// The last result is about the root itself; one that does not exist is an
// error wrapping os.ErrNotExist.
func List(root string) ([]*Container, []error, error) {
	if err := checkTrustedDir("state root", root, true); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("state root %s: %w", root, unwrapPathErr(err))
		}
		return nil, nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("state root %s: %w", root, unwrapPathErr(err))
	}
	var out []*Container
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			if errors.Is(err, ErrNotExist) {
				continue // deleted while we listed
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errs, nil
}

// StatePaused is the status runc reports for a frozen container; the
// runtime spec itself has no word for it.
const StatePaused specs.ContainerState = "paused"

// Report is the state as `berth state` and `berth list --format json` print
// it: the OCI state plus runc's extra fields.
type Report struct {
	OCIVersion  string               `json:"ociVersion"`
	ID          string               `json:"id"`
	PID         int                  `json:"pid"`
	Status      specs.ContainerState `json:"status"`
	Bundle      string               `json:"bundle"`
	Rootfs      string               `json:"rootfs"`
	Created     time.Time            `json:"created"`
	Annotations map[string]string    `json:"annotations,omitempty"`
	Owner       string               `json:"owner"`
}

// Report derives the container's current state for printing.
func (c *Container) Report() Report {
	st := c.Status()
	r := Report{
		OCIVersion: c.OCIVersion, ID: c.ID, Status: st, Bundle: c.Bundle, Rootfs: c.Rootfs,
		Created: c.Created, Annotations: c.Annotations, Owner: ownerOf(c.dir),
	}
	if st != specs.StateStopped {
		r.PID = c.InitPID
	}
	return r
}

func ownerOf(dir string) string {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return ""
	}
	if name, ok := userName(int(st.Uid)); ok {
		return name
	}
	return fmt.Sprintf("#%d", st.Uid) // as runc
}

// Package rootfs builds a container's filesystem view inside its new mount
// namespace: the spec's mounts in order, /dev, pivot_root, and the masked and
// read-only paths. Every mount target is created and opened inside the
// rootfs without following links out of it (openat2 RESOLVE_IN_ROOT, see
// resolve_linux.go), and the mount goes onto /proc/self/fd/N of that
// handle, so a symlink swapped in by the image or a racing process cannot
// redirect it to the host (CVE-2021-30465 class).
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// Config is what the rootfs stage needs from the container's plan.
type Config struct {
	Rootfs        string // host path of the rootfs
	BundleDir     string // relative bind sources are relative to it
	Mounts        []specs.Mount
	Propagation   string // linux.rootfsPropagation
	Readonly      bool   // root.readonly
	Devices       []specs.LinuxDevice
	MaskedPaths   []string
	ReadonlyPaths []string
	CgroupPaths   map[string]string // the container's cgroup dirs, for "cgroup" mounts
	NewCgroupNS   bool
	InUserNS      bool
	NoPivot       bool
	Cwd           string // process.cwd, made before a read-only root
	Console       bool   // process.terminal: /dev/console is made for the pty
	// SharedMountNS: the container has no mount namespace of its own. Its
	// mounts then land in berth's (the host's) mount table, as with runc;
	// berth does not touch the host's propagation, enters the rootfs with
	// chroot, and `delete` detaches the mounts it stacked on root.path
	// (DetachOwnMounts).
	SharedMountNS bool
	// Idmapped holds, by index in Mounts, the detached idmapped mounts the
	// parent made (idmap_linux.go). Prepare closes them all.
	Idmapped map[int]*os.File
	// BindSources holds, by index in Mounts, the clones of bind sources
	// the parent made in a new user namespace (libcontainer's
	// bindsrc_linux.go), used instead of the source path. Prepare closes
	// them all.
	BindSources map[int]*os.File
}

// Rootfs is the rootfs being set up. Its methods run in the init stage, in
// the container's mount namespace.
type Rootfs struct {
	cfg    Config
	rootFd *os.File // the rootfs directory, after it is bind-mounted on itself
	// readonlyLater are read-only tmpfs mounts, mounted writable so that
	// what goes under them (devpts on a read-only /dev, /dev/console,
	// process.cwd) can be made; Finalize makes them read-only (as runc).
	readonlyLater []*os.File
}

// Prepare makes the mount namespace private to the container, binds the
// rootfs onto itself (pivot_root needs a mount point), then performs the
// spec's mounts in order and populates /dev.
func Prepare(cfg Config) (*Rootfs, error) {
	// MS_SLAVE (or the spec's choice) first, so nothing done here leaks to
	// the host's mount table.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if cfg.Propagation != "" {
		f, ok := PropagationFlag(cfg.Propagation)
		if !ok {
			return nil, fmt.Errorf("linux.rootfsPropagation %q is not a propagation mode", cfg.Propagation)
		}
		prop = f
	}
	if !cfg.SharedMountNS {
		if err := linux.Mount("", "/", "", prop, ""); err != nil {
			return nil, fmt.Errorf("make / %s: %w", cfg.Propagation, err)
		}
		if err := makeParentPrivate(cfg.Rootfs); err != nil {
			return nil, err
		}
	}
	if err := linux.Mount(cfg.Rootfs, cfg.Rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("bind rootfs: %w", err)
	}
	fd, err := os.OpenFile(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	r := &Rootfs{cfg: cfg, rootFd: fd}
	defer closeIdmapped(cfg.Idmapped) // the workload never holds one
	defer closeIdmapped(cfg.BindSources)
	setupDev := true
	for i, m := range cfg.Mounts {
		m.Destination = stripRoot(cfg.Rootfs, m.Destination)
		var err error
		if f := cfg.Idmapped[i]; f != nil {
			delete(cfg.Idmapped, i)
			err = r.idmappedMount(m, f)
		} else if f := cfg.BindSources[i]; f != nil {
			delete(cfg.BindSources, i)
			err = r.idmappedMount(m, f) // a plain clone: moved the same way
		} else if idmapped, _ := Idmapped(m); idmapped {
			err = errors.New("idmapped mount: no mount was prepared for it")
		} else {
			err = r.mount(m)
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("mounts[%d] %s on %s: %w", i, m.Type, m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/" {
			// A mount on the root itself (a non-root user's image rootfs:
			// overlayfs, made here in its user namespace) is the rootfs
			// from now on: later mounts and pivot_root go into it.
			if err := r.reopenRoot(); err != nil {
				r.Close()
				return nil, err
			}
		}
		if filepath.Clean(m.Destination) == "/dev" && parseOptions(m.Options, m.Type).bind {
			setupDev = false // the host's /dev was bound in on purpose
		}
	}
	if setupDev {
		if err := r.createDevices(); err != nil {
			r.Close()
			return nil, err
		}
		if err := r.ptmxLink(); err != nil {
			r.Close()
			return nil, err
		}
		if cfg.Console {
			// The pty's slave is bound here later (MountConsole).
			f, err := r.mountTarget("/dev/console", false)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("/dev/console: %w", err)
			}
			f.Close()
		}
	}
	return r, nil
}

func (r *Rootfs) reopenRoot() error {
	fd, err := os.OpenFile(r.cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs after a mount on /: %w", err)
	}
	r.rootFd.Close()
	r.rootFd = fd
	return nil
}

func closeIdmapped(fs map[int]*os.File) {
	for i, f := range fs {
		f.Close()
		delete(fs, i)
	}
}

// Close releases the rootfs handle.
func (r *Rootfs) Close() {
	if r.rootFd != nil {
		r.rootFd.Close()
		r.rootFd = nil
	}
}

// makeParentPrivate makes the mount holding rootfs private when it is
// shared: pivot_root refuses a new root whose parent mount is shared.
func makeParentPrivate(rootfs string) error {
	for dir := rootfs; ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || dir == "/" {
			return &os.PathError{Op: "make private", Path: dir, Err: err}
		}
		// EINVAL: dir is not a mount point; try its parent.
	}
}

// mountTarget creates the destination (a directory, or an empty file when
// the source is not a directory) and returns a handle on it.
func (r *Rootfs) mountTarget(dest string, dir bool) (*os.File, error) {
	if dir {
		return r.mkdirAll(dest)
	}
	f, err := r.openInRoot(dest, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	return r.walkCreate(dest, true)
}

// mountTargetDir is mountTarget for a directory; it also says whether the
// directory was there before.
func (r *Rootfs) mountTargetDir(dest string) (*os.File, bool, error) {
	f, err := r.openInRoot(dest, unix.O_DIRECTORY)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return nil, false, err
	}
	f, err = r.mkdirAll(dest)
	return f, false, err
}

// createFileAt makes an empty file name in parent (an existing one is kept)
// and returns an O_PATH handle on it that did not follow a symlink.
func createFileAt(parent *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	switch {
	case err == nil:
		unix.Close(fd)
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENXIO), errors.Is(err, unix.EACCES):
		// an existing directory or node: fine, open it below
	default:
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	fd, err = unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// procFdPath names a handle for mount(2) without re-resolving its path.
func procFdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

func (r *Rootfs) mount(m specs.Mount) error {
	o := parseOptions(m.Options, m.Type)
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		return r.mountCgroup(m, o)
	}
	if o.bind {
		return r.bindMount(m, o)
	}
	target, existed, err := r.mountTargetDir(m.Destination)
	if err != nil {
		return err
	}
	defer target.Close()
	if m.Type == "tmpfs" {
		return r.mountTmpfs(m, o, target, existed)
	}
	err = linux.Mount(m.Source, procFdPath(target), m.Type, o.flags, o.dataString())
	if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
		// sysfs cannot be mounted without owning the network namespace
		// (a user namespace sharing the host's): bind the host's instead.
		err = linux.Mount("/sys", procFdPath(target), "bind", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			err = r.remountAt(m.Destination, o.flags|unix.MS_BIND)
		}
	}
	if err != nil {
		return err
	}
	return r.setPropagation(m.Destination, o)
}

// setRecursiveAttr applies "rro"-style options to the mount at dest and
// every mount below it.
func (r *Rootfs) setRecursiveAttr(dest string, set, clr uint64) error {
	f, err := r.openMounted(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: set, Attr_clr: clr})
	if err != nil {
		return &os.PathError{Op: "mount_setattr (recursive options)", Path: dest, Err: err}
	}
	return nil
}

// remountAt changes the flags of the mount at dest inside the rootfs.
func (r *Rootfs) remountAt(dest string, flags uintptr) error {
	f, err := r.openMounted(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	return remount(procFdPath(f), flags)
}

// remount changes the flags of the mount at path, keeping the flags the
// kernel locks on it (nodev, nosuid, ... inherited in a user namespace).
func remount(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err == nil {
		flags |= uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	}
	return linux.Mount("", path, "", flags|unix.MS_REMOUNT, "")
}

func (r *Rootfs) setPropagation(dest string, o mountOpts) error {
	if len(o.propagation) == 0 {
		return nil
	}
	f, err := r.openMounted(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range o.propagation {
		if err := linux.Mount("", procFdPath(f), "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// ptmxLink points /dev/ptmx at the container's devpts instance.
func (r *Rootfs) ptmxLink() error {
	dev, err := r.mkdirAll("/dev")
	if err != nil {
		return err
	}
	defer dev.Close()
	if err := unix.Unlinkat(int(dev.Fd()), "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: "/dev/ptmx", Err: err}
	}
	return r.symlink("pts/ptmx", "/dev/ptmx")
}

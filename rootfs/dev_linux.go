package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// defaultDevices are created in every container with its own /dev, as the
// runtime spec requires.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devSymlinks are the links of /dev the spec requires.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
}

// createDevices makes the default devices and linux.devices inside rootfs.
// In a user namespace mknod is not allowed: the host's node is bind-mounted
// onto an empty file instead, as runc does.
func (r *Rootfs) createDevices() error {
	all := append([]specs.LinuxDevice{}, defaultDevices...)
	all = append(all, r.cfg.Devices...)
	oldMask := unix.Umask(0)
	defer unix.Umask(oldMask)
	for _, d := range all {
		if err := r.createDevice(d); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	for _, l := range devSymlinks {
		if err := r.symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		if err := r.symlink("/proc/kcore", "/dev/core"); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rootfs) createDevice(d specs.LinuxDevice) error {
	if !filepath.IsAbs(d.Path) {
		return fmt.Errorf("path is not absolute")
	}
	var mode uint32
	switch d.Type {
	case "c", "u":
		mode = unix.S_IFCHR
	case "b":
		mode = unix.S_IFBLK
	case "p":
		mode = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q (want c, b, u or p)", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(*d.FileMode) & 0o7777
	}
	parent, err := r.mkdirAll(filepath.Dir(d.Path))
	if err != nil {
		return err
	}
	defer parent.Close()
	base := filepath.Base(d.Path)
	hostPath := procFdPath(parent) + "/" + base
	if r.cfg.InUserNS {
		return r.bindDevice(parent, base, d.Path)
	}
	if err := unix.Unlinkat(int(parent.Fd()), base, 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil // a mount from the spec sits there: it wins
		}
		if !errors.Is(err, unix.ENOENT) {
			return os.NewSyscallError("unlinkat", err)
		}
	}
	if err := linux.Mknod(hostPath, mode|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return err
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return os.NewSyscallError("fchownat", unix.Fchownat(int(parent.Fd()), base, uid, gid, unix.AT_SYMLINK_NOFOLLOW))
}

// bindDevice bind-mounts the host's own device node at path.
func (r *Rootfs) bindDevice(parent *os.File, base, path string) error {
	f, err := createFileAt(parent, base)
	if err != nil {
		return err
	}
	defer f.Close()
	return linux.Mount(path, procFdPath(f), "bind", unix.MS_BIND, "")
}

// symlink creates link -> target inside the rootfs; an existing entry is kept.
func (r *Rootfs) symlink(target, link string) error {
	parent, err := r.mkdirAll(filepath.Dir(link))
	if err != nil {
		return err
	}
	defer parent.Close()
	err = unix.Symlinkat(target, int(parent.Fd()), filepath.Base(link))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "symlink", Path: link, Err: err}
	}
	return nil
}

// MountConsole binds the pty slave onto the container's /dev/console, as
// the runtime spec asks for process.terminal (and runc does). It runs in
// init, inside the new root; the file is made by Prepare (Config.Console).
// Without one (a /dev bound from the host has its own), nothing is done.
func MountConsole(slave *os.File) error {
	f, err := openNoFollow("/dev/console")
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return linux.Mount(procFdPath(slave), procFdPath(f), "", unix.MS_BIND, "")
}

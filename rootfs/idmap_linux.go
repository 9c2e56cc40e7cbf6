package rootfs

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Idmapped mounts (mounts[].uidMappings/gidMappings, options idmap and
// ridmap). The parent, in the host's user namespace and the container's
// mount namespace (whose copies of the host's mounts the kernel locks),
// clones the source (OpenIdmapped: open_tree(OPEN_TREE_CLONE), then
// mount_setattr with MOUNT_ATTR_IDMAP and a user namespace made for the mapping): only it has
// CAP_SYS_ADMIN over that namespace, which a container's own user
// namespace does not. Init moves the detached mount onto its target in
// order with the other mounts (idmappedMount) and closes it.

// Idmapped reports whether m is an idmapped mount and whether the mapping
// covers the mounts below its source too (ridmap).
func Idmapped(m specs.Mount) (idmapped, recursive bool) {
	o := parseOptions(m.Options, m.Type)
	return o.idmap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0, o.ridmap
}

// OpenIdmapped returns a detached clone of source, recursive for rbind,
// with the idmapping of the user namespace userns (on the whole tree for
// ridmap, else on its top mount only).
func OpenIdmapped(source string, m specs.Mount, userns *os.File) (*os.File, error) {
	o := parseOptions(m.Options, m.Type)
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if o.recursive || o.ridmap {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: source, Err: err}
	}
	setFlags := unix.AT_EMPTY_PATH
	if o.ridmap {
		setFlags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", uint(setFlags), &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("idmap %s: %w (does its filesystem support idmapped mounts?)", source, os.NewSyscallError("mount_setattr", err))
	}
	return os.NewFile(uintptr(fd), source), nil
}

// idmappedMount moves the detached idmapped mount f (or a plain clone of a
// bind source, Config.BindSources) onto m's destination, then gives it m's
// options as bindMount does. f is closed.
func (r *Rootfs) idmappedMount(m specs.Mount, f *os.File) error {
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	target, err := r.mountTarget(m.Destination, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer target.Close()
	err = unix.MoveMount(int(f.Fd()), "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return os.NewSyscallError("move_mount (idmapped)", err)
	}
	return r.bindOptions(m, parseOptions(m.Options, m.Type))
}

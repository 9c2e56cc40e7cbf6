package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// IsBind reports whether m is a bind mount and whether it is recursive.
func IsBind(m specs.Mount) (bind, recursive bool) {
	o := parseOptions(m.Options, m.Type)
	return o.bind, o.recursive
}

func (r *Rootfs) bindMount(m specs.Mount, o mountOpts) error {
	source := m.Source
	if !filepath.IsAbs(source) {
		source = filepath.Join(r.cfg.BundleDir, source)
	}
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	target, err := r.mountTarget(m.Destination, fi.IsDir())
	if err != nil {
		return err
	}
	defer target.Close()
	flags := uintptr(unix.MS_BIND)
	if o.recursive {
		flags |= unix.MS_REC
	}
	if err := linux.Mount(source, procFdPath(target), "bind", flags, ""); err != nil {
		return err
	}
	return r.bindOptions(m, o)
}

// bindOptions gives the bind mount at m's destination the flags, recursive
// attributes and propagation m asks for.
func (r *Rootfs) bindOptions(m specs.Mount, o mountOpts) error {
	// Bind mounts ignore every flag but MS_REC on creation; the others take
	// a remount of the new mount. Without any flag set or cleared, the
	// source's flags stay.
	if o.flags&^unix.MS_REMOUNT != 0 || o.clear != 0 {
		f, err := r.openMounted(m.Destination)
		if err != nil {
			return err
		}
		err = remountBindExact(procFdPath(f), o)
		f.Close()
		if err != nil {
			return fmt.Errorf("set the mount's options: %w", err)
		}
	}
	if o.recAttrSet != 0 || o.recAttrClr != 0 {
		if err := r.setRecursiveAttr(m.Destination, o.recAttrSet, o.recAttrClr); err != nil {
			return err
		}
	}
	return r.setPropagation(m.Destination, o)
}

const (
	atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_NODIRATIME
	// lockFlags are the flags the kernel locks on mounts inherited from a
	// more privileged mount namespace (MNT_LOCK_*).
	lockFlags = unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOSUID | atimeFlags
)

// remountBindExact gives the bind mount at path exactly the flags the
// config asked for: ro, nosuid, nodev, noexec of its source that were not
// asked for are cleared (runc 1.5, "mount --bind -o" as users mean it);
// atime flags not asked for stay. Where the kernel locks some of the
// source's flags (a mount from a more privileged namespace), those are
// kept, unless the config asked to clear one: that is an error.
func remountBindExact(path string, o mountOpts) error {
	flags := o.flags | unix.MS_BIND | unix.MS_REMOUNT
	err := linux.Mount("", path, "", flags, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if serr := unix.Statfs(path, &st); serr != nil {
		return err
	}
	src := statfsFlags(st.Flags)
	if locked := src & o.clear & lockFlags; locked != 0 {
		return fmt.Errorf("cannot clear flags the kernel locks on the source (%#x): %w", locked, err)
	}
	if want := o.flags & atimeFlags; want != 0 && want != src&atimeFlags {
		return fmt.Errorf("cannot change the atime flags the kernel locks on the source: %w", err)
	}
	return linux.Mount("", path, "", flags|src&lockFlags, "")
}

// statfsFlags turns statfs's ST_* flags into MS_* flags.
func statfsFlags(st int64) uintptr {
	var out uintptr
	for _, f := range [][2]uintptr{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st)&f[0] != 0 {
			out |= f[1]
		}
	}
	if out&(unix.MS_NOATIME|unix.MS_RELATIME) == 0 {
		out |= unix.MS_STRICTATIME
	}
	return out
}

// stripRoot takes a mount destination written as the host path of a place
// inside the rootfs ("<rootfs>/final") as that place ("/final"), as runc
// does; any other destination is returned as it was.
func stripRoot(rootfs, dest string) string {
	root, clean := filepath.Clean(rootfs), filepath.Clean("/"+dest)
	if root != "/" && (clean == root || strings.HasPrefix(clean, root+"/")) {
		return filepath.Clean("/" + strings.TrimPrefix(clean, root))
	}
	return dest
}

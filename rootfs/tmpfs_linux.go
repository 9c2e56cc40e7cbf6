package rootfs

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// mountTmpfs mounts a tmpfs on target (existed: the directory was there
// before, not made for the mount), as runc 1.5 does:
//   - it takes the mode of the directory it covers; a mode= of the
//     config's, later in the data, wins; on a new directory tmpfs's own
//     default, 1777, stays;
//   - with tmpcopyup it starts with a copy of what it covers;
//   - a read-only one is mounted writable and made read-only by Finalize,
//     so that what goes under it (devpts on a read-only /dev,
//     /dev/console, process.cwd) can be made first.
func (r *Rootfs) mountTmpfs(m specs.Mount, o mountOpts, target *os.File, existed bool) error {
	if existed {
		var st unix.Stat_t
		if err := unix.Fstat(int(target.Fd()), &st); err != nil {
			return os.NewSyscallError("fstat", err)
		}
		o.data = append([]string{fmt.Sprintf("mode=%04o", st.Mode&0o7777)}, o.data...)
	}
	if err := linux.Mount(m.Source, procFdPath(target), "tmpfs", o.flags&^unix.MS_RDONLY, o.dataString()); err != nil {
		return err
	}
	mounted, err := r.openMounted(m.Destination)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			mounted.Close()
		}
	}()
	if o.copyUp {
		if err := copyUp(target, mounted); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	if err := r.setPropagation(m.Destination, o); err != nil {
		return err
	}
	if o.flags&unix.MS_RDONLY != 0 {
		r.readonlyLater = append(r.readonlyLater, mounted)
		keep = true
	}
	return nil
}

// makeReadonlyLater makes the read-only tmpfs mounts read-only, through
// the handles taken when they were mounted.
func (r *Rootfs) makeReadonlyLater() error {
	defer func() {
		for _, f := range r.readonlyLater {
			f.Close()
		}
		r.readonlyLater = nil
	}()
	for _, f := range r.readonlyLater {
		err := unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		if err != nil {
			return &os.PathError{Op: "mount_setattr read-only", Path: f.Name(), Err: err}
		}
	}
	return nil
}

package rootfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// mountTmpfsCopyUp mounts a tmpfs that starts with a copy of the directory
// it covers (the "tmpcopyup" option podman gives its --read-only and
// --tmpfs mounts). under is the handle on that directory, taken before the
// mount: through it the image's files stay readable afterwards.
func (r *Rootfs) mountTmpfsCopyUp(m specs.Mount, o mountOpts, under *os.File) error {
	src, err := os.OpenFile(procFdPath(under), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tmpcopyup: open %s: %w", m.Destination, err)
	}
	defer src.Close()
	// Writable while it is filled; the mount's own flags come after.
	if err := linux.Mount(m.Source, procFdPath(under), "tmpfs", o.flags&^unix.MS_RDONLY, o.dataString()); err != nil {
		return err
	}
	dst, err := r.openMounted(m.Destination)
	if err != nil {
		return err
	}
	defer dst.Close()
	// The trailing slashes follow the /proc/self/fd links to the directories.
	if err := copyTree(procFdPath(src)+"/", procFdPath(dst)+"/"); err != nil {
		return fmt.Errorf("tmpcopyup %s: %w", m.Destination, err)
	}
	if o.flags&unix.MS_RDONLY != 0 {
		if err := remount(procFdPath(dst), o.flags); err != nil {
			return err
		}
	}
	return r.setPropagation(m.Destination, o)
}

// copyTree copies the directory tree at src into dst, keeping modes, owners
// and symlinks; device nodes and sockets are skipped.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case rel == ".":
			return os.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid))
		case fi.IsDir():
			if err := os.Mkdir(to, fi.Mode().Perm()); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err == nil {
				err = os.Symlink(target, to)
			}
			if err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(path, to, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil
		}
		return os.Lchown(to, int(st.Uid), int(st.Gid))
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside the rootfs come from the image and the config: untrusted.
// They are resolved by the kernel with openat2(RESOLVE_IN_ROOT), so that
// "..", absolute symlinks and links planted by the image all stay inside the
// rootfs, and magic links (/proc/self/fd/N) are refused. One syscall when
// the path exists; creating a missing one walks up only as far as needed.

const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens unsafePath inside the rootfs as an O_PATH handle.
func (r *Rootfs) openInRoot(unsafePath string, flags uint64) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | flags, Resolve: inRoot}
	fd, err := unix.Openat2(int(r.rootFd.Fd()), unsafePath, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open in rootfs", Path: unsafePath, Err: err}
	}
	return os.NewFile(uintptr(fd), unsafePath), nil
}

// openMounted opens dest again after something was mounted on it: a handle
// taken before the mount names the directory underneath, not the new mount.
func (r *Rootfs) openMounted(dest string) (*os.File, error) {
	return r.openInRoot(dest, 0)
}

// mkdirAll makes unsafePath and its missing parents as directories inside
// the rootfs and returns an O_PATH handle on it.
func (r *Rootfs) mkdirAll(unsafePath string) (*os.File, error) {
	f, err := r.openInRoot(unsafePath, unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	return r.walkCreate(unsafePath, false)
}

// maxSymlinks is the kernel's limit of links followed in one lookup.
const maxSymlinks = 40

// walkCreate resolves unsafePath one component at a time from the rootfs,
// as the kernel would with the rootfs as "/", and creates what is missing:
// directories, and with file the last component as an empty file. A
// symlink, dangling or not, is followed inside the rootfs (an absolute
// target from its root, ".." never above it), so a target through
// "/var/run -> ../run" with no /run lands in the rootfs's /run, as with
// runc 1.5. Each step opens one name in a handle with O_NOFOLLOW (each new
// directory made with mkdirat there), so nothing is resolved, let alone
// created, outside the rootfs, even with a racing rename.
func (r *Rootfs) walkCreate(unsafePath string, file bool) (*os.File, error) {
	cur, err := r.openInRoot("/", unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer func() { cur.Close() }()
	curPath, rest := "/", splitPath(unsafePath)
	links, steps := 0, 0
	for len(rest) > 0 {
		if steps++; steps > 1024 { // a racer undoing each step
			return nil, &os.PathError{Op: "create in rootfs", Path: unsafePath, Err: unix.ELOOP}
		}
		name := rest[0]
		last := len(rest) == 1
		if name == ".." {
			next, err := r.openInRoot(filepath.Dir(curPath), unix.O_DIRECTORY)
			if err != nil {
				return nil, err
			}
			cur.Close()
			cur, curPath, rest = next, filepath.Dir(curPath), rest[1:]
			continue
		}
		fd, err := unix.Openat(int(cur.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err := createAt(cur, name, last && file); err != nil {
				return nil, &os.PathError{Op: "create in rootfs", Path: filepath.Join(curPath, name), Err: err}
			}
			continue // open what was made (or what a racer put there)
		}
		if err != nil {
			return nil, &os.PathError{Op: "open in rootfs", Path: filepath.Join(curPath, name), Err: err}
		}
		next := os.NewFile(uintptr(fd), filepath.Join(curPath, name))
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			next.Close()
			return nil, os.NewSyscallError("fstat", err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := readlinkAt(fd, "")
			next.Close()
			if err != nil {
				return nil, err
			}
			if links++; links > maxSymlinks {
				return nil, &os.PathError{Op: "open in rootfs", Path: unsafePath, Err: unix.ELOOP}
			}
			rest = append(splitPath(target), rest[1:]...)
			if filepath.IsAbs(target) {
				root, err := r.openInRoot("/", unix.O_DIRECTORY)
				if err != nil {
					return nil, err
				}
				cur.Close()
				cur, curPath = root, "/"
			}
			continue
		case unix.S_IFDIR:
		default:
			if !last || !file {
				next.Close()
				return nil, &os.PathError{Op: "open in rootfs", Path: next.Name(), Err: unix.ENOTDIR}
			}
		}
		cur.Close()
		cur, curPath, rest = next, next.Name(), rest[1:]
	}
	f := cur
	cur = nil
	return f, nil
}

// createAt makes name in dir: an empty file, or a directory. One that
// exists already (a racing create) is no error.
func createAt(dir *os.File, name string, file bool) error {
	var err error
	if file {
		var fd int
		fd, err = unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
	} else {
		err = unix.Mkdirat(int(dir.Fd()), name, 0o755)
	}
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// splitPath splits a path into its components, without "" and ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

package pull

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unpack applies one layer (an uncompressed tar stream) to the empty
// directory dir, in the form overlayfs reads as a lower directory: an OCI
// whiteout (.wh.NAME) becomes a 0/0 character device, an opaque directory
// (.wh..wh..opq) the trusted.overlay.opaque xattr. Files, directories, hard
// links, symlinks, device nodes and fifos keep their mode, owner, xattrs and
// times. Every path is resolved inside dir (openat2 RESOLVE_IN_ROOT), so an
// entry cannot reach outside it through "..", an absolute path or a symlink
// the layer made. lowers are the unpacked layers below (top first): a hard
// link to a file of a lower layer is a copy.
func Unpack(r io.Reader, dir string, lowers []string) error {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	u := &unpacker{root: root, lowers: lowers}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	return u.finishDirs()
}

type unpacker struct {
	root   int
	lowers []string
	dirs   []*tar.Header // metadata applied last, deepest first
}

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	name := cleanName(hdr.Name)
	if name == "" {
		return nil // the layer's root: the merged root's attributes are the upper dir's
	}
	parent, base := path.Split(name)
	pfd, err := u.ensureDir(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == ".wh..wh..opq" {
		return setOpaque(pfd)
	}
	if target, ok := strings.CutPrefix(base, ".wh."); ok {
		if _, err := fstatat(pfd, target); err == nil {
			return nil // a whiteout hides only lower layers' files
		}
		return unix.Mknodat(pfd, target, unix.S_IFCHR, 0)
	}
	if hdr.Typeflag == tar.TypeDir {
		if st, err := fstatat(pfd, base); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			u.dirs = append(u.dirs, withName(hdr, name))
			return nil
		}
	}
	if err := removeAt(pfd, base); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return err
		}
		u.dirs = append(u.dirs, withName(hdr, name))
		return nil
	case tar.TypeReg, tar.TypeRegA:
		return writeFile(pfd, base, hdr, body)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		return u.hardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		if userNS {
			// Root of a user namespace makes no device node (nor does
			// rootless podman): an empty file stands in for it.
			return writeFile(pfd, base, hdr, strings.NewReader(""))
		}
		fallthrough
	case tar.TypeFifo:
		mode := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		if err := unix.Mknodat(pfd, base, mode|uint32(hdr.Mode&0o7777), int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
	default:
		return nil // pax globals, GNU sparse remnants: nothing to make
	}
	return setMeta(pfd, base, hdr)
}

func withName(hdr *tar.Header, name string) *tar.Header {
	h := *hdr
	h.Name = name
	return &h
}

// ensureDir opens rel (made 0755 where missing) inside the layer. A
// component that is a symlink to nothing yet gets its target made, inside
// the layer, as the kernel would resolve it there.
func (u *unpacker) ensureDir(rel string) (int, error) { return u.ensureDirDepth(rel, 0) }

func (u *unpacker) ensureDirDepth(rel string, depth int) (int, error) {
	fd, err := openIn(u.root, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != unix.ENOENT {
		return fd, err
	}
	if depth > 40 {
		return -1, unix.ELOOP
	}
	parent, base := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	pfd, err := u.ensureDirDepth(parent, depth+1)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	// A symlink of a lower layer is followed as in the merged rootfs (and as
	// umoci, which unpacks into one tree, does): lib/x over a lower lib ->
	// usr/lib is usr/lib/x in this layer.
	if target, ok := u.lowerSymlink(path.Join(parent, base)); ok && !isOpaque(pfd) {
		if !path.IsAbs(target) {
			target = path.Join(parent, target)
		}
		return u.ensureDirDepth(cleanName(target), depth+1)
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	if err == unix.EEXIST {
		buf := make([]byte, 4096)
		if n, lerr := unix.Readlinkat(pfd, base, buf); lerr == nil {
			target := string(buf[:n])
			if !path.IsAbs(target) {
				target = path.Join(parent, target)
			}
			return u.ensureDirDepth(cleanName(target), depth+1)
		}
	} else if err != nil {
		return -1, err
	}
	return openIn(u.root, rel, unix.O_PATH|unix.O_DIRECTORY)
}

// lowerSymlink is the target of rel in the topmost lower layer that has
// rel, if there it is a symlink.
func (u *unpacker) lowerSymlink(rel string) (string, bool) {
	parent, base := path.Split(rel)
	for _, l := range u.lowers {
		lroot, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		pfd, err := openIn(lroot, strings.TrimSuffix(parent, "/"), unix.O_PATH|unix.O_DIRECTORY)
		unix.Close(lroot)
		if err != nil {
			continue
		}
		st, err := fstatat(pfd, base)
		if err != nil {
			opaque := isOpaque(pfd)
			unix.Close(pfd)
			if opaque {
				return "", false // nothing below shows through
			}
			continue
		}
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(pfd, base, buf)
		unix.Close(pfd)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK || err != nil {
			return "", false // a directory, a file or a whiteout: it hides what is below
		}
		return string(buf[:n]), true
	}
	return "", false
}

func openIn(root int, rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

func writeFile(pfd int, base string, hdr *tar.Header, body io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return err
	}
	return setMeta(pfd, base, hdr)
}

// hardlink links base to the layer's own copy of the target, or copies the
// target from the topmost lower layer that has it.
func (u *unpacker) hardlink(pfd int, base string, hdr *tar.Header) error {
	target := cleanName(hdr.Linkname)
	tfd, err := openIn(u.root, target, unix.O_PATH|unix.O_NOFOLLOW)
	if err == nil {
		defer unix.Close(tfd)
		return unix.Linkat(tfd, "", pfd, base, unix.AT_EMPTY_PATH)
	}
	for _, l := range u.lowers {
		lroot, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		src, err := openIn(lroot, target, unix.O_RDONLY|unix.O_NOFOLLOW)
		unix.Close(lroot)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		unix.Fstat(src, &st)
		h := *hdr
		h.Mode, h.Uid, h.Gid = int64(st.Mode&0o7777), int(st.Uid), int(st.Gid)
		h.ModTime = time.Unix(st.Mtim.Unix())
		f := os.NewFile(uintptr(src), target)
		err = writeFile(pfd, base, &h, f)
		f.Close()
		return err
	}
	return fmt.Errorf("hard link to %q: no such file in this layer or below", hdr.Linkname)
}

// setMeta sets owner, mode, xattrs and times; chown before chmod, which
// keeps set-id bits.
func setMeta(pfd int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue // overlay's own metadata is never taken from a layer
		}
		p := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
		err := unix.Lsetxattr(p, name, []byte(v), 0)
		if err == unix.EPERM && userNS && !strings.HasPrefix(name, "user.") {
			continue // trusted.* and security.* are the host's, not a user namespace's
		}
		if err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// finishDirs sets directories' metadata once their contents are written,
// deepest first.
func (u *unpacker) finishDirs() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		h := u.dirs[i]
		parent, base := path.Split(h.Name)
		pfd, err := openIn(u.root, strings.TrimSuffix(parent, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", h.Name, err)
		}
		err = setMeta(pfd, base, h)
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", h.Name, err)
		}
	}
	return nil
}

// userNS: the puller runs as root of a user namespace (a non-root user's
// pull, re-executed under its subordinate id maps): entries are owned by
// the ids the namespace maps, device nodes are empty files, and an opaque
// directory is marked with user.overlay.opaque, which overlayfs reads when
// mounted with userxattr in a user namespace.
var userNS = inUserNS()

func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	f := strings.Fields(string(data))
	return err == nil && !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

func opaqueXattr() string {
	if userNS {
		return "user.overlay.opaque"
	}
	return "trusted.overlay.opaque"
}

func isOpaque(dirfd int) bool {
	buf := make([]byte, 1)
	n, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", dirfd), opaqueXattr(), buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func setOpaque(dirfd int) error {
	p := fmt.Sprintf("/proc/self/fd/%d", dirfd)
	if err := unix.Setxattr(p, opaqueXattr(), []byte("y"), 0); err != nil {
		return fmt.Errorf("opaque directory: %w", err)
	}
	return nil
}

func fstatat(dirfd int, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return &st, err
}

// removeAt removes name (a directory with its contents) if it is there.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if err := removeAt(fd, n); err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

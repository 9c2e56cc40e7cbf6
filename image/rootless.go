package image

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UserNSPrefix, set by berth's main, is the command prefix that runs a
// command as root of a user namespace with the maps a non-root user's
// containers get (unshare with newuidmap/newgidmap).
var UserNSPrefix func() ([]string, error)

// lowerDirs are the image's unpacked layers, top first.
func (s *Store) lowerDirs(r *Record) ([]string, error) {
	lowers := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		p := s.LayerPath(l)
		if strings.ContainsAny(p, ":,") {
			return nil, fmt.Errorf("image store %s: a path with ':' or ',' cannot be an overlay lower dir", s.Dir)
		}
		lowers[len(r.Layers)-1-i] = p
	}
	return lowers, nil
}

// rootlessRootfs prepares a non-root user's bundle: the host gives a user
// no overlay mount, so the overlay is the config's first mount, on "/",
// which the container's init makes inside the container's user namespace
// (Linux >= 5.11 allows it there; userxattr: the layers' opaque marks are
// user.overlay.opaque). It returns the directory FillSpec reads the
// image's /etc/passwd and /etc/group from: the topmost layer that has an
// /etc/passwd.
func (s *Store) rootlessRootfs(r *Record, dir string, base *specs.Spec) (string, error) {
	lowers, err := s.lowerDirs(r)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + filepath.Join(dir, "upper"),
		"workdir=" + filepath.Join(dir, "work"), "userxattr"}
	base.Mounts = append([]specs.Mount{{Destination: "/", Type: "overlay", Source: "overlay", Options: opts}}, base.Mounts...)
	for _, l := range lowers {
		if _, err := os.Lstat(filepath.Join(l, "etc", "passwd")); err == nil {
			return l, nil
		}
	}
	return lowers[0], nil
}

// removeAsUserNS removes a non-root user's bundle dir, whose upper
// directory holds files of its subordinate ids, as root of its user
// namespace.
func removeAsUserNS(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if UserNSPrefix == nil {
		return os.RemoveAll(dir)
	}
	prefix, err := UserNSPrefix()
	if err != nil {
		return fmt.Errorf("image bundle %s: %w", dir, err)
	}
	cmd := exec.Command(prefix[0], append(prefix[1:], "rm", "-rf", "--", dir)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image bundle %s: rm in the user namespace: %v: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

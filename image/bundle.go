package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	layersFile = "layers"             // in containers/<id>: the diff IDs its rootfs stacks, for rm's GC
	markerFile = "berth-image-bundle" // in containers/<id>: "<state root>\n<id>\n"; delete removes only such dirs
)

// MakeBundle makes the bundle of container id from image name: a directory
// containers/<id> with a config.json generated from the image and a rootfs
// that is an overlayfs over the image's unpacked layers with an upper
// directory of its own, so nothing is copied. root is the state root the
// container is created in. On error nothing is left.
func (s *Store) MakeBundle(name, id, root string, base *specs.Spec, args []string) (dir string, err error) {
	unlock, err := s.Lock(false) // no rm's GC between the record and the layers file
	if err != nil {
		return "", err
	}
	defer unlock()
	r, err := s.Get(name)
	if err != nil {
		return "", err
	}
	if len(r.Layers) == 0 {
		return "", fmt.Errorf("image %s has no layers", r.Name)
	}
	dir = filepath.Join(s.Dir, "containers", id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("--image: a bundle for container %s already exists in %s (delete that container first)", id, dir)
		}
		return "", fmt.Errorf("--image: %w", err)
	}
	defer func() {
		if err != nil {
			removeBundleDir(dir)
		}
	}()
	absRoot, _ := filepath.Abs(root)
	marker := absRoot + "\n" + id + "\n" + strings.Join(r.Layers, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte(marker), 0o600); err != nil {
		return "", err
	}
	userRoot := filepath.Join(dir, "rootfs")
	if os.Geteuid() != 0 {
		if userRoot, err = s.rootlessRootfs(r, dir, base); err != nil {
			return "", err
		}
	} else if err := s.mountRootfs(r, dir); err != nil {
		return "", err
	}
	if err := FillSpec(base, r, id, args, userRoot); err != nil {
		return "", err
	}
	data, err := json.Marshal(base)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600)
}

// mountRootfs mounts dir/rootfs: overlayfs, lower dirs the image's layers
// (top first), upper and work dirs in dir.
func (s *Store) mountRootfs(r *Record, dir string) error {
	lowers, err := s.lowerDirs(r)
	if err != nil {
		return err
	}
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// volatile: the upper dir is thrown away at delete, so its unmount
	// need not write back the whole upper filesystem (tens of ms here).
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + filepath.Join(dir, "upper") +
		",workdir=" + filepath.Join(dir, "work") + ",volatile"
	target := filepath.Join(dir, "rootfs")
	if len(opts) < 4000 {
		err = unix.Mount("overlay", target, "overlay", 0, opts)
	} else { // mount(2) takes one page of options; fsconfig one layer at a time
		err = mountOverlayFsconfig(target, lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	}
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("image %s: a layer is missing from the store (pull it again): overlay mount: %w", r.Name, err)
		}
		return fmt.Errorf("image %s: overlay mount of %d layers on %s: %w", r.Name, len(lowers), target, err)
	}
	return nil
}

// mountOverlayFsconfig mounts overlayfs with the mount API, each lower dir
// (top first) with "lowerdir+" (Linux 6.8), for images whose lowerdir
// option would not fit in mount(2)'s page.
func mountOverlayFsconfig(target string, lowers []string, upper, work string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fd)
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			return fmt.Errorf("lowerdir+ %s (needs Linux 6.8 for this many layers): %w", l, err)
		}
	}
	for k, v := range map[string]string{"upperdir": upper, "workdir": work} {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := unix.FsconfigSetFlag(fd, "volatile"); err != nil {
		return fmt.Errorf("volatile: %w", err)
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// RemoveBundle undoes MakeBundle for a container of state root root being
// deleted: it unmounts the rootfs and removes the generated bundle with its
// upper directory. It does nothing for a container not made from an image
// (no annotation) or a bundle whose marker does not name this root and ID.
// An empty bundle is a container whose state could not be read: the bundle
// berth would have generated for it in the store, if there is one.
func RemoveBundle(root, id, bundle string, annotations map[string]string) error {
	if bundle == "" {
		bundle = filepath.Join(DataDir(), "containers", id)
	} else if annotations[AnnotationImage] == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(bundle, markerFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("image bundle %s: %w", bundle, err)
	}
	absRoot, _ := filepath.Abs(root)
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 || lines[0] != absRoot || lines[1] != id {
		return nil
	}
	return removeBundleDir(bundle)
}

func removeBundleDir(dir string) error {
	if os.Geteuid() != 0 {
		return removeAsUserNS(dir)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("image bundle: unmount %s: %w", rootfs, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("image bundle: %w", err)
	}
	return nil
}

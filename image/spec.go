package image

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Annotations berth sets on a container made from an image, besides those
// of the image-spec's conversion document.
const (
	AnnotationImage   = "io.github.berth-project.berth.image"        // the image name
	AnnotationDigest  = "io.github.berth-project.berth.image.digest" // its manifest digest
	AnnotationVolumes = "io.github.berth-project.berth.image.volumes"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// FillSpec turns base (berth spec's defaults) into the config of a
// container of image r, as the OCI image-spec's conversion document says:
// process args from Entrypoint and Cmd (args, when given, replace Cmd),
// Env, WorkingDir, User resolved against the image's /etc/passwd and
// /etc/group (read from rootfs, the mounted rootfs, symlinks kept inside),
// and StopSignal, ExposedPorts, Volumes and Labels as annotations.
func FillSpec(base *specs.Spec, r *Record, id string, args []string, rootfs string) error {
	c := r.Config
	cmd := c.Cmd
	if len(args) > 0 {
		cmd = args
	}
	argv := append(append([]string{}, c.Entrypoint...), cmd...)
	if len(argv) == 0 {
		return fmt.Errorf("image %s has neither Entrypoint nor Cmd: give a command after the container ID", r.Name)
	}
	p := base.Process
	p.Args = argv
	p.Terminal = false
	p.Env = imageEnv(c.Env)
	p.Cwd = "/"
	if c.WorkingDir != "" {
		if !strings.HasPrefix(c.WorkingDir, "/") {
			return fmt.Errorf("image %s: WorkingDir %q is not an absolute path", r.Name, c.WorkingDir)
		}
		p.Cwd = c.WorkingDir
	}
	user, err := resolveUser(rootfs, c.User)
	if err != nil {
		return fmt.Errorf("image %s: User %q: %w", r.Name, c.User, err)
	}
	p.User = user
	base.Root = &specs.Root{Path: "rootfs"}
	base.Hostname = id
	base.Annotations = annotations(r)
	return nil
}

// imageEnv is the image's Env, with the default PATH when it sets none.
func imageEnv(env []string) []string {
	out := append([]string{}, env...)
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return out
		}
	}
	return append([]string{defaultPath}, out...)
}

func annotations(r *Record) map[string]string {
	c := r.Config
	a := map[string]string{}
	for k, v := range c.Labels {
		a[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set("org.opencontainers.image.os", r.OS)
	set("org.opencontainers.image.architecture", r.Architecture)
	set("org.opencontainers.image.author", r.Author)
	set("org.opencontainers.image.created", r.Created)
	set("org.opencontainers.image.stopSignal", c.StopSignal)
	set("org.opencontainers.image.exposedPorts", joinKeys(c.ExposedPorts))
	set(AnnotationVolumes, joinKeys(c.Volumes))
	a[AnnotationImage] = r.Name
	a[AnnotationDigest] = r.Digest
	return a
}

func joinKeys(m map[string]struct{}) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// resolveUser turns an image's User ("", "uid", "uid:gid", "name",
// "name:group", and mixes) into ids, as the conversion document says: names
// from the image's /etc/passwd and /etc/group, the primary group from
// passwd when none is given, and the user's supplementary groups from
// /etc/group.
func resolveUser(rootfs, user string) (specs.User, error) {
	if user == "" {
		user = "0"
	}
	uname, gname, hasGroup := strings.Cut(user, ":")
	var u specs.User
	uid, numeric := parseID(uname)
	var pw *passwdEntry
	if !numeric || !hasGroup {
		var err error
		pw, err = lookupPasswd(rootfs, uname, uid, numeric)
		if err != nil {
			return u, err
		}
	}
	switch {
	case numeric:
		u.UID = uid
	case pw == nil:
		return u, fmt.Errorf("no user %q in the image's /etc/passwd", uname)
	default:
		u.UID = pw.uid
	}
	if pw != nil {
		u.GID = pw.gid
	}
	if hasGroup {
		gid, ok := parseID(gname)
		if !ok {
			g, err := lookupGroup(rootfs, gname)
			if err != nil {
				return u, err
			}
			gid = g
		}
		u.GID = gid
		return u, nil
	}
	if pw != nil {
		u.AdditionalGids = supplementaryGroups(rootfs, pw.name, u.GID)
	}
	return u, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
}

// lookupPasswd finds a user by name, or by uid when numeric; a numeric user
// without an entry is not an error (nil).
func lookupPasswd(rootfs, name string, uid uint32, numeric bool) (*passwdEntry, error) {
	var found *passwdEntry
	err := scanImageFile(rootfs, "/etc/passwd", func(f []string) bool {
		if len(f) < 4 {
			return false
		}
		id, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 || (numeric && id != uid) || (!numeric && f[0] != name) {
			return false
		}
		found = &passwdEntry{name: f[0], uid: id, gid: gid}
		return true
	})
	if err != nil && !(numeric && os.IsNotExist(err)) {
		return nil, err
	}
	return found, nil
}

func lookupGroup(rootfs, name string) (uint32, error) {
	var gid uint32
	found := false
	err := scanImageFile(rootfs, "/etc/group", func(f []string) bool {
		if len(f) >= 3 && f[0] == name {
			gid, found = parseID(f[2])
		}
		return found
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no group %q in the image's /etc/group", name)
	}
	return gid, nil
}

// supplementaryGroups are the groups of /etc/group that list user, other
// than its primary one.
func supplementaryGroups(rootfs, user string, primary uint32) []uint32 {
	var gids []uint32
	scanImageFile(rootfs, "/etc/group", func(f []string) bool {
		if len(f) < 4 {
			return false
		}
		gid, ok := parseID(f[2])
		if !ok || gid == primary {
			return false
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == user {
				gids = append(gids, gid)
				break
			}
		}
		return false
	})
	return gids
}

// scanImageFile calls fn with the colon-separated fields of each line of
// the image's file path until fn returns true. The path is resolved inside
// rootfs (openat2 RESOLVE_IN_ROOT), so an image's symlink cannot make berth
// read a host file.
func scanImageFile(rootfs, path string, fn func([]string) bool) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if err == unix.ENOENT {
			return &os.PathError{Op: "open", Path: "the image's " + path, Err: os.ErrNotExist}
		}
		return fmt.Errorf("the image's %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if fn(strings.Split(line, ":")) {
			return nil
		}
	}
	return sc.Err()
}

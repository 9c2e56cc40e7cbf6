package libcontainer

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/seccomp"
)

// The seccomp cache holds compiled profiles: libseccomp takes ~25 ms to
// compile docker's default profile, and every container of a docker or
// podman host uses the same one.
//
// An entry is named by a hash of its key and holds the key itself, which must
// match byte for byte: so the hash need not resist collisions (FNV;
// crypto/sha256 would link 0.15 MB of FIPS code into every berth process),
// and a forged or colliding entry is a cache miss, never another profile's
// filter. The key is the profile's JSON and everything else the program
// depends on (cacheIdentity): the build of berth, the libseccomp it runs
// with, the kernel's release and machine. Entries are trusted only in a
// directory that no one but root (or the caller) can write, checked along
// every component of its path (openTrustedDir); elsewhere berth compiles
// without the cache and warns once. The cache holds at most cacheMaxEntries
// entries and cacheMaxBytes bytes: the least recently used go first.

// seccompCacheEnv overrides the cache's directory (tests, or a host whose
// /var/cache is not root's).
const seccompCacheEnv = "BERTH_SECCOMP_CACHE"

var (
	seccompCacheDir = "/var/cache/berth/seccomp"
	cacheMaxEntries = 64
	cacheMaxBytes   = int64(16 << 20)
	// cacheIdentity is what, besides the profile, decides the compiled
	// program; "" when unknown, and then nothing is cached.
	cacheIdentity = sync.OnceValue(func() string {
		id := exeBuildID()
		var u unix.Utsname
		if id == "" || unix.Uname(&u) != nil {
			return ""
		}
		return seccomp.CompilerVersion + "\nberth " + id + "\nlibseccomp " + seccomp.LibraryVersion() +
			"\nkernel " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	})
	warnUntrusted sync.Once
)

const maxEntrySize = 4 << 20

type cacheEntry struct {
	Key     string           `json:"key"`
	Program *seccomp.Program `json:"program"`
}

func seccompCachePath() string {
	if dir := os.Getenv(seccompCacheEnv); dir != "" {
		return dir
	}
	return seccompCacheDir
}

// cachedProgram compiles s, or takes its program from the cache.
func cachedProgram(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	profile, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	id := cacheIdentity()
	if id == "" {
		logs.Debugf("seccomp cache: berth's build id is unknown: compiling without the cache")
		return compileProfile(s)
	}
	key := id + "\n" + string(profile)
	h := fnv.New128a()
	h.Write([]byte(key))
	name := hex.EncodeToString(h.Sum(nil)) + ".json"
	dir := seccompCachePath()
	dirfd, err := openTrustedDir(dir, true)
	if err != nil {
		if errors.Is(err, errUntrusted) {
			warnUntrusted.Do(func() { logs.Warn("seccomp cache: ", err, ": compiling without it") })
		} else {
			logs.Debugf("seccomp cache: %v", err) // only a missed speed-up
		}
		return compileProfile(s)
	}
	defer unix.Close(dirfd)
	if prog := readEntry(dirfd, name, key); prog != nil {
		return prog, nil
	}
	prog, err := compileProfile(s)
	if err != nil {
		return nil, err
	}
	if data, err := json.Marshal(cacheEntry{key, prog}); err == nil {
		if err := writeEntry(dirfd, name, data); err != nil {
			logs.Debugf("seccomp cache %s: %v", dir, err)
		}
		evictEntries(dirfd, name)
	}
	return prog, nil
}

func compileProfile(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	prog, skipped, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		logs.Debugf("linux.seccomp: syscalls unknown to libseccomp, skipped: %v", skipped)
	}
	return prog, nil
}

// readEntry returns the entry's program when the entry is a regular file
// that only its owner (root or the caller) can write, holding exactly key.
// A hit marks the entry as used (its mtime) for eviction.
func readEntry(dirfd int, name, key string) *seccomp.Program {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || checkOwner(&st) != nil || st.Size > maxEntrySize {
		return nil
	}
	data := make([]byte, st.Size)
	if n, err := f.ReadAt(data, 0); err != nil || int64(n) != st.Size {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(data, &e) != nil || e.Key != key || e.Program == nil || len(e.Program.Insns) == 0 {
		return nil
	}
	// futimens(fd, NULL): mtime is now, the entry was used.
	unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, 0, 0, 0, 0)
	return e.Program
}

// writeEntry writes an entry atomically (a temp file renamed over it), and
// durably: the cache must survive a reboot to be worth its writes.
func writeEntry(dirfd int, name string, data []byte) error {
	tmp := "." + name + "." + strconv.Itoa(os.Getpid()) + ".tmp"
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return os.NewSyscallError("openat", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.NewSyscallError("renameat", unix.Renameat(dirfd, tmp, dirfd, name))
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
	}
	return err
}

// evictEntries removes the least recently used entries (by mtime) until the
// cache is within its bounds. The entry just written (keep) stays.
func evictEntries(dirfd int, keep string) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	d := os.NewFile(uintptr(fd), "seccomp-cache")
	names, _ := d.Readdirnames(-1)
	d.Close()
	type entry struct {
		name  string
		size  int64
		mtime time.Time
	}
	var ents []entry
	var total int64
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		total += st.Size
		ents = append(ents, entry{n, st.Size, time.Unix(st.Mtim.Unix())})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].mtime.Before(ents[j].mtime) })
	count := len(ents)
	for _, e := range ents {
		if count <= cacheMaxEntries && total <= cacheMaxBytes {
			break
		}
		if e.name != keep && unix.Unlinkat(dirfd, e.name, 0) == nil {
			count--
			total -= e.size
		}
	}
}

// errUntrusted: a directory on the cache's path can be written by someone
// other than root or the caller.
var errUntrusted = errors.New("not trusted")

// openTrustedDir opens dir (absolute) one component at a time, as an O_PATH
// handle, checking each directory on the way with checkOwner: then no one
// but root or the caller can swap a component, and what was checked is what
// is used. A symlink is followed only from a directory so checked (its target
// is walked the same way). Missing components are made (0700) when create
// is set.
func openTrustedDir(dir string, create bool) (int, error) {
	if len(dir) == 0 || dir[0] != '/' {
		return -1, fmt.Errorf("%s: not an absolute path", dir)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("open /", err)
	}
	walked := "/"
	rest := strings.Split(dir, "/")
	for links := 0; ; {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "fstat", Path: walked, Err: err}
		}
		if err := checkOwner(&st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: %w", walked, err)
		}
		for len(rest) > 0 && (rest[0] == "" || rest[0] == ".") {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return fd, nil
		}
		name := rest[0]
		rest = rest[1:]
		next, target, err := openComponent(fd, name, create)
		if err == nil && target != "" {
			if links++; links > 40 {
				err = unix.ELOOP
			} else if rest = append(strings.Split(target, "/"), rest...); target[0] == '/' {
				next, err = unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				walked = "/"
			} else {
				next = fd // relative: from the directory just checked
			}
		} else if err == nil {
			walked = filepath.Join(walked, name)
		}
		if next != fd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: filepath.Join(walked, name), Err: err}
		}
		fd = next
	}
}

// openComponent opens the directory name in dirfd, making it first when it
// is missing and create is set. A symlink is not followed: its target is
// returned instead, with no fd.
func openComponent(dirfd int, name string, create bool) (int, string, error) {
	const flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if err == unix.ENOENT && create {
		if err = unix.Mkdirat(dirfd, name, 0o700); err == nil || err == unix.EEXIST {
			fd, err = unix.Openat(dirfd, name, flags, 0)
		}
	}
	if err != nil {
		return -1, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fd, "", nil
	case unix.S_IFLNK:
		defer unix.Close(fd)
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err == nil && n == 0 {
			err = unix.ENOENT
		}
		return -1, string(buf[:max(n, 0)]), err
	}
	unix.Close(fd)
	return -1, "", unix.ENOTDIR
}

// checkOwner: owned by root or the caller, writable by no one else.
func checkOwner(st *unix.Stat_t) error {
	if uid := uint32(os.Geteuid()); st.Uid != 0 && st.Uid != uid {
		return fmt.Errorf("%w: owned by uid %d", errUntrusted, st.Uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%w: writable by group or others (mode %#o)", errUntrusted, st.Mode&0o7777)
	}
	return nil
}

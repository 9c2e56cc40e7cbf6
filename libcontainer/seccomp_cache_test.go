package libcontainer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/seccomp"
)

// trustedCacheDir makes a cache directory that openTrustedDir trusts, and
// points the cache at it: /tmp is writable by all, so it lives beside the
// test's sources.
func trustedCacheDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(wd, ".seccomp-cache-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if fd, err := openTrustedDir(dir, false); err != nil {
		t.Skipf("no trusted directory for the cache here: %v", err)
	} else {
		closeFd(fd)
	}
	t.Setenv(seccompCacheEnv, dir)
	return dir
}

func closeFd(fd int) { os.NewFile(uintptr(fd), "").Close() }

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func denyProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
	}}
}

// plant replaces the program of the cache's only entry with another
// profile's, keeping the entry's key: what someone who can write the cache
// would do.
func plant(t *testing.T, dir string) *seccomp.Program {
	t.Helper()
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one entry", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	forged, _, err := seccomp.Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	e.Program = forged
	data, _ = json.Marshal(e)
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	return forged
}

// A profile is compiled once; the cached program is the same program; a
// damaged cache entry is compiled again, not trusted.
func TestSeccompCache(t *testing.T) {
	dir := trustedCacheDir(t)
	p := denyProfile()
	first, err := cachedProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one entry", files)
	}
	again, err := cachedProgram(p)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("cached program differs: %v", err)
	}
	os.WriteFile(files[0], []byte("{damaged"), 0o600)
	third, err := cachedProgram(p)
	if err != nil || !reflect.DeepEqual(first, third) {
		t.Fatalf("after damage: %v", err)
	}
	// An entry under this profile's name that holds another profile's
	// program (a forgery, or a hash collision) is not used.
	allowAll := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	forged, _ := cachedProgram(allowAll)
	data, _ := json.Marshal(cacheEntry{Key: "another profile", Program: forged})
	os.WriteFile(files[0], data, 0o600)
	if got, err := cachedProgram(p); err != nil || !reflect.DeepEqual(first, got) {
		t.Fatalf("a forged entry was used: %v", err)
	}
	p.Syscalls[0].Names = append(p.Syscalls[0].Names, "close")
	if other, _ := cachedProgram(p); reflect.DeepEqual(first, other) {
		t.Fatal("a different profile got the same program")
	}
}

// An entry planted where someone other than root could write it is not
// used: not in a directory writable by others, not below one, not in a
// directory another user owns, not in a file others can write.
func TestSeccompCacheIgnoresUntrustedDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spoil  func(dir string) error
		reason string
	}{
		{"world-writable dir", func(dir string) error { return os.Chmod(dir, 0o777) }, "writable by group or others"},
		{"group-writable dir", func(dir string) error { return os.Chmod(dir, 0o770) }, "writable by group or others"},
		{"dir of another user", func(dir string) error { return os.Chown(dir, 65534, 65534) }, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := trustedCacheDir(t)
			p := denyProfile()
			genuine, err := cachedProgram(p)
			if err != nil {
				t.Fatal(err)
			}
			forged := plant(t, dir)
			// In the trusted directory the planted entry is used: the test
			// plants what the cache would read.
			if got, _ := cachedProgram(p); !reflect.DeepEqual(got, forged) {
				t.Fatal("the planted entry was not read even from a trusted directory")
			}
			if err := tc.spoil(dir); err != nil {
				t.Fatal(err)
			}
			got, err := cachedProgram(p)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(got, forged) || !reflect.DeepEqual(got, genuine) {
				t.Fatal("a planted entry in an untrusted cache directory was used")
			}
			if _, err := openTrustedDir(dir, false); err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("openTrustedDir(%s) = %v, want %q", dir, err, tc.reason)
			}
		})
	}
	t.Run("world-writable parent", func(t *testing.T) {
		top := trustedCacheDir(t)
		dir := filepath.Join(top, "a", "seccomp")
		t.Setenv(seccompCacheEnv, dir)
		p := denyProfile()
		genuine, _ := cachedProgram(p)
		forged := plant(t, dir)
		os.Chmod(filepath.Join(top, "a"), 0o777)
		if got, _ := cachedProgram(p); reflect.DeepEqual(got, forged) || !reflect.DeepEqual(got, genuine) {
			t.Fatal("a planted entry below a world-writable directory was used")
		}
	})
}

// A symlink on the path is followed only from a trusted directory, and its
// target is checked like the rest.
func TestOpenTrustedDirSymlinks(t *testing.T) {
	top := trustedCacheDir(t)
	good, bad := filepath.Join(top, "good"), filepath.Join(top, "bad")
	os.Mkdir(good, 0o700)
	os.Mkdir(bad, 0o700)
	os.Chmod(bad, 0o777)
	os.Symlink("good", filepath.Join(top, "rel"))
	os.Symlink(good, filepath.Join(top, "abs"))
	os.Symlink("../"+filepath.Base(top)+"/bad", filepath.Join(top, "tobad"))
	for name, trusted := range map[string]bool{"rel": true, "abs": true, "tobad": false, "good": true, "bad": false, "rel/new": true} {
		fd, err := openTrustedDir(filepath.Join(top, name), name == "rel/new")
		if err == nil {
			closeFd(fd)
		}
		if (err == nil) != trusted {
			t.Errorf("%s: openTrustedDir = %v, want trusted=%v", name, err, trusted)
		}
	}
	if _, err := os.Stat(filepath.Join(good, "new")); err != nil {
		t.Errorf("rel/new was not made inside good: %v", err)
	}
}

// The key names the libseccomp version: an entry that another libseccomp
// compiled is a miss.
func TestSeccompCacheKeyHasLibseccompVersion(t *testing.T) {
	dir := trustedCacheDir(t)
	real := cacheIdentity()
	if real == "" {
		t.Fatal("no cache identity: the build id of the test binary was not found")
	}
	for _, part := range []string{"libseccomp " + seccomp.LibraryVersion(), "kernel ", "berth "} {
		if !strings.Contains(real, part) {
			t.Fatalf("cache identity %q lacks %q", real, part)
		}
	}
	other := strings.Replace(real, "libseccomp "+seccomp.LibraryVersion(), "libseccomp 2.3.0", 1)
	t.Cleanup(func() { cacheIdentity = func() string { return real } })
	cacheIdentity = func() string { return other }
	p := denyProfile()
	genuine, _ := cachedProgram(p)
	forged := plant(t, dir)
	if got, _ := cachedProgram(p); !reflect.DeepEqual(got, forged) {
		t.Fatal("the entry of libseccomp 2.3.0 was not read back with 2.3.0")
	}
	cacheIdentity = func() string { return real }
	if got, _ := cachedProgram(p); !reflect.DeepEqual(got, genuine) {
		t.Fatal("an entry another libseccomp compiled was used")
	}
	if n := len(cacheFiles(t, dir)); n != 2 {
		t.Fatalf("%d entries, want one per libseccomp version", n)
	}
}

// The cache keeps at most cacheMaxEntries entries and cacheMaxBytes bytes,
// dropping the least recently used.
func TestSeccompCacheIsBounded(t *testing.T) {
	dir := trustedCacheDir(t)
	oldN, oldB := cacheMaxEntries, cacheMaxBytes
	t.Cleanup(func() { cacheMaxEntries, cacheMaxBytes = oldN, oldB })
	cacheMaxEntries = 3
	profileN := func(i int) *specs.LinuxSeccomp {
		p := denyProfile()
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(i + 1))})
		return p
	}
	for i := 0; i < 10; i++ {
		if _, err := cachedProgram(profileN(i)); err != nil {
			t.Fatal(err)
		}
		if n := len(cacheFiles(t, dir)); n > 3 {
			t.Fatalf("after %d profiles the cache holds %d entries, bound 3", i+1, n)
		}
	}
	ents, _ := os.ReadDir(dir)
	var largest int64
	for _, e := range ents {
		info, _ := e.Info()
		largest = max(largest, info.Size())
	}
	cacheMaxEntries, cacheMaxBytes = 100, largest*3/2 // room for one entry, not two
	cachedProgram(profileN(20))
	if n := len(cacheFiles(t, dir)); n != 1 {
		t.Fatalf("with room for one entry the cache holds %d", n)
	}
	// the entry just written is the one kept
	cacheMaxEntries, cacheMaxBytes = oldN, oldB
	before := cacheFiles(t, dir)
	cachedProgram(profileN(20))
	if after := cacheFiles(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("the newest entry was evicted: %v, then %v", before, after)
	}
}

func errnoPtr(n uint) *uint { return &n }

func TestExeBuildID(t *testing.T) {
	id := exeBuildID()
	if !strings.HasPrefix(id, "gnu:") && !strings.HasPrefix(id, "go:") {
		t.Fatalf("build id of the test binary: %q", id)
	}
	if again := exeBuildID(); again != id {
		t.Fatalf("build id changed: %q, %q", id, again)
	}
}
